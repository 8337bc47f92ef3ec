"""Background work of the Choose-k dock: the scree of X and the rank sweep, each in a QThread.

Like :mod:`.worker` (the fit and the loader), everything that crosses the thread
boundary is immutable: a ``Scree`` and the sweep's ``RankRow`` / ``RankResult``
are frozen dataclasses the core builds once and nobody writes. The sweep worker
iterates the core's ``RankSweep`` (which runs every fit through the run driver);
it emits a row as each k finishes (a handful per sweep, so plain queued signals),
and the progress at most about ten times per second. Every signal carries the
request id: the controller drops whatever belongs to a superseded request.

Both workers can run on the calling thread (``run()`` instead of ``start()``).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Sequence

from PySide6.QtCore import QThread, Signal

from ..core import NMFParams, NMFViewerError, RankProgress, RankRow, RankSweep, scree

#: seconds between two progress reports of a sweep
PROGRESS_INTERVAL = 0.1


def _unexpected(what: str, exc: Exception) -> str:
    return f"{what} stopped because of an unexpected error: {type(exc).__name__}: {exc}"


class ScreeWorker(QThread):
    """Computes ``scree(X, n)`` once. X: (n_images, n_pixels), never written."""

    done = Signal(int, object)  # request_id, Scree
    failed = Signal(int, object, str)  # request_id, error or worded message, details

    def __init__(self, request_id: int, X, n: int = 30, parent=None):
        super().__init__(parent)
        self.request_id = request_id
        self._X = X
        self._n = n

    def cancel(self) -> None:
        """An SVD cannot be interrupted; its result is dropped as stale instead."""

    def run(self) -> None:  # QThread API
        try:
            result = scree(self._X, n=self._n)
        except NMFViewerError as exc:
            self.failed.emit(self.request_id, exc, "")
        except Exception as exc:  # our bug: tell the user, keep the window
            self.failed.emit(self.request_id, _unexpected("The scree", exc), traceback.format_exc())
        else:
            self.done.emit(self.request_id, result)


class SweepWorker(QThread):
    """Iterates one ``RankSweep(X, ks, params, reps=, restarts=, holdout=, mask=)``.

    Signals (each with the request id first): ``progress(id, fraction, k, rep,
    restart)``, throttled; ``row(id, RankRow)`` as each k finishes; ``finished_sweep(id,
    RankResult)`` at the end, also after a cancel (``complete`` False then);
    ``failed(id, error, details)``.
    """

    progress = Signal(int, float, int, int, int)
    row = Signal(int, object)
    finished_sweep = Signal(int, object)
    failed = Signal(int, object, str)

    def __init__(
        self,
        request_id: int,
        X,
        ks: Sequence[int],
        params: NMFParams,
        *,
        reps: int = 3,
        restarts: int = 1,
        holdout: float = 0.1,
        mask=None,
        parent=None,
    ):
        super().__init__(parent)
        self.request_id = request_id
        self.ks = tuple(int(k) for k in ks)
        self.restarts = int(restarts)
        self._X = X
        self._params = params
        self._kw = {"reps": int(reps), "restarts": int(restarts), "holdout": float(holdout)}
        if mask is not None:
            self._kw["mask"] = mask
        self._cancel = threading.Event()
        self._last_progress = -1.0

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:  # QThread API
        try:
            sweep = RankSweep(self._X, self.ks, self._params, cancel=self._cancel, **self._kw)
            for item in sweep:
                time.sleep(0)  # let the GUI thread take the GIL between steps
                if isinstance(item, RankRow):
                    self.row.emit(self.request_id, item)
                elif isinstance(item, RankProgress):
                    now = time.perf_counter()
                    if now - self._last_progress >= PROGRESS_INTERVAL:
                        self._last_progress = now
                        self.progress.emit(
                            self.request_id, item.fraction, item.k, item.rep, item.restart
                        )
                if self._cancel.is_set():
                    break
            result = sweep.result()
        except NMFViewerError as exc:
            self.failed.emit(self.request_id, exc, "")
        except Exception as exc:  # our bug, or the solver's
            self.failed.emit(
                self.request_id, _unexpected("The k sweep", exc), traceback.format_exc()
            )
        else:
            self.finished_sweep.emit(self.request_id, result)
