"""The physical band axis: axis files, sidecars beside a cube, exports and pictures."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from nmfviewer.core.axis import SpectralAxis, parse_axis_label, read_axis_file
from nmfviewer.core.collection import Collection, load_collection
from nmfviewer.core.errors import LoadError, ParameterError
from nmfviewer.core.export import export_run
from nmfviewer.core.nmf.fit import fit
from nmfviewer.core.params import LoadOptions, NMFParams

N_BANDS = 12
ENERGIES = np.round(np.linspace(0.01, 20.5, N_BANDS), 4)


@pytest.fixture
def cube(tmp_path):
    """A 12-band cube (cube.tif) in its own folder, no axis beside it yet."""
    rng = np.random.default_rng(1)
    spectra = rng.random((N_BANDS, 2)) + 0.1
    maps = rng.random((2, 6 * 5)) + 0.1
    data = (spectra @ maps).reshape(N_BANDS, 6, 5).astype(np.float32)
    folder = tmp_path / "eds"
    folder.mkdir()
    tifffile.imwrite(folder / "cube.tif", data)
    return folder / "cube.tif"


@pytest.mark.parametrize(
    ("text", "name", "unit"),
    [
        ("energy_keV", "energy", "keV"),
        ("Energy (eV)", "energy", "eV"),
        ("wavenumber_cm-1", "wavenumber", "cm⁻¹"),
        ("Raman shift [cm^-1]", "wavenumber", "cm⁻¹"),
        ("wavelength (µm)", "wavelength", "µm"),
        ("lambda_nm", "wavelength", "nm"),
        ("wavelengths", "wavelength", None),
        ("channel", "channel", None),
        ("level", None, None),  # 'ev' inside a word is not a unit
    ],
)
def test_names_and_units_are_read_from_labels(text, name, unit):
    assert parse_axis_label(text) == (name, unit)


def test_axis_file_forms_one_per_line_one_row_and_csv_with_header(tmp_path):
    one = tmp_path / "energy_keV.csv"
    one.write_text("\n".join(str(v) for v in ENERGIES) + "\n")
    axis = read_axis_file(one, N_BANDS)
    np.testing.assert_array_equal(axis.values, ENERGIES)
    assert (axis.name, axis.unit, axis.source) == ("energy", "keV", "energy_keV.csv")
    assert axis.describe() == "energy_keV.csv, 0.01–20.5 keV"

    row = tmp_path / "axis.txt"
    row.write_text(", ".join(str(v) for v in ENERGIES))
    np.testing.assert_array_equal(read_axis_file(row, N_BANDS).values, ENERGIES)

    table = tmp_path / "table.csv"
    lines = ["channel,Raman shift (cm-1),counts"]
    lines += [f"{i},{1000 + 5 * i},{i * 7}" for i in range(N_BANDS)]
    table.write_text("\n".join(lines))
    axis = read_axis_file(table, N_BANDS)
    np.testing.assert_array_equal(axis.values, 1000 + 5 * np.arange(N_BANDS))
    assert axis.label == "wavenumber (cm⁻¹)"

    falling = tmp_path / "wavelength.txt"
    falling.write_text("# wavelength in nm\n" + "\n".join(str(900 - 10 * i) for i in range(5)))
    axis = read_axis_file(falling)
    assert axis.label == "wavelength (nm)" and axis.values[0] == 900
    assert axis.band_at(881) == 2 and axis.format_value(880) == "880 nm"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1\n2\n3\n", r"axis file bad\.csv: it has 3 values but the collection has 12 bands"),
        ("energy\n1\n2\nabc\n", r"axis file bad\.csv: line 4 holds 'abc', which is not a number"),
        ("1\n2\nnan\n", r"line 3 holds 'nan', which is not a finite number"),
        ("1\n2\n2\n3\n", r"must increase from band to band, but line 3 \(2\) follows 2"),
        ("5\n4\n6\n", r"must decrease from band to band, but line 3 \(6\) follows 4"),
        ("# only a comment\n", r"it holds no numbers"),
        ("1,2\n3\n", r"line 2 has another number of columns than line 1"),
    ],
)
def test_bad_axis_files_name_the_file_the_problem_and_the_fix(tmp_path, content, message):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    with pytest.raises(LoadError, match=message) as info:
        read_axis_file(bad, N_BANDS)
    assert info.value.field == "axis_file" and info.value.path == bad
    assert info.value.hint


def test_a_missing_axis_file_and_a_bad_option_value_are_clear(tmp_path):
    with pytest.raises(LoadError, match=r"axis file .*nope\.csv does not exist"):
        read_axis_file(tmp_path / "nope.csv")
    with pytest.raises(ParameterError, match="axis_file=3 is not a file path"):
        LoadOptions(axis_file=3)
    assert LoadOptions(axis_file=tmp_path / "a.csv").axis_file == str(tmp_path / "a.csv")


def test_a_sidecar_beside_the_cube_is_picked_up_and_reported(cube):
    np.savetxt(cube.parent / "energy_keV.csv", ENERGIES)
    coll = load_collection(cube)
    assert coll.axis is not None
    np.testing.assert_array_equal(coll.axis.values, ENERGIES)
    np.testing.assert_array_equal(coll.axis_values, ENERGIES)
    assert coll.axis_label == "energy (keV)"
    assert "band axis: energy_keV.csv, 0.01–20.5 keV" in coll.warnings


def test_a_sidecar_with_the_wrong_count_is_ignored_with_a_warning(cube):
    np.savetxt(cube.parent / "wavelength_nm.txt", np.arange(5.0))
    np.savetxt(cube.parent / "notes.csv", ENERGIES)  # no telling name: never an axis
    coll = load_collection(cube)
    assert coll.axis is None and coll.axis_label == "band"
    assert any(
        w.startswith("ignored wavelength_nm.txt as band axis: it has 5 values but the "
                     "collection has 12 bands") for w in coll.warnings
    )  # fmt: skip


def test_an_axis_file_given_wins_and_a_bad_one_is_an_error(cube, tmp_path):
    np.savetxt(cube.parent / "energy_keV.csv", ENERGIES)
    given = tmp_path / "shift_cm-1.txt"
    given.write_text("\n".join(str(100 + i) for i in range(N_BANDS)))
    coll = load_collection(cube, LoadOptions(axis_file=str(given)))
    assert coll.axis.label == "wavenumber (cm⁻¹)" and coll.axis.values[0] == 100
    assert coll.axis.path == given
    given.write_text("1\n2\n")
    with pytest.raises(LoadError, match="it has 2 values but the collection has 12 bands"):
        load_collection(cube, LoadOptions(axis_file=str(given)))


def test_axis_values_and_axis_stay_in_step():
    data = np.ones((3, 2, 2), dtype=np.float32)
    coll = Collection.from_array(data)
    assert coll.axis is None and coll.axis_label == "image"
    spectral = coll.with_axis(SpectralAxis([1.0, 2.0, 3.0], "energy", "keV", "test"))
    assert spectral.axis_label == "energy (keV)" and spectral.axis_values[2] == 3.0
    assert spectral.with_axis(None).axis_label == "band"
    from dataclasses import replace

    legacy = replace(
        coll, axis_values=np.array([400.0, 500.0, 600.0]), axis_label="wavelength (nm)"
    )
    assert (legacy.axis.name, legacy.axis.unit) == ("wavelength", "nm")
    with pytest.raises(LoadError, match="has 2 values but the collection has 3 bands"):
        coll.with_axis(SpectralAxis([1.0, 2.0], "energy", "keV", "x.csv"))


def _fitted(coll, k=2):
    return fit(coll.to_matrix(), NMFParams(n_components=k, max_iter=40, seed=0))


def test_exports_carry_the_axis_and_the_spectral_pictures(cube, tmp_path):
    np.savetxt(cube.parent / "energy_keV.csv", ENERGIES)
    coll = load_collection(cube)
    result = _fitted(coll)
    out = tmp_path / "out"
    names = [p.name for p in export_run(out, coll, result)]
    assert {"loss.png", "spectra.png", "basis_montage.png"} <= set(names)
    rows = list(csv.reader(io.StringIO((out / "weights.csv").read_text())))
    assert rows[0] == ["energy (keV)", "image", "component_0", "component_1"]
    np.testing.assert_allclose([float(r[0]) for r in rows[1:]], ENERGIES)
    np.testing.assert_allclose([[float(v) for v in r[2:]] for r in rows[1:]], result.W, rtol=1e-6)
    with np.load(out / "factors.npz") as z:
        np.testing.assert_array_equal(z["axis_values"], ENERGIES)
        assert (str(z["axis_name"]), str(z["axis_unit"])) == ("energy", "keV")
    record = json.loads((out / "run.json").read_text())["data"]["axis"]
    assert record["source"] == "energy_keV.csv" and record["unit"] == "keV"
    assert record["path"] == str(cube.parent / "energy_keV.csv")
    assert len(record["sha256"]) == 64
    with Image.open(out / "spectra.png") as img:
        assert img.size[0] == 900 and img.size[1] > 300
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3).astype(int)
    for color in [(31, 119, 180), (255, 127, 14)]:  # component 0 and 1, as in the montage
        assert np.count_nonzero(np.abs(pixels - color).sum(axis=1) < 30) > 100
    with Image.open(out / "basis_montage.png") as img:
        montage = np.asarray(img.convert("RGB")).reshape(-1, 3).astype(int)
    assert np.count_nonzero(np.abs(montage - (31, 119, 180)).sum(axis=1) < 5) > 50


def test_a_later_non_spectral_export_removes_our_spectra_png(cube, tmp_path):
    coll = load_collection(cube)
    out = tmp_path / "out"
    export_run(out, coll, _fitted(coll))
    assert (out / "spectra.png").exists()  # bands without an axis: against band index
    images = Collection.from_array(np.asarray(coll.images))
    export_run(out, images, _fitted(images))
    assert not (out / "spectra.png").exists()
    assert (out / "loss.png").exists()


def test_cli_bad_axis_file_exits_2_with_one_line(cube, tmp_path):
    bad = tmp_path / "energy.csv"
    bad.write_text("1\n3\n2\n")
    proc = subprocess.run(
        [sys.executable, "-m", "nmfviewer", "fit", str(cube), "-k", "2", "--axis", str(bad),
         "--out", str(tmp_path / "o")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "axis file energy.csv" in lines[0]
    assert "Traceback" not in proc.stderr


def test_count_data_gets_the_kl_hint_and_other_data_does_not(tmp_path, cube):
    from nmfviewer.core.counts import count_data_hint

    counts = np.random.default_rng(0).poisson(3.0, (N_BANDS, 6, 5)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "eds.tif", counts)
    eds = load_collection(tmp_path / "eds.tif")
    assert "Poisson likelihood" in count_data_hint(eds, "frobenius")
    assert count_data_hint(eds, "kl") is None
    assert count_data_hint(load_collection(cube), "frobenius") is None  # float32 cube
    images = Collection.from_array(counts.reshape(N_BANDS, -1))  # an image collection
    assert count_data_hint(images, "frobenius") is None
    normalised = load_collection(tmp_path / "eds.tif", LoadOptions(normalize="max"))
    assert count_data_hint(normalised, "frobenius") is None
