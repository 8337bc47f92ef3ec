"""The loader: formats, policies, bad input. Files are written on the fly."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from nmfviewer.core import collection as collection_module
from nmfviewer.core import policies
from nmfviewer.core.collection import Collection, discover_files, load_collection
from nmfviewer.core.errors import LoadError, MemoryLimitError, NMFViewerError
from nmfviewer.core.params import LoadOptions

# ------------------------------------------------------------------ helpers


def write_image(path: Path, array: np.ndarray, **save_kw) -> Path:
    """Write ``array`` with Pillow (format from the suffix); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **save_kw)  # uint16 (h, w) -> mode 'I;16'
    return path


def write_tiff(path: Path, array: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kw.setdefault("photometric", "minisblack" if array.ndim in (2, 3) else "rgb")
    tifffile.imwrite(path, array, **kw)
    return path


def ramp(h: int = 6, w: int = 5, dtype=np.uint8, scale: float = 1.0) -> np.ndarray:
    """(h, w) distinct non-negative values, e.g. 0..29 for 6x5."""
    return (np.arange(h * w).reshape(h, w) * scale).astype(dtype)


@pytest.fixture
def gray_folder(tmp_path: Path) -> Path:
    """Three 6x5 8-bit PNGs named for natural sorting: img1, img2, img10."""
    folder = tmp_path / "gray"
    for i in (10, 2, 1):
        write_image(folder / f"img{i}.png", ramp() + i)
    return folder


# ------------------------------------------------------------------ formats


LOSSLESS = [
    ("a.png", np.uint8, {}),
    ("a.png", np.uint16, {}),
    ("a.bmp", np.uint8, {}),
    ("a.gif", np.uint8, {}),
    ("a.pgm", np.uint8, {}),
    ("a.pgm", np.uint16, {}),
    ("a.tif", np.uint8, {}),
]


@pytest.mark.parametrize(("name", "dtype", "kw"), LOSSLESS)
def test_pillow_formats_load_values_as_read(tmp_path, name, dtype, kw):
    data = ramp(6, 5, dtype, scale=1000 if dtype == np.uint16 else 1)
    write_image(tmp_path / name, data, **kw)
    coll = load_collection(tmp_path / name)
    assert coll.images.shape == (1, 6, 5)
    assert coll.images.dtype == np.float32
    np.testing.assert_array_equal(coll.images[0], data.astype(np.float32))
    assert coll.original_dtypes == (np.dtype(dtype).name,)
    assert coll.names == (name,)
    assert coll.warnings == ()


def test_jpeg_gray_and_ppm_colour(tmp_path):
    data = (ramp(16, 16) * 8).astype(np.uint8)
    write_image(tmp_path / "g.jpg", data, quality=95)
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 200
    write_image(tmp_path / "c.ppm", rgb)
    coll = load_collection([tmp_path / "g.jpg", tmp_path / "c.ppm"])
    assert np.abs(coll.images[0] - data).max() < 12  # lossy
    np.testing.assert_allclose(coll.images[1], 0.299 * 200, rtol=1e-6)
    assert any("converted 1 colour image to gray (luminance): c.ppm" in w for w in coll.warnings)


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.int32, np.uint32, np.float32, np.float64]
)
def test_tiff_dtypes_kept_as_read(tmp_path, dtype):
    data = ramp(4, 3, np.float64, scale=1234.5678).astype(dtype)
    write_tiff(tmp_path / "x.tif", data)
    coll = load_collection(tmp_path / "x.tif")
    np.testing.assert_array_equal(coll.images[0], data.astype(np.float32))
    assert coll.original_dtypes == (np.dtype(dtype).name,)
    assert coll.value_range == (float(data.min()), float(np.float32(data.max())))


def test_lzw_tiff_decoded_without_imagecodecs(tmp_path):
    data = ramp(7, 9)
    write_image(tmp_path / "lzw.tif", data, compression="tiff_lzw")
    coll = load_collection(tmp_path / "lzw.tif")
    np.testing.assert_array_equal(coll.images[0], data)


def test_multipage_tiff_pages_are_images(tmp_path):
    stack = np.stack([ramp() + 10 * i for i in range(3)]).astype(np.uint16)
    write_tiff(tmp_path / "stack.tif", stack)
    coll = load_collection(tmp_path / "stack.tif")
    assert coll.names == ("stack.tif[page 0]", "stack.tif[page 1]", "stack.tif[page 2]")
    np.testing.assert_array_equal(coll.images, stack)
    assert coll.axis_label == "band"
    assert coll.axis_values is None
    assert coll.files == ((tmp_path / "stack.tif").absolute(),)


