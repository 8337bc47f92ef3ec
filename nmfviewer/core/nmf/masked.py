"""Masked (weighted) solvers: fit only the entries a :class:`~.mask.Mask` uses.

The run driver (:class:`.run.NMFRun`) calls :func:`masked_solver` instead of
the registry's ``iterate`` when a run has a mask; without one nothing here
runs. The loss every state reports is the masked loss (``mask.loss_on``'s
convention) plus the penalty.

Frobenius (HALS and MU, beta=2), by majorisation-minimisation (the EM
surrogate). With weights w in [0, 1] and the current factors (W0, H0), let

    X~ = w X + (1 - w) W0 H0.

Then ``0.5 ||X~ - WH||^2 + c`` majorises ``f(W, H) = 0.5 sum w (x - wh)^2``,
with equality at (W0, H0): the difference is, per entry, ``0.5 (1 - w)
(wh - w0h0)^2 >= 0``. So an unmasked update step on X~ (one HALS sweep of W,
then of H, or one MU step of each) lowers the surrogate and therefore never
increases the masked loss. One iteration forms W0 H0 over row blocks (one
GEMM), keeps W0 H0 at the entries of weight < 1 only (``vals``: 4 bytes per
such entry), forms ``A = H X~^T`` for the W step from the same block, and
rebuilds X~ from X and ``vals`` for ``C = Wt X~`` in the H step: three GEMMs
per iteration against the unmasked two, never an X-sized float buffer. The
masked loss of (W0, H0) is exact (float64) and comes from the same pass.

KL and Itakura-Saito (MU): the weighted multiplicative updates
(Lee & Seung; Fevotte & Idier), monotone for any weights:

    W <- W * ((w X / WH^(2 - beta)) H^T / ((w WH^(beta - 1)) H^T))^gamma

over row blocks of X, the block's weights expanded from the mask into a
small buffer; the denominators are ``(w) H^T`` and ``W^T (w)`` products.

A pixel hidden in every image gets a zero basis (``H[:, j] = 0``): nothing
determines it, and zero keeps it out of the view and out of W.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ._masked_kernels import surrogate_from_product, surrogate_from_values
from .loss import BLOCK_BYTES

if TYPE_CHECKING:
    from .frobenius import MakeUpdates
    from .mask import Mask
    from .registry import Iterate, SolverContext
    from .state import NMFState

EPS = float(np.finfo(np.float32).eps)
#: bytes of one row block of W H in the masked passes
MASKED_BLOCK_BYTES = 4 * BLOCK_BYTES


def masked_solver(solver: str, mask: Mask) -> Iterate:
    """The masked ``iterate(X, W, H, ctx)`` of registry solver ``solver``."""

    def iterate(
        X: np.ndarray, W: np.ndarray, H: np.ndarray, ctx: SolverContext
    ) -> Iterator[NMFState]:
        H[:, mask.hidden_columns()] = 0
        if solver == "hals":
            from .hals import _plain_updates

            return iterate_masked_frobenius(X, W, H, ctx, mask, _plain_updates)
        if ctx.beta == 2:
            from .mu import _frobenius_updates

            return iterate_masked_frobenius(X, W, H, ctx, mask, _frobenius_updates)
        return iterate_masked_beta(X, W, H, ctx, mask)

    return iterate  # type: ignore[return-value]


class _Surrogate:
    """The row blocks of X~ (see the module doc) and the products with it."""

    def __init__(self, X: np.ndarray, mask: Mask, k: int):
        n, m = X.shape
        self.X = X
        self.rows = rows = max(1, min(n, MASKED_BLOCK_BYTES // max(1, m * X.itemsize)))
        self.buf = np.empty((rows, m), dtype=X.dtype)
        self.work = np.empty((n, k), dtype=X.dtype)  # X~ H^T, transposed into A
        empty_w = np.empty(0, dtype=X.dtype)
        self.blocks = []
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            indptr, cols, wts = mask.missing_rows(r0, r1)
            has_w = wts is not None
            w = empty_w if wts is None else wts.astype(X.dtype)
            vals = np.zeros(cols.size, dtype=X.dtype)
            self.blocks.append((r0, r1, indptr, cols, w, has_w, vals))

    def products_W(self, Wt: np.ndarray, H: np.ndarray, A: np.ndarray) -> float:
        """A (k, n) <- H X~^T at (Wt, H); keeps W H at the masked entries; returns
        the masked residual sum of squares sum w (x - wh)^2 (float64)."""
        X, buf, work = self.X, self.buf, self.work
        total = 0.0
        for r0, r1, indptr, cols, w, has_w, vals in self.blocks:
            P = buf[: r1 - r0]
            np.matmul(Wt[:, r0:r1].T, H, out=P)
            total += surrogate_from_product(X[r0:r1], P, indptr, cols, w, has_w, vals)
            np.matmul(P, H.T, out=work[r0:r1])
        A[...] = work.T
        return float(total)

    def products_H(self, Wt: np.ndarray, C: np.ndarray) -> None:
        """C (k, m) <- Wt X~ with X~ rebuilt from the W H kept by products_W."""
        X, buf = self.X, self.buf
        tmp = None
        for index, (r0, r1, indptr, cols, w, has_w, vals) in enumerate(self.blocks):
            P = buf[: r1 - r0]
            surrogate_from_values(X[r0:r1], P, indptr, cols, w, has_w, vals)
            if index == 0:
                np.matmul(Wt[:, r0:r1], P, out=C)
            else:
                if tmp is None:
                    tmp = np.empty_like(C)
                np.matmul(Wt[:, r0:r1], P, out=tmp)
                C += tmp


def iterate_masked_frobenius(
    X: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    ctx: SolverContext,
    mask: Mask,
    make_updates: MakeUpdates,
) -> Iterator[NMFState]:
    """Masked Frobenius iterations 0, 1, ... by the EM surrogate (module doc).

    X (n_images, n_pixels) C-contiguous, W (n_images, k), H (k, n_pixels)
    (updated in place); ``make_updates`` as for ``frobenius.iterate_frobenius``
    (HALS sweeps or Frobenius MU steps, applied to X~).
    """
    n, m = X.shape
    k = H.shape[0]
    dt = X.dtype
    reg = ctx.reg
    Wt = np.ascontiguousarray(W.T)
    A = np.empty((k, n), dtype=dt)
    C = np.empty((k, m), dtype=dt)
    B = np.empty((k, k), dtype=dt)
    D = np.empty((k, k), dtype=dt)
    up_W, up_H = make_updates(k, n, m, dt, reg)
    sur = _Surrogate(X, mask, k)
    tracker = ctx.tracker

    def loss(rss: float) -> float:
        value = 0.5 * rss
        if reg.any:
            value += reg.penalty_from_grams(Wt, H, B, D)
        return value

    rss = sur.products_W(Wt, H, A)
    np.matmul(H, H.T, out=B)
    np.matmul(Wt, Wt.T, out=D)
    yield tracker.state(0, Wt.T, H, loss(rss))
    it = 0
    while True:
        it += 1
        up_W(Wt, A, B)
        np.matmul(Wt, Wt.T, out=D)
        if ctx.update_H:
            sur.products_H(Wt, C)  # the surrogate of (W0, H0): still a majoriser
            up_H(H, C, D)
            np.matmul(H, H.T, out=B)
        rss = sur.products_W(Wt, H, A)
        yield tracker.state(it, Wt.T, H, loss(rss))


# -- KL / IS ---------------------------------------------------------------------------


def _guard(den: np.ndarray) -> float:
    top = float(den.max()) if den.size else 0.0
    return max(EPS * top, float(np.finfo(den.dtype).tiny))


def _apply(num: np.ndarray, F: np.ndarray, den: np.ndarray, gamma: float) -> None:
    """num <- F * (num / max(den, guard))^gamma, subnormals flushed."""
    np.maximum(den, den.dtype.type(_guard(den)), out=den)
    np.divide(num, den, out=num)
    if gamma != 1.0:
        np.power(num, gamma, out=num)
    num *= F
    np.putmask(num, num < np.finfo(num.dtype).tiny, 0)


def _penalised(den: np.ndarray, F: np.ndarray, l1: float, l2: float) -> np.ndarray:
    if l1:
        den += den.dtype.type(l1)
    if l2:
        den += den.dtype.type(l2) * F
    return den


def iterate_masked_beta(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, ctx: SolverContext, mask: Mask
) -> Iterator[NMFState]:
    """Weighted MU iterations 0, 1, ... for KL (beta=1) and IS (beta=0).

    The loss (the weighted divergence, ``mask.loss_on``'s convention, plus the
    penalty) is evaluated at every iteration from the W pass's products.
    """
    from ._kernels import dot_f64, inverse_and_ratio, ratio_inplace

    beta, reg, tracker = ctx.beta, ctx.reg, ctx.tracker
    n, m = X.shape
    dt = X.dtype
    tiny = np.finfo(dt).tiny
    eps = dt.type(EPS * float(X.max()))
    gamma = 1.0 / (2.0 - beta) if beta < 1 else 1.0
    rows = max(1, min(n, MASKED_BLOCK_BYTES // max(1, m * X.itemsize)))
    spans = [(r0, min(n, r0 + rows)) for r0 in range(0, n, rows)]
    b = np.empty((rows, m), dtype=dt)
    t = np.empty((rows, m), dtype=dt)
    wb = np.empty((rows, m), dtype=dt)
    u = np.empty((rows, m), dtype=dt) if beta != 1 else b
    cached = len(spans) == 1  # one block: expand the weights once
    if cached:
        mask.fill(0, n, wb[:n])
    W = np.ascontiguousarray(W)
    num_W, den_W = np.empty_like(W), np.empty_like(W)
    num_H, den_H, tmp_H = np.empty_like(H), np.empty_like(H), np.empty_like(H)
    # constants of the loss: KL sum w x; IS sum of w where x = 0 and where x > 0
    c_wx = c_zero = c_pos = 0.0
    for r0, r1 in spans:
        w = mask.fill(r0, r1, t[: r1 - r0])
        x = X[r0:r1]
        if beta == 1:
            c_wx += dot_f64(w, x)
        else:
            pos = x > 0
            c_pos += float(w[pos].sum(dtype=np.float64))
            c_zero += float(w.sum(dtype=np.float64)) - float(w[pos].sum(dtype=np.float64))
    log_tiny = float(np.log(tiny))

    def weights(r0: int, r1: int) -> np.ndarray:
        return wb[: r1 - r0] if cached else mask.fill(r0, r1, wb[: r1 - r0])

    it = 0
    while True:
        s1 = s2 = 0.0
        for r0, r1 in spans:  # loss of (W, H) and the W update's products
            x, bb, tt, w = X[r0:r1], b[: r1 - r0], t[: r1 - r0], weights(r0, r1)
            np.matmul(W[r0:r1], H, out=bb)
            if beta == 1:
                s2 += dot_f64(w, bb)  # sum w wh (unguarded)
                ratio_inplace(x, bb, eps)  # X / WH
                np.maximum(bb, tiny, out=tt)
                np.log(tt, out=tt)
                tt *= w
                s1 += dot_f64(x, tt)  # sum w x log(x / wh)
                bb *= w
            else:
                inverse_and_ratio(x, bb, tt, eps)  # tt = 1 / WH (0 where X = 0), bb = X / WH
                s1 += dot_f64(w, bb)  # sum w x / wh
                uu = u[: r1 - r0]
                np.maximum(bb, tiny, out=uu)
                np.log(uu, out=uu)
                s2 += dot_f64(w, uu)  # log_tiny where X = 0
                bb *= tt  # X / WH^2
                bb *= w
                tt *= w
            np.matmul(bb, H.T, out=num_W[r0:r1])
            np.matmul(w if beta == 1 else tt, H.T, out=den_W[r0:r1])
        if beta == 1:
            loss = s1 - c_wx + s2
        else:
            loss = s1 - (s2 - c_zero * log_tiny) - c_pos
        if reg.any:
            loss += reg.penalty(W, H)
        yield tracker.state(it, W, H, loss)
        it += 1
        _apply(num_W, W, _penalised(den_W, W, reg.l1_W, reg.l2_W), gamma)
        W, num_W = num_W, W
        if not ctx.update_H:
            continue
        for index, (r0, r1) in enumerate(spans):
            x, bb, tt, w = X[r0:r1], b[: r1 - r0], t[: r1 - r0], weights(r0, r1)
            Wb = W[r0:r1]
            np.matmul(Wb, H, out=bb)
            if beta == 1:
                ratio_inplace(x, bb, eps)
                bb *= w
                den_src = w
            else:
                inverse_and_ratio(x, bb, tt, eps)
                bb *= tt
                bb *= w
                tt *= w
                den_src = tt
            if index == 0:
                np.matmul(Wb.T, bb, out=num_H)
                np.matmul(Wb.T, den_src, out=den_H)
            else:
                np.matmul(Wb.T, bb, out=tmp_H)
                num_H += tmp_H
                np.matmul(Wb.T, den_src, out=tmp_H)
                den_H += tmp_H
        _apply(num_H, H, _penalised(den_H, H, reg.l1_H, reg.l2_H), gamma)
        np.copyto(H, num_H)
