"""Live-view overhead: the GUI's fit worker against a plain headless fit.

Run as a script (the benchmark starts it in its own process, so Qt never loads
into the process that times the solvers)::

    python benchmarks/live_view.py PROBLEM [--quick] [--iters N | --seconds S] [--repeats R]

Both sides run the same fixed number of HALS iterations from the same nndsvda
factors, in this one process, alternating (headless, worker, headless, ...):

- headless: ``iterate_nmf`` + ``StopRule`` in a plain loop, nothing else;
- worker: ``nmfviewer.gui.worker.FitWorker`` in its QThread with its default
  snapshot rate (SNAPSHOT_INTERVAL), a QCoreApplication event loop in the main
  thread taking every update it is told about (``take_update``) and touching
  the basis images as a view would (a per-image min/max for display levels).

Throughput is iterations per second; overhead = 1 - worker / headless.
Printed as one JSON line. The rendering cost of the real views (pyqtgraph in
the GUI thread) is not included: that is the GUI's own budget.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from statistics import median

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from problems import FULL, QUICK, make_X, nndsvda


def _params(k: int, n_iter: int):
    from nmfviewer.core import NMFParams

    # tol=0: only max_iter stops the run (HALS never increases the loss)
    return NMFParams(n_components=k, init="custom", seed=0, tol=0.0, max_iter=n_iter)


def headless(X, W0, H0, k: int, n_iter: int) -> dict:
    """Iterations per second of the run driver (NMFRun) alone, as fit() runs it."""
    from nmfviewer.core import NMFRun

    params = _params(k, n_iter)
    t0 = time.perf_counter()
    run = NMFRun(X, params, W0=W0.copy(), H0=H0.copy())
    t_first = None
    for state in run:  # noqa: B007 - the last state is read after the loop
        if t_first is None:
            t_first = time.perf_counter()
    end = time.perf_counter()
    elapsed = end - t0
    return {
        "iterations": state.iteration,
        "seconds": elapsed,
        "it_per_s": state.iteration / elapsed,
        # iterations per second after the first yield (no set-up): for calibration
        "steady_it_per_s": state.iteration / max(end - t_first, 1e-9),
    }


def worker(app, X, W0, H0, k: int, n_iter: int) -> dict:
    """Iterations per second of the GUI's FitWorker, updates consumed in the main thread."""
    from PySide6.QtCore import QEventLoop

    from nmfviewer.gui.worker import FitWorker

    loop = QEventLoop()
    seen = {"updates": 0, "last": None, "failed": None}
    w = FitWorker(1, X, _params(k, n_iter), W0=W0.copy(), H0=H0.copy())

    def on_update() -> None:
        update = w.take_update()
        if update is None:
            return
        seen["updates"] += 1
        seen["last"] = update
        H = update.state.H  # what a basis view does before setImage: display levels
        H.min(axis=1), H.max(axis=1)

    def on_failed(_run_id, message, _details) -> None:
        seen["failed"] = message

    w.updateReady.connect(on_update)
    w.failed.connect(on_failed)
    w.finished.connect(loop.quit)
    t0 = time.perf_counter()
    w.start()
    loop.exec()
    w.wait()
    elapsed = time.perf_counter() - t0
    app.processEvents()
    last = w.take_update() or seen["last"]
    if seen["failed"]:
        raise RuntimeError(seen["failed"])
    iterations = last.state.iteration
    return {
        "iterations": iterations,
        "seconds": elapsed,
        "it_per_s": iterations / elapsed,
        "updates": seen["updates"],
        "stop_reason": last.state.stop_reason,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="live-view overhead on one problem")
    ap.add_argument("problem", choices=sorted(FULL))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one run")
    args = ap.parse_args(argv)
    from PySide6.QtCore import QCoreApplication

    from nmfviewer.gui import worker as worker_module

    app = QCoreApplication.instance() or QCoreApplication([])
    p = (QUICK if args.quick else FULL)[args.problem]
    X = make_X(p)
    W0, H0 = nndsvda(X, p.k)
    n_iter = args.iters
    # calibration (also a warm-up, so neither side pays first-run costs):
    # about `seconds` per run
    calib = headless(X, W0, H0, p.k, 20)
    if n_iter is None:
        n_iter = int(np.clip(args.seconds * calib["steady_it_per_s"], 20, 20_000))
    head, work = [], []
    for _ in range(args.repeats):
        head.append(headless(X, W0, H0, p.k, n_iter))
        work.append(worker(app, X, W0, H0, p.k, n_iter))
    h = median(r["it_per_s"] for r in head)
    wk = median(r["it_per_s"] for r in work)
    print(
        json.dumps(
            {
                "problem": p.name,
                "description": p.describe(),
                "n_iter": n_iter,
                "repeats": args.repeats,
                "snapshot_interval_s": getattr(worker_module, "SNAPSHOT_INTERVAL", None),
                "headless_it_per_s": h,
                "worker_it_per_s": wk,
                "ratio": wk / h,
                "overhead": 1.0 - wk / h,
                # fastest run of each side: less sensitive to bursts of other work on the machine
                "ratio_best_of": max(r["it_per_s"] for r in work)
                / max(r["it_per_s"] for r in head),
                "updates_per_run": [r["updates"] for r in work],
                "headless_runs": head,
                "worker_runs": work,
                "loadavg_1min": os.getloadavg()[0],
            },
            default=float,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
