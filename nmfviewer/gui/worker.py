"""Background work: the NMF run and the loader, each in its own QThread.

This is the only module that knows about QThread. Everything that crosses the
thread boundary is immutable: a :class:`FitUpdate` holds snapshot arrays
(owning, read-only) and a copy of the loss history; a loaded ``Collection`` is
a frozen dataclass nobody mutates.

The fit worker is a pump: it iterates the core's run driver
(``nmfviewer.core.NMFRun``, which owns the stop rule, the loss history and the
continuation of a run), waits while paused, and hands the latest state to a
one-slot :class:`Mailbox`, emitting ``updateReady`` only when the slot was
empty. The GUI takes the slot when the queued signal arrives, so at most one
notification is ever in flight and a slow GUI just sees fewer, newer updates.
How often a snapshot is taken is decided by one :class:`Throttle` (about 10 per
second, less when copying the factors or showing them is itself expensive),
plus the first state, the state at a pause and the final state.

Both workers can also run on the calling thread (``run()`` instead of
``start()``): the session's inline mode, for tests without threads.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from ..core import NMFParams, NMFRun, NMFState, NMFViewerError, Resume

#: seconds between two snapshots sent to the GUI (about 10 per second)
SNAPSHOT_INTERVAL = 0.1
#: never spend more than this fraction of the worker's time copying snapshots
SNAPSHOT_BUDGET = 0.1
#: seconds between two explicit hand-overs of the GIL to the GUI thread: every BLAS call
#: releases it anyway; on a tiny problem (thousands of iterations per second) one
#: hand-over per iteration would mostly cost the solver a wait for the GIL to come back
YIELD_INTERVAL = 0.002
#: the views (and their repaint, about as long again) may take at most about
#: 1/VIEW_COST_FACTOR of the GUI thread's time
VIEW_COST_FACTOR = 5.0


@dataclass(frozen=True)
class FitUpdate:
    """One throttled report of a running fit.

    run_id:        the run this belongs to (stale ones are dropped by the session).
    state:         snapshot NMFState; W (n, k), H (k, m) owning and read-only.
                   ``iteration`` counts from the start of the whole run
                   (a continuation adds to the iterations before it).
    loss_history:  (iteration + 1,) float64, every iteration's loss so far
                   (nan where the solver did not evaluate it; ``state.loss``
                   is None then). The last update of a run (done) always
                   carries a real loss, also as its history's last entry.
    max_iter:      the whole-run iteration at which this run stops at the latest.
    params:        the run's record (``NMFRun.record``): what repeats it.
    done:          True on the last update of a run.
    paused:        True when sent because the worker paused.
    """

    run_id: int
    state: NMFState
    loss_history: np.ndarray
    max_iter: int
    params: NMFParams | None = None
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


class Throttle:
    """When the next snapshot is due: the one rate control between a run and the views.

    After a snapshot sent at time t that cost ``cost`` seconds to take, the next
    is due at ``t + max(interval, cost / budget, view_factor * view_cost)``:
    about 10 per second, fewer when copying the factors takes more than
    ``budget`` of the worker's time, or when the views took ``view_cost``
    seconds to show the last one (``note_view_cost``, from the GUI thread).
    ``clock`` (when) is injectable so that tests drive it; the costs are
    measured in real seconds by the caller.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.perf_counter,
        *,
        interval: float = SNAPSHOT_INTERVAL,
        budget: float = SNAPSHOT_BUDGET,
        view_factor: float = VIEW_COST_FACTOR,
    ):
        self.clock = clock
        self.interval = interval
        self.budget = budget
        self.view_factor = view_factor
        self.view_cost = 0.0  # a float written by the GUI thread: atomic under the GIL
        self._next = -math.inf

    def due(self) -> bool:
        return self.clock() >= self._next

    def sent(self, started: float, cost: float) -> None:
        """A snapshot was sent at ``started`` and took ``cost`` seconds."""
        self._next = started + max(
            self.interval, cost / self.budget, self.view_factor * self.view_cost
        )

    def note_view_cost(self, seconds: float) -> None:
        self.view_cost = max(0.0, float(seconds))


