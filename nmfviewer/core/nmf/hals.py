"""HALS (hierarchical alternating least squares) for the Frobenius loss.

Cichocki & Phan 2009; accelerated variant of Gillis & Glineur 2012. The factors
are kept as Wt (k x n) and H (k x m), C-contiguous, so that each update reads
contiguous rows. One iteration is two GEMMs, ``A = H X^T`` and ``C = Wt X``,
written into preallocated buffers, two k x k Gram matrices, and the k x k
coordinate sweeps. X is never copied.

Row update (for W; H is symmetric): with ``B = H H^T``, ``d_j = B_jj + l2``,

    w_j <- max(0, (A_j - l1 - sum_{l != j} B_jl w_l) / d_j)

which minimises the regularised loss exactly in row j with the others fixed,
so the loss never increases.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .loss import Regularization, frobenius_trace, sqnorm
from .state import NMFState

#: a sweep works on column chunks whose k rows fit in L2 cache (bytes)
CHUNK_BYTES = 1 << 18
#: accelerated HALS (Gillis & Glineur 2012): inner sweeps stop when the change
#: falls below DELTA times the first one, or after the cost model's limit.
DELTA = 0.1
ALPHA = 0.5
MAX_INNER = 20


def choose_variant(n: int, m: int, k: int) -> str:
    """'accelerated' when repeated sweeps are cheap next to the GEMMs, else 'plain'.

    A sweep costs ~k^2 per column, the products ~k*m (W update) and ~k*n
    (H update); inner repeats pay when both ratios are large.
    """
    return "accelerated" if min(n, m) >= 24 * k else "plain"


def max_inner(p: int, q: int, k: int) -> int:
    """Inner sweeps allowed when updating a (k x p) factor against q columns of X.

    Deterministic cost model (seconds on a typical 2-core machine): the products
    cost ~2*p*q*k / 50 GFLOP/s; a sweep ~2*p*k*k / 20 GFLOP/s plus ~1.5 us
    per Python-level call (3 per row per chunk).
    """
    chunks = -(-p * k * 4 // CHUNK_BYTES)
    gemm = 2.0 * p * q * k / 5e10
    sweep = 2.0 * p * k * k / 2e10 + 3 * k * max(1, chunks) * 1.5e-6 + 12.0 * p * k / 1e10
    return int(min(MAX_INNER, 1 + ALPHA * gemm / sweep))


class _Updater:
    """One regularised HALS update of a (k x p) factor F from G = (k x p), M = (k x k)."""

    def __init__(self, k: int, p: int, dtype, l1: float, l2: float, inner: int):
        self.l1, self.l2, self.inner = l1, l2, inner
        self.Gn = np.empty((k, p), dtype=dtype)
        self.chunk = max(256, CHUNK_BYTES // (k * np.dtype(dtype).itemsize))
        self.t = np.empty(min(self.chunk, p), dtype=dtype)
        self.Mn = np.empty((k, k), dtype=dtype)
        self.prev = np.empty((k, p), dtype=dtype) if inner > 1 else None

    def __call__(self, F: np.ndarray, G: np.ndarray, M: np.ndarray) -> None:
        """Update F (k, p) in place; G (k, p) and M (k, k) are left intact."""
        d = np.diagonal(M).astype(np.float64) + self.l2
        inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
        G = np.multiply(G, inv.astype(G.dtype)[:, None], out=self.Gn)
        if self.l1:
            G -= (inv * self.l1).astype(G.dtype)[:, None]
        Mn = self.Mn
        np.multiply(M, inv.astype(M.dtype)[:, None], out=Mn)
        np.fill_diagonal(Mn, 0)
        # a row whose Gram diagonal is 0 (the other factor's row is all zero)
        # does not enter the loss: keep it (as scikit-learn does) so the
        # component can come back, rather than zeroing both for good.
        self.rows = [j for j in range(len(d)) if d[j] > 0]
        self._sweep(F, G, Mn)
        if self.inner > 1:
            prev = self.prev
            first = None
            for _ in range(self.inner - 1):
                np.copyto(prev, F)
                self._sweep(F, G, Mn)
                np.subtract(F, prev, out=prev)
                change = sqnorm(prev)
                if first is None:
                    first = change
                if change <= DELTA * DELTA * first or change == 0.0:
                    break

    def _sweep(self, F: np.ndarray, G: np.ndarray, Mn: np.ndarray) -> None:
        # F_j <- max(0, G_j - Mn_j @ F), rows in order (Gauss-Seidel), over
        # column chunks that stay in cache.
        k, p = F.shape
        c = self.chunk
        for c0 in range(0, p, c):
            Fc = F[:, c0 : c0 + c]
            Gc = G[:, c0 : c0 + c]
            t = self.t[: Fc.shape[1]]
            for j in self.rows:
                np.dot(Mn[j], Fc, out=t)
                np.subtract(Gc[j], t, out=t)
                np.maximum(t, 0, out=Fc[j])


def iterate_hals(
    X: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    *,
    reg: Regularization,
    variant: str,
    tracker,
    update_H: bool = True,
) -> Iterator[NMFState]:
    """Yield NMFState for iterations 0, 1, 2, ... of (accelerated) HALS.

    X (n, m) C-contiguous, W (n, k), H (k, m) initial factors in X's dtype
    (H is updated in place). variant: 'plain' or 'accelerated'.
    update_H=False keeps H fixed and solves for W only (``NMF.transform``).
    """
    n, m = X.shape
    k = H.shape[0]
    dt = X.dtype
    Wt = np.ascontiguousarray(W.T)  # (k, n)
    A = np.empty((k, n), dtype=dt)  # H X^T
    C = np.empty((k, m), dtype=dt)  # Wt X
    B = np.empty((k, k), dtype=dt)  # H H^T
    D = np.empty((k, k), dtype=dt)  # Wt Wt^T
    accel = variant == "accelerated"
    up_W = _Updater(k, n, dt, reg.l1_W, reg.l2_W, max_inner(n, m, k) if accel else 1)
    up_H = _Updater(k, m, dt, reg.l1_H, reg.l2_H, max_inner(m, n, k) if accel else 1)
    xx = sqnorm(X)
    by_C = m <= n  # the cross term from the smaller pair: (C, H) or (A, Wt)

    def loss() -> float:
        value = frobenius_trace(xx, *((C, H) if by_C else (A, Wt)), B, D)
        if reg.any:
            value += _penalty(reg, Wt, H, B, D)
        return value

    np.matmul(H, X.T, out=A)
    np.matmul(H, H.T, out=B)
    np.matmul(Wt, Wt.T, out=D)
    if by_C:
        np.matmul(Wt, X, out=C)
    yield tracker.state(0, Wt.T, H, loss())
    it = 0
    if not update_H:
        by_C = False
        while True:
            it += 1
            up_W(Wt, A, B)
            np.matmul(Wt, Wt.T, out=D)
            yield tracker.state(it, Wt.T, H, loss())
    while True:
        it += 1
        up_W(Wt, A, B)
        np.matmul(Wt, X, out=C)
        np.matmul(Wt, Wt.T, out=D)
        up_H(H, C, D)
        np.matmul(H, X.T, out=A)
        np.matmul(H, H.T, out=B)
        yield tracker.state(it, Wt.T, H, loss())


def _penalty(reg: Regularization, Wt, H, HHt, WWt) -> float:
    """Penalty using the Gram traces for the squared norms (no extra pass)."""
    p = 0.0
    if reg.l1_W:
        p += reg.l1_W * float(Wt.sum(dtype=np.float64))
    if reg.l2_W:
        p += 0.5 * reg.l2_W * float(np.trace(WWt, dtype=np.float64))
    if reg.l1_H:
        p += reg.l1_H * float(H.sum(dtype=np.float64))
    if reg.l2_H:
        p += 0.5 * reg.l2_H * float(np.trace(HHt, dtype=np.float64))
    return p
