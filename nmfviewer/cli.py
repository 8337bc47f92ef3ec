"""Command line: ``nmfviewer [PATH ...]`` opens the app, ``nmfviewer fit ...`` runs headless.

``fit`` is recognised only as the *first* argument; a path literally named
``fit`` is given as ``./fit`` (or after ``--``: ``nmfviewer -- fit``). The same
holds for ``rank`` (a cross-validated k sweep, :mod:`nmfviewer.cli_rank`).

User errors (bad values, missing or unreadable inputs, unwritable output)
exit with code 2 and one line on stderr: ``nmfviewer: error: <message>``.
Ctrl-C exits with 130. Tracebacks are reserved for bugs in nmfviewer.
Output goes through :mod:`nmfviewer._console`: a closed stdout (``| head``) or
a failing stderr (``2>/dev/full``) never stops a run nor changes its exit code.

BLAS threads: one policy for every entry point, in ``nmfviewer.core``
(:func:`nmfviewer.core.configure_blas_threads`). ``fit`` sets the count once,
after loading and before fitting (``--threads N``, or 'auto': 1 thread for a
small X, else measured); run.json records it and ``--replay`` reuses it. The
window leaves its GUI thread a core. The limits are restored when ``main``
returns.

The GUI gets one frozen :class:`nmfviewer.core.GuiRequest`, built and
validated here; the GUI never imports this module.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from . import _console
from .cli_options import (
    PROG,
    UsageError,
    add_fit_options,
    build_fit_parser,
    build_gui_parser,
    load_options_from_args,
    params_from_args,
    parse_size,
    render_error,
)
from .core import (
    DEFAULT_K,
    ExportError,
    GuiRequest,
    LoadError,
    NMFViewerError,
    configure_blas_threads,
    current_thread_choice,
    restore_blas_threads,
)

__all__ = [
    "add_fit_options",
    "build_fit_parser",
    "build_gui_parser",
    "gui_request_from_args",
    "load_options_from_args",
    "main",
    "params_from_args",
    "parse_size",
]

_PROGRESS_INTERVAL = 0.25  # seconds between progress lines
_LOADING_QUIET = 1.0  # seconds of loading before loading progress is shown


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


def _check_output_dir(out: Path) -> None:
    """Refuse, before any work, an output folder that cannot be written: it (or the
    nearest folder that exists above it) must be a folder this process may write in.
    Nothing is left behind (the probe is an anonymous temporary file)."""
    existing = out
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    reason = None
    if not existing.is_dir():
        reason = f"{existing} is not a folder"
    else:
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as exc:
            reason = f"{existing} is not writable ({exc.strerror or exc})"
    if reason is not None:
        raise ExportError(
            f"cannot write the results to {out}: {reason}; choose another folder with --out.", out
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
                _console.write_line(self.stream, text)

    def loading(self, done: int, total: int) -> None:
        # only a slow load is worth reporting (and a fast one that fails then
        # leaves the error as the only line)
        if not self._loading_shown and time.monotonic() - self._started < _LOADING_QUIET:
            return
        self._loading_shown = True
        if total == 0:  # still discovering files
            self.line(f"loading: {done} images found so far")
            return
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
    _console.warn(message)


# --------------------------------------------------------------------------- commands
def _replay_setup(ns, option_flags):
    """(paths, LoadOptions, NMFParams, bit_depth, manifest) for ``fit --replay``."""
    from .core import read_manifest

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


def _recorded_threads(manifest: Any) -> int | None:
    """The BLAS thread count a recorded run used (None when run.json does not say)."""
    raw = manifest.raw if isinstance(getattr(manifest, "raw", None), dict) else {}
    result = raw.get("result")
    count = result.get("blas_threads") if isinstance(result, dict) else None
    if count is None:  # written before the count was recorded: the BLAS seen at export
        environment = raw.get("environment")
        blas = environment.get("blas") if isinstance(environment, dict) else None
        first = blas[0] if isinstance(blas, list) and blas else None
        count = first.get("num_threads") if isinstance(first, dict) else None
    if isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 1024:
        return count
    return None


def _from_run_json(exc: NMFViewerError, manifest_path: Path) -> NMFViewerError:
    """In a replay every value comes from run.json: say which key, not how to change it."""
    if exc.field is None or exc.source is not None:
        return exc
    from .core import LoadOptions, NMFParams

    section = None
    if exc.field in NMFParams.__dataclass_fields__:
        section = "params"
    elif exc.field in LoadOptions.__dataclass_fields__:
        section = "load_options"
    if section is not None:
        exc.source = f"{manifest_path} key '{section}.{exc.field}'"
    return exc


def _replay_mask(collection: Any, mask: Any) -> Any:
    """The collection with the recorded run's mask (a warning when the inputs now
    give another one)."""
    now = collection.mask
    if (now is None) != (mask is None) or (
        now is not None and mask is not None and now.sha256() != mask.sha256()
    ):
        _warn(
            "the mask built from the inputs now differs from the recorded run's; "
            "using the recorded one" + (" (mask.npz)" if mask is not None else " (no mask)")
        )
    return replace(collection, mask=mask)


def _reference(ns: argparse.Namespace, manifest: Any) -> Any:
    """The Reference of ``--align-to`` (None without one); a replay of an aligned run
    aligns to the recorded reference again when it is still there, unchanged."""
    from .core import load_reference

    if ns.align_to is not None:
        if not ns.align_to.strip():
            raise UsageError("--align-to is empty; give a previous output folder")
        return load_reference(ns.align_to)
    record = manifest.raw.get("alignment") if manifest is not None else None
    if not isinstance(record, dict) or not isinstance(record.get("reference"), str):
        return None
    path = Path(record["reference"])
    try:
        reference = load_reference(path)
    except NMFViewerError:
        reference = None
    if reference is None or reference.sha256 != record.get("reference_sha256"):
        _warn(
            f"the recorded run was aligned to {path}, which is missing or changed; the "
            "replay keeps its components in energy order (give --align-to to align)."
        )
        return None
    return reference


def _align(result: Any, reference: Any, progress: _Progress) -> tuple[Any, dict[str, Any]]:
    """(aligned result, run.json sections) for ``--align-to``."""
    from .core import align_result, alignment_record

    if reference is None:
        return result, {}
    aligned, match = align_result(result, reference)
    record = alignment_record(reference, match)
    shown = ", ".join("new" if c is None else f"{c:.3f}" for c in record["cosine"])
    progress.line(f"aligned to {reference.path}: matched cosines {shown}", force=True)
    return aligned, {"alignment": record}


def _run_fit(ns: argparse.Namespace, option_flags: dict[str, str]) -> int:
    from .core import (
        check_bit_depth,
        count_data_hint,
        export_run,
        fit,
        load_collection,
        recorded_mask,
        stop_reason_text,
    )

    if ns.replay is None and not ns.paths:
        raise UsageError("no input given; give one or more PATHs (or --replay RUN_JSON)")
    if ns.out is None:
        raise UsageError("the output folder is missing; give --out DIR")
    if not ns.out.strip():
        # Path('') is '.': an unset shell variable must not mean "the current folder"
        raise UsageError(
            "--out is empty: the output folder is empty (an unset shell "
            "variable?); give a folder, '.' for the current one"
        )
    out = Path(ns.out)
    manifest = None
    threads = ns.threads
    if ns.replay is not None:
        paths, options, params, bit_depth, manifest = _replay_setup(ns, option_flags)
        try:
            recorded_mask(manifest)  # a missing or changed mask.npz: before any work
        except NMFViewerError as exc:
            raise _from_run_json(exc, ns.replay) from None
        if threads is None:
            threads = _recorded_threads(manifest)
    else:
        paths = ns.paths
        options = load_options_from_args(ns)
        params = params_from_args(ns)
        bit_depth = ns.bit_depth or 8
    _check_paths(paths, ns.replay)
    _check_output_dir(out)
    check_bit_depth(bit_depth, 3 if options.color == "channels" else 1)  # before any fit
    reference = _reference(ns, manifest)

    progress = _Progress(sys.stderr, enabled=not ns.quiet)
    stage = "loading the images"
    engine = None
    previous = current_thread_choice()
    try:
        collection = load_collection(paths, options, progress=progress.loading)
        for note in collection.warnings:
            _warn(note)
        if manifest is not None:
            for note in manifest.changed_inputs(collection.files):
                _warn(f"{note}; the replay may differ from the recorded run.")
        hint = count_data_hint(collection, params.loss)
        if hint is not None:
            _warn(f"{hint}; consider --loss kl.")
        stage = "fitting"
        X = collection.to_matrix()
        if manifest is not None:  # the replay uses the mask the run used (mask.npz)
            collection = _replay_mask(collection, recorded_mask(manifest, X.shape))
        params.check_data_shape(*X.shape)  # before any progress line
        if reference is not None:
            reference.check_fits(X.shape[1], collection.image_shape)
        engine = _engine(ns, X, options)
        configure_blas_threads(threads, shape=X.shape, n_components=params.n_components)
        result = fit(X, params, callback=progress.iteration, mask=collection.mask, engine=engine)
        rate = result.n_iter / result.elapsed if result.elapsed > 0 else float("inf")
        progress.line(
            f"stopped after {result.n_iter} iterations, {stop_reason_text(result.stop_reason)}: "
            f"loss {result.loss:.6g}, {result.elapsed:.2f} s, {rate:.1f} it/s",
            force=True,
        )
        result, extra = _align(result, reference, progress)
        stage = "exporting"
        written = export_run(out, collection, result, bit_depth=bit_depth, extra=extra)
        # the results are kept (exported), but a model that explains nothing is no success
        collapsed = result.collapse
    except KeyboardInterrupt:
        what = (
            "files already in the output folder are complete (each written atomically)"
            if stage == "exporting"
            else "nothing was written"
        )
        _console.write_line(sys.stderr, f"{PROG}: interrupted while {stage}; {what}.")
        return 130
    except NMFViewerError as exc:
        if manifest is not None:
            raise _from_run_json(exc, ns.replay) from None
        raise
    finally:
        restore_blas_threads(previous)
        if engine is not None:
            engine.close()  # a local cluster started for the run stops here
    _console.result(written[0].parent)  # last; a closed stdout does not change the exit code
    if collapsed is not None:
        return _error(render_error(collapsed) + f" (results kept in {written[0].parent})")
    return 0


def _engine(ns: argparse.Namespace, X: Any, options: Any) -> Any:
    """The engine ``fit`` runs on: a Dask cluster (--scheduler / --cluster), streamed
    for a store (within --max-memory), else None (in memory)."""
    from .core import StreamedEngine, engine_from_spec

    engine = engine_from_spec(getattr(ns, "scheduler", None), getattr(ns, "cluster", None))
    if engine is not None:
        engine.start()
        return engine
    if hasattr(X, "blocks"):
        return StreamedEngine(max_memory=options.max_memory_bytes)
    return None


def _run_convert(argv: list[str]) -> int:
    """``nmfviewer convert PATH ... --to STORE``."""
    from .cli_options import build_convert_parser

    parser = build_convert_parser()
    argv, after = _split_at_double_dash(argv)
    try:
        ns = parser.parse_intermixed_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    paths = [*ns.paths, *(Path(p) for p in after)]
    if not paths:
        raise UsageError("no input given; give one or more PATHs to convert")
    if not ns.to or not ns.to.strip():
        raise UsageError("the store to write is missing; give --to STORE.zarr")
    nmf_given = [
        a.option_strings[-1]
        for a in parser._actions
        if a.help == argparse.SUPPRESS
        and a.option_strings
        and getattr(ns, a.dest, None) is not None
    ]
    if nmf_given:
        raise UsageError(f"convert takes loading options only, not {', '.join(nmf_given)}")
    _check_paths(paths)
    from .core import convert_to_store, load_collection

    options = load_options_from_args(ns)
    progress = _Progress(sys.stderr, enabled=not ns.quiet)
    progress._loading_shown = True  # a conversion is long: show its progress at once
    try:
        store = convert_to_store(
            paths, Path(ns.to), options, progress=progress.loading, overwrite=ns.overwrite
        )
    except KeyboardInterrupt:
        _console.write_line(sys.stderr, f"{PROG}: interrupted; no store was written.")
        return 130
    collection = load_collection(store)
    for note in collection.warnings:
        _warn(note)
    size = collection.to_matrix().nbytes / 2**30
    n, (h, w) = collection.n_images, collection.image_shape
    progress.line(f"wrote {n} images of {w}x{h} ({size:.2f} GB on disk) to {store}", force=True)
    _console.result(store)
    return 0


def _no_display() -> str | None:
    """Why the window cannot open here (None when it can): on Linux, Qt aborts the
    process (SIGABRT) when there is no display and no platform was chosen."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        f"no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set); "
        f"use '{PROG} fit' to run without a window, or QT_QPA_PLATFORM=offscreen for "
        "scripted screenshots."
    )


