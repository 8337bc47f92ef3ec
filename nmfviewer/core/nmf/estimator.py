"""NMF: a scikit-learn estimator over :func:`fit` and :func:`solve_W`.

It inherits scikit-learn's base classes (``BaseEstimator``, ``TransformerMixin``,
``ClassNamePrefixFeaturesOutMixin``), so ``clone``, ``Pipeline``,
``GridSearchCV``, ``get_feature_names_out`` and ``set_output`` work as for any
scikit-learn transformer, and it passes ``sklearn.utils.estimator_checks``
(tests/core/test_estimator_conformance.py lists the checks it does not run and
why). This module is the only one in nmfviewer that imports scikit-learn; it is
loaded lazily (``nmfviewer.core.NMF``), so importing the package does not.

Differences from ``sklearn.decomposition.NMF`` (on purpose):

- ``tol`` is the relative decrease of the loss per iteration over a window of
  10 iterations (NMFParams.window), not scikit-learn's projected-gradient
  ratio. tol=None / max_iter=None take NMFParams' defaults (1e-6, 3000),
  which stop at a converged answer: at or below the error scikit-learn's 'cd'
  reaches at its tol=1e-4, which on face photographs can stop after two
  iterations 40% above what a few hundred reach. tol=0 runs max_iter.
- ``solver='cd'`` (or 'hals') runs HALS: scikit-learn's coordinate-descent
  updates; on problems of real size (n*m*k >= 1e7) accelerated by inner
  repeats and extrapolation, so the iterates differ from scikit-learn's but
  reach its error several times sooner.
- ``beta_loss`` is one of the three named losses (or their beta 2, 1, 0);
  other real betas are refused.
- dtype: None follows the input like scikit-learn (float32 stays float32,
  float64 and integers become float64); 'float32' / 'float64' force one.
- ``n_components=None`` or ``'auto'`` means min(n_samples, n_features) (with
  init='custom', the k of the given W or H); k may not exceed that.
- scipy.sparse X (any format) is accepted, but the solvers work on a dense,
  C-contiguous X: a sparse X is densified once (n_samples * n_features *
  itemsize bytes), after checking that this fits in half the memory available
  now; otherwise MemoryLimitError says how much it needs. scikit-learn's solvers
  use sparse X as is; ours are written for dense image matrices, where a dense
  GEMM is what makes one HALS iteration cost two matrix products.
- ``time_budget`` (seconds) is an extra stopping rule; ``result_`` holds the
  :class:`FitResult` of the last fit (loss history, stop reason, ...).

Every error a caller can cause is a :class:`~nmfviewer.core.errors.ParameterError`
(a ``ValueError``); bad constructor parameters are also scikit-learn's
``InvalidParameterError`` and an unfitted model's error is also its
``NotFittedError``, so code written for either library catches them.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import replace
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import validate_data

from ..errors import MemoryLimitError, ParameterError
from ..params import LOSS_ALIASES, NMFParams
from .fit import fit, resolve_seed, solve_W
from .state import NMFState

_DEFAULTS = NMFParams(n_components=1)
#: beta of the beta-divergence -> loss name (the betas scikit-learn names)
_BETA_NAMES = {2.0: "frobenius", 1.0: "kl", 0.0: "is"}
_FLOATS = (np.float64, np.float32)  # first: what other dtypes become


class _InvalidParameterError(ParameterError, InvalidParameterError):
    """A constructor parameter outside its declared range: nmfviewer's
    ParameterError and scikit-learn's InvalidParameterError at once."""


class _NotFittedError(ParameterError, NotFittedError):
    """transform / inverse_transform before fit: nmfviewer's ParameterError and
    scikit-learn's NotFittedError at once."""


class NMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Non-negative Matrix Factorization: X (n_samples, n_features) ~ W H.

    W (n_samples, k) is what ``fit_transform`` and ``transform`` return; the rows
    of H (k, n_features) are ``components_`` (for an image collection: one image
    per row of X, one pixel per column; the rows of H are the basis images).

    Parameters
    ----------
    n_components : int, 'auto' or None, default None
        k, the number of components. None / 'auto': min(n_samples, n_features),
        or with init='custom' the k of the W or H given to ``fit_transform``.
    init : {'auto', 'random', 'nndsvd', 'nndsvda', 'nndsvdar', 'custom'} or None
        How W and H start. None / 'auto': nndsvda. 'custom': from the W and H
        passed to ``fit_transform`` (passing them with init=None also means this).
    solver : {'cd', 'hals', 'mu'}, default 'cd'
        'cd' / 'hals': hierarchical alternating least squares (Frobenius only);
        'mu': multiplicative updates (any of the three losses).
    beta_loss : {'frobenius', 'kullback-leibler', 'itakura-saito'} or float
        The loss; 'fro', 'kl', 'is' or the beta 2, 1, 0 name the same three.
    tol : float >= 0 or None, default None (1e-6)
        Stop when the relative loss decrease per iteration over the last 10
        iterations falls below tol; 0 runs ``max_iter`` iterations.
    max_iter : int >= 1 or None, default None (3000)
    random_state : int, RandomState instance or None
        Seeds the random init and nndsvdar; None draws a fresh seed per fit
        (recorded in ``result_.params.seed``).
    alpha_W, alpha_H, l1_ratio : float
        Regularisation as scikit-learn defines it; alpha_H='same' uses alpha_W.
    verbose : int, default 0
        Print the loss every 10 iterations and the stop reason.
    dtype : {'float32', 'float64'} or None, default None
        None follows X (float32 stays float32, anything else becomes float64).
    time_budget : float > 0 or None, default None
        Stop after this many seconds.

    Attributes
    ----------
    components_ : ndarray (k, n_features)
        H, the basis (one basis image per row).
    n_components_ : int
        k.
    reconstruction_err_ : float
        sqrt(2 * loss) without the penalty: ||X - WH||_F for the Frobenius loss.
    n_iter_ : int
        Iterations run.
    n_features_in_ : int
    feature_names_in_ : ndarray (n_features_in_,) of str
        Only when X had string column names (a pandas DataFrame).
    result_ : FitResult
        The whole run: W, H, loss history, stop reason, the NMFParams used.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_components": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "init": [
            StrOptions({"auto", "random", "nndsvd", "nndsvda", "nndsvdar", "custom"}),
            None,
        ],
        "solver": [StrOptions({"cd", "hals", "mu"})],
        "beta_loss": [StrOptions(set(LOSS_ALIASES)), Real],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state", np.random.Generator],
        "alpha_W": [Interval(Real, 0, None, closed="left")],
        "alpha_H": [Interval(Real, 0, None, closed="left"), StrOptions({"same"})],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "verbose": ["verbose"],
        "dtype": [StrOptions({"float32", "float64"}), type, np.dtype, None],
        "time_budget": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        n_components: int | str | None = None,
        *,
        init: str | None = None,
        solver: str = "cd",
        beta_loss: str | float = "frobenius",
        tol: float | None = None,
        max_iter: int | None = None,
        random_state: Any = None,
        alpha_W: float = 0.0,
        alpha_H: float | str = "same",
        l1_ratio: float = 0.0,
        verbose: int = 0,
        dtype: Any = None,
        time_budget: float | None = None,
    ):
        self.n_components = n_components
        self.init = init
        self.solver = solver
        self.beta_loss = beta_loss
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.verbose = verbose
        self.dtype = dtype
        self.time_budget = time_budget

    # ---- scikit-learn protocol ---------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _validate_params(self) -> None:
        """scikit-learn's check of ``_parameter_constraints``, raising an error
        that is both its InvalidParameterError and our ParameterError."""
        try:
            super()._validate_params()
        except InvalidParameterError as exc:
            raise _InvalidParameterError(str(exc)) from None

    def set_params(self, **params: Any) -> NMF:
        valid = self.get_params(deep=False)
        for key in params:
            name = key.split("__", 1)[0]
            if name not in valid:
                close = difflib.get_close_matches(name, valid, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ParameterError(
                    f"NMF has no parameter {name!r}; {hint}valid: {', '.join(sorted(valid))}."
                )
        super().set_params(**params)  # scikit-learn's returns self
        return self

    @property
    def _n_features_out(self) -> int:
        """k: the number of output columns of transform (get_feature_names_out)."""
        return int(self.components_.shape[0])

    # ---- fitting -----------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(
        self,
        X: Any,
        y: Any = None,
        W: np.ndarray | None = None,
        H: np.ndarray | None = None,
        mask: Any = None,
    ) -> np.ndarray:
        """Fit the model to X and return W.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix (n_samples, n_features), >= 0
        y : ignored
        W : ndarray (n_samples, k), optional
            Initial W for init='custom' (or init=None), with H.
        H : ndarray (k, n_features), optional
            Initial H for init='custom' (or init=None), with W.
        mask : Mask or array-like (n_samples, n_features), optional
            Fit only the entries it uses (1 use, 0 ignore, or weights in
            [0, 1]; see ``nmfviewer.core.Mask``); ``reconstruction_err_`` is
            then over those entries.

        Returns
        -------
        W : ndarray (n_samples, k), X's dtype (float32 or float64)
        """
        X = self._check_X(X, reset=True, method="fit")
        params = self._params(X, W, H)
        result = fit(X, params, W, H, callback=self._verbose_callback(), mask=mask)
        self.result_ = result
        if result.collapse is not None:  # e.g. alpha so large every factor is 0
            warnings.warn(result.collapse, stacklevel=2)
        self.components_ = result.H
        self.n_components_ = result.H.shape[0]
        self.n_iter_ = result.n_iter
        self.reconstruction_err_ = result.reconstruction_err_
        return result.W

    def fit(self, X: Any, y: Any = None, **params: Any) -> NMF:
        """Fit the model to X (n_samples, n_features); ``params`` (W, H, mask) go
        to :meth:`fit_transform`. Returns the fitted estimator."""
        self.fit_transform(X, **params)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """W (n_samples, k) >= 0 for new X (n_samples, n_features), ``components_`` fixed.

        Solved with the fitted solver, loss, tol and max_iter. Rows of X that are
        all zero get a zero W.
        """
        self._check_fitted()
        X = self._check_X(X, reset=False, method="transform")
        params = replace(self.result_.params, dtype=str(X.dtype), time_budget=self.time_budget)
        if X.max() == 0:  # W = 0 is the exact optimum; check_X refuses an all-zero X
            return np.zeros((X.shape[0], self.n_components_), dtype=X.dtype)
        return solve_W(X, self.components_, params).W

    def inverse_transform(self, X: Any) -> np.ndarray:
        """W @ components_: data (n_samples, n_features) from W (n_samples, k)."""
        self._check_fitted()
        if not sp.issparse(X):
            X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_components_:
            raise ParameterError(
                f"inverse_transform got W of shape {X.shape}; this model has "
                f"k={self.n_components_} components, so W must be (n_samples, "
                f"{self.n_components_})."
            )
        return np.asarray(X @ self.components_)

    # ---- helpers -----------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise _NotFittedError(
                "This NMF instance is not fitted yet; call fit or fit_transform first."
            )

    def _dtype(self) -> np.dtype | list:
        """The dtype to run in: forced by ``self.dtype``, or X's float (else float64)."""
        if self.dtype is None:
            return list(_FLOATS)
        dtype: np.dtype | None
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype is None or dtype not in _FLOATS:
            raise ParameterError(
                f"dtype={self.dtype!r} is not supported; use 'float32', 'float64' or None "
                "(follow X)."
            )
        return dtype

    def _check_X(self, X: Any, *, reset: bool, method: str) -> np.ndarray:
        """X as a 2-D ndarray of float32 / float64, finite, >= 0, not empty.

        Sets (reset=True) or checks n_features_in_ / feature_names_in_. A float
        ndarray of the run's dtype is not copied; a sparse X is densified once.
        """
        dtype = self._dtype()
        _check_ndim(X, method)
        try:
            X = validate_data(
                self,
                X,
                reset=reset,
                accept_sparse=("csr", "csc"),
                dtype=dtype,
                ensure_all_finite=False,  # checked below, with our message
            )
        except ValueError as exc:  # (a TypeError, e.g. a dict in X, passes as is)
            raise ParameterError(f"NMF.{method}: {exc}") from None
        values = X.data if sp.issparse(X) else X
        _check_values(values, method)
        if sp.issparse(X):
            X = _densify(X)
        checked: np.ndarray = X
        return checked

    def _params(self, X: np.ndarray, W: np.ndarray | None, H: np.ndarray | None) -> NMFParams:
        """NMFParams for this fit on X (n_samples, n_features) (and W0 / H0)."""
        n, m = X.shape
        # raw estimator values: NMFParams validates them (with our messages)
        init: Any = self.init
        if W is not None or H is not None:
            if init not in (None, "auto", "custom"):
                raise ParameterError(
                    f"initial W/H were given but init={init!r}; use init='custom' to "
                    "start from them, or leave them out."
                )
            init = "custom"
        k: Any = self.n_components
        if k is None or k == "auto":
            given = np.shape(H)[0] if H is not None else np.shape(W)[-1] if W is not None else None
            k = min(n, m) if init != "custom" or given is None else int(given)
        loss: Any = self.beta_loss
        if isinstance(loss, Real) and not isinstance(loss, bool):
            if float(loss) not in _BETA_NAMES:
                raise ParameterError(
                    f"beta_loss={loss!r} is not supported; use 'frobenius' (2), "
                    "'kullback-leibler' (1) or 'itakura-saito' (0)."
                )
            loss = _BETA_NAMES[float(loss)]
        if self.solver in ("cd", "hals") and LOSS_ALIASES.get(loss) != "frobenius":
            raise ParameterError(
                f"solver={self.solver!r} only minimises the Frobenius loss, not "
                f"beta_loss={self.beta_loss!r}; use solver='mu'."
            )
        params = NMFParams(
            n_components=k,
            loss=loss,
            solver=self.solver,
            init=init,
            seed=_seed(self.random_state),
            max_iter=_DEFAULTS.max_iter if self.max_iter is None else self.max_iter,
            tol=_DEFAULTS.tol if self.tol is None else self.tol,
            time_budget=self.time_budget,
            alpha_W=self.alpha_W,
            alpha_H=self.alpha_H,
            l1_ratio=self.l1_ratio,
            dtype=str(X.dtype),
        )
        params.check_data_shape(n, m)
        return resolve_seed(params)

    def _verbose_callback(self):
        if not self.verbose:
            return None

        def report(state: NMFState) -> None:
            # every 10th iteration: where KL / IS multiplicative updates evaluate the loss
            if state.iteration % 10 == 0 or state.stop_reason:
                end = f" ({state.stop_reason})" if state.stop_reason else ""
                loss = "not evaluated" if state.loss is None else f"{state.loss:.6g}"
                print(f"iteration {state.iteration}: loss {loss}{end}")

        return report


