"""Data shared by the store-backed engine tests (test_streamed, test_dask_engine)."""

from __future__ import annotations

import numpy as np


def low_rank(n: int, m: int, k: int, seed: int = 0) -> np.ndarray:
    """(n, m) float32: a rank-k non-negative product plus 5 % uniform noise."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, k)) @ rng.random((k, m)) + 0.05 * rng.random((n, m))
    return X.astype(np.float32)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference relative to a's largest entry."""
    return float(np.abs(a - b).max() / np.abs(a).max())
