"""The blocked Frobenius iteration shared by the streamed and the distributed engines.

X (n_images, n_pixels) is cut into row blocks X_b (whole images). One
iteration of plain HALS or Frobenius MU reads each block once::

    for each block b:   A_b = H X_b^T            (k, r_b)   with the current H
                        W_b^T <- update(W_b^T, A_b, B)      B = H H^T (k, k)
                        C  += W_b^T X_b          (k, m)     with the new W_b
                        D  += W_b^T W_b          (k, k)
    H <- update(H, C, D);  B = H H^T
    loss = 0.5 (||X||^2 - 2 <C, H> + <B, D>) + penalty

which is, operation for operation, the in-memory loop of
``frobenius.iterate_frobenius``: the W update is separable over images (columns
of W^T), so updating it block by block gives the same W; C and D are the same
sums taken in blocks. The loss uses the same trace trick with the Gram
matrices and the cross term in float64 (the in-memory loss's tier 1), so it is
at least as precise as the in-memory one.

The W update of Frobenius MU guards its denominator relative to the largest
entry of the block (the in-memory update: of the whole W); the guard acts only
on entries 1e-7 below the largest, so the iterates agree to rounding.

Accelerated HALS (inner sweeps stopped by a whole-W criterion, extrapolation
with a whole-iterate accept test) is not blocked: the engines run plain HALS
and record ``hals_variant='plain'``, so a replay in memory repeats them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ParameterError
from ..params import NMFParams
from ._kernels import transpose_into

if TYPE_CHECKING:
    from .frobenius import MakeUpdates
    from .loss import Regularization


def make_updates(solver: str) -> MakeUpdates:
    """The in-memory solver's update functions (so blocked iterates equal in-memory ones)."""
    if solver == "hals":
        from .hals import _plain_updates

        return _plain_updates
    from .mu import _frobenius_updates

    return _frobenius_updates


def check_blocked_params(params: NMFParams, engine: str, *, beta_ok: bool = False) -> NMFParams:
    """params for a blocked engine: HALS runs plain (recorded), KL/IS only when ``beta_ok``."""
    if params.solver == "hals":
        if params.hals_variant == "accelerated":
            raise ParameterError(
                f"the {engine} engine runs plain HALS (blocks of X, one pass per iteration); "
                "accelerated HALS needs X in memory.",
                field="hals_variant",
                value="accelerated",
                suggestion="plain",
            )
        if params.hals_variant != "plain":
            params = replace(params, hals_variant="plain")
    elif params.beta != 2 and not beta_ok:
        raise ParameterError(
            f"the {engine} engine fits the Frobenius loss (HALS or MU); "
            f"loss={params.loss!r} runs in memory or on one machine (streamed).",
            field="loss",
            value=params.loss,
            suggestion="frobenius",
        )
    return params


def check_stats(lo: float, hi: float, nonfinite: int, where: str) -> None:
    """The checks ``prepare.check_X`` makes, from a store's value statistics."""
    if nonfinite:
        raise ParameterError(
            f"{where} contains {nonfinite} NaN or infinite value(s); NMF needs finite values. "
            "Convert the images with `nmfviewer convert`, which applies the load policies.",
            field="nonfinite",
            value="error",
            suggestion="zero",
        )
    if lo < 0:
        raise ParameterError(
            f"{where} contains negative values (min {lo:g}); NMF needs X >= 0. Convert the "
            "images with `nmfviewer convert`, which applies the load policies.",
            field="negative",
            value="error",
            suggestion="clip",
        )
    if hi == 0:
        raise ParameterError(f"{where} is all zeros: there is nothing to factorize.")
    if not math.isfinite(hi):
        raise ParameterError(f"{where} holds infinite values; NMF needs finite values.")