def _check_ndim(X: Any, method: str) -> None:
    """Refuse a 0-, 1-, 3-D or empty X before scikit-learn converts it, with a
    message that says how to make it a 2-D (n_samples, n_features) X."""
    shape = getattr(X, "shape", None)
    if shape is None:
        try:
            shape = np.shape(X)
        except (ValueError, TypeError):  # ragged lists, odd array-likes: left to
            return  # scikit-learn's conversion and its message
    shape = tuple(shape)
    where = f"NMF.{method} got a {len(shape)}-D X of shape {shape}"
    if len(shape) == 1:
        raise ParameterError(
            f"{where}; it needs a 2-D X (n_samples, n_features). Reshape your data: "
            "X.reshape(-1, 1) if it holds one feature per sample, X.reshape(1, -1) if it "
            "is one sample."
        )
    if len(shape) > 2:
        raise ParameterError(
            f"{where}; it needs a 2-D X (n_samples, n_features): flatten each sample into "
            "one row, e.g. X.reshape(len(X), -1) for a stack of images."
        )
    if len(shape) == 0:
        raise ParameterError(
            f"{where}; it needs a 2-D X (n_samples, n_features), e.g. [[x]] for one sample "
            "of one feature."
        )
    if 0 in shape:
        what = "0 sample(s)" if shape[0] == 0 else "0 feature(s)"
        k_note = ", so n_components=None would be 0" if method == "fit" else ""
        raise ParameterError(
            f"NMF.{method} got an empty X: {what} (shape={shape}) while a minimum of 1 is "
            f"required{k_note}. Pass at least one sample (row) with one feature (column)."
        )


