"""The tasks the Dask engine (:mod:`.dask_engine`) runs on the workers.

Module-level functions, so that the workers import them by name (the workers
need nmfviewer installed, or on their PYTHONPATH). Inputs are never written:
the scheduler may hand the same data to another task.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .blocked import BlockStep, Partials

_OPEN: dict[str, Any] = {}


def load_block(path: str, r0: int, r1: int, dtype: str) -> np.ndarray:
    """Rows r0:r1 of the store at ``path`` (opened once per worker process)."""
    from ..store import open_store

    X = _OPEN.get(path)
    if X is None:
        X = _OPEN[path] = open_store(path)[0]
    return X.read(r0, r1, np.dtype(dtype))


def block_init(Xb: np.ndarray, Wt_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(W_b^T, W_b^T X_b) for the start factors."""
    return Wt_b, Wt_b @ Xb


def block_step(
    Xb: np.ndarray, prev: Any, shared: Any, solver: str, reg: Any
) -> tuple[np.ndarray, np.ndarray]:
    """(new W_b^T, W_b^T X_b): one block's share of an iteration (``blocked.BlockStep``)."""
    H, B = shared
    start = prev if isinstance(prev, np.ndarray) else prev[0]  # scattered, or a step's
    Wt = start.copy()  # inputs are shared with the scheduler: never written
    k, r = Wt.shape
    step = BlockStep(solver, k, r, Xb.shape[1], Xb.dtype, reg)
    return Wt, step(Xb, Wt, H, B).copy()


def group_sum(*results: tuple[np.ndarray, np.ndarray]) -> Partials:
    """The float64 sums of a group of blocks, in block order."""
    Wt, C = results[0]
    part = Partials.zeros(*C.shape)
    for Wt, C in results:
        part.add(C, Wt)
    return part


def first(pair: tuple[np.ndarray, Any]) -> np.ndarray:
    return pair[0]
