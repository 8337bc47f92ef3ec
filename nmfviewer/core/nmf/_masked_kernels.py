"""Compiled inner loops of the masked solvers (``masked.py``); numba, cached.

Each takes a row block of X (r, m), a block of W H (r, m) and the block's
mask M (r, m): bool for binary masks (``*_binary``: selects, so an observed
entry gets exactly X) or float weights in [0, 1] (``*_weighted``); M may be a
read-only broadcast view (a column mask). One pass over the block, no
branches on the mask: the loops vectorise.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True, fastmath={"reassoc", "contract"}, error_model="numpy")


@_jit
def surrogate_binary(X, P, M):  # pragma: no cover - compiled
    """P <- X~ = X where M else P; returns sum_M (x - p)^2 (float64) for P = W H on entry.

    The EM surrogate of the masked Frobenius loss (``masked.py``): the data
    where observed, the model's own values where missing. Each square is
    rounded to the working dtype, the sum is float64.
    """
    total = 0.0
    r, m = X.shape
    for i in range(r):
        x = X[i]
        p = P[i]
        w = M[i]
        s = 0.0
        for j in range(m):
            d = x[j] - p[j]
            s += np.float64(d * d) if w[j] else 0.0
            p[j] = x[j] if w[j] else p[j]
        total += s
    return total


@_jit
def surrogate_weighted(X, P, M):  # pragma: no cover - compiled
    """P <- X~ = w X + (1 - w) P; returns sum w (x - p)^2 (float64) for P = W H on entry."""
    total = 0.0
    r, m = X.shape
    for i in range(r):
        x = X[i]
        p = P[i]
        w = M[i]
        s = 0.0
        for j in range(m):
            d = x[j] - p[j]
            s += np.float64(w[j]) * np.float64(d * d)
            p[j] = p[j] + w[j] * d
        total += s
    return total


@_jit
def kl_ratio_binary(X, B, M, eps):  # pragma: no cover - compiled
    """B <- X / max(B, eps) where M else 1, for B = W H on entry (the KL EM ratio)."""
    r, m = X.shape
    for i in range(r):
        x = X[i]
        b = B[i]
        w = M[i]
        for j in range(m):
            v = b[j]
            q = x[j] / (v if v > eps else eps)
            b[j] = q if w[j] else 1.0


@_jit
def kl_ratio_weighted(X, B, M, eps):  # pragma: no cover - compiled
    """B <- w X / max(B, eps) + (1 - w), for B = W H on entry."""
    r, m = X.shape
    for i in range(r):
        x = X[i]
        b = B[i]
        w = M[i]
        for j in range(m):
            v = b[j]
            q = x[j] / (v if v > eps else eps)
            b[j] = 1.0 + w[j] * (q - 1.0)


@_jit
def kl_masked_loss_terms(X, B, M, eps, tiny):  # pragma: no cover - compiled
    """(sum w x log(x / max(wh, eps)), sum w wh), float64, for B = W H; B unchanged.

    log(max(ratio, tiny)): X = 0 adds nothing. M bool or float.
    """
    s_log = 0.0
    s_wh = 0.0
    r, m = X.shape
    for i in range(r):
        x = X[i]
        b = B[i]
        w = M[i]
        for j in range(m):
            v = b[j]
            wj = np.float64(w[j])
            s_wh += wj * np.float64(v)
            q = x[j] / (v if v > eps else eps)
            s_log += wj * np.float64(x[j]) * np.log(np.float64(q if q > tiny else tiny))
    return s_log, s_wh
