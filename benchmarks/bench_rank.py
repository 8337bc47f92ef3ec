"""The cost of a cross-validated k sweep against one converged fit, side by side.

```
python benchmarks/bench_rank.py                  # k = 2..20, 3 repeats, 400 x 10,304 faces
python benchmarks/bench_rank.py --quick          # tiny: a smoke test, numbers mean nothing
python benchmarks/bench_rank.py --cold           # also the sweep without warm starts
python benchmarks/bench_rank.py --json out.json
```

The data: 400 face images of 112 x 92 pixels (the AT&T / ORL "olivetti" size,
400 x 10,304), built like the benchmark's reference faces (``problems.py``: the 100
faces of scikit-image's ``lfw_subset``, cropped, flipped, re-lit, plus noise).

Measured, in one process, with the same BLAS threads ('auto' or ``--threads``):

1. one converged fit at the sweep's largest k (``fit``, default parameters: HALS,
   tol 1e-6, nndsvda start): seconds, iterations;
2. the sweep (``RankSweep``: holdout 0.1, ``--reps`` repeats, early stopping, warm
   starts): seconds, iterations per k, the suggested k;
3. the ratio sweep / fit (issue 10's target: at most 15x);
4. peak memory of each beyond what was held before it (VmHWM, reset before each;
   a 1 ms RSS poller where the reset is not permitted), in MB and in copies of X.
   The sweep holds, per repeat, its training mask (1 byte per entry) and its
   held-out entries (16 bytes each), the chains' factors, and the masked solver's
   row blocks: never an n x n matrix.

The machine load (``os.getloadavg``) is printed beside the numbers: on a loaded
machine both sides slow down alike, but the ratio is the figure to read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, one_line
from problems import Problem, make_X

from nmfviewer.core import (
    NMFParams,
    RankRow,
    RankSweep,
    configure_blas_threads,
    current_blas_threads,
    fit,
)

FACES = Problem("orl", "faces", 400, (112, 92), 20, seed=5, repeats=1)
QUICK = Problem("orl", "faces", 60, (24, 20), 6, seed=5, repeats=1)
MB = 2**20


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


class PeakMemory:
    """Peak resident memory of a block beyond the resident memory before it."""

    def __enter__(self) -> PeakMemory:
        self.exact = True
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")
        except OSError:
            self.exact = False
        self.base_kb = _status_kb("VmRSS")
        self.peak_kb = self.base_kb
        self._stop = threading.Event()
        self._poller = None
        if not self.exact:
            self._poller = threading.Thread(target=self._poll, daemon=True)
            self._poller.start()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _status_kb("VmRSS"))
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        if self._poller is not None:
            self._stop.set()
            self._poller.join()
        else:
            self.peak_kb = _status_kb("VmHWM")

    @property
    def extra_bytes(self) -> int:
        return max(0, self.peak_kb - self.base_kb) * 1024


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_sweep(X, ks: str, reps: int, warm: bool) -> dict:
    params = NMFParams(n_components=1, seed=0)
    rows: list[RankRow] = []
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        sweep = RankSweep(X, ks, params, reps=reps, warm_start=warm)
        for item in sweep:
            if isinstance(item, RankRow):
                rows.append(item)
                log(
                    f"  k={item.k:2d}: test {item.test_error:.5g} ± {item.test_error_sd:.2g}  "
                    f"stability {item.stability_mean:.3f}/{item.stability_min:.3f}  "
                    f"{item.iterations:4d} it/fit  {item.seconds:6.2f} s"
                )
        seconds = time.perf_counter() - t0
    result = sweep.result()
    return {
        "seconds": seconds,
        "suggested_k": result.suggested_k,
        "peak_extra_bytes": mem.extra_bytes,
        "peak_exact": mem.exact,
        "rows": [row.summary() for row in rows],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also sweep without warm starts")
    parser.add_argument("--threads", default="auto", help="BLAS threads (default auto)")
    parser.add_argument("--json", type=Path, help="write every number here")
    ns = parser.parse_args(argv)

    problem = QUICK if ns.quick else FACES
    X = make_X(problem)
    k_max = problem.k
    ks = f"2:{k_max}"
    threads = ns.threads if ns.threads == "auto" else int(ns.threads)
    configure_blas_threads(threads, shape=X.shape, n_components=k_max)
    machine = describe()
    log(f"{one_line(machine)}; BLAS threads {current_blas_threads()}")
    log(f"X: {X.shape[0]} x {X.shape[1]} float32 ({X.nbytes / MB:.1f} MB); load {os.getloadavg()}")

    # numba kernels compiled / loaded before any clock runs
    for _ in RankSweep(X[:20, :50].copy(), "1:2", NMFParams(n_components=1), reps=2):
        pass

    log(f"one converged fit at k={k_max} (defaults: HALS, tol 1e-6)")
    with PeakMemory() as fit_mem:
        t0 = time.perf_counter()
        one = fit(X, NMFParams(n_components=k_max, seed=0))
        fit_seconds = time.perf_counter() - t0
    log(f"  {fit_seconds:.2f} s, {one.n_iter} iterations, stop: {one.stop_reason}")

    log(f"sweep k = {ks}, {ns.reps} repeats, holdout 0.1, warm starts")
    warm = run_sweep(X, ks, ns.reps, warm=True)
    cold = None
    if ns.cold:
        log(f"sweep k = {ks}, {ns.reps} repeats, holdout 0.1, cold starts")
        cold = run_sweep(X, ks, ns.reps, warm=False)
    load_after = os.getloadavg()

    ratio = warm["seconds"] / fit_seconds
    lines = [
        f"machine: {one_line(machine)}; BLAS threads {current_blas_threads()}; "
        f"load average {load_after[0]:.1f}",
        f"data: {X.shape[0]} x {X.shape[1]} faces, float32, {X.nbytes / MB:.1f} MB",
        f"{'':34s}{'seconds':>10s}{'vs fit':>9s}{'peak MB':>10s}{'x X':>6s}",
        f"{'one converged fit, k=' + str(k_max):34s}{fit_seconds:10.2f}{1.0:9.2f}"
        f"{fit_mem.extra_bytes / MB:10.1f}{fit_mem.extra_bytes / X.nbytes:6.2f}",
        f"{'sweep 2..' + str(k_max) + ' x' + str(ns.reps) + ', warm starts':34s}"
        f"{warm['seconds']:10.2f}{ratio:9.2f}{warm['peak_extra_bytes'] / MB:10.1f}"
        f"{warm['peak_extra_bytes'] / X.nbytes:6.2f}",
    ]
    if cold is not None:
        lines.append(
            f"{'sweep 2..' + str(k_max) + ' x' + str(ns.reps) + ', cold starts':34s}"
            f"{cold['seconds']:10.2f}{cold['seconds'] / fit_seconds:9.2f}"
            f"{cold['peak_extra_bytes'] / MB:10.1f}{cold['peak_extra_bytes'] / X.nbytes:6.2f}"
        )
    lines.append(
        f"target: sweep <= 15x one converged fit: {'met' if ratio <= 15 else 'NOT met'} "
        f"({ratio:.1f}x); suggested k = {warm['suggested_k']}"
    )
    print("\n".join(lines))
    if ns.json is not None:
        doc = {
            "machine": machine,
            "blas_threads": current_blas_threads(),
            "load_average_after": load_after,
            "shape": list(X.shape),
            "fit": {
                "k": k_max,
                "seconds": fit_seconds,
                "iterations": one.n_iter,
                "stop_reason": one.stop_reason,
                "peak_extra_bytes": fit_mem.extra_bytes,
            },
            "sweep_warm": warm,
            "sweep_cold": cold,
            "ratio": ratio,
        }
        ns.json.write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
