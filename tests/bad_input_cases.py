"""The bad inputs of issue 5 as data: how to build each one, what ``nmfviewer fit``
must do with it, and the checks of both outcomes. Shared by tests/test_bad_input.py (the
command line), tests/gui/test_gui_errors.py (the window) and the trust-table scripts.

Two outcomes are accepted, as the issue says:
- refused: exit code 2, exactly one stderr line ``nmfviewer: error: ...``
  naming the file, folder or parameter and the fix; nothing written;
- loaded under a skip/convert policy: exit code 0, a warning line naming the
  file, and the export written (weights.csv has one row per image loaded).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import format_files as ff  # tests/ is on sys.path wherever this module is imported
import numpy as np
import pytest
import tifffile
from PIL import Image

from nmfviewer import cli

PROG = "nmfviewer"
#: every run is tiny and short: the suite checks messages, not numerics
FAST = ["--max-iter", "3", "--seed", "0"]


# --------------------------------------------------------------------------- builders
def pixels(n: int = 6, shape: tuple[int, int] = (12, 12), seed: int = 0) -> np.ndarray:
    """(n, h, w) uint8 images in 20..220 (never all zero)."""
    rng = np.random.default_rng(seed)
    return (rng.random((n, *shape)) * 200 + 20).astype(np.uint8)


def good_folder(folder: Path, n: int = 6, shape: tuple[int, int] = (12, 12)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(pixels(n, shape)):
        Image.fromarray(a).save(folder / f"img_{i:02d}.png")
    return folder


def png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _truncated(path: Path, kind: str) -> Path:
    """A real PNG/JPEG/TIFF of 48x48 cut to half its bytes."""
    a = pixels(1, (48, 48), seed=7)[0]
    buf = io.BytesIO()
    if kind == "tiff":
        tifffile.imwrite(buf, a)
    else:
        Image.fromarray(a).save(buf, format=kind.upper())
    data = buf.getvalue()
    path.write_bytes(data[: len(data) // 2])
    return path


def header_only_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header says width x height but that holds no pixel data:
    reading its pixels fails, so only a check made from the header can refuse it
    as too large."""
    data = bytearray(png_bytes(np.zeros((8, 8), np.uint8)))
    chunk = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data[8:33] = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    path.write_bytes(bytes(data))
    return path


def _float_tiff(path: Path, value: float | None = None) -> Path:
    a = pixels(1, seed=3)[0].astype(np.float32) / 255
    if value is not None:
        a[3, 4] = value
    tifffile.imwrite(path, a)
    return path


