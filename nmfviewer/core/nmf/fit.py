"""Run a solver: validate X, initialise, iterate; stop by a rule; FitResult.

``iterate_nmf`` is the entry point to the solvers (generators of NMFState).
``fit`` runs them to a :class:`StopRule` and returns a :class:`FitResult` that
owns its arrays; where the solver did not evaluate the loss at the stopping
iteration (KL / IS multiplicative updates), ``fit`` computes it.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from ..errors import NMFViewerError, ParameterError
from ..params import NMFParams
from ._track import Tracker
from .extrapolation import iterate_extrapolated
from .hals import choose_variant, iterate_hals
from .initialize import initialize
from .loss import Regularization, objective
from .mu import iterate_mu
from .state import NMFState


def resolve_seed(params: NMFParams) -> NMFParams:
    """params with seed=None replaced by a fresh random seed (to be recorded)."""
    if params.seed is not None:
        return params
    return replace(params, seed=secrets.randbelow(2**31 - 1))


def check_X(X, dtype) -> np.ndarray:
    """X as a 2-D C-contiguous array of ``dtype``, finite and >= 0.

    A C-contiguous X of the right dtype is returned as is (never copied);
    anything else is converted once. Raises ParameterError naming the problem.
    """
    dtype = np.dtype(dtype)
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"X cannot be read as a numeric array: {exc}") from None
    if X.dtype == object or not (
        np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_
    ) or np.issubdtype(X.dtype, np.complexfloating):
        raise ParameterError(
            f"X has dtype {X.dtype}; NMF needs real numbers (an image matrix of "
            "n_images x n_pixels)."
        )
    if X.ndim != 2:
        raise ParameterError(
            f"X must be 2-D (n_images x n_pixels); got {X.ndim}-D with shape {X.shape}. "
            "Flatten each image into one row (Collection.to_matrix() does this)."
        )
    n, m = X.shape
    if n == 0 or m == 0:
        raise ParameterError(f"X is empty (shape {X.shape}); load at least one image with pixels.")
    if X.dtype != dtype or not X.flags.c_contiguous:
        X = np.ascontiguousarray(X, dtype=dtype)
    lo, hi = X.min(), X.max()  # NaN propagates; no full-size temporary
    if math.isnan(lo) or math.isnan(hi) or math.isinf(hi) or (math.isinf(lo) and lo < 0):
        bad = int(X.size - np.count_nonzero(np.isfinite(X)))
        raise ParameterError(
            f"X contains {bad} NaN or infinite value(s); NMF needs finite values. "
            "Replace them (LoadOptions(nonfinite='zero')) or clean the data."
        )
    if lo < 0:
        neg = int(np.count_nonzero(X < 0))
        raise ParameterError(
            f"X contains {neg} negative value(s) (min {float(lo):g}); NMF needs X >= 0. "
            "Clip or shift the data (LoadOptions(negative='clip' or 'shift'))."
        )
    if hi == 0:
        raise ParameterError(
            "X is all zeros: there is nothing to factorize. Check the images (all black?)."
        )
    # products of X with factors of X's scale must neither overflow nor go subnormal
    span = 1e15 if dtype == np.float32 else 1e150
    if not 1.0 / span <= hi <= span:
        raise ParameterError(
            f"X's largest value {float(hi):g} is out of range for {dtype} NMF; rescale the "
            "data (e.g. LoadOptions(normalize='max')) or use dtype='float64'."
        )
    return X


def iterate_nmf(
    X, params: NMFParams, W0: np.ndarray | None = None, H0: np.ndarray | None = None
) -> Iterator[NMFState]:
    """Validate X, initialise and yield NMFState for iteration 0, 1, 2, ... forever.

    X: (n_images, n_pixels), >= 0, finite. W0 (n, k) / H0 (k, m): required for
    init='custom'; given with another init they continue a run from them.
    The states' W and H are read-only views of the solver's buffers.
    X and params are checked at the call (errors raise here); initialisation
    runs on the first ``next()``. X is converted to params.dtype once if needed;
    a C-contiguous X of that dtype is used as is, never copied.
    """
    X, params = _prepare(X, params)
    return _run(X, params, W0, H0)


def _prepare(X, params: NMFParams) -> tuple[np.ndarray, NMFParams]:
    """(X checked and in params.dtype, params with a resolved seed)."""
    if not isinstance(params, NMFParams):
        raise ParameterError(f"params must be an NMFParams, got {type(params).__name__}.")
    X = check_X(X, params.dtype)
    params.check_data_shape(*X.shape)
    return X, resolve_seed(params)


def _run(X, params, W0, H0, update_H: bool = True) -> Iterator[NMFState]:
    n, m = X.shape
    if update_H:
        W, H = initialize(
            X, params.n_components, params.init, seed=params.seed, dtype=X.dtype, W0=W0, H0=H0,
            beta=params.beta,
        )
    else:
        W, H = W0, H0
    reg = Regularization.from_params(params, n, m)
    tracker = Tracker(params.window)
    # the stopping rule compares losses `window` iterations apart; their noise
    # must stay well below tol * window of the loss (tol=0: for display only)
    precision = min(1e-4, params.tol * params.window / 10) if params.tol > 0 else 1e-4
    if params.solver == "hals":
        variant = params.hals_variant
        if variant == "auto" or not update_H:
            variant = choose_variant(n, m, params.n_components) if update_H else "plain"
        if variant == "accelerated":
            yield from iterate_extrapolated(
                X, W, H, reg=reg, tracker=tracker, precision=precision, window=params.window
            )
            return
        yield from iterate_hals(
            X, W, H, reg=reg, variant=variant, tracker=tracker, update_H=update_H,
            precision=precision, window=params.window,
        )
    else:
        yield from iterate_mu(
            X, W, H, beta=params.beta, reg=reg, tracker=tracker, update_H=update_H,
            precision=precision, window=params.window,
        )


def solve_W(X, H: np.ndarray, params: NMFParams) -> FitResult:
    """W (n, k) >= 0 minimising the loss for a fixed H (k, m): ``NMF.transform``.

    HALS starts from the clipped least-squares solution, MU from scikit-learn's
    constant sqrt(mean(X) / k); both stop by params' tol / max_iter.
    """
    X = check_X(X, params.dtype)
    H = np.ascontiguousarray(H, dtype=X.dtype)
    n, m = X.shape
    k = params.n_components
    if H.shape != (k, m):
        raise ParameterError(
            f"H has shape {H.shape} but X has {m} pixels per image and k={k}; "
            f"expected H of shape ({k}, {m})."
        )
    if params.solver == "hals":
        reg = Regularization.from_params(params, n, m)
        G = np.asarray(H @ X.T, dtype=np.float64) - reg.l1_W  # (k, n)
        B = np.asarray(H @ H.T, dtype=np.float64) + reg.l2_W * np.eye(k)
        W0 = np.maximum(np.linalg.pinv(B) @ G, 0).T.astype(X.dtype)
    else:
        W0 = np.full((n, k), np.sqrt(X.mean(dtype=np.float64) / k), dtype=X.dtype)
    it = _run(X, params, np.ascontiguousarray(W0), H.copy(), False)
    return _fit_states(it, X, params)


class StopRule:
    """When to stop: 'converged' (relative loss decrease per iteration over
    the window below tol; tol=0 never converges), 'max_iter', 'time_budget';
    None to go on. A loss that rose over the window (rounding noise at the
    data type's precision) counts as converged. rel_change is nan where the
    loss was not evaluated, so a solver that evaluates it only every few
    iterations can converge only at those."""

    def __init__(self, params: NMFParams):
        self.tol = params.tol
        self.max_iter = params.max_iter
        self.time_budget = params.time_budget

    def check(self, state: NMFState) -> str | None:
        if self.tol > 0 and state.iteration > 0 and not math.isnan(state.rel_change):
            if state.rel_change < self.tol:
                return "converged"
        if state.iteration >= self.max_iter:
            return "max_iter"
        if self.time_budget is not None and state.elapsed >= self.time_budget:
            return "time_budget"
        return None


@dataclass(frozen=True)
class FitResult:
    """The outcome of :func:`fit`. W (n, k) and H (k, m) own their memory.

    loss: the objective (0.5*||X - WH||^2 for Frobenius, the beta-divergence
    for KL / IS, plus any penalty) at the last iteration, always evaluated.
    loss_history: (n_iter + 1,) float64; [i] is the loss after i iterations
    (index 0: initial factors), nan where the solver did not evaluate it
    (KL / IS multiplicative updates: all but every 10th). The last entry is
    always ``loss``.
    """

    W: np.ndarray
    H: np.ndarray
    n_iter: int
    loss: float
    loss_history: np.ndarray
    stop_reason: str
    elapsed: float
    params: NMFParams

    @property
    def reconstruction_err_(self) -> float:
        """scikit-learn's reconstruction_err_: sqrt(2 * divergence), penalty excluded
        (for Frobenius, ||X - WH||_F)."""
        n, m = self.W.shape[0], self.H.shape[1]
        pen = Regularization.from_params(self.params, n, m).penalty(self.W, self.H)
        return math.sqrt(2.0 * max(self.loss - pen, 0.0))


def fit(
    X,
    params: NMFParams,
    W0: np.ndarray | None = None,
    H0: np.ndarray | None = None,
    *,
    callback: Callable[[NMFState], object] | None = None,
    cancel: threading.Event | None = None,
) -> FitResult:
    """Run NMF on X (n_images, n_pixels) until the stop rule says so.

    callback(state) is called for every iteration, the last one with its
    stop_reason set (the state is a view: call snapshot() to keep it).
    cancel: a threading.Event; when set, the fit stops with 'cancelled'.
    """
    X, params = _prepare(X, params)
    return _fit_states(_run(X, params, W0, H0), X, params, callback, cancel)


def loss_of(X: np.ndarray, state: NMFState, params: NMFParams) -> float:
    """The state's loss; computed from its W (n, k) and H (k, m) on X (n, m)
    where the solver did not evaluate it (``state.loss`` None)."""
    if state.loss is not None:
        return state.loss
    reg = Regularization.from_params(params, *X.shape)
    return objective(X, state.W, state.H, params.beta, reg)


def _check_finite(loss: float, iteration: int) -> None:
    if not math.isfinite(loss):
        raise NMFViewerError(
            f"the loss became {loss} at iteration {iteration}; the data "
            "may be badly scaled. Try float64 (dtype='float64') or rescale X."
        )


def _fit_states(it, X, params, callback=None, cancel=None) -> FitResult:
    """Run the solver iterator ``it`` on X (n, m) (as the solver sees it) to
    params' stop rule. The stopping state gets a real loss: when the solver did
    not evaluate it there, it is computed from that state's W and H."""
    t0 = time.perf_counter()
    rule = StopRule(params)
    history: list[float] = []
    state = None
    reason = None
    try:
        for state in it:
            history.append(math.nan if state.loss is None else state.loss)
            if state.loss is not None:
                _check_finite(state.loss, state.iteration)
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
            else:
                reason = rule.check(state)
            if reason is not None:
                if state.loss is None:
                    history[-1] = loss_of(X, state, params)
                    _check_finite(history[-1], state.iteration)
                state = replace(state, loss=history[-1], stop_reason=reason)
            if callback is not None:
                callback(state)
            if reason is not None:
                break
        assert state is not None and reason is not None
        W = np.array(state.W, order="C", copy=True)
        H = np.array(state.H, order="C", copy=True)
    finally:
        it.close()
    return FitResult(
        W=W,
        H=H,
        n_iter=state.iteration,
        loss=state.loss,
        loss_history=np.asarray(history, dtype=np.float64),
        stop_reason=reason,
        elapsed=time.perf_counter() - t0,
        params=params,
    )