class FitWorker(QThread):
    """Pumps one ``NMFRun`` (built in the thread): states to the mailbox, pause, cancel.

    X: (n, m) float matrix (a view of the collection; never written).
    params, W0 (n, k), H0 (k, m), resume: as for ``NMFRun`` (a fresh run, or a
    continuation of a finished one).
    clock: the throttle's and the run's clock (tests inject a fake one).
    """

    updateReady = Signal()
    #: run_id, the error (our NMFViewerError, rendered by the window with its field's
    #: widget) or a message already worded (our bug), details (traceback or "")
    failed = Signal(int, object, str)

    def __init__(
        self,
        run_id,
        X,
        params,
        W0=None,
        H0=None,
        *,
        resume: Resume | None = None,
        clock: Callable[[], float] = time.perf_counter,
        mask=None,
        parent=None,
    ):
        super().__init__(parent)
        self.run_id = run_id
        self._mask = mask  # a core Mask (entries the fit uses) or None
        self._X = X
        self._params = params
        self._W0 = W0
        self._H0 = H0
        self._resume = resume
        self._clock = clock
        self.throttle = Throttle(clock)
        self._mailbox = Mailbox()
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.launched = False  # set by whoever starts the thread (it runs once)

    @property
    def data_shape(self) -> tuple[int, int]:
        """X's (n_images, n_pixels)."""
        return (int(self._X.shape[0]), int(self._X.shape[1]))

    @property
    def n_components(self) -> int:
        return int(self._params.n_components)

    @property
    def resumes(self) -> bool:
        """This worker continues an earlier run."""
        return self._resume is not None

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
    def run(self) -> None:  # QThread API
        try:
            self._loop()
        except NMFViewerError as exc:
            self.failed.emit(self.run_id, exc, "")
        except Exception as exc:  # our bug, or the solver's: tell the user, keep the window
            self.failed.emit(
                self.run_id,
                f"The NMF run stopped because of an unexpected error: {type(exc).__name__}: {exc}",
                traceback.format_exc(),
            )

    def _loop(self) -> None:
        run = NMFRun(
            self._X,
            self._params,
            W0=self._W0,
            H0=self._H0,
            resume=self._resume,
            mask=self._mask,
            cancel=self._cancel,
            clock=self._clock,
        )
        states = iter(run)
        yielded = time.perf_counter()
        try:
            for state in states:
                now = time.perf_counter()
                if now - yielded >= YIELD_INTERVAL:
                    time.sleep(0)  # let the GUI thread take the GIL between iterations
                    yielded = now
                if state.stop_reason is not None:
                    self._send(run, state, done=True)
                elif not self._running.is_set():
                    self._send(run, state, paused=True)
                    while not self._running.wait(0.05):
                        pass
                elif self.throttle.due():
                    self._send(run, state)
        finally:
            states.close()

    def _send(self, run: NMFRun, state: NMFState, *, done=False, paused=False) -> None:
        t0 = self._clock()
        c0 = time.perf_counter()  # the copy's real cost, whatever clock schedules
        update = FitUpdate(
            self.run_id,
            state.snapshot(),
            run.loss_history(),
            run.max_iter,
            run.record,
            done=done,
            paused=paused,
        )
        self.throttle.sent(t0, time.perf_counter() - c0)
        if self._mailbox.put(update):
            self.updateReady.emit()


class LoadWorker(QThread):
    """Runs ``load_collection(paths, options)`` with progress and cancel.

    ``progress`` is throttled (about 20 per second, plus the last one);
    ``loaded``/``failed`` carry the request id so a superseded load is ignored.
    """

    progress = Signal(int, int, int)  # request_id, done, total
    loaded = Signal(int, object)  # request_id, Collection
    failed = Signal(int, object, str)  # request_id, error (exception or message), details

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

    def run(self) -> None:  # QThread API
        try:
            collection = self._load(
                self._paths, self._options, progress=self._on_progress, cancel=self._cancel
            )
        except NMFViewerError as exc:
            self.failed.emit(self.request_id, exc, "")
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
