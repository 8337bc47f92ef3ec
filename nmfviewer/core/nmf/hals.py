"""HALS (hierarchical alternating least squares) for the Frobenius loss.

Cichocki & Phan 2009; accelerated variant of Gillis & Glineur 2012. The factors
are kept as Wt (k x n) and H (k x m), C-contiguous, so that each update reads
contiguous rows. One iteration is two GEMMs, ``A = H X^T`` (see
``products.HXt``) and ``C = Wt X``, written into preallocated buffers, two
k x k Gram matrices, and the k x k coordinate sweeps (blocked: BLAS for the
bulk, a compiled kernel for the rows inside a block, see ``_kernels``).
X is never copied.

Row update (for W; H is symmetric): with ``B = H H^T``, ``d_j = B_jj + l2``,

    w_j <- max(0, (A_j - l1 - sum_{l != j} B_jl w_l) / d_j)

which minimises the regularised loss exactly in row j with the others fixed,
so the loss never increases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ._costs import (
    ACCELERATE_ABOVE,
    CALL_SECONDS,
    GEMM_RATE,
    KERNEL_RATE,
    MEM_RATE,
    SWEEP_RATE,
)
from ._kernels import hals_block, hals_coefficients
from .frobenius import iterate_frobenius

if TYPE_CHECKING:
    from .loss import Regularization
    from .registry import SolverContext
    from .state import NMFState

#: a sweep works on column chunks whose k rows fit in L2 cache (bytes)
CHUNK_BYTES = 1 << 19
#: rows per block of the blocked sweep (see _Updater)
BLOCK_ROWS = 8
#: accelerated HALS (Gillis & Glineur 2012): inner sweeps stop when the change
#: falls below DELTA times the first one, or after the cost model's limit.
DELTA = 0.1
ALPHA = 1.0
MAX_INNER = 20


def choose_variant(n: int, m: int, k: int) -> str:
    """The HALS variant for hals_variant='auto', by problem size.

    'accelerated' (inner repeats plus extrapolation, extrapolation.py) from
    ``_costs.ACCELERATE_ABOVE`` multiply-adds per product (n*m*k) on: it needs
    several times fewer iterations to a given error at 1.1-1.4x the cost per
    iteration (figures in benchmarks/README.md). 'plain' below.
    """
    return "accelerated" if float(n) * m * k >= ACCELERATE_ABOVE else "plain"


#: the public name (``nmfviewer.core.choose_hals_variant``)
choose_hals_variant = choose_variant


def max_inner(p: int, q: int, k: int) -> int:
    """Inner sweeps allowed when updating a (k x p) factor against q columns of X.

    Gillis & Glineur's rule: repeat while the repeats cost at most ALPHA times
    the products the update needed (2 p q k flops, or reading X for small k),
    by the cost model in ``_costs``.
    """
    chunks = -(-p * k * 4 // CHUNK_BYTES)
    blocks = -(-k // BLOCK_ROWS)
    gemm = max(2.0 * p * q * k / GEMM_RATE, 4.0 * p * q / MEM_RATE)  # small k: reading X
    sweep = (
        2.0 * p * k * k / SWEEP_RATE
        + p * k * (BLOCK_ROWS / 2 + 2) / KERNEL_RATE  # rows inside the blocks
        + 2 * blocks * max(1, chunks) * CALL_SECONDS
        + 4.0 * p * k * 4 / MEM_RATE
    )
    return int(max(1, min(MAX_INNER, 1 + ALPHA * gemm / sweep)))


class _Updater:
    """One regularised HALS update of a (k x p) factor F from G (k x p) and M (k x k).

    The sequential row sweep is done in blocks of BLOCK_ROWS rows (the same
    result as row by row, up to rounding): for a block J, one GEMM gives
    ``sum_l M_jl F_l`` over the rows l outside J and the rows of J not updated
    yet; a compiled kernel (``_kernels.hals_block``) then finishes the rows of
    J in order, adding the rows of J already updated. So the k x k x p work
    runs in BLAS-3 and a block costs two calls, whatever its size.
    """

    def __init__(
        self, k: int, p: int, dtype: np.dtype[np.floating], l1: float, l2: float, inner: int
    ) -> None:
        dt = np.dtype(dtype).type
        self.l1, self.l2, self.inner = dt(l1), dt(l2), inner  # kernels run in F's dtype
        self.chunk = min(p, max(256, CHUNK_BYTES // (k * np.dtype(dtype).itemsize)))
        self.b = b = min(k, BLOCK_ROWS)
        self.blocks = [(s, min(k, s + b)) for s in range(0, k, b)]
        self.Q = np.empty((b, self.chunk), dtype=dtype)
        self.T = np.empty(self.chunk, dtype=dtype)
        self.Mup = np.empty((k, k), dtype=dtype)
        self.coef = np.empty((k, b), dtype=dtype)
        self.prev = np.empty((k, p), dtype=dtype) if inner > 1 else None

    def __call__(self, F: np.ndarray, G: np.ndarray, M: np.ndarray) -> None:
        """Update F (k, p) in place; G (k, p) and M (k, k) are left intact."""
        hals_coefficients(M, self.l2, self.b, self.Mup, self.coef)
        self._sweep(F, G)
        prev = self.prev
        if self.inner > 1 and prev is not None:  # prev exists exactly when inner > 1
            first = None
            for _ in range(self.inner - 1):
                np.copyto(prev, F)
                self._sweep(F, G)
                np.subtract(F, prev, out=prev)
                v = prev.ravel()
                change = float(np.dot(v, v))  # a heuristic: float32 is plenty
                if first is None:
                    first = change
                if change <= DELTA * DELTA * first or change == 0.0:
                    break

    def _sweep(self, F: np.ndarray, G: np.ndarray) -> None:
        # F_j <- max(0, (G_j - l1 - sum_{l != j} M_jl F_l) / d_j), rows in
        # order (Gauss-Seidel), over column chunks that stay in cache.
        p = F.shape[1]
        c = self.chunk
        Mup, coef, Q, T, l1 = self.Mup, self.coef, self.Q, self.T, self.l1
        matmul = np.matmul
        for c0 in range(0, p, c):
            c1 = min(p, c0 + c)
            Fc = F[:, c0:c1]
            for s, e in self.blocks:
                matmul(Mup[s:e], Fc, out=Q[: e - s, : c1 - c0])
                hals_block(F, G, Q, coef, s, e, c0, c1, l1, T)


def iterate_hals(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, ctx: SolverContext
) -> Iterator[NMFState]:
    """Yield NMFState for iterations 0, 1, 2, ... of HALS (the registry's 'hals').

    Parameters
    ----------
    X : ndarray, shape (n_images, n_pixels)
        C-contiguous data in the working dtype, never written.
    W : ndarray, shape (n_images, k)
        Start weights in X's dtype.
    H : ndarray, shape (k, n_pixels)
        Start basis in X's dtype (updated in place).
    ctx : SolverContext
        ``ctx.hals_variant``: 'plain' (textbook HALS, scikit-learn's 'cd'
        iterates), 'accelerated' (inner repeats plus extrapolation,
        ``extrapolation.iterate_extrapolated``) or 'auto' (by problem size,
        :func:`choose_variant`). With ``ctx.update_H=False`` (W only, for
        ``NMF.transform``) it is always 'plain'.
    """
    n, m = X.shape
    k = H.shape[0]
    variant = ctx.hals_variant
    if not ctx.update_H:
        variant = "plain"
    elif variant == "auto":
        variant = choose_variant(n, m, k)
    if variant == "accelerated":
        from .extrapolation import iterate_extrapolated

        return iterate_extrapolated(X, W, H, ctx)
    return iterate_frobenius(X, W, H, ctx, _plain_updates)


def _plain_updates(
    k: int, n: int, m: int, dtype: np.dtype[np.floating], reg: Regularization
) -> tuple[_Updater, _Updater]:
    """One regularised HALS sweep per update: (update of Wt (k, n), of H (k, m))."""
    return (
        _Updater(k, n, dtype, reg.l1_W, reg.l2_W, 1),
        _Updater(k, m, dtype, reg.l1_H, reg.l2_H, 1),
    )
