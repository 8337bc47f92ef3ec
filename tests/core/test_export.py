"""Export: every file with the right content, atomic writes, clear errors.

The tests run as root, so chmod cannot make a folder unwritable; failures are
produced honestly in other ways: an output "folder" below a regular file
(ENOTDIR), and os.replace / os.fsync patched to raise the OSError a full disk
or a read-only mount would raise.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from nmfviewer.core import export as export_mod
from nmfviewer.core.collection import load_collection
from nmfviewer.core.errors import ExportError, NMFViewerError
from nmfviewer.core.export import (
    atomic_write_bytes,
    export_run,
    make_montage,
    read_manifest,
    save_basis_png,
)
from nmfviewer.core.manifest import ManifestError
from nmfviewer.core.montage import scale_to_range, tile_scale
from nmfviewer.core.nmf.fit import fit
from nmfviewer.core.params import LoadOptions, NMFParams

SHAPE = (6, 5)
# names that need CSV quoting, plus spaces and non-ASCII characters
NAMES = ["a.png", "b, with comma.png", 'c "quoted".png', "d été.png", "e.png", "f.png", "g.png"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small collection loaded from real PNG files, and a real fit of it."""
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(3)
    for name in NAMES:
        iio.imwrite(folder / name, rng.integers(0, 256, SHAPE, dtype=np.uint8))
    collection = load_collection(folder, LoadOptions(normalize="max"))
    result = fit(collection.to_matrix(), NMFParams(n_components=3, max_iter=30, seed=7))
    return collection, result


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    collection, result = run
    out = tmp_path_factory.mktemp("export") / "new" / "sub"  # created if missing
    written = export_run(out, collection, result)
    return out, written


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_export_writes_every_file_and_no_temporaries(exported):
    out, written = exported
    expected = ["basis_00.png", "basis_01.png", "basis_02.png", "basis_montage.png",
                "loss.png", "weights.csv", "factors.npz", "run.json"]  # fmt: skip
    assert [p.name for p in written] == expected
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    assert all(p.parent == out.absolute() for p in written)
    assert _temps(out) == []


def test_basis_pngs_are_full_range_8_bit_rows_of_H(run, exported):
    collection, result = run
    out, _ = exported
    for j in range(result.H.shape[0]):
        png = iio.imread(out / f"basis_{j:02d}.png")
        assert png.shape == collection.image_shape and png.dtype == np.uint8
        assert png.min() == 0 and png.max() == 255
        np.testing.assert_array_equal(png, scale_to_range(result.H[j].reshape(SHAPE), 8))
        # the brightest pixel is where H's row peaks
        assert png.ravel()[np.argmax(result.H[j])] == 255


def test_16_bit_basis_pngs(run, tmp_path):
    collection, result = run
    export_run(tmp_path, collection, result, bit_depth=16)
    png = iio.imread(tmp_path / "basis_01.png")
    assert png.dtype == np.uint16 and png.shape == SHAPE
    assert png.min() == 0 and png.max() == 65535
    np.testing.assert_array_equal(png, scale_to_range(result.H[1].reshape(SHAPE), 16))
    assert read_manifest(tmp_path / "run.json").raw["export"]["bit_depth"] == 16


