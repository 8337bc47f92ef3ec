"""Smoke test of benchmarks/stall.py --quick: it drives the real window offscreen and
writes well-formed results. No timing assertions (a shared machine proves nothing)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: seconds, not milliseconds: `pytest -m 'not slow'` leaves it out
pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "stall.py"


def test_stall_quick_mode_writes_well_formed_results(tmp_path):
    out = tmp_path / "stall.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["schema"] == "nmfviewer-stall/1" and results["quick"] is True
    assert set(results["cases"]) == {"small", "cube"}
    assert len(results["loadavg_before"]) == 3 and results["threads"] >= 1
    for case in results["cases"].values():
        win, head = case["window"], case["headless"]
        assert win["finished"] and win["iterations"] == head["iterations"] == case["max_iter"]
        assert win["probes"] > 0 and win["updates"] >= 1
        assert 0 < win["p50_gap_ms"] <= win["p99_gap_ms"] <= win["max_gap_ms"]
        assert math.isfinite(case["throughput_ratio"]) and case["throughput_ratio"] > 0
        assert set(case["meets"]) == {"p99_gap_ms", "max_gap_ms", "throughput_ratio"}
        assert case["idle"]["probes"] > 0
    assert "p99" in proc.stdout and "small" in proc.stdout and "cube" in proc.stdout
    # it measured this checkout's window, not an installed copy
    assert Path(results["nmfviewer"]) == BENCH.parents[1] / "nmfviewer"