def _check_screenshot(path: Path) -> None:
    folder = path.parent
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if path.is_dir():
        raise UsageError(f"--screenshot {path} is a folder; give a file name such as shot.png")
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"--screenshot {path}: cannot create a file in {folder}; choose another place"
        )


def gui_request_from_args(ns: argparse.Namespace) -> GuiRequest:
    """The validated, frozen request for the window (raises ParameterError / LoadError)."""
    request = GuiRequest(
        paths=tuple(ns.paths),
        load_options=load_options_from_args(ns),
        params=params_from_args(ns, n_components=DEFAULT_K),
        start=bool(ns.start),
        screenshot=ns.screenshot,
        quit_when_done=bool(ns.quit_when_done),
        threads=ns.threads or "auto",
    )
    _check_paths(list(request.paths))
    if request.screenshot is not None:
        _check_screenshot(request.screenshot)
    return request


def _run_gui(ns: argparse.Namespace) -> int:
    # validate what was given now, so a typo fails here and not inside the window
    request = gui_request_from_args(ns)
    problem = _no_display()
    if problem is not None:
        raise UsageError(problem)
    try:  # lazily: the headless path never loads Qt
        gui_app = importlib.import_module("nmfviewer.gui.app")
    except ImportError as exc:
        print(
            f"{PROG}: error: the desktop app cannot start ({exc}); "
            f"'{PROG} fit' runs without a window.",
            file=sys.stderr,
        )
        return 1
    return int(gui_app.run(request) or 0)