def _bad_file(kind: str) -> Callable[[Path], Path]:
    """Builder of one bad file in a folder; returns its path."""

    def build(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "zero":
            path = folder / "zero bytes.png"
            path.write_bytes(b"")
        elif kind in ("png", "jpeg", "tiff"):
            path = _truncated(folder / f"cut.{'jpg' if kind == 'jpeg' else kind}", kind)
        elif kind == "text":
            path = folder / "notes.png"
            path.write_text("this is a text file, not a PNG\n", encoding="utf-8")
        elif kind == "dangling":
            path = folder / "gone.png"
            os.symlink(folder / "no such target.png", path)
        else:  # pragma: no cover - a typo in CASES
            raise ValueError(kind)
        return path

    return build


# --------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One bad input: how to build it, and what the command line must do.

    build(root) -> the arguments after ``fit`` (paths and options, no --out).
    outcome: 'refused' (exit 2, one error line) or 'loaded' (exit 0).
    expect: fragments of the error line ('refused'), or of one warning line
            ('loaded'; empty when the input loads without any note).
    n_images: rows of weights.csv ('loaded').
    verify: optional extra check of the output folder ('loaded').
    cli_fix: fragments of the fix as the command line spells it ('--size-policy resize');
             the core error carries the field and value, each front end words it.
    gui_fix: the same fix as the window words it ('Load options… ▸ Mixed sizes').
    tags: 'cli-only' for mistakes of the command line's own parsing (the window has
          widgets instead); 'permission' for cases root cannot reproduce.
    """

    id: str
    issue_case: str
    build: Callable[[Path], list[str]]
    outcome: str
    expect: tuple[str, ...] = ()
    n_images: int | None = None
    tags: tuple[str, ...] = field(default=())
    verify: Callable[[Path], None] | None = None
    cli_fix: tuple[str, ...] = ()
    gui_fix: tuple[str, ...] = ()


def _alone(kind: str, k: str = "1"):
    def build(root: Path) -> list[str]:
        return [str(_bad_file(kind)(root / "in")), "-k", k]

    return build


def _among_good(kind: str):
    def build(root: Path) -> list[str]:
        folder = good_folder(root / "in")
        _bad_file(kind)(folder)
        return [str(folder), "-k", "2"]

    return build


def _among_good_with(fill: Callable[[Path], object]):
    def build(root: Path) -> list[str]:
        folder = good_folder(root / "in")
        fill(folder)
        return [str(folder), "-k", "2"]

    return build


def _folder(fill: Callable[[Path], object], *options: str, k: str = "2"):
    def build(root: Path) -> list[str]:
        folder = root / "in"
        folder.mkdir(parents=True)
        fill(folder)
        return [str(folder), "-k", k, *options]

    return build


def _ome_tzcyx(folder: Path) -> None:
    ff.ome_tiff(folder / "stack.ome.tif", ff.cube((2, 3, 4, 12, 12)))


def _hdf5_flat(folder: Path) -> None:
    ff.hdf5(folder / "flat.h5", {"spectrum": np.arange(10.0)})


def _hdf5_two(folder: Path) -> None:
    ff.hdf5(folder / "two.h5", {"a": ff.cube((3, 12, 12)), "b": ff.cube((2, 12, 12))})


def _non_images(folder: Path) -> None:
    (folder / "readme.txt").write_text("notes", encoding="utf-8")
    (folder / "table.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (folder / "script.py").write_text("print('hi')\n", encoding="utf-8")


def _nested_only(folder: Path) -> None:
    good_folder(folder / "day 1", n=3)
    good_folder(folder / "day 2" / "late", n=3)


def _nested_mixed(folder: Path) -> None:
    good_folder(folder, n=4)
    good_folder(folder / "extra", n=3)


def _link_loop(folder: Path) -> None:
    good_folder(folder, n=4)
    good_folder(folder / "sub", n=2)
    os.symlink("..", folder / "sub" / "back up")  # sub/back up -> the folder itself


UNICODE_NAMES = ["scan 01 (copy).png", "Zelle ä ö ü.png", "細胞 画像.png", "naïve-ﬁle ☃.png"]


def _unicode_names(folder: Path) -> None:
    for name, a in zip(UNICODE_NAMES, pixels(len(UNICODE_NAMES)), strict=True):
        Image.fromarray(a).save(folder / name)


def _names_kept(out: Path) -> None:
    """The odd names reach weights.csv and run.json unchanged (UTF-8)."""
    rows = list(csv.reader(io.StringIO((out / "weights.csv").read_text(encoding="utf-8"))))
    assert sorted(r[0] for r in rows[1:]) == sorted(UNICODE_NAMES)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["data"]["names"] == [
        r[0] for r in rows[1:]
    ]


def _dir_named_png(folder: Path) -> None:
    good_folder(folder)
    (folder / "looks like.png").mkdir()


def _mixed_sizes(folder: Path) -> None:
    good_folder(folder, n=5)
    Image.fromarray(pixels(1, (20, 16))[0]).save(folder / "bigger.png")


def _mixed_colour(folder: Path) -> None:
    rng = np.random.default_rng(1)
    gray = pixels(2)
    rgb = (rng.random((12, 12, 3)) * 255).astype(np.uint8)
    Image.fromarray(gray[0]).save(folder / "a_gray.png")
    Image.fromarray(gray[1]).save(folder / "b_gray.png")
    Image.fromarray(rgb).save(folder / "c_rgb.png")
    rgba = np.dstack([rgb[::-1], np.full((12, 12), 200, np.uint8)])
    Image.fromarray(rgba).save(folder / "d_rgba.png")
    Image.fromarray(rgb[:, ::-1].copy()).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=16
    ).save(folder / "e_palette.png")


def _deep_and_float(folder: Path) -> None:
    for i, a in enumerate(pixels(3)):
        Image.fromarray(a.astype(np.uint16) * 250).save(folder / f"deep_{i}.png")  # up to 55000
    for i in range(3):
        tifffile.imwrite(
            folder / f"float_{i}.tif", pixels(1, seed=10 + i)[0].astype(np.float32) / 255
        )


def _depths_kept(out: Path) -> None:
    """16-bit values are kept as read (not squeezed to 8 bits), floats too."""
    data = json.loads((out / "run.json").read_text(encoding="utf-8"))["data"]
    assert set(data["original_dtypes"]) == {"uint16", "float32"}
    assert data["value_range"][1] > 255 * 40  # the 16-bit values, up to 55000
    assert data["value_range"][0] < 1  # the float images in 0..1


def _with_value(name: str, value: float):
    def fill(folder: Path) -> None:
        good_folder(folder, n=4)
        _float_tiff(folder / name, value)

    return fill


def _tiny(folder: Path) -> None:
    for i, v in enumerate([10, 50, 90, 130]):
        Image.fromarray(np.full((1, 1), v, np.uint8)).save(folder / f"dot_{i}.png")


def _single(root: Path, k: str) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "only one.png"
    Image.fromarray(pixels(1)[0]).save(path)
    return [str(path), "-k", k]


def _pages(root: Path, *options: str) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "stack.tif"
    with tifffile.TiffWriter(path) as tif:
        for a in pixels(3):
            tif.write(a, contiguous=False)
        tif.write(pixels(1, (20, 9), seed=5)[0], contiguous=False)
    return [str(path), "-k", "2", *options]


def _params(*options: str):
    def build(root: Path) -> list[str]:
        return [str(good_folder(root / "in")), *options]

    return build


def _too_big_from_header(folder: Path) -> None:
    good_folder(folder, n=4)
    header_only_png(folder / "huge header.png", 8000, 8000)  # 8000x8000: 256 MB as float32


def _locked(folder: Path) -> None:
    good_folder(folder)
    locked = folder / "locked.png"
    locked.write_bytes(png_bytes(pixels(1)[0]))
    locked.chmod(0)


def _huge_header(side: int):
    def fill(folder: Path) -> None:
        good_folder(folder, n=3)
        header_only_png(folder / "slide scan.png", side, side)

    return fill


# --------------------------------------------------------------------------- issue 14 builders
LATIN1_NAMES = [os.fsdecode(b) for b in (b"caf\xe9.png", b"\xc4rger.png", b"na\xefve \xff.png",
                                         b"plain.png")]  # fmt: skip


def _latin1_names(folder: Path) -> None:
    for name, a in zip(LATIN1_NAMES, pixels(len(LATIN1_NAMES)), strict=True):
        Image.fromarray(a).save(folder / name, format="PNG")


def _latin1_folder(root: Path) -> list[str]:
    folder = root / os.fsdecode(b"Ordner \xe9t\xe9") / os.fsdecode(b"\xff")
    good_folder(folder, n=4)
    return [str(folder), "-k", "2"]


def _exact_names(out: Path) -> list[str]:
    from urllib.parse import unquote_to_bytes

    rows = list(csv.reader(io.StringIO((out / "weights.csv").read_text(encoding="utf-8"))))
    if rows[0][-1] != "image_exact":
        return [r[0] for r in rows[1:]]
    return [os.fsdecode(unquote_to_bytes(r[-1])) for r in rows[1:]]


def _latin1_kept(out: Path) -> None:
    """Every name round-trips: weights.csv (image_exact), factors.npz, run.json."""
    assert sorted(_exact_names(out)) == sorted(LATIN1_NAMES)
    with np.load(out / "factors.npz", allow_pickle=False) as z:
        assert sorted(z["names"]) == sorted(LATIN1_NAMES)
    from nmfviewer.core.export import read_manifest

    assert all(f.path.is_file() for f in read_manifest(out / "run.json").files)


FORMULA_NAMES = ["=1+2.png", "+A1.png", "-3.png", "@SUM.png", "'quote.png"]


def _formula_names(folder: Path) -> None:
    for name, a in zip(FORMULA_NAMES, pixels(len(FORMULA_NAMES)), strict=True):
        Image.fromarray(a).save(folder / name)


def _formulas_neutralised(out: Path) -> None:
    rows = list(csv.reader(io.StringIO((out / "weights.csv").read_text(encoding="utf-8"))))
    assert all(r[0].startswith("'") for r in rows[1:])
    assert sorted(_exact_names(out)) == sorted(FORMULA_NAMES)


def _newline_name_broken(folder: Path) -> None:
    good_folder(folder)
    (folder / "two\nlines.png").write_bytes(b"not an image")


def _newline_names_good(folder: Path) -> None:
    for name, a in zip(["a\nb.png", "tab\there.png", "esc\x1b.png"], pixels(3), strict=True):
        Image.fromarray(a).save(folder / name)
    (folder / "c\nd.txt").write_text("x", encoding="utf-8")  # named in a warning


def _apng(folder: Path) -> None:
    good_folder(folder, n=4)
    frames = [Image.fromarray(a) for a in pixels(3, seed=4)]
    frames[0].save(folder / "anim.png", save_all=True, append_images=frames[1:])


def _npy(shape: tuple[int, ...], k: str = "1"):
    def build(root: Path) -> list[str]:
        root.mkdir(parents=True, exist_ok=True)
        path = root / "picture.npy"
        np.save(path, np.random.default_rng(3).integers(10, 250, shape, dtype=np.uint8))
        return [str(path), "-k", k]

    return build


def _min_is_white(folder: Path) -> None:
    good_folder(folder, n=4)
    tifffile.imwrite(folder / "scan.tif", pixels(1)[0], photometric="miniswhite")


def _link_to_root(folder: Path) -> None:
    good_folder(folder, n=4)
    os.symlink("/", folder / "everything")


def _link_out(folder: Path) -> None:
    good_folder(folder, n=3)
    outside = folder.parent / "outside"
    good_folder(outside, n=2)
    os.symlink(outside, folder / "elsewhere")


def _replay(doc_change: Callable[[dict], object] | None = None, raw: bytes | None = None):
    """A run.json (from a real run, then damaged) given to --replay."""

    def build(root: Path) -> list[str]:
        folder = good_folder(root / "in")
        recorded = root / "recorded"
        assert cli.main(["fit", str(folder), "-k", "2", *FAST, "-q", "--out", str(recorded)]) == 0
        path = recorded / "run.json"
        if raw is not None:
            path.write_bytes(raw)
        elif doc_change is not None:
            doc = json.loads(path.read_text(encoding="utf-8"))
            doc_change(doc)
            path.write_text(json.dumps(doc), encoding="utf-8")
        return ["--replay", str(path)]

    return build


def _fifo_manifest(root: Path) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    os.mkfifo(root / "run.json")
    return ["--replay", str(root / "run.json")]


CASES: list[Case] = [
    # -- broken files: alone they are refused, among good ones skipped with a warning
    Case(
        "zero-byte",
        "zero-byte file",
        _alone("zero"),
        "refused",
        ("zero bytes.png", "empty file", "choose other ones"),
    ),
    Case(
        "zero-byte-in-folder",
        "zero-byte file",
        _among_good("zero"),
        "loaded",
        ("skipped", "zero bytes.png", "empty file"),
        6,
    ),
    Case(
        "truncated-png",
        "truncated PNG",
        _alone("png"),
        "refused",
        ("cut.png", "truncated", "choose other ones"),
    ),
    Case(
        "truncated-png-in-folder",
        "truncated PNG",
        _among_good("png"),
        "loaded",
        ("skipped", "cut.png", "truncated"),
        6,
    ),
    Case(
        "truncated-jpeg",
        "truncated JPEG",
        _alone("jpeg"),
        "refused",
        ("cut.jpg", "truncated", "choose other ones"),
    ),
    Case(
        "truncated-jpeg-in-folder",
        "truncated JPEG",
        _among_good("jpeg"),
        "loaded",
        ("skipped", "cut.jpg", "truncated"),
        6,
    ),
    Case(
        "truncated-tiff",
        "truncated TIFF",
        _alone("tiff"),
        "refused",
        ("cut.tiff", "truncated", "choose other ones"),
    ),
    Case(
        "truncated-tiff-in-folder",
        "truncated TIFF",
        _among_good("tiff"),
        "loaded",
        ("skipped", "cut.tiff", "truncated"),
        6,
    ),
    Case(
        "text-named-png",
        "a text file named .png",
        _alone("text"),
        "refused",
        ("notes.png", "not a recognised image format", "choose other ones"),
    ),
    Case(
        "text-named-png-in-folder",
        "a text file named .png",
        _among_good("text"),
        "loaded",
        ("skipped", "notes.png", "not a recognised image format"),
        6,
    ),
    # -- folders
    Case(
        "non-images-folder",
        "a folder of non-images only",
        _folder(_non_images),
        "refused",
        ("no images in folder", "readme.txt", "choose a folder of PNG"),
    ),
    Case(
        "empty-folder",
        "an empty folder",
        _folder(lambda f: None),
        "refused",
        ("is empty", "choose a folder of PNG"),
    ),
    Case(
        "nested-only",
        "nested folders",
        _folder(_nested_only),
        "refused",
        ("sub-folder", "day 1"),
        cli_fix=("Use --recursive to load",),
        gui_fix=("Load options… ▸ Folders ▸ Include sub-folders",),
    ),
    Case(
        "nested-recursive", "nested folders", _folder(_nested_only, "--recursive"), "loaded", (), 6
    ),
    Case(
        "nested-mixed",
        "nested folders",
        _folder(_nested_mixed),
        "loaded",
        ("ignored 1 sub-folder", "extra", "load recursively"),
        4,
    ),
    Case(
        "symlink-loop",
        "a symbolic-link loop",
        _folder(_link_loop, "--recursive"),
        "loaded",
        ("skipped folder link", "sub/back up", "loop"),
        6,
    ),
    Case(
        "unicode-names",
        "names with spaces and non-ASCII characters",
        _folder(_unicode_names),
        "loaded",
        (),
        4,
        verify=_names_kept,
    ),
    # -- unreadable: root reads everything, so the in-process cases simulate it with a
    #    dangling link and a folder named like an image; test_unreadable_file_really_
    #    without_permission drops root's override capabilities to get a real EACCES
    Case(
        "unreadable-dangling-link",
        "an unreadable file (simulated: dangling link)",
        _alone("dangling"),
        "refused",
        ("gone.png", "does not exist", "check the path"),
    ),
    Case(
        "unreadable-dangling-link-in-folder",
        "an unreadable file (simulated: dangling link)",
        _among_good("dangling"),
        "loaded",
        ("skipped", "gone.png", "cannot open it"),
        6,
    ),
    Case(
        "unreadable-permission",
        "an unreadable file (mode 000, not root)",
        _folder(_locked),
        "loaded",
        ("skipped locked.png", "Permission denied"),
        6,
        tags=("permission",),
    ),
    Case(
        "unreadable-folder-named-png",
        "an unreadable file (simulated: folder named x.png)",
        _folder(_dir_named_png),
        "loaded",
        ("ignored 1 sub-folder", "looks like.png"),
        6,
    ),
    # -- sizes, colours, depths, values
    Case(
        "mixed-sizes",
        "images of mixed sizes",
        _folder(_mixed_sizes),
        "loaded",
        ("resized 1 image", "20 × 16", "12 × 12 (h × w)", "bigger.png"),
        6,
    ),
    Case(
        "mixed-sizes-refuse",
        "images of mixed sizes",
        _folder(_mixed_sizes, "--size-policy", "refuse"),
        "refused",
        ("differ in size", "bigger.png", "size_policy is 'refuse'"),
        cli_fix=("Use --size-policy resize to resize them to 12 × 12",),
        gui_fix=("File ▸ Load options… ▸ Mixed sizes ▸ “resize to the most common size”",),
    ),
    Case(
        "mixed-colour",
        "mixed grayscale, RGB, RGBA and palette images",
        _folder(_mixed_colour),
        "loaded",
        ("converted", "colour", "c_rgb.png", "d_rgba.png"),
        5,
    ),
    Case(
        "mixed-colour-palette",
        "mixed grayscale, RGB, RGBA and palette images",
        _folder(_mixed_colour),
        "loaded",
        ("palette", "e_palette.png"),
        5,
    ),
    Case(
        "mixed-colour-alpha",
        "mixed grayscale, RGB, RGBA and palette images",
        _folder(_mixed_colour),
        "loaded",
        ("alpha", "d_rgba.png"),
        5,
    ),
    Case(
        "mixed-colour-refuse",
        "mixed grayscale, RGB, RGBA and palette images",
        _folder(_mixed_colour, "--color", "refuse"),
        "refused",
        ("colour image",),
        cli_fix=("--color luminance",),
        gui_fix=("Colour images ▸ “convert to gray (luminance)”",),
    ),
    Case(
        "16-bit-and-float",
        "16-bit and float images",
        _folder(_deep_and_float),
        "loaded",
        (),
        6,
        verify=_depths_kept,
    ),
    Case(
        "negative",
        "negative values",
        _folder(_with_value("minus.tif", -0.5)),
        "refused",
        ("minus.tif", "negative"),
        cli_fix=("--negative clip",),
        gui_fix=("Negative values ▸ “clip at zero”",),
    ),
    Case(
        "negative-clip",
        "negative values",
        _folder(_with_value("minus.tif", -0.5), "--negative", "clip"),
        "loaded",
        ("clipped", "minus.tif"),
        5,
    ),
    Case(
        "nan",
        "NaN values",
        _folder(_with_value("nan.tif", np.nan)),
        "refused",
        ("nan.tif", "NaN"),
        cli_fix=("--nonfinite zero",),
        gui_fix=("NaN / infinite values ▸ “replace by zero”",),
    ),
    Case(
        "infinite",
        "infinite values",
        _folder(_with_value("inf.tif", np.inf)),
        "refused",
        ("inf.tif", "infinite"),
        cli_fix=("--nonfinite zero",),
        gui_fix=("NaN / infinite values ▸ “replace by zero”",),
    ),
    Case(
        "nan-zero",
        "NaN values",
        _folder(_with_value("nan.tif", np.nan), "--nonfinite", "zero"),
        "loaded",
        ("replaced", "nan.tif"),
        5,
    ),
    Case("one-by-one", "1x1 images", _folder(_tiny, k="1"), "loaded", (), 4),
    Case(
        "one-by-one-k2",
        "1x1 images",
        _folder(_tiny, k="2"),
        "refused",
        ("n_components (k)=2", "k must be <= 1", "Lower k"),
        cli_fix=("(-k 1)",),
        gui_fix=("(Components k = 1 in the Run panel)",),
    ),
    Case("single-image", "a single image", lambda r: _single(r, "1"), "loaded", (), 1),
    Case(
        "single-image-k2",
        "a single image",
        lambda r: _single(r, "2"),
        "refused",
        ("n_components (k)=2", "k must be <= 1", "Lower k"),
        cli_fix=("(-k 1)",),
        gui_fix=("(Components k = 1 in the Run panel)",),
    ),
    Case(
        "multipage-sizes",
        "a multi-page TIFF with pages of different sizes",
        _pages,
        "loaded",
        ("resized 1 image", "stack.tif[page 3]"),
        4,
    ),
    Case(
        "multipage-sizes-refuse",
        "a multi-page TIFF with pages of different sizes",
        lambda r: _pages(r, "--size-policy", "refuse"),
        "refused",
        ("differ in size", "stack.tif[page 3]"),
        cli_fix=("--size-policy resize",),
        gui_fix=("Mixed sizes ▸ “resize to the most common size”",),
    ),
    # -- memory, refused from the headers
    Case(
        "memory",
        "a collection that would not fit in memory",
        _params("-k", "2", "--max-memory", "2K"),
        "refused",
        ("6 images of 12x12", "limit is 2.0 KB"),
        cli_fix=("raise the limit (--max-memory)",),
        gui_fix=("raise the limit (File ▸ Load options… ▸ Memory limit)",),
    ),
    Case(
        "memory-from-header",
        "a collection that would not fit in memory (header only)",
        _folder(_too_big_from_header, "--max-memory", "100M"),
        "refused",
        ("limit is 100.0 MB",),
        cli_fix=("--max-memory",),
        gui_fix=("Memory limit",),
    ),
    Case(
        "memory-huge-image",
        "a collection that would not fit in memory (a 10000x10000 image)",
        _folder(_huge_header(10_000), "--max-memory", "100M"),
        "refused",
        ("limit is 100.0 MB",),
        cli_fix=("--max-memory",),
        gui_fix=("Memory limit",),
    ),
    Case(
        "memory-very-large-image",
        "a collection that would not fit in memory (a 14000x14000 image)",
        _folder(_huge_header(14_000), "--max-memory", "100M"),
        "refused",
        ("limit is 100.0 MB",),
        cli_fix=("--max-memory",),
        gui_fix=("Memory limit",),
    ),
    # -- issue 14: names that are not UTF-8 (Latin-1 archives), formula names
    Case(
        "latin1-names",
        "file names that are not UTF-8",
        _folder(_latin1_names),
        "loaded",
        (),
        4,
        verify=_latin1_kept,
    ),
    Case("latin1-folder", "a folder name that is not UTF-8", _latin1_folder, "loaded", (), 4),
    Case(
        "formula-names",
        "names a spreadsheet reads as formulas",
        _folder(_formula_names),
        "loaded",
        (),
        5,
        verify=_formulas_neutralised,
    ),
    Case(
        "newline-name-broken",
        "a broken file whose name holds a newline",
        _folder(_newline_name_broken),
        "loaded",
        ("skipped two\\nlines.png",),
        6,
    ),
    Case(
        "control-char-names",
        "names with newline, tab and escape characters",
        _folder(_newline_names_good),
        "loaded",
        ("c\\nd.txt",),
        3,
    ),
    # -- issue 14: pictures as users mean them
    Case(
        "apng",
        "an animated PNG",
        _folder(_apng),
        "loaded",
        ("anim.png: animated PNG: used the first of its 3 frames",),
        5,
    ),
    Case(
        "npy-rgb",
        "a .npy of shape (h, w, 3)",
        _npy((12, 10, 3)),
        "loaded",
        ("read as one RGB image of 10x12",),
        1,
    ),
    Case(
        "npy-rgba",
        "a .npy of shape (h, w, 4)",
        _npy((12, 10, 4)),
        "loaded",
        ("read as one RGBA image of 10x12",),
        1,
    ),
    Case("npy-stack", "a .npy of shape (n, h, w)", _npy((5, 12, 10), k="2"), "loaded", (), 5),
    Case(
        "min-is-white",
        "a TIFF stored min-is-white",
        _folder(_min_is_white),
        "loaded",
        ("scan.tif", "min-is-white", "inverted"),
        5,
    ),
    # -- issue 14: links out of a recursive walk
    Case(
        "link-to-root",
        "a folder link to / with --recursive",
        _folder(_link_to_root, "--recursive"),
        "loaded",
        ("folder link leading out of the folder given", "everything -> /"),
        4,
    ),
    Case(
        "link-out-of-tree",
        "a folder link out of the tree with --recursive",
        _folder(_link_out, "--recursive"),
        "loaded",
        ("elsewhere ->",),
        3,
    ),
    # -- parameters
    Case(
        "k-zero",
        "k = 0",
        _params("-k", "0"),
        "refused",
        ("-k: n_components (k)=0", "whole number >= 1"),
    ),
    Case(
        "k-too-large",
        "k larger than min(n_images, n_pixels)",
        _params("-k", "7"),
        "refused",
        ("n_components (k)=7", "6 images x 144 pixels", "Lower k to at most 6"),
        cli_fix=("-k: ", "(-k 6)"),
        gui_fix=("(Components k = 6 in the Run panel)",),
    ),
    Case(
        "tol-negative",
        "negative tol",
        _params("-k", "2", "--tol", "-1"),
        "refused",
        ("--tol: tol=-1.0", "number >= 0"),
    ),
    Case(
        "tol-negative-exponent",
        "negative tol (written -1e-4)",
        _params("-k", "2", "--tol", "-1e-4"),
        "refused",
        ("--tol: tol=-0.0001", "number >= 0"),
    ),
    Case(
        "max-iter-zero",
        "max_iter = 0",
        _params("-k", "2", "--max-iter", "0"),
        "refused",
        ("--max-iter: max_iter=0", ">= 1"),
    ),
    Case(
        "unknown-loss",
        "an unknown loss name",
        _params("-k", "2", "--loss", "euclid"),
        "refused",
        ("--loss", "'euclid'", "frobenius, kl, is"),
    ),
    # -- numeric fields, validated once with their real limits (issue 14)
    Case(
        "seed-2**32",
        "a seed of 2**32 (numpy refuses it)",
        _params("-k", "2", "--seed", str(2**32)),
        "refused",
        ("--seed", "'4294967296'", "0 to 4294967295"),
        tags=("cli-only",),
    ),
    Case(
        "seed-huge",
        "a seed far above 2**32",
        _params("-k", "2", "--seed", "9" * 30),
        "refused",
        ("--seed", "0 to 4294967295"),
        tags=("cli-only",),
    ),
    Case(
        "seed-superscript",
        "a Unicode digit as the seed ('²': isdigit() but not int())",
        _params("-k", "2", "--seed", "²"),
        "refused",
        ("--seed", "'²'", "not a seed"),
        tags=("cli-only",),
    ),
    Case(
        "seed-largest",
        "the largest seed numpy takes (2**32 - 1), default init",
        _params("-k", "2", "--seed", str(2**32 - 1)),
        "loaded",
        (),
        6,
    ),
    Case(
        "max-memory-negative",
        "a negative memory limit ('-1G')",
        _params("-k", "2", "--max-memory", "-1G"),
        "refused",
        ("--max-memory", "'-1G' is negative"),
        tags=("cli-only",),
    ),
    Case(
        "max-memory-fraction",
        "a memory limit below one byte ('0.5')",
        _params("-k", "2", "--max-memory", "0.5"),
        "refused",
        ("--max-memory", "'0.5' is less than one byte"),
        tags=("cli-only",),
    ),
    Case(
        "max-memory-zero",
        "a memory limit of 0",
        _params("-k", "2", "--max-memory", "0"),
        "refused",
        ("--max-memory", "'0' is less than one byte"),
        tags=("cli-only",),
    ),
    # -- abbreviations are off: a shortened option is an error, never another option
    Case(
        "abbreviated-tol",
        "'--to' (argparse took it as --tol)",
        _params("-k", "2", "--to", "1e-3"),
        "refused",
        ("unrecognized arguments: --to",),
        tags=("cli-only",),
    ),
    Case(
        "abbreviated-max",
        "'--max' (ambiguous: --max-iter / --max-memory)",
        _params("-k", "2", "--max", "5"),
        "refused",
        ("unrecognized arguments: --max",),
        tags=("cli-only",),
    ),
    Case(
        "abbreviated-size",
        "'--size' for --size-policy",
        _params("-k", "2", "--size", "refuse"),
        "refused",
        ("unrecognized arguments: --size",),
        tags=("cli-only",),
    ),
    # -- issue 12: scientific formats (tests/format_files.py builds them)
    Case(
        "ome-no-such-axis",
        "an OME-TIFF whose axes cannot hold the collection asked for",
        _folder(_ome_tzcyx, "--image-axis", "Q"),
        "refused",
        ("stack.ome.tif has no axis 'Q'", "T (time, 2), Z (3), C (channel, 4)"),
        cli_fix=("--image-axis T",),
        gui_fix=("Load options… ▸ Image axis",),
    ),
    Case(
        "ome-spatial-axis",
        "an OME-TIFF whose images cannot lie along a spatial axis",
        _folder(_ome_tzcyx, "--image-axis", "Y"),
        "refused",
        ("'Y' is a spatial axis of stack.ome.tif",),
        cli_fix=("--image-axis T",),
        gui_fix=("Load options… ▸ Image axis",),
    ),
    Case(
        "hdf5-no-image-dataset",
        "an HDF5 file with no 2-D/3-D dataset",
        _folder(_hdf5_flat),
        "refused",
        ("flat.h5", "no 2-D or 3-D numeric dataset", "/spectrum", "choose other ones"),
    ),
    Case(
        "hdf5-several-datasets",
        "an HDF5 file with several 2-D/3-D datasets",
        _folder(_hdf5_two),
        "refused",
        ("two.h5 holds 2 2-D/3-D datasets (/a, /b)",),
        cli_fix=("--dataset /a",),
        gui_fix=("Load options… ▸ Dataset",),
    ),
    Case(
        "corrupt-bcf",
        "a corrupt vendor file",
        _folder(lambda f: ff.garbage(f / "scan.bcf")),
        "refused",
        ("scan.bcf: not a readable Bruker .bcf file", "choose other ones"),
    ),
    Case(
        "corrupt-dm3-in-folder",
        "a corrupt vendor file",
        _among_good_with(lambda f: ff.garbage(f / "image.dm3")),
        "loaded",
        ("skipped image.dm3: not a readable Digital Micrograph .dm3 file",),
        6,
    ),
]


#: damaged run.json files given to ``fit --replay`` (command line only: the window
#: has no replay)
REPLAY_CASES: list[Case] = [
    Case(
        "replay-wrong-type",
        "a run.json with a wrong type",
        _replay(lambda d: d["params"].update(max_iter="many")),
        "refused",
        ("run.json", "params.max_iter"),
    ),
    Case(
        "replay-empty-result",
        "a run.json with an empty result",
        _replay(lambda d: d.update(result={})),
        "refused",
        ("run.json", "result.n_iter"),
    ),
    Case(
        "replay-result-list",
        "a run.json whose result is a list",
        _replay(lambda d: d.update(result=[1, 2])),
        "refused",
        ("run.json", "'result'"),
    ),
    Case(
        "replay-bit-depth",
        "a run.json with a bad bit depth",
        _replay(lambda d: d["export"].update(bit_depth="8")),
        "refused",
        ("run.json", "export.bit_depth"),
    ),
    Case(
        "replay-files-damaged",
        "a run.json with a damaged file list",
        _replay(lambda d: d["inputs"].update(files=[{"path": 3}])),
        "refused",
        ("inputs.files[0].path",),
    ),
    Case(
        "replay-nested",
        "a deeply nested run.json",
        _replay(raw=b"[" * 100_000),
        "refused",
        ("nested far too deeply",),
    ),
    Case(
        "replay-bom-garbage",
        "a run.json of a BOM and garbage",
        _replay(raw=b"\xef\xbb\xbf{garbage"),
        "refused",
        ("not valid JSON",),
    ),
    Case(
        "replay-fifo",
        "a FIFO given as run.json",
        _fifo_manifest,
        "refused",
        ("not a regular file",),
    ),
    Case(
        "replay-device",
        "a device given as run.json",
        lambda r: ["--replay", "/dev/zero"],
        "refused",
        ("/dev/zero", "not a regular file"),
    ),
]


def run_case(case: Case, root: Path) -> tuple[int, Path]:
    """Build the case under ``root`` and run ``nmfviewer fit`` in process.

    Returns (exit code, output folder); the caller captures stderr and stdout.
    """
    args = case.build(root)
    out = root / "out"
    return run_fit(args, out), out


def run_fit(args: list[str], out: Path) -> int:
    """``nmfviewer fit ARGS --out OUT`` in process (FAST added unless --max-iter or
    --replay is given; options go before a '--', after which everything is a path)."""
    paths: list[str] = []
    if "--" in args:
        i = args.index("--")
        args, paths = args[:i], args[i:]
    if "--max-iter" not in args and "--replay" not in args:
        args = [*args, *FAST]
    return cli.main(["fit", *args, "--out", str(out), *paths])


# --------------------------------------------------------------------------- checks
def check_refused(code: int, err: str, out: Path, expect: tuple[str, ...]) -> str:
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, f"expected one stderr line, got:\n{err}"
    line = lines[0]
    assert line.startswith(f"{PROG}: error: ")
    assert "Traceback" not in err
    for fragment in expect:
        assert fragment in line, f"{fragment!r} missing from: {line}"
    assert not out.exists(), "a refused run must write nothing"
    return line


_PROGRESS = ("iteration ", "stopped after ", "loading: ")


def check_loaded(
    code: int, err: str, std: str, out: Path, expect: tuple[str, ...], n_images: int
) -> list[str]:
    assert code == 0, err
    warnings = [ln for ln in err.splitlines() if ln.startswith(f"{PROG}: warning: ")]
    others = [
        ln
        for ln in err.splitlines()
        if not ln.startswith(f"{PROG}: warning: ") and not ln.startswith(_PROGRESS)
    ]
    assert others == [], f"unexpected stderr lines: {others}"
    if expect:
        assert any(all(f in w for f in expect) for w in warnings), (
            f"no warning with {expect}:\n" + "\n".join(warnings)
        )
    else:
        assert warnings == []
    assert std.strip() == str(out.absolute())
    rows = list(csv.reader(io.StringIO((out / "weights.csv").read_text(encoding="utf-8"))))
    assert len(rows) == n_images + 1
    assert {"run.json", "factors.npz", "basis_montage.png", "basis_00.png"} <= {
        p.name for p in out.iterdir()
    }
    return warnings


def permissions_enforced() -> bool:
    """False when this process can read a mode-000 file (root with CAP_DAC_OVERRIDE)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            probe.read_bytes()
        except PermissionError:
            return True
        return False


def case_param(case: Case):
    """``pytest.param`` of a case, xfail(strict) for a known gap, skipped for a
    permission case when this process reads every file."""
    marks = []
    if "permission" in case.tags and not permissions_enforced():
        marks.append(
            pytest.mark.skip(
                reason="this process reads mode-000 files (root); see "
                "test_unreadable_file_really_without_permission"
            )
        )
    return pytest.param(case, id=case.id, marks=marks)


def drop_root_override() -> tuple[str, ...] | None:
    """A command prefix under which root obeys file permissions (setpriv drops
    CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH), or () when not root."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    return (setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}")
