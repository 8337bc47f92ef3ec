"""FitResult: the outcome of a run, built in one place from its last state."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..params import NMFParams
from .collapse import CollapsedFitWarning
from .loss import Regularization, objective
from .match import energy_order
from .state import NMFState


def loss_of(X: np.ndarray, state: NMFState, params: NMFParams) -> float:
    """The state's loss; computed from its W and H on X where the solver did
    not evaluate it (``state.loss`` None).

    Parameters
    ----------
    X : ndarray, shape (n_images, n_pixels)
        The data the state was computed on (in the run's dtype).
    state : NMFState
        W (n_images, k), H (k, n_pixels).
    params : NMFParams
        Loss and penalties of the run.
    """
    if state.loss is not None:
        return state.loss
    reg = Regularization.from_params(params, *X.shape)
    return objective(X, state.W, state.H, params.beta, reg)


@dataclass(frozen=True)
class FitResult:
    """The outcome of a run (:func:`fit`, :class:`NMFRun`, the window's session).

    Parameters
    ----------
    W : ndarray, shape (n_images, k)
        The weights; owns its memory.
    H : ndarray, shape (k, n_pixels)
        The basis images, flattened; owns its memory. The components are in
        energy order (``||w_j|| * ||h_j||``, largest first: ``match.energy_order``)
        when the result is built by :meth:`from_state` (every run's result).
    n_iter : int
        Iterations of the whole run (a continued run counts all its segments).
    loss : float
        The objective (0.5*||X - WH||^2 for Frobenius, the beta-divergence for
        KL / IS, plus any penalty) at the last iteration, always evaluated.
    loss_history : ndarray, shape (n_iter + 1,)
        float64; [i] is the loss after i iterations (index 0: initial factors),
        nan where the solver did not evaluate it (KL / IS multiplicative
        updates: all but every 10th). The last entry is always ``loss``.
    stop_reason : str
        One of ``state.STOP_REASONS``; its wording is ``STOP_REASON_TEXT``.
    elapsed : float
        Seconds the run computed (initialisation included, pauses excluded).
    params : NMFParams
        The parameters that repeat the run: with the seed used, and for a run
        continued in the window its continuation points (``continued_at``) and
        total ``max_iter``, so that ``fit(X, params)`` gives the same factors.
    collapse : CollapsedFitWarning or None
        Why the model is all zero when ``stop_reason`` is 'collapsed' (what
        zeroed it, what to change); None otherwise.
    """

    W: np.ndarray
    H: np.ndarray
    n_iter: int
    loss: float
    loss_history: np.ndarray
    stop_reason: str
    elapsed: float
    params: NMFParams
    collapse: CollapsedFitWarning | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_state(
        cls,
        state: NMFState,
        loss_history: npt.ArrayLike,
        params: NMFParams,
        X: np.ndarray | None = None,
        collapse: CollapsedFitWarning | None = None,
        *,
        order: bool = True,
    ) -> FitResult:
        """The result whose last state is ``state``.

        Parameters
        ----------
        state : NMFState
            The last state of the run (the driver's last, with its stop
            reason); W and H are copied. A state without a stop reason (a run
            that failed or was abandoned mid-way) is recorded as 'cancelled'.
        loss_history : array_like, shape (state.iteration + 1,)
            The run's loss history (``NMFRun.loss_history()``), copied.
        params : NMFParams
            The run's record (``NMFRun.record``).
        X : ndarray, shape (n_images, n_pixels), optional
            Needed only when ``state.loss`` is None, to evaluate it.
        collapse : CollapsedFitWarning, optional
            The driver's report of a collapsed model (``NMFRun.collapse``).
        order : bool, optional
            Put the components in energy order (default). False keeps the
            state's order (a W solved for a fixed H, ``solve_W``).
        """
        history = np.array(loss_history, dtype=np.float64)
        loss = state.loss
        if loss is None:
            if X is None:
                raise ValueError("the state's loss was not evaluated; pass X to compute it")
            loss = loss_of(X, state, params)
        if history.shape != (state.iteration + 1,):
            raise ValueError(
                f"loss_history has shape {history.shape}, expected ({state.iteration + 1},)"
            )
        history[-1] = loss
        perm: np.ndarray | slice = energy_order(state.W, state.H) if order else slice(None)
        W = np.array(state.W[:, perm], order="C", copy=True)
        H = np.array(state.H[perm], order="C", copy=True)
        return cls(
            W=W,
            H=H,
            n_iter=int(state.iteration),
            loss=float(loss),
            loss_history=history,
            stop_reason=state.stop_reason or "cancelled",
            elapsed=float(state.elapsed),
            params=params,
            collapse=collapse,
        )

    @property
    def reconstruction_err_(self) -> float:
        """scikit-learn's reconstruction_err_: sqrt(2 * divergence), penalty excluded
        (for Frobenius, ||X - WH||_F)."""
        n, m = self.W.shape[0], self.H.shape[1]
        pen = Regularization.from_params(self.params, n, m).penalty(self.W, self.H)
        return math.sqrt(2.0 * max(self.loss - pen, 0.0))
