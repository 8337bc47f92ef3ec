"""NMFState: one iterate of a solver, immutable."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

STOP_REASONS = ("converged", "max_iter", "time_budget", "cancelled")


@dataclass(frozen=True)
class NMFState:
    """One iterate of an NMF solver.

    iteration:  0 for the initial factors, then 1, 2, ...
    W:          (n_images, k) weights; row i holds image i's weights.
    H:          (k, n_pixels) basis; row j is basis image j, flattened.
    loss:       the objective at (W, H): 0.5*||X - WH||_F^2 for Frobenius, the
                beta-divergence for KL / IS, plus any regularisation; None
                when it was not evaluated at this iteration. Solvers always
                evaluate it at iteration 0 and then periodically: HALS and
                Frobenius MU at every iteration, KL / IS MU every
                ``mu.LOSS_EVERY`` (10) iterations. ``fit`` fills it in on the
                state it stops at.
    rel_change: relative loss decrease per iteration over the convergence
                window (nan where the loss was not evaluated, or while no
                evaluated loss lies a full window back).
    elapsed:    seconds since the solver started (initialisation excluded).
    stop_reason: None while running; set on the last state ``fit`` returns.

    Solvers yield states whose W and H are *read-only views of their working
    buffers*: valid until the iterator advances. Call :meth:`snapshot` to keep
    one, or to hand it to another thread.
    """

    iteration: int
    W: np.ndarray
    H: np.ndarray
    loss: float | None
    rel_change: float
    elapsed: float
    stop_reason: str | None = None

    def snapshot(self) -> NMFState:
        """A copy that owns its (read-only) arrays: safe to keep or share across threads."""
        W = np.array(self.W, copy=True)
        H = np.array(self.H, copy=True)
        W.flags.writeable = False
        H.flags.writeable = False
        return replace(self, W=W, H=H)

    @property
    def n_components(self) -> int:
        return self.H.shape[0]
