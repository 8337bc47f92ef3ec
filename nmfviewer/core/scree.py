"""The singular-value scree of X and its elbow: an instant hint for k before any sweep.

The scree is the leading singular values of X (n_images, n_pixels) itself, not
centred (NMF models X, not its deviations from the mean), from a randomized SVD
that only multiplies with X (never copies it). The elbow is found by the
"largest distance below the chord" rule on the logarithm of the values (as
HyperSpy's PCA scree suggests looking at it):

1. y_i = log10(s_i) for i = 0 .. n-1 (values below 1e-12 * s_0 clipped there);
2. x and y are scaled to [0, 1] and joined by the chord from the first point
   to the last;
3. the elbow is the point furthest below that chord. For a signal of rank r
   over a noise floor the singular values fall off a cliff after s_{r-1}, and the
   point furthest below the chord is the first value of the floor, s_r: its
   0-based index r is the number of values above the floor, reported as
   ``elbow`` (a suggested k);
4. a floor that still slopes down puts that point a little past the cliff: while
   the drop into the elbow point (in log10) is less than half the drop into the
   point before it, the elbow moves one point back.

On the sample data: faces 5, the spectral cube 4 (its number of endmembers).

It is a hint, not a verdict: the cross-validated sweep (``rank``) is the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ParameterError
from .nmf.initialize import randomized_svd

#: singular values below this fraction of the largest count as zero (log scale floor)
RELATIVE_FLOOR = 1e-12


@dataclass(frozen=True, eq=False)
class Scree:
    """values: (n,) float64 leading singular values of X, largest first (read-only).
    elbow: the suggested k (the number of values before the elbow, >= 1), see the
    module docstring. total_energy: ||X||_F^2 (so values**2 / total_energy is the
    fraction of X's energy each singular direction carries)."""

    values: np.ndarray
    elbow: int
    total_energy: float = float("nan")

    @property
    def explained(self) -> np.ndarray:
        """(n,) fraction of ||X||_F^2 carried by each singular direction."""
        return self.values**2 / self.total_energy


def elbow_index(values: np.ndarray) -> int:
    """The elbow of a decreasing sequence by the chord rule on log10 (module docstring).

    values: (n,) non-negative, largest first. Returns the 0-based index of the point
    furthest below the chord from the first to the last point (1 when n < 3: no
    elbow can be told from fewer points).
    """
    s = np.asarray(values, dtype=np.float64)
    n = s.size
    if n < 3 or not s[0] > 0:
        return 1
    y = np.log10(np.maximum(s, s[0] * RELATIVE_FLOOR))
    span = y[0] - y[-1]
    if not span > 0:
        return 1  # flat: nothing stands out
    x = np.arange(n) / (n - 1)
    y = (y - y[-1]) / span  # 1 at the first point, 0 at the last
    # the chord runs from (0, 1) to (1, 0): y = 1 - x; the distance below it is
    # proportional to (1 - x) - y (the constant 1/sqrt(2) changes no argmax)
    below = (1.0 - x) - y
    i = int(np.argmax(below[1:-1])) + 1
    if not below[i] > 0:
        return 1
    drop = -np.diff(y)  # drop[j - 1]: the fall from point j - 1 into point j
    while i > 1 and 2.0 * drop[i - 1] < drop[i - 2]:
        i -= 1
    return i


def scree(X: np.ndarray, n: int = 30, seed: int = 0) -> Scree:
    """The leading ``n`` singular values of X (n_images, n_pixels) and their elbow.

    Parameters
    ----------
    X : (n_images, n_pixels) float array, used only in products (never copied).
    n : how many singular values (clipped to min(n_images, n_pixels)).
    seed : the randomized SVD's seed (the values are reproducible for a seed).

    Returns
    -------
    Scree with ``values`` (min(n, n_images, n_pixels),) and ``elbow``.
    """
    if X.ndim != 2 or min(X.shape) < 1:
        raise ParameterError(
            f"the scree needs a non-empty (n_images, n_pixels) matrix, got shape {X.shape}.",
            field="X",
            value=X.shape,
        )
    if int(n) < 1:
        raise ParameterError(
            f"the scree needs at least 1 singular value, got n={n}.",
            field="n",
            value=n,
            suggestion=30,
        )
    count = min(int(n), *X.shape)
    _u, s, _vt = randomized_svd(X, count, seed=int(seed))
    values = np.sort(np.asarray(s, dtype=np.float64))[::-1].copy()
    values.setflags(write=False)
    # ||X||_F^2 accumulated in float64 one row block at a time (no copy of X)
    total = 0.0
    for start in range(0, X.shape[0], 256):
        block = X[start : start + 256]
        total += float(np.einsum("ij,ij->", block, block, dtype=np.float64))
    return Scree(values, max(1, elbow_index(values)), total)
