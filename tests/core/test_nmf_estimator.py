"""nmfviewer.NMF behaves like scikit-learn's NMF where it promises to."""

from __future__ import annotations

import numpy as np
import pytest

from nmfviewer import NMF, FitResult, ParameterError


def _X(n=40, m=30, k=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, k)) ** 2) @ (rng.random((k, m)) ** 2) + 0.01 * rng.random((n, m))
    return X.astype(dtype)


def test_issue_snippet():
    X = np.array([[1, 2], [2, 2], [3, 1.2], [4, 1], [5, 0.8], [6, 1]])
    model = NMF(n_components=2, init="random", random_state=0)
    W = model.fit_transform(X)
    H = model.components_
    assert W.shape == (6, 2) and H.shape == (2, 2)
    assert W.dtype == np.float64 and H.dtype == np.float64
    assert np.allclose(W @ H, X, atol=1e-3)
    assert model.n_components_ == 2 and model.n_features_in_ == 2
    assert isinstance(model.result_, FitResult) and model.n_iter_ == model.result_.n_iter


def test_dtypes_follow_input():
    assert NMF(3, random_state=0).fit_transform(_X(dtype=np.float32)).dtype == np.float32
    assert NMF(3, random_state=0).fit_transform(_X()).dtype == np.float64
    ints = (_X() * 100).astype(np.int64)
    assert NMF(3, random_state=0).fit_transform(ints).dtype == np.float64
    forced = NMF(3, random_state=0, dtype="float32").fit_transform(_X())
    assert forced.dtype == np.float32


def test_reconstruction_err_is_frobenius_norm():
    X = _X()
    model = NMF(4, random_state=0)
    W = model.fit_transform(X)
    assert model.reconstruction_err_ == pytest.approx(np.linalg.norm(X - W @ model.components_),
                                                      rel=1e-6)


def test_kl_reconstruction_err_matches_sklearn_definition():
    from sklearn.decomposition._nmf import _beta_divergence

    X = _X()
    model = NMF(4, solver="mu", beta_loss="kullback-leibler", random_state=0, max_iter=300)
    W = model.fit_transform(X)
    expected = _beta_divergence(X, W, model.components_, 1, square_root=True)
    assert model.reconstruction_err_ == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("max_iter", [13, 40])  # stops between / at loss evaluations
def test_kl_mu_reconstruction_err_is_sqrt_2_divergence(max_iter, capsys):
    X = _X()
    model = NMF(4, solver="mu", beta_loss="kullback-leibler", random_state=0, tol=0,
                max_iter=max_iter, verbose=1)
    W = model.fit_transform(X)
    WH = W @ model.components_
    divergence = np.sum(X * np.log(X / WH) - X + WH)  # X > 0 everywhere here
    assert model.n_iter_ == max_iter
    assert model.reconstruction_err_ == pytest.approx(np.sqrt(2 * divergence), rel=1e-6)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("iteration 0: loss ")
    assert lines[-1] == f"iteration {max_iter}: loss {model.result_.loss:.6g} (max_iter)"
    assert "not evaluated" not in "".join(lines)


@pytest.mark.parametrize("solver,beta", [("cd", "frobenius"), ("mu", "frobenius"),
                                         ("mu", "kullback-leibler"), ("mu", 0)])
def test_transform_recovers_fitted_weights(solver, beta):
    X = _X() + (0.01 if beta == 0 else 0.0)
    model = NMF(4, solver=solver, beta_loss=beta, random_state=0, max_iter=3000)
    W = model.fit_transform(X)
    W2 = model.transform(X)
    assert W2.shape == W.shape
    err_fit = np.linalg.norm(X - W @ model.components_)
    err_tr = np.linalg.norm(X - W2 @ model.components_)
    assert err_tr <= err_fit * 1.02
    assert np.allclose(model.inverse_transform(W2), W2 @ model.components_)
    one = model.transform(X[:3])
    assert one.shape == (3, 4) and np.all(one >= 0)


def test_default_n_components_and_custom_init():
    X = _X(n=12, m=7)
    model = NMF(random_state=0, max_iter=50)
    model.fit(X)
    assert model.components_.shape == (7, 7)
    W0 = np.full((12, 3), 0.5)
    H0 = np.full((3, 7), 0.5)
    W = NMF(3, init="custom", max_iter=5).fit_transform(X, W=W0, H=H0)
    assert W.shape == (12, 3)
    with pytest.raises(ParameterError, match="custom"):
        NMF(3, init="custom").fit(X)
    with pytest.raises(ParameterError, match="shape"):
        NMF(3, init="custom").fit_transform(X, W=W0[:5], H=H0)


def test_get_set_params_and_unfitted():
    model = NMF(5, tol=1e-4)
    params = model.get_params()
    assert params["n_components"] == 5 and params["tol"] == 1e-4 and params["solver"] == "cd"
    assert model.set_params(n_components=2) is model and model.n_components == 2
    with pytest.raises(ParameterError, match="no parameter"):
        model.set_params(bogus=1)
    with pytest.raises(ParameterError, match="not fitted"):
        model.transform(_X())
    assert "n_components=2" in repr(model)


def test_random_state_reproducible():
    X = _X(dtype=np.float32)
    a = NMF(3, init="random", random_state=7).fit_transform(X)
    b = NMF(3, init="random", random_state=7).fit_transform(X)
    assert np.array_equal(a, b)
    c = NMF(3, init="random", random_state=np.random.RandomState(7)).fit_transform(X)
    assert c.shape == a.shape


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_components": 0}, "n_components"),
        ({"beta_loss": "bogus"}, "loss"),
        ({"beta_loss": 3}, "beta_loss"),
        ({"solver": "cd", "beta_loss": "kullback-leibler"}, "mu"),
        ({"tol": -1}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"init": "bogus"}, "init"),
        ({"n_components": 50}, "k must be <="),
    ],
)
def test_bad_estimator_params(kwargs, match):
    kwargs = {"n_components": 2, **kwargs}
    with pytest.raises(ParameterError, match=match):
        NMF(**kwargs).fit(_X())


def test_regularisation_shrinks_factors():
    X = _X()
    plain = NMF(4, random_state=0).fit(X)
    reg = NMF(4, random_state=0, alpha_W=0.01, l1_ratio=1.0).fit(X)
    assert reg.components_.sum() < plain.components_.sum() or (
        np.count_nonzero(reg.components_) < np.count_nonzero(plain.components_)
    )
    assert reg.reconstruction_err_ >= plain.reconstruction_err_ * 0.999
