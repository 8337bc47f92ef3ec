"""Bad inputs are refused with clear messages; X is never copied."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from nmfviewer import NMFViewerError, ParameterError
from nmfviewer.core.nmf.fit import check_X, fit, iterate_nmf
from nmfviewer.core.nmf.initialize import initialize, randomized_svd
from nmfviewer.core.params import NMFParams


def _X(n=30, m=20, dtype=np.float32):
    rng = np.random.default_rng(0)
    return (rng.random((n, 3)) @ rng.random((3, m))).astype(dtype)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda X: X.__setitem__((2, 3), -1.0), "negative"),
        (lambda X: X.__setitem__((0, 0), np.nan), "NaN"),
        (lambda X: X.__setitem__((1, 1), np.inf), "infinite"),
        (lambda X: X.fill(0), "all zeros"),
    ],
)
def test_bad_values(mutate, match):
    X = _X()
    mutate(X)
    with pytest.raises(ParameterError, match=match):
        fit(X, NMFParams(n_components=2))


def test_bad_shapes_and_types():
    with pytest.raises(ParameterError, match="2-D"):
        fit(np.ones(10), NMFParams(n_components=1))
    with pytest.raises(ParameterError, match="2-D"):
        fit(np.ones((2, 3, 4)), NMFParams(n_components=1))
    with pytest.raises(ParameterError, match="empty"):
        fit(np.ones((0, 3)), NMFParams(n_components=1))
    with pytest.raises(ParameterError, match="dtype"):
        fit(np.array([["a", "b"]]), NMFParams(n_components=1))
    with pytest.raises(ParameterError, match="k must be <= 20"):
        fit(_X(), NMFParams(n_components=21))
    with pytest.raises(ParameterError, match="NMFParams"):
        iterate_nmf(_X(), {"n_components": 2})


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_components": 0}, "n_components"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1e-3}, "tol"),
        ({"loss": "hinge"}, "loss"),
        ({"solver": "hals", "loss": "kl"}, "mu"),
    ],
)
def test_bad_params(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        NMFParams(**{"n_components": 2, **kwargs})


def test_errors_are_nmfviewer_errors():
    assert issubclass(ParameterError, NMFViewerError)


def test_custom_init_checks():
    X = _X()
    with pytest.raises(ParameterError, match="needs both"):
        fit(X, NMFParams(n_components=2, init="custom"))
    with pytest.raises(ParameterError, match="shape"):
        fit(X, NMFParams(n_components=2, init="custom"), np.ones((30, 3)), np.ones((2, 20)))
    with pytest.raises(ParameterError, match="negative"):
        fit(X, NMFParams(n_components=2, init="custom"), -np.ones((30, 2)), np.ones((2, 20)))
    W0, H0 = np.ones((30, 2)), np.ones((2, 20))
    r = fit(X, NMFParams(n_components=2, init="custom", max_iter=3), W0, H0)
    assert np.all(W0 == 1) and np.all(H0 == 1)  # the caller's arrays are not touched
    assert r.W.dtype == np.float32


def test_nndsvd_k_too_large_for_init():
    with pytest.raises(ParameterError, match="k"):
        initialize(_X(), 25, "nndsvda", seed=0, dtype=np.float32)


def test_float32_x_is_never_copied():
    X = _X(300, 200)
    assert check_X(X, "float32") is X
    it = iterate_nmf(X, NMFParams(n_components=3))
    next(it)
    frame = it.gi_frame
    # the solver generator holds X itself, not a copy
    held = [v for v in _generator_locals(it) if isinstance(v, np.ndarray) and v.shape == X.shape]
    assert held and all(np.shares_memory(v, X) for v in held)
    assert frame is not None
    it.close()


def _generator_locals(gen):
    seen = []
    while gen is not None:
        frame = getattr(gen, "gi_frame", None)
        if frame is None:
            break
        seen.extend(frame.f_locals.values())
        gen = getattr(gen, "gi_yieldfrom", None)
    return seen


def test_float64_x_converted_once_for_float32():
    X64 = _X(dtype=np.float64)
    X32 = check_X(X64, "float32")
    assert X32.dtype == np.float32 and not np.shares_memory(X32, X64)
    assert check_X(X64, "float64") is X64
    fortran = np.asfortranarray(_X())
    assert check_X(fortran, "float32").flags.c_contiguous


@pytest.mark.parametrize("solver,loss", [("hals", "frobenius"), ("mu", "kl"), ("mu", "is")])
def test_peak_memory_well_below_a_copy_of_x(solver, loss):
    rng = np.random.default_rng(0)
    X = (rng.random((4000, 8)) @ rng.random((8, 2000))).astype(np.float32)  # 32 MB
    params = NMFParams(n_components=8, solver=solver, loss=loss, max_iter=5, tol=0.0)
    fit(X, params)  # warm-up: imports, caches
    tracemalloc.start()
    try:
        fit(X, params)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    factors = (X.shape[0] + X.shape[1]) * 8 * 4
    # a few factor-sized buffers plus 1-4 MB row blocks; no copy of X
    assert peak < 0.5 * X.nbytes, (peak, X.nbytes)
    assert peak < 3 * factors + 16 * 2**20, (peak, factors)


def test_randomized_svd_matches_exact():
    rng = np.random.default_rng(1)
    X = rng.random((300, 10)) @ rng.random((10, 200)) + 1e-3 * rng.random((300, 200))
    U, S, Vt = randomized_svd(X, 5, seed=0)
    S_exact = np.linalg.svd(X, compute_uv=False)[:5]
    assert np.allclose(S, S_exact, rtol=1e-6)
    assert U.shape == (300, 5) and Vt.shape == (5, 200)
    assert np.allclose((U * S) @ Vt, (U * S) @ Vt)
    U2, _, _ = randomized_svd(X, 5, seed=0)
    assert np.array_equal(U, U2)


def test_large_x_uses_randomized_init_and_is_seeded():
    rng = np.random.default_rng(2)
    X = (rng.random((1100, 4)) @ rng.random((4, 1000))).astype(np.float32)  # > 2**20 entries
    a = initialize(X, 4, "nndsvda", seed=3, dtype=np.float32)
    b = initialize(X, 4, "nndsvda", seed=3, dtype=np.float32)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[0].shape == (1100, 4) and a[0].dtype == np.float32 and np.all(a[0] >= 0)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_badly_scaled_x_is_refused_in_float32(scale):
    X = _X() * np.float32(scale)
    with pytest.raises(ParameterError, match="rescale"):
        fit(X, NMFParams(n_components=2, max_iter=5))
    # float64 has the range for it
    r = fit(X.astype(np.float64), NMFParams(n_components=2, max_iter=5, dtype="float64"))
    assert np.isfinite(r.loss)
