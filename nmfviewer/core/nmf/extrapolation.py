"""Accelerated HALS with extrapolation (Ang & Gillis 2019) for the Frobenius loss.

Each half-step is an accelerated HALS update (Gillis & Glineur 2012: repeat
the cheap k x k sweeps while they still pay, see ``hals.max_inner``) started
from, and solved against, *extrapolated* factors::

    H_n = HALS(H_y; W_y)             H_y <- max(0, H_n + beta (H_n - H))
    W_n = HALS(W_y; H_y)             W_y <- W_n + beta (W_n - W)

The candidate iterate is (W_n, H_y), both >= 0; its loss comes by the trace
trick from the products the W update computed anyway. When it is no higher
than the previous candidate's, the step is kept and beta grows (times GAMMA,
capped by beta_max, which itself grows by GAMMA_BAR); otherwise the scheme
restarts from the last kept factors and beta shrinks (divided by ETA).
The state yielded is the best candidate so far (copied), so the reported loss
never increases and the consumer sees one state per iteration. A row of H_y
that the projection zeroes entirely keeps H_n's row (else its component dies).
BETA0, ETA, GAMMA, GAMMA_BAR are the authors' defaults for HALS.

Memory: about six W-sized and six H-sized buffers (iterates, extrapolated
and reported copies, products), still no copy of X.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .hals import _Updater, max_inner
from .loss import FrobeniusLoss
from .products import HXt

if TYPE_CHECKING:
    from .registry import SolverContext
    from .state import NMFState

BETA0 = 0.5
ETA = 1.5
GAMMA = 1.01
GAMMA_BAR = 1.005
#: components whose ||W_j|| / ||H_j|| leaves [1/BALANCE_RATIO, BALANCE_RATIO]
#: are rescaled (see _balance)
BALANCE_RATIO = 1e4


def iterate_extrapolated(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, ctx: SolverContext
) -> Iterator[NMFState]:
    """Yield NMFState for iterations 0, 1, ... of extrapolated accelerated HALS.

    Parameters
    ----------
    X : ndarray, shape (n_images, n_pixels)
        C-contiguous data in the working dtype, never written.
    W : ndarray, shape (n_images, k)
        Start weights in X's dtype.
    H : ndarray, shape (k, n_pixels)
        Start basis in X's dtype.
    ctx : SolverContext
        Penalties, state tracker and loss precision (``ctx.update_H`` must be
        True: ``hals.iterate_hals`` runs plain HALS for W only).
    """
    reg, tracker = ctx.reg, ctx.tracker
    precision, window = ctx.precision, ctx.window
    n, m = X.shape
    k = H.shape[0]
    dt = X.dtype
    up_W = _Updater(k, n, dt, reg.l1_W, reg.l2_W, max_inner(n, m, k))
    up_H = _Updater(k, m, dt, reg.l1_H, reg.l2_H, max_inner(m, n, k))
    frob = FrobeniusLoss(X, precision, k, window)

    Wt = np.ascontiguousarray(W.T)  # last accepted W^T (k, n)
    Hacc = np.array(H, dtype=dt, order="C")  # last accepted H_n (k, m)
    A = np.empty((k, n), dtype=dt)  # H_y X^T
    hxt = HXt(X, k)
    C = np.empty((k, m), dtype=dt)  # W_y X
    B = np.empty((k, k), dtype=dt)  # H_y H_y^T
    D = np.empty((k, k), dtype=dt)  # W_n W_n^T (for the loss)
    Dy = np.empty((k, k), dtype=dt)  # W_y W_y^T (for the H update)

    def loss(Wt_: np.ndarray, H_: np.ndarray) -> float:
        return frob.objective(reg, A, Wt_, None, H_, B, D)

    hxt(Hacc, A)
    frob.gram(Hacc, B, "H")
    frob.gram(Wt, D, "W")
    best = last = loss(Wt, Hacc)
    tier = frob.tier  # the precision tier ``best`` was computed at
    Wrep, Hrep = Wt.copy(), Hacc.copy()  # the reported (best) state
    yield tracker.state(0, Wrep.T, Hrep, best)

    Wy, Hy = Wt.copy(), Hacc.copy()  # extrapolated points
    Wn, Hn = np.empty_like(Wt), np.empty_like(Hacc)  # candidates
    beta, beta_max, beta_prev = BETA0, 1.0, BETA0
    it = 0
    while True:
        it += 1
        # H update from H_y against W_y, then extrapolate and project
        np.matmul(Wy, X, out=C)
        # BLAS here, not _kernels.gram_into: see the report of round 3 in
        # benchmarks/README.md (the best-state rule is sensitive to rounding)
        np.matmul(Wy, Wy.T, out=Dy)
        np.copyto(Hn, Hy)
        up_H(Hn, C, Dy)
        np.subtract(Hn, Hacc, out=Hy)
        Hy *= dt.type(beta)
        Hy += Hn
        np.maximum(Hy, 0, out=Hy)
        # a row the projection zeroed entirely would kill its component (seen
        # on badly scaled starts: nndsvda on 0/255 images); keep H_n's row
        dead = ~Hy.any(axis=1) & Hn.any(axis=1)
        if dead.any():
            Hy[dead] = Hn[dead]
        # W update from W_y against H_y; (W_n, H_y) is the candidate iterate
        hxt(Hy, A)
        frob.gram(Hy, B, "H")
        np.copyto(Wn, Wy)
        up_W(Wn, A, B)
        frob.gram(Wn, D, "W")
        value = loss(Wn, Hy)
        if frob.tier != tier:
            # The loss is now computed more precisely: ``best`` came from a coarser
            # tier and may be off by more than the differences compared from now on
            # (seen: 3.6 % too low under another rounding, which pinned a stale state
            # as the reported one). Evaluate the reported state again, exactly. Its
            # loss may then rise once, within the coarse tier's error: the stop rule
            # starts its window afresh, so that is not read as 'loss_rising'.
            tier = frob.tier
            best = frob.exact(Wrep, Hrep) + reg.penalty(Wrep, Hrep)
            tracker.rebase()
        if value <= best:
            best = value
            np.copyto(Wrep, Wn)
            np.copyto(Hrep, Hy)
        if value <= last:  # keep the step, extrapolate further
            np.subtract(Wn, Wt, out=Wy)  # W_y = W_n + beta (W_n - W)
            Wy *= dt.type(beta)
            Wy += Wn
            Wt, Wn = Wn, Wt
            Hacc, Hn = Hn, Hacc
            beta_prev, beta = beta, min(beta_max, GAMMA * beta)
            beta_max = min(1.0, GAMMA_BAR * beta_max)
            if not reg.any:
                _balance(Wt, Hacc, (Wy, Wrep), (Hy, Hrep))
        else:  # restart from the last kept factors, with a smaller beta
            np.copyto(Wy, Wt)
            np.copyto(Hy, Hacc)
            beta_max = beta_prev
            beta_prev, beta = beta, beta / ETA
        last = value
        yield tracker.state(it, Wrep.T, Hrep, best)


def _balance(
    Wt: np.ndarray, H: np.ndarray, more_W: tuple[np.ndarray, ...], more_H: tuple[np.ndarray, ...]
) -> None:
    """Rescale components whose W and H norms drifted far apart.

    W_j H_j is unchanged (so is the unregularised loss), but extrapolation can
    otherwise let a fading component's H row shrink towards 0 while its W
    column grows until float32 overflows. Applied to the kept iterate and,
    with the same factors, to the extrapolated and reported copies.
    """
    w = np.sqrt(np.einsum("ij,ij->i", Wt, Wt, dtype=np.float64))
    h = np.sqrt(np.einsum("ij,ij->i", H, H, dtype=np.float64))
    ok = (w > 0) & (h > 0)
    ratio = np.divide(w, h, out=np.ones_like(w), where=ok)
    drift = ok & ((ratio > BALANCE_RATIO) | (ratio < 1.0 / BALANCE_RATIO))
    if not drift.any():
        return
    lam = np.ones_like(w)
    lam[drift] = np.sqrt(h[drift] / w[drift])  # W_j * lam, H_j / lam: equal norms
    lw = lam.astype(Wt.dtype)[:, None]
    lh = (1.0 / lam).astype(H.dtype)[:, None]
    for F in (Wt, *more_W):
        F *= lw
    for F in (H, *more_H):
        F *= lh
