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

import numpy as np

from ._kernels import hals_block, hals_coefficients
from .products import HXt
from .loss import FrobeniusLoss, Regularization
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


#: problems below this many multiply-adds per product (n*m*k) run plain HALS
#: under hals_variant='auto': they take milliseconds either way, and plain
#: HALS from nndsvda lands on the parts of the (non-unique) swimmer data.
ACCELERATE_ABOVE = 1e7


def choose_variant(n: int, m: int, k: int) -> str:
    """The HALS variant for hals_variant='auto'.

    'accelerated' (inner repeats plus extrapolation, extrapolation.py) for
    problems of real size: to the error scikit-learn's 'cd' converges to (same
    nndsvda init) it needed 181 iterations instead of plain HALS's 921 on
    2429 x 361 faces (k=49), 90 instead of 754 on 400 x 4096 (k=16), 16
    instead of 375 on 100000 x 200 spectra (k=8), at 1.1-1.4x the cost per
    iteration. 'plain' below ACCELERATE_ABOVE multiply-adds per product.
    """
    return "accelerated" if float(n) * m * k >= ACCELERATE_ABOVE else "plain"


#: cost model for the inner repeats (2 cores, AVX-512 OpenBLAS class machine):
#: flop/s of the big products, of the sweeps' skinny GEMMs, element updates/s
#: of the in-block kernel, seconds per call, bytes/s of elementwise passes.
#: Deterministic: the same shapes give the same number of repeats on every
#: machine (reproducible runs).
GEMM_RATE = 1.2e11
SWEEP_RATE = 5e10
KERNEL_RATE = 1.2e10
CALL_SECONDS = 1.5e-6
MEM_RATE = 1e10


def max_inner(p: int, q: int, k: int) -> int:
    """Inner sweeps allowed when updating a (k x p) factor against q columns of X.

    Gillis & Glineur's rule: repeat while the repeats cost at most ALPHA times
    the products the update needed (2 p q k flops, or reading X for small k),
    by the cost model above.
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

    def __init__(self, k: int, p: int, dtype, l1: float, l2: float, inner: int):
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
        if self.inner > 1:
            prev = self.prev
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

    def _sweep(self, F, G) -> None:
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
    X: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    *,
    reg: Regularization,
    variant: str,
    tracker,
    update_H: bool = True,
    precision: float = 1e-6,
    window: int = 5,
) -> Iterator[NMFState]:
    """Yield NMFState for iterations 0, 1, 2, ... of (accelerated) HALS.

    X (n, m) C-contiguous, W (n, k), H (k, m) initial factors in X's dtype
    (H is updated in place). variant: 'plain' or 'accelerated'.
    update_H=False keeps H fixed and solves for W only (``NMF.transform``).
    precision: relative accuracy the reported loss needs (see FrobeniusLoss).
    """
    n, m = X.shape
    k = H.shape[0]
    dt = X.dtype
    Wt = np.ascontiguousarray(W.T)  # (k, n)
    A = np.empty((k, n), dtype=dt)  # H X^T
    hxt = HXt(X, k)
    C = np.empty((k, m), dtype=dt)  # Wt X
    B = np.empty((k, k), dtype=dt)  # H H^T
    D = np.empty((k, k), dtype=dt)  # Wt Wt^T
    accel = variant == "accelerated"
    up_W = _Updater(k, n, dt, reg.l1_W, reg.l2_W, max_inner(n, m, k) if accel else 1)
    up_H = _Updater(k, m, dt, reg.l1_H, reg.l2_H, max_inner(m, n, k) if accel else 1)
    frob = FrobeniusLoss(X, precision, k, window)
    have_C = update_H

    def loss() -> float:
        return frob.objective(reg, A, Wt, C if have_C else None, H, B, D)

    hxt(H, A)
    frob.gram(H, B, "H")
    frob.gram(Wt, D, "W")
    if have_C:
        np.matmul(Wt, X, out=C)
    yield tracker.state(0, Wt.T, H, loss())
    it = 0
    while True:
        it += 1
        up_W(Wt, A, B)
        frob.gram(Wt, D, "W")
        if update_H:
            np.matmul(Wt, X, out=C)
            up_H(H, C, D)
            hxt(H, A)
            frob.gram(H, B, "H")
        yield tracker.state(it, Wt.T, H, loss())

