"""The loss on held-out entries, evaluated many times during one fit (early stopping).

:func:`.mask.loss_on` forms W H only at the entries of a sparse mask, gathering a
row of W and a column of H per entry: about k random reads per entry. A k sweep
evaluates the same held-out entries every few iterations, so
:class:`HeldOutLoss` gathers their positions and values once and then forms W H
over row blocks with one GEMM each (n x m x k multiply-adds in all, far cheaper
than the gathers for a held-out fraction of a few percent or more) and picks the
held-out entries from the block. Same convention as ``loss_on``: the engine's
loss without penalty, weighted, in float64.
"""

from __future__ import annotations

import numpy as np

from .mask import Mask, _divergence

__all__ = ["HeldOutLoss"]

#: entries of one W H row block (float32: 4 MiB)
BLOCK_ENTRIES = 1 << 20


class HeldOutLoss:
    """The loss of (W, H) on the entries of ``mask`` of X.

    Parameters
    ----------
    X : ndarray, shape (n_images, n_pixels)
    mask : Mask
        The held-out entries (weights: a binary mask or weights in [0, 1]).
    beta : float
        2 Frobenius, 1 KL, 0 Itakura-Saito.

    Notes
    -----
    Holds, per held-out entry, its index within its row block (int32) and its
    value (X's dtype), and its weight only when the mask is weighted: 8 bytes per
    held-out entry for a binary mask in float32, plus one row block of W H.
    """

    def __init__(self, X: np.ndarray, mask: Mask, beta: float = 2.0) -> None:
        n, m = X.shape
        self.beta = float(beta)
        self.eps = float(np.finfo(np.float32).eps) * float(X.max())
        rows = max(1, BLOCK_ENTRIES // max(1, m))
        self.blocks: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None]] = []
        buf = np.empty((min(rows, n), m), dtype=np.float32)
        index_type = np.int32 if rows * m < 2**31 else np.int64
        total = 0.0
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            w = mask.fill(r0, r1, buf[: r1 - r0]).ravel()
            idx = np.flatnonzero(w)
            x = X[r0:r1].ravel()[idx]
            weights = None if mask.is_binary else w[idx].astype(np.float64)
            total += float(idx.size if weights is None else weights.sum())
            self.blocks.append((r0, r1, idx.astype(index_type), x, weights))
        #: the held-out entries (the sum of their weights)
        self.n_entries = total
        self._buf = np.empty((min(rows, n), m), dtype=np.result_type(X.dtype, np.float32))

    def __call__(self, W: np.ndarray, H: np.ndarray) -> float:
        """The loss on the held-out entries: W (n_images, k), H (k, n_pixels)."""
        total = 0.0
        for r0, r1, idx, x, weights in self.blocks:
            if idx.size == 0:
                continue
            block = self._buf[: r1 - r0]
            np.matmul(W[r0:r1], H, out=block)
            wh = block.ravel()[idx].astype(np.float64)
            x64 = x.astype(np.float64)
            if weights is None and self.beta == 2:
                d = x64 - wh
                total += 0.5 * float(np.dot(d, d))
            else:
                w = np.ones_like(x64) if weights is None else weights
                total += _divergence(x64, wh, w, self.beta, self.eps)
        return total
