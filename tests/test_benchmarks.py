"""Smoke test of the benchmark harness (benchmarks/bench_nmf.py --quick).

No timing assertions: timings on a shared 2-core machine prove nothing. What is
asserted is that the harness runs end to end, reports every figure the issue
asks for with sane values, and that nmfviewer reaches scikit-learn's error.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import measure  # noqa: E402
import problems  # noqa: E402

#: seconds, not milliseconds: `pytest -m 'not slow'` leaves it out
pytestmark = pytest.mark.slow


def _finite_pos(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_reference_problems_have_the_issue_sizes():
    sizes = {name: (p.n, p.m, p.k) for name, p in problems.FULL.items()}
    assert sizes == {
        "faces": (2429, 361, 49),
        "olivetti": (400, 4096, 16),
        "hyperspectral": (100_000, 200, 8),
        "large": (20_000, 4096, 32),
    }
    assert set(problems.QUICK) == set(problems.FULL)


@pytest.mark.parametrize("name", sorted(problems.QUICK))
def test_problem_data_is_deterministic_structured_float32(name):
    p = problems.QUICK[name]
    X = problems.make_X(p)
    assert X.shape == (p.n, p.m) and X.dtype == np.float32 and X.flags.c_contiguous
    assert X.min() >= 0 and np.isfinite(X).all()
    np.testing.assert_array_equal(X, problems.make_X(p))
    # structure, not noise: a rank-k truncated SVD explains most of X
    s = np.linalg.svd(X.astype(np.float64), compute_uv=False)
    assert (s[: p.k] ** 2).sum() / (s**2).sum() > 0.9


def test_exact_errors_match_direct_formulas():
    rng = np.random.default_rng(0)
    X = rng.random((50, 30)).astype(np.float32)
    W = rng.random((50, 4)).astype(np.float32)
    H = rng.random((4, 30)).astype(np.float32)
    WH = W.astype(np.float64) @ H.astype(np.float64)
    assert measure.frobenius_error(X, W, H) == pytest.approx(np.linalg.norm(X - WH), rel=1e-6)
    X[0, :5] = 0
    direct = np.sum(np.where(X > 0, X * np.log(np.where(X > 0, X, 1) / WH), 0) - X + WH)
    assert measure.kl_divergence(X, W, H) == pytest.approx(direct, rel=1e-10)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "bench_nmf.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_quick_run_describes_the_machine(quick_run):
    results, stdout = quick_run
    m = results["machine"]
    assert m["cpu_model"] and m["cpus_usable"] >= 1
    assert {"numpy", "scipy", "sklearn"} <= set(m["versions"])
    blas = [lib for lib in m["blas"] if lib.get("user_api") == "blas"]
    assert blas and all("internal_api" in lib and "num_threads" in lib for lib in blas)
    assert "OPENBLAS_CORETYPE" in m["env"] and "OPENBLAS_L2_SIZE" in m["env"]
    assert "Machine:" in stdout and "Targets" in stdout
    assert "live_view_overhead" in results


def test_quick_run_reports_every_figure_for_every_problem(quick_run):
    results, _ = quick_run
    assert set(results["problems"]) == set(problems.QUICK)
    for name, p in results["problems"].items():
        assert "error" not in p, f"{name}: {p.get('error')}"
        # (1) time to scikit-learn's converged error, for both solvers
        per_target = p["speedup"]["per_target"]
        assert {"cd@tol=0.0001", "mu@tol=0.0001"} <= set(per_target)
        for run, entry in per_target.items():
            assert _finite_pos(entry["sklearn_s"]) and entry["sklearn_n_iter"] >= 1
            assert _finite_pos(entry["target_error"]), (name, run)
            assert entry["nmfviewer_s"] is not None, f"{name}: never reached {run}'s error"
            assert entry["verified"], f"{name}: exact error above {run}'s target"
            assert _finite_pos(entry["ratio"])
        assert _finite_pos(p["speedup"]["headline"])
        # (2) plain HALS against the two-GEMM floor
        hp = p["hals_per_iter"]
        assert all(_finite_pos(hp[key]) for key in ("plain_s", "floor_s", "ratio"))
        # (3) peak memory of each side, in fresh processes
        mem = p["memory"]
        for side in ("nmfviewer", "sklearn-cd", "sklearn-mu"):
            assert "error" not in mem[side], (name, side, mem[side])
            assert mem[side]["baseline_bytes"] > 0 and mem[side]["extra_bytes"] >= 0
        assert mem["nmfviewer"]["within_budget"], (name, mem["nmfviewer"])
        # (4) KL multiplicative updates: both decrease the divergence from the same start
        kl = p["kl"]
        assert _finite_pos(kl["sklearn_s"]) and _finite_pos(kl["nmfviewer_s"])
        assert kl["nmfviewer_kl"] < kl["initial_kl"] and kl["sklearn_kl"] < kl["initial_kl"]
        # (5) final error at convergence: no worse than scikit-learn's best (1% slack)
        fe = p["final_error"]
        assert math.isfinite(fe["nmfviewer"]) and math.isfinite(fe["sklearn_best"])
        assert fe["nmfviewer"] <= 1.01 * fe["sklearn_best"], (name, fe)
        assert fe["nmfviewer"] < p["initial_error"]


def test_quick_run_gives_a_verdict_per_target(quick_run):
    results, _ = quick_run
    rows = results["verdicts"]
    per_problem = [r for r in rows if r["target"] != "live_view"]
    assert len(per_problem) == 5 * len(problems.QUICK)
    assert {r["verdict"] for r in rows} <= {"PASS", "MISS", "n/a"}
    assert all(r["verdict"] != "n/a" for r in rows)


def test_quick_run_measures_the_live_view_overhead(quick_run):
    results, stdout = quick_run
    live = results["live_view_overhead"]
    assert live["status"] == "measured", live
    (entry,) = live["per_problem"].values()
    assert entry["headless_it_per_s"] > 0 and entry["worker_it_per_s"] > 0
    assert entry["worker_runs"][0]["iterations"] == entry["n_iter"]
    assert entry["updates_per_run"][0] >= 1
    assert any(r["target"] == "live_view" for r in results["verdicts"])
    assert "Live view overhead" in stdout


def test_bench_mask_quick_reports_every_ratio(tmp_path):
    out = tmp_path / "mask.json"
    subprocess.run(
        [sys.executable, str(BENCH / "bench_mask.py"), "--quick", "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    data = json.loads(out.read_text())
    assert set(data["problems"]) == {"faces", "olivetti"}
    for problem in data["problems"].values():
        for name in ("hals", "hals-auto", "kl"):
            entry = problem[name]
            assert _finite_pos(entry["unmasked_s"])
            assert set(entry["masked"]) == {"0.1", "0.3"}
            for masked in entry["masked"].values():
                assert _finite_pos(masked["seconds"]) and _finite_pos(masked["ratio"])
