"""``nmfviewer rank PATH ... --k 2:20``: a cross-validated k sweep without a window.

Loads the images like ``fit`` (the same loading and NMF options, k apart), runs
:class:`nmfviewer.core.RankSweep`, writes rank.csv, rank.json and rank.png into
``--out`` and prints the suggested k as the last line of stdout ('none' when
there is no suggestion: ``--holdout 0``). Progress lines go to stderr; user
errors exit 2 with one line, Ctrl-C 130 (the ks finished by then are written).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from . import _console
from .cli_options import (
    PROG,
    UsageError,
    _Parser,
    add_fit_options,
    load_options_from_args,
    params_from_args,
)

__all__ = ["build_rank_parser", "run_rank"]

#: options of ``fit`` that ``rank`` has not: it sweeps k and writes no basis images
_NOT_FOR_RANK = ("n_components", "bit_depth")


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def build_rank_parser() -> tuple[argparse.ArgumentParser, dict[str, str]]:
    parser = _Parser(
        prog=f"{PROG} rank",
        description=(
            "Which k? Cross-validated NMF over a range of k: the error on held-out "
            "entries, the training error and the stability of the parts over restarts; "
            "writes rank.csv, rank.json and rank.png and prints the suggested k last."
        ),
        epilog=f"example: {PROG} rank sample_images/faces --k 2:20 --out sweep",
    )
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="folders, image files or stacks"
    )
    sweep = parser.add_argument_group("the sweep")
    sweep.add_argument(
        "--k", dest="ks", metavar="A:B", help="the ks: 'A:B' (inclusive), 'A:B:STEP' or 'A,B,C'"
    )
    sweep.add_argument(
        "--reps", type=_count, default=3, metavar="N", help="cross-validation repeats (3)"
    )
    sweep.add_argument(
        "--restarts", type=_count, default=1, metavar="R", help="random starts per repeat (1)"
    )
    sweep.add_argument(
        "--holdout",
        type=_number,
        default=0.1,
        metavar="F",
        help="fraction of the entries held out per repeat (0.1); 0: restarts only",
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (required)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser, add_fit_options(parser, leave_out=_NOT_FOR_RANK)


def _fmt(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.4g}"


def _row_line(row: Any, reps: int) -> str:
    test = "" if not math.isfinite(row.test_error) else f"test error {_fmt(row.test_error)}"
    if test and reps > 1:
        test += f" ± {_fmt(row.test_error_sd)}"
    parts = [p for p in (test, f"train error {_fmt(row.train_error)}") if p]
    if math.isfinite(row.stability_mean):
        parts.append(
            f"stability {row.stability_mean:.3f} (least stable part {row.stability_min:.3f})"
        )
    parts.append(f"{row.iterations} it/fit, {row.seconds:.2f} s")
    return f"k={row.k:3d}: " + ", ".join(parts)


def run_rank(ns: argparse.Namespace, progress: Any) -> int:
    """Run ``nmfviewer rank`` for parsed options; ``progress`` is the CLI's throttled
    line writer (``cli._Progress``). Returns the exit code."""
    from .core import (
        RankRow,
        RankSweep,
        configure_blas_threads,
        current_thread_choice,
        load_collection,
        parse_ks,
        restore_blas_threads,
        write_rank,
    )

    if not ns.paths:
        raise UsageError("no input given; give one or more PATHs")
    if ns.ks is None:
        raise UsageError("the range of k is missing; give --k, e.g. --k 2:20")
    if ns.out is None:
        raise UsageError("the output folder is missing; give --out DIR")
    if not ns.out.strip():
        raise UsageError("--out is empty; give a folder, '.' for the current one")
    from .cli import _check_output_dir, _check_paths, _warn

    out = Path(ns.out)
    options = load_options_from_args(ns)
    params = params_from_args(ns, n_components=1)
    parse_ks(ns.ks)  # the syntax (and k >= 1), before any loading
    _check_paths(ns.paths)
    _check_output_dir(out)
    previous = current_thread_choice()
    sweep = None
    try:
        collection = load_collection(ns.paths, options, progress=progress.loading)
        for note in collection.warnings:
            _warn(note)
        X = collection.to_matrix()
        sweep = RankSweep(
            X,
            ns.ks,
            params,
            reps=ns.reps,
            restarts=ns.restarts,
            holdout=ns.holdout,
            mask=getattr(collection, "mask", None),
        )
        configure_blas_threads(ns.threads, shape=X.shape, n_components=max(sweep.ks))
        progress.line(
            f"sweeping k = {', '.join(map(str, sweep.ks))}: {sweep.reps} repeat(s) x "
            f"{sweep.restarts} restart(s), {sweep.holdout:g} of the entries held out",
            force=True,
        )
        for item in sweep:
            if isinstance(item, RankRow):
                progress.line(_row_line(item, sweep.reps), force=True)
            else:
                progress.line(
                    f"k={item.k} repeat {item.rep + 1}/{sweep.reps} restart "
                    f"{item.restart + 1}/{sweep.restarts}: iteration {item.iteration} "
                    f"({100 * item.fraction:.0f}% of the sweep)"
                )
    except KeyboardInterrupt:
        if sweep is None or not sweep.rows:
            _console.write_line(sys.stderr, f"{PROG}: interrupted; nothing was written.")
            return 130
        write_rank(sweep.result(), out, extra=_inputs(ns, options))
        _console.write_line(
            sys.stderr,
            f"{PROG}: interrupted; the {len(sweep.rows)} k(s) finished are written to {out}.",
        )
        return 130
    finally:
        restore_blas_threads(previous)
    result = sweep.result()
    write_rank(result, out, extra=_inputs(ns, options))
    k = result.suggested_k
    progress.line(
        f"suggested k = {k}: the smallest k within one standard error of the lowest test "
        "error whose parts are stable (rank.json states the rule)"
        if k is not None
        else "no suggested k: nothing was held out (--holdout 0)",
        force=True,
    )
    _console.result(out.absolute())
    _console.write_line(sys.stdout, "none" if k is None else str(k))  # the last line
    return 0


def _inputs(ns: argparse.Namespace, options: Any) -> dict[str, Any]:
    """rank.json's record of what was swept."""
    return {
        "inputs": [str(Path(p).absolute()) for p in ns.paths],
        "load_options": options.to_dict(),
    }
