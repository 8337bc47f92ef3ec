"""Command line: ``nmfviewer [PATH ...]`` opens the app, ``nmfviewer fit ...`` runs headless.

``fit`` is recognised only as the *first* argument; a path literally named
``fit`` is given as ``./fit`` (or after ``--``: ``nmfviewer -- fit``).

User errors (bad values, missing or unreadable inputs, unwritable output)
exit with code 2 and one line on stderr: ``nmfviewer: error: <message>``.
Ctrl-C exits with 130. Tracebacks are reserved for bugs in nmfviewer.

BLAS threads (``fit``): set once, after loading and before fitting, for the
whole process (threadpoolctl limits are process-wide; nothing toggles them
during the fit). ``--threads N`` sets N; by default ('auto') a small X (fewer
than ``SMALL_PROBLEM`` entries) gets 1 thread, because OpenBLAS threads make
small GEMMs and the SVD of the nndsvd init 10-100x slower when the cores are
shared (measured: a 100x625 SVD 5 ms on 1 thread, 0.3-3.5 s on 2 threads of a
loaded 2-core machine); larger problems keep the library's default. The
original limits are restored when ``main`` returns.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from .cli_options import (
    PROG,
    UsageError,
    add_fit_options,
    build_fit_parser,
    build_gui_parser,
    load_options_from_args,
    params_from_args,
    parse_size,
)
from .core.errors import LoadError, NMFViewerError

__all__ = [
    "add_fit_options",
    "build_fit_parser",
    "build_gui_parser",
    "limit_blas_threads",
    "load_options_from_args",
    "main",
    "params_from_args",
    "parse_size",
]

_PROGRESS_INTERVAL = 0.25  # seconds between progress lines
_LOADING_QUIET = 1.0  # seconds of loading before loading progress is shown
#: entries of X below which 'auto' BLAS threading uses a single thread
SMALL_PROBLEM = 1 << 20


def _check_paths(paths: list[Path], manifest: Path | None = None) -> None:
    for p in paths:
        if p.exists():
            continue
        if manifest is not None:
            raise LoadError(
                f"input {str(p)!r} recorded in {manifest} no longer exists; restore it "
                "there to replay the run.",
                p,
            )
        raise LoadError(
            f"input {str(p)!r} does not exist; check the path (a folder, an image file "
            "or a multi-page TIFF).",
            p,
        )


# --------------------------------------------------------------------------- progress
class _Progress:
    """Throttled progress lines on a stream (callable from any thread)."""

    def __init__(self, stream: TextIO, enabled: bool = True):
        self.stream = stream
        self.enabled = enabled
        self._last = -float("inf")
        self._lock = threading.Lock()
        self._first_iteration = True
        self._started = time.monotonic()
        self._loading_shown = False
        self._loss: float | None = None  # the latest evaluated loss

    def line(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        with self._lock:
            now = time.monotonic()
            if force or now - self._last >= _PROGRESS_INTERVAL:
                self._last = now
                print(text, file=self.stream, flush=True)

    def loading(self, done: int, total: int) -> None:
        # only a slow load is worth reporting (and a fast one that fails then
        # leaves the error as the only line)
        if not self._loading_shown and time.monotonic() - self._started < _LOADING_QUIET:
            return
        self._loading_shown = True
        # pages of a stack count one by one: they are images, not files
        self.line(f"loading: {done}/{total} images", force=done == total)

    def iteration(self, state: Any) -> None:
        # KL / IS solvers evaluate the loss only every few iterations (loss None
        # in between): show the latest evaluated one
        if state.loss is not None:
            self._loss = state.loss
        ok = state.iteration > 0 and state.elapsed > 0
        rate = f"{state.iteration / state.elapsed:8.1f} it/s" if ok else ""
        first, self._first_iteration = self._first_iteration, False
        loss = "-" if self._loss is None else f"{self._loss:.6g}"
        text = f"iteration {state.iteration:6d}  loss {loss}  {rate}"
        self.line(text.rstrip(), force=first)


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- commands
def _replay_setup(ns, option_flags):
    """(paths, LoadOptions, NMFParams, bit_depth, manifest) for ``fit --replay``."""
    from .core.export import read_manifest

    runtime = ("threads",)  # how fast, not what: allowed with --replay
    given = [
        flag
        for dest, flag in option_flags.items()
        if dest not in runtime and getattr(ns, dest) is not None
    ]
    if ns.paths:
        given.insert(0, "PATH")
    if given:
        raise UsageError(
            f"--replay reruns the recorded run exactly; give only --out (--quiet, --threads), "
            f"not {', '.join(given)}"
        )
    manifest = read_manifest(ns.replay)
    params = manifest.params
    if params.init == "custom":
        raise UsageError(
            f"{ns.replay} records a run started from given factors (init='custom'), which "
            "run.json does not hold, so it cannot be replayed; rerun it with --init instead."
        )
    if manifest.stop_reason in ("time_budget", "cancelled") and manifest.n_iter >= 1:
        # a clock-bound stop is not repeatable; the iteration count is
        _warn(
            f"the recorded run stopped on '{manifest.stop_reason}' after {manifest.n_iter} "
            f"iterations; replaying exactly {manifest.n_iter} iterations."
        )
        params = replace(params, max_iter=manifest.n_iter, time_budget=None)
    bit_depth = int(manifest.raw.get("export", {}).get("bit_depth", 8))
    return list(manifest.paths), manifest.load_options, params, bit_depth, manifest


def _run_fit(ns: argparse.Namespace, option_flags: dict[str, str]) -> int:
    from .core.collection import load_collection
    from .core.export import export_run
    from .core.nmf.fit import fit

    if ns.replay is None and not ns.paths:
        raise UsageError("no input given; give one or more PATHs (or --replay RUN_JSON)")
    if ns.out is None:
        raise UsageError("the output folder is missing; give --out DIR")
    manifest = None
    if ns.replay is not None:
        paths, options, params, bit_depth, manifest = _replay_setup(ns, option_flags)
    else:
        paths = ns.paths
        options = load_options_from_args(ns)
        params = params_from_args(ns)
        bit_depth = ns.bit_depth or 8
    _check_paths(paths, ns.replay)

    progress = _Progress(sys.stderr, enabled=not ns.quiet)
    stage = "loading the images"
    try:
        collection = load_collection(paths, options, progress=progress.loading)
        for note in collection.warnings:
            _warn(note)
        if manifest is not None:
            for note in manifest.changed_inputs(collection.files):
                _warn(f"{note}; the replay may differ from the recorded run.")
        stage = "fitting"
        X = collection.to_matrix()
        params.check_data_shape(*X.shape)  # before any progress line
        limits = limit_blas_threads(ns.threads, X.size)
        try:
            result = fit(X, params, callback=progress.iteration)
        finally:
            if limits is not None:
                limits.restore_original_limits()
        rate = result.n_iter / result.elapsed if result.elapsed > 0 else float("inf")
        progress.line(
            f"stopped ({result.stop_reason}) after {result.n_iter} iterations: "
            f"loss {result.loss:.6g}, {result.elapsed:.2f} s, {rate:.1f} it/s",
            force=True,
        )
        stage = "exporting"
        written = export_run(ns.out, collection, result, bit_depth=bit_depth)
    except KeyboardInterrupt:
        what = (
            "files already in the output folder are complete (each written atomically)"
            if stage == "exporting"
            else "nothing was written"
        )
        print(f"{PROG}: interrupted while {stage}; {what}.", file=sys.stderr, flush=True)
        return 130
    print(written[0].parent, flush=True)
    return 0


def _run_gui(ns: argparse.Namespace) -> int:
    # validate what was given now, so a typo fails here and not inside the window
    load_options_from_args(ns)
    params_from_args(ns, n_components=1)  # k itself is checked when given
    _check_paths(ns.paths)
    try:  # lazily: the headless path never loads Qt
        gui_app = importlib.import_module("nmfviewer.gui.app")
    except ImportError as exc:
        print(
            f"{PROG}: error: the desktop app cannot start ({exc}); "
            f"'{PROG} fit' runs without a window.",
            file=sys.stderr,
        )
        return 1
    return int(gui_app.main(ns) or 0)


def limit_blas_threads(threads: int | str | None, n_entries: int):
    """Apply the BLAS thread count for a fit of an X with ``n_entries`` entries.

    threads: a number, or 'auto' / None (1 thread when X is small, otherwise
    unchanged). Returns the threadpoolctl limiter (call its
    ``restore_original_limits()`` when done) or None when nothing was changed.
    """
    if threads in (None, "auto"):
        if n_entries >= SMALL_PROBLEM:
            return None
        threads = 1
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(threads), user_api="blas")


def _error(message: str) -> int:
    one_line = " ".join(str(message).split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr, flush=True)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nmfviewer`` and ``python -m nmfviewer``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    headless = bool(argv) and argv[0] == "fit"
    if headless:
        parser, flags = build_fit_parser()
        argv = argv[1:]
    else:
        parser, flags = build_gui_parser()
    try:
        try:
            ns = parser.parse_intermixed_args(argv)
        except SystemExit as exc:  # --help, --version
            return int(exc.code or 0)
        ns.command = "fit" if headless else "gui"
        ns.k = ns.n_components  # the GUI may read either name
        return _run_fit(ns, flags) if headless else _run_gui(ns)
    except (UsageError, NMFViewerError) as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted.", file=sys.stderr, flush=True)
        return 130
    except MemoryError:
        return _error("out of memory; load fewer or smaller images, or lower k.")
