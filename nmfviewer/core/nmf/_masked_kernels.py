"""Compiled inner loops of the masked solvers (``masked.py``); numba, cached.

The entries with weight < 1 of a row block come as CSR over the block's rows:
``indptr`` (rows + 1,), ``cols`` (nnz,) and ``wts`` (nnz,) (ignored unless
``has_w``; a binary mask has weight 0 there). ``vals`` (nnz,) keeps W H at
those entries between the two half-steps of an iteration.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
_sum = njit(cache=True, nogil=True, fastmath={"reassoc", "contract"}, error_model="numpy")


@_sum
def _squared_residual(x, p):  # pragma: no cover - compiled
    """sum (x - p)^2 over a row, each square rounded to the working dtype, float64."""
    s = 0.0
    for j in range(x.size):
        d = x[j] - p[j]
        s += np.float64(d * d)
    return s


@_jit
def surrogate_from_product(X, P, indptr, cols, wts, has_w, vals):  # pragma: no cover
    """P <- X~ = w X + (1 - w) W H for a row block; returns sum w (x - wh)^2.

    On entry P (r, m) = W H of the block; X (r, m) the data. vals (nnz,) <- W H
    at the entries with weight < 1 (for :func:`surrogate_from_values`). The
    weighted residual sum is the full sum minus (1 - w) times the missing
    entries' squares, the same float values subtracted as added (float64).
    """
    total = 0.0
    for i in range(X.shape[0]):
        x = X[i]
        p = P[i]
        e0 = indptr[i]
        e1 = indptr[i + 1]
        for e in range(e0, e1):
            vals[e] = p[cols[e]]
        s = _squared_residual(x, p)
        p[:] = x
        for e in range(e0, e1):
            j = cols[e]
            w = wts[e] if has_w else 0.0
            v = vals[e]
            d = x[j] - v
            s -= (1.0 - w) * np.float64(d * d)
            p[j] = w * x[j] + (1.0 - w) * v
        total += s
    return total


@_jit
def surrogate_from_values(X, P, indptr, cols, wts, has_w, vals):  # pragma: no cover
    """P (r, m) <- X~ = w X + (1 - w) vals: X with the stored W H at the
    entries of weight < 1 (the surrogate of the W half-step, rebuilt)."""
    for i in range(X.shape[0]):
        x = X[i]
        p = P[i]
        p[:] = x
        for e in range(indptr[i], indptr[i + 1]):
            j = cols[e]
            w = wts[e] if has_w else 0.0
            p[j] = w * x[j] + (1.0 - w) * vals[e]
