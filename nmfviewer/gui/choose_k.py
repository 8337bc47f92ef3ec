"""Controller of the Choose-k dock: the scree when a collection loads, the k sweep,
the restarts check, and the sweep's export.

It owns the dock's workers (:mod:`.sweep_worker`) and hands them to the session
to track, so that the session's shutdown (closing the window) stops and waits for
them like for a fit. Each request gets a new id; a row, a progress report or a
result of any other id is dropped (a superseded sweep, a collection replaced).
The window wires the view's signals here and shows ``message`` / ``error``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..core import Collection, NMFParams, NMFViewerError, ParameterError, write_rank
from .sweep_worker import ScreeWorker, SweepWorker
from .views.choose_k_view import ChooseKView, SweepRequest

#: how many singular values the scree shows
SCREE_VALUES = 30
#: the sweep's default range ends at max(DEFAULT_TO, 2 x the scree's elbow)
DEFAULT_TO = 12


class ChooseK(QObject):
    """session: the window's Session (its collection; it tracks our threads).
    params: returns the Run panel's parameters (raises ParameterError when invalid).
    mask: returns the Mask the fits use (or None)."""

    message = Signal(str)
    error = Signal(str, object, str)  # title, error, details
    stabilityReady = Signal(object)  # RankRow of the restarts check (one k)
    sweepFinished = Signal(object)  # RankResult

    def __init__(
        self,
        session,
        view: ChooseKView,
        params: Callable[[], NMFParams],
        mask: Callable[[], object] | None = None,
        parent=None,
    ):
        super().__init__(parent)
        self.session = session
        self.view = view
        self._params = params
        self._mask = mask or (lambda: None)
        self._id = 0
        self._scree_id = 0
        self._worker: SweepWorker | None = None
        self._checking = False  # the running worker is a restarts check, not a sweep
        self.result = None  # the last sweep's RankResult (complete or stopped)
        self.scree = None
        view.sweepRequested.connect(self.sweep)
        view.stopRequested.connect(self.stop)
        view.restartsRequested.connect(self.check_restarts)
        session.collectionChanged.connect(self.set_collection)

    # -- the scree -------------------------------------------------------------
    def set_collection(self, c: Collection) -> None:
        """A new collection: the old sweep goes, the scree is computed off the GUI thread."""
        self.stop()
        self._id += 1
        self._scree_id += 1
        self.result = self.scree = None
        view = self.view
        view.clear()
        view.set_image_shape(c.image_shape)
        max_k = min(c.n_images, c.image_shape[0] * c.image_shape[1])
        view.set_limits(max_k)
        view.set_range(min(2, max_k), min(DEFAULT_TO, max_k))
        view.clear_scree("Scree of X: computing…")
        worker = ScreeWorker(self._scree_id, c.to_matrix(), SCREE_VALUES)
        worker.done.connect(self._on_scree)
        worker.failed.connect(self._on_scree_failed)
        self._start(worker)

    def _on_scree(self, request_id: int, result) -> None:
        if request_id != self._scree_id:
            return
        self.scree = result
        self.view.set_scree(result.values, result.elbow)
        c = self.session.collection
        if c is not None and self._worker is None:
            max_k = min(c.n_images, c.image_shape[0] * c.image_shape[1])
            self.view.set_range(min(2, max_k), min(max(DEFAULT_TO, 2 * result.elbow), max_k))
        self.message.emit(
            f"Scree of X: the singular values level off after k ≈ {result.elbow} "
            "(a hint; Choose k ▸ Sweep tests it)"
        )

    def _on_scree_failed(self, request_id: int, error, details: str) -> None:
        if request_id == self._scree_id:
            self.view.clear_scree("Scree of X: could not be computed.")
            self.error.emit("The scree failed", error, details)

    # -- the sweep -------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._worker is not None

    def sweep(self, request: SweepRequest | None = None) -> bool:
        """Start a sweep (the view's request by default); False when it cannot start
        (the reason went to ``error``)."""
        request = request or self.view.request()
        c = self.session.collection
        try:
            if c is None:
                raise ParameterError("no collection is loaded; open a folder of images first.")
            params = self._params()
            X = c.to_matrix()
            if not request.ks:
                raise ParameterError(
                    "the k range is empty: 'k' must not be above 'to'.",
                    field="ks",
                    value=(self.view.k_from.value(), self.view.k_to.value()),
                )
            worker = SweepWorker(
                self._id + 1,
                X,
                request.ks,
                params,
                reps=request.reps,
                restarts=request.restarts,
                holdout=request.holdout,
                mask=self._mask(),
            )
        except ParameterError as exc:
            self.error.emit("Cannot sweep", exc, "")
            return False
        self.stop()
        self._id += 1
        self.result = None
        self.view.clear()
        self.view.set_request(request)
        self._launch(worker, checking=False)
        self.view.set_status(
            f"Sweeping k = {request.ks[0]} … {request.ks[-1]}, {request.reps} repeat(s), "
            f"{request.restarts} restart(s), {request.holdout:.0%} held out"
        )
        return True

    def check_restarts(self, restarts: int) -> bool:
        """R restarts at the current run's k and parameters: per-component stability."""
        c, params = self.session.collection, self.session.run_params
        if c is None or params is None or self.session.latest is None:
            self.error.emit(
                "Cannot check stability",
                ParameterError("there is no run to check; press Run first."),
                "",
            )
            return False
        k = params.n_components
        try:
            worker = SweepWorker(
                self._id + 1,
                c.to_matrix(),
                [k],
                params,
                reps=1,
                restarts=restarts,
                holdout=0.0,
                mask=self.session.run_mask,  # the run's own (the regions may have changed)
            )
        except ParameterError as exc:
            self.error.emit("Cannot check stability", exc, "")
            return False
        self.stop()
        self._id += 1
        self._launch(worker, checking=True)
        self.view.set_status(f"Fitting k = {k} {restarts} times from different seeds…")
        return True

    def stop(self) -> None:
        """Stop the running sweep; what finished stays (its result arrives as stopped)."""
        if self._worker is not None:
            self._worker.cancel()
            self.view.set_status("Stopping after the current fit…")

    def _launch(self, worker: SweepWorker, *, checking: bool) -> None:
        self._worker, self._checking = worker, checking
        worker.progress.connect(self._on_progress)
        worker.row.connect(self._on_row)
        worker.finished_sweep.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self.view.set_running(True)
        self.view.set_progress(0.0, "starting…")
        self._start(worker)

    def _start(self, worker) -> None:
        if self.session.run_inline:
            worker.run()
        else:
            self.session.track(worker)
            worker.start()

    def _current(self, request_id: int) -> bool:
        return self._worker is not None and request_id == self._id

    def _on_progress(self, request_id: int, fraction: float, k: int, rep: int, restart: int):
        if not self._current(request_id):
            return
        worker = self._worker
        text = f"k = {k}"
        if worker is not None and len(worker.ks) > 1:
            text += f", repeat {rep + 1}"
        if worker is not None and worker.restarts > 1:
            text += f", restart {restart + 1}/{worker.restarts}"
        self.view.set_progress(fraction, f"{text} — {100 * fraction:.0f} %")

    def _on_row(self, request_id: int, row) -> None:
        if not self._current(request_id):
            return
        if self._checking:
            self.stabilityReady.emit(row)
        else:
            self.view.add_row(row)

    def _on_finished(self, request_id: int, result) -> None:
        if not self._current(request_id):
            return
        checking = self._checking
        self._worker = None
        self.view.set_running(False)
        if checking:
            self.view.set_progress(1.0, "restarts done")
            self.view.set_status("Stability badges are on the basis tiles (matched cosine).")
            return
        self.result = result
        self.view.set_progress(1.0 if result.complete else self.view.progress.value() / 1000)
        self.view.set_result(result.suggested_k, result.rule, result.complete)
        done = len(result.rows)
        if result.complete:
            text = f"Done: {done} k. Suggested k = {result.suggested_k}."
        else:
            text = f"Stopped after {done} k." + (
                f" Suggested so far: k = {result.suggested_k}." if result.suggested_k else ""
            )
        self.view.set_status(text + " Double-click a k (or Adopt) to fit it fully.")
        self.sweepFinished.emit(result)
        self.message.emit(text)

    def _on_failed(self, request_id: int, error, details: str) -> None:
        if not self._current(request_id):
            return
        self._worker = None
        self.view.set_running(False)
        self.view.set_status("The sweep failed.")
        self.error.emit("The k sweep failed", error, details)

    # -- export ----------------------------------------------------------------
    def row_for(self, k: int):
        """The last sweep's row at k, or None."""
        if self.result is None:
            return None
        return next((r for r in self.result.rows if r.k == k), None)

    def export(self, folder: str | Path) -> list[Path]:
        """rank.csv, rank.json and rank.png of the last sweep into ``folder``."""
        if self.result is None or not self.result.rows:
            raise ParameterError("there is no sweep to export; press Sweep in Choose k first.")
        return write_rank(self.result, folder)


def wire_choose_k(window) -> ChooseK:
    """Connect the Choose-k dock of ``window`` (a MainWindow with ``choose_k_view``):
    the controller, adopting a k, File ▸ Export k sweep, messages and errors."""
    view = window.choose_k_view
    controller = ChooseK(
        window.session,
        view,
        params=window.params_panel.params,
        mask=window.fit_mask,
        parent=window,
    )
    controller.message.connect(lambda text: window.statusBar().showMessage(text, 10000))
    controller.error.connect(window.show_error)
    view.adoptRequested.connect(window.adopt_k)
    controller.stabilityReady.connect(window.set_stability)
    export = window.actions.export_sweep
    export.setEnabled(False)
    controller.sweepFinished.connect(lambda result: export.setEnabled(bool(result.rows)))
    window.session.collectionChanged.connect(lambda _c: export.setEnabled(False))
    export.triggered.connect(lambda: export_sweep_dialog(window, controller))
    return controller


def export_sweep_dialog(window, controller: ChooseK) -> None:
    from PySide6.QtWidgets import QFileDialog

    folder = QFileDialog.getExistingDirectory(
        window, "Export the k sweep (rank.csv, rank.json, rank.png) to a folder",
        window.recent.last_folder(),
    )  # fmt: skip
    if folder:
        export_sweep_to(window, controller, folder)


def export_sweep_to(window, controller: ChooseK, folder: str | Path) -> bool:
    try:
        written = controller.export(folder)
    except NMFViewerError as exc:
        window.show_error("Export failed", exc)
        return False
    window.statusBar().showMessage(f"Exported {len(written)} files to {folder}", 10000)
    return True
