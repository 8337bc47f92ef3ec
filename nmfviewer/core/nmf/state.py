"""NMFState: one iterate of a solver, immutable; the stop reasons and their wording."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: why a run stopped (``NMFState.stop_reason``, ``FitResult.stop_reason``, run.json)
STOP_REASONS = ("converged", "loss_rising", "max_iter", "time_budget", "cancelled", "collapsed")

#: the one human wording of each stop reason, for the CLI, the window and reports
STOP_REASON_TEXT = {
    "converged": "converged",
    "loss_rising": "stopped: the loss rose (not converged)",
    "max_iter": "reached max iterations (not converged)",
    "time_budget": "time budget used up",
    "cancelled": "stopped by user",
    "collapsed": "stopped: the model collapsed to zero",
}


def stop_reason_text(reason: str | None) -> str:
    """The wording of a stop reason (``STOP_REASON_TEXT``); 'running' for None."""
    if reason is None:
        return "running"
    return STOP_REASON_TEXT.get(reason, reason)


@dataclass(frozen=True)
class NMFState:
    """One iterate of an NMF solver.

    Parameters
    ----------
    iteration : int
        0 for the initial factors, then 1, 2, ...; counted over the whole run
        (a continued run goes on from where it stopped, see ``run.Resume``).
    W : ndarray, shape (n_images, k)
        The weights; row i holds image i's weights.
    H : ndarray, shape (k, n_pixels)
        The basis; row j is basis image j, flattened.
    loss : float or None
        The objective at (W, H): 0.5*||X - WH||_F^2 for Frobenius, the
        beta-divergence for KL / IS, plus any regularisation; None when it was
        not evaluated at this iteration. Solvers always evaluate it at
        iteration 0 and then periodically: HALS and Frobenius MU at every
        iteration, KL / IS MU every ``mu.LOSS_EVERY`` (10) iterations. The run
        driver fills it in on the state it stops at.
    rel_change : float
        Relative loss decrease per iteration over the convergence window (nan
        where the loss was not evaluated, or while no evaluated loss lies a
        full window back); negative when the loss rose.
    elapsed : float
        Seconds the run has computed so far (initialisation included; time the
        consumer held the iterator, e.g. a paused window, excluded).
    stop_reason : str or None
        None while running; one of ``STOP_REASONS`` on the last state of a run.

    Notes
    -----
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
        return int(self.H.shape[0])