def _check_values(values: np.ndarray, method: str) -> None:
    """Refuse NaN / inf and negative values (of X, or of a sparse X's stored
    values) without a full-size temporary."""
    if values.size == 0:
        return
    lo, hi = float(values.min()), float(values.max())  # NaN propagates
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        raise ParameterError(
            f"Input X to NMF.{method} contains {bad} NaN or infinite value(s); NMF needs "
            "finite values: replace them (e.g. np.nan_to_num(X)) or drop those samples."
        )
    if lo < 0:
        neg = int(np.count_nonzero(values < 0))
        raise ParameterError(
            f"Negative values in data passed to NMF.{method}: X has {neg} value(s) below "
            f"0 (min {lo:g}); NMF needs X >= 0. Clip them (np.clip(X, 0, None)) or "
            "shift the data."
        )


def _densify(X: Any) -> np.ndarray:
    """A scipy.sparse X (n_samples, n_features) as a dense C-contiguous array,
    refused with MemoryLimitError when it needs more than half the memory
    available now (the loader's budget)."""
    from ..policies import available_memory, human_bytes  # loaded only for sparse X

    n, m = X.shape
    need = n * m * X.dtype.itemsize
    available = available_memory()
    if available is not None and need > available // 2:
        smaller = ", or dtype='float32' (half the size)" if X.dtype.itemsize > 4 else ""
        raise MemoryLimitError(
            f"X is a scipy.sparse matrix of {n} x {m} ({X.nnz} stored values); NMF's "
            f"solvers need it dense, which takes {human_bytes(need)} as {X.dtype} but "
            f"only {human_bytes(available // 2)} (half the available memory) may be "
            f"used. Pass fewer samples or features{smaller}."
        )
    dense: np.ndarray = X.toarray(order="C")
    return dense


def _seed(random_state: Any) -> int | None:
    """A seed for NMFParams from scikit-learn's random_state (None, int or a
    numpy RandomState / Generator, from which one seed is drawn)."""
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    return int(random_state)
