"""Options of the ``nmfviewer`` command line, shared by ``fit`` and the GUI.

One function, :func:`add_fit_options`, adds the NMF, loading and export
options to both parsers. Every option defaults to None ("not given"), so the
dataclass defaults apply and a replay can tell which options were given.
:func:`params_from_args` and :func:`load_options_from_args` turn a parsed
namespace into the frozen parameter objects; :func:`render_error` spells a
core error's fix as the option to type (``--size-policy resize``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from ._version import __version__
from .core import (
    COLOR_POLICIES,
    DTYPES,
    HALS_VARIANTS,
    INITS,
    LOSS_ALIASES,
    NEGATIVE_POLICIES,
    NONFINITE_POLICIES,
    NORMALIZATIONS,
    SEED_LIMIT,
    SIZE_POLICIES,
    SOLVER_ALIASES,
    SOLVER_REGISTRY,
    LoadOptions,
    NMFParams,
    NMFViewerError,
    ParameterError,
    parse_seed,
    parse_threads,
)

PROG = "nmfviewer"
#: NMFParams fields set from options of the same dest (n_components apart)
_PARAM_DESTS = (
    "loss", "solver", "init", "seed", "max_iter", "tol", "window", "time_budget",
    "alpha_W", "alpha_H", "l1_ratio", "dtype", "hals_variant",
)  # fmt: skip
#: LoadOptions fields and the option dest each comes from
_LOAD_DESTS = {
    "recursive": "recursive", "follow_links": "follow_links", "color": "color",
    "size_policy": "size_policy",
    "normalize": "normalize", "negative": "negative", "nonfinite": "nonfinite",
    "max_memory_bytes": "max_memory", "workers": "workers",
}  # fmt: skip
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
#: a token that starts like a negative number ('-1', '-1e-4', '-.5', '-1G') is a value,
#: never an option: no option of ours starts with a digit
_NEGATIVE_NUMBER = re.compile(r"^-\.?\d")


def option_flag(field: str) -> str | None:
    """The option that sets an NMFParams / LoadOptions field ('-k', '--size-policy'),
    or None when the command line has none."""
    if field == "n_components":
        return "-k"
    dest = _LOAD_DESTS.get(field, field)
    if dest in _PARAM_DESTS or dest in _LOAD_DESTS.values() or dest in ("threads", "bit_depth"):
        return "--" + dest.replace("_", "-")
    return None


def cli_spelling(field: str, suggestion: Any) -> str:
    """How the command line spells setting ``field`` (to ``suggestion``)."""
    flag = option_flag(field)
    if flag is None:
        return field if suggestion is None else f"{field} {suggestion}"
    if suggestion is None or isinstance(suggestion, bool):  # store_true options
        return flag
    return f"{flag} {suggestion}"


def render_error(exc: NMFViewerError) -> str:
    """A core error as the command line says it: the fix spelled as an option, and a
    parameter error led by the option typed ("--tol: tol=-1.0 must be ...")."""
    text = exc.render(cli_spelling)
    flag = option_flag(exc.field) if exc.field else None
    if isinstance(exc, ParameterError) and flag is not None and exc.source is None:
        text = f"{flag}: {text}"
    return text


class UsageError(Exception):
    """A command-line mistake caught by argparse (message only, no usage dump)."""


class _Parser(argparse.ArgumentParser):
    """No abbreviations (``--to`` is not ``--tol``), errors as UsageError."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        # argparse takes only '-1' and '-.5' for negative numbers: '-1e-4' would be read as
        # an option ("--tol: expected one argument") instead of the value it is
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str):  # type: ignore[override]
        unknown = message.partition("unrecognized arguments: ")[2].split()
        if any(a.startswith("-") and not a.startswith("--") for a in unknown):
            message += (
                "; a file whose name starts with '-' is given as ./NAME, or after "
                "'--' (e.g. -- -scan.png)"
            )
        raise UsageError(message)


# --------------------------------------------------------------------------- value types
def _choice_type(name: str, allowed: tuple[str, ...] | dict[str, str]):
    mapping = allowed if isinstance(allowed, dict) else {a: a for a in allowed}
    canonical = sorted(set(mapping.values()), key=list(mapping.values()).index)

    def parse(text: str) -> str:
        key = text.strip().lower()
        if key in mapping:
            return mapping[key]
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a valid {name}; use one of {', '.join(canonical)}"
        )

    parse.__name__ = name
    parse.metavar = "{" + ",".join(canonical) + "}"  # type: ignore[attr-defined]
    return parse


