"""Beyond memory: the streamed and the distributed fit against the in-memory one.

Side by side, per iteration (plain HALS, the variant the blocked engines run):

1. in memory vs streamed from a zarr store in the page cache, on the ``large``
   problem (20,000 x 4,096, k = 32, benchmarks/problems.py) and on a synthetic
   store of about ``--big-gb`` GB;
2. the Dask engine on a LocalCluster of 1 and 2 single-threaded workers vs in
   memory (same BLAS threads in total): seconds per iteration, the scheduler
   overhead per iteration (the same engine on a tiny store, where compute is
   nil) and the bytes moved per iteration (from the engine's layout);
3. scikit-learn's MiniBatchNMF fed the same store block by block (partial_fit)
   vs our streamed HALS: the relative error reached after the same seconds.

Writes benchmarks/results/stream-<date>-<machine>.json (or --json PATH). The
machine's load average is recorded: on a shared machine the ratios, not the
seconds, are the result. Usage::

    python benchmarks/bench_stream.py            # the full run (~10 min on 2 cores)
    python benchmarks/bench_stream.py --quick    # small sizes, a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.machine import describe as describe_machine
from benchmarks.machine import result_path
from benchmarks.problems import FULL, QUICK, make_X
from nmfviewer.core import (
    Collection,
    DaskEngine,
    NMFParams,
    NMFRun,
    StreamedEngine,
    configure_blas_threads,
    load_collection,
)


def per_iteration(X, params, engine=None, iters: int = 8) -> dict:
    """Median seconds per iteration over ``iters`` iterations (after the first)."""
    run = NMFRun(X, params, engine=engine)
    stamps = [state.elapsed for state in run]
    steps = np.diff(stamps[1:])  # iteration 0 holds the set-up and the first pass
    return {"per_iteration_s": float(np.median(steps)), "iterations": len(stamps) - 1}


def synthetic_store(path: Path, n: int, m: int, k: int, seed: int = 0) -> Path:
    """A low-rank + noise store of n x m float32 written block by block (never in memory)."""
    import zarr

    rng = np.random.default_rng(seed)
    H = rng.random((k, m), dtype=np.float32)
    rows = max(1, (8 << 20) // (m * 4))
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
    X = group.create_array(
        "X", shape=(n, m), chunks=(rows, m), dtype="float32", compressors=None, fill_value=0.0
    )
    lo, hi, total, sq = np.inf, -np.inf, 0.0, 0.0
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        block = rng.random((r1 - r0, k), dtype=np.float32) @ H
        block += 0.05 * rng.random(block.shape, dtype=np.float32)
        X[r0:r1] = block
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
        total += float(block.sum(dtype=np.float64))
        sq += float(np.dot(block.ravel().astype(np.float64), block.ravel().astype(np.float64)))
    group.attrs["nmfviewer"] = {
        "format": 1,
        "names": [f"row {i}" for i in range(n)],
        "image_shape": [1, m],
        "stats": {"min": lo, "max": hi, "sum": total, "sqnorm": sq},
        "complete": True,
    }
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return path


def warm(X) -> None:
    """Read the whole store once: it is in the page cache for the timed runs."""
    for r0, r1 in X.blocks():
        X.read(r0, r1)


def minibatch_peer(X, k: int, seconds: float, seed: int) -> dict:
    """MiniBatchNMF.partial_fit over the store's blocks for ``seconds``; its error then."""
    from sklearn.decomposition import MiniBatchNMF

    model = MiniBatchNMF(n_components=k, init="random", random_state=seed, max_iter=1)
    spent, epochs = 0.0, 0
    while spent < seconds:
        for r0, r1 in X.blocks():
            t = time.perf_counter()
            model.partial_fit(X.read(r0, r1))
            spent += time.perf_counter() - t
            if spent >= seconds:
                break
        epochs += 1
    H = model.components_.astype(np.float32)
    err = 0.0
    for r0, r1 in X.blocks():  # the error of the basis reached, with W solved per block
        Xb = X.read(r0, r1)
        W = model.transform(Xb)
        R = Xb - W @ H
        err += float(np.dot(R.ravel(), R.ravel()))
    return {"seconds": spent, "epochs": epochs, "rel_error": float(np.sqrt(err / X.stats().sqnorm))}


