"""NMFParams and LoadOptions: validation once, at construction, with actionable messages."""

import dataclasses

import pytest

from nmfviewer.core.errors import ParameterError
from nmfviewer.core.params import LoadOptions, NMFParams


def test_defaults_are_valid_and_frozen():
    params = NMFParams(n_components=4)
    assert params.loss == "frobenius" and params.solver == "hals" and params.dtype == "float32"
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.n_components = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"n_components": 0}, "n_components"),
        ({"n_components": -3}, "n_components"),
        ({"n_components": 2.5}, "n_components"),
        ({"tol": -1e-4}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"loss": "hinge"}, "loss"),
        ({"solver": "lbfgs"}, "solver"),
        ({"init": "zeros"}, "init"),
        ({"seed": -1}, "seed"),
        ({"alpha_W": -0.1}, "alpha_W"),
        ({"l1_ratio": 1.5}, "l1_ratio"),
        ({"dtype": "float16"}, "dtype"),
        ({"time_budget": 0}, "time_budget"),
        ({"loss": "kl", "solver": "hals"}, "solver='mu'"),
    ],
)
def test_invalid_values_name_the_parameter(change, words):
    args = {"n_components": 3, **change}
    if change.get("loss") == "kl":
        args["solver"] = "hals"
    with pytest.raises(ParameterError) as info:
        NMFParams(**args)
    assert words in str(info.value)


def test_scikit_learn_spellings_are_normalised():
    params = NMFParams(n_components=2, loss="kullback-leibler", solver="mu")
    assert params.loss == "kl" and params.beta == 1.0
    assert NMFParams(n_components=2, solver="cd").solver == "hals"
    assert NMFParams(n_components=2, loss="itakura-saito", solver="mu").beta == 0.0


def test_replace_revalidates():
    params = NMFParams(n_components=3)
    assert dataclasses.replace(params, n_components=7).n_components == 7
    with pytest.raises(ParameterError):
        dataclasses.replace(params, tol=-1)


def test_k_larger_than_data_allows_names_the_limit():
    params = NMFParams(n_components=10)
    params.check_data_shape(20, 400)
    with pytest.raises(ParameterError) as info:
        params.check_data_shape(6, 400)
    assert "k must be <= 6" in str(info.value)


def test_alpha_h_same_follows_alpha_w():
    assert NMFParams(n_components=2, alpha_W=0.3).alpha_H_value == 0.3
    assert NMFParams(n_components=2, alpha_W=0.3, alpha_H=0.1).alpha_H_value == 0.1


def test_round_trip_through_dict():
    params = NMFParams(n_components=5, loss="is", solver="mu", seed=7, time_budget=3.0)
    assert NMFParams.from_dict(params.to_dict()) == params
    options = LoadOptions(recursive=True, normalize="max", negative="clip")
    assert LoadOptions.from_dict(options.to_dict()) == options


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ParameterError, match="unknown NMFParams"):
        NMFParams.from_dict({"n_components": 2, "learning_rate": 0.1})


@pytest.mark.parametrize(
    "change",
    [
        {"color": "sepia"},
        {"size_policy": "crop"},
        {"normalize": "zscore"},
        {"negative": "abs"},
        {"nonfinite": "mean"},
        {"max_memory_bytes": 0},
        {"workers": 0},
    ],
)
def test_invalid_load_options_name_the_option(change):
    with pytest.raises(ParameterError) as info:
        LoadOptions(**change)
    assert next(iter(change)) in str(info.value)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"n_components": 0}, "n_components"),
        ({"tol": -1}, "tol"),
        ({"seed": -1}, "seed"),
        ({"loss": "hinge"}, "loss"),
        ({"max_iter": 0}, "max_iter"),
        ({"l1_ratio": 2}, "l1_ratio"),
        ({"time_budget": 0}, "time_budget"),
        ({"seed": 2**32}, "seed"),
    ],
)
def test_errors_carry_the_field_and_value(change, field):
    with pytest.raises(ParameterError) as info:
        NMFParams(**{"n_components": 3, **change})
    assert info.value.field == field and info.value.value == change[field]
    assert "--" not in str(info.value)


@pytest.mark.parametrize("seed", [0, 1, 2**31, 2**32 - 1])
def test_seeds_numpy_accepts_are_valid(seed):
    assert NMFParams(n_components=2, seed=seed).seed == seed


@pytest.mark.parametrize("seed", [2**32, 2**64, -1, 1.5, "3"])
def test_seeds_numpy_refuses_are_refused_here(seed):
    with pytest.raises(ParameterError, match="seed"):
        NMFParams(n_components=2, seed=seed)


def test_the_largest_seed_runs_the_default_init_on_a_large_X():
    """Issue 14: a seed >= 2**32 crashed numpy, also in the default init above 2**20
    entries (randomized SVD); the largest valid seed runs."""
    import numpy as np

    from nmfviewer.core import fit

    X = np.random.default_rng(0).random((1100, 1000)).astype(np.float32)  # > 2**20 entries
    result = fit(X, NMFParams(n_components=3, seed=2**32 - 1, max_iter=1))
    assert result.params.seed == 2**32 - 1 and np.isfinite(result.loss)


@pytest.mark.parametrize(
    "text, seed",
    [("12", 12), (" 7 ", 7), ("", None), ("random", None), (str(2**32 - 1), 2**32 - 1)],
)
def test_parse_seed_reads_text(text, seed):
    from nmfviewer.core import parse_seed

    assert parse_seed(text) == seed


@pytest.mark.parametrize("text", ["²", "１２", "٣", "12a", "-1", "1e3", str(2**32)])
def test_parse_seed_refuses_anything_but_ascii_digits_in_range(text):
    from nmfviewer.core import parse_seed

    with pytest.raises(ParameterError) as info:
        parse_seed(text)
    assert info.value.field == "seed" and info.value.value == text


def test_k_too_large_suggests_the_largest_k():
    with pytest.raises(ParameterError) as info:
        NMFParams(n_components=10).check_data_shape(6, 400)
    exc = info.value
    assert (exc.field, exc.value, exc.suggestion) == ("n_components", 10, 6)
    assert str(exc).endswith("Lower k to at most 6 (n_components=6), or load more images.")
