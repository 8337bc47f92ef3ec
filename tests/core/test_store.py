"""Chunked on-disk collections: conversion, lazy opening, bad stores."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")

from nmfviewer.cli import main  # noqa: E402
from nmfviewer.core import Collection, LoadError, load_collection  # noqa: E402
from nmfviewer.core.convert import LOCK_NAME, convert_to_store  # noqa: E402
from nmfviewer.core.store import PARTIAL, StoreMatrix, is_store, open_store  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(23):
        size = (12, 10) if i != 5 else (8, 10)  # one of another size: resized, reported
        Image.fromarray((rng.random(size) * 255).astype(np.uint8)).save(root / f"im{i:02d}.png")
    (root / "broken.png").write_bytes(b"not a png")
    return root


def test_convert_writes_what_load_collection_loads(folder, tmp_path):
    ref = load_collection(folder)
    seen: list[tuple[int, int]] = []
    store = convert_to_store(
        folder,
        tmp_path / "s.zarr",
        chunk_bytes=5 * 120 * 4,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert store == tmp_path / "s.zarr" and is_store(store)
    assert not (tmp_path / ("s.zarr" + PARTIAL)).exists()
    lazy = load_collection(store)
    X = lazy.to_matrix()
    assert isinstance(X, StoreMatrix)
    assert X.chunk_rows == 5 and X.shape == (23, 120)  # whole rows per chunk
    np.testing.assert_array_equal(np.asarray(X), ref.to_matrix())
    assert lazy.names == ref.names and lazy.image_shape == ref.image_shape
    assert lazy.warnings == ref.warnings  # the same load report (broken file, resize)
    assert any("broken.png" in w for w in lazy.warnings)
    assert any("resized" in w for w in lazy.warnings)
    assert lazy.value_range == ref.value_range
    np.testing.assert_array_equal(lazy.images[3], ref.images[3])
    assert seen[-1] == (24, 24) or seen[-1][0] == seen[-1][1]
    stats = X.stats()
    assert stats.sum == pytest.approx(float(ref.to_matrix().sum(dtype=np.float64)))


def test_opening_a_store_reads_no_pixels(folder, tmp_path, monkeypatch):
    store = convert_to_store(folder, tmp_path / "s.zarr")

    def refuse(*a, **k):
        raise AssertionError("pixels read at open")

    monkeypatch.setattr(StoreMatrix, "read", refuse)
    collection = load_collection(store)
    assert collection.n_images == 23 and collection.to_matrix().max() > 0


def test_to_zarr_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    c = Collection.from_array(rng.random((7, 4, 5)), names=[f"n{i}" for i in range(7)])
    store = c.to_zarr(tmp_path / "c.zarr", chunk_bytes=3 * 20 * 4)
    back = load_collection(store)
    assert back.names == c.names and back.image_shape == (4, 5)
    np.testing.assert_array_equal(np.asarray(back.to_matrix()), c.to_matrix())
    with pytest.raises(LoadError, match="exists already"):
        c.to_zarr(store)
    c.to_zarr(store, overwrite=True)  # replaced only once the new one is complete
    assert load_collection(store).n_images == 7


def test_cancelled_conversion_leaves_no_store(folder, tmp_path):
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if total and done >= 3:
            cancel.set()

    target = tmp_path / "s.zarr"
    with pytest.raises(LoadError, match="cancelled"):
        convert_to_store(folder, target, chunk_bytes=480, progress=progress, cancel=cancel)
    assert not target.exists() and not (tmp_path / ("s.zarr" + PARTIAL)).exists()


def test_partial_and_incomplete_stores_do_not_load(folder, tmp_path):
    store = convert_to_store(folder, tmp_path / "s.zarr")
    partial = tmp_path / ("t.zarr" + PARTIAL)
    os.replace(store, partial)
    with pytest.raises(LoadError, match="still being written"):
        load_collection(partial)
    group = zarr.open_group(str(partial), mode="r+")
    meta = dict(group.attrs["nmfviewer"])
    meta["complete"] = False
    group.attrs["nmfviewer"] = meta
    os.replace(partial, tmp_path / "t.zarr")
    with pytest.raises(LoadError, match="incomplete"):
        load_collection(tmp_path / "t.zarr")


def test_a_conversion_in_progress_is_not_overwritten(folder, tmp_path):
    partial = tmp_path / ("s.zarr" + PARTIAL)
    partial.mkdir()
    (partial / LOCK_NAME).write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(LoadError, match="another conversion"):
        convert_to_store(folder, tmp_path / "s.zarr")
    (partial / LOCK_NAME).write_text("999999999")  # a dead one: its leftovers are removed
    assert is_store(convert_to_store(folder, tmp_path / "s.zarr"))


def _save(path: Path, a: np.ndarray, chunks=None) -> None:
    z = zarr.create_array(str(path), shape=a.shape, dtype=a.dtype, chunks=chunks or a.shape)
    z[...] = a


def test_foreign_zarr_arrays(tmp_path):
    a = np.arange(6 * 4 * 5, dtype=np.uint16).reshape(6, 4, 5)
    _save(tmp_path / "cube.zarr", a, chunks=(2, 4, 5))
    c = load_collection(tmp_path / "cube.zarr")
    assert c.image_shape == (4, 5) and c.names[2] == "image 2"
    np.testing.assert_array_equal(np.asarray(c.to_matrix()), a.reshape(6, 20).astype(np.float32))
    _save(tmp_path / "flat.zarr", a.reshape(6, 20), chunks=(3, 20))
    assert load_collection(tmp_path / "flat.zarr").image_shape == (1, 20)
    _save(tmp_path / "cols.zarr", a.reshape(6, 20), chunks=(6, 5))
    with pytest.raises(LoadError, match=r"not in whole rows.*convert"):
        load_collection(tmp_path / "cols.zarr")
    _save(tmp_path / "4d.zarr", a.reshape(1, 6, 4, 5))
    with pytest.raises(LoadError, match=r"\(n_images, n_pixels\)"):
        open_store(tmp_path / "4d.zarr")


def test_cli_convert_then_fit(folder, tmp_path, capsys):
    store = tmp_path / "s.zarr"
    assert main(["convert", str(folder), "--to", str(store)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(store)
    assert "wrote 23 images of 10x12" in err and "broken.png" in err
    assert main(["convert", str(folder), "--to", str(store)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["convert", str(folder), "--to", str(store), "-k", "3"]) == 2
    assert "loading options only" in capsys.readouterr().err
    assert (
        main(["fit", str(store), "-k", "3", "--max-iter", "20", "--out", str(tmp_path / "o"), "-q"])
        == 0
    )
    import json

    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["result"]["engine"]["engine"] == "streamed"
    assert run["inputs"]["source"] == [str(store.absolute())]


def test_without_the_extra_a_store_names_the_install(folder, tmp_path, monkeypatch):
    from nmfviewer.core import DaskEngine, NMFViewerError

    store = convert_to_store(folder, tmp_path / "s.zarr")
    monkeypatch.setitem(__import__("sys").modules, "zarr", None)  # as if not installed
    with pytest.raises(NMFViewerError, match=r'pip install "nmfviewer\[dask\]"'):
        load_collection(store)
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    with pytest.raises(NMFViewerError, match=r'pip install "nmfviewer\[dask\]"'):
        DaskEngine(n_workers=1).start()


def test_zarr_and_dask_are_imported_only_when_used():
    import subprocess
    import sys

    code = (
        "import sys, nmfviewer.cli, nmfviewer.core.collection, nmfviewer.core.nmf.run\n"
        "from nmfviewer.core import StreamedEngine, DaskEngine, fit\n"
        "bad = [m for m in ('zarr', 'dask', 'distributed') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_a_full_disk_during_conversion_leaves_no_store(folder, tmp_path, monkeypatch):
    import errno

    real = zarr.Array.__setitem__
    calls = []

    def setitem(self, key, value):
        calls.append(key)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, key, value)

    monkeypatch.setattr(zarr.Array, "__setitem__", setitem)
    with pytest.raises(LoadError, match=r"No space left on device.*nothing was kept"):
        convert_to_store(folder, tmp_path / "s.zarr", chunk_bytes=480)
    assert list(tmp_path.iterdir()) == []  # neither the store nor its .partial folder
