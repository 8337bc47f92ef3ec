"""NMF: a scikit-learn-style estimator over :func:`fit`.

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
- dtype: None follows the input like scikit-learn (float32 stays float32,
  float64 and integers become float64); 'float32' / 'float64' force one.
- ``n_components=None`` means min(n_samples, n_features).
- ``time_budget`` (seconds) is an extra stopping rule; ``result_`` holds the
  :class:`FitResult` of the last fit (loss history, stop reason, ...).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import ParameterError
from ..params import NMFParams
from .fit import FitResult, check_X, fit, resolve_seed, solve_W

_DEFAULTS = NMFParams(n_components=1)


class NMF:
    """Non-negative Matrix Factorization X (n_samples, n_features) ~ W H.

    W (n_samples, n_components) is returned by fit_transform / transform,
    H (n_components, n_features) is ``components_``.
    """

    def __init__(
        self,
        n_components: int | None = None,
        *,
        init: str | None = None,
        solver: str = "cd",
        beta_loss: str | float = "frobenius",
        tol: float | None = None,
        max_iter: int | None = None,
        random_state=None,
        alpha_W: float = 0.0,
        alpha_H: float | str = "same",
        l1_ratio: float = 0.0,
        verbose: int = 0,
        dtype: str | None = None,
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

    # ---- scikit-learn protocol -------------------------------------------------
    _PARAM_NAMES = (
        "n_components init solver beta_loss tol max_iter random_state alpha_W alpha_H "
        "l1_ratio verbose dtype time_budget"
    ).split()

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self._PARAM_NAMES}

    def set_params(self, **params) -> NMF:
        for name, value in params.items():
            if name not in self._PARAM_NAMES:
                raise ParameterError(
                    f"NMF has no parameter {name!r}; valid: {', '.join(self._PARAM_NAMES)}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        changed = [
            f"{k}={v!r}" for k, v in self.get_params().items() if v != NMF().get_params()[k]
        ]
        return f"NMF({', '.join(changed)})"

    # ---- fitting ---------------------------------------------------------------
    def _params(self, X: np.ndarray) -> NMFParams:
        n, m = X.shape
        k = min(n, m) if self.n_components is None else self.n_components
        loss = self.beta_loss
        if isinstance(loss, numbers.Real) and not isinstance(loss, bool):
            names = {2.0: "frobenius", 1.0: "kl", 0.0: "is"}
            if float(loss) not in names:
                raise ParameterError(
                    f"beta_loss={loss!r} is not supported; use 'frobenius' (2), "
                    "'kullback-leibler' (1) or 'itakura-saito' (0)."
                )
            loss = names[float(loss)]
        solver = self.solver
        if isinstance(solver, str) and solver.lower() in ("cd", "hals") and loss not in (
            "frobenius",
            "fro",
        ):
            raise ParameterError(
                f"solver={solver!r} only minimises the Frobenius loss, not "
                f"beta_loss={self.beta_loss!r}; use solver='mu'."
            )
        return NMFParams(
            n_components=k,
            loss=loss,
            solver=solver,
            init=self.init,
            seed=_seed(self.random_state),
            max_iter=_DEFAULTS.max_iter if self.max_iter is None else self.max_iter,
            tol=_DEFAULTS.tol if self.tol is None else self.tol,
            time_budget=self.time_budget,
            alpha_W=self.alpha_W,
            alpha_H=self.alpha_H,
            l1_ratio=self.l1_ratio,
            dtype=self._dtype(X),
        )

    def _dtype(self, X: np.ndarray) -> str:
        if self.dtype is not None:
            return str(np.dtype(self.dtype))
        return "float32" if X.dtype == np.float32 else "float64"

    def fit_transform(self, X, y=None, W=None, H=None) -> np.ndarray:
        """Fit the model and return W (n_samples, n_components).

        W and H (initial factors) are used with init='custom' (or init=None).
        """
        X = _as_array(X)
        params = self._params(X)
        if W is not None or H is not None:
            if params.init not in ("custom", "auto"):
                raise ParameterError(
                    f"initial W/H were given but init={self.init!r}; use init='custom'."
                )
            params = _replace(params, init="custom")
        params = resolve_seed(params)
        result = fit(X, params, W, H, callback=self._verbose_callback())
        self._store(result, X)
        return result.W

    def fit(self, X, y=None, **kwargs) -> NMF:
        self.fit_transform(X, **kwargs)
        return self

    def _store(self, result: FitResult, X: np.ndarray) -> None:
        self.result_ = result
        self.components_ = result.H
        self.n_components_ = result.H.shape[0]
        self.n_features_in_ = X.shape[1]
        self.n_iter_ = result.n_iter
        self.reconstruction_err_ = result.reconstruction_err_

    def _verbose_callback(self):
        if not self.verbose:
            return None

        def report(state):
            # every 10th iteration: where KL / IS multiplicative updates evaluate the loss
            if state.iteration % 10 == 0 or state.stop_reason:
                end = f" ({state.stop_reason})" if state.stop_reason else ""
                loss = "not evaluated" if state.loss is None else f"{state.loss:.6g}"
                print(f"iteration {state.iteration}: loss {loss}{end}")

        return report

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise ParameterError(
                "This NMF instance is not fitted yet; call fit or fit_transform first."
            )

    def transform(self, X) -> np.ndarray:
        """W (n_samples, n_components) for new X with components_ fixed."""
        self._check_fitted()
        X = _as_array(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ParameterError(
                f"X has shape {X.shape}; this model was fitted on {self.n_features_in_} "
                "features (pixels) per sample."
            )
        params = self.result_.params
        params = _replace(params, dtype=self._dtype(X), time_budget=self.time_budget)
        return solve_W(X, self.components_, params).W

    def inverse_transform(self, X=None, *, Xt=None) -> np.ndarray:
        """W @ components_: data (n_samples, n_features) from W (n_samples, n_components)."""
        self._check_fitted()
        W = Xt if X is None else X
        if W is None:
            raise ParameterError("inverse_transform needs W (n_samples, n_components).")
        W = np.asarray(W)
        if W.ndim != 2 or W.shape[1] != self.n_components_:
            raise ParameterError(
                f"W has shape {W.shape}; expected (n_samples, {self.n_components_})."
            )
        return W @ self.components_


def _as_array(X) -> np.ndarray:
    """X as an ndarray; float32 stays float32, everything else becomes float64."""
    if isinstance(X, np.ndarray) and X.dtype in (np.float32, np.float64):
        return X
    try:
        a = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"X cannot be read as a numeric array: {exc}") from None
    if a.dtype in (np.float32, np.float64):
        return a
    return check_X(a, np.float64) if a.ndim == 2 else a


def _seed(random_state) -> int | None:
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    return random_state


def _replace(params: NMFParams, **changes) -> NMFParams:
    from dataclasses import replace

    return replace(params, **changes)
