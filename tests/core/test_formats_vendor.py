"""Vendor files through RosettaSciIO (HyperSpy .hspy written by its own writer, EDAX
.spd laid out with its own header description; corrupt .bcf/.dm3/.dm4/.wdf/.spd),
16-bit colour PNGs without imagecodecs, and the missing-extra messages."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import format_files as ff  # tests/ is not a package

from nmfviewer import cli
from nmfviewer.core import LoadError, LoadOptions, load_collection

EXTRA = 'pip install "nmfviewer[formats]"'


@pytest.fixture
def eds(tmp_path) -> tuple[Path, np.ndarray]:
    data = ff.cube((4, 5, 6), dtype=np.float32)  # (y, x, energy)
    return ff.hspy(tmp_path / "map.hspy", data, ff.eds_axes(data.shape)), data


def test_hspy_spectrum_image_one_image_per_energy_channel(eds, capsys):
    path, data = eds
    coll = load_collection(path)
    assert coll.n_images == 6 and coll.image_shape == (4, 5)
    np.testing.assert_array_equal(coll.images, np.moveaxis(data, 2, 0))
    np.testing.assert_allclose(coll.axis_values, 0.2 + 0.01 * np.arange(6))
    assert coll.axis_label == "energy (keV)"
    assert coll.names[2] == "map.hspy[Energy 2]"
    assert capsys.readouterr().out == ""  # RosettaSciIO's log handler prints nothing


def test_hspy_image_stack_images_along_the_navigation_axis(tmp_path):
    data = ff.cube((3, 6, 7), dtype=np.float32)
    axes = [
        {"name": "frame", "size": 3, "scale": 1.0, "offset": 0.0, "units": "", "navigate": True},
        {"name": "y", "size": 6, "scale": 1.0, "offset": 0.0, "units": "nm", "navigate": False},
        {"name": "x", "size": 7, "scale": 1.0, "offset": 0.0, "units": "nm", "navigate": False},
    ]
    coll = load_collection(ff.hspy(tmp_path / "stack.hspy", data, axes, title="frames"))
    np.testing.assert_array_equal(coll.images, data)
    assert coll.names[0] == "stack.hspy[frame 0]"


def test_vendor_dataset_and_image_axis_choices(eds):
    path, data = eds
    coll = load_collection(path, LoadOptions(dataset="EDS map", image_axis="energy"))
    np.testing.assert_array_equal(coll.images, np.moveaxis(data, 2, 0))
    with pytest.raises(LoadError) as info:
        load_collection(path, LoadOptions(dataset="SEM"))
    assert info.value.field == "dataset" and "0: EDS map (4, 5, 6)" in str(info.value)
    with pytest.raises(LoadError) as info:
        load_collection(path, LoadOptions(image_axis="x"))
    assert info.value.field == "image_axis" and "spatial axis" in str(info.value)


def test_edax_spd_map(tmp_path):
    data = ff.cube((4, 5, 6))  # (lines, points, channels)
    path = ff.edax_spd(tmp_path / "area.spd", data)
    coll = load_collection(path)
    np.testing.assert_array_equal(coll.images, np.moveaxis(data, 2, 0).astype(np.float32))
    assert coll.axis_label.startswith("energy")
    # what RosettaSciIO logs (no .spc calibration beside it) is a note of the file, once
    notes = [w for w in coll.warnings if "rsciio says" in w]
    assert notes and all(w.startswith("area.spd: ") for w in notes)
    assert len(notes) == len(set(notes))


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("scan.bcf", "Bruker .bcf"),
        ("image.dm3", "Digital Micrograph .dm3"),
        ("image.dm4", "Digital Micrograph .dm4"),
        ("map.wdf", "Renishaw .wdf"),
        ("area.spd", "EDAX .spd"),
        ("map.hspy", "HyperSpy .hspy"),
    ],
)
def test_a_corrupt_vendor_file_is_named(tmp_path, name, what):
    path = ff.garbage(tmp_path / name)
    with pytest.raises(LoadError) as info:
        load_collection(path)
    text = str(info.value)
    assert f"{name}: not a readable {what} file" in text and "Traceback" not in text


def test_a_corrupt_vendor_file_among_good_images_is_skipped(tmp_path, eds):
    folder = eds[0].parent
    ff.garbage(folder / "broken.bcf")
    coll = load_collection(folder)
    assert coll.n_images == 6
    assert any(w.startswith("skipped broken.bcf: not a readable Bruker") for w in coll.warnings)


def test_missing_rosettasciio_is_named(eds, monkeypatch):
    monkeypatch.setitem(sys.modules, "rsciio", None)  # as if not installed
    with pytest.raises(LoadError) as info:
        load_collection(eds[0])
    text = str(info.value)
    assert "map.hspy" in text and "RosettaSciIO" in text and EXTRA in text


def test_16bit_colour_png_without_imagecodecs_says_how_to_keep_16_bits(tmp_path, monkeypatch):
    import imagecodecs

    rgb = ff.cube((3, 4, 3))
    (tmp_path / "deep.png").write_bytes(imagecodecs.png_encode(rgb))
    coll = load_collection(tmp_path / "deep.png")
    assert coll.original_dtypes == ("uint16",)
    assert not any("16-bit colour PNG" in w for w in coll.warnings)
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    coll = load_collection(tmp_path / "deep.png")
    assert coll.original_dtypes == ("uint8",)
    assert any("16-bit colour PNG" in w and EXTRA in w for w in coll.warnings)


def test_cli_hspy_end_to_end(eds, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["fit", str(eds[0]), "-k", "2", "--max-iter", "3", "--out", str(out)]) == 0
    assert len((out / "weights.csv").read_text().splitlines()) == 1 + 6
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out.absolute())  # nothing else on stdout


def test_cli_corrupt_vendor_file_is_one_line(tmp_path, capsys):
    path = ff.garbage(tmp_path / "scan.bcf")
    out = tmp_path / "out"
    assert cli.main(["fit", str(path), "-k", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "scan.bcf: not a readable Bruker .bcf file" in err[0]


@pytest.mark.parametrize("kind", ["hspy", "hdf5"])
def test_images_read_in_runs_are_the_right_ones(tmp_path, monkeypatch, kind):
    """Spectrum images are read a run of channels at a time (one decode per run, not
    per channel); runs of 2 channels, with the last run short, give the same images."""
    from nmfviewer.core import readers
    from nmfviewer.core.formats import layout

    data = ff.cube((4, 5, 7), dtype=np.float32)  # (y, x, channels)
    if kind == "hspy":
        path = ff.hspy(tmp_path / "map.hspy", data, ff.eds_axes(data.shape))
        options = None
    else:
        path = ff.hdf5(tmp_path / "map.h5", {"cube": data})
        options = LoadOptions(image_axis="2")
    monkeypatch.setattr(layout, "BATCH_BYTES", 2 * 4 * 5 * 4)
    coll = load_collection(path, options)
    np.testing.assert_array_equal(coll.images, np.moveaxis(data, 2, 0))
    info = readers.probe(path, None, options)
    got = dict(readers.read_pages(info, [6, 1, 3]))
    assert sorted(got) == [1, 3, 6]
    for index, image in got.items():
        np.testing.assert_array_equal(image, data[:, :, index])
