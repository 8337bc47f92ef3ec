"""Compiled inner loops of the solvers (numba, compiled on first use and cached).

Only the loops numpy cannot express without one call per row or per pass go
here; every product of real size stays in numpy's BLAS. The kernels are
single-threaded (no ``parallel=True``): an OpenMP pool spinning next to
OpenBLAS's threads on two cores was measured 13x slower. They release the GIL
so the GUI thread keeps running while a fit does.

Each kernel's plain-Python body is its reference (``kernel.py_func``); the
tests compare the two.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: error_model="numpy": x / 0 gives inf as in numpy instead of raising, which
#: is what lets LLVM vectorise the divisions
_jit = njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")


@_jit
def hals_coefficients(M, l2, block, Mup, coef):  # pragma: no cover - compiled
    """Per-sweep constants of a blocked HALS update from the Gram matrix M (k, k).

    d_j = M_jj + l2. Mup (k, k): M without, in each block of ``block`` rows,
    the diagonal and the entries left of it (those rows are already updated
    when row j is, and enter through coef instead). coef (k, block): row j
    holds -M_jl / d_j for the rows l of j's block before j, then 1 / d_j.
    A row with d_j <= 0 (the other factor's row j is all zero, so row j does
    not enter the loss) is kept as it is: Mup_jj = -1, coef 1.
    """
    k = M.shape[0]
    for j in range(k):
        s = (j // block) * block
        d = M[j, j] + l2
        inv = 1.0 / d if d > 0 else 0.0
        for col in range(k):
            Mup[j, col] = 0.0 if s <= col <= j else M[j, col]
        for i in range(block):
            coef[j, i] = 0.0
        for i in range(j - s):
            coef[j, i] = -M[j, s + i] * inv
        if d > 0:
            coef[j, j - s] = inv
        else:
            Mup[j, j] = -1.0
            coef[j, j - s] = 1.0


@_jit
def hals_block(F, G, Q, coef, s, e, c0, c1, l1, T):  # pragma: no cover - compiled
    """Finish the Gauss-Seidel sweep of rows s..e-1 of F (k, p) on columns c0..c1.

    On entry Q[:e-s, :c1-c0] = Mup[s:e] F[:, c0:c1] (one GEMM: the rows outside
    the block and the block's rows not updated yet). Row j of the block is

        F_j <- max(0, coef_jj (G_j - l1 - Q_j) + sum_{i < jj} coef_ji F_{s+i})

    with the block's earlier rows already new. T: work row of >= c1-c0 entries.
    Loops run over 1-D row slices (numba vectorises those, not F[j, c0 + c])
    and take four earlier rows per pass (fewer loads and stores of T).
    """
    w = c1 - c0
    t = T[:w]
    for jj in range(e - s):
        j = s + jj
        inv = coef[j, jj]
        g = G[j, c0:c1]
        q = Q[jj, :w]
        for c in range(w):
            t[c] = inv * (g[c] - l1 - q[c])
        i = 0
        while i + 4 <= jj:
            a0, a1, a2, a3 = coef[j, i], coef[j, i + 1], coef[j, i + 2], coef[j, i + 3]
            f0, f1 = F[s + i, c0:c1], F[s + i + 1, c0:c1]
            f2, f3 = F[s + i + 2, c0:c1], F[s + i + 3, c0:c1]
            for c in range(w):
                t[c] += a0 * f0[c] + a1 * f1[c] + a2 * f2[c] + a3 * f3[c]
            i += 4
        while i < jj:
            a = coef[j, i]
            f = F[s + i, c0:c1]
            for c in range(w):
                t[c] += a * f[c]
            i += 1
        out = F[j, c0:c1]
        for c in range(w):
            v = t[c]
            out[c] = v if v > 0.0 else 0.0


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def gram_into(F, out):  # pragma: no cover - compiled
    """out (k, k) <- F F^T for F (k, p), C-contiguous, in F's dtype.

    Tiles of 4 x 4 entries of the lower triangle: the 16 dot products of a tile
    share their 8 row loads and run as 16 vector accumulators (reassociation
    only reorders the additions of each dot product), then the upper triangle
    is mirrored, so out is exactly symmetric. Single-threaded, this runs 2-7x
    faster than OpenBLAS's syrk (``F @ F.T``) on the HALS shapes (k <= ~64
    rows, figures in benchmarks/README.md): syrk's small-k path is slow.
    """
    k, p = F.shape
    zero = np.zeros(1, F.dtype)[0]
    full = k - k % 4
    for i0 in range(0, full, 4):
        a0, a1, a2, a3 = F[i0], F[i0 + 1], F[i0 + 2], F[i0 + 3]
        for j0 in range(0, i0 + 1, 4):
            b0, b1, b2, b3 = F[j0], F[j0 + 1], F[j0 + 2], F[j0 + 3]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
            for c in range(p):
                x0, x1, x2, x3 = a0[c], a1[c], a2[c], a3[c]
                y0, y1, y2, y3 = b0[c], b1[c], b2[c], b3[c]
                s00 += x0 * y0
                s01 += x0 * y1
                s02 += x0 * y2
                s03 += x0 * y3
                s10 += x1 * y0
                s11 += x1 * y1
                s12 += x1 * y2
                s13 += x1 * y3
                s20 += x2 * y0
                s21 += x2 * y1
                s22 += x2 * y2
                s23 += x2 * y3
                s30 += x3 * y0
                s31 += x3 * y1
                s32 += x3 * y2
                s33 += x3 * y3
            out[i0, j0], out[i0, j0 + 1], out[i0, j0 + 2], out[i0, j0 + 3] = s00, s01, s02, s03
            out[i0 + 1, j0], out[i0 + 1, j0 + 1] = s10, s11
            out[i0 + 1, j0 + 2], out[i0 + 1, j0 + 3] = s12, s13
            out[i0 + 2, j0], out[i0 + 2, j0 + 1] = s20, s21
            out[i0 + 2, j0 + 2], out[i0 + 2, j0 + 3] = s22, s23
            out[i0 + 3, j0], out[i0 + 3, j0 + 1] = s30, s31
            out[i0 + 3, j0 + 2], out[i0 + 3, j0 + 3] = s32, s33
    for i in range(full, k):  # the last k % 4 rows, one dot product at a time
        a = F[i]
        for j in range(i + 1):
            b = F[j]
            s = zero
            for c in range(p):
                s += a[c] * b[c]
            out[i, j] = s
    for i in range(k):
        for j in range(i + 1, k):
            out[i, j] = out[j, i]


@_jit
def transpose_into(src, dst):  # pragma: no cover - compiled
    """dst (k, n) <- src (n, k)^T, 64 rows of src at a time (cache-friendly: a
    block of src stays in L1 while its k columns are read)."""
    n, k = src.shape
    for r0 in range(0, n, 64):
        r1 = min(n, r0 + 64)
        for j in range(k):
            d = dst[j, r0:r1]
            s = src[r0:r1, j]
            for r in range(r1 - r0):
                d[r] = s[r]


@_jit
def ratio_inplace(X, WH, eps):  # pragma: no cover - compiled
    """WH <- X / max(WH, eps), elementwise, for two (r, m) C-contiguous blocks.

    One pass instead of numpy's two (maximum, then divide): the MU passes
    over X are bound by memory traffic, not arithmetic.
    """
    x = X.ravel()
    y = WH.ravel()
    for i in range(x.size):
        v = y[i]
        y[i] = x[i] / (v if v > eps else eps)


@_jit
def inverse_and_ratio(X, WH, T, eps):  # pragma: no cover - compiled
    """T <- 1 / max(WH, eps) where X > 0, else 0; WH <- X * T, elementwise,
    for (r, m) C-contiguous blocks.

    Itakura-Saito: an entry with X = 0 has an infinite divergence whatever
    W H is, so it is left out of the objective (as from the loss, see
    ``mu._iterate_beta``) and of the update: its 1 / WH term would pull W H
    towards zero there without bound and the loss of the other entries rise.
    """
    x = X.ravel()
    y = WH.ravel()
    t = T.ravel()
    for i in range(x.size):
        v = y[i]
        inv = 1.0 / (v if v > eps else eps) if x[i] > 0.0 else 0.0
        t[i] = inv
        y[i] = x[i] * inv


@_jit
def kl_apply(num, F, sums, per_row, l1, l2, eps, tiny, new_sums):  # pragma: no cover
    """The KL multiplicative update of F (r, c), written into num (r, c).

    num <- F * num / max(sums + l1 + l2 F, eps), with sums (k,) the other
    factor's sums over the shared axis, taken per row of F (per_row: F is H,
    (k, m)) or per column (F is W, (n, k)). Results below ``tiny`` (subnormal)
    are flushed to zero: they slow float32 arithmetic tenfold. new_sums (k,),
    float64: set to the new factor's sums along the same axis (what the other
    factor's update needs next).
    """
    r, c = F.shape
    new_sums[:] = 0.0
    for i in range(r):
        f = F[i]
        out = num[i]
        for j in range(c):
            s = sums[i] if per_row else sums[j]
            d = s + l1 + l2 * f[j]
            v = f[j] * out[j] / (d if d > eps else eps)
            v = v if v >= tiny else 0.0
            out[j] = v
            new_sums[i if per_row else j] += v


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def dot_f64(a, b):  # pragma: no cover - compiled
    """sum(a * b) accumulated in float64, for two same-shaped C-contiguous arrays.

    Each float32 product is exact in float64; reassociation (vector lanes)
    only reorders float64 additions. One pass, no float64 copies.
    """
    x = a.ravel()
    y = b.ravel()
    s = 0.0
    for i in range(x.size):
        s += np.float64(x[i]) * np.float64(y[i])
    return s
