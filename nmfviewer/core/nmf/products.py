"""The big products of an iteration, in the layout OpenBLAS runs fastest."""

from __future__ import annotations

import numpy as np

from ._kernels import transpose_into


class HXt:
    """out (k, n) <- H X^T for X (n, m) and H (k, m).

    Formed as X H^T into an (n, k) work buffer, then transposed: OpenBLAS
    runs that layout faster (figures in benchmarks/README.md, "Engine design
    measurements"), and the transpose is O(n k), small next to the O(n m k)
    product.
    """

    def __init__(self, X: np.ndarray, k: int):
        self.X = X
        self.work = np.empty((X.shape[0], k), dtype=X.dtype)

    def __call__(self, H: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.matmul(self.X, H.T, out=self.work)
        transpose_into(self.work, out)
        return out
