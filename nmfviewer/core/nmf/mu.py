"""Multiplicative updates (Lee & Seung; Fevotte & Idier 2011) for beta in {2, 1, 0}.

beta=2 (Frobenius) runs in the alternating loop shared with HALS
(``frobenius.iterate_frobenius``): Wt (k x n), the trace-trick loss.
beta=1 (KL) and beta=0 (Itakura-Saito) stream X in row blocks: each block of
W H lives in a small preallocated buffer (about 4 MB), so no n x m temporary
is ever formed and the work stays in cache; the guarded ratio X / max(WH, eps)
is one compiled pass (``_kernels``). The loss of the current factors comes
from the same block products the W update needs, every LOSS_EVERY iterations.

Guards as in scikit-learn, but relative to the data's scale (issue 14): W H
>= EPS * max(X) before dividing, denominators >= EPS times their largest
entry (or the smallest normal number), exponent gamma = 1/(2 - beta) for beta
< 1. With scikit-learn's absolute guard (EPS) a KL fit of sum-normalised
images (values ~1e-9) collapsed to zero; with relative guards, X scaled by c
gives the same iterates with factors scaled by sqrt(c). Entries below
``np.finfo(dtype).tiny`` are flushed to zero after each update: subnormal
numbers slow float32 arithmetic by an order of magnitude.

Itakura-Saito and zeros in X: d_IS(0 | y) is infinite for every y, so entries
with X = 0 are left out of the objective and of the updates (treated as
missing). scikit-learn leaves them out of its loss but keeps their 1 / WH
terms in the update, which then minimises another objective: W H is pulled
towards zero on the zeros and the reported loss rose after a few dozen
iterations on data with many zeros.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ._kernels import inverse_and_ratio, kl_apply, ratio_inplace
from .frobenius import iterate_frobenius
from .loss import BLOCK_BYTES, row_blocks

if TYPE_CHECKING:
    from ._track import Tracker
    from .frobenius import Update
    from .loss import Regularization
    from .registry import SolverContext
    from .state import NMFState

EPS = float(np.finfo(np.float32).eps)


def _guard(den: np.ndarray) -> float:
    """The floor of a multiplicative update's denominator: EPS times its largest
    entry (a relative guard: scale-free), at least the smallest normal number."""
    top = float(den.max()) if den.size else 0.0
    return max(EPS * top, float(np.finfo(den.dtype).tiny))


#: bytes of one row block of an X-shaped temporary in the KL / IS passes
MU_BLOCK_BYTES = 4 * BLOCK_BYTES
#: KL / IS: the divergence (a log over all of X) costs 15-30% of an iteration,
#: so it is evaluated at iteration 0 and every LOSS_EVERY iterations, as
#: scikit-learn's 'mu' does; the states in between carry loss=None.
LOSS_EVERY = 10


def _flush(F: np.ndarray) -> None:
    """Set entries below the smallest normal number to zero (F >= 0)."""
    tiny = np.finfo(F.dtype).tiny
    np.putmask(F, F < tiny, 0)


def iterate_mu(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, ctx: SolverContext
) -> Iterator[NMFState]:
    """Yield NMFState for iterations 0, 1, ... of MU for the beta-divergence ``ctx.beta``.

    Parameters
    ----------
    X : ndarray, shape (n_images, n_pixels)
        C-contiguous data in the working dtype, never written.
    W : ndarray, shape (n_images, k)
        Start weights in X's dtype.
    H : ndarray, shape (k, n_pixels)
        Start basis in X's dtype (updated in place).
    ctx : SolverContext
        ``ctx.beta`` 2 (Frobenius: the trace-trick loop shared with HALS,
        ``frobenius.iterate_frobenius``), 1 (KL) or 0 (IS); ``ctx.update_H=False``
        keeps H fixed and solves for W only (``NMF.transform``).
    """
    if ctx.beta == 2:
        return iterate_frobenius(X, W, H, ctx, _frobenius_updates)
    return _iterate_beta(
        X, W, H, beta=ctx.beta, reg=ctx.reg, tracker=ctx.tracker, update_H=ctx.update_H
    )


def _frobenius_updates(
    k: int, n: int, m: int, dt: np.dtype, reg: Regularization
) -> tuple[Update, Update]:
    """Frobenius MU: F <- F * num / max(gram F + l2 F + l1, eps), flushed;
    (update of Wt (k, n), of H (k, m))."""

    def make(p: int, l1: float, l2: float) -> Update:
        den = np.empty((k, p), dtype=dt)

        def update(F: np.ndarray, num: np.ndarray, gram: np.ndarray) -> None:
            g = gram + dt.type(l2) * np.eye(k, dtype=dt) if l2 else gram
            np.matmul(g, F, out=den)
            if l1:
                np.add(den, dt.type(l1), out=den)
            np.maximum(den, den.dtype.type(_guard(den)), out=den)
            np.divide(num, den, out=den)
            F *= den
            _flush(F)

        return update

    return make(n, reg.l1_W, reg.l2_W), make(m, reg.l1_H, reg.l2_H)


def _gemm_acc(
    C: np.ndarray, A: np.ndarray, B: np.ndarray, tmp: np.ndarray, first: bool = False
) -> None:
    """C += A @ B, or C = A @ B when first (C, tmp (k, m); A (k, r); B (r, m)).

    numpy's matmul, not scipy.linalg.blas: scipy links its own OpenBLAS, whose
    thread pool fights numpy's for the cores.
    """
    if first:
        np.matmul(A, B, out=C)
        return
    np.matmul(A, B, out=tmp)
    C += tmp


class _Blocks:
    """Row-block views of X and preallocated block buffers."""

    def __init__(self, X: np.ndarray, nbuf: int):
        n, m = X.shape
        self.rows = max(1, min(n, MU_BLOCK_BYTES // max(1, m * X.itemsize)))
        self.bufs = [np.empty((self.rows, m), dtype=X.dtype) for _ in range(nbuf)]
        self.n = n

    def __iter__(self):
        for r0 in range(0, self.n, self.rows):
            r1 = min(self.n, r0 + self.rows)
            yield r0, r1, [b[: r1 - r0] for b in self.bufs]


def _data_constants(X: np.ndarray, beta: float) -> tuple[float, float]:
    """KL: (sum X, 0); IS: (number of zeros in X, number of X > 0)."""
    if beta == 1:
        return sum(float(b.sum(dtype=np.float64)) for b in row_blocks(X)), 0.0
    zeros = sum(X.shape[1] * b.shape[0] - int(np.count_nonzero(b)) for b in row_blocks(X))
    return float(zeros), float(X.size - zeros)


def _iterate_beta(
    X: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    *,
    beta: float,
    reg: Regularization,
    tracker: Tracker,
    update_H: bool = True,
) -> Iterator[NMFState]:
    dt = X.dtype
    tiny = np.finfo(dt).tiny
    # W H is guarded relative to X's scale: X / max(WH, eps) is scale-free
    eps = dt.type(EPS * float(X.max()))
    l1_W, l2_W, l1_H, l2_H = (dt.type(v) for v in (reg.l1_W, reg.l2_W, reg.l1_H, reg.l2_H))
    log_tiny = float(np.log(tiny))
    W = np.ascontiguousarray(W)
    W_new = np.empty_like(W)  # numerator, then the next W
    den_W = np.empty_like(W) if beta == 0 else None
    num_H = np.empty_like(H)
    tmp_H = np.empty_like(H)
    den_H = np.empty_like(H) if beta == 0 else None
    blocks = _Blocks(X, 3 if beta == 0 else 2)
    c1, c2 = _data_constants(X, beta)
    gamma = 1.0 / (2.0 - beta) if beta < 1 else 1.0
    # KL: W's column sums and H's row sums (float64), kept by kl_apply
    w_sums = W.sum(axis=0, dtype=np.float64)
    h_sums = H.sum(axis=1, dtype=np.float64)
    it = 0
    while True:
        # --- pass 1: loss of (W, H) and the W update's numerator / denominator.
        # Loss terms use r = X / WH (log(max(r, tiny)): X = 0 adds nothing for
        # KL and a known constant for IS), which keeps float32 sums accurate.
        evaluate = it % LOSS_EVERY == 0
        s1 = s2 = 0.0
        for r0, r1, bufs in blocks:
            xb, wb, b, t = X[r0:r1], W[r0:r1], bufs[0], bufs[1]
            np.matmul(wb, H, out=b)
            if beta == 1:
                ratio_inplace(xb, b, eps)  # r = X / max(WH, eps)
                if evaluate:
                    np.maximum(b, tiny, out=t)
                    np.log(t, out=t)
                    s1 += float(np.dot(xb.ravel(), t.ravel()))
                np.matmul(b, H.T, out=W_new[r0:r1])
            else:
                inverse_and_ratio(xb, b, t, eps)  # t = 1 / WH, b = r = X / WH
                if evaluate:
                    t2 = bufs[2]
                    # the loss is a small difference of sums of ~1 per entry
                    s1 += float(b.sum(dtype=np.float64))
                    np.maximum(b, tiny, out=t2)
                    np.log(t2, out=t2)
                    s2 += float(t2.sum(dtype=np.float64))
                b *= t  # X / WH^2
                np.matmul(b, H.T, out=W_new[r0:r1])
                np.matmul(t, H.T, out=_present(den_W)[r0:r1])
        loss = None
        if evaluate and beta == 1:
            loss = s1 - c1 + float(np.dot(w_sums, h_sums))  # sum(WH)
        elif evaluate:
            loss = s1 - (s2 - c1 * log_tiny) - c2
        if loss is not None and reg.any:  # loss is set exactly when evaluate
            loss += reg.penalty(W, H)
        yield tracker.state(it, W, H, loss)
        it += 1
        # --- finish the W update: W <- W * (num / den)^gamma
        if beta == 1:
            hs = h_sums.astype(dt)
            kl_apply(W_new, W, hs, False, l1_W, l2_W, dt.type(_guard(hs + l1_W)), tiny, w_sums)
        else:
            _apply(W_new, W, _denominator(_present(den_W), W, reg.l1_W, reg.l2_W), gamma)
        W, W_new = W_new, W
        if not update_H:
            continue
        # --- pass 2: the H update's numerator / denominator with the new W
        for r0, r1, bufs in blocks:
            xb, wb, b, t = X[r0:r1], W[r0:r1], bufs[0], bufs[1]
            np.matmul(wb, H, out=b)
            if beta == 1:
                ratio_inplace(xb, b, eps)
            else:
                inverse_and_ratio(xb, b, t, eps)
                b *= t
            first = r0 == 0  # the first block writes, the others add
            _gemm_acc(num_H, wb.T, b, tmp_H, first)
            if den_H is not None:
                _gemm_acc(den_H, wb.T, t, tmp_H, first)
        if beta == 1:
            ws = w_sums.astype(dt)
            kl_apply(num_H, H, ws, True, l1_H, l2_H, dt.type(_guard(ws + l1_H)), tiny, h_sums)
        else:
            _apply(num_H, H, _denominator(_present(den_H), H, reg.l1_H, reg.l2_H), gamma)
        np.copyto(H, num_H)


def _present(buffer: np.ndarray | None) -> np.ndarray:
    """An IS denominator buffer: allocated for beta == 0, the only beta that uses it."""
    if buffer is None:
        raise RuntimeError("no denominator buffer: it is allocated for beta == 0 only")
    return buffer


def _denominator(den: np.ndarray, F: np.ndarray, l1: float, l2: float) -> np.ndarray:
    """The IS denominator of factor F (W (n, k) or H (k, m)), penalties included:
    den (F's shape), accumulated in the pass over X, updated in place by l1."""
    dt = F.dtype.type
    if l1:
        den += dt(l1)
    if l2:
        den = den + dt(l2) * F
    return den


def _apply(num: np.ndarray, F: np.ndarray, den: np.ndarray, gamma: float) -> None:
    """num <- F * (num / max(den, guard))^gamma, flushed; num becomes the new factor."""
    den = np.maximum(den, den.dtype.type(_guard(den)))
    np.divide(num, den, out=num)
    if gamma != 1.0:
        np.power(num, gamma, out=num)
    num *= F
    _flush(num)
