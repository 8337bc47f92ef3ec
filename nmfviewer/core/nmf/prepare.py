"""Check the data and fix the seed before a run: X as the solvers need it."""

from __future__ import annotations

import math
import secrets
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from ..errors import ParameterError
from ..params import NMFParams


def resolve_seed(params: NMFParams) -> NMFParams:
    """params with seed=None replaced by a fresh random seed (to be recorded)."""
    if params.seed is not None:
        return params
    return replace(params, seed=secrets.randbelow(2**31 - 1))


def check_X(X: npt.ArrayLike, dtype: npt.DTypeLike) -> np.ndarray:
    """X as a 2-D C-contiguous array of ``dtype``, finite and >= 0.

    A C-contiguous X of the right dtype is returned as is (never copied);
    anything else is converted once. Raises ParameterError naming the problem.
    """
    dtype = np.dtype(dtype)
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"X cannot be read as a numeric array: {exc}") from None
    if (
        X.dtype == object
        or not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_)
        or np.issubdtype(X.dtype, np.complexfloating)
    ):
        raise ParameterError(
            f"X has dtype {X.dtype}; NMF needs real numbers (an image matrix of "
            "n_images x n_pixels)."
        )
    if X.ndim != 2:
        raise ParameterError(
            f"X must be 2-D (n_images x n_pixels); got {X.ndim}-D with shape {X.shape}. "
            "Flatten each image into one row (Collection.to_matrix() does this)."
        )
    n, m = X.shape
    if n == 0 or m == 0:
        raise ParameterError(f"X is empty (shape {X.shape}); load at least one image with pixels.")
    if X.dtype != dtype or not X.flags.c_contiguous:
        X = np.ascontiguousarray(X, dtype=dtype)
    lo, hi = X.min(), X.max()  # NaN propagates; no full-size temporary
    if math.isnan(lo) or math.isnan(hi) or math.isinf(hi) or (math.isinf(lo) and lo < 0):
        bad = int(X.size - np.count_nonzero(np.isfinite(X)))
        raise ParameterError(
            f"X contains {bad} NaN or infinite value(s); NMF needs finite values.",
            field="nonfinite",
            value="error",
            suggestion="zero",
            hint="Replace them by zero ({option}) or clean the data.",
        )
    if lo < 0:
        neg = int(np.count_nonzero(X < 0))
        raise ParameterError(
            f"X contains {neg} negative value(s) (min {float(lo):g}); NMF needs X >= 0.",
            field="negative",
            value="error",
            suggestion="clip",
            hint="Clip the data ({option}) or shift it ('shift').",
        )
    if hi == 0:
        raise ParameterError(
            "X is all zeros: there is nothing to factorize. Check the images (all black?)."
        )
    # products of X with factors of X's scale must neither overflow nor go subnormal
    span = 1e15 if dtype == np.float32 else 1e150
    if not 1.0 / span <= hi <= span:
        raise ParameterError(
            f"X's largest value {float(hi):g} is out of range for {dtype} NMF.",
            field="normalize",
            value="none",
            suggestion="max",
            hint="Either rescale the data ({option}) or compute in float64.",
        )
    return X


def prepare(
    X: npt.ArrayLike, params: NMFParams, *, check_k: bool = True
) -> tuple[np.ndarray, NMFParams]:
    """(X checked and in params.dtype, params with a resolved seed).

    Parameters
    ----------
    X : array_like, shape (n_images, n_pixels)
        The data; a C-contiguous array of ``params.dtype`` is used as is.
    params : NMFParams
        Checked against X's shape (k <= min(n_images, n_pixels)) when
        ``check_k``; not for W alone against a fixed H (``solve_W``).
    """
    if not isinstance(params, NMFParams):
        raise ParameterError(f"params must be an NMFParams, got {type(params).__name__}.")
    X = check_X(X, params.dtype)
    if check_k:
        params.check_data_shape(*X.shape)
    return X, resolve_seed(params)
