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

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._costs import RECALIBRATE, TRACE_NOISE
from ._kernels import dot_f64, gram_into

if TYPE_CHECKING:
    from ..params import NMFParams

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
    def from_params(cls, params: NMFParams, n_samples: int, n_features: int) -> Regularization:
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

    def penalty_from_grams(
        self, Wt: np.ndarray, H: np.ndarray, HHt: np.ndarray, WWt: np.ndarray
    ) -> float:
        """The same penalty, the squared norms taken from the Gram matrices'
        traces (HALS has them at hand: no extra pass over the factors).
        Wt (k, n), H (k, m), HHt and WWt (k, k)."""
        p = 0.0
        if self.l1_W:
            p += self.l1_W * float(Wt.sum(dtype=np.float64))
        if self.l2_W:
            p += 0.5 * self.l2_W * float(np.trace(WWt, dtype=np.float64))
        if self.l1_H:
            p += self.l1_H * float(H.sum(dtype=np.float64))
        if self.l2_H:
            p += 0.5 * self.l2_H * float(np.trace(HHt, dtype=np.float64))
        return p


def sqnorm(a: np.ndarray) -> float:
    """||a||_F^2 in float64, one compiled pass (see trace_dot), no float64 copy."""
    a = np.asarray(a)
    if a.flags.f_contiguous and not a.flags.c_contiguous:
        a = a.T  # a transposed factor: same entries, C order
    return trace_dot(a, a)


def row_blocks(a: np.ndarray, block_bytes: int = BLOCK_BYTES) -> Iterator[np.ndarray]:
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
    if A.dtype != B.dtype:
        A, B = A.astype(np.float64), B.astype(np.float64)
    return float(dot_f64(np.ascontiguousarray(A), np.ascontiguousarray(B)))


