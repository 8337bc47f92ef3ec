"""Count data (EDS, photon counting): recognise it and say which loss suits it.

The Kullback-Leibler divergence D(X ‖ WH) = Σ x log(x / wh) − x + wh is, up to
terms that do not depend on W and H, the negative log-likelihood of X under
Poisson noise with mean WH. So for counts, loss='kl' is the maximum-likelihood
fit: bright channels no longer dominate as they do under least squares (whose
implicit noise model is Gaussian with one variance for every entry), which is
what HyperSpy's ``normalize_poissonian_noise`` approximates by rescaling X
before a least-squares fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["COUNTS_HINT", "count_data_hint", "looks_like_counts"]

COUNTS_HINT = (
    "the values look like counts (integers in a spectral cube): the Kullback-Leibler "
    "loss is their Poisson likelihood, so bright channels do not dominate the fit "
    "as they do under least squares"
)
# 8-bit stacks are nearly always pictures: counts come as 16 bits or more
_INTEGER_KINDS = ("uint16", "uint32", "uint64", "int16", "int32", "int64")


def looks_like_counts(collection: Any) -> bool:
    """True for a spectral cube read from 16-bit or wider integers (photon or
    X-ray counts).

    Colour photographs and image collections are not counted: 8-bit pictures are
    integers too, but their noise is not Poisson in the values stored.
    """
    if getattr(collection, "axis_label", "image") == "image":
        return False
    dtypes = tuple(getattr(collection, "original_dtypes", ()))
    if not dtypes or not all(d in _INTEGER_KINDS for d in dtypes):
        return False
    options = getattr(collection, "options", None)
    if options is not None and getattr(options, "normalize", "none") != "none":
        return False  # normalised values are no longer counts
    lo, hi = getattr(collection, "value_range", (0.0, 0.0))
    return bool(np.isfinite(hi) and lo >= 0)


def count_data_hint(collection: Any, loss: str) -> str | None:
    """The hint for a least-squares fit of count data, or None."""
    if loss == "frobenius" and looks_like_counts(collection):
        return COUNTS_HINT
    return None
