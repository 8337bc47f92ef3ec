"""Masked (weighted) solvers: fit only the entries a :class:`~.mask.Mask` uses.

The run driver (:class:`.run.NMFRun`) calls :func:`masked_solver` instead of
the registry's ``iterate`` when a run has a mask; without one nothing here
runs. The loss the states report is the masked loss (``mask.loss_on``'s
convention) plus the penalty.

Frobenius (HALS and MU, beta=2), by majorisation-minimisation (the EM
surrogate). With weights w in [0, 1] and the current factors (W0, H0), let

    X~ = w X + (1 - w) W0 H0.

Then ``0.5 ||X~ - WH||^2 + c`` majorises ``f(W, H) = 0.5 sum w (x - wh)^2``,
with equality at (W0, H0): the difference is, per entry, ``0.5 (1 - w)
(wh - w0h0)^2 >= 0``. So an unmasked update step on X~ (a HALS sweep of W,
then of H, or an MU step of each) lowers the surrogate and therefore never
increases the masked loss. The rows of W are independent given H (both
updates of W see only ``H X~^T`` and ``H H^T``), so one pass over row blocks
of X does all of an iteration's work on X: form ``P = W0_r H0`` (GEMM), turn
it into X~_r in place (one compiled pass, which also sums the masked loss of
(W0, H0)), ``A_r = H0 X~_r^T`` (GEMM), update W_r, then ``C += W1_r^T X~_r``
(GEMM) for the H update. Three GEMMs against the unmasked two, no X-sized
buffer, the mask read as stored (a bool view, a broadcast column mask, or a
small expanded block for sparse storage). The pass computes the next
iteration's W (into a second buffer) before the state of the current one is
yielded, so each state carries its exact masked loss.

KL (MU), the same idea: ``X~ = w X + (1 - w) W H`` at the current factors
(refreshed for each half-step) majorises the weighted KL divergence (per
entry, ``(1 - w) d(w0h0 | wh) >= 0`` is added), and the KL multiplicative
update on X~ needs only the ratio ``X~ / WH = w X / WH + (1 - w)``: the
unmasked update with that ratio, the same cost.

Itakura-Saito (MU): the weighted multiplicative updates (Fevotte & Idier),
monotone for any weights, denominators ``(w / WH) H^T`` and ``W^T (w / WH)``.

A pixel hidden in every image gets a zero basis (``H[:, j] = 0``): nothing
determines it, and zero keeps it out of the view and out of W.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ._masked_kernels import (
    kl_masked_loss_terms,
    kl_ratio_binary,
    kl_ratio_weighted,
    surrogate_binary,
    surrogate_weighted,
)
from .loss import BLOCK_BYTES

if TYPE_CHECKING:
    from .frobenius import MakeUpdates, Update
    from .loss import Regularization
    from .mask import Mask
    from .registry import Iterate, SolverContext
    from .state import NMFState

EPS = float(np.finfo(np.float32).eps)
#: bytes of one row block of W H in the masked passes
MASKED_BLOCK_BYTES = 4 * BLOCK_BYTES
#: KL: the divergence is evaluated every LOSS_EVERY iterations (as ``mu.py``)
LOSS_EVERY = 10


def masked_solver(solver: str, mask: Mask) -> Iterate:
    """The masked ``iterate(X, W, H, ctx)`` of registry solver ``solver``."""

    def iterate(
        X: np.ndarray, W: np.ndarray, H: np.ndarray, ctx: SolverContext
    ) -> Iterator[NMFState]:
        H[:, mask.hidden_columns()] = 0
        if solver == "hals":
            return iterate_masked_frobenius(X, W, H, ctx, mask, _hals_updates(X, H.shape[0], ctx))
        if ctx.beta == 2:
            from .mu import _frobenius_updates

            return iterate_masked_frobenius(X, W, H, ctx, mask, _frobenius_updates)
        if ctx.beta == 1:
            return iterate_masked_kl(X, W, H, ctx, mask)
        return iterate_masked_beta(X, W, H, ctx, mask)

    return iterate  # type: ignore[return-value]


def _hals_updates(X: np.ndarray, k: int, ctx: SolverContext) -> MakeUpdates:
    """HALS sweeps for the masked pass: one per half-step ('plain'), or the
    Gillis-Glineur inner repeats of the accelerated variant ('accelerated', and
    'auto' where the unmasked solver would accelerate, ``hals.choose_variant``),
    sized by the whole factor's cost rule (``hals.max_inner``). Every repeat lowers
    the surrogate, so the masked loss still never increases. (The unmasked
    variant's extrapolation is not used: it would need the exact loss at the
    extrapolated point.)"""
    from .hals import _plain_updates, _Updater, choose_variant, max_inner

    n, m = X.shape
    variant = ctx.hals_variant if ctx.update_H else "plain"

    def inner_updates(k: int, p: int, q: int, dt: np.dtype, reg: Regularization) -> Any:
        return (
            _Updater(k, p, dt, reg.l1_W, reg.l2_W, max_inner(n, m, k)),
            _Updater(k, q, dt, reg.l1_H, reg.l2_H, max_inner(m, n, k)),
        )

    if variant == "auto":
        variant = choose_variant(n, m, k)
    return inner_updates if variant == "accelerated" else _plain_updates


def _spans(X: np.ndarray) -> list[tuple[int, int]]:
    n, m = X.shape
    rows = max(1, min(n, MASKED_BLOCK_BYTES // max(1, m * X.itemsize)))
    return [(r0, min(n, r0 + rows)) for r0 in range(0, n, rows)]


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
    (HALS sweeps or Frobenius MU steps, applied to X~), made per block size.
    """
    m = X.shape[1]
    k = H.shape[0]
    dt = X.dtype
    reg, tracker, update_H = ctx.reg, ctx.tracker, ctx.update_H
    spans = _spans(X)
    rows = spans[0][1]
    surrogate = surrogate_binary if mask.is_binary else surrogate_weighted
    P = np.empty((rows, m), dtype=dt)
    mbuf = np.empty((rows, m), dtype=bool) if mask.kind == "missing" else None
    work = np.empty((rows, k), dtype=dt)
    Wt = np.ascontiguousarray(W.T)  # (k, n): the current W
    Wt_next = np.empty_like(Wt)  # the pass writes the next W here
    C = np.empty((k, m), dtype=dt)
    C_tmp = np.empty((k, m), dtype=dt)
    B = np.empty((k, k), dtype=dt)
    D = np.empty((k, k), dtype=dt)
    # per block size (at most two): A_r, W_r buffers and the W update for (k, r)
    block_buffers: dict[int, tuple[np.ndarray, np.ndarray, Update]] = {}
    up_H: Update | None = None
    for r0, r1 in spans:
        r = r1 - r0
        if r not in block_buffers:
            up_W_r, up_H_r = make_updates(k, r, m, dt, reg)
            up_H = up_H_r if up_H is None else up_H
            block_buffers[r] = (np.empty((k, r), dtype=dt), np.empty((k, r), dtype=dt), up_W_r)
    assert up_H is not None

    def one_pass(Wt: np.ndarray, Wt_new: np.ndarray) -> float:
        """Wt_new <- W updated on the surrogate at (Wt, H); C <- Wt_new X~; returns
        the masked residual sum of squares of (Wt, H). B = H H^T on entry."""
        total = 0.0
        for index, (r0, r1) in enumerate(spans):
            r = r1 - r0
            Ab, Wb, up_W = block_buffers[r]
            Pb = P[:r]
            np.matmul(Wt[:, r0:r1].T, H, out=Pb)
            total += surrogate(X[r0:r1], Pb, mask.rows_view(r0, r1, mbuf))
            np.matmul(Pb, H.T, out=work[:r])
            Ab[...] = work[:r].T
            Wb[...] = Wt[:, r0:r1]
            up_W(Wb, Ab, B)
            Wt_new[:, r0:r1] = Wb
            if update_H:
                if index == 0:
                    np.matmul(Wb, Pb, out=C)
                else:
                    np.matmul(Wb, Pb, out=C_tmp)
                    np.add(C, C_tmp, out=C)
        return total

    def loss(rss: float) -> float:
        value = 0.5 * rss
        if reg.any:
            value += reg.penalty_from_grams(Wt, H, B, D)
        return value

    np.matmul(H, H.T, out=B)
    np.matmul(Wt, Wt.T, out=D)
    rss = one_pass(Wt, Wt_next)
    yield tracker.state(0, Wt.T, H, loss(rss))
    it = 0
    while True:
        it += 1
        Wt, Wt_next = Wt_next, Wt
        np.matmul(Wt, Wt.T, out=D)
        if update_H:
            up_H(H, C, D)
            np.matmul(H, H.T, out=B)
        rss = one_pass(Wt, Wt_next)
        yield tracker.state(it, Wt.T, H, loss(rss))