class FrobeniusLoss:
    """The Frobenius loss of the current factors, as cheaply as its precision allows.

    The trace trick subtracts numbers of the size of ||X||^2, so its error is a
    fixed fraction of ||X||^2 (TRACE_NOISE). The loss must be known to
    ``precision`` (relative) for the stopping rule to see the decrease (less
    while the loss still falls fast: the rule's threshold is then far away);
    for a good fit in float32 that takes three tiers, climbed once and never
    left:

    0. Gram matrices H H^T, W^T W in the working dtype (free);
    1. Gram matrices and the cross term in float64 (a float64 copy of each
       factor: O(k (n + m)) per iteration);
    2. the residual X - WH over row blocks (one more GEMM per iteration).

    The solver gets its Gram matrices from :meth:`gram` so that tier 1 costs no
    second product. Tier 1's error is measured against the exact loss when the
    prior says it may not suffice, and again every RECALIBRATE iterations
    (4x the largest error seen is taken as its noise).
    """

    def __init__(self, X: np.ndarray, precision: float, k: int, window: int = 5):
        self.X = X
        self.xx = sqnorm(X)
        n, m = X.shape
        self.noise = [f * self.xx for f in TRACE_NOISE.get(X.dtype, (1.5e-7, 3e-8))]
        self.base_precision = precision
        self.window = window
        self._recent: list[float] = []
        self.tier = 0
        self.calls = 0
        self.calibrated: int | None = None  # call at which tier 1's error was measured
        # float64 copies of the factors and their Gram matrices (tier >= 1)
        self._f64: dict[str, np.ndarray | None] = {"W": None, "H": None}
        self._g64 = {"W": np.empty((k, k)), "H": np.empty((k, k))}
        self._cross64: dict[str, np.ndarray] = {}
        self._shape = {"W": (k, n), "H": (k, m)}
        # cross term from the pair whose product summed over the shorter
        # dimension: A = H X^T sums over m, C = Wt X over n
        self.by_C = n < m
        self._buf: np.ndarray | None = None

    def gram(self, F: np.ndarray, out: np.ndarray, which: str) -> np.ndarray:
        """out (k, k) <- F F^T for F = Wt ('W') or H ('H'), in out's dtype.

        F: C-contiguous, F's dtype = out's. Tier 0 uses BLAS (``F @ F.T``);
        tier 1 the compiled ``_kernels.gram_into`` on the float64 copy (faster
        than syrk at these shapes). The compiled kernel at tier 0 too measured
        ~0.1 ms faster per faces iteration but made a GUI live-update test fail
        3 times in 4 (see benchmarks/README.md, round 3): not adopted yet.
        """
        if self.tier == 0:
            return np.matmul(F, F.T, out=out)
        f64 = self._f64[which]
        if f64 is None:
            f64 = self._f64[which] = np.empty(self._shape[which])
        np.copyto(f64, F)
        gram_into(f64, self._g64[which])
        np.copyto(out, self._g64[which])
        return out

    def objective(
        self,
        reg: Regularization,
        A: np.ndarray,
        Wt: np.ndarray,
        C: np.ndarray | None,
        H: np.ndarray,
        B: np.ndarray,
        D: np.ndarray,
    ) -> float:
        """The loss plus reg's penalty (from the Gram traces); arguments as for
        calling the instance."""
        value = self(A, Wt, C, H, B, D)
        if reg.any:
            value += reg.penalty_from_grams(Wt, H, B, D)
        return value

    def __call__(
        self,
        A: np.ndarray,
        Wt: np.ndarray,
        C: np.ndarray | None,
        H: np.ndarray,
        B: np.ndarray,
        D: np.ndarray,
    ) -> float:
        """Loss of (Wt (k, n), H (k, m)). A = H X^T (k, n) and C = Wt X (k, m)
        for the current factors (C may be None: then A is used), B = H H^T and
        D = Wt Wt^T from :meth:`gram`."""
        self.calls += 1
        # while the loss still falls fast, the stopping rule is far from its
        # threshold and a coarser loss does: precision ~ (window/10) * decrease
        r = self._recent
        if len(r) < 2:
            self.precision = max(self.base_precision, 1e-3)
        else:
            fall = (r[0] - r[-1]) / ((len(r) - 1) * max(r[-1], 1e-300))
            self.precision = max(self.base_precision, 0.1 * self.window * fall)
        while True:
            value = self._value(A, Wt, C, H, B, D)
            if self.tier == 1 and (
                (self.calibrated is None and self.noise[1] > self.precision * value)
                or (self.calibrated is not None and self.calls - self.calibrated >= RECALIBRATE)
            ):
                # measure tier 1's error on these factors instead of trusting
                # the prior: on data with a short dimension it is far smaller
                exact = self.exact(Wt, H)
                err = abs(value - exact)
                self.noise[1] = max(
                    self.noise[1] if self.calibrated is not None else 0.0,
                    4.0 * err,
                    1e-10 * self.xx,
                )
                self.calibrated = self.calls
            if self.tier == 2 or self.noise[self.tier] <= self.precision * value:
                r.append(value)
                if len(r) > self.window + 1:
                    del r[0]
                return value
            self.tier += 1
            if self.tier == 1:  # the float64 Gram matrices of the current factors
                self.gram(Wt, np.empty_like(D), "W")
                self.gram(H, np.empty_like(B), "H")

    def exact(self, Wt: np.ndarray, H: np.ndarray) -> float:
        """The loss of (Wt (k, n), H (k, m)) from the residual (one more GEMM), without
        a penalty; the tiers and the calibration are left as they are."""
        if self._buf is None:
            rows = max(1, BLOCK_BYTES // max(1, self.X.shape[1] * self.X.itemsize))
            self._buf = np.empty((min(rows, self.X.shape[0]), self.X.shape[1]), self.X.dtype)
        return frobenius_exact(self.X, Wt.T, H, self._buf)

    def _value(
        self,
        A: np.ndarray,
        Wt: np.ndarray,
        C: np.ndarray | None,
        H: np.ndarray,
        B: np.ndarray,
        D: np.ndarray,
    ) -> float:
        if self.tier == 2:
            return self.exact(Wt, H)
        if self.tier == 0:
            if C is not None and C.size <= A.size:
                cross = trace_dot(C, H)
            else:
                cross = trace_dot(A, Wt)
            quad = trace_dot(B, D)
        else:
            if self.by_C and C is not None:
                G, F64, which = C, self._f64["H"], "H"
            else:
                G, F64, which = A, self._f64["W"], "W"
            if F64 is None:  # gram() made it when the tier rose to 1
                raise RuntimeError(f"no float64 copy of {which} at tier 1")
            g64 = self._cross64.get(which)
            if g64 is None:
                g64 = self._cross64[which] = np.empty(G.shape)
            np.copyto(g64, G)
            cross = float(np.dot(g64.ravel(), F64.ravel()))
            quad = float(np.dot(self._g64["H"].ravel(), self._g64["W"].ravel()))
        return max(0.5 * (self.xx - 2.0 * cross + quad), 0.0)


def frobenius_exact(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, buf: np.ndarray | None = None
) -> float:
    """0.5 * ||X - W H||_F^2 computed directly over row blocks (no n x m temporary).

    buf: optional (rows, m) work buffer in X's dtype; its row count sets the block.
    """
    W = np.asarray(W)
    total = 0.0
    if buf is None:
        rows = max(1, BLOCK_BYTES // max(1, X.shape[1] * X.itemsize))
        buf = np.empty((min(rows, X.shape[0]), X.shape[1]), dtype=np.result_type(X, W, H))
    rows = buf.shape[0]
    for r0 in range(0, X.shape[0], rows):
        xb = X[r0 : r0 + rows]
        b = buf[: xb.shape[0]]
        np.matmul(W[r0 : r0 + rows], H, out=b)
        np.subtract(xb, b, out=b)
        v = b.ravel()
        total += float(np.dot(v, v))  # a residual block: float32 rounding is harmless
    return 0.5 * total


def beta_divergence(X: np.ndarray, W: np.ndarray, H: np.ndarray, beta: float) -> float:
    """The beta-divergence D_beta(X | W H) as scikit-learn defines it (no penalty).

    beta 2: 0.5 ||X - WH||^2; 1: generalised KL; 0: Itakura-Saito. Float64,
    over row blocks sized so that the block's float64 temporaries (about six)
    stay near BLOCK_BYTES in all; entries with X = 0 are left out of the log
    terms (and, for Itakura-Saito, of the sum: d_IS(0 | y) is infinite). W H is
    guarded at float32 eps times max(X), as in the MU solver (``mu.py``):
    relative, so that scaling X scales the divergence and nothing else.
    """
    if beta == 2:
        return frobenius_exact(X, W, H)
    eps = float(np.finfo(np.float32).eps) * float(X.max())
    W = np.asarray(W)
    H64 = np.asarray(H, dtype=np.float64)
    total = 0.0
    rows = max(1, BLOCK_BYTES // (6 * 8 * max(1, X.shape[1])))
    for r0 in range(0, X.shape[0], rows):
        xb = X[r0 : r0 + rows].astype(np.float64)
        wh = np.asarray(W[r0 : r0 + rows], dtype=np.float64) @ H64
        mask = xb > 0
        x = xb[mask]
        div = x / np.maximum(wh[mask], eps)
        if beta == 1:
            total += float(np.dot(x, np.log(div))) - float(x.sum()) + float(wh.sum())
        else:
            total += float(div.sum() - np.log(div).sum()) - div.size
    return total


def objective(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, beta: float, reg: Regularization
) -> float:
    """The loss a solver reports for W (n, k) and H (k, m) on X (n, m): the
    beta-divergence plus the penalty, accumulated in float64.

    For states whose loss the solver did not evaluate (``NMFState.loss`` None).
    """
    return beta_divergence(X, W, H, beta) + reg.penalty(W, H)
