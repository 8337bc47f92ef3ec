"""The cost of a masked NMF iteration next to an unmasked one (issue 10, target <= 1.5x).

Run::

    python benchmarks/bench_mask.py [--quick] [--problems faces,olivetti] [--repeats R]

For each reference problem (``problems.py``; faces 2429 x 361 k=49 and
olivetti 400 x 4096 k=16 by default) and each solver (HALS; MU with the KL
loss), the seconds per iteration of the unmasked solver and of the masked one
with 10 % and 30 % of the entries missing (speckled, ``split_holdout``), all
from the same start factors, measured interleaved (unmasked, 10 %, 30 %,
unmasked, ...) ``--repeats`` times. The figure per run is the median gap
between consecutive iterations (the first two skipped) in CPU seconds of the
process with one BLAS thread (``--threads``, ``--wall`` for wall time: on a
shared machine the wall clock mostly measures the neighbours); the reported
ratio is the median over repeats of masked / unmasked within each repeat.

HALS is measured with hals_variant 'plain' (one sweep per half-step, masked
and unmasked) and 'auto' (the default: on these problems the unmasked solver
accelerates, inner sweeps plus extrapolation; the masked one uses the same
inner sweeps, without extrapolation).

Writes benchmarks/results/mask-<date>-<cpu>.json (or --json PATH) and prints a
table. The machine's load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
# measure the checkout this file is in (not whichever nmfviewer is installed)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import machine
import numpy as np
import problems

FRACTIONS = (0.1, 0.3)


#: the clock of the figures: CPU seconds of this process (with one BLAS thread, the
#: compute itself; on a shared machine wall time mostly measures the neighbours)
CLOCK = time.process_time


def per_iteration(X, W0, H0, params, mask, n_iter: int, warmup: int = 2) -> float:
    """Median seconds (CLOCK) between consecutive iterations of iterate_nmf."""
    from nmfviewer.core import iterate_nmf

    gen = iterate_nmf(X, params, W0=W0.copy(), H0=H0.copy(), mask=mask)
    stamps = []
    for state in gen:
        stamps.append(CLOCK())
        if state.iteration >= n_iter:
            break
    gen.close()
    return float(median(np.diff(stamps)[warmup:]))


def configs(k: int) -> dict:
    """name -> NMFParams of the solvers compared (masked and unmasked alike)."""
    from nmfviewer.core import NMFParams

    def p(**kw):
        return NMFParams(n_components=k, seed=0, tol=0.0, max_iter=10**6, **kw)

    return {
        "hals": p(solver="hals", hals_variant="plain"),
        "hals-auto": p(solver="hals", hals_variant="auto"),
        "kl": p(solver="mu", loss="kl"),
    }


def run_problem(prob, repeats: int, n_iter: dict[str, int]) -> dict:
    from nmfviewer.core import split_holdout

    X = problems.make_X(prob)
    W0, H0 = problems.nndsvda(X, prob.k)
    masks = {f: split_holdout(X.shape, f, seed=0)[0] for f in FRACTIONS}
    out: dict = {"problem": prob.describe()}
    for name, params in configs(prob.k).items():
        its = n_iter["kl" if name == "kl" else "hals"]
        # one untimed pass of each: numba compiles, caches warm
        for mask in (None, *masks.values()):
            per_iteration(X, W0, H0, params, mask, 3, warmup=0)
        rows: dict[str, list[float]] = {"unmasked": []}
        rows.update({str(f): [] for f in FRACTIONS})
        for _ in range(repeats):  # interleaved: unmasked, 10 %, 30 %, unmasked, ...
            rows["unmasked"].append(per_iteration(X, W0, H0, params, None, its))
            for f, mask in masks.items():
                rows[str(f)].append(per_iteration(X, W0, H0, params, mask, its))
        entry: dict = {
            "params": {"solver": params.solver, "loss": params.loss,
                       "hals_variant": params.hals_variant},
            "iterations_per_run": its,
            "unmasked_s": median(rows["unmasked"]),
            "unmasked_all": rows["unmasked"],
            "masked": {},
        }  # fmt: skip
        for f in FRACTIONS:
            seconds = rows[str(f)]
            ratio = [s / u for s, u in zip(seconds, rows["unmasked"], strict=True)]
            entry["masked"][str(f)] = {
                "seconds": median(seconds),
                "ratio": median(ratio),
                "ratio_all": ratio,
            }
        out[name] = entry
        print(_line(prob.name, name, entry), flush=True)
    return out


def _line(problem: str, solver: str, e: dict) -> str:
    cells = [f"{problem:9s} {solver:9s} unmasked {e['unmasked_s'] * 1e3:8.2f} ms/it"]
    for f, m in e["masked"].items():
        cells.append(f"{float(f):.0%} missing {m['seconds'] * 1e3:8.2f} ms ({m['ratio']:.2f}x)")
    return " | ".join(cells)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny problems: a harness smoke test")
    ap.add_argument("--problems", default="faces,olivetti")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, help="where the numbers go")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    ap.add_argument(
        "--wall", action="store_true", help="time by the wall clock instead of CPU time"
    )
    args = ap.parse_args(argv)
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    from nmfviewer.core import configure_blas_threads

    configure_blas_threads(args.threads)
    started = datetime.now(UTC)
    table = problems.QUICK if args.quick else problems.FULL
    names = [s.strip() for s in args.problems.split(",") if s.strip()]
    n_iter = {"hals": 10, "kl": 6} if args.quick else {"hals": 40, "kl": 15}
    repeats = 1 if args.quick else args.repeats
    info = machine.describe()
    result: dict = {
        "kind": "mask",
        "started": started.isoformat(),
        "machine": info,
        "load_before": os.getloadavg(),
        "repeats": repeats,
        "blas_threads": args.threads,
        "clock": "wall" if args.wall else "process CPU time",
        "fractions": list(FRACTIONS),
        "target_ratio": 1.5,
        "problems": {},
    }
    for name in names:
        result["problems"][name] = run_problem(table[name], repeats, n_iter)
    result["load_after"] = os.getloadavg()
    path = args.json or Path(machine.result_path("mask", started, info))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"load {result['load_before'][0]:.2f} -> {result['load_after'][0]:.2f}; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
