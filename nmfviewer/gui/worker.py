"""Background work: the NMF solver and the loader, each in its own QThread.

This is the only module that knows about QThread. Everything that crosses the
thread boundary is immutable: a :class:`FitUpdate` holds snapshot arrays
(owning, read-only) and a copy of the loss history; a loaded ``Collection`` is
a frozen dataclass nobody mutates.

Rate control ("never queue up"): the fit worker puts its latest update into a
one-slot :class:`Mailbox` and emits ``updateReady`` only when the slot was
empty. The GUI takes the slot when the queued signal arrives, so at most one
notification is ever in flight and a slow GUI just sees fewer, newer updates.
Snapshots are taken at most ~10 per second (less often when copying the
factors is itself expensive), plus the first state, the state at a pause, and
the final state.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from ..core.errors import NMFViewerError
from ..core.nmf.fit import StopRule, iterate_nmf, loss_of
from ..core.nmf.state import NMFState

#: seconds between two snapshots sent to the GUI (about 10 per second)
SNAPSHOT_INTERVAL = 0.1
#: never spend more than this fraction of the worker's time copying snapshots
SNAPSHOT_BUDGET = 0.1


@dataclass(frozen=True)
class FitUpdate:
    """One throttled report of a running fit.

    run_id:        the run this belongs to (stale ones are dropped by the session).
    state:         snapshot NMFState; W (n, k), H (k, m) owning and read-only.
                   ``iteration`` counts from the start of the whole run
                   (a continuation adds to the iterations before it).
    loss_history:  (iteration + 1,) float64, every iteration's loss so far
                   (nan where the solver did not evaluate it; ``state.loss``
                   is None then). The last update of a segment (done) always
                   carries a real loss, also as its history's last entry.
    max_iter:      the iteration at which this segment stops at the latest.
    done:          True on the last update of a run segment.
    paused:        True when sent because the worker paused.
    """

    run_id: int
    state: NMFState
    loss_history: np.ndarray
    max_iter: int
    done: bool = False
    paused: bool = False

    @property
    def stop_reason(self) -> str | None:
        return self.state.stop_reason


class Mailbox:
    """A one-item slot shared by a producer thread and the GUI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: Any = None

    def put(self, item: Any) -> bool:
        """Replace the slot's content; True when the slot was empty (notify then)."""
        with self._lock:
            was_empty = self._item is None
            self._item = item
            return was_empty

    def take(self) -> Any:
        """The latest item, or None; empties the slot."""
        with self._lock:
            item, self._item = self._item, None
            return item


