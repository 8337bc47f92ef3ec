"""The numerics tests pass whatever the CPU's rounding (issue 15).

OpenBLAS picks its kernels by CPU; a DYNAMIC_ARCH build (numpy's wheels) can be
told to use another with OPENBLAS_CORETYPE. Kernels round differently (FMA or
not, other blocking), and so do thread counts: a test that passes only with
this machine's kernel fails on the next one. Here the recovery tests (with
and without a mask) and a monotone-loss test run in subprocesses under the
native kernel and an older one (Haswell: AVX2, as on many desktops;
Sandybridge: no FMA, when the native one is Haswell), at 1 and 2 BLAS threads;
the swimmer test covers float32 and float64. Skipped when the BLAS is not a DYNAMIC_ARCH OpenBLAS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: seconds, not milliseconds: `pytest -m 'not slow'` leaves it out
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TESTS = [
    "tests/core/test_nmf_recovery.py::test_swimmer_parts_recovered",
    "tests/core/test_nmf_recovery.py::test_spectral_endmembers_recovered",
    "tests/core/test_nmf_solvers.py::test_loss_never_increases_float32",
    "tests/core/test_nmf_solvers.py::test_default_stop_is_converged_and_matches_a_long_run",
    "tests/core/test_mask.py::test_hidden_entries_of_a_planted_matrix_are_recovered",
]
_PROBE = (
    "import json, numpy, threadpoolctl;"
    "print(json.dumps([i for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas']))"
)


def _env(coretype: str | None, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    return env


def _kernel(coretype: str | None) -> str | None:
    """The OpenBLAS kernel numpy uses under OPENBLAS_CORETYPE=coretype (None: native)."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=_env(coretype, 1),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    blas = json.loads(out.stdout)
    if len(blas) != 1 or blas[0].get("internal_api") != "openblas":
        return None
    return blas[0].get("architecture")


def _kernels() -> list[tuple[str | None, str]]:
    native = _kernel(None)
    if native is None:
        pytest.skip("numpy's BLAS is not OpenBLAS: its kernel cannot be chosen")
    other = "Sandybridge" if native.lower() == "haswell" else "Haswell"
    if (_kernel(other) or "").lower() != other.lower():
        pytest.skip(f"OpenBLAS ignores OPENBLAS_CORETYPE={other} (not a DYNAMIC_ARCH build)")
    return [(None, native), (other, other)]


def test_numerics_tests_pass_under_other_blas_kernels_and_threads():
    # the runs are independent (fixed thread counts: the same rounding
    # whatever the timing), so they run side by side
    runs = {}
    for coretype, name in _kernels():
        for threads in (1, 2):
            runs[f"kernel {name}, {threads} BLAS thread(s)"] = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *TESTS],
                env=_env(coretype, threads),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
    failures = []
    for label, proc in runs.items():
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failures.append(f"--- {label}:\n{out[-3000:]}")
    assert not failures, "\n".join(failures)
