"""color='channels': colour kept as colour (channel order, scaling, gray images, exports)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nmfviewer.core.collection import load_collection
from nmfviewer.core.errors import ExportError, MemoryLimitError
from nmfviewer.core.export import basis_png_bytes, export_run
from nmfviewer.core.nmf.fit import fit
from nmfviewer.core.params import LoadOptions, NMFParams

SHAPE = (6, 8)


@pytest.fixture
def photos(tmp_path):
    """Five RGB PNGs with (r, g, b) = (10 i, 100, 200 + i) and a gray one (50)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        a = np.zeros((*SHAPE, 3), np.uint8)
        a[..., 0], a[..., 1], a[..., 2] = 10 * i, 100, 200 + i
        a[0, 0] = (1, 2, 3)  # one pixel that tells the channels apart
        Image.fromarray(a).save(folder / f"c{i}.png")
    Image.fromarray(np.full(SHAPE, 50, np.uint8)).save(folder / "gray.png")
    return folder


def test_channels_keep_rgb_in_order_pixel_major(photos):
    c = load_collection(photos, LoadOptions(color="channels"))
    assert c.channels == 3 and c.images.shape == (6, *SHAPE, 3)
    assert c.image_shape == SHAPE and c.basis_shape == (*SHAPE, 3)
    X = c.to_matrix()
    assert X.shape == (6, SHAPE[0] * SHAPE[1] * 3)
    assert np.shares_memory(X, c.images)  # a view, not a copy
    np.testing.assert_array_equal(X[2, :3], [1, 2, 3])  # pixel 0: r, g, b
    np.testing.assert_array_equal(X[2, 3:6], [20, 100, 202])  # pixel 1
    np.testing.assert_array_equal(X[5, :6], [50] * 6)  # gray replicated
    assert "replicated 1 gray image to three colour channels: gray.png" in c.warnings


def test_gray_luminance_is_still_the_default(photos):
    c = load_collection(photos)
    assert c.channels == 1 and c.to_matrix().shape == (6, SHAPE[0] * SHAPE[1])


def test_normalize_max_scales_the_three_channels_together(photos):
    c = load_collection(photos, LoadOptions(color="channels", normalize="max"))
    pixel = c.images[4, 2, 2]  # (40, 100, 204) / 204
    np.testing.assert_allclose(pixel, np.array([40, 100, 204]) / 204, rtol=1e-6)


def test_alpha_is_dropped_with_a_warning(tmp_path):
    a = np.zeros((*SHAPE, 4), np.uint8)
    a[..., :3] = (10, 20, 30)
    a[..., 3] = 128
    for i in range(2):
        Image.fromarray(a, "RGBA").save(tmp_path / f"a{i}.png")
    c = load_collection(tmp_path, LoadOptions(color="channels"))
    np.testing.assert_array_equal(c.images[0, 0, 0], [10, 20, 30])
    assert any(w.startswith("dropped the alpha channel of 2 images") for w in c.warnings)


def test_memory_check_counts_three_channels(photos):
    from nmfviewer.core.policies import check_memory

    roomy = LoadOptions(max_memory_bytes=10**9)
    gray = check_memory(6, SHAPE, 0, roomy)
    assert gray == 6 * SHAPE[0] * SHAPE[1] * 4
    assert check_memory(6, SHAPE, 0, roomy, channels=3) == 3 * gray
    with pytest.raises(MemoryLimitError):
        check_memory(6, SHAPE, 0, LoadOptions(max_memory_bytes=2 * gray), channels=3)


def test_colour_basis_png_scales_channels_together():
    image = np.zeros((2, 2, 3), np.float32)
    image[..., 0], image[..., 1], image[..., 2] = 4.0, 2.0, 0.0
    with Image.open(__import__("io").BytesIO(basis_png_bytes(image))) as img:
        assert img.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(img)[0, 0], [255, 128, 0])  # hue kept
    with pytest.raises(ExportError, match="16-bit colour is not supported"):
        basis_png_bytes(image, 16)


def test_export_writes_colour_basis_images_and_montage(photos, tmp_path):
    c = load_collection(photos, LoadOptions(color="channels"))
    result = fit(c.to_matrix(), NMFParams(n_components=2, max_iter=30, seed=0))
    out = tmp_path / "out"
    export_run(out, c, result)
    for j in range(2):
        with Image.open(out / f"basis_{j:02d}.png") as img:
            assert img.mode == "RGB" and img.size == (SHAPE[1], SHAPE[0])
            expected = result.H[j].reshape(*SHAPE, 3)
            got = np.asarray(img).astype(float)
            # one scale over r, g, b: the brightest channel value maps to 255
            peak = np.unravel_index(np.argmax(expected), expected.shape)
            assert got[peak] == 255
    with Image.open(out / "basis_montage.png") as img:
        assert img.mode == "RGB"
    with np.load(out / "factors.npz") as z:
        assert tuple(z["image_shape"]) == (*SHAPE, 3)
        assert z["H"].shape == (2, SHAPE[0] * SHAPE[1] * 3)
    assert not (out / "spectra.png").exists()


def test_cli_colour_run_replays_and_refuses_16_bit_before_fitting(photos, tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "nmfviewer", "fit", *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    out = tmp_path / "o"
    done = run(str(photos), "-k", "2", "--color", "channels", "--max-iter", "20", "--out", str(out))
    assert done.returncode == 0, done.stderr
    again = run("--replay", str(out / "run.json"), "--out", str(tmp_path / "r"), "-q")
    assert again.returncode == 0, again.stderr
    with np.load(out / "factors.npz") as a, np.load(tmp_path / "r" / "factors.npz") as b:
        np.testing.assert_array_equal(a["H"], b["H"])
    refused = run(str(photos), "-k", "2", "--color", "channels", "--bit-depth", "16",
                  "--out", str(tmp_path / "x"))  # fmt: skip
    assert refused.returncode == 2
    assert "16-bit colour is not supported" in refused.stderr
    assert "iteration" not in refused.stderr  # refused before any fit
