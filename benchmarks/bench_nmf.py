"""nmfviewer against scikit-learn's NMF, side by side, in one process.

    python benchmarks/bench_nmf.py [--quick] [--json FILE] [--markdown FILE] [--problems a,b]

For each reference problem (see problems.py) both sides start from the same
nndsvda factors (computed once, passed as init='custom'), float32, and the runs
alternate (scikit-learn, nmfviewer, scikit-learn, ...) so machine noise hits
both alike; figures are medians. Per problem:

1. time for each scikit-learn solver ('cd', 'mu', tol=1e-4; also tol=1e-5 when
   it stopped after a handful of iterations) to reach its own converged error,
   and the time nmfviewer takes to reach that same ||X - WH||_F; the smallest
   ratio (the hardest comparison for nmfviewer) is the headline;
2. seconds per plain-HALS iteration against the two GEMMs X·Hᵀ and Wᵀ·X alone;
3. peak memory of one fit per side, each in a fresh process (memprobe.py);
4. KL-divergence multiplicative updates: seconds per iteration, both sides;
5. the final error at convergence of both sides.

``--quick`` runs tiny versions of the four problems (seconds; a smoke test of
the harness, the numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import machine  # noqa: E402
from measure import frobenius_error, gemm_floor, kl_divergence  # noqa: E402
from memprobe import measure_memory  # noqa: E402
from problems import KL_ROWS, QUICK, Problem, make_X, nndsvda, select  # noqa: E402
from report import render, verdicts  # noqa: E402
from sides import (  # noqa: E402
    nmfviewer_kl,
    nmfviewer_per_iter,
    nmfviewer_to_targets,
    sklearn_fit,
    sklearn_kl_per_iter,
)

SK_TOL = 1e-4
SK_TOL_STRICT = 1e-5
SK_MAX_ITER = 2000
FEW_ITER = 50  # scikit-learn stopping sooner than this is checked again at SK_TOL_STRICT
LIVE_VIEW_NOT_RUN = "not run in this invocation (it runs when --parts includes 'live')"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _strip(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in ("W", "H")}


def _other_variants(shape: tuple[int, int], k: int) -> list[str]:
    """The HALS variants 'auto' did not pick (timed once each, for information)."""
    try:
        from nmfviewer.core import choose_hals_variant

        picked = choose_hals_variant(shape[0], shape[1], k)
    except (ImportError, TypeError):  # an engine without it: time both
        picked = None
    return [v for v in ("plain", "accelerated") if v != picked]


def time_to_error(p: Problem, X, W0, H0, variants: bool = True) -> dict:
    """Parts 1 and 5: sklearn to its converged error; nmfviewer to the same error."""
    sk: dict[str, list[dict]] = {}
    targets: dict[str, float] = {}

    def sk_run(solver: str, tol: float, rep: int) -> dict:
        name = f"{solver}@tol={tol:g}"
        log(f"  [{p.name}] rep {rep + 1}/{p.repeats}: sklearn {name}")
        run = sklearn_fit(X, W0, H0, p.k, solver, tol, SK_MAX_ITER)
        if name not in targets:  # deterministic: the first run fixes the target
            run["error_exact"] = frobenius_error(X, run["W"], run["H"])
            targets[name] = run["error_exact"]
        sk.setdefault(name, []).append(_strip(run))
        return run

    # round one fixes the targets: sklearn cd, mu (and tol=1e-5 where they stopped early)
    plan = []
    for solver in ("cd", "mu"):
        plan.append((solver, SK_TOL))
        n_iter = sk_run(solver, SK_TOL, 0)["n_iter"]
        if n_iter < FEW_ITER:
            log(
                f"  [{p.name}] sklearn {solver} stopped after {n_iter} iterations: "
                f"also timing tol={SK_TOL_STRICT:g}"
            )
            plan.append((solver, SK_TOL_STRICT))
            sk_run(solver, SK_TOL_STRICT, 0)
    # nmfviewer gets twice scikit-learn's slowest time (+5 s) to reach the targets; the
    # quick smoke test's problems take milliseconds, so a loaded machine's hiccup (a
    # second of waiting for a core) must not end them: 30 s there
    quick = p in QUICK.values()
    cap = 2 * max(r[0]["time_s"] for r in sk.values()) + (30 if quick else 5)

    def nmf_run(rep: int) -> dict:
        log(f"  [{p.name}] rep {rep + 1}/{p.repeats}: nmfviewer (auto) to {len(targets)} targets")
        # deterministic: where its own stopping rule fires is only needed once
        return nmfviewer_to_targets(
            X, W0, H0, p.k, dict(targets), cap_s=cap, until_converged=rep == 0
        )

    nmf_runs = [nmf_run(0)]
    for rep in range(1, p.repeats):  # then strictly alternating: sklearn, nmfviewer, ...
        for solver, tol in plan:
            sk_run(solver, tol, rep)
            nmf_runs.append(nmf_run(rep))
    one_offs = {}
    for variant in _other_variants(X.shape, p.k) if variants else ():
        log(f"  [{p.name}] nmfviewer ({variant}) to targets")
        r = nmfviewer_to_targets(
            X, W0, H0, p.k, dict(targets), variant=variant, cap_s=cap, until_converged=False
        )
        one_offs[variant] = {"targets": r["targets"]}

    per_target = {}
    for name, target in targets.items():
        sk_times = [r["time_s"] for r in sk[name]]
        # a run that never reached the target counts as infinitely slow in the median
        hits = [r["targets"][name]["time_s"] for r in nmf_runs]
        hits = [math.inf if h is None else h for h in hits]
        sk_s, nmf_s = median(sk_times), median(hits)
        nmf_s = None if math.isinf(nmf_s) else nmf_s
        first = next(
            (r["targets"][name] for r in nmf_runs if r["targets"][name]["time_s"] is not None),
            nmf_runs[0]["targets"][name],
        )
        per_target[name] = {
            "target_error": target,
            "sklearn_reconstruction_err_": sk[name][0]["reconstruction_err_"],
            "sklearn_s": sk_s,
            "sklearn_n_iter": sk[name][0]["n_iter"],
            "sklearn_hit_max_iter": sk[name][0]["hit_max_iter"],
            "nmfviewer_s": nmf_s,
            "nmfviewer_iter": first.get("iteration"),
            "nmfviewer_error_exact": first.get("error_exact"),
            "verified": first.get("error_exact") is not None and first["error_exact"] <= target,
            "ratio": None if not nmf_s else sk_s / nmf_s,
            # best-of-runs: less sensitive to bursts of load from other processes
            "ratio_best_of": None if math.isinf(min(hits)) else min(sk_times) / min(hits),
            "sklearn_samples_s": sk_times,
            "nmfviewer_samples_s": [None if math.isinf(h) else h for h in hits],
        }
    # a target nmfviewer never reached counts as speedup 0: the hardest comparison
    ratios = {n: (e["ratio"] or 0.0) for n, e in per_target.items()}
    hardest = min(ratios, key=ratios.get)
    conv = nmf_runs[0]["converged"]
    best_name = min(targets, key=targets.get)
    return {
        "sklearn_runs": sk,
        "nmfviewer_runs": [
            {"targets": r["targets"], "exact_checks": r["exact_checks"]} for r in nmf_runs
        ],
        "nmfviewer_converged": conv,
        "variants": one_offs,
        "speedup": {
            "per_target": per_target,
            "headline": ratios[hardest],
            "hardest_sklearn_run": hardest,
        },
        "final_error": {
            "nmfviewer": conv["error_exact"],
            "nmfviewer_n_iter": conv["n_iter"],
            "nmfviewer_stop": conv["stop_reason"],
            "nmfviewer_s": conv["time_s"],
            "sklearn_best": targets[best_name],
            "sklearn_best_run": best_name,
            "ratio": conv["error_exact"] / targets[best_name],
        },
    }


def hals_vs_floor(p: Problem, X, W0, H0, sklearn_cd_s: float | None, rounds: int) -> dict:
    """Part 2: plain HALS seconds per iteration against the two GEMMs alone."""
    floors, floors_best, plains, layouts = [], [], [], []
    n_iter = None
    for r in range(rounds):
        f = gemm_floor(X, W0, H0, repeats=5)
        floors.append(f["floor_s"])
        floors_best.append(f["floor_best_of_s"])
        layouts.append(f["median_s"])
        if n_iter is None:  # about a second of iterations per round
            calib = nmfviewer_per_iter(X, W0, H0, p.k, 6, variant="plain")["median_s"]
            n_iter = int(np.clip(1.0 / max(calib, 2 * f["floor_s"]), 8, 200))
        log(f"  [{p.name}] round {r + 1}/{rounds}: floor {f['floor_s']:.4g}s, plain HALS x{n_iter}")
        plains.append(nmfviewer_per_iter(X, W0, H0, p.k, n_iter, variant="plain")["median_s"])
    acc = nmfviewer_per_iter(X, W0, H0, p.k, n_iter, variant="accelerated")
    floor = median(floors)
    plain = median(plains)
    single = _floor_one_thread(p, X, W0, H0, n_iter, rounds)
    return {
        "one_thread_cpu": single,
        "plain_s": plain,
        "floor_s": floor,
        "floor_best_of_s": median(floors_best),
        "ratio": plain / floor,
        "ratio_vs_best_of": plain / median(floors_best),
        "accelerated_s": acc["median_s"],
        "sklearn_cd_s": sklearn_cd_s,
        "n_iter": n_iter,
        "rounds": rounds,
        "plain_samples": plains,
        "floor_samples": floors,
        "gemm_layouts_median_s": layouts,
        "gflop_per_iter": 4 * X.shape[0] * X.shape[1] * p.k / 1e9,
    }


def _floor_one_thread(p: Problem, X, W0, H0, n_iter: int, rounds: int) -> dict:
    """Part 2 again at one BLAS thread, in this thread's CPU time (time.thread_time).

    On a shared machine the wall-clock ratio is biased: the floor is a burst of
    ~20 GEMMs that mostly fits in one scheduler slice, plain HALS runs for about
    a second and loses the core again and again, and at two BLAS threads every
    GEMM waits for the thread that lost its core. One thread and CPU time take
    both out (what is left is the other processes' share of the caches).
    """
    from threadpoolctl import threadpool_limits

    floors, plains = [], []
    with threadpool_limits(limits=1, user_api="blas"):
        for r in range(rounds):
            f = gemm_floor(X, W0, H0, repeats=5, clock=time.thread_time)
            floors.append(f["floor_s"])
            run = nmfviewer_per_iter(X, W0, H0, p.k, n_iter, clock=time.thread_time)
            plains.append(run["median_s"])
            log(
                f"  [{p.name}] 1 BLAS thread, CPU time, round {r + 1}/{rounds}: "
                f"floor {floors[-1]:.4g}s, plain HALS {plains[-1]:.4g}s"
            )
    return {
        "plain_s": median(plains),
        "floor_s": median(floors),
        "ratio": median(plains) / median(floors),
        "plain_samples": plains,
        "floor_samples": floors,
    }


def _kl_one_thread(p: Problem, X, W0, H0, n_iter: int, reps: int) -> dict:
    """Part 4 again at one BLAS thread, in this thread's CPU time (see _floor_one_thread)."""
    from threadpoolctl import threadpool_limits

    sk_s, nmf_s = [], []
    with threadpool_limits(limits=1, user_api="blas"):
        for rep in range(reps):
            sk = sklearn_kl_per_iter(X, W0, H0, p.k, n_iter, clock=time.thread_time)
            sk_s.append(sk["s_per_iter"])
            ours = nmfviewer_kl(X, W0, H0, p.k, sk["n_iter"], clock=time.thread_time)
            nmf_s.append(ours["s_per_iter"])
            log(
                f"  [{p.name}] KL at 1 BLAS thread, CPU time, rep {rep + 1}/{reps}: "
                f"sklearn {sk_s[-1]:.4g}s, nmfviewer {nmf_s[-1]:.4g}s"
            )
    return {
        "sklearn_s": median(sk_s),
        "nmfviewer_s": median(nmf_s),
        "ratio": median(sk_s) / median(nmf_s),
        "sklearn_samples": sk_s,
        "nmfviewer_samples": nmf_s,
    }


def kl_compare(p: Problem, X, W0, H0, quick: bool) -> dict:
    """Part 4: KL multiplicative updates, fixed iterations, both sides, interleaved."""
    rows = None if quick else KL_ROWS.get(p.name)
    Xs, Ws = (X, W0) if rows is None else (np.ascontiguousarray(X[:rows]), W0[:rows])
    n_iter = 20 if quick else (40 if rows else 100)
    sk_s, nmf_s, sk_last, nmf_last = [], [], None, None
    sklearn_fit(Xs, Ws, H0, p.k, "mu", 0.0, 2, "kullback-leibler")  # warm-up, untimed
    for rep in range(1 if quick else 2):
        log(f"  [{p.name}] KL rep {rep + 1}: sklearn mu, nmfviewer mu ({n_iter} iterations)")
        sk_last = sklearn_kl_per_iter(Xs, Ws, H0, p.k, n_iter)
        sk_s.append(sk_last["s_per_iter"])
        # as many iterations as scikit-learn's longer run, so the divergences compare
        nmf_last = nmfviewer_kl(Xs, Ws, H0, p.k, sk_last["n_iter"])
        nmf_s.append(nmf_last["s_per_iter"])
    single = _kl_one_thread(p, Xs, Ws, H0, n_iter, 1 if quick else 2)
    return {
        "one_thread_cpu": single,
        "rows": Xs.shape[0],
        "subset": rows is not None,
        "n_iter": sk_last["n_iter"],
        "initial_kl": kl_divergence(Xs, Ws, H0),
        "sklearn_s": median(sk_s),
        "nmfviewer_s": median(nmf_s),
        "ratio": median(sk_s) / median(nmf_s),
        "sklearn_kl": sk_last["kl"],
        "nmfviewer_kl": nmf_last["kl"],
        "nmfviewer_kl_reported": nmf_last["loss_reported"],
        "sklearn_samples": sk_s,
        "nmfviewer_samples": nmf_s,
    }


def live_view(names: list[str], quick: bool) -> dict:
    """Live-view overhead (live_view.py), each problem in its own process (Qt stays out
    of this one)."""
    try:
        import nmfviewer.gui.worker  # noqa: F401
    except ImportError as exc:
        return {"status": f"not measured: the GUI worker is not importable ({exc})", "ratio": None}
    per = {}
    for name in names[:1] if quick else names:
        log(f"[live view] {name}: FitWorker at the GUI's snapshot rate vs headless")
        extra = ["--quick", "--repeats", "1", "--seconds", "0.3"] if quick else []
        proc = subprocess.run(
            [sys.executable, str(HERE / "live_view.py"), name, *extra],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            per[name] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
            continue
        per[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    ratios = [r["ratio"] for r in per.values() if "ratio" in r]
    worst = min(ratios) if ratios else None
    return {
        "status": "measured" if ratios else "failed",
        "per_problem": per,
        "ratio": worst,
        "overhead": None if worst is None else 1 - worst,
    }


def run_problem(p: Problem, quick: bool, parts: set[str]) -> dict:
    log(f"[{p.name}] building X {p.describe()}")
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    X = make_X(p)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    W0, H0 = nndsvda(X, p.k)
    out = {
        "description": p.describe(),
        "shape": list(X.shape),
        "k": p.k,
        "seed": p.seed,
        "repeats": p.repeats,
        "x_bytes": int(X.nbytes),
        "generate_s": t_gen,
        "init": "nndsvda (scikit-learn's, computed once, passed as custom init to both)",
        "init_s": time.perf_counter() - t0,
        "initial_error": frobenius_error(X, W0, H0),
    }
    if "speed" in parts:
        out.update(time_to_error(p, X, W0, H0, variants="no-variants" not in parts))
    if "floor" in parts:
        cd = out.get("sklearn_runs", {}).get(f"cd@tol={SK_TOL:g}")
        cd_s = None if not cd else median(r["time_s"] / max(r["n_iter"], 1) for r in cd)
        out["hals_per_iter"] = hals_vs_floor(p, X, W0, H0, cd_s, rounds=1 if quick else 3)
    if "kl" in parts:
        out["kl"] = kl_compare(p, X, W0, H0, quick)
    if "memory" in parts:
        log(f"  [{p.name}] peak memory, one fresh process per side")
        out["memory"] = measure_memory(X, W0, H0, max_iter=5 if quick else 20, parallel=quick)
    # other work on the machine shows here: both sides suffer it alike (interleaved)
    out["loadavg_1min"] = {"before": load_before[0], "after": os.getloadavg()[0]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny problems: a harness smoke test")
    ap.add_argument(
        "--json",
        type=Path,
        help="write every number here (default for a full run: "
        "results/bench-<date>-<cpu>.json, copied to results/latest.json)",
    )
    ap.add_argument("--markdown", type=Path, help="write the report as Markdown here")
    ap.add_argument("--problems", help="comma-separated: faces,olivetti,hyperspectral,large")
    ap.add_argument(
        "--parts",
        default="speed,floor,kl,memory,live",
        help="comma-separated subset of speed,floor,kl,memory,live",
    )
    ap.add_argument(
        "--max-repeats",
        type=int,
        default=None,
        help="at most this many interleaved repeats per problem (a shorter run)",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="exactly this many interleaved repeats per problem",
    )
    ap.add_argument(
        "--no-variants",
        action="store_true",
        help="skip the one-off timings of hals_variant 'plain' and 'accelerated'",
    )
    args = ap.parse_args(argv)
    parts = {s.strip() for s in args.parts.split(",") if s.strip()}
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    keep = args.json is None and not args.quick and not args.problems and not args.max_repeats
    if keep:  # a full run is kept, named by date and machine
        args.json = Path(machine.result_path("bench", started))
    from sides import engine

    engine()  # import the engine first: it may set BLAS threads at import
    results = {
        "schema": "nmfviewer-bench/1",
        "quick": args.quick,
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "machine": machine.describe(),
        "settings": {
            "sklearn_tol": SK_TOL,
            "sklearn_tol_strict": SK_TOL_STRICT,
            "sklearn_max_iter": SK_MAX_ITER,
            "few_iter": FEW_ITER,
            "parts": sorted(parts),
            "max_repeats": args.max_repeats,
            "repeats": args.repeats,
            "variants": not args.no_variants,
        },
        "problems": {},
        "live_view_overhead": {"status": LIVE_VIEW_NOT_RUN, "ratio": None},
    }
    if args.no_variants:
        parts.add("no-variants")
    for p in select(args.problems, args.quick):
        if args.repeats:
            p = replace(p, repeats=max(1, args.repeats))
        if args.max_repeats:
            p = replace(p, repeats=max(1, min(p.repeats, args.max_repeats)))
        try:
            results["problems"][p.name] = run_problem(p, args.quick, parts)
        except Exception as exc:  # one failing problem must not lose the others
            log(f"[{p.name}] FAILED: {exc!r}")
            results["problems"][p.name] = {"description": p.describe(), "error": repr(exc)}
        if args.json:  # partial results survive an interrupted run
            args.json.write_text(json.dumps(results, indent=1, default=float) + "\n")
    if "live" in parts:
        results["live_view_overhead"] = live_view(list(results["problems"]), args.quick)
    results["duration_s"] = time.perf_counter() - t0
    results["verdicts"] = verdicts(results)
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float) + "\n")
    if args.markdown:
        args.markdown.write_text(render(results, markdown=True) + "\n")
    if keep:
        (args.json.parent / "latest.json").write_text(args.json.read_text())
        log(f"results: {args.json} (and results/latest.json)")
    failed = [n for n, p in results["problems"].items() if "error" in p]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
