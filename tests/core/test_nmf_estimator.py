"""nmfviewer.NMF behaves like scikit-learn's NMF where it promises to."""

from __future__ import annotations

import re

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
    assert model.reconstruction_err_ == pytest.approx(
        np.linalg.norm(X - W @ model.components_), rel=1e-6
    )


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
    model = NMF(
        4,
        solver="mu",
        beta_loss="kullback-leibler",
        random_state=0,
        tol=0,
        max_iter=max_iter,
        verbose=1,
    )
    W = model.fit_transform(X)
    WH = W @ model.components_
    divergence = np.sum(X * np.log(X / WH) - X + WH)  # X > 0 everywhere here
    assert model.n_iter_ == max_iter
    assert model.reconstruction_err_ == pytest.approx(np.sqrt(2 * divergence), rel=1e-6)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("iteration 0: loss ")
    assert lines[-1] == f"iteration {max_iter}: loss {model.result_.loss:.6g} (max_iter)"
    assert "not evaluated" not in "".join(lines)


@pytest.mark.parametrize(
    "solver,beta", [("cd", "frobenius"), ("mu", "frobenius"), ("mu", "kullback-leibler"), ("mu", 0)]
)
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


# ---- scipy.sparse input -------------------------------------------------------------
@pytest.mark.parametrize(
    "cls", ["csr_matrix", "csc_matrix", "coo_matrix", "lil_matrix", "csr_array", "csc_array"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_sparse_input_gives_the_dense_fit(cls, dtype):
    import scipy.sparse as sp

    dense = _X() * (_X(seed=1) > 0.3)  # about a third of the entries zero
    dense = (dense * 100).astype(dtype) if dtype == np.int64 else dense.astype(dtype)
    X = getattr(sp, cls)(dense)  # the same values, sparse
    assert sp.issparse(X) and X.nnz < dense.size
    model = NMF(4, random_state=0).fit(X)
    ref = NMF(4, random_state=0).fit(dense)
    assert model.components_.dtype == ref.components_.dtype
    assert np.array_equal(model.components_, ref.components_)
    assert np.array_equal(model.transform(X), ref.transform(dense))
    assert model.n_features_in_ == dense.shape[1]


def test_sparse_input_too_large_to_densify_is_refused_before_allocating():
    import scipy.sparse as sp

    from nmfviewer.core import MemoryLimitError

    X = sp.csr_matrix(([1.0], ([0], [0])), shape=(10**6, 10**6))  # 8 TB dense
    with pytest.raises(MemoryLimitError, match=r"scipy.sparse.*1000000 x 1000000.*float32"):
        NMF(2).fit(X)
    with pytest.raises(MemoryLimitError, match="TB as float32") as info:
        NMF(2, dtype="float32").fit(X.astype(np.float32))
    assert "dtype='float32'" not in str(info.value)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "bad,match",
    [
        (-1.0, "Negative values in data passed to NMF.{}: .*min -1.*np.clip"),
        (np.nan, "X to NMF.{} contains 1 NaN or infinite"),
        (np.inf, "X to NMF.{} contains 1 NaN or infinite"),
        (-np.inf, "X to NMF.{} contains 1 NaN or infinite"),
    ],
)
def test_bad_values_are_refused_with_the_fix(bad, match, sparse):
    import scipy.sparse as sp

    X = _X()
    X[3, 4] = bad
    X = sp.csr_matrix(X) if sparse else X
    with pytest.raises(ParameterError, match=match.format("fit")):
        NMF(2).fit(X)
    model = NMF(2, random_state=0).fit(_X())
    with pytest.raises(ParameterError, match=match.format("transform")):
        model.transform(X)


# ---- bad X shapes (issue 14) --------------------------------------------------------
@pytest.mark.parametrize(
    "X,match",
    [
        (np.arange(1.0, 6.0), r"1-D X of shape \(5,\).*X.reshape\(-1, 1\).*X.reshape\(1, -1\)"),
        ([1.0, 2.0, 3.0], r"1-D X of shape \(3,\).*reshape"),
        (np.ones((4, 3, 2)), r"3-D X of shape \(4, 3, 2\).*X.reshape\(len\(X\), -1\)"),
        ([[[1.0]]], r"3-D X of shape \(1, 1, 1\).*flatten each sample"),
        (np.ones((2, 2, 2, 2)), r"4-D X.*flatten each sample"),
        (np.float64(3.0), r"0-D X.*\[\[x\]\]"),
    ],
)
def test_not_2d_X_is_refused_with_the_fix(X, match):
    with pytest.raises(ParameterError, match=match):
        NMF(1).fit(X)
    model = NMF(1, random_state=0).fit(_X())
    with pytest.raises(ParameterError, match=match.replace("fit", "transform")):
        model.transform(X)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
@pytest.mark.parametrize("k", [None, "auto", 2])
def test_empty_X_is_refused_whatever_n_components(shape, k):
    import scipy.sparse as sp

    for X in (np.zeros(shape), sp.csr_matrix(shape)):
        with pytest.raises(ParameterError, match=r"empty X: 0 (sample|feature)\(s\) \(shape="):
            NMF(k).fit(X)
    with pytest.raises(ParameterError, match="n_components=None would be 0"):
        NMF(k).fit(np.zeros(shape))


def test_ragged_X_is_a_parameter_error():
    with pytest.raises(ParameterError, match=r"NMF\.fit: .*inhomogeneous"):
        NMF(1).fit([[1.0, 2.0], [3.0]])


def test_wrong_feature_count_in_transform_names_both():
    model = NMF(2, random_state=0).fit(_X(m=30))
    with pytest.raises(ParameterError, match="X has 29 features, but NMF is expecting 30"):
        model.transform(_X(m=29))


# ---- bad parameters (issue 14) ------------------------------------------------------
@pytest.mark.parametrize("beta", [["kl"], ("frobenius",), {"kl": 1}, None, "KL"])
def test_beta_loss_of_a_wrong_type_names_value_and_choices(beta):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(ParameterError, match=r"'beta_loss' parameter of NMF must be") as info:
        NMF(2, beta_loss=beta).fit(_X())
    message = str(info.value)
    assert f"Got {beta!r} instead" in message
    assert "'kullback-leibler'" in message and "float" in message
    assert isinstance(info.value, InvalidParameterError)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_components": 2.5}, "'n_components' parameter"),
        ({"n_components": "all"}, "'n_components' parameter"),
        ({"tol": np.nan}, "'tol' parameter"),
        ({"l1_ratio": 1.5}, "'l1_ratio' parameter"),
        ({"time_budget": 0}, "'time_budget' parameter"),
        ({"solver": "HALS"}, "'solver' parameter"),
        ({"random_state": "seed"}, "'random_state' parameter"),
        ({"dtype": "int8"}, "'dtype' parameter"),
        ({"dtype": np.int32}, "dtype=<class 'numpy.int32'> is not supported"),
        ({"beta_loss": 0.5, "solver": "mu"}, r"beta_loss=0.5 is not supported"),
    ],
)
def test_declared_parameter_limits(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        NMF(**kwargs).fit(_X())


def test_unfitted_error_is_also_sklearns():
    from sklearn.exceptions import NotFittedError

    for call in (
        lambda m: m.transform(_X()),
        lambda m: m.inverse_transform(np.ones((2, 2))),
        lambda m: m.get_feature_names_out(),
    ):
        with pytest.raises(NotFittedError):
            call(NMF(2))
    with pytest.raises(ParameterError, match="did you mean 'n_components'"):
        NMF().set_params(n_component=3)


def test_inverse_transform_checks_W():
    model = NMF(3, random_state=0).fit(_X())
    with pytest.raises(ParameterError, match=r"W of shape \(5, 2\).*k=3"):
        model.inverse_transform(np.ones((5, 2)))
    with pytest.raises(ParameterError, match=r"W of shape \(3,\)"):
        model.inverse_transform(np.ones(3))


def test_transform_of_zero_rows_is_zero():
    model = NMF(3, random_state=0).fit(_X())
    assert np.array_equal(model.transform(np.zeros((2, 30))), np.zeros((2, 3)))
    X = _X()[:4]
    X[1] = 0
    W = model.transform(X)
    assert np.all(W[1] == 0) and np.all(W[[0, 2, 3]].sum(axis=1) > 0)


def test_auto_n_components_follows_custom_factors():
    X = _X(n=12, m=7)
    model = NMF("auto", init="custom", max_iter=5)
    model.fit(X, W=np.full((12, 3), 0.5), H=np.full((3, 7), 0.5))
    assert model.n_components_ == 3
    assert NMF(None, random_state=0, max_iter=5).fit(X).n_components_ == 7


# ---- scikit-learn stays out of `import nmfviewer` -----------------------------------
def _modules_after(code: str) -> set[str]:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_only_the_estimator_imports_sklearn():
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "nmfviewer"
    users = sorted(
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if any(
            line.lstrip().startswith(("import sklearn", "from sklearn"))
            for line in p.read_text(encoding="utf-8").splitlines()
        )
    )
    assert users == ["core/nmf/estimator.py"]
    # the core without nmfviewer/__init__.py (which the public API may load eagerly):
    # everything but NMF is used without loading scikit-learn
    bare = (
        "import importlib.util, sys, types\n"
        "pkg = types.ModuleType('nmfviewer')\n"
        "pkg.__path__ = importlib.util.find_spec('nmfviewer').submodule_search_locations\n"
        "sys.modules['nmfviewer'] = pkg\n"
        "import nmfviewer.core as c\n"
    )
    loaded = _modules_after(
        bare + "c.fit, c.NMFParams, c.Collection, c.export_run, c.iterate_nmf, c.solve_W"
    )
    assert "nmfviewer.core.nmf.fit" in loaded and "nmfviewer.core.collection" in loaded
    assert not any(m.split(".")[0] == "sklearn" for m in loaded)
    assert "sklearn.base" in _modules_after(bare + "c.NMF")


def test_import_nmfviewer_loads_no_sklearn():
    loaded = _modules_after("import nmfviewer")
    if "nmfviewer.core.nmf.estimator" in loaded:
        pytest.skip(
            "nmfviewer/__init__.py still imports the estimator eagerly "
            "(the lazy public API of issue 9 item 2 makes it lazy)"
        )
    assert not any(m.split(".")[0] == "sklearn" for m in loaded)
    import subprocess
    import sys

    log = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nmfviewer", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert not re.search(r"\|\s+(sklearn\b|nmfviewer\.core\.nmf\.estimator)", log)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_and_transform_hand_a_float_C_array_to_the_core_uncopied(dtype, monkeypatch):
    from nmfviewer.core.nmf import estimator

    seen = []

    def spy(real):
        def wrapper(X, *args, **kwargs):
            seen.append(X)
            return real(X, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(estimator, "fit", spy(estimator.fit))
    monkeypatch.setattr(estimator, "solve_W", spy(estimator.solve_W))
    X = _X(dtype=dtype)
    model = NMF(3, random_state=0).fit(X)
    model.transform(X)
    assert len(seen) == 2 and seen[0] is X and seen[1] is X
