"""Issue 14: arrays and photometric tags read as users mean them, Pillow's global guard
left alone, third-party notes captured, linear-time TIFF stacks, bounded folder walks."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from nmfviewer.core import discovery
from nmfviewer.core.collection import load_collection
from nmfviewer.core.errors import LoadError
from nmfviewer.core.params import LoadOptions
from nmfviewer.core.readers import capture_notes, probe

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}


# --------------------------------------------------------------------------- Pillow's guard
_GUARD = textwrap.dedent(
    """
    import sys
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = int(sys.argv[2])  # what the application chose
    import nmfviewer, nmfviewer.core
    from nmfviewer.core import load_collection
    c = load_collection(sys.argv[1])
    assert Image.MAX_IMAGE_PIXELS == int(sys.argv[2]), Image.MAX_IMAGE_PIXELS
    try:  # other code still has its guard
        Image.open(sys.argv[1] + "/big.png")
    except Image.DecompressionBombError:
        print("guarded", c.n_images, flush=True)
    """
)


@pytest.mark.parametrize("limit", [1000, 3000])
def test_import_and_load_leave_pillows_bomb_guard_alone(limit, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (60, 50), dtype=np.uint8)).save(folder / f"{i}.png")
    side = int((2 * limit) ** 0.5) + 2  # above the guard's refusal for other code
    Image.fromarray(np.zeros((side, side), np.uint8)).save(folder / "big.png")
    options = ["-c", _GUARD, str(folder), str(limit)]
    proc = subprocess.run(
        [sys.executable, *options],
        check=False,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # our loader read the big image too (sizes differ: it was resized), the guard held
    assert proc.stdout.split() == ["guarded", "4"]


def test_import_nmfviewer_in_process_keeps_max_image_pixels():
    import nmfviewer.core.readers  # noqa: F401 - the import is what is tested

    assert Image.MAX_IMAGE_PIXELS is not None


# --------------------------------------------------------------------------- .npy layouts
@pytest.mark.parametrize("shape, n_images, note", [
    ((12, 10, 3), 1, "read as one RGB image of 10x12"),
    ((12, 10, 4), 1, "read as one RGBA image of 10x12"),
    ((12, 10, 1), 1, "read as one gray image of 10x12"),
    ((5, 12, 10), 5, None),
    ((3, 12, 10), 3, None),  # a stack of 3: the first axis counts images
    ((2, 12, 10, 3), 2, None),
    ((12, 10), 1, None),
])  # fmt: skip
def test_npy_arrays_load_as_users_mean_them(shape, n_images, note, tmp_path):
    rng = np.random.default_rng(1)
    array = rng.integers(0, 255, shape, dtype=np.uint8)
    np.save(tmp_path / "a.npy", array)
    c = load_collection(tmp_path / "a.npy")
    assert c.n_images == n_images and c.image_shape == (12, 10)
    if note is None:
        assert not any("read as one" in w for w in c.warnings)
    else:
        assert any(note in w for w in c.warnings), c.warnings
    if shape[-1] == 3 and len(shape) == 3:  # the colour policy applied: luminance
        expected = array.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        np.testing.assert_allclose(c.images[0], expected, rtol=1e-5)
        assert any("converted 1 colour image to gray" in w for w in c.warnings)


def test_an_rgb_npy_is_refused_under_color_refuse(tmp_path):
    np.save(
        tmp_path / "rgb.npy", np.random.default_rng(2).integers(0, 255, (8, 9, 3), dtype=np.uint8)
    )
    with pytest.raises(LoadError, match="colour image"):
        load_collection(tmp_path / "rgb.npy", LoadOptions(color="refuse"))


# --------------------------------------------------------------------------- min-is-white
@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 65535), (np.float32, 1.0)])
def test_min_is_white_tiff_is_inverted_to_what_users_see(dtype, top, tmp_path):
    rng = np.random.default_rng(3)
    stored = (rng.random((2, 7, 6)) * top).astype(dtype)
    path = tmp_path / "white.tif"
    tifffile.imwrite(path, stored, photometric="miniswhite")
    c = load_collection(path)
    np.testing.assert_allclose(
        c.images, (top - stored.astype(np.float64)).astype(np.float32), rtol=1e-6
    )
    assert any("min-is-white" in w and "inverted" in w for w in c.warnings), c.warnings


def test_min_is_black_tiff_is_not_inverted(tmp_path):
    stored = np.arange(42, dtype=np.uint8).reshape(7, 6)
    tifffile.imwrite(tmp_path / "black.tif", stored, photometric="minisblack")
    c = load_collection(tmp_path / "black.tif")
    np.testing.assert_array_equal(c.images[0], stored)
    assert not any("min-is-white" in w for w in c.warnings)


def test_bilevel_min_is_white_is_flipped(tmp_path):
    bits = np.random.default_rng(4).random((16, 16)) > 0.5
    Image.fromarray(bits).save(tmp_path / "fax.tif", compression="group4")  # 1-bit, MINISWHITE
    with tifffile.TiffFile(tmp_path / "fax.tif") as tif:
        photometric = int(tif.pages.first.photometric)
    c = load_collection(tmp_path / "fax.tif")
    # whatever the file stores, the loaded image is what Pillow (every viewer) shows
    with Image.open(tmp_path / "fax.tif") as im:
        shown = np.asarray(im).astype(np.float32)
    np.testing.assert_array_equal(c.images[0], shown)
    assert photometric in (0, 1)


# --------------------------------------------------------------------------- APNG
def test_an_animated_png_is_not_cut_silently(tmp_path):
    frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (10, 100, 200)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    Image.fromarray(np.full((8, 8), 50, np.uint8)).save(tmp_path / "still.png")
    c = load_collection(tmp_path)
    assert c.n_images == 2
    assert any("anim.png: animated PNG: used the first of its 3 frames" in w for w in c.warnings), (
        c.warnings
    )
    assert not any("still.png" in w for w in c.warnings)


# --------------------------------------------------------------------------- third-party notes
def test_notes_are_captured_per_thread_and_others_pass_through(recwarn):
    seen: dict[str, list[str]] = {}

    def work(name: str) -> None:
        notes: list[str] = []
        with capture_notes(notes), warnings.catch_warnings():
            warnings.simplefilter("always")
            logging.getLogger("tifffile").warning("page %s\nhas a bad tag", name)
            warnings.warn(f"odd {name}", UserWarning, stacklevel=1)
        seen[name] = notes

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, notes in seen.items():
        assert f"tifffile says: page {name} has a bad tag" in notes
        assert any(n.endswith(f"says: odd {name}") for n in notes)
        assert all(name in n for n in notes)  # nothing of another thread
    # outside a capture, warnings still reach whoever handles them
    with pytest.warns(UserWarning, match="outside"):
        warnings.warn("outside", UserWarning, stacklevel=1)


def test_a_pillow_warning_becomes_one_warning_line_in_the_cli(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    im = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).convert("P")
    im.info["transparency"] = bytes([0] * 10 + [128] * 246)
    im.save(folder / "palette.png")  # Pillow warns when converting it
    os.rename(folder / "0.png", folder / "new\nline.png")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nmfviewer",
            "fit",
            str(folder),
            "-k",
            "2",
            "--max-iter",
            "3",
            "--out",
            str(tmp_path / "out"),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert all(
        ln.startswith(("nmfviewer: warning: ", "iteration", "stopped after ", "loading: "))
        for ln in lines
    ), proc.stderr
    assert any(
        "palette.png: Pillow says: Palette images with Transparency" in ln for ln in lines
    ), proc.stderr


# --------------------------------------------------------------------------- TIFF stacks
def _appended(path: Path, n: int) -> Path:
    page = np.zeros((4, 4), np.uint8)
    for i in range(n):
        tifffile.imwrite(path, page + (i % 200), append=True)  # one shaped series per page
    return path


def _best_time(func, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t)
    return best


def test_a_stack_written_page_by_page_opens_in_linear_time(tmp_path):
    small = _appended(tmp_path / "small.tif", 1000)
    large = _appended(tmp_path / "large.tif", 3000)
    assert len(probe(large).pages) == 3000
    t_small = _best_time(lambda: probe(small))
    t_large = _best_time(lambda: probe(large))
    # 3x the pages: linear is ~3x, the quadratic series lookup was ~9x and more
    assert t_large / t_small < 5.5, (t_small, t_large)
    c = load_collection(large)
    assert c.n_images == 3000 and c.images[2999, 0, 0] == 2999 % 200


def test_reading_the_headers_of_a_large_stack_reports_progress(tmp_path, monkeypatch):
    from nmfviewer.core import collection

    stack = _appended(tmp_path / "stack.tif", 300)
    monkeypatch.setattr(collection, "_HEADER_PROGRESS_EVERY", 0.0)
    calls: list[tuple[int, int]] = []
    load_collection(stack, progress=lambda d, t: calls.append((d, t)))
    headers = [d for d, t in calls if t == 0]
    assert headers[:3] == [1, 2, 3] and headers[-1] == 300
    assert calls[-1] == (300, 300)
    cancel = threading.Event()

    def cancel_at_100(done: int, total: int) -> None:
        if total == 0 and done >= 100:
            cancel.set()

    with pytest.raises(LoadError, match="cancelled"):
        load_collection(stack, progress=cancel_at_100, cancel=cancel)


# --------------------------------------------------------------------------- folder walks
def _images(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((4, 4), 10 + i, np.uint8)).save(folder / f"img{i}.png")


def test_recursive_walk_does_not_follow_a_link_out_of_the_tree(tmp_path):
    tree = tmp_path / "tree"
    _images(tree, 3)
    _images(tmp_path / "elsewhere", 2)
    os.symlink("/", tree / "root link")
    os.symlink(tmp_path / "elsewhere", tree / "outside")
    _images(tree / "sub", 1)
    os.symlink(tree / "sub", tree / "inside link")  # a second way to sub: a duplicate
    started = time.monotonic()
    c = load_collection(tree, LoadOptions(recursive=True))
    assert time.monotonic() - started < 30  # not the whole file system
    assert c.n_images == 4
    text = "\n".join(c.warnings)
    assert "2 folder links leading out of the folder given" in text
    assert "root link -> /" in text and "follow_links=True" in text


def test_follow_links_follows_out_of_the_tree_with_loops_skipped(tmp_path):
    tree = tmp_path / "tree"
    _images(tree, 3)
    _images(tmp_path / "elsewhere", 2)
    os.symlink(tmp_path / "elsewhere", tree / "outside")
    os.symlink(tree, tmp_path / "elsewhere" / "back")  # a loop through the outside
    c = load_collection(tree, LoadOptions(recursive=True, follow_links=True))
    assert c.n_images == 5
    assert any("outside/back" in w and "already visited" in w for w in c.warnings)


@pytest.mark.parametrize("limit, value", [("MAX_FILES", 5), ("MAX_FOLDERS", 3)])
def test_the_walk_is_bounded(limit, value, tmp_path, monkeypatch):
    for d in range(5):
        _images(tmp_path / "tree" / f"d{d}", 2)
    monkeypatch.setattr(discovery, limit, value)
    what = "image files" if limit == "MAX_FILES" else "folders"
    with pytest.raises(LoadError, match=f"holds more than {value} {what}"):
        load_collection(tmp_path / "tree", LoadOptions(recursive=True))


def test_discovery_reports_progress_and_can_be_cancelled(tmp_path, monkeypatch):
    for d in range(6):
        _images(tmp_path / "tree" / f"d{d}", 2)
    monkeypatch.setattr(discovery, "_PROGRESS_EVERY", 0.0)
    calls: list[tuple[int, int]] = []
    load_collection(
        tmp_path / "tree", LoadOptions(recursive=True), progress=lambda d, t: calls.append((d, t))
    )
    discovering = [d for d, t in calls if t == 0]
    assert discovering and discovering == sorted(discovering) and discovering[-1] <= 12
    assert calls[-1] == (12, 12)
    cancel = threading.Event()

    def cancel_soon(done: int, total: int) -> None:
        if total == 0:
            cancel.set()

    with pytest.raises(LoadError, match="cancelled"):
        load_collection(
            tmp_path / "tree", LoadOptions(recursive=True), progress=cancel_soon, cancel=cancel
        )
