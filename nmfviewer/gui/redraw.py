"""A view-side rate limiter: redraw at a pace the redraw itself can afford.

The session hands the window every update it takes from the worker (about ten
per second). Drawing them all can cost the GUI thread more than it has on a
large collection; the limiter measures what each redraw cost and spaces the
next one so that redrawing takes at most ``budget`` of the GUI thread's time
(the cost counted is the draw itself plus the GUI thread's CPU time since the
previous draw, which is mostly the repaint that draw caused). Only the newest
pending update is ever drawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

#: never more than this many redraws per second
MIN_INTERVAL = 0.15
#: redrawing may take at most this fraction of the GUI thread's time
BUDGET = 0.15
#: and an update never waits longer than this
MAX_INTERVAL = 2.0


class RedrawLimiter(QObject):
    """Calls ``draw(item)`` with the newest submitted item, spaced by its measured cost."""

    def __init__(
        self,
        draw: Callable[[Any], None],
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
        self.last_cost = 0.0  # seconds the last draw took
        self.last_repaint = 0.0  # GUI-thread CPU seconds between the two last draws
        self._cpu_end: float | None = None
        self.interval = self.min_interval  # seconds until the next draw may happen
        self.drawn = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.flush)

    def submit(self, item: Any, *, now: bool = False) -> None:
        """Draw ``item`` when the budget allows (now=True: draw it right away)."""
        self._pending, self._has_pending = item, True
        wait = self._next - time.perf_counter()
        if now or wait <= 0:
            self.flush()
        elif not self._timer.isActive():
            self._timer.start(int(wait * 1000) + 1)

    def flush(self) -> None:
        """Draw the pending item, if any, now."""
        self._timer.stop()
        if not self._has_pending:
            return
        item, self._pending, self._has_pending = self._pending, None, False
        # the GUI thread's CPU time since the last draw ended: mostly the repaint that
        # draw caused (a repaint happens after draw returns, so it is counted here)
        cpu = time.thread_time()
        since = cpu - self._cpu_end if self._cpu_end is not None else 0.0
        t0 = time.perf_counter()
        self._draw(item)
        self.last_cost = time.perf_counter() - t0
        self._cpu_end = time.thread_time()
        self.drawn += 1
        self.last_repaint = min(since, self.interval)  # what happened before the last draw
        cost = self.last_cost + self.last_repaint
        self.interval = min(max(self.min_interval, cost / self.budget), MAX_INTERVAL)
        self._next = t0 + self.interval

    def cancel(self) -> None:
        """Forget the pending item (a new collection: it belongs to the old one)."""
        self._timer.stop()
        self._pending, self._has_pending = None, False