def _int_type(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _float_type(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _seed_type(text: str) -> int | str:
    if text.strip().lower() == "random":
        return "random"
    try:
        return parse_seed(text)  # type: ignore[return-value]
    except ParameterError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a seed; give a whole number from 0 to {SEED_LIMIT - 1} or 'random'"
        ) from None


def _threads_type(text: str) -> int | str:
    try:
        return parse_threads(text)
    except ParameterError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number >= 1 or 'auto'") from None


def _alpha_h_type(text: str) -> float | str:
    return "same" if text.strip().lower() == "same" else _float_type(text)


def parse_size(text: str) -> int:
    """Bytes from '2000000', '512M', '2G', '1.5GiB' (units of 1024); at least 1 byte."""
    m = re.fullmatch(
        r"\s*([-+]?)(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE
    )
    if m is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size; give bytes or a number with K, M, G or T (e.g. 2G)"
        )
    if m.group(1) == "-":
        raise argparse.ArgumentTypeError(
            f"{text!r} is negative; give a positive size such as 512M or 2G"
        )
    size = float(m.group(2)) * _SIZE_UNITS[m.group(3).lower()]
    if size < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is less than one byte (a number without a unit counts bytes); "
            "give e.g. 512M or 2G"
        )
    return int(size)


# --------------------------------------------------------------------------- parsers
def add_fit_options(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Add the NMF, loading and export options shared by ``fit`` and the GUI.

    Every default is None ("not given"), so the dataclass defaults apply and a
    replay can tell which options were given. Returns {dest: option string}.
    """
    added: dict[str, str] = {}

    def add(group, *flags, **kw):
        if getattr(kw.get("type"), "metavar", None):
            kw.setdefault("metavar", kw["type"].metavar)
        action = group.add_argument(*flags, default=kw.pop("default", None), **kw)
        added[action.dest] = "/".join(flags)

    nmf = parser.add_argument_group("NMF parameters")
    add(
        nmf,
        "-k",
        "--n-components",
        dest="n_components",
        type=_int_type,
        metavar="K",
        help="number of basis images (components)",
    )
    add(
        nmf,
        "--loss",
        type=_choice_type("loss", LOSS_ALIASES),
        help="frobenius (default), kl or is (Itakura-Saito)",
    )
    add(
        nmf,
        "--solver",
        type=_choice_type("solver", SOLVER_ALIASES),
        help="; ".join(f"{name}: {info.description}" for name, info in SOLVER_REGISTRY.items())
        + f" (default {next(iter(SOLVER_REGISTRY))})",
    )
    add(
        nmf,
        "--init",
        type=_choice_type("init", tuple(i for i in INITS if i != "custom")),
        help="auto (default), random, nndsvd, nndsvda or nndsvdar",
    )
    add(
        nmf,
        "--seed",
        type=_seed_type,
        metavar="N",
        help="random seed, 0 to 2**32-1 (default 0); 'random' draws one (recorded in run.json)",
    )
    add(nmf, "--max-iter", type=_int_type, metavar="N", help="iterations at most")
    add(nmf, "--tol", type=_float_type, metavar="X", help="relative loss decrease to stop at")
    add(
        nmf,
        "--window",
        type=_int_type,
        metavar="N",
        help="iterations the convergence test looks back over",
    )
    add(nmf, "--time-budget", type=_float_type, metavar="S", help="seconds at most")
    add(nmf, "--alpha-W", type=_float_type, metavar="A", help="regularisation of W")
    add(
        nmf,
        "--alpha-H",
        type=_alpha_h_type,
        metavar="A",
        help="regularisation of H ('same' as alpha-W by default)",
    )
    add(nmf, "--l1-ratio", type=_float_type, metavar="R", help="L1 share of the penalty, 0..1")
    add(nmf, "--dtype", type=_choice_type("dtype", DTYPES), help="float32 (default) or float64")
    add(
        nmf,
        "--hals-variant",
        type=_choice_type("HALS variant", HALS_VARIANTS),
        help="auto (default), plain or accelerated",
    )

    load = parser.add_argument_group("loading")
    add(load, "--recursive", action="store_true", help="descend into sub-folders")
    add(
        load,
        "--follow-links",
        action="store_true",
        help="with --recursive, also follow folder links that lead out of the tree",
    )
    for flag, what, choices, help_text in (
        ("--color", "colour policy", COLOR_POLICIES,
         "colour images: luminance (default), mean or refuse"),
        ("--size-policy", "size policy", SIZE_POLICIES,
         "other-sized images: resize (default) or refuse"),
        ("--normalize", "normalisation", NORMALIZATIONS, "none (default), max or sum per image"),
        ("--negative", "negative-value policy", NEGATIVE_POLICIES,
         "negative values: error (default), clip or shift"),
        ("--nonfinite", "non-finite policy", NONFINITE_POLICIES,
         "NaN/inf values: error (default) or zero"),
    ):  # fmt: skip
        add(load, flag, type=_choice_type(what, choices), help=help_text)
    add(
        load,
        "--max-memory",
        type=parse_size,
        metavar="BYTES",
        help="refuse collections larger than this (e.g. 2G); default: half the free memory",
    )
    add(load, "--workers", type=_int_type, metavar="N", help="decoding threads")

    other = parser.add_argument_group("export and run-time")
    add(
        other,
        "--bit-depth",
        type=_int_type,
        choices=(8, 16),
        help="basis PNGs in 8 (default) or 16 bits",
    )
    add(
        other,
        "--threads",
        type=_threads_type,
        metavar="N",
        help="BLAS threads, set once before fitting; 'auto' (default): 1 for small "
        "problems, else measured (run.json records the count, a replay reuses it)",
    )
    return added


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")


def build_fit_parser() -> tuple[argparse.ArgumentParser, dict[str, str]]:
    parser = _Parser(
        prog=f"{PROG} fit",
        description="Run NMF on an image collection without a window and export the results.",
        epilog=(
            f"example: {PROG} fit sample_images/faces -k 16 --out results  |  "
            f"repeat it: {PROG} fit --replay results/run.json --out again"
        ),
    )
    _add_common(parser)
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="folders, image files or multi-page TIFFs",
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (required)")
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="RUN_JSON",
        help="rerun a recorded run (its run.json); only --out may be given",
    )
    parser.add_argument(
        "--align-to",
        metavar="DIR",
        help="put the components in the order of a previous run's (its output folder or "
        "factors.npz), matched by cosine similarity; run.json records the matched cosines",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress lines (warnings and errors still shown)",
    )
    return parser, add_fit_options(parser)


def build_gui_parser() -> tuple[argparse.ArgumentParser, dict[str, str]]:
    parser = _Parser(
        prog=PROG,
        description="Non-negative Matrix Factorization of image collections, live.",
        epilog=f"Headless runs: '{PROG} fit --help'. A path named 'fit': '{PROG} ./fit'.",
    )
    _add_common(parser)
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="folders, image files or multi-page TIFFs to open",
    )
    gui = parser.add_argument_group("window")
    gui.add_argument("--start", action="store_true", help="start fitting once loaded")
    gui.add_argument(
        "--screenshot",
        type=Path,
        metavar="FILE.png",
        help="save a screenshot of the window (when done, with --quit-when-done)",
    )
    gui.add_argument(
        "--quit-when-done", action="store_true", help="close the window when the run has stopped"
    )
    return parser, add_fit_options(parser)


# --------------------------------------------------------------------------- namespace -> params
def params_from_args(ns: argparse.Namespace, n_components: int | None = None) -> NMFParams:
    """NMFParams from parsed options; options not given keep NMFParams' defaults,
    except that ``--loss kl`` / ``is`` without ``--solver`` selects 'mu'.

    ``n_components`` is used when ``-k`` was not given. Raises ParameterError
    (render it with :func:`render_error`).
    """
    k = getattr(ns, "n_components", None)
    if k is None:
        k = n_components
    if k is None:
        raise ParameterError(
            "the number of components k is missing.",
            field="n_components",
            suggestion=10,
            hint="Give {option}, for example.",
        )
    kwargs: dict[str, Any] = {}
    for dest in _PARAM_DESTS:
        value = getattr(ns, dest, None)
        if value is not None:
            kwargs[dest] = None if (dest == "seed" and value == "random") else value
    if kwargs.get("loss", "frobenius") != "frobenius" and "solver" not in kwargs:
        kwargs["solver"] = "mu"  # the only solver for KL / IS: no need to say it
    return NMFParams(n_components=k, **kwargs)


def load_options_from_args(ns: argparse.Namespace) -> LoadOptions:
    """LoadOptions from parsed options; options not given keep LoadOptions' defaults."""
    kwargs = {
        name: getattr(ns, dest)
        for name, dest in _LOAD_DESTS.items()
        if getattr(ns, dest, None) is not None
    }
    return LoadOptions(**kwargs)