def ours_for(X, k: int, seconds: float, seed: int) -> dict:
    params = NMFParams(n_components=k, init="random", seed=seed, tol=0, max_iter=10**6,
                       time_budget=seconds, hals_variant="plain")  # fmt: skip
    run = NMFRun(X, params)
    for _ in run:
        pass
    r = run.result()
    return {
        "seconds": r.elapsed,
        "iterations": r.n_iter,
        "rel_error": float(np.sqrt(2 * r.loss / X.stats().sqnorm)),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    ap.add_argument("--big-gb", type=float, default=1.0, help="size of the synthetic store")
    ap.add_argument("--iters", type=int, default=8, help="iterations timed per case")
    ap.add_argument("--dir", type=Path, default=None, help="where the stores go (a temp dir)")
    ap.add_argument("--json", type=Path, default=None, help="output file")
    ap.add_argument("--parts", default="large,big,peer", help="which parts to run")
    ap.add_argument("--peer-seconds", type=float, default=30.0, help="the peer's time budget")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    started = datetime.now()
    work = args.dir or Path(tempfile.mkdtemp(prefix="nmf-stream-"))
    work.mkdir(parents=True, exist_ok=True)
    configure_blas_threads(2)
    results: dict = {"machine": describe_machine(), "load_before": os.getloadavg()}
    iters = args.iters
    try:
        # -- 1. the large problem: in memory, streamed, Dask on 1 and 2 workers
        problem = (QUICK if args.quick else FULL)["large"]
        X = make_X(problem)
        k = problem.k
        params = NMFParams(n_components=k, init="random", seed=0, tol=0, max_iter=iters,
                           hals_variant="plain")  # fmt: skip
        store = Collection.from_array(X).to_zarr(work / "large.zarr", overwrite=True)
        lazy = load_collection(store).to_matrix()
        warm(lazy)
        rows = {"shape": list(X.shape), "k": k}
        if "large" in parts:
            results["large"] = large_part(X, lazy, params, rows, iters, work)
        del X
        if "big" in parts:
            results["big_store"] = big_part(args, work, iters)
        if "peer" in parts:
            seconds = 5.0 if args.quick else args.peer_seconds
            results["peer"] = {
                "seconds": seconds,
                "store": "large",
                "init": "random (both)",
                "nmfviewer_streamed_hals": ours_for(lazy, k, seconds, 0),
                "sklearn_minibatchnmf": minibatch_peer(lazy, k, seconds, 0),
            }
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    results["load_after"] = os.getloadavg()
    out = args.json or Path(result_path("stream", started, results["machine"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float) + "\n")
    print(
        json.dumps(
            {key: results[key] for key in ("large", "big_store", "peer") if key in results},
            indent=1,
        )
    )
    print(out)
    return 0


def large_part(X, lazy, params, rows, iters, work):
    """In memory, streamed, Dask on 1 and 2 workers, on the large problem."""
    k = params.n_components
    # alternated (memory, streamed, memory, streamed): a shared machine's load drifts
    mem, stream = [], []
    for _ in range(2):
        mem.append(per_iteration(X, params, iters=iters)["per_iteration_s"])
        stream.append(per_iteration(lazy, params, StreamedEngine(), iters)["per_iteration_s"])
    rows["memory"] = {"per_iteration_s": min(mem), "runs": mem}
    rows["streamed"] = {"per_iteration_s": min(stream), "runs": stream}
    for workers in (1, 2):
        with DaskEngine(n_workers=workers) as engine:
            rows[f"dask_{workers}"] = per_iteration(lazy, params, engine, iters)
            rows[f"dask_{workers}"]["bytes"] = engine_bytes(engine, k, X.shape[1])
            rows[f"dask_{workers}"]["blocks"] = len(engine.blocks)
            tiny = Collection.from_array(np.random.default_rng(0).random((64, 64)))
            tiny_store = tiny.to_zarr(work / "tiny.zarr", overwrite=True, chunk_bytes=4096)
            tiny_X = load_collection(tiny_store).to_matrix()
            tp = NMFParams(n_components=2, init="random", seed=0, tol=0, max_iter=iters)
            over = per_iteration(tiny_X, tp, DaskEngine(engine.client, block_rows=16), iters)
            rows[f"dask_{workers}"]["overhead_s"] = over["per_iteration_s"]
    base = rows["memory"]["per_iteration_s"]
    for name in ("streamed", "dask_1", "dask_2"):
        rows[name]["vs_memory"] = rows[name]["per_iteration_s"] / base
    return rows


def big_part(args, work, iters):
    """A 1-2 GB store in the page cache: streamed vs in memory."""
    gb = 0.05 if args.quick else args.big_gb
    m = 4096
    n = int(gb * 2**30 / (4 * m))
    big = synthetic_store(work / "big.zarr", n, m, 32)
    lazy_big = load_collection(big).to_matrix()
    warm(lazy_big)
    bp = NMFParams(n_components=32, init="random", seed=0, tol=0, max_iter=max(3, iters // 2),
                   hals_variant="plain")  # fmt: skip
    brow = {"shape": [n, m], "gb": n * m * 4 / 2**30}
    brow["streamed"] = per_iteration(lazy_big, bp, StreamedEngine(), bp.max_iter)
    Xbig = np.asarray(lazy_big)
    brow["memory"] = per_iteration(Xbig, bp, iters=bp.max_iter)
    brow["streamed"]["vs_memory"] = (
        brow["streamed"]["per_iteration_s"] / brow["memory"]["per_iteration_s"]
    )
    return brow


def engine_bytes(engine, k: int, m: int) -> dict:
    """Bytes one iteration moves (H and B down to each worker, the groups' sums up)."""
    workers = len(engine.client.scheduler_info(n_workers=-1)["workers"])
    down = (k * m + k * k) * 4 * workers
    up = (k * m + k * k + 1) * 8 * len(engine.groups)
    return {"down": down, "up": up, "total": down + up}


if __name__ == "__main__":
    raise SystemExit(main())
