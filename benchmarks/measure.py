"""Exact errors and the GEMM floor, measured the same way for both sides.

All errors here are computed in float64 from the factors, block by block,
so they do not depend on either side's own (float32) bookkeeping.
"""

from __future__ import annotations

import time
from statistics import median

import numpy as np

_BLOCK_BYTES = 64 * 2**20


def _row_blocks(n: int, m: int):
    step = max(1, _BLOCK_BYTES // (8 * max(m, 1)))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def frobenius_error(X: np.ndarray, W: np.ndarray, H: np.ndarray) -> float:
    """||X - W H||_F (scikit-learn's reconstruction_err_ for the Frobenius loss).

    X: (n, m); W: (n, k); H: (k, m). The residual is formed block by block in
    X's dtype and its squares summed in float64: independent of either side's
    own bookkeeping (no trace trick), relative error ~1e-7 in float32, and
    O(block) extra memory.
    """
    total = 0.0
    for rows in _row_blocks(*X.shape):
        R = X[rows] - W[rows] @ H
        total += float(np.einsum("ij,ij->", R, R, dtype=np.float64))
    return float(np.sqrt(total))


def kl_divergence(X: np.ndarray, W: np.ndarray, H: np.ndarray, eps: float = 1e-10) -> float:
    """Generalised Kullback-Leibler divergence D(X || WH) in float64.

    sum(x log(x / wh) - x + wh), with 0 log 0 = 0 and wh floored at eps.
    X: (n, m); W: (n, k); H: (k, m).
    """
    H64 = np.asarray(H, dtype=np.float64)
    total = 0.0
    for rows in _row_blocks(*X.shape):
        x = np.asarray(X[rows], dtype=np.float64)
        wh = np.maximum(np.asarray(W[rows], dtype=np.float64) @ H64, eps)
        pos = x > 0
        total += float(np.sum(x[pos] * np.log(x[pos] / wh[pos])) - x.sum() + wh.sum())
    return total


def _timed(fn, repeats: int, clock=time.perf_counter) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return times


def gemm_floor(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, repeats: int = 7, clock=time.perf_counter
) -> dict:
    """Time the two GEMMs of one HALS iteration alone, on X and the factors' shapes.

    X: (n, m); W: (n, k); H: (k, m). Two layouts are timed, into preallocated
    outputs: 'kxn' forms H Xᵀ (k, n) and Wᵀ X (k, m) from C-contiguous Wᵀ and H
    (the layout design.md recommends), 'nxk' forms X Hᵀ (n, k) and Wᵀ X from an
    (n, k) W. The floor is the faster layout of each product, median of
    ``repeats`` calls; 'best_of' is the same with the minimum. ``clock``:
    ``time.thread_time`` measures this thread's CPU time instead (at one BLAS
    thread: the work, without the time other processes held the core).
    """
    n, m = X.shape
    k = H.shape[0]
    Wt = np.ascontiguousarray(W.T)
    Wc = np.ascontiguousarray(W)
    Hc = np.ascontiguousarray(H)
    out_kn = np.empty((k, n), dtype=X.dtype)
    out_nk = np.empty((n, k), dtype=X.dtype)
    out_km = np.empty((k, m), dtype=X.dtype)
    products = {
        "XHt_kxn": lambda: np.dot(Hc, X.T, out=out_kn),
        "XHt_nxk": lambda: np.dot(X, Hc.T, out=out_nk),
        "WtX_kxn": lambda: np.dot(Wt, X, out=out_km),
        "WtX_nxk": lambda: np.dot(Wc.T, X, out=out_km),
    }
    for fn in products.values():  # warm up caches and BLAS threads
        fn()
    samples: dict[str, list[float]] = {name: [] for name in products}
    for _ in range(repeats):  # interleave the four so drift hits all alike
        for name, fn in products.items():
            samples[name].extend(_timed(fn, 1, clock))
    med = {name: median(v) for name, v in samples.items()}
    best = {name: min(v) for name, v in samples.items()}
    return {
        "median_s": med,
        "min_s": best,
        "floor_s": min(med["XHt_kxn"], med["XHt_nxk"]) + min(med["WtX_kxn"], med["WtX_nxk"]),
        "floor_best_of_s": min(best["XHt_kxn"], best["XHt_nxk"])
        + min(best["WtX_kxn"], best["WtX_nxk"]),
        "repeats": repeats,
        "gflop": 2 * 2 * n * m * k / 1e9,
    }
