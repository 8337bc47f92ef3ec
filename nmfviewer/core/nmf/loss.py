"""Losses, computed cheaply and accumulated in float64.

Frobenius (the trace trick, no n x m temporary)::

    0.5 * ||X - W H||^2 = 0.5 * (||X||^2 - 2 tr(H X^T W) + tr(W^T W . H H^T))

where ``H X^T`` (k x n) and the two Gram matrices are products the HALS and MU
updates compute anyway. Beta-divergences (KL, Itakura-Saito) follow
scikit-learn's ``_beta_divergence`` (only entries with X > eps enter the log
terms) and are computed by the MU solver over row blocks, see ``mu.py``.

Regularisation follows scikit-learn's scaling: with l1_ratio = r,
``l1_W = alpha_W * r * m``, ``l2_W = alpha_W * (1 - r) * m`` (m = n_pixels),
``l1_H = alpha_H * r * n``, ``l2_H = alpha_H * (1 - r) * n`` (n = n_images) and
the penalty ``l1_W*sum(W) + 0.5*l2_W*||W||^2 + l1_H*sum(H) + 0.5*l2_H*||H||^2``
is part of the reported loss, so the loss a solver reports never increases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: rows per block so that one block of an X-shaped temporary is ~1 MB (float32)
BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class Regularization:
    """Scaled penalty weights (scikit-learn's ``_compute_regularization``)."""

    l1_W: float = 0.0
    l2_W: float = 0.0
    l1_H: float = 0.0
    l2_H: float = 0.0

    @classmethod
    def from_params(cls, params, n_samples: int, n_features: int) -> Regularization:
        a_w, a_h, r = params.alpha_W, params.alpha_H_value, params.l1_ratio
        return cls(
            l1_W=n_features * a_w * r,
            l2_W=n_features * a_w * (1.0 - r),
            l1_H=n_samples * a_h * r,
            l2_H=n_samples * a_h * (1.0 - r),
        )

    @property
    def any(self) -> bool:
        return bool(self.l1_W or self.l2_W or self.l1_H or self.l2_H)

    def penalty(self, W: np.ndarray, H: np.ndarray) -> float:
        """Penalty of W (n, k) (or its transpose) and H (k, m), float64."""
        if not self.any:
            return 0.0
        p = 0.0
        for l1, l2, F in ((self.l1_W, self.l2_W, W), (self.l1_H, self.l2_H, H)):
            if l1:
                p += l1 * float(F.sum(dtype=np.float64))
            if l2:
                p += 0.5 * l2 * sqnorm(F)
        return p


def sqnorm(a: np.ndarray) -> float:
    """||a||_F^2 in float64, without a full-size temporary (row blocks)."""
    a2 = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)
    if not a2.flags.c_contiguous:
        a2 = np.ascontiguousarray(a2) if a2.size * a2.itemsize <= BLOCK_BYTES else a2
    total = 0.0
    for blk in row_blocks(a2, BLOCK_BYTES // 8):
        v = blk.astype(np.float64).ravel()
        total += float(np.dot(v, v))
    return total


def row_blocks(a: np.ndarray, block_bytes: int = BLOCK_BYTES):
    """Views of consecutive row blocks of a 2-D array, about block_bytes each."""
    n = a.shape[0]
    rows = max(1, block_bytes // max(1, a.shape[1] * a.itemsize))
    for r0 in range(0, n, rows):
        yield a[r0 : r0 + rows]


def trace_dot(A: np.ndarray, B: np.ndarray) -> float:
    """sum(A * B) in float64 for two same-shaped C-contiguous arrays.

    A float32 dot would round the result to 7 digits, and the trace trick
    subtracts numbers of the size of ||X||^2: the loss needs float64 here.
    """
    total = 0.0
    for a, b in zip(row_blocks(A, BLOCK_BYTES // 8), row_blocks(B, BLOCK_BYTES // 8)):
        total += float(np.dot(a.ravel().astype(np.float64), b.ravel().astype(np.float64)))
    return total


def frobenius_trace(
    xx: float, G: np.ndarray, F: np.ndarray, HHt: np.ndarray, WWt: np.ndarray
) -> float:
    """0.5 * ||X - W H||_F^2 by the trace trick.

    xx:  ||X||^2 (float64, computed once)
    G, F: either (A = H X^T, Wt) (k, n) each, or (C = Wt X, H) (k, m) each,
          for the current W and H: sum(G * F) = tr(W^T X H^T). Pass the
          smaller pair.
    HHt: (k, k) H H^T;  WWt: (k, k) W^T W
    """
    cross = trace_dot(G, F)
    quad = float(np.dot(HHt.ravel().astype(np.float64), WWt.ravel().astype(np.float64)))
    return max(0.5 * (xx - 2.0 * cross + quad), 0.0)


def frobenius_exact(X: np.ndarray, W: np.ndarray, H: np.ndarray) -> float:
    """0.5 * ||X - W H||_F^2 computed directly over row blocks (no n x m temporary)."""
    W = np.asarray(W)
    total = 0.0
    rows = max(1, BLOCK_BYTES // max(1, X.shape[1] * X.itemsize))
    buf = np.empty((min(rows, X.shape[0]), X.shape[1]), dtype=np.result_type(X, W, H))
    for r0 in range(0, X.shape[0], rows):
        xb = X[r0 : r0 + rows]
        b = buf[: xb.shape[0]]
        np.matmul(W[r0 : r0 + rows], H, out=b)
        np.subtract(xb, b, out=b)
        v = b.ravel()
        total += float(np.dot(v, v))
    return 0.5 * total


def beta_divergence(X: np.ndarray, W: np.ndarray, H: np.ndarray, beta: float) -> float:
    """The beta-divergence D_beta(X | W H) as scikit-learn defines it (no penalty).

    beta 2: 0.5 ||X - WH||^2; 1: generalised KL; 0: Itakura-Saito. Row blocks,
    float64 accumulation; entries with X <= eps are left out of the log terms.
    """
    if beta == 2:
        return frobenius_exact(X, W, H)
    eps = float(np.finfo(np.float32).eps)
    W = np.asarray(W)
    total = 0.0
    rows = max(1, BLOCK_BYTES // max(1, X.shape[1] * X.itemsize))
    for r0 in range(0, X.shape[0], rows):
        xb = X[r0 : r0 + rows].astype(np.float64)
        wh = np.asarray(W[r0 : r0 + rows], dtype=np.float64) @ np.asarray(H, dtype=np.float64)
        mask = xb > eps
        x = xb[mask]
        whm = np.maximum(wh[mask], eps)
        div = x / whm
        if beta == 1:
            total += float(np.dot(x, np.log(div))) - float(x.sum()) + float(wh.sum())
        else:
            total += float(div.sum() - np.log(div).sum()) - div.size
    return total