class FitWorker(QThread):
    """Runs ``iterate_nmf`` + ``StopRule`` for one run segment.

    X: (n, m) float matrix (a view of the collection; never written).
    W0, H0: (n, k), (k, m) factors to continue from, or None for a fresh start.
    offset / prior_history / prior_elapsed: where this segment continues a run
    (iteration count, (offset + 1,) loss history and seconds before it).
    """

    updateReady = Signal()
    failed = Signal(int, str, str)  # run_id, message for the user, details (traceback or "")

    def __init__(self, run_id, X, params, W0=None, H0=None, *, offset=0,
                 prior_history=None, prior_elapsed=0.0, parent=None):
        super().__init__(parent)
        self.run_id = run_id
        self._X = X
        self._params = params
        self._W0 = W0
        self._H0 = H0
        self._offset = int(offset)
        self._history: list[float] = list(prior_history) if prior_history is not None else []
        self._prior_elapsed = float(prior_elapsed)
        self._mailbox = Mailbox()
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.launched = False  # set by whoever starts the thread (it runs once)

    # -- control, from the GUI thread ---------------------------------------
    def take_update(self) -> FitUpdate | None:
        return self._mailbox.take()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()

    @property
    def is_paused(self) -> bool:
        return not self._running.is_set()

    # -- the thread ----------------------------------------------------------
    def run(self) -> None:  # noqa: D401 - QThread API
        try:
            self._loop()
        except NMFViewerError as exc:
            self.failed.emit(self.run_id, str(exc), "")
        except Exception as exc:  # our bug, or the solver's: tell the user, keep the window
            self.failed.emit(
                self.run_id,
                f"The NMF run stopped because of an unexpected error: "
                f"{type(exc).__name__}: {exc}",
                traceback.format_exc(),
            )

    def _loop(self) -> None:
        params = self._params
        rule = StopRule(params)
        segment = iterate_nmf(self._X, params, W0=self._W0, H0=self._H0)
        max_iter = self._offset + params.max_iter
        interval = SNAPSHOT_INTERVAL
        last_sent = -np.inf
        paused_total = 0.0
        first = True
        try:
            for state in segment:
                time.sleep(0)  # let the GUI thread take the GIL between iterations
                state = replace(
                    state,
                    iteration=state.iteration + self._offset,
                    elapsed=state.elapsed - paused_total + self._prior_elapsed,
                )
                loss = math.nan if state.loss is None else state.loss
                if first and self._offset > 0 and self._history:
                    self._history[-1] = loss  # iteration 0 repeats the last state
                else:
                    self._history.append(loss)
                if not self._running.is_set():
                    paused_total += self._wait_while_paused(state, max_iter)
                reason = rule.check(replace(
                    state, iteration=state.iteration - self._offset,
                    elapsed=state.elapsed - self._prior_elapsed))
                if self._cancel.is_set():
                    reason = "cancelled"
                if reason is not None:
                    if state.loss is None:  # the last state shows a real loss
                        state = replace(state, loss=loss_of(self._X, state, self._params))
                        self._history[-1] = state.loss
                    self._send(replace(state, stop_reason=reason), max_iter, done=True)
                    return
                now = time.perf_counter()
                if first or now - last_sent >= interval:
                    cost = self._send(state, max_iter)
                    interval = max(SNAPSHOT_INTERVAL, cost / SNAPSHOT_BUDGET)
                    last_sent = now
                first = False
        finally:
            segment.close()

    def _wait_while_paused(self, state: NMFState, max_iter: int) -> float:
        t0 = time.perf_counter()
        self._send(state, max_iter, paused=True)
        while not self._running.wait(0.05):
            pass
        return time.perf_counter() - t0

    def _send(self, state: NMFState, max_iter: int, *, done=False, paused=False) -> float:
        t0 = time.perf_counter()
        update = FitUpdate(
            self.run_id, state.snapshot(), np.asarray(self._history, dtype=np.float64),
            max_iter, done=done, paused=paused,
        )
        if self._mailbox.put(update):
            self.updateReady.emit()
        return time.perf_counter() - t0


class LoadWorker(QThread):
    """Runs ``load_collection(paths, options)`` with progress and cancel.

    ``progress`` is throttled (about 20 per second, plus the last one);
    ``loaded``/``failed`` carry the request id so a superseded load is ignored.
    """

    progress = Signal(int, int, int)  # request_id, done, total
    loaded = Signal(int, object)  # request_id, Collection
    failed = Signal(int, str, str)  # request_id, message, details

    def __init__(self, request_id, paths, options, load_fn, parent=None):
        super().__init__(parent)
        self.request_id = request_id
        self._paths = list(paths)
        self._options = options
        self._load = load_fn
        self._cancel = threading.Event()
        self._last_progress = 0.0

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _on_progress(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done >= total or now - self._last_progress >= 0.05:
            self._last_progress = now
            self.progress.emit(self.request_id, int(done), int(total))

    def run(self) -> None:  # noqa: D401 - QThread API
        try:
            collection = self._load(
                self._paths, self._options, progress=self._on_progress, cancel=self._cancel
            )
        except NMFViewerError as exc:
            self.failed.emit(self.request_id, str(exc), "")
        except Exception as exc:
            self.failed.emit(
                self.request_id,
                f"Loading failed because of an unexpected error: {type(exc).__name__}: {exc}",
                traceback.format_exc(),
            )
        else:
            self.loaded.emit(self.request_id, collection)


def stop_threads(threads, timeout_ms: int | None = 10_000) -> bool:
    """Cancel every worker and wait for its thread (None: as long as it takes);
    True when all ended in time."""
    for t in threads:
        t.cancel()
    ok = True
    for t in threads:
        ok = (t.wait() if timeout_ms is None else t.wait(timeout_ms)) and ok
    return ok
