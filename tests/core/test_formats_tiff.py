"""OME-TIFF, ImageJ hyperstacks, pyramids and compressed TIFFs (nmfviewer.core.formats.ome
and the page reader), on small files tifffile writes in the tests."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import format_files as ff  # tests/ is not a package

from nmfviewer import cli
from nmfviewer.core import LoadError, LoadOptions, load_collection

TZCYX = (2, 3, 4, 8, 10)


@pytest.fixture
def ome(tmp_path) -> tuple[Path, np.ndarray]:
    data = ff.cube(TZCYX)
    path = ff.ome_tiff(tmp_path / "stack.ome.tif", data, wavelengths=[450, 500, 550, 600])
    return path, data


def test_ome_tiff_default_axis_is_the_largest_and_the_warning_says_so(ome):
    path, data = ome
    coll = load_collection(path)
    # C (4) is the largest of T (2), Z (3), C (4): its images, at t = 0 and z = 0
    assert coll.n_images == 4 and coll.image_shape == (8, 10)
    np.testing.assert_array_equal(coll.images, data[0, 0].astype(np.float32))
    assert coll.names[1] == "stack.ome.tif[C 1]"
    (note,) = [w for w in coll.warnings if "stack.ome.tif" in w]
    assert "images along axis C (channel, 4) by default" in note
    assert "first index of T (time, 2), Z (3)" in note and "image_axis" in note


def test_ome_channel_wavelengths_become_the_axis(ome):
    coll = load_collection(ome[0])
    np.testing.assert_array_equal(coll.axis_values, [450, 500, 550, 600])
    assert coll.axis_label == "wavelength (nm)"


@pytest.mark.parametrize(("axis", "expected"), [("T", lambda d: d[:, 0, 0]), ("z", None)])
def test_ome_image_axis_picks_time_or_depth(ome, axis, expected):
    path, data = ome
    coll = load_collection(path, LoadOptions(image_axis=axis))
    want = data[:, 0, 0] if axis == "T" else data[0, :, 0]
    np.testing.assert_array_equal(coll.images, want.astype(np.float32))
    assert any("as asked" in w for w in coll.warnings)


def test_ome_z_step_becomes_the_axis(tmp_path):
    data = ff.cube((5, 6, 7))
    path = ff.ome_tiff(tmp_path / "z.ome.tif", data, axes="ZYX", PhysicalSizeZ=0.5)
    coll = load_collection(path)
    np.testing.assert_array_equal(coll.images, data.astype(np.float32))
    np.testing.assert_allclose(coll.axis_values, [0, 0.5, 1.0, 1.5, 2.0])
    assert coll.axis_label.startswith("z (")


@pytest.mark.parametrize("bad", ["Q", "Y", "x"])
def test_ome_image_axis_that_cannot_hold_the_images_is_refused(ome, bad):
    with pytest.raises(LoadError) as info:
        load_collection(ome[0], LoadOptions(image_axis=bad))
    err = info.value
    assert err.field == "image_axis" and err.value == bad and err.path == ome[0]
    text = str(err)
    assert "stack.ome.tif" in text and "'T', 'Z', 'C'" in text
    assert ("spatial axis" in text) == (bad != "Q")


def test_imagej_hyperstack_axes(tmp_path):
    data = ff.cube(TZCYX)
    path = ff.imagej_hyperstack(tmp_path / "hyper.tif", data)
    coll = load_collection(path, LoadOptions(image_axis="T"))
    np.testing.assert_array_equal(coll.images, data[:, 0, 0].astype(np.float32))
    assert coll.names == ("hyper.tif[T 0]", "hyper.tif[T 1]")


def test_plain_imagej_stack_stays_one_image_per_page(tmp_path):
    data = ff.cube((5, 6, 7))
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, data, imagej=True)
    coll = load_collection(path)
    np.testing.assert_array_equal(coll.images, data.astype(np.float32))
    assert coll.names[0] == "plain.tif[page 0]" and coll.warnings == ()


def test_pyramid_is_read_at_full_resolution(tmp_path):
    data = ff.cube((3, 64, 48), dtype=np.uint8)
    path = ff.ome_pyramid(tmp_path / "pyramid.ome.tif", data)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series[0].levels) == 3  # the file really is a pyramid
    coll = load_collection(path)
    assert coll.image_shape == (64, 48)
    np.testing.assert_array_equal(coll.images, data.astype(np.float32))
    assert any("pyramid of 3 levels" in w and "level 0" in w for w in coll.warnings)


@pytest.mark.parametrize(
    ("compression", "tag"),
    [("lzw", "LZW"), ("zlib", "ADOBE_DEFLATE"), ("zstd", "ZSTD"), ("jpeg", "JPEG")],
)
def test_compressed_tiffs(tmp_path, compression, tag):
    data = ff.cube((3, 32, 32), dtype=np.uint8)
    path = tmp_path / f"{compression}.tif"
    tifffile.imwrite(path, data, compression=compression, photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].compression.name == tag
    coll = load_collection(path)
    assert coll.n_images == 3 and coll.warnings == ()
    if compression == "jpeg":  # lossy: close, not equal
        assert np.abs(coll.images - data).mean() < 40
        assert np.corrcoef(coll.images.ravel(), data.ravel())[0, 1] > 0.5
    else:
        np.testing.assert_array_equal(coll.images, data.astype(np.float32))


def test_compressed_ome_tiff(tmp_path):
    data = ff.cube((2, 4, 16, 16))
    path = tmp_path / "zstd.ome.tif"
    tifffile.imwrite(path, data, metadata={"axes": "TCYX"}, ome=True, compression="zstd")
    coll = load_collection(path, LoadOptions(image_axis="C"))
    np.testing.assert_array_equal(coll.images, data[0].astype(np.float32))


def test_a_codec_only_imagecodecs_has_names_the_extra_when_it_is_missing(tmp_path, monkeypatch):
    """Without imagecodecs, tifffile fails on the page and Pillow is tried (it reads
    LZW, deflate, zstd, JPEG); for LERC it cannot either: the reason names the extra."""
    from nmfviewer.core import readers

    path = tmp_path / "lerc.tif"
    tifffile.imwrite(path, ff.cube((8, 8)), compression="lerc")
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # as if not installed
    error = readers._pil_fallback(path, 0, ValueError("no codec"))
    assert isinstance(error, readers.DecodeError)
    assert 'pip install "nmfviewer[formats]"' in error.reason


def test_cli_image_axis_end_to_end(ome, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(
        ["fit", str(ome[0]), "-k", "2", "--image-axis", "T", "--max-iter", "3", "--out", str(out)]
    )
    assert code == 0
    assert len((out / "weights.csv").read_text().splitlines()) == 1 + 2
    assert "images along axis T" in capsys.readouterr().err
    import json

    run = json.loads((out / "run.json").read_text())
    assert run["load_options"]["image_axis"] == "T"


def test_cli_bad_image_axis_is_one_line(ome, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["fit", str(ome[0]), "-k", "2", "--image-axis", "Q", "--out", str(out)])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1
    assert "stack.ome.tif" in err[0] and "--image-axis T" in err[0]
    assert not out.exists()
