"""The bundled sample collections load, and match the scripts that made them."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from nmfviewer._paths import sample_images_dir
from nmfviewer.core.collection import load_collection

SAMPLES = sample_images_dir()


def _script(relative: str):
    path = SAMPLES / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def test_faces():
    coll = load_collection(SAMPLES / "faces")
    assert coll.images.shape == (100, 25, 25)
    assert coll.names[0] == "face_000.png" and coll.names[-1] == "face_099.png"
    assert coll.original_dtypes == ("uint8",) and coll.warnings == ()
    from skimage.data import lfw_subset

    expected = np.round(lfw_subset()[:100] * 255)
    np.testing.assert_array_equal(coll.images, expected)


def test_swimmer_files_match_the_generator():
    images, parts = _script("swimmer/make_swimmer.py").make_swimmer()
    assert images.shape == (256, 32, 32) and parts.shape == (17, 32, 32)
    # parts are disjoint 0/1 masks and every image is torso + one position per limb
    assert set(np.unique(parts)) == {0.0, 1.0}
    assert parts.sum(axis=0).max() == 1
    assert all(p.sum() >= 8 for p in parts)
    assert len({img.tobytes() for img in images}) == 256
    coll = load_collection(SAMPLES / "swimmer" / "images")
    assert coll.n_images == 256 and coll.warnings == ()
    np.testing.assert_array_equal(coll.images / 255, images)
    stored = np.load(SAMPLES / "swimmer" / "ground_truth" / "parts.npy")
    np.testing.assert_array_equal(stored, parts)


def test_spectral_cube_matches_ground_truth():
    coll = load_collection(SAMPLES / "spectral" / "cube.tif")
    truth = np.load(SAMPLES / "spectral" / "ground_truth.npz")
    endmembers, abundances = truth["endmembers"], truth["abundances"]
    assert coll.images.shape == (100, 64, 64) and coll.to_matrix().shape == (100, 4096)
    assert endmembers.shape == (4, 100) and abundances.shape == (4, 64, 64)
    assert coll.axis_label == "wavelength (nm)"
    np.testing.assert_allclose(coll.axis_values, truth["wavelengths"], atol=1e-3)
    np.testing.assert_allclose(abundances.sum(axis=0), 1.0)
    assert (abundances.max(axis=0) == 1).sum() >= 4 * 36  # the pure patches
    clean = np.tensordot(endmembers, abundances, axes=(0, 0))
    noise = coll.images - clean
    assert noise.min() >= -1e-6 and noise.mean() < 0.01  # small, non-negative
    cube, *_ = _script("spectral/make_spectral.py").make_spectral()
    np.testing.assert_array_equal(cube, coll.images)


@pytest.mark.parametrize("folder", ["faces", "swimmer/images"])
def test_sample_folders_hold_only_images(folder):
    assert all(p.suffix == ".png" for p in (SAMPLES / folder).iterdir())
