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

    rel_change at iteration t is ``(loss[t-w] - loss[t]) / (w * |loss[t-w]|)``,
    the relative loss decrease per iteration over the last ``w = window``
    iterations (nan while fewer than w+1 losses are known). The clock starts
    when the tracker is made, i.e. after initialisation.
    """

    def __init__(self, window: int):
        self.window = int(window)
        self._losses: deque[float] = deque(maxlen=self.window + 1)
        self._t0 = time.perf_counter()

    def state(self, iteration: int, W: np.ndarray, H: np.ndarray, loss: float) -> NMFState:
        """W (n, k), H (k, m): working buffers, exposed as read-only views."""
        losses = self._losses
        losses.append(float(loss))
        if len(losses) > self.window:
            old = losses[0]
            if old == 0.0 or not math.isfinite(old):
                rel = 0.0
            else:
                rel = (old - losses[-1]) / (self.window * abs(old))
        else:
            rel = math.nan
        return NMFState(
            iteration=iteration,
            W=_readonly(W),
            H=_readonly(H),
            loss=float(loss),
            rel_change=rel,
            elapsed=time.perf_counter() - self._t0,
        )
