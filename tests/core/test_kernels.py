"""Compiled kernels: each agrees with its plain-Python body and with a direct formula."""

from __future__ import annotations

import numpy as np
import pytest

from nmfviewer.core.nmf import _kernels
from nmfviewer.core.nmf.hals import _Updater
from nmfviewer.core.nmf.products import HXt

DTYPES = [np.float32, np.float64]


def _rng():
    return np.random.default_rng(7)


def naive_hals_update(F, G, M, l1=0.0, l2=0.0):
    """Row-by-row HALS (Cichocki & Phan), float64: the reference for _Updater."""
    F = F.astype(np.float64).copy()
    for j in range(F.shape[0]):
        d = M[j, j] + l2
        if d <= 0:
            continue
        resid = G[j] - l1 - M[j] @ F + M[j, j] * F[j]
        F[j] = np.maximum(resid / d, 0.0)
    return F


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,p", [(1, 7), (5, 40), (13, 300), (49, 1000)])
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.3, 0.0), (0.0, 2.0)])
def test_blocked_update_equals_row_by_row(dtype, k, p, l1, l2):
    rng = _rng()
    Wt = rng.random((k, 3 * k + 5))
    M = (Wt @ Wt.T).astype(dtype)  # a Gram matrix: symmetric positive semi-definite
    G = (rng.random((k, p)) * k).astype(dtype)
    F = rng.random((k, p)).astype(dtype)
    expected = naive_hals_update(F, G.astype(np.float64), M.astype(np.float64), l1, l2)
    up = _Updater(k, p, dtype, l1, l2, inner=1)
    up.chunk = max(1, p // 3)  # several column chunks, as on wide data
    up.Q = np.empty((up.b, up.chunk), dtype=dtype)
    up.T = np.empty(up.chunk, dtype=dtype)
    up(F, G, M)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(F, expected, rtol=tol, atol=tol * float(np.abs(expected).max()))
    assert F.min() >= 0


def test_update_keeps_rows_whose_gram_diagonal_is_zero():
    rng = _rng()
    k, p = 6, 50
    Wt = rng.random((k, 20))
    Wt[2] = 0  # the other factor's row 2 is zero: M's row and column 2 vanish
    M = Wt @ Wt.T
    G = rng.random((k, p))
    G[2] = 0
    F = rng.random((k, p))
    kept = F[2].copy()
    expected = naive_hals_update(F, G, M)
    _Updater(k, p, np.float64, 0.0, 0.0, inner=1)(F, G, M)
    np.testing.assert_array_equal(F[2], kept)
    np.testing.assert_allclose(F, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_match_their_python_bodies(dtype):
    rng = _rng()
    k, b, p = 11, 4, 97
    M = rng.random((k, k)).astype(dtype)
    M = M + M.T
    M[3, 3] = 0.0  # a dead row
    outs = []
    for fn in (_kernels.hals_coefficients, _kernels.hals_coefficients.py_func):
        Mup, coef = np.empty((k, k), dtype), np.empty((k, b), dtype)
        fn(M, dtype(0.5), b, Mup, coef)
        outs.append((Mup, coef))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-6)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-6)

    Mup, coef = outs[0]
    G = rng.random((k, p)).astype(dtype)
    F0 = rng.random((k, p)).astype(dtype)
    results = []
    for fn in (_kernels.hals_block, _kernels.hals_block.py_func):
        F = F0.copy()
        Q = (Mup[4:8] @ F[:, 10:90]).astype(dtype)
        fn(F, G, Q, coef, 4, 8, 10, 90, dtype(0.1), np.empty(p, dtype))
        results.append(F)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)
    # only rows 4..7, columns 10..89 changed
    changed = results[0] != F0
    assert not changed[:4].any() and not changed[8:].any()
    assert not changed[:, :10].any() and not changed[:, 90:].any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,k", [(1, 1), (3, 5), (300, 8), (1000, 49)])
def test_transpose_into(dtype, n, k):
    src = _rng().random((n, k)).astype(dtype)
    dst = np.empty((k, n), dtype)
    _kernels.transpose_into(src, dst)
    np.testing.assert_array_equal(dst, src.T)


