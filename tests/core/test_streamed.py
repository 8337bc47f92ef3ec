"""The streamed engine: the in-memory iterates from blocks of a store, in bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

pytest.importorskip("zarr")

from lazy_data import low_rank, rel

from nmfviewer.cli import main
from nmfviewer.core import (
    Collection,
    NMFParams,
    NMFRun,
    ParameterError,
    StreamedEngine,
    fit,
    load_collection,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    X = low_rank(130, 240, 5)
    store = Collection.from_array(X.reshape(130, 12, 20)).to_zarr(
        tmp_path_factory.mktemp("s") / "x.zarr", chunk_bytes=24 * 240 * 4
    )  # 24 rows per chunk: 6 blocks, the last one short
    return X, load_collection(store).to_matrix()


@pytest.mark.parametrize(
    ("solver", "loss", "init"),
    [("hals", "frobenius", "nndsvda"), ("mu", "frobenius", "random"), ("mu", "kl", "nndsvda")],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_streamed_equals_in_memory(data, solver, loss, init, dtype):
    """Same stop, same iteration count, the same factors to rounding: in float64 to
    1e-10; in float32 the difference is what a one-ulp change of X makes (measured:
    ~2e-5 after 100 iterations, either way), so 1e-4."""
    X, lazy = data
    params = NMFParams(
        n_components=5,
        solver=solver,
        loss=loss,
        init=init,
        seed=3,
        tol=1e-4,
        max_iter=150,
        dtype=dtype,
    )
    ref = fit(X, params)
    got = fit(lazy, params, engine=StreamedEngine(block_rows=24))
    assert got.n_iter == ref.n_iter and got.stop_reason == ref.stop_reason
    tol = 1e-10 if dtype == "float64" else 1e-4
    assert rel(ref.W, got.W) < tol and rel(ref.H, got.H) < tol
    if loss == "frobenius":  # the trace trick, to the precision the stop rule needs
        X64 = X.astype(np.float64)
        exact = 0.5 * float(np.sum((X64 - got.W.astype(np.float64) @ got.H) ** 2))
        assert got.loss == pytest.approx(exact, rel=1e-4 if dtype == "float32" else 1e-10)
    assert got.engine["engine"] == "streamed" and got.engine["store"].endswith("x.zarr")


def test_a_lazy_x_runs_streamed_by_default_and_records_plain_hals(data):
    X, lazy = data
    params = NMFParams(n_components=5, seed=1, max_iter=30)
    run = NMFRun(lazy, params)
    assert isinstance(run.engine, StreamedEngine)
    for _ in run:
        pass
    result = run.result()
    assert result.params.hals_variant == "plain"
    again = fit(X, result.params)  # the record replays in memory
    assert rel(again.H, result.H) < 1e-5


def test_in_memory_array_in_blocks(data):
    X, _ = data
    params = NMFParams(n_components=5, seed=2, max_iter=40, tol=0, hals_variant="plain")
    ref = fit(X, params)
    got = fit(X, params, engine=StreamedEngine(block_rows=50))
    assert rel(ref.W, got.W) < 1e-5 and got.n_iter == 40


def test_accelerated_hals_is_refused(data):
    with pytest.raises(ParameterError, match="plain HALS"):
        NMFRun(data[1], NMFParams(n_components=3, hals_variant="accelerated"))


def test_cancel_stops_a_streamed_run(data):
    import threading

    cancel = threading.Event()
    run = NMFRun(data[1], NMFParams(n_components=3, seed=0, tol=0, max_iter=1000), cancel=cancel)
    for state in run:
        if state.iteration == 4:
            cancel.set()
    assert run.result().stop_reason == "cancelled" and run.result().n_iter == 5


def test_peak_memory_is_bounded_by_the_limit(tmp_path):
    """A 49 MB store fitted under a 16 MB limit: W, H, products and a few blocks only."""
    n, m = 3000, 4096
    rng = np.random.default_rng(0)
    store = tmp_path / "big.zarr"
    images = np.empty((n, m), dtype=np.float32)
    images[:] = rng.random((1, m), dtype=np.float32)
    images *= rng.random((n, 1), dtype=np.float32)
    Collection.from_array(images).to_zarr(store, chunk_bytes=1 << 20)
    del images
    lazy = load_collection(store).to_matrix()
    limit = 16 << 20
    assert lazy.nbytes > 2 * limit
    params = NMFParams(n_components=4, seed=0, max_iter=3, tol=0, init="random")
    fit(low_rank(20, 30, 4), params)  # numba's kernels loaded first: not the data's memory
    tracemalloc.start()
    try:
        result = fit(lazy, params, engine=StreamedEngine(max_memory=limit))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.n_iter == 3
    assert peak < limit, f"peak {peak / 2**20:.1f} MB over the {limit / 2**20:.0f} MB limit"
    with pytest.raises(ParameterError, match="memory limit"):
        NMFRun(lazy, params, engine=StreamedEngine(max_memory=4 << 20))


def test_cli_fit_store_within_max_memory(data, tmp_path, capsys):
    store = data[1].path
    code = main(["fit", str(store), "-k", "3", "--max-memory", "1M", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "memory limit" in err and "--max-memory" in err
    out = tmp_path / "o2"
    assert main(["fit", str(store), "-k", "3", "--max-memory", "50M", "--out", str(out), "-q"]) == 0
    assert main(["fit", "--replay", str(out / "run.json"), "--out", str(tmp_path / "r"), "-q"]) == 0
    a, b = np.load(out / "factors.npz"), np.load(tmp_path / "r" / "factors.npz")
    np.testing.assert_array_equal(a["W"], b["W"])