def _error(message: str) -> int:
    _console.error(str(message))
    return 2


def _split_at_double_dash(argv: list[str]) -> tuple[list[str], list[str]]:
    """(options and paths, paths after the first '--'): everything after '--' is a
    path, even '-scan.png' (argparse's intermixed parsing loses '--')."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nmfviewer`` and ``python -m nmfviewer``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "convert":
        return _guarded(lambda: _run_convert(argv[1:]))
    return _guarded(lambda: _run_command(argv))


def _guarded(run: Callable[[], int]) -> int:
    """run()'s exit code; a user error is one line and exit 2, Ctrl-C exit 130."""
    try:
        return run()
    except UsageError as exc:
        return _error(str(exc))
    except NMFViewerError as exc:
        return _error(render_error(exc))
    except KeyboardInterrupt:
        _console.write_line(sys.stderr, f"{PROG}: interrupted.")
        return 130
    except MemoryError:
        return _error("out of memory; load fewer or smaller images, or lower k (-k).")


def _run_command(argv: list[str]) -> int:
    """``fit``, ``rank`` or the window (no command), from the arguments after the program."""
    command = argv[0] if argv and argv[0] in ("fit", "rank") else "gui"
    headless = command != "gui"
    if command == "rank":
        from .cli_rank import build_rank_parser

        parser, flags = build_rank_parser()
        argv = argv[1:]
    elif headless:
        parser, flags = build_fit_parser()
        argv = argv[1:]
    else:
        parser, flags = build_gui_parser()
    argv, after = _split_at_double_dash(argv)
    try:
        ns = parser.parse_intermixed_args(argv)
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0)
    ns.paths = [*ns.paths, *(Path(p) for p in after)]
    ns.command = command
    if command == "rank":
        from .cli_rank import run_rank

        return run_rank(ns, _Progress(sys.stderr, enabled=not ns.quiet))
    return _run_fit(ns, flags) if headless else _run_gui(ns)