def iterate_masked_kl(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, ctx: SolverContext, mask: Mask
) -> Iterator[NMFState]:
    """Masked KL multiplicative updates by the EM ratio (module doc); the loss is
    evaluated at iteration 0 and every LOSS_EVERY iterations (None between)."""
    from ._kernels import kl_apply

    reg, tracker = ctx.reg, ctx.tracker
    dt = X.dtype
    tiny = np.finfo(dt).tiny
    eps = dt.type(EPS * float(X.max()))
    l1_W, l2_W, l1_H, l2_H = (dt.type(v) for v in (reg.l1_W, reg.l2_W, reg.l1_H, reg.l2_H))
    ratio = kl_ratio_binary if mask.is_binary else kl_ratio_weighted
    spans = _spans(X)
    rows = spans[0][1]
    b = np.empty((rows, X.shape[1]), dtype=dt)
    mbuf = np.empty((rows, X.shape[1]), dtype=bool) if mask.kind == "missing" else None
    W = np.ascontiguousarray(W)
    num_W = np.empty_like(W)
    num_H, tmp_H = np.empty_like(H), np.empty_like(H)
    w_sums = W.sum(axis=0, dtype=np.float64)
    h_sums = H.sum(axis=1, dtype=np.float64)
    c_wx = 0.0  # sum w x
    for r0, r1 in spans:
        Mv = mask.rows_view(r0, r1, mbuf)
        c_wx += float(
            np.sum(X[r0:r1], where=Mv, dtype=np.float64)
            if mask.is_binary
            else np.dot(Mv.astype(np.float64).ravel(), X[r0:r1].ravel())
        )
    it = 0
    while True:
        evaluate = it % LOSS_EVERY == 0
        s_log = s_wh = 0.0
        for r0, r1 in spans:
            x, bb, Mv = X[r0:r1], b[: r1 - r0], mask.rows_view(r0, r1, mbuf)
            np.matmul(W[r0:r1], H, out=bb)
            if evaluate:
                a, c = kl_masked_loss_terms(x, bb, Mv, eps, tiny)
                s_log += a
                s_wh += c
            ratio(x, bb, Mv, eps)
            np.matmul(bb, H.T, out=num_W[r0:r1])
        loss = None
        if evaluate:
            loss = s_log - c_wx + s_wh
            if reg.any:
                loss += reg.penalty(W, H)
        yield tracker.state(it, W, H, loss)
        it += 1
        hs = h_sums.astype(dt)
        kl_apply(num_W, W, hs, False, l1_W, l2_W, dt.type(_guard(hs + l1_W)), tiny, w_sums)
        W, num_W = num_W, W
        if not ctx.update_H:
            continue
        for index, (r0, r1) in enumerate(spans):
            x, bb, Mv = X[r0:r1], b[: r1 - r0], mask.rows_view(r0, r1, mbuf)
            Wb = W[r0:r1]
            np.matmul(Wb, H, out=bb)
            ratio(x, bb, Mv, eps)
            if index == 0:
                np.matmul(Wb.T, bb, out=num_H)
            else:
                np.matmul(Wb.T, bb, out=tmp_H)
                num_H += tmp_H
        ws = w_sums.astype(dt)
        kl_apply(num_H, H, ws, True, l1_H, l2_H, dt.type(_guard(ws + l1_H)), tiny, h_sums)
        np.copyto(H, num_H)


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
