"""Turns (iteration, W, H, loss) into NMFState: relative change over a window, elapsed time."""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np

from .state import NMFState


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class Tracker:
    """Builds the NMFState a solver yields.

    rel_change at an iteration t whose loss was evaluated is

        (loss[t_old] - loss[t]) / ((t - t_old) * |loss[t_old]|)

    the relative loss decrease per iteration since t_old, the most recent
    evaluated iteration with t_old <= t - window. It is nan where the loss was
    not evaluated (loss=None) and while no such t_old exists. With a loss at
    every iteration, t_old = t - window. Only the evaluated losses of the last
    window (plus one older) are kept. The clock starts when the tracker is
    made, i.e. after initialisation.
    """

    def __init__(self, window: int):
        self.window = int(window)
        self._losses: deque[tuple[int, float]] = deque()  # (iteration, loss), ascending
        self._t0 = time.perf_counter()

    def _rel_change(self, iteration: int, loss: float) -> float:
        losses = self._losses
        horizon = iteration - self.window
        # keep one entry at or before the horizon: the most recent such t_old
        while len(losses) > 1 and losses[1][0] <= horizon:
            losses.popleft()
        rel = math.nan
        if losses and losses[0][0] <= horizon:
            t_old, old = losses[0]
            if old == 0.0 or not math.isfinite(old):
                rel = 0.0
            else:
                rel = (old - loss) / ((iteration - t_old) * abs(old))
        losses.append((iteration, loss))
        return rel

    def rebase(self) -> None:
        """Forget the losses so far: the next ones are known more precisely and are
        compared only with each other (rel_change is nan until a window has passed),
        so a loss that rose only because it is now known better is not 'loss_rising'."""
        self._losses.clear()

    def state(self, iteration: int, W: np.ndarray, H: np.ndarray, loss: float | None) -> NMFState:
        """W (n, k), H (k, m): working buffers, exposed as read-only views.

        loss: the objective at (W, H), or None when not evaluated this iteration.
        """
        if loss is not None:
            loss = float(loss)
            rel = self._rel_change(iteration, loss)
        else:
            rel = math.nan
        return NMFState(
            iteration=iteration,
            W=_readonly(W),
            H=_readonly(H),
            loss=loss,
            rel_change=rel,
            elapsed=time.perf_counter() - self._t0,
        )
