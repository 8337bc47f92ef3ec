"""The functional entry points: ``fit``, ``solve_W`` and the raw ``iterate_nmf``.

``fit`` and ``solve_W`` run the run driver (:class:`.run.NMFRun`) to its stop
and return a :class:`FitResult`; ``iterate_nmf`` hands out the solver's states
without any stop rule (for experiments and benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from ..errors import ParameterError
from ..params import NMFParams
from ..threads import ensure_blas_threads
from .loss import Regularization
from .mask import Mask
from .prepare import check_X, prepare, resolve_seed
from .result import FitResult, loss_of
from .run import CancelToken, NMFRun, StopRule, iterate_states
from .state import NMFState

__all__ = [
    "FitResult",
    "StopRule",
    "check_X",
    "fit",
    "iterate_nmf",
    "loss_of",
    "resolve_seed",
    "solve_W",
]


def iterate_nmf(
    X: npt.ArrayLike,
    params: NMFParams,
    W0: np.ndarray | None = None,
    H0: np.ndarray | None = None,
    *,
    mask: Mask | npt.ArrayLike | None = None,
) -> Iterator[NMFState]:
    """Validate X, initialise and yield NMFState for iteration 0, 1, 2, ... forever.

    Parameters
    ----------
    X : array_like, shape (n_images, n_pixels)
        >= 0 and finite; converted to ``params.dtype`` once if needed (a
        C-contiguous array of that dtype is used as is, never copied).
    params : NMFParams
        Solver, loss, k, init, seed (None: drawn), dtype; the stop rule
        (tol, max_iter, time_budget) is *not* applied here.
    W0 : ndarray, shape (n_images, k), optional
    H0 : ndarray, shape (k, n_pixels), optional
        Required for init='custom'; given with another init they start the
        run from them.
    mask : Mask or array_like, optional
        Fit only the entries it uses (see :class:`.run.NMFRun`).

    Returns
    -------
    iterator of NMFState
        W (n_images, k) and H (k, n_pixels) are read-only views of the
        solver's buffers. X and params are checked at the call (errors raise
        here); initialisation runs on the first ``next()``. For a run that
        stops, use :func:`fit` or :class:`NMFRun`.
    """
    X, params = prepare(X, params)
    return iterate_states(X, params, W0, H0, mask=mask)


def fit(
    X: npt.ArrayLike,
    params: NMFParams,
    W0: np.ndarray | None = None,
    H0: np.ndarray | None = None,
    *,
    callback: Callable[[NMFState], object] | None = None,
    cancel: CancelToken | None = None,
    mask: Mask | npt.ArrayLike | None = None,
) -> FitResult:
    """Run NMF on X until the stop rule says so.

    Parameters
    ----------
    X : array_like, shape (n_images, n_pixels)
        >= 0 and finite; a C-contiguous array of ``params.dtype`` is used
        as is, never copied.
    params : NMFParams
        The run's parameters (seed None: drawn and recorded in the result).
    W0 : ndarray, shape (n_images, k), optional
    H0 : ndarray, shape (k, n_pixels), optional
        Start factors, required for init='custom'.
    callback : callable, optional
        ``callback(state)`` for every iteration, the last one with its
        ``stop_reason`` set (the state is a view: call ``snapshot()`` to keep it).
    cancel : object with ``is_set()``, optional
        A ``threading.Event``; once set, the fit stops with 'cancelled'.
    mask : Mask or array_like, optional
        Fit only the entries it uses (weights in [0, 1]); the loss history is
        then the masked loss (see :class:`.run.NMFRun`).

    Returns
    -------
    FitResult
        W (n_images, k), H (k, n_pixels), the loss history and why it stopped.
    """
    run = NMFRun(X, params, W0=W0, H0=H0, cancel=cancel, mask=mask)
    ensure_blas_threads(run.X.shape, run.params.n_components)  # the API's policy, set once
    for state in run:
        if callback is not None:
            callback(state)
    return run.result()


def solve_W(X: npt.ArrayLike, H: np.ndarray, params: NMFParams) -> FitResult:
    """W >= 0 minimising the loss for a fixed H: ``NMF.transform``.

    Parameters
    ----------
    X : array_like, shape (n_images, n_pixels)
        The data.
    H : ndarray, shape (k, n_pixels)
        The fixed basis.
    params : NMFParams
        Loss, solver, penalties and the stop rule (tol / max_iter / time_budget).

    Returns
    -------
    FitResult
        W (n_images, k) and H (a copy of the given one). HALS starts from the
        clipped least-squares solution, MU from scikit-learn's constant
        sqrt(mean(X) / k).
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
    run = NMFRun(X, params, W0=np.ascontiguousarray(W0), H0=H.copy(), update_H=False)
    for _ in run:
        pass
    return run.result()