def test_wavelengths_from_tifffile_metadata(tmp_path):
    cube = np.random.default_rng(0).random((4, 5, 6)).astype(np.float32)
    waves = [450.0, 500.5, 551.0, 600.0]
    write_tiff(tmp_path / "cube.tif", cube, metadata={"wavelengths": waves})
    coll = load_collection(tmp_path / "cube.tif")
    assert coll.axis_label == "wavelength (nm)"
    np.testing.assert_array_equal(coll.axis_values, waves)
    np.testing.assert_array_equal(coll.images, cube)


def test_wavelengths_from_imagej_labels(tmp_path):
    cube = ramp(3 * 4, 5, np.uint16).reshape(3, 4, 5)
    tifffile.imwrite(
        tmp_path / "ij.tif", cube, imagej=True, metadata={"Labels": ["450 nm", "500nm", "550"]}
    )
    coll = load_collection(tmp_path / "ij.tif")
    np.testing.assert_array_equal(coll.axis_values, [450, 500, 550])


def test_npy_stack_and_single(tmp_path):
    stack = np.random.default_rng(1).random((3, 4, 5))
    np.save(tmp_path / "s.npy", stack)
    np.save(tmp_path / "t.npy", stack[0].astype(np.float32))
    coll = load_collection(tmp_path)
    assert coll.names == ("s.npy[image 0]", "s.npy[image 1]", "s.npy[image 2]", "t.npy")
    np.testing.assert_allclose(coll.images[:3], stack, rtol=1e-6)
    assert coll.original_dtypes == ("float64", "float32")


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.fromarray(ramp() * (i + 1)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    coll = load_collection(tmp_path / "anim.gif")
    np.testing.assert_array_equal(coll.images[0], ramp())
    assert any("anim.gif" in w and "first of its 3 GIF frames" in w for w in coll.warnings)


# ------------------------------------------------------------------ discovery


def test_natural_sort_order(gray_folder):
    coll = load_collection(gray_folder)
    assert coll.names == ("img1.png", "img2.png", "img10.png")
    np.testing.assert_array_equal(coll.images[2], ramp() + 10)
    files, warnings = discover_files(gray_folder)
    assert [f.name for f in files] == ["img1.png", "img2.png", "img10.png"]
    assert warnings == []


def test_list_of_files_and_folders_keeps_argument_order(tmp_path, gray_folder):
    extra = write_image(tmp_path / "z.png", ramp())
    coll = load_collection([extra, gray_folder])
    assert coll.names == ("z.png", "img1.png", "img2.png", "img10.png")
    assert coll.source == (extra, gray_folder)


def test_same_file_twice_is_loaded_once(gray_folder):
    coll = load_collection([gray_folder / "img1.png", gray_folder])
    assert coll.n_images == 3
    assert any("more than once" in w and "img1.png" in w for w in coll.warnings)


def test_nested_folders_recursive_on_and_off(tmp_path):
    write_image(tmp_path / "top.png", ramp())
    write_image(tmp_path / "sub" / "deeper" / "b2.png", ramp())
    write_image(tmp_path / "sub" / "b10.png", ramp())
    flat = load_collection(tmp_path)
    assert flat.names == ("top.png",)
    assert any("sub-folder" in w and "sub" in w and "recursive" in w for w in flat.warnings)
    deep = load_collection(tmp_path, LoadOptions(recursive=True))
    assert deep.names == ("sub/b10.png", "sub/deeper/b2.png", "top.png")


def test_only_subfolders_without_recursive_is_a_clear_error(tmp_path):
    write_image(tmp_path / "sub" / "a.png", ramp())
    with pytest.raises(LoadError, match="recursive") as info:
        load_collection(tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symlink_loop_does_not_hang(tmp_path):
    root = tmp_path / "root"
    write_image(root / "a.png", ramp())
    write_image(root / "sub" / "b.png", ramp())
    os.symlink(root, root / "sub" / "loop")  # sub/loop -> root
    os.symlink(root / "sub", root / "again")  # a second way into sub
    coll = load_collection(root, LoadOptions(recursive=True))
    assert sorted(coll.names) == ["a.png", "sub/b.png"]
    assert any("symbolic-link loop" in w for w in coll.warnings)


def test_names_with_spaces_and_non_ascii(tmp_path):
    folder = tmp_path / "mes images été"
    write_image(folder / "ça va 1.png", ramp())
    write_image(folder / "日本 2.png", ramp() + 1)
    coll = load_collection(folder)
    assert coll.names == ("ça va 1.png", "日本 2.png")


def test_missing_path_names_it(tmp_path):
    with pytest.raises(LoadError, match="does not exist") as info:
        load_collection(tmp_path / "nope")
    assert "nope" in str(info.value)


def test_empty_folder(tmp_path):
    with pytest.raises(LoadError, match="empty") as info:
        load_collection(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert info.value.path == tmp_path


def test_folder_of_non_images_only(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(LoadError) as info:
        load_collection(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "notes.txt" in message and "data.csv" in message


def test_non_image_files_are_skipped_with_a_warning(gray_folder):
    (gray_folder / "readme.txt").write_text("x")
    coll = load_collection(gray_folder)
    assert coll.n_images == 3
    assert "skipped 1 non-image file: readme.txt" in coll.warnings


# ------------------------------------------------------------------ bad files


def _truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _make_bad_files(folder: Path) -> dict[str, str]:
    """Every kind of unreadable file; returns name -> expected reason fragment."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.png").write_bytes(b"")
    (folder / "text.png").write_text("this is not a picture\n")
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    _truncated(write_image(folder / "cut.png", noise))
    _truncated(write_image(folder / "cut.jpg", noise))
    _truncated(write_tiff(folder / "cut.tif", noise))
    return {
        "zero.png": "empty file",
        "text.png": "not a recognised image",
        "cut.png": "truncated",
        "cut.jpg": "",
        "cut.tif": "truncated",
    }


def test_bad_files_are_skipped_and_listed(tmp_path):
    expected = _make_bad_files(tmp_path)
    write_image(tmp_path / "good.png", ramp())
    coll = load_collection(tmp_path)
    assert coll.names == ("good.png",)
    for name, reason in expected.items():
        hits = [w for w in coll.warnings if w.startswith(f"skipped {name}:")]
        assert len(hits) == 1, (name, coll.warnings)
        assert reason in hits[0]
    assert coll.files == ((tmp_path / "good.png").absolute(),)


def test_nothing_loadable_names_folder_and_files(tmp_path):
    expected = _make_bad_files(tmp_path)
    with pytest.raises(LoadError) as info:
        load_collection(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "none could be read" in message
    for name in expected:
        assert name in message


def test_multipage_tiff_truncated_keeps_readable_pages(tmp_path):
    stack = np.random.default_rng(0).random((4, 32, 32)).astype(np.float32)
    path = write_tiff(tmp_path / "s.tif", stack)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    coll = load_collection(path)
    assert 1 <= coll.n_images < 4
    np.testing.assert_array_equal(coll.images, stack[: coll.n_images])
    assert any("s.tif" in w for w in coll.warnings)


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their permissions"
)
def test_unreadable_file_without_permission(tmp_path):
    write_image(tmp_path / "ok.png", ramp())
    locked = write_image(tmp_path / "locked.png", ramp())
    locked.chmod(0)
    try:
        coll = load_collection(tmp_path)
    finally:
        locked.chmod(0o644)
    assert coll.names == ("ok.png",)
    assert any(w.startswith("skipped locked.png: cannot open it") for w in coll.warnings)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_file_that_cannot_be_opened_is_skipped(tmp_path):
    # The tests run as root, where chmod 000 does not stop reading (the test
    # above is skipped). A dangling link named like an image fails in open()
    # with an OSError, the same code path as "permission denied".
    write_image(tmp_path / "ok.png", ramp())
    os.symlink(tmp_path / "gone.png", tmp_path / "dangling.png")
    coll = load_collection(tmp_path)
    assert coll.names == ("ok.png",)
    assert any(w.startswith("skipped dangling.png: cannot open it") for w in coll.warnings)


# ------------------------------------------------------------------ colour


def _colour_folder(folder: Path) -> None:
    rgb = np.zeros((6, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 100, 50, 200
    write_image(folder / "a_gray.png", ramp())
    write_image(folder / "b_rgb.png", rgb)
    write_image(folder / "c_rgba.png", np.dstack([rgb, np.full((6, 5), 7, np.uint8)]))
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "d_pal.png")
    write_image(folder / "e_grayrgb.png", np.dstack([ramp()] * 3))


def test_mixed_gray_rgb_rgba_palette_to_luminance(tmp_path):
    _colour_folder(tmp_path)
    coll = load_collection(tmp_path)
    lum = 0.299 * 100 + 0.587 * 50 + 0.114 * 200
    np.testing.assert_allclose(coll.images[1:4], lum, rtol=1e-5)
    np.testing.assert_array_equal(coll.images[4], ramp())
    warnings = "\n".join(coll.warnings)
    assert "converted 2 colour images to gray (luminance): b_rgb.png, c_rgba.png" in warnings
    assert "dropped the alpha channel of 1 image: c_rgba.png" in warnings
    assert "converted 1 palette image to gray: d_pal.png" in warnings
    assert "e_grayrgb" not in warnings  # gray stored as RGB needs no conversion


def test_colour_mean_and_refuse(tmp_path):
    _colour_folder(tmp_path)
    coll = load_collection(tmp_path, LoadOptions(color="mean"))
    np.testing.assert_allclose(coll.images[1], (100 + 50 + 200) / 3, rtol=1e-6)
    with pytest.raises(LoadError, match=r"b_rgb\.png is a colour image") as info:
        load_collection(tmp_path, LoadOptions(color="refuse", workers=1))
    assert "color='luminance'" in str(info.value)


def test_gray_alpha_drops_alpha(tmp_path):
    Image.fromarray(np.dstack([ramp(), ramp() * 0]), mode=None).save(tmp_path / "la.png")
    coll = load_collection(tmp_path / "la.png")
    np.testing.assert_array_equal(coll.images[0], ramp())
    assert any("alpha" in w for w in coll.warnings)


# ------------------------------------------------------------------ sizes


def test_mixed_sizes_resized_to_most_common(tmp_path):
    for name in ("a", "b", "c"):
        write_image(tmp_path / f"{name}.png", ramp(6, 5))
    write_image(tmp_path / "big.png", np.full((12, 10), 80, np.uint8))
    write_image(tmp_path / "wide.png", np.full((6, 9), 40, np.uint8))
    coll = load_collection(tmp_path)
    assert coll.image_shape == (6, 5)
    np.testing.assert_allclose(coll.images[coll.names.index("big.png")], 80, rtol=1e-5)
    assert "resized 1 image from 12 × 10 to 6 × 5 (h × w): big.png" in coll.warnings
    assert "resized 1 image from 6 × 9 to 6 × 5 (h × w): wide.png" in coll.warnings


def test_mixed_sizes_refused(tmp_path):
    write_image(tmp_path / "a.png", ramp(6, 5))
    write_image(tmp_path / "b.png", ramp(6, 5))
    write_image(tmp_path / "odd.png", ramp(7, 5))
    with pytest.raises(LoadError) as info:
        load_collection(tmp_path, LoadOptions(size_policy="refuse"))
    message = str(info.value)
    assert "odd.png" in message and "size_policy='resize'" in message and "7 × 5 (h × w)" in message


def test_multipage_tiff_with_pages_of_different_sizes(tmp_path):
    path = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(ramp(6, 5, np.uint16))
        tif.write(ramp(6, 5, np.uint16))
        tif.write(np.full((3, 4), 9, np.uint16))
    coll = load_collection(path)
    assert coll.images.shape == (3, 6, 5)
    assert "resized 1 image from 3 × 4 to 6 × 5 (h × w): mixed.tif[page 2]" in coll.warnings
    with pytest.raises(LoadError, match=r"mixed.tif\[page 2\]"):
        load_collection(path, LoadOptions(size_policy="refuse"))


def test_one_by_one_and_single_image(tmp_path):
    write_image(tmp_path / "dot.png", np.array([[7]], np.uint8))
    coll = load_collection(tmp_path)
    assert coll.images.shape == (1, 1, 1) and coll.images[0, 0, 0] == 7
    assert coll.to_matrix().shape == (1, 1)


# ------------------------------------------------------------------ values


def test_negative_values_error_names_file_and_fix(tmp_path):
    write_tiff(tmp_path / "ok.tif", ramp(3, 3, np.float32))
    write_tiff(tmp_path / "neg.tif", ramp(3, 3, np.float32) - 3.25)
    with pytest.raises(LoadError) as info:
        load_collection(tmp_path)
    message = str(info.value)
    assert "neg.tif has negative values (min -3.25)" in message
    assert "negative='clip'" in message and "or 'shift'" in message
    assert info.value.path == (tmp_path / "neg.tif").absolute()
    assert (info.value.field, info.value.suggestion) == ("negative", "clip")


def test_negative_clip_and_shift(tmp_path):
    data = ramp(3, 3, np.float32) - 3.25
    write_tiff(tmp_path / "neg.tif", data)
    clipped = load_collection(tmp_path, LoadOptions(negative="clip"))
    np.testing.assert_array_equal(clipped.images[0], np.maximum(data, 0))
    assert "clipped negative values to zero in 1 image: neg.tif" in clipped.warnings
    shifted = load_collection(tmp_path, LoadOptions(negative="shift"))
    np.testing.assert_allclose(shifted.images[0], data + 3.25)
    assert shifted.value_range[0] == 0.0
    assert any("shifted 1 image" in w for w in shifted.warnings)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_values_error_and_zero(tmp_path, bad):
    data = ramp(3, 3, np.float32)
    data[1, 1] = bad
    write_tiff(tmp_path / "nan.tif", data)
    with pytest.raises(LoadError, match=r"nan\.tif has 1 non-finite value") as info:
        load_collection(tmp_path)
    assert "nonfinite='zero'" in str(info.value)
    coll = load_collection(tmp_path, LoadOptions(nonfinite="zero"))
    assert coll.images[0, 1, 1] == 0 and np.isfinite(coll.images).all()
    assert any(
        "replaced NaN/infinite values by zero in 1 image: nan.tif" in w for w in coll.warnings
    )


def test_float64_too_large_for_float32(tmp_path):
    np.save(tmp_path / "huge.npy", np.full((2, 2), 1e300))
    with pytest.raises(LoadError, match=r"huge\.npy has values too large"):
        load_collection(tmp_path)


@pytest.mark.parametrize(
    ("how", "check"),
    [
        ("max", lambda im: np.testing.assert_allclose(im.max(axis=(1, 2)), 1)),
        ("sum", lambda im: np.testing.assert_allclose(im.sum(axis=(1, 2)), 1, rtol=1e-5)),
    ],
)
def test_normalisation(gray_folder, how, check):
    coll = load_collection(gray_folder, LoadOptions(normalize=how))
    check(coll.images)
    assert any(f"normalize='{how}'" in w for w in coll.warnings)


def test_all_zero_image_left_alone_when_normalising(tmp_path):
    write_image(tmp_path / "zero.png", np.zeros((3, 3), np.uint8))
    coll = load_collection(tmp_path, LoadOptions(normalize="max"))
    assert coll.value_range == (0.0, 0.0)
    assert any("all-zero" in w and "zero.png" in w for w in coll.warnings)


# ------------------------------------------------------------------ the stack


def test_stack_layout_and_to_matrix_is_a_view(gray_folder):
    coll = load_collection(gray_folder)
    assert coll.images.flags.c_contiguous and coll.images.dtype == np.float32
    assert not coll.images.flags.writeable
    X = coll.to_matrix()
    assert X.shape == (3, 30)
    assert np.shares_memory(X, coll.images)
    np.testing.assert_array_equal(X[1], (ramp() + 2).ravel())


def test_stack_view_after_skipping_bad_files(tmp_path):
    _make_bad_files(tmp_path)
    write_image(tmp_path / "z1.png", ramp())
    write_image(tmp_path / "z2.png", ramp() + 1)
    coll = load_collection(tmp_path)
    assert coll.names == ("z1.png", "z2.png")
    np.testing.assert_array_equal(coll.images[1], ramp() + 1)
    assert coll.images.flags.c_contiguous
    assert np.shares_memory(coll.to_matrix(), coll.images)


def test_from_array_applies_value_policies():
    data = np.array([[[1.0, -2.0]], [[np.nan, 4.0]]])
    with pytest.raises(LoadError, match="image 0 has negative values"):
        Collection.from_array(data)
    coll = Collection.from_array(
        data, names=["a", "b"], options=LoadOptions(negative="clip", nonfinite="zero")
    )
    np.testing.assert_array_equal(coll.images, [[[1, 0]], [[0, 4]]])
    assert coll.names == ("a", "b") and coll.original_dtypes == ("float64",)
    matrix = Collection.from_array(np.ones((4, 6), np.uint8))
    assert matrix.image_shape == (1, 6) and matrix.to_matrix().shape == (4, 6)
    assert data[0, 0, 1] == -2.0  # the caller's array is untouched
    with pytest.raises(LoadError, match="shape"):
        Collection.from_array(np.ones(5))


# ------------------------------------------------------------------ memory


def test_memory_refused_from_headers_before_reading_pixels(tmp_path, monkeypatch):
    write_tiff(tmp_path / "big.tif", np.zeros((20, 64, 64), np.uint8))

    def no_pixels(*args, **kwargs):
        raise AssertionError("pixels were read before the memory check")

    monkeypatch.setattr(collection_module, "read_pages", no_pixels)
    with pytest.raises(MemoryLimitError) as info:
        load_collection(tmp_path, LoadOptions(max_memory_bytes=100_000))
    message = str(info.value)
    assert "20 images of 64x64" in message and "max_memory_bytes" in message
    assert "MB" in message or "KB" in message


def test_memory_default_is_half_the_available_memory(gray_folder, monkeypatch):
    monkeypatch.setattr(policies, "available_memory", lambda: 1000)
    with pytest.raises(MemoryLimitError, match="half the available memory"):
        load_collection(gray_folder)
    monkeypatch.setattr(policies, "available_memory", lambda: 10**9)
    assert load_collection(gray_folder).n_images == 3


def test_available_memory_reads_the_system():
    available = policies.available_memory()
    assert available is None or available > 0


# ------------------------------------------------------------------ threads


def test_progress_reports_every_image(tmp_path):
    for i in range(7):
        write_image(tmp_path / f"p{i}.png", ramp() + i)
    calls = []
    lock = threading.Lock()

    def progress(done, total):
        with lock:
            calls.append((done, total))

    coll = load_collection(tmp_path, LoadOptions(workers=3), progress=progress)
    assert coll.n_images == 7
    assert sorted(calls) == [(i, 7) for i in range(8)]


def test_cancel_before_and_during_loading(tmp_path):
    for i in range(6):
        write_image(tmp_path / f"c{i}.png", ramp())
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(LoadError, match="cancelled"):
        load_collection(tmp_path, cancel=cancel)

    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 2:
            cancel.set()

    with pytest.raises(LoadError, match="cancelled"):
        load_collection(tmp_path, LoadOptions(workers=1), progress=progress, cancel=cancel)
    assert max(seen) < 6  # stopped between files


def test_error_in_one_worker_stops_the_load(tmp_path):
    for i in range(8):
        write_tiff(tmp_path / f"f{i}.tif", ramp(3, 3, np.float32))
    write_tiff(tmp_path / "f5.tif", ramp(3, 3, np.float32) - 1)
    with pytest.raises(LoadError, match=r"f5\.tif has negative values"):
        load_collection(tmp_path, LoadOptions(workers=2))


# ------------------------------------------------------------------ fuzz


FUZZ = settings(
    max_examples=int(os.environ.get("NMFVIEWER_FUZZ_EXAMPLES", 50)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
HEADERS = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"II*\x00",
    b"MM\x00*",
    b"GIF89a",
    b"BM",
    b"P5\n",
    b"\x93NUMPY",
]


def _load_or_our_error(path, options=None):
    """The only acceptable outcomes: a valid collection or one of our errors."""
    try:
        coll = load_collection(path, options)
    except NMFViewerError as exc:
        assert str(exc)
        return None
    assert coll.images.dtype == np.float32 and coll.images.ndim == 3
    assert np.isfinite(coll.images).all() and coll.images.min() >= 0
    return coll


@FUZZ
@given(
    header=st.sampled_from(HEADERS),
    body=st.binary(max_size=300),
    suffix=st.sampled_from([".png", ".tif", ".jpg", ".gif", ".bmp", ".pgm", ".npy"]),
)
def test_fuzz_random_bytes(tmp_path_factory, header, body, suffix):
    folder = tmp_path_factory.mktemp("bytes")
    (folder / f"random{suffix}").write_bytes(header + body)
    _load_or_our_error(folder)


def _valid_file_then_mangled(folder: Path, data: np.ndarray, kind: str, cut: float) -> Path:
    if kind == "tif":
        path = write_tiff(folder / "a.tif", data)
    elif kind == "npy":
        path = folder / "a.npy"
        np.save(path, data)
    else:
        path = write_image(folder / f"a.{kind}", data)
    if cut < 1:
        raw = path.read_bytes()
        path.write_bytes(raw[: int(len(raw) * cut)])
    return path


@FUZZ
@given(
    data=hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.uint16, np.int16, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=9),
        elements={"allow_nan": True, "allow_infinity": True, "allow_subnormal": False},
    ),
    kind=st.sampled_from(["tif", "npy", "png"]),
    cut=st.sampled_from([1.0, 1.0, 0.9, 0.5]),
    negative=st.sampled_from(["error", "clip", "shift"]),
    nonfinite=st.sampled_from(["error", "zero"]),
    normalize=st.sampled_from(["none", "max", "sum"]),
)
def test_fuzz_random_arrays(tmp_path_factory, data, kind, cut, negative, nonfinite, normalize):
    folder = tmp_path_factory.mktemp("arrays")
    if kind == "png":  # Pillow writes only 8-bit (and 16-bit gray) images
        data = np.nan_to_num(data).clip(0, 255).astype(np.uint8)
        if data.ndim == 3 and data.shape[2] not in (3, 4):
            data = data[..., 0]
    _valid_file_then_mangled(folder, data, kind, cut)
    options = LoadOptions(negative=negative, nonfinite=nonfinite, normalize=normalize)
    coll = _load_or_our_error(folder, options)
    if coll is None or cut < 1 or kind == "png" or normalize != "none":
        return
    if kind == "npy" and data.ndim == 3 and data.shape[2] in (3, 4):
        return  # one colour picture (h, w, 3|4), not a stack: see test_readers_trust
    # a complete tif/npy file that loaded: compare with the policies done by hand
    stack = data.astype(np.float64).reshape((-1, *coll.image_shape))
    expected = np.nan_to_num(stack, nan=0.0, posinf=0.0, neginf=0.0)
    assert nonfinite == "zero" or np.isfinite(stack).all()
    if negative == "clip":
        expected = expected.clip(0, None)
    elif negative == "shift":
        expected = expected - expected.min(axis=(1, 2), keepdims=True).clip(None, 0)
    else:
        assert expected.min() >= 0
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(coll.images, expected, rtol=1e-6, atol=1e-6 * scale)


def _png_rgb16(path: Path, rgb: np.ndarray) -> Path:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    h, w, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[r].astype(">u2").tobytes() for r in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def test_16bit_colour_png_loads_at_16_bits(tmp_path):
    rgb = np.full((3, 4, 3), 0x1234, np.uint16)
    rgb[..., 1] = 0xFF00
    rgb[0, 0] = (0x0101, 0x0202, 0x0303)  # differs from its 8-bit reading in the low byte
    coll = load_collection(_png_rgb16(tmp_path / "deep.png", rgb))
    assert coll.images.shape == (1, 3, 4)
    expected = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(coll.images[0], expected, rtol=1e-6)
    assert coll.original_dtypes == ("uint16",)


def test_jpeg_exif_orientation_is_applied(tmp_path):
    from PIL import ImageOps

    image = Image.fromarray((ramp(8, 16) * 2).astype(np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6  # stored turned: show rotated 90 degrees clockwise
    image.save(tmp_path / "turned.jpg", exif=exif, quality=100)
    coll = load_collection(tmp_path / "turned.jpg")
    assert coll.image_shape == (16, 8)
    with Image.open(tmp_path / "turned.jpg") as im:
        upright = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(coll.images[0], upright)
    assert any("turned.jpg" in w and "EXIF orientation" in w for w in coll.warnings)


def test_memory_refusal_names_the_one_huge_image(tmp_path):
    from PIL import Image

    for i in range(4):
        Image.fromarray(np.full((12, 12), 10 * i, np.uint8)).save(tmp_path / f"small{i}.png")
    Image.fromarray(np.zeros((3000, 3000), np.uint8)).save(tmp_path / "big scan.png")
    with pytest.raises(MemoryLimitError) as info:
        load_collection(tmp_path, LoadOptions(max_memory_bytes=20 * 2**20))
    message = str(info.value)
    assert "big scan.png" in message and "leave it out" in message
    assert "raise the limit (max_memory_bytes)" in message
    assert info.value.field == "max_memory_bytes" and "--" not in message
