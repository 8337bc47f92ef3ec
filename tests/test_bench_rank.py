"""Smoke test of benchmarks/bench_rank.py --quick: it runs end to end and reports the
figures (no timing assertions: timings on a shared machine prove nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_bench_rank_quick_reports_the_ratio_and_memory(tmp_path):
    out = tmp_path / "rank.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_rank.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["fit"]["seconds"] > 0 and doc["fit"]["iterations"] > 0
    sweep = doc["sweep_warm"]
    assert [row["k"] for row in sweep["rows"]] == [2, 3, 4, 5, 6]
    assert doc["ratio"] == pytest.approx(sweep["seconds"] / doc["fit"]["seconds"])
    assert sweep["peak_extra_bytes"] >= 0
    assert "target: sweep <= 15x one converged fit" in proc.stdout
