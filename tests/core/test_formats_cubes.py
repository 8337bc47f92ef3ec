"""ENVI cubes (Spectral Python) and HDF5 / NeXus datasets (h5py), on small files the
tests write with those libraries."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import format_files as ff  # tests/ is not a package

from nmfviewer import cli
from nmfviewer.core import LoadError, LoadOptions, load_collection

EXTRA = 'pip install "nmfviewer[formats]"'


# --------------------------------------------------------------------------- ENVI
@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_envi_cube_every_band_an_image_with_its_wavelength(tmp_path, interleave):
    data = ff.cube((6, 7, 5))  # (rows, cols, bands)
    waves = [400.0, 450.5, 500.0, 550.0, 600.0]
    header = ff.envi_cube(tmp_path / "scene.hdr", data, interleave, waves)
    coll = load_collection(header)
    assert coll.n_images == 5 and coll.image_shape == (6, 7)
    np.testing.assert_array_equal(coll.images, np.moveaxis(data, 2, 0).astype(np.float32))
    np.testing.assert_array_equal(coll.axis_values, waves)
    assert coll.axis_label == "wavelength (nm)"
    assert coll.names[4] == "scene.hdr[band 4]"
    assert coll.original_dtypes == ("uint16",)


def test_envi_wavenumbers_and_the_data_file_named_directly(tmp_path):
    data = ff.cube((4, 4, 3), dtype=np.float32)
    ff.envi_cube(tmp_path / "raman.hdr", data, wavelengths=[1000, 1200, 1600], units="cm-1")
    coll = load_collection(tmp_path / "raman.img")
    np.testing.assert_array_equal(coll.images, np.moveaxis(data, 2, 0))
    assert coll.axis_label == "wavenumber (cm-1)"


def test_envi_in_a_folder_reads_the_header_and_does_not_call_the_data_a_non_image(tmp_path):
    folder = tmp_path / "cubes"
    folder.mkdir()
    ff.envi_cube(folder / "scene.hdr", ff.cube((5, 5, 4)))
    (folder / "notes.txt").write_text("x")
    coll = load_collection(folder)
    assert coll.n_images == 4
    skipped = [w for w in coll.warnings if "non-image" in w]
    assert skipped == ["skipped 1 non-image file: notes.txt"]


def test_envi_header_without_its_data_file(tmp_path):
    header = ff.envi_cube(tmp_path / "lost.hdr", ff.cube((3, 3, 2)))
    (tmp_path / "lost.img").unlink()
    with pytest.raises(LoadError) as info:
        load_collection(header)
    assert "lost.hdr" in str(info.value) and "no data file beside it" in str(info.value)


# --------------------------------------------------------------------------- HDF5
def test_hdf5_single_3d_dataset(tmp_path):
    data = ff.cube((4, 6, 7), dtype=np.float32)
    path = ff.hdf5(tmp_path / "stack.h5", {"/images": data, "/meta/ids": np.arange(4)})
    coll = load_collection(path)
    np.testing.assert_array_equal(coll.images, data)
    assert coll.names[0] == "stack.h5[dim 0 0]"
    assert any("images along dimension 0 of /images" in w for w in coll.warnings)


def test_hdf5_image_axis_last(tmp_path):
    data = ff.cube((6, 7, 4))  # (h, w, bands)
    path = ff.hdf5(tmp_path / "cube.h5", {"cube": data})
    coll = load_collection(path, LoadOptions(image_axis="2"))
    np.testing.assert_array_equal(coll.images, np.moveaxis(data, 2, 0).astype(np.float32))
    assert not any("images along dimension" in w for w in coll.warnings)


def test_hdf5_2d_dataset_is_one_image(tmp_path):
    data = ff.cube((6, 7))
    coll = load_collection(ff.hdf5(tmp_path / "one.h5", {"img": data}))
    np.testing.assert_array_equal(coll.images[0], data.astype(np.float32))


def test_hdf5_several_datasets_are_listed_and_dataset_picks_one(tmp_path):
    a, b = ff.cube((3, 5, 5)), ff.cube((2, 5, 5), seed=1)
    path = ff.hdf5(tmp_path / "two.h5", {"/a": a, "/group/b": b})
    with pytest.raises(LoadError) as info:
        load_collection(path)
    err = info.value
    assert err.field == "dataset" and err.suggestion == "/a" and err.path == path
    assert "two.h5" in str(err) and "/a, /group/b" in str(err)
    coll = load_collection(path, LoadOptions(dataset="group/b"))
    np.testing.assert_array_equal(coll.images, b.astype(np.float32))
    with pytest.raises(LoadError, match="no 2-D or 3-D numeric dataset '/nope'"):
        load_collection(path, LoadOptions(dataset="/nope"))


def test_nexus_default_signal_and_its_energy_axis(tmp_path):
    signal = ff.cube((5, 6, 7))  # (energy, y, x)
    energies = np.linspace(0.5, 2.5, 5)
    path = ff.nexus(
        tmp_path / "map.nxs",
        signal,
        ["energy", "y", "x"],
        {"energy": (energies, "keV"), "y": (np.arange(6), "um"), "x": (np.arange(7), "um")},
    )
    coll = load_collection(path)
    np.testing.assert_array_equal(coll.images, signal.astype(np.float32))
    np.testing.assert_allclose(coll.axis_values, energies)
    assert coll.axis_label == "energy (keV)"
    assert any("NeXus default dataset /entry/data/counts" in w for w in coll.warnings)


def test_nexus_spatial_axes_say_where_the_images_are(tmp_path):
    signal = ff.cube((6, 7, 4))  # (y, x, wavenumber)
    path = ff.nexus(
        tmp_path / "raman.nxs",
        signal,
        ["y", "x", "wavenumber"],
        {"wavenumber": ([500.0, 800.0, 1200.0, 1600.0], "1/cm")},
    )
    coll = load_collection(path)
    np.testing.assert_array_equal(coll.images, np.moveaxis(signal, 2, 0).astype(np.float32))
    assert coll.axis_label == "wavenumber (1/cm)"
    assert coll.names[0] == "raman.nxs[wavenumber 0]"


def test_hdf5_without_an_image_dataset(tmp_path):
    path = ff.hdf5(tmp_path / "flat.h5", {"spectrum": np.arange(10.0), "ids": np.arange(3)})
    with pytest.raises(LoadError) as info:
        load_collection(path)
    text = str(info.value)
    assert "flat.h5" in text and "no 2-D or 3-D numeric dataset" in text and "/spectrum" in text


def test_not_hdf5_under_an_hdf5_name(tmp_path):
    path = tmp_path / "fake.h5"
    path.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(LoadError, match=r"fake\.h5: not a readable HDF5 file"):
        load_collection(path)


# --------------------------------------------------------------------------- missing extras
@pytest.mark.parametrize(
    ("module", "make", "library"),
    [
        ("h5py", lambda p: ff.hdf5(p / "x.h5", {"a": ff.cube((2, 3, 3))}), "h5py"),
        ("spectral", lambda p: ff.envi_cube(p / "x.hdr", ff.cube((3, 3, 2))), "Spectral Python"),
    ],
)
def test_a_missing_extra_is_named(tmp_path, monkeypatch, module, make, library):
    path = make(tmp_path)
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(LoadError) as info:
        load_collection(path)
    text = str(info.value)
    assert path.name in text and library in text and EXTRA in text


def test_a_missing_extra_skips_only_that_file(tmp_path, monkeypatch):
    from PIL import Image

    Image.fromarray(ff.cube((3, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    ff.hdf5(tmp_path / "b.h5", {"a": ff.cube((3, 3))})
    monkeypatch.setitem(sys.modules, "h5py", None)
    coll = load_collection(tmp_path)
    assert coll.names == ("a.png",)
    assert any(w.startswith("skipped b.h5:") and EXTRA in w for w in coll.warnings)


# --------------------------------------------------------------------------- command line
def test_cli_dataset_end_to_end(tmp_path, capsys):
    a, b = ff.cube((3, 5, 5)), ff.cube((4, 5, 5), seed=1)
    path = ff.hdf5(tmp_path / "two.h5", {"/a": a, "/b": b})
    out = tmp_path / "out"
    args = ["fit", str(path), "-k", "2", "--max-iter", "3", "--out", str(out)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "two.h5" in err[0] and "--dataset /a" in err[0]
    assert not out.exists()
    assert cli.main([*args, "--dataset", "/b"]) == 0
    assert len((out / "weights.csv").read_text().splitlines()) == 1 + 4
    run = json.loads((out / "run.json").read_text())
    assert run["load_options"]["dataset"] == "/b"


def test_cli_envi_end_to_end(tmp_path, capsys):
    header = ff.envi_cube(tmp_path / "scene.hdr", ff.cube((6, 6, 5)), wavelengths=[1, 2, 3, 4, 5])
    out = tmp_path / "out"
    assert cli.main(["fit", str(header), "-k", "2", "--max-iter", "3", "--out", str(out)]) == 0
    assert len((out / "weights.csv").read_text().splitlines()) == 1 + 5


def test_cli_missing_extra_is_one_line(tmp_path, monkeypatch, capsys):
    path = ff.hdf5(tmp_path / "x.h5", {"a": ff.cube((2, 3, 3))})
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if not installed
    out = tmp_path / "out"
    assert cli.main(["fit", str(path), "-k", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "x.h5" in err[0] and EXTRA in err[0]
    assert not out.exists()


def test_an_ambiguous_file_among_others_is_skipped_saying_how_to_choose(tmp_path):
    """A folder of pictures with a stray HDF5 file of several datasets (model weights):
    the pictures load, the file is skipped with the reason; alone it is an error."""
    from PIL import Image

    for i in range(3):
        Image.fromarray(ff.cube((5, 5), seed=i, dtype=np.uint8)).save(tmp_path / f"p{i}.png")
    ff.hdf5(tmp_path / "model.h5", {"w1": ff.cube((5, 4)), "w2": ff.cube((4, 3))})
    coll = load_collection(tmp_path)
    assert coll.names == ("p0.png", "p1.png", "p2.png")
    (skip,) = [w for w in coll.warnings if w.startswith("skipped model.h5:")]
    assert "/w1, /w2" in skip and "dataset='/w1'" in skip
    with pytest.raises(LoadError) as info:
        load_collection(tmp_path / "model.h5")
    assert info.value.field == "dataset"


def test_the_same_choice_wrong_for_every_file_is_the_error(tmp_path):
    for name in ("a", "b"):
        ff.hdf5(tmp_path / f"{name}.h5", {"x": ff.cube((2, 4, 4)), "y": ff.cube((2, 4, 4))})
    with pytest.raises(LoadError) as info:
        load_collection(tmp_path)
    assert info.value.field == "dataset" and "a.h5" in str(info.value)
    coll = load_collection(tmp_path, LoadOptions(dataset="y"))
    assert coll.n_images == 4
