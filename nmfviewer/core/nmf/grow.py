"""Warm starts for a larger k: the factors of a k-component fit plus new components.

The k sweep (``rank_sweep``) starts k from the previous k's factors. Each new
component is fitted to what the others leave unexplained: the positive part of the
residual ``R+ = max((X - W H) * w, 0)`` over the entries a mask ``w`` uses (the
training entries: held-out ones never enter a start), approximated by a rank-one
non-negative ``u v^T`` by three power iterations (``R+`` is non-negative, so its
leading singular vectors are too, and the power iterates stay >= 0). Each
power iteration is one pass over row blocks of X (one small GEMM and the residual
per block; no X-sized temporary), both products of a pass taken from the same
block. Several new components are added one after another (each on the residual
of the ones before).
"""

from __future__ import annotations

import numpy as np

from .mask import Mask

__all__ = ["grow"]

#: bytes of one row block of the residual
BLOCK_BYTES = 4 << 20
#: power iterations per new component
POWER_STEPS = 3


def _pass(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, v: np.ndarray, mask: Mask | None
) -> tuple[np.ndarray, np.ndarray]:
    """(u, v') = (R+ v, R+^T u) of the positive residual, in one pass over row blocks."""
    n, m = X.shape
    rows = max(1, BLOCK_BYTES // (4 * m))
    u = np.empty(n, dtype=np.float64)
    v_next = np.zeros(m, dtype=np.float64)
    weights = np.empty((min(rows, n), m), dtype=np.float32) if mask is not None else None
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        R = W[r0:r1] @ H  # (rows, m) in X's dtype
        np.subtract(X[r0:r1], R, out=R)
        if mask is not None and weights is not None:
            R *= mask.fill(r0, r1, weights[: r1 - r0])
        np.maximum(R, 0, out=R)
        ub = R.astype(np.float64) @ v
        u[r0:r1] = ub
        v_next += R.T.astype(np.float64) @ ub
    return u, v_next


def grow(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, k: int, mask: Mask | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """W (n_images, k), H (k, n_pixels): the given factors plus ``k - k_prev`` new ones.

    Parameters
    ----------
    X : ndarray, shape (n_images, n_pixels)
        The data (C-contiguous, the run's dtype).
    W : ndarray, shape (n_images, k_prev)
    H : ndarray, shape (k_prev, n_pixels)
        The factors of the smaller fit.
    k : int
        The new number of components, >= k_prev.
    mask : Mask, optional
        The entries the fit uses (the residual is taken there only).

    Returns
    -------
    (W0, H0)
        C-contiguous in X's dtype. A new component whose residual is all zero
        (nothing left to explain) is a tiny positive constant, so that the solver
        can still move it.
    """
    dtype = X.dtype
    W0 = np.zeros((X.shape[0], k), dtype=dtype)
    H0 = np.zeros((k, X.shape[1]), dtype=dtype)
    k_prev = H.shape[0]
    W0[:, :k_prev] = W
    H0[:k_prev] = H
    tiny = float(np.sqrt(max(float(X.mean()), 1e-30) / k)) * 1e-3
    for j in range(k_prev, k):
        v = np.ones(X.shape[1], dtype=np.float64)
        u = np.zeros(X.shape[0], dtype=np.float64)
        for _ in range(POWER_STEPS):
            u, v = _pass(X, W0[:, :j], H0[:j], v, mask)
            scale = float(np.linalg.norm(v))
            if scale == 0:
                break
            v /= scale
        nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
        if nu == 0 or nv == 0:
            W0[:, j] = tiny
            H0[j] = tiny
            continue
        # u v^T / ||u||^2 ... scaled: R+ ~ sigma * (u / |u|) (v / |v|)^T with sigma =
        # |R+^T u| / |u|; the last pass gave v = R+^T u before normalising (|v| = scale)
        sigma = scale / nu
        root = np.sqrt(sigma)
        W0[:, j] = (u / nu * root).astype(dtype)
        H0[j] = (v / nv * root).astype(dtype)
    return W0, H0
