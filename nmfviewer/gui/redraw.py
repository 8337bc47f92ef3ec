"""A view-side rate limiter: redraw at a pace the redraw itself can afford.

The session hands the window every update it takes from the worker (about ten
per second). Drawing them all can cost the GUI thread more than it has on a
large collection; the limiter measures what each redraw cost and spaces the
next one so that redrawing takes at most ``budget`` of the GUI thread's time
(the cost counted is the draw itself plus the GUI thread's CPU time since the
previous draw, which is mostly the repaint that draw caused). Only the newest
pending update is ever drawn.

A redraw can also be staged: when ``draw(item)`` returns an iterator (a
generator that yields between views), each step runs in its own event-loop
turn, so that one view's update, and the repaint it causes, is all that ever
stands between two turns (input, timers, the other views' repaints). No single
turn then holds the GUI thread for the whole window's redraw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QTimer

#: never more than this many redraws per second
MIN_INTERVAL = 0.15
#: redrawing may take at most this fraction of the GUI thread's time (the GUI thread's
#: Python work holds the GIL the solver also needs between its BLAS calls)
BUDGET = 0.1
#: and an update never waits longer than this
MAX_INTERVAL = 2.0


class RedrawLimiter(QObject):
    """Calls ``draw(item)`` with the newest submitted item, spaced by its measured cost.

    ``draw`` returns None (drawn in one go) or an iterator whose steps the limiter
    runs one per event-loop turn (``steps_run`` counts them, ``turns`` the turns
    that ran at least one).
    """

    def __init__(
        self,
        draw: Callable[[Any], Iterator[Any] | None],
        parent=None,
        *,
        min_interval: float = MIN_INTERVAL,
        budget: float = BUDGET,
    ):
        super().__init__(parent)
        self._draw = draw
        self._pending: Any = None
        self._has_pending = False
        self._next = 0.0
        self.min_interval = float(min_interval)
        self.budget = float(budget)
        self.last_cost = 0.0  # seconds the last draw took (all its steps)
        self.last_max_step = 0.0  # seconds of its longest step (the longest turn it took)
        self.last_repaint = 0.0  # GUI-thread CPU seconds between the two last draws
        self._cpu_end: float | None = None
        self.interval = self.min_interval  # seconds until the next draw may happen
        self.drawn = 0
        self.steps_run = 0
        self._steps: Iterator[Any] | None = None  # a staged draw under way
        self._started = 0.0  # when the draw under way started
        self._cost = 0.0  # its cost so far (its steps' time)
        self._max_step = 0.0
        self._since = 0.0  # GUI CPU time between the previous draw and this one
        self._urgent = False  # the pending item was submitted with now=True
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._start_due)
        self._step_timer = QTimer(self)
        self._step_timer.setSingleShot(True)
        self._step_timer.setInterval(0)  # the next turn of the event loop
        self._step_timer.timeout.connect(self._step)

    @property
    def busy(self) -> bool:
        """A staged draw is under way (steps are left)."""
        return self._steps is not None

    def submit(self, item: Any, *, now: bool = False) -> None:
        """Draw ``item`` when the budget allows (now=True: start drawing it right away,
        or as soon as the draw under way has finished)."""
        self._pending, self._has_pending = item, True
        self._urgent = self._urgent or now
        if now:
            self._next = 0.0
        if self._steps is not None:
            return  # the draw under way starts the next one when it ends
        wait = self._next - time.perf_counter()
        if wait <= 0:
            self._start()
        elif not self._timer.isActive():
            self._timer.start(int(wait * 1000) + 1)

    def flush(self) -> None:
        """Finish the draw under way and draw the pending item, if any, completely now."""
        self._timer.stop()
        while self._steps is not None:
            self._step()
        if self._has_pending:
            self._start()
            while self._steps is not None:
                self._step()

    def cancel(self) -> None:
        """Forget the pending item and the rest of a staged draw (a new collection:
        they belong to the old one)."""
        self._timer.stop()
        self._step_timer.stop()
        self._pending, self._has_pending, self._urgent = None, False, False
        if self._steps is not None:
            close = getattr(self._steps, "close", None)
            self._steps = None
            if close is not None:
                close()

    # -- drawing ---------------------------------------------------------------
    def _start_due(self) -> None:
        if self._steps is None:
            self._start()

    def _start(self) -> None:
        """Begin drawing the pending item (its first step runs now)."""
        self._timer.stop()
        if not self._has_pending:
            return
        item, self._pending, self._has_pending = self._pending, None, False
        self._urgent = False
        # the GUI thread's CPU time since the last draw ended: mostly the repaint that
        # draw caused (a repaint happens after draw returns, so it is counted here)
        cpu = time.thread_time()
        self._since = cpu - self._cpu_end if self._cpu_end is not None else 0.0
        self._started = time.perf_counter()
        steps = self._draw(item)
        self._cost = self._max_step = time.perf_counter() - self._started
        if steps is None:
            self._done()
            return
        self._steps = iter(steps)
        self._step()

    def _step(self) -> None:
        """Run one step of the staged draw; the next one in the next turn."""
        steps = self._steps
        if steps is None:
            return
        t0 = time.perf_counter()
        try:
            next(steps)
        except StopIteration:
            self._steps = None
        took = time.perf_counter() - t0
        self._cost += took
        self._max_step = max(self._max_step, took)
        if self._steps is None:
            self._done()
        else:
            self.steps_run += 1
            self._step_timer.start()

    def _done(self) -> None:
        self._step_timer.stop()
        self.last_cost = self._cost
        self.last_max_step = self._max_step
        self._cpu_end = time.thread_time()
        self.drawn += 1
        self.last_repaint = min(self._since, self.interval)  # what happened before the draw
        cost = self.last_cost + self.last_repaint
        self.interval = min(max(self.min_interval, cost / self.budget), MAX_INTERVAL)
        self._next = self._started + self.interval
        if self._has_pending:  # arrived while the steps ran: in a later turn
            wait = 0.0 if self._urgent else self._next - time.perf_counter()
            self._timer.start(max(0, int(wait * 1000) + 1) if wait > 0 else 0)
