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
FORMATS_HELP = (
    "file formats: PNG, JPEG, BMP, GIF, PGM/PPM, TIFF (multi-page, OME-TIFF, ImageJ "
    "hyperstacks, pyramids; LZW/deflate/JPEG), .npy; with the optional extra "
    '(pip install "nmfviewer[formats]"): ENVI .hdr cubes, HDF5/NeXus, Bruker .bcf, '
    "EDAX .spd, HyperSpy .hspy, Digital Micrograph .dm3/.dm4, Renishaw .wdf, zstd TIFF, "
    "16-bit colour PNG at 16 bits"
)
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
    "mask_file": "mask", "saturation": "saturation",
    "image_axis": "image_axis", "dataset": "dataset",
    "axis_file": "axis",
}  # fmt: skip
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
#: a token that starts like a negative number ('-1', '-1e-4', '-.5', '-1G') is a value,
#: never an option: no option of ours starts with a digit
_NEGATIVE_NUMBER = re.compile(r"^-\.?\d")


#: the k sweep's settings (``nmfviewer rank``) and their options
_RANK_FLAGS = {"ks": "--k", "reps": "--reps", "restarts": "--restarts", "holdout": "--holdout"}


def option_flag(field: str) -> str | None:
    """The option that sets an NMFParams / LoadOptions field ('-k', '--size-policy'),
    or None when the command line has none."""
    if field == "n_components":
        return "-k"
    if field in _RANK_FLAGS:
        return _RANK_FLAGS[field]
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


def _axis_path(text: str) -> str:
    # absolute, so that run.json (and a replay from elsewhere) finds the file again
    return str(Path(text).expanduser().absolute())


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
def add_fit_options(
    parser: argparse.ArgumentParser, *, leave_out: tuple[str, ...] = ()
) -> dict[str, str]:
    """Add the NMF, loading and export options shared by ``fit``, ``rank`` and the GUI.

    Every default is None ("not given"), so the dataclass defaults apply and a
    replay can tell which options were given. ``leave_out``: dests not to add
    (``rank`` sweeps k and writes no basis images). Returns {dest: option string}.
    """
    added: dict[str, str] = {}

    def add(group, *flags, **kw):
        dest = kw.get("dest") or flags[-1].lstrip("-").replace("-", "_")
        if dest in leave_out:
            return
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
         "colour images: luminance (default), mean, refuse, or channels (keep colour: "
         "each image contributes its R, G, B values)"),
        ("--size-policy", "size policy", SIZE_POLICIES,
         "other-sized images: resize (default) or refuse"),
        ("--normalize", "normalisation", NORMALIZATIONS, "none (default), max or sum per image"),
        ("--negative", "negative-value policy", NEGATIVE_POLICIES,
         "negative values: error (default), clip or shift"),
        ("--nonfinite", "non-finite policy", NONFINITE_POLICIES,
         "NaN/inf values: error (default), zero, or mask (left out of the fit)"),
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
    add(
        load,
        "--mask",
        metavar="FILE",
        help="mask image (white = use, black = ignore) for every image, or a folder with "
        "one mask per image matched by name; the fit leaves the black pixels out",
    )
    add(
        load,
        "--saturation",
        type=_float_type,
        metavar="VALUE",
        help="leave values at or above VALUE (as read) out of the fit",
    )
    add(
        load,
        "--image-axis",
        metavar="AXIS",
        help="the axis of a multi-axis file that holds the images: an OME-TIFF/ImageJ "
        "letter (C, T, Z, ...), an HDF5 dimension (0, 1, 2) or a vendor axis name "
        "(Energy); default: picked and named in the load warnings",
    )
    add(
        load,
        "--dataset",
        metavar="NAME",
        help="the HDF5/NeXus dataset (/entry/data/data) or vendor-file signal (title or "
        "number) to read when a file holds several",
    )
    add(
        load,
        "--axis",
        type=_axis_path,
        metavar="FILE",
        help="band axis of a spectral cube: a text/CSV file with one value per band "
        "(e.g. energy_keV.csv); default: the file's metadata or such a file beside the cube",
    )

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
            f"repeat it: {PROG} fit --replay results/run.json --out again  |  "
            f"{FORMATS_HELP}"
        ),
    )
    _add_common(parser)
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="folders, image files, stacks or cubes (see 'file formats' below)",
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
    flags = add_fit_options(parser)
    _add_engine_options(parser)
    return parser, flags


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Where ``fit`` runs (run-time options: allowed with --replay, not in ``flags``)."""
    engine = parser.add_argument_group("engine (needs the [dask] extra)")
    engine.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask cluster of this scheduler (tcp://HOST:PORT)",
    )
    engine.add_argument(
        "--cluster",
        metavar="local:N",
        help="run on a local Dask cluster of N worker processes, started for the run",
    )


def build_convert_parser() -> argparse.ArgumentParser:
    """``nmfviewer convert PATH ... --to STORE.zarr``: the loading options only."""
    parser = _Parser(
        prog=f"{PROG} convert",
        description="Convert image files to a chunked on-disk store (zarr) that fits "
        "stream from and Dask clusters read: larger than memory is fine.",
        epilog=f"example: {PROG} convert scans/ --to scans.zarr  |  "
        f"{PROG} fit scans.zarr -k 16 --out results",
    )
    _add_common(parser)
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="folders, files")
    parser.add_argument("--to", metavar="STORE", help="the store to write (required)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing store once done"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    add_fit_options(parser)
    for group in parser._action_groups:  # only the loading options apply
        if group.title in ("NMF parameters", "export and run-time"):
            for action in group._group_actions:
                action.help = argparse.SUPPRESS
            group.title = group.description = None
    return parser


def build_gui_parser() -> tuple[argparse.ArgumentParser, dict[str, str]]:
    parser = _Parser(
        prog=PROG,
        description="Non-negative Matrix Factorization of image collections, live.",
        epilog=f"Headless runs: '{PROG} fit --help'. A path named 'fit': '{PROG} ./fit'.  |  "
        f"{FORMATS_HELP}",
    )
    _add_common(parser)
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="folders, image files, stacks or cubes to open (see 'file formats' below)",
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
    if kwargs.get("mask_file") is not None:  # absolute: a replay reads it from anywhere
        kwargs["mask_file"] = str(Path(kwargs["mask_file"]).absolute())
    return LoadOptions(**kwargs)
