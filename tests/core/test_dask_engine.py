"""The distributed engine on a local Dask cluster (and on a scheduler and a worker
started as separate processes): the in-memory answer, faults, the command line.

Every cluster listens on 127.0.0.1 only and is shut down in a ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zarr")
distributed = pytest.importorskip("distributed")

from nmfviewer.cli import main  # noqa: E402
from nmfviewer.core import (  # noqa: E402
    Collection,
    DaskEngine,
    NMFParams,
    NMFViewerError,
    ParameterError,
    engine_from_spec,
    fit,
    load_collection,
)

ROOT = Path(__file__).resolve().parents[2]  # the checkout whose nmfviewer the workers import


from lazy_data import low_rank, rel  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    X = low_rank(130, 240, 5)
    store = Collection.from_array(X.reshape(130, 12, 20)).to_zarr(
        tmp_path_factory.mktemp("d") / "x.zarr", chunk_bytes=16 * 240 * 4
    )  # 16 rows per chunk: 9 blocks
    return X, load_collection(store).to_matrix()


@pytest.fixture(scope="module")
def client():
    env = {"PYTHONPATH": str(ROOT)}
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port: 8787 may be taken
        env=env,
    )
    try:
        c = distributed.Client(cluster)
        try:
            yield c
        finally:
            c.close()
    finally:
        cluster.close()


def test_kl_and_accelerated_hals_are_refused_before_any_cluster():
    X = low_rank(20, 30, 3)
    engine = DaskEngine(address="tcp://127.0.0.1:1")  # never contacted
    with pytest.raises(ParameterError, match="Frobenius"):
        fit(X, NMFParams(n_components=3, loss="kl"), engine=engine)
    with pytest.raises(ParameterError, match="plain HALS"):
        fit(X, NMFParams(n_components=3, hals_variant="accelerated"), engine=engine)
    with pytest.raises(ParameterError, match="local:N"):
        engine_from_spec(None, "remote:2")


@pytest.mark.slow
@pytest.mark.parametrize(("solver", "dtype"), [("hals", "float64"), ("mu", "float32")])
def test_two_workers_give_the_in_memory_answer(client, data, solver, dtype):
    X, lazy = data
    params = NMFParams(
        n_components=5, solver=solver, init="nndsvda", seed=4, tol=1e-3, max_iter=40, dtype=dtype
    )
    ref = fit(X, params)
    engine = DaskEngine(client, block_rows=16)
    got = fit(lazy, params, engine=engine)
    assert got.n_iter == ref.n_iter and got.stop_reason == ref.stop_reason
    tol = 1e-10 if dtype == "float64" else 1e-4  # float32: a one-ulp change of X does as much
    assert rel(ref.W, got.W) < tol and rel(ref.H, got.H) < tol
    assert got.engine["engine"] == "dask" and got.engine["workers"] == 2
    assert len(engine.blocks) == 9 and len(engine.groups) == 2
    if solver == "hals":  # an in-memory X is scattered to the workers once: the same answer
        mem = fit(X, params, engine=DaskEngine(client, block_rows=16))
        assert rel(got.H, mem.H) < tol


@pytest.mark.slow
def test_a_killed_worker_does_not_stop_the_fit(client, data):
    X, lazy = data
    params = NMFParams(n_components=5, init="nndsvda", seed=4, tol=0, max_iter=12, dtype="float64")
    ref = fit(X, params)
    # W gathered (a checkpoint) every iteration: the recovery repeats none
    engine = DaskEngine(client, block_rows=16, sync_seconds=0.0, worker_timeout=20)
    pids = client.run(os.getpid)

    def kill_one(state):
        if state.iteration == 5:
            os.kill(next(iter(pids.values())), signal.SIGKILL)

    got = fit(lazy, params, engine=engine, callback=kill_one)
    assert engine.recoveries >= 1
    assert got.n_iter == 12 and rel(ref.H, got.H) < 1e-10 and rel(ref.W, got.W) < 1e-10
    client.wait_for_workers(2, timeout=30)  # the nanny brought it back


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_scheduler_and_worker_as_processes(data, tmp_path):
    X, lazy = data
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dask_cli = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen(
        [*dask_cli, "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        params = NMFParams(
            n_components=5, init="nndsvda", seed=4, tol=1e-4, max_iter=25, dtype="float64"
        )
        # a scheduler without workers: a clear error, not a hang
        deadline = time.monotonic() + 60
        while True:
            try:
                fit(lazy, params, engine=DaskEngine(address=address, worker_timeout=2))
            except NMFViewerError as exc:
                if "no workers" in str(exc):
                    break
                if "cannot reach" not in str(exc) or time.monotonic() > deadline:
                    raise  # not the scheduler still starting
            else:
                pytest.fail("a fit ran on a cluster without workers")
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
             "--no-dashboard", "--host", "127.0.0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        out = tmp_path / "out"
        args = ["fit", str(lazy.path), "-k", "5", "--seed", "4", "--dtype", "float64"]
        args += ["--init", "nndsvda", "--max-iter", "25", "--scheduler", address]
        code = main([*args, "--out", str(out), "-q"])
        assert code == 0
        run = json.loads((out / "run.json").read_text())
        assert run["result"]["engine"]["engine"] == "dask"
        assert run["result"]["engine"]["workers"] == 1
        ref = fit(X, params)
        got = np.load(out / "factors.npz")
        assert rel(ref.H, got["H"]) < 1e-10
        assert run["result"]["n_iter"] == ref.n_iter
        # the replay runs here, streamed from the store: the same factors
        assert (
            main(["fit", "--replay", str(out / "run.json"), "--out", str(tmp_path / "r"), "-q"])
            == 0
        )
        again = np.load(tmp_path / "r" / "factors.npz")
        assert rel(got["H"], again["H"]) < 1e-10
    finally:
        if worker is not None:
            _stop(worker)
        _stop(scheduler)


def test_unreachable_scheduler_is_one_line_and_exit_2(data, tmp_path, capsys):
    port = _free_port()  # nothing listens there
    code = main(["fit", str(data[1].path), "-k", "3", "--scheduler", f"127.0.0.1:{port}",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot reach the Dask scheduler" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_local_cluster(data, tmp_path):
    out = tmp_path / "o"
    code = main(["fit", str(data[1].path), "-k", "4", "--max-iter", "5", "--cluster", "local:2",
                 "--out", str(out), "-q"])  # fmt: skip
    assert code == 0
    engine = json.loads((out / "run.json").read_text())["result"]["engine"]
    assert engine["engine"] == "dask" and engine["workers"] == 2 and engine["scheduler"] == "local"