def test_weights_csv_parses_back_to_W_with_names(run, exported):
    collection, result = run
    out, _ = exported
    with open(out / "weights.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["image", "component_0", "component_1", "component_2"]
    assert [r[0] for r in rows[1:]] == list(collection.names)
    assert set(collection.names) == set(NAMES)
    W = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    # full precision: the float32 values come back exactly
    np.testing.assert_array_equal(W.astype(result.W.dtype), result.W)


def test_factors_npz_round_trip(run, exported):
    collection, result = run
    out, _ = exported
    with np.load(out / "factors.npz", allow_pickle=False) as z:
        assert set(z.files) == {"W", "H", "image_shape", "names", "loss_history"}
        np.testing.assert_array_equal(z["W"], result.W)
        np.testing.assert_array_equal(z["H"], result.H)
        assert z["W"].dtype == result.W.dtype
        assert tuple(z["image_shape"]) == SHAPE
        assert list(z["names"]) == list(collection.names)
        np.testing.assert_array_equal(z["loss_history"], result.loss_history)


def test_axis_values_are_saved_when_the_collection_has_them(run, tmp_path):
    collection, result = run
    waves = np.linspace(400.0, 700.0, collection.n_images)
    spectral = replace(collection, axis_values=waves, axis_label="wavelength (nm)")
    export_run(tmp_path, spectral, result)
    with np.load(tmp_path / "factors.npz", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["axis_values"], waves)
        assert str(z["axis_label"]) == "wavelength (nm)"
    raw = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert raw["data"]["axis_values"] == waves.tolist()


def test_run_json_records_inputs_options_params_and_result(run, exported):
    collection, result = run
    out, _ = exported
    raw = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert raw["format"] == "nmfviewer-run" and raw["format_version"] == 1
    assert raw["nmfviewer_version"] and raw["created"].endswith("+00:00")
    files = raw["inputs"]["files"]
    assert len(files) == len(NAMES)
    for entry in files:
        p = Path(entry["path"])
        assert p.is_absolute()
        assert entry["size"] == p.stat().st_size
        assert entry["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert raw["inputs"]["source"] == [str(Path(s).absolute()) for s in collection.source]
    assert raw["load_options"] == collection.options.to_dict()
    assert raw["load_options"]["normalize"] == "max"
    assert raw["params"] == result.params.to_dict() and raw["params"]["seed"] == 7
    res = raw["result"]
    assert res["n_iter"] == result.n_iter and res["stop_reason"] == result.stop_reason
    assert res["loss_history"] == result.loss_history.tolist()
    assert res["final_loss"] == pytest.approx(result.loss)
    assert res["reconstruction_err"] == pytest.approx(result.reconstruction_err_)
    assert res["elapsed"] >= 0
    assert raw["data"]["image_shape"] == list(SHAPE)
    assert raw["data"]["n_images"] == len(NAMES)
    env = raw["environment"]
    for lib in ("python", "platform", "numpy", "scipy", "scikit-image", "imageio", "tifffile"):
        assert env[lib], lib
    assert isinstance(env["blas"], list)
    # the listed output hashes match the files (run.json itself excluded)
    assert set(raw["outputs"]) == {p.name for p in out.iterdir()} - {"run.json"}
    for name, digest in raw["outputs"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


def test_read_manifest_gives_what_a_replay_needs(run, exported):
    collection, result = run
    out, _ = exported
    m = read_manifest(out / "run.json")
    assert m.paths == tuple(Path(p).absolute() for p in collection.source)
    assert m.load_options == collection.options
    assert m.params == result.params
    assert m.n_iter == result.n_iter and m.stop_reason == result.stop_reason
    assert {f.path for f in m.files} == {Path(f).absolute() for f in collection.files}
    assert m.changed_inputs(collection.files) == []
    assert m.raw["format"] == "nmfviewer-run"


def test_kl_run_history_with_unevaluated_losses_exports(run, tmp_path):
    # KL multiplicative updates evaluate the loss every 10th iteration: nan in
    # between, written as null in the strict JSON and kept as nan in the NPZ
    collection, _ = run
    params = NMFParams(n_components=3, solver="mu", loss="kl", max_iter=13, tol=0.0, seed=7)
    result = fit(collection.to_matrix(), params)
    assert np.isnan(result.loss_history).sum() == 11
    export_run(tmp_path, collection, result)
    res = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["result"]
    assert res["loss_history"] == [None if np.isnan(v) else v for v in result.loss_history]
    assert res["loss_history"][0] is not None and res["loss_history"][-1] == result.loss
    assert res["final_loss"] == result.loss
    assert res["reconstruction_err"] == pytest.approx(result.reconstruction_err_)
    with np.load(tmp_path / "factors.npz") as z:
        np.testing.assert_array_equal(z["loss_history"], result.loss_history)


def test_changed_inputs_are_reported(run, exported, tmp_path):
    collection, _ = run
    m = read_manifest(exported[0] / "run.json")
    extra = tmp_path / "extra.png"
    extra.write_bytes(b"x")
    notes = m.changed_inputs([*collection.files[1:], extra])
    assert len(notes) == 2
    assert str(Path(collection.files[0]).absolute()) in notes[0]
    assert str(extra.absolute()) in notes[1]


@pytest.mark.parametrize(
    "content, fragment",
    [(None, "does not exist"), ("{not json", "not valid JSON"),
     ('{"format": "other"}', "not an nmfviewer run manifest"),
     ('{"format": "nmfviewer-run", "format_version": 1}', "incomplete")],
)  # fmt: skip
def test_read_manifest_errors_name_the_file(tmp_path, content, fragment):
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ManifestError, match=fragment) as info:
        read_manifest(path)
    assert isinstance(info.value, NMFViewerError)
    assert str(path) in str(info.value)


def test_montage_is_a_labelled_grid_of_upscaled_tiles():
    rng = np.random.default_rng(0)
    H = rng.random((5, 8 * 4))
    m = make_montage(H, (8, 4))
    s = tile_scale((8, 4))
    assert m.dtype == np.uint8 and m.ndim == 2
    assert 8 * s >= 96
    rows_cols = (2, 3)  # 5 tiles -> 2 rows of 3
    assert m.shape[0] > rows_cols[0] * 8 * s and m.shape[1] > rows_cols[1] * 4 * s
    # each tile appears, nearest-neighbour upscaled, exactly once
    for j in range(5):
        tile = np.kron(scale_to_range(H[j].reshape(8, 4)), np.ones((s, s), dtype=np.uint8))
        th, tw = tile.shape
        hits = [
            (y, x)
            for y in range(m.shape[0] - th + 1)
            for x in range(m.shape[1] - tw + 1)
            if m[y, x] == tile[0, 0] and np.array_equal(m[y : y + th, x : x + tw], tile)
        ]
        assert len(hits) == 1, j


def test_montage_of_large_images_is_subsampled():
    H = np.zeros((2, 1100 * 30))
    H[1, 0] = 1.0
    m = make_montage(H, (1100, 30), labels=["", ""])  # no label ink
    assert m.shape[0] < 512 + 40 and m.shape[1] < 2 * 10 + 10
    assert (m == 255).sum() == 1  # the peak of basis 1 (its first pixel) is kept


def test_montage_labels_differ_per_tile():
    H = np.ones((2, 9))
    band = make_montage(H, (3, 3), labels=["1", "7"])
    plain = make_montage(H, (3, 3), labels=["", ""])
    assert band.shape == plain.shape
    ink = band != plain
    assert ink.any() and (band[ink] == 255).all()
    # 3x3 tiles upscaled to 96 px, 2 px separators: tile 0 spans columns 2..97,
    # tile 1 columns 100..195; all ink sits in the label band above the tiles
    tile_top = np.flatnonzero(plain[:, 50] == 255)[0]  # the constant tile is white
    assert not ink[tile_top:].any()
    ink0, ink1 = ink[:tile_top, 2:98], ink[:tile_top, 100:196]
    assert ink0.any() and ink1.any() and not np.array_equal(ink0, ink1)
    with pytest.raises(ValueError, match="labels"):
        make_montage(H, (3, 3), labels=["only one"])
    # a label outside the embedded font still renders (Pillow's built-in font)
    assert (make_montage(H, (3, 3), labels=["Ab", "c"]) == 255).any()


def test_constant_basis_image_does_not_divide_by_zero(tmp_path):
    zero = save_basis_png(tmp_path / "zero.png", np.zeros((4, 3), np.float32))
    const = save_basis_png(tmp_path / "const.png", np.full((4, 3), 2.5), bit_depth=16)
    assert (iio.imread(zero) == 0).all()
    assert (iio.imread(const) == 65535).all()
    assert make_montage(np.zeros((2, 12)), (4, 3)).dtype == np.uint8
    assert _temps(tmp_path) == []


def test_atomic_write_replaces_content(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert _temps(tmp_path) == []


def _raise(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize(
    "patched, code, why",
    [("replace", errno.EROFS, "not writable"), ("fsync", errno.ENOSPC, "disk is full")],
)
def test_atomic_write_failure_keeps_old_file_and_leaves_no_temporary(
    tmp_path, monkeypatch, patched, code, why
):
    target = tmp_path / "weights.csv"
    target.write_bytes(b"previous results")
    monkeypatch.setattr(export_mod.os, patched, _raise(code))
    with pytest.raises(ExportError, match=why) as info:
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert str(tmp_path) in str(info.value) and "choose another folder" in str(info.value)
    assert info.value.path == tmp_path
    assert target.read_bytes() == b"previous results"
    assert _temps(tmp_path) == []


def test_export_below_a_regular_file_names_the_folder(run, tmp_path):
    collection, result = run
    blocker = tmp_path / "results.txt"
    blocker.write_text("a file, not a folder")
    for out in (blocker, blocker / "sub"):
        with pytest.raises(ExportError, match="choose another folder") as info:
            export_run(out, collection, result)
        assert str(out) in str(info.value)
    assert blocker.read_text() == "a file, not a folder"


def test_full_disk_during_export_changes_nothing(run, tmp_path, monkeypatch):
    collection, result = run
    export_run(tmp_path, collection, result)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = []

    def fsync_fails_on_the_fourth_file(fd):
        calls.append(fd)
        if len(calls) >= 4:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_mod.os, "fsync", fsync_fails_on_the_fourth_file)
    # a smaller k: even the earlier basis_02.png must survive the failed export
    other = replace(result, W=result.W[:, :2] * 2, H=result.H[:2].copy())
    with pytest.raises(ExportError, match="disk is full") as info:
        export_run(tmp_path, collection, other)
    monkeypatch.undo()
    assert str(tmp_path) in str(info.value)
    # files are staged before any rename: the earlier export is untouched
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_failed_rename_removes_every_temporary(run, tmp_path, monkeypatch):
    collection, result = run
    real_replace = os.replace
    calls = []

    def replace_fails_third(src, dst):
        if Path(dst).name != export_mod.JOURNAL_NAME:
            calls.append(dst)
            if len(calls) == 3:
                raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(export_mod.os, "replace", replace_fails_third)
    with pytest.raises(ExportError, match="Input/output error"):
        export_run(tmp_path, collection, result)
    monkeypatch.undo()
    assert _temps(tmp_path) == []
    # the two files renamed before the failure are complete; the journal of the
    # interrupted export says they are ours
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        export_mod.JOURNAL_NAME,
        "basis_00.png",
        "basis_01.png",
    ]
    assert iio.imread(tmp_path / "basis_01.png").shape == SHAPE
    # so the next export may replace them (no run.json lists them), and tidies up
    export_run(tmp_path, collection, result)
    assert export_mod.JOURNAL_NAME not in {p.name for p in tmp_path.iterdir()}


def test_reexport_with_smaller_k_removes_stale_basis_images_and_temporaries(run, tmp_path):
    collection, result = run
    export_run(tmp_path, collection, result)
    (tmp_path / ".weights.csv.abc123.tmp").write_bytes(b"left by a killed export")
    (tmp_path / "notes.txt").write_text("mine")
    smaller = replace(result, W=result.W[:, :2].copy(), H=result.H[:2].copy())
    export_run(tmp_path, collection, smaller)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["basis_00.png", "basis_01.png", "basis_montage.png", "notes.txt",
                            "loss.png", "weights.csv", "factors.npz", "run.json"])  # fmt: skip


def test_bad_bit_depth_is_refused(run, tmp_path):
    collection, result = run
    with pytest.raises(ExportError, match="bit_depth"):
        export_run(tmp_path, collection, result, bit_depth=12)


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys, time, numpy as np
    from nmfviewer.core.collection import Collection
    from nmfviewer.core.export import export_run
    from nmfviewer.core.nmf.fit import FitResult
    from nmfviewer.core.params import NMFParams
    out, phase, stop_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(0)
    n, h, w, k = 10, 16, 12, 6
    coll = Collection.from_array(rng.random((n, h, w), dtype=np.float32))
    calls = {"fsync": 0, "replace": 0, "export": 0}

    def hooked(name, real):
        # the real call, then (in the second export) a marker and a long pause:
        # the parent SIGKILLs the process exactly there
        def call(*args):
            result = real(*args)
            calls[name] += 1
            if calls["export"] == 2 and name == phase and calls[name] == stop_at:
                print("kill me", flush=True)
                time.sleep(60)
            return result
        return call

    os.fsync = hooked("fsync", os.fsync)
    os.replace = hooked("replace", os.replace)
    for _ in range(2):
        calls.update(fsync=0, replace=0, export=calls["export"] + 1)
        res = FitResult(W=rng.random((n, k), dtype=np.float32),
                        H=rng.random((k, h * w), dtype=np.float32), n_iter=1, loss=1.0,
                        loss_history=np.array([2.0, 1.0]), stop_reason="max_iter",
                        elapsed=0.1, params=NMFParams(n_components=k, seed=0))
        export_run(out, coll, res)
        print("exported", flush=True)
    """
)


def _killed_export(out: Path, phase: str, stop_at: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(out), phase, str(stop_at)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline() == "exported\n"
        assert proc.stdout.readline() == "kill me\n"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def _check_complete(out: Path) -> dict[str, bool]:
    """Every final file decodes completely; returns {name: same as the first export}."""
    for j in range(6):
        assert iio.imread(out / f"basis_{j:02d}.png").shape == (16, 12)
    assert iio.imread(out / "basis_montage.png").ndim == 2
    rows = list(csv.reader(io.StringIO((out / "weights.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 11 and all(len(r) == 7 for r in rows)
    with np.load(out / "factors.npz") as z:
        assert z["H"].shape == (6, 16 * 12)
    manifest = read_manifest(out / "run.json")  # complete JSON: from the first export
    return {
        name: hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
        for name, digest in manifest.raw["outputs"].items()
    }


def test_export_killed_while_staging_leaves_the_previous_files(tmp_path, run):
    """SIGKILL after 4 of 10 temporaries are written: the final files are all the old ones."""
    out = tmp_path / "out"
    _killed_export(out, "fsync", 4)
    assert len(_temps(out)) >= 4  # the kill really happened mid-export
    assert all(_check_complete(out).values())
    # the next export into the folder sweeps the dead process's temporaries away
    export_run(out, *run)
    assert _temps(out) == []


def test_export_killed_while_renaming_leaves_complete_files(tmp_path, run):
    """SIGKILL after 3 renames (the 4th replace: the journal is renamed in first):
    3 files are new, the others old, none half-written."""
    out = tmp_path / "out"
    _killed_export(out, "replace", 4)
    same = _check_complete(out)
    assert [name for name, old in same.items() if not old] == [
        "basis_00.png",
        "basis_01.png",
        "basis_02.png",
    ]
    # run.json does not list the new basis images, the journal does: the next export
    # may replace them and removes the journal
    assert (out / export_mod.JOURNAL_NAME).is_file()
    export_run(out, *run)
    assert not (out / export_mod.JOURNAL_NAME).exists() and _temps(out) == []