@pytest.mark.parametrize("dtype", DTYPES)
def test_hxt_product(dtype):
    rng = _rng()
    X = rng.random((123, 45)).astype(dtype)
    H = rng.random((6, 45)).astype(dtype)
    out = np.empty((6, 123), dtype)
    HXt(X, 6)(H, out)
    np.testing.assert_allclose(out, H @ X.T, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ratio_kernels_guard_small_denominators(dtype):
    rng = _rng()
    X = rng.random((9, 13)).astype(dtype)
    X[0, 0] = 0.0
    WH = rng.random((9, 13)).astype(dtype)
    WH[1, :4] = 0.0  # below eps: guarded, no division by zero
    WH[2, 2] = 1e-30
    eps = dtype(np.finfo(np.float32).eps)
    guarded = np.maximum(WH, eps)

    r = WH.copy()
    _kernels.ratio_inplace(X, r, eps)
    np.testing.assert_allclose(r, X / guarded, rtol=1e-6)

    r, t = WH.copy(), np.empty_like(WH)
    _kernels.inverse_and_ratio(X, r, t, eps)
    # X = 0 is left out (Itakura-Saito: see the kernel)
    np.testing.assert_allclose(t, np.where(X > 0, 1 / guarded, 0), rtol=1e-6)
    np.testing.assert_allclose(r, X / guarded, rtol=1e-6)
    assert np.isfinite(r).all() and np.isfinite(t).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("per_row", [False, True])
@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.2, 0.5)])
def test_kl_apply_is_the_multiplicative_update(dtype, per_row, l1, l2):
    rng = _rng()
    F = rng.random((7, 5)).astype(dtype)
    num = rng.random((7, 5)).astype(dtype)
    sums = rng.random(7 if per_row else 5).astype(dtype)
    F[0, 0], num[0, 0], sums[0] = 2 * np.finfo(dtype).tiny, 1e-3, 1.0  # result subnormal: flushed
    sums[1] = 0.0  # a zero denominator is guarded by eps
    eps = dtype(np.finfo(np.float32).eps)
    tiny = np.finfo(dtype).tiny
    s = sums[:, None] if per_row else sums[None, :]
    expected = F * num / np.maximum(s + l1 + l2 * F, eps)
    expected[expected < tiny] = 0
    out = num.copy()
    new_sums = np.full(len(sums), np.nan)
    _kernels.kl_apply(out, F, sums, per_row, dtype(l1), dtype(l2), eps, tiny, new_sums)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out[0, 0] == 0.0
    np.testing.assert_allclose(new_sums, expected.sum(axis=1 if per_row else 0), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (49, 361), (8, 20000)])
def test_dot_f64_accumulates_in_float64(dtype, shape):
    rng = _rng()
    a = rng.random(shape).astype(dtype)
    b = rng.random(shape).astype(dtype)
    exact = float(np.dot(a.ravel().astype(np.float64), b.ravel().astype(np.float64)))
    assert _kernels.dot_f64(a, b) == pytest.approx(exact, rel=1e-12)
    # a float32 accumulation would be off by ~1e-7 relative on the large case
    big = np.full(10**6, 1.0 + 2**-20, dtype=np.float32)
    assert _kernels.dot_f64(big, big) == pytest.approx(1e6 * (1.0 + 2**-20) ** 2, rel=1e-11)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,p", [(1, 1), (3, 7), (4, 5), (7, 300), (49, 361), (16, 4096)])
def test_gram_into_is_the_gram_matrix(dtype, k, p):
    F = _rng().random((k, p)).astype(dtype)
    out = np.full((k, k), np.nan, dtype)
    _kernels.gram_into(F, out)
    exact = F.astype(np.float64) @ F.T.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, exact, rtol=tol)
    np.testing.assert_array_equal(out, out.T)  # exactly symmetric
    ref = np.full((k, k), np.nan, dtype)
    _kernels.gram_into.py_func(F, ref)
    np.testing.assert_allclose(out, ref, rtol=tol)
