"""Peak memory of one fit, each side in a fresh process.

Parent side: :func:`measure_memory` saves X, W0, H0 to a temporary folder and
runs this file as a script once per side. Child side (``__main__``): imports
the side's library, loads the arrays, resets the kernel's peak-RSS counter
(``/proc/self/clear_refs``), records the resident set as the baseline, runs
the fit, and prints the peak (VmHWM) minus that baseline as JSON. Code is
loaded before the baseline on both sides: scikit-learn's compiled extensions
load at import, nmfviewer's numba kernels at their first call, so nmfviewer
first runs a tiny fit (its resident-set growth, a fixed per-process cost, is
reported as ``code_load_bytes``). Where the
peak counter cannot be reset, a thread polls the resident set every
millisecond instead (it can miss very short spikes; the JSON says which).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

SIDES = ("nmfviewer", "sklearn-cd", "sklearn-mu")
MB = 2**20


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not permitted."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") <= _status_kb("VmRSS") + 1024


class _Poller(threading.Thread):
    """Fallback peak tracker: max VmRSS sampled every millisecond."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb = _status_kb("VmRSS")
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_kb = max(self.peak_kb, _status_kb("VmRSS"))
            time.sleep(0.001)


def _child(side: str, folder: Path, k: int, max_iter: int) -> dict:
    if side == "nmfviewer":
        from nmfviewer.core import NMFParams, fit
    else:
        from sklearn.decomposition import NMF
    X = np.load(folder / "X.npy")
    W0 = np.load(folder / "W0.npy")
    H0 = np.load(folder / "H0.npy")
    # the fit gets its own copies of the start factors, as in the timed runs
    W, H = W0.copy(), H0.copy()
    code_kb = 0
    if side == "nmfviewer":  # load the compiled kernels (from numba's cache)
        before_kb = _status_kb("VmRSS")
        tiny = np.random.default_rng(0).random((16, 12)).astype(X.dtype)
        fit(tiny, NMFParams(n_components=2, hals_variant="accelerated", max_iter=3))
        code_kb = _status_kb("VmRSS") - before_kb
    exact = _reset_peak()
    poller = None
    if not exact:
        poller = _Poller()
        poller.start()
    base_kb = _status_kb("VmRSS")
    t0 = time.perf_counter()
    if side == "nmfviewer":
        params = NMFParams(n_components=k, init="custom", seed=0, max_iter=max_iter)
        fit(X, params, W0=W, H0=H)
    else:
        model = NMF(
            n_components=k,
            init="custom",
            solver=side.split("-")[1],
            tol=1e-4,
            max_iter=max_iter,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: few iterations on purpose
            model.fit_transform(X, W=W, H=H)
    elapsed = time.perf_counter() - t0
    if poller is not None:
        poller.stop.set()
        poller.join()
        peak_kb = poller.peak_kb
    else:
        peak_kb = _status_kb("VmHWM")
    return {
        "side": side,
        "baseline_bytes": base_kb * 1024,
        "peak_bytes": peak_kb * 1024,
        "extra_bytes": max(0, peak_kb - base_kb) * 1024,
        "method": "VmHWM reset via clear_refs" if exact else "VmRSS polled every 1 ms",
        "fit_s": elapsed,
        "max_iter": max_iter,
        "code_load_bytes": code_kb * 1024,
    }


def measure_memory(
    X: np.ndarray,
    W0: np.ndarray,
    H0: np.ndarray,
    max_iter: int,
    sides=SIDES,
    timeout: float = 900.0,
    parallel: bool = False,
) -> dict:
    """Peak extra memory of one fit per side, each in a fresh Python process.

    X: (n, m); W0: (n, k); H0: (k, m). Returns side -> child report (bytes),
    plus 'budget_extra_bytes' = 3 (W + H) + 100 MB: the memory a fit may add on
    top of X (the target 'peak <= X + 3 (W + H) + 100 MB'). ``parallel`` runs the
    sides' processes at the same time (each measures only itself; for --quick).
    """
    k = H0.shape[0]
    wh_bytes = (W0.size + H0.size) * X.itemsize
    out: dict = {
        "x_bytes": int(X.nbytes),
        "wh_bytes": int(wh_bytes),
        "budget_extra_bytes": int(3 * wh_bytes + 100 * MB),
        "max_iter": max_iter,
    }
    with tempfile.TemporaryDirectory(prefix="nmfbench-") as tmp:
        folder = Path(tmp)
        np.save(folder / "X.npy", X)
        np.save(folder / "W0.npy", W0)
        np.save(folder / "H0.npy", H0)

        def start(side: str) -> subprocess.Popen:
            return subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    side,
                    str(folder),
                    str(k),
                    str(max_iter),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=os.environ.copy(),
            )

        running = {side: start(side) for side in sides} if parallel else {}
        for side in sides:
            proc = running.get(side) or start(side)
            stdout, stderr = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                out[side] = {"error": stderr.strip().splitlines()[-1:] or ["failed"]}
                continue
            report = json.loads(stdout.strip().splitlines()[-1])
            report["within_budget"] = report["extra_bytes"] <= out["budget_extra_bytes"]
            report["extra_over_x"] = report["extra_bytes"] / X.nbytes
            out[side] = report
    return out


if __name__ == "__main__":
    _side, _folder, _k, _max_iter = sys.argv[1:5]
    if _side not in SIDES:
        raise SystemExit(f"side must be one of {SIDES}, not {_side!r}")
    print(json.dumps(_child(_side, Path(_folder), int(_k), int(_max_iter))))
