"""The singular-value scree and its elbow (a hint for k)."""

from __future__ import annotations

import numpy as np
import pytest

from nmfviewer.core import ParameterError, Scree, scree
from nmfviewer.core.scree import elbow_index


def planted(r, n=120, m=400, noise=0.05, seed=0):
    """(n, m) float32 non-negative rank-r matrix plus noise of ``noise`` x its rms."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, r)) @ rng.random((r, m))
    X += noise * np.sqrt(np.mean(X**2)) * rng.random((n, m))
    return X.astype(np.float32)


@pytest.mark.parametrize("r", [3, 5, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_elbow_finds_the_planted_rank(r, seed):
    result = scree(planted(r, seed=seed), n=30, seed=seed)
    assert isinstance(result, Scree)
    assert result.elbow == r


def test_values_match_the_exact_singular_values():
    X = planted(5, seed=3)
    exact = np.linalg.svd(X.astype(np.float64), compute_uv=False)
    result = scree(X, n=10)
    assert result.values.shape == (10,)
    assert np.all(np.diff(result.values) <= 0)
    # the signal's values to 1e-4, the noise floor's to a few per cent
    np.testing.assert_allclose(result.values[:5], exact[:5], rtol=1e-4)
    np.testing.assert_allclose(result.values[5:], exact[5:10], rtol=0.05)
    assert result.total_energy == pytest.approx(float(np.sum(X.astype(np.float64) ** 2)))
    assert result.explained[0] > 0.9 and result.explained.sum() <= 1 + 1e-6


def test_same_seed_same_values_and_x_untouched():
    X = planted(4)
    before = X.copy()
    a, b = scree(X, seed=7), scree(X, seed=7)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(X, before)
    assert not a.values.flags.writeable


def test_n_is_clipped_to_the_matrix():
    X = planted(2, n=6, m=50)
    assert scree(X, n=30).values.shape == (6,)


def test_elbow_of_short_or_flat_sequences_is_one():
    assert elbow_index(np.array([3.0, 1.0])) == 1
    assert elbow_index(np.ones(10)) == 1
    assert elbow_index(np.zeros(10)) == 1
    # a zero singular value does not break the log scale: the cliff is at 2
    assert elbow_index(np.array([10.0, 8.0, 0.0, 0.0, 0.0, 0.0])) == 2


def test_bad_n_and_empty_matrix_are_parameter_errors():
    with pytest.raises(ParameterError, match="n=0"):
        scree(planted(2), n=0)
    with pytest.raises(ParameterError, match="shape"):
        scree(np.zeros((0, 5), np.float32))


def test_spectral_sample_elbow_is_its_number_of_endmembers():
    from nmfviewer._paths import sample_images_dir
    from nmfviewer.core import load_collection

    folder = sample_images_dir() / "spectral"
    X = load_collection([folder / "cube.tif"]).to_matrix()
    endmembers = np.load(folder / "ground_truth.npz")["endmembers"].shape[0]
    assert scree(X).elbow == endmembers == 4