class BlockStep:
    """One block's share of an iteration (see the module docstring), buffers kept.

    Used by the streamed engine (one instance per block size) and on the Dask
    workers (one per task: a few small allocations).
    """

    def __init__(
        self, solver: str, k: int, rows: int, m: int, dtype: np.dtype, reg: Regularization
    ) -> None:
        self.update = make_updates(solver)(k, rows, m, dtype, reg)[0]
        self.work = np.empty((rows, k), dtype=dtype)  # X_b H^T
        self.A = np.empty((k, rows), dtype=dtype)  # H X_b^T
        self.C = np.empty((k, m), dtype=dtype)  # W_b^T X_b

    def __call__(
        self, Xb: np.ndarray, Wt_b: np.ndarray, H: np.ndarray, B: np.ndarray
    ) -> np.ndarray:
        """Update Wt_b (k, r) in place against X_b (r, m); returns W_b^T X_b (k, m)
        (a buffer of this step, valid until the next call)."""
        np.matmul(Xb, H.T, out=self.work)  # the layout OpenBLAS runs fastest (products.HXt)
        transpose_into(self.work, self.A)
        self.update(Wt_b, self.A, B)
        np.matmul(Wt_b, Xb, out=self.C)
        return self.C


@dataclass
class Partials:
    """Sums over blocks that the H update and the loss need (float64)."""

    C: np.ndarray  # (k, m) sum of W_b^T X_b
    D: np.ndarray  # (k, k) sum of W_b^T W_b
    w_sum: float  # sum of W (for an l1 penalty on W)

    @classmethod
    def zeros(cls, k: int, m: int) -> Partials:
        return cls(np.zeros((k, m)), np.zeros((k, k)), 0.0)

    def add(self, C_b: np.ndarray, Wt_b: np.ndarray) -> None:
        self.C += C_b
        w64 = Wt_b.astype(np.float64)
        self.D += w64 @ w64.T
        self.w_sum += float(w64.sum())

    def __iadd__(self, other: Partials) -> Partials:
        self.C += other.C
        self.D += other.D
        self.w_sum += other.w_sum
        return self


class HalfStep:
    """The client's half of an iteration: H update from the partials, B, the loss."""

    def __init__(
        self, solver: str, k: int, n: int, m: int, dtype: np.dtype, reg: Regularization, xx: float
    ) -> None:
        self.update_H = make_updates(solver)(k, n, m, dtype, reg)[1]
        self.reg, self.xx, self.dtype = reg, xx, dtype
        self.C = np.empty((k, m), dtype=dtype)
        self.D = np.empty((k, k), dtype=dtype)
        self.B = np.empty((k, k), dtype=dtype)

    def gram_H(self, H: np.ndarray) -> np.ndarray:
        np.matmul(H, H.T, out=self.B)
        return self.B

    def loss(self, p: Partials, H: np.ndarray) -> float:
        """The loss of (W, H) from the partials of W (float64 throughout)."""
        H64 = H.astype(np.float64)
        B64 = H64 @ H64.T
        cross = float(np.dot(p.C.ravel(), H64.ravel()))
        quad = float(np.dot(B64.ravel(), p.D.ravel()))
        value = max(0.5 * (self.xx - 2.0 * cross + quad), 0.0)
        reg = self.reg
        if reg.any:
            value += reg.l1_W * p.w_sum + 0.5 * reg.l2_W * float(np.trace(p.D))
            value += reg.l1_H * float(H64.sum()) + 0.5 * reg.l2_H * float(np.trace(B64))
        return value

    def step(self, p: Partials, H: np.ndarray, update_H: bool) -> float:
        """Update H (k, m) in place from the partials; B = H H^T; returns the loss."""
        if update_H:
            np.copyto(self.C, p.C)
            np.copyto(self.D, p.D)
            self.update_H(H, self.C, self.D)
        self.gram_H(H)
        return self.loss(p, H)


def describe_bytes(k: int, m: int, n_groups: int, dtype_size: int) -> dict[str, Any]:
    """Bytes a distributed iteration moves: H and B down (per worker), the
    partial sums up (per block group)."""
    down = (k * m + k * k) * dtype_size
    up = (k * m + k * k + 1) * 8
    return {"down_per_worker": down, "up_per_group": up, "up_total": up * n_groups}
