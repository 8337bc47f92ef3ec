"""The controller: current collection, parameters, the latest state of the run.

The session owns the background workers (see :mod:`.worker`) and is the only
place that starts, pauses, resumes, stops or continues a run. Every run gets a
new id; an update that arrives with any other id is dropped, so a late
snapshot of a superseded run never reaches the views.

Views never see the session: the main window connects its signals to the
views' ``set_*`` methods.

``run_inline=True`` runs loads and fits on the calling thread (the workers'
``run()`` instead of ``start()``), through the same signals and slots: the
session can then be tested with fake views and no threads. ``clock`` is the
fit workers' clock (their snapshot throttle and the run's elapsed time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core import (
    Collection,
    FitResult,
    LoadOptions,
    NMFParams,
    ParameterError,
    Resume,
    configure_blas_threads,
    current_thread_choice,
    export_run,
    load_collection,
    resolve_seed,
    save_basis_png,
)
from .worker import FitUpdate, FitWorker, LoadWorker, stop_threads

#: run states reported by ``runStateChanged``
IDLE, RUNNING, PAUSED, FINISHED = "idle", "running", "paused", "finished"


class Session(QObject):
    """Holds what the window shows and runs the work behind it.

    confirm: callable(question) -> bool, asked before unexported results are
    discarded (a new run, a new collection). The default says yes; the main
    window installs a dialog, tests install their own answer.
    """

    loadStarted = Signal(list)  # paths
    loadProgress = Signal(int, int)  # done, total
    loadFinished = Signal()  # loaded, failed or cancelled: the progress can go
    loadFailed = Signal(object, str)  # error (NMFViewerError, or a worded message), details
    collectionChanged = Signal(object)  # Collection
    runStarted = Signal(int)  # run id
    updated = Signal(object)  # FitUpdate (only ever of the current run)
    runStateChanged = Signal(str)
    runFinished = Signal(str)  # stop reason
    runFailed = Signal(object, str)  # error (NMFViewerError, or a worded message), details

    def __init__(
        self,
        parent=None,
        *,
        confirm: Callable[[str], bool] | None = None,
        load_fn=load_collection,
        run_inline: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ):
        super().__init__(parent)
        self.run_inline = bool(run_inline)
        self._clock = clock
        self.confirm: Callable[[str], bool] = confirm or (lambda question: True)
        self.load_options = LoadOptions()
        self.collection: Collection | None = None
        self.latest: FitUpdate | None = None
        self.run_params: NMFParams | None = None
        self.run_mask = None  # the Mask of the current run (None: every entry)
        self.run_state = IDLE
        self.exported = False
        self._load_fn = load_fn
        self._run_id = 0
        self._load_id = 0
        self._fit: FitWorker | None = None
        self._loader: LoadWorker | None = None
        self._threads: set = set()  # every worker whose thread may still run

    # -- loading -------------------------------------------------------------
    def load(
        self, paths: Sequence[str | Path], options: LoadOptions | None = None, *, ask: bool = True
    ) -> bool:
        """Load ``paths`` in the background; False when the user kept the old results."""
        if ask and not self._may_discard("Load a new collection"):
            return False
        if options is not None:
            self.load_options = options
        self.cancel_load()
        self._load_id += 1
        worker = LoadWorker(
            self._load_id, [str(p) for p in paths], self.load_options, self._load_fn
        )
        worker.progress.connect(self._on_load_progress)
        worker.loaded.connect(self._on_loaded)
        worker.failed.connect(self._on_load_failed)
        self._loader = worker
        self.loadStarted.emit([str(p) for p in paths])
        if self.run_inline:
            worker.run()
        else:
            self._track(worker)
            worker.start()
        return True

    def cancel_load(self) -> None:
        if self._loader is not None:
            self._loader.cancel()
            self._loader = None
            self.loadFinished.emit()

    @property
    def loading(self) -> bool:
        return self._loader is not None

    def set_collection(self, collection: Collection) -> None:
        """Show ``collection`` (already loaded); any run on the old one ends."""
        self._end_run()
        self.collection = collection
        self.latest = None
        self.run_params = None
        self.exported = False
        self._set_state(IDLE)
        self.collectionChanged.emit(collection)

    def _on_load_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._load_id and self._loader is not None:
            self.loadProgress.emit(done, total)

    def _on_loaded(self, request_id: int, collection: Collection) -> None:
        if request_id != self._load_id or self._loader is None:
            return
        self._loader = None
        self.loadFinished.emit()
        self.set_collection(collection)

    def _on_load_failed(self, request_id: int, message: object, details: str) -> None:
        if request_id != self._load_id or self._loader is None:
            return  # superseded or cancelled: nobody is waiting for it
        self._loader = None
        self.loadFinished.emit()
        self.loadFailed.emit(message, details)

    # -- running -------------------------------------------------------------
    def start(self, params: NMFParams, *, ask: bool = True, mask=None) -> bool:
        """Start a new run from scratch; the previous run (if any) is discarded.

        mask: a core Mask of the entries the fit uses (the window passes the
        collection's own mask combined with the regions drawn on the image); None
        uses the collection's own mask (``Collection.mask``, None: every entry). A
        continuation keeps the run's mask.

        Raises ParameterError when ``params`` do not fit the collection.
        """
        if self.collection is None:
            raise ParameterError("no collection is loaded; open a folder of images first.")
        X = self.collection.to_matrix()
        params.check_data_shape(*X.shape)
        if ask and not self._may_discard("Start a new run"):
            return False
        self._end_run()
        self.run_params = resolve_seed(params)
        if mask is None:
            mask = getattr(self.collection, "mask", None)
        self.run_mask = mask
        self.latest = None
        self.exported = False
        self._launch(FitWorker(self._run_id, X, self.run_params, clock=self._clock, mask=mask))
        return True

    def continue_run(self, n_iter: int) -> None:
        """Run exactly ``n_iter`` more iterations from the current factors.

        The core's run driver continues the run (``Resume``): iterations, time
        and loss history go on from where it stopped, and the result records the
        continuation so that a replay repeats it.
        """
        if self.latest is None or self.collection is None or self.run_params is None:
            raise ParameterError("there is no result to continue from; press Run first.")
        if self.run_state in (RUNNING, PAUSED):
            raise ParameterError("a run is in progress; stop it before continuing.")
        so_far = self.result()
        resume = Resume.from_result(so_far, n_iter)
        self._end_run()
        self.exported = False
        self._launch(
            FitWorker(
                self._run_id,
                self.collection.to_matrix(),
                so_far.params,
                resume=resume,
                clock=self._clock,
                mask=self.run_mask,
            )
        )

    def pause(self) -> None:
        if self._fit is not None and self.run_state == RUNNING:
            self._fit.pause()
            self._set_state(PAUSED)

    def resume(self) -> None:
        if self._fit is not None and self.run_state == PAUSED:
            self._fit.resume()
            self._set_state(RUNNING)

    def stop(self) -> None:
        """Stop after the current iteration; the factors so far stay (stop reason 'cancelled')."""
        if self._fit is not None:
            self._fit.cancel()

    @property
    def run_id(self) -> int:
        return self._run_id

    @property
    def has_unsaved_results(self) -> bool:
        return self.latest is not None and self.latest.state.iteration > 0 and not self.exported

    def _launch(self, worker: FitWorker) -> None:
        worker.updateReady.connect(self._on_update_ready)
        worker.failed.connect(self._on_fit_failed)
        self._fit = worker
        self._set_state(RUNNING)
        self.runStarted.emit(worker.run_id)
        self._start_when_free()

    def _start_when_free(self) -> None:
        """Start the current run's thread once no older solver thread is running.

        A superseded run stops at its next iteration, but its initialisation (an
        SVD) cannot be interrupted; running two solvers at once would only share
        the cores (and concurrent BLAS calls can stall for seconds).
        """
        fit = self._fit
        if fit is None or fit.launched:
            return
        if any(isinstance(t, FitWorker) and t.isRunning() for t in self._threads):
            return  # _on_thread_finished calls again
        fit.launched = True
        self._choose_threads(fit)
        if self.run_inline:
            fit.run()
            return
        self._track(fit)
        fit.start()

    def _choose_threads(self, fit: FitWorker) -> None:
        """The core's thread policy for this run's shape, a core left for the GUI thread.

        Only when the window's count is 'auto' (``nmfviewer.gui.app.run`` set it so,
        without knowing the data yet): a count the user gave (``--threads N``) or
        one set by whoever embeds the window stays. A continuation keeps the count
        of the run it continues (its replay runs at one count). Called with no
        solver thread running (threadpoolctl's limits are process-wide).
        """
        choice = current_thread_choice()
        if choice is None or choice.requested != "auto" or fit.resumes:
            return
        configure_blas_threads(
            "auto",
            reserve_gui_core=True,
            shape=fit.data_shape,
            n_components=fit.n_components,
        )

    def _end_run(self) -> None:
        """Cancel the current run (if any) and move on to a new run id."""
        if self._fit is not None:
            self._fit.cancel()
            self._fit = None
        self._run_id += 1

    def _on_update_ready(self) -> None:
        worker = self.sender()
        if not isinstance(worker, FitWorker):
            return
        if worker is not self._fit:
            worker.take_update()  # stale: from a run that was superseded
            return
        update = worker.take_update()
        if update is None or update.run_id != self._run_id:
            return  # nothing new, or stale
        self.latest = update
        t0 = time.perf_counter()
        self.updated.emit(update)
        # the worker's throttle keeps the views' share of the GUI thread bounded
        worker.throttle.note_view_cost(time.perf_counter() - t0)
        if update.done:
            self._fit = None
            self._set_state(FINISHED)
            self.runFinished.emit(update.stop_reason or "cancelled")

    def _on_fit_failed(self, run_id: int, message: object, details: str) -> None:
        if run_id != self._run_id:
            return
        self._fit = None
        self._set_state(FINISHED if self.latest is not None else IDLE)
        self.runFailed.emit(message, details)

    def _set_state(self, state: str) -> None:
        if state != self.run_state:
            self.run_state = state
            self.runStateChanged.emit(state)

    def _may_discard(self, action: str) -> bool:
        if not self.has_unsaved_results:
            return True
        return bool(
            self.confirm(
                f"{action}? The current results have not been exported and will be discarded."
            )
        )

    # -- results -------------------------------------------------------------
    def result(self) -> FitResult:
        """The latest state as a FitResult (what ``nmfviewer fit`` would return);
        a continued run's result describes the whole run (its params replay it)."""
        if self.latest is None or self.run_params is None:
            raise ParameterError("there are no results yet; press Run first.")
        u = self.latest
        # a run that failed between two evaluations of the loss: evaluate it
        X = self.collection.to_matrix() if u.state.loss is None and self.collection else None
        return FitResult.from_state(u.state, u.loss_history, u.params or self.run_params, X)

    def export(self, out_dir: str | Path, *, order=None, extra=None) -> list[Path]:
        """Write the results like ``nmfviewer fit`` does; ExportError on failure.

        order: (k,) permutation of the result's (energy-ordered) components to
        export in (the window's tile order); extra: sections added to run.json.
        """
        if self.run_state in (RUNNING, PAUSED):
            raise ParameterError("a run is in progress; stop it (or let it finish) to export.")
        assert self.collection is not None or self.latest is None
        result = self.result()
        if order is not None:
            order = np.asarray(order, dtype=np.intp)
            result = replace(result, W=result.W[:, order].copy(), H=result.H[order].copy())
        written = export_run(out_dir, self.collection, result, extra=extra)
        self.exported = True
        return written

    def save_basis(self, component: int, path: str | Path) -> Path:
        """Save basis image ``component`` as a PNG (full-range scaled)."""
        if self.latest is None or self.collection is None:
            raise ParameterError("there are no basis images yet; press Run first.")
        image = np.asarray(self.latest.state.H[component]).reshape(self.collection.basis_shape)
        return save_basis_png(path, image)  # (h, w), or (h, w, 3) in colour

    # -- threads -------------------------------------------------------------
    def track(self, worker) -> None:
        """Keep another background worker (a thread object with ``cancel()``, e.g. the
        Choose-k dock's) stopped and waited for by :meth:`shutdown`."""
        self._track(worker)

    def _track(self, worker) -> None:
        self._threads.add(worker)
        # a bound method of this QObject: delivered in the GUI thread (queued)
        worker.finished.connect(self._on_thread_finished)

    def _on_thread_finished(self) -> None:
        worker = self.sender()
        if worker in self._threads:
            worker.wait()  # 'finished' is emitted just before the thread really ends
            self._threads.discard(worker)
        self._start_when_free()

    def shutdown(self, timeout_ms: int | None = 10_000) -> bool:
        """Stop all work and wait for every thread (None: as long as it takes);
        True when all ended in time."""
        self._loader = None
        self._end_run()
        ok = stop_threads(list(self._threads), timeout_ms)
        # keep a thread that is still running referenced: destroying it would abort
        self._threads = {t for t in self._threads if t.isRunning()}
        return ok

    @property
    def busy_threads(self) -> int:
        return sum(1 for t in self._threads if t.isRunning())
