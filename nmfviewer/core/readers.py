"""Format decoding: headers first (:func:`probe`), pixels later (:func:`read_pages`).

Three back ends here, chosen by the file's first bytes rather than its name:
tifffile for TIFF (every page an image, per-page wavelengths from the
metadata), numpy for ``.npy`` stacks, Pillow for everything else (PNG, JPEG,
BMP, GIF first frame, PGM/PPM). The formats of :mod:`.formats` (OME-TIFF and
ImageJ hyperstacks, ENVI, HDF5, vendor files, 16-bit colour PNG) have their own
modules, dispatched to from :func:`probe` and :func:`read_pages`.

Decoded pages are returned as read: ``(h, w)`` for gray, ``(h, w, c)`` for
colour with a ``color`` kind saying what the channels are. Any failure of a
third-party decoder becomes :class:`DecodeError` carrying a short reason; the
caller skips the file and lists it in the collection's warnings.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import struct
import threading
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from . import formats
from .errors import NMFViewerError
from .names import printable

if TYPE_CHECKING:
    from .params import LoadOptions

# Pillow's decompression-bomb guard (a warning above 89 M pixels, refusal above
# 179 M) would judge large scientific images before our own check, which
# estimates the whole stack's memory from the headers before any pixel is
# decoded (policies.check_memory) and names the file and the fix. We do not
# switch it off for the process (Image.MAX_IMAGE_PIXELS is left as the
# application set it): _open_pil opens files through Pillow's format plugins
# directly, which read the header only and skip the guard that Image.open adds.

# --------------------------------------------------------------------------- third-party notes
# tifffile and Pillow report problems of a file through logging and warnings.
# While one of our threads reads a file, what they say in that thread is captured
# (thread-locally: loading runs in a thread pool) and becomes a note of the file
# in the load report, one line, instead of stray text on stderr.
_capture = threading.local()


class _NotesHandler(logging.Handler):
    """Logging records of the capturing thread become notes; others are dropped
    (as the NullHandler this replaces did)."""

    def emit(self, record: logging.LogRecord) -> None:
        notes = getattr(_capture, "notes", None)
        if notes is not None and record.levelno >= logging.WARNING:
            try:
                _note(notes, record.name.split(".")[0], record.getMessage())
            except Exception:  # a malformed record is not worth a crash
                pass


for _logger in ("tifffile", "PIL", "h5py", "spectral"):  # rsciio: formats/vendor.py
    logging.getLogger(_logger).addHandler(_NotesHandler())


def _note(notes: list[str], library: str, message: object) -> None:
    text = printable(" ".join(str(message).split()))
    if len(text) > 200:
        text = text[:197] + "..."
    note = f"{library} says: {text}"
    if note not in notes:
        notes.append(note)


_hook_lock = threading.Lock()


def _showwarning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    notes = getattr(_capture, "notes", None)
    if notes is None:
        return _previous_showwarning(message, category, filename, lineno, file, line)
    library = (
        "tifffile"
        if "tifffile" in str(filename)
        else ("Pillow" if "PIL" in str(filename) else "Python")
    )
    _note(notes, library, message)
    return None


#: where warnings went before the hook (every other thread's warnings still go there)
_previous_showwarning = warnings.showwarning


def _install_warning_hook() -> None:
    """Route warnings of a capturing thread to its notes; every other thread's
    warnings go where they went before (the previous showwarning)."""
    global _previous_showwarning
    with _hook_lock:
        if warnings.showwarning is not _showwarning:
            _previous_showwarning = warnings.showwarning
            warnings.showwarning = _showwarning


@contextlib.contextmanager
def capture_notes(notes: list[str]) -> Iterator[list[str]]:
    """Collect what tifffile and Pillow log or warn in this thread into ``notes``."""
    _install_warning_hook()
    previous = getattr(_capture, "notes", None)
    _capture.notes = notes
    try:
        yield notes
    finally:
        _capture.notes = previous


#: Pillow plugins we let guess a file's format (others may misread random bytes).
PIL_FORMATS = ("PNG", "JPEG", "BMP", "DIB", "GIF", "PPM", "TIFF")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_NPY_MAGIC = b"\x93NUMPY"
#: color kinds: what the channels of a decoded page mean
GRAY, GRAY_ALPHA, RGB, RGBA, PALETTE = "gray", "gray+alpha", "rgb", "rgba", "palette"
_WAVELENGTH_KEYS = ("wavelengths", "wavelength", "wavelengths_nm", "wavelength_nm")


class DecodeError(Exception):
    """A file or page that cannot be decoded; ``reason`` is shown to the user."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PageInfo:
    """Header facts about one image (page, frame or stack slice) of a file."""

    index: int  # page / frame / slice index within the file
    shape: tuple[int, int]  # (h, w)
    channels: int  # samples per pixel as decoded (1 gray ... 4 rgba)
    itemsize: int  # bytes per decoded sample
    color: str  # GRAY, GRAY_ALPHA, RGB, RGBA or PALETTE
    orientation: int = 1  # EXIF orientation (JPEG), applied when decoding

    @property
    def decoded_bytes(self) -> int:
        return self.shape[0] * self.shape[1] * self.channels * self.itemsize


@dataclass(frozen=True)
class FileInfo:
    """Header facts about one file: its images and what the metadata says."""

    path: Path
    backend: str  # 'pil', 'tiff', 'npy', or one of formats.BACKENDS
    pages: tuple[PageInfo, ...]
    notes: tuple[str, ...] = ()  # e.g. "used the first of 12 GIF frames"
    axis_values: tuple[float, ...] | None = None  # one per page (wavelengths)
    axis_unit: str | None = None
    #: what axis_values are: 'energy', 'wavelength', 'wavenumber', 'band', 'z', 'time'...
    axis_name: str | None = None
    #: how an image of this file is named: 'name[<image_label> 3]' (None: 'page' / 'image')
    image_label: str | None = None
    #: where the images lie in the file, for the back end that reads them
    layout: Any = field(default=None, compare=False, repr=False)
    #: what the decoders said while reading pixels (filled by read_pages)
    decode_notes: list[str] = field(default_factory=list, compare=False, repr=False)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image format"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return f"{text or type(exc).__name__}"


def probe(
    path: Path,
    on_page: Callable[[], None] | None = None,
    options: LoadOptions | None = None,
) -> FileInfo:
    """Read only the headers of ``path``. Raises DecodeError if it is not a
    readable image, LoadError when ``options`` must choose (the image axis or
    the dataset of a multi-axis / multi-dataset file) and the choice is wrong.

    on_page: called after each page header of a multi-page TIFF is read (progress
    for stacks of tens of thousands of pages; it may raise to stop).
    options: the LoadOptions whose image_axis and dataset pick what to read.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise DecodeError(f"cannot open it ({_reason(exc)})") from None
    if not head:
        raise DecodeError("empty file (0 bytes)")
    said: list[str] = []
    try:
        with capture_notes(said):
            if head[:4] in _TIFF_MAGIC:
                info = _probe_tiff(path, on_page, options)
            elif head.startswith(_NPY_MAGIC):
                info = _probe_npy(path)
            elif (backend := formats.backend_for(path, head)) is not None:
                info = formats.probe(backend, path, options)
            else:
                info = _probe_pil(path)
        return replace(info, notes=(*info.notes, *said)) if said else info
    except (DecodeError, NMFViewerError):
        raise
    except Exception as exc:  # third-party decoders raise anything on bad bytes
        reason = _reason(exc)
        raise DecodeError(
            reason if reason.startswith("not a") else f"not a readable image ({reason})"
        ) from None


#: a backend's page reader: a generator (read_pages closes it) of (page index, pixels)
_Pages = Generator[tuple[int, np.ndarray | DecodeError], None, None]


def read_pages(
    info: FileInfo, indices: list[int]
) -> Iterator[tuple[int, np.ndarray | DecodeError]]:
    """Yield (page index, pixels) for each requested page, opening the file once.

    A page that fails to decode yields a DecodeError instead of pixels; a file
    that cannot be opened any more yields one per page. What tifffile or Pillow
    log or warn while decoding is added to ``info.decode_notes``.
    """
    builtin = {"pil": _read_pil, "tiff": _read_tiff, "npy": _read_npy}
    reader = builtin.get(info.backend) or formats.reader(info.backend)
    done: set[int] = set()
    pages = reader(info, indices)
    try:
        while True:
            with capture_notes(info.decode_notes):
                item = next(pages, None)
            if item is None:
                return
            done.add(item[0])
            yield item
    except DecodeError as exc:
        error = exc
    except Exception as exc:  # decoder failure on a corrupt file
        error = DecodeError(f"cannot decode it ({_reason(exc)})")
    finally:
        pages.close()
    for index in indices:
        if index not in done:
            yield index, error


def _native(array: np.ndarray) -> np.ndarray:
    """Native byte order, without a copy when already native."""
    if array.dtype.byteorder not in ("=", "|") and array.dtype.byteorder != (
        "<" if np.little_endian else ">"
    ):
        return array.astype(array.dtype.newbyteorder("="))
    return array


def _check_dtype(dtype: np.dtype | None, what: str) -> np.dtype:
    if dtype is None or dtype.kind not in "biuf" or dtype.itemsize > 8:
        raise DecodeError(f"unsupported {what} data type {dtype} (need integer or float pixels)")
    return dtype


# ---------------------------------------------------------------- Pillow


def _pil_color(im: Image.Image) -> tuple[str, int, int]:
    """(color kind, channels, itemsize) of the array :func:`_pil_pixels` returns."""
    mode = im.mode
    if mode in ("1", "L"):
        return GRAY, 1, 1
    if mode in ("I", "F"):
        return GRAY, 1, 4
    if mode.startswith("I;16"):
        return GRAY, 1, 2
    if mode in ("LA", "La"):
        return GRAY_ALPHA, 2, 1
    if mode in ("P", "PA"):
        palette = im.getpalette() or []
        rgb = np.asarray(palette, dtype=np.int32).reshape(-1, 3) if palette else None
        if rgb is not None and np.all(rgb[:, 0] == rgb[:, 1]) and np.all(rgb[:, 1] == rgb[:, 2]):
            return GRAY, 1, 1  # gray palette: exactly a gray image
        return PALETTE, 3, 1
    if mode in ("RGBA", "RGBa"):
        return RGBA, 4, 1
    return RGB, 3, 1


def _open_pil(path: Path, formats: tuple[str, ...] = PIL_FORMATS) -> Image.Image:
    """Open an image with Pillow's format plugins: headers only, no pixels.

    What ``Image.open(path, formats=formats)`` does, without its
    decompression-bomb check, so that Image.MAX_IMAGE_PIXELS need not change:
    the size is checked by us, from the header (policies.check_memory).
    """
    Image.init()
    fh = open(path, "rb")  # handed to the image, closed with it
    try:
        prefix = fh.read(16)
        for fmt in formats:
            if fmt not in Image.OPEN:
                continue
            factory, accept = Image.OPEN[fmt]
            if accept is not None and (not (ok := accept(prefix)) or isinstance(ok, str)):
                continue
            fh.seek(0)
            try:
                im = factory(fh, str(path))
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue
            im._exclusive_fp = True  # closing the image closes the file
            return im
    except BaseException:
        fh.close()
        raise
    fh.close()
    raise UnidentifiedImageError(f"cannot identify image file {str(path)!r}")


def _probe_pil(path: Path) -> FileInfo:
    with _open_pil(path) as im:
        width, height = im.size
        color, channels, itemsize = _pil_color(im)
        frames = getattr(im, "n_frames", 1)
        fmt = im.format
        orientation = _exif_orientation(im) if fmt in ("JPEG", "MPO") else 1
    if width < 1 or height < 1:
        raise DecodeError(f"image has no pixels ({width}x{height})")
    if orientation >= 5:  # the stored image is turned a quarter
        width, height = height, width
    notes: tuple[str, ...] = ()
    if orientation != 1:
        notes += (f"turned upright by its EXIF orientation ({orientation})",)
    if frames > 1 and fmt == "GIF":
        notes += (f"used the first of its {frames} GIF frames",)
    if frames > 1 and fmt == "PNG":  # APNG: one image per file, as for GIF
        apng = (
            f"animated PNG: used the first of its {frames} frames (save the frames "
            "as separate images or a multi-page TIFF to load them all)"
        )
        notes += (apng,)
    page = PageInfo(0, (height, width), channels, itemsize, color, orientation)
    if fmt == "PNG" and color in (RGB, RGBA) and _png_bit_depth(path) == 16:
        return formats.probe("png16", path, None, page=page, notes=notes)
    return FileInfo(path, "pil", (page,), notes)


def _exif_orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:  # corrupt EXIF: show the image as stored
        return 1
    return value if 1 <= value <= 8 else 1


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1..8 (what Pillow's ImageOps.exif_transpose does)."""
    if orientation in (2, 4):
        return np.flip(array, axis=1 if orientation == 2 else 0)
    if orientation == 3:
        return np.rot90(array, 2)
    if orientation == 5:
        return np.swapaxes(array, 0, 1)
    if orientation == 6:
        return np.rot90(array, -1)
    if orientation == 7:
        return np.swapaxes(np.rot90(array, 2), 0, 1)
    if orientation == 8:
        return np.rot90(array, 1)
    return array


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as fh:
        header = fh.read(25)  # signature (8), IHDR length+type (8), width, height, depth
    return header[24] if len(header) == 25 else 8


def _pil_pixels(im: Image.Image, color: str) -> np.ndarray:
    mode = im.mode
    if mode in ("P", "PA"):
        im = im.convert("L" if color == GRAY else "RGB")
    elif mode in ("LA", "La"):
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode not in ("1", "L", "I", "F", "RGB", "RGBA") and not mode.startswith("I;16"):
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX ...
    fmt = im.format
    array = np.asarray(im)
    if fmt == "PPM" and array.dtype == np.int32:
        array = array.astype(np.uint16)  # Pillow widens 16-bit PGM/PPM to int32
    if array.dtype == bool:
        array = array.astype(np.uint8)  # bilevel: 0/1 as stored
    return _native(array)


def _read_pil(info: FileInfo, indices: list[int]) -> _Pages:
    with _open_pil(info.path) as im:
        # first frame only (GIF); decode errors (truncated files) raise here
        page = info.pages[0]
        yield 0, _orient(_pil_pixels(im, page.color), page.orientation)


# ---------------------------------------------------------------- TIFF


def _tiff_page_info(index: int, page: Any, file_size: int) -> PageInfo:
    if page.is_reduced:
        raise DecodeError("thumbnail page")
    dtype = _check_dtype(page.dtype, "TIFF")
    if getattr(page, "imagedepth", 1) > 1:
        raise DecodeError("volumetric (3-D) TIFF pages are not supported")
    offsets = [o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False) if c]
    if offsets and max(offsets) > file_size:
        raise DecodeError(
            f"file is truncated (page {index} needs {max(offsets)} bytes, the file has {file_size})"
        )
    h, w = page.imagelength, page.imagewidth
    if h < 1 or w < 1:
        raise DecodeError(f"page {index} has no pixels")
    samples = page.samplesperpixel
    photometric = int(page.photometric)
    if photometric == 3:  # PALETTE: looked up in the colour map, uint16
        cmap = page.colormap
        gray = cmap is not None and np.all(cmap[0] == cmap[1]) and np.all(cmap[1] == cmap[2])
        return PageInfo(index, (h, w), 1 if gray else 3, 2, GRAY if gray else PALETTE)
    if photometric in (2, 6) and samples >= 3:  # RGB, YCbCr (decoded to RGB)
        return PageInfo(index, (h, w), samples, dtype.itemsize, RGBA if samples > 3 else RGB)
    if samples > 1:
        return PageInfo(index, (h, w), samples, dtype.itemsize, GRAY_ALPHA)
    return PageInfo(index, (h, w), 1, dtype.itemsize, GRAY)


def _probe_tiff(
    path: Path, on_page: Callable[[], None] | None = None, options: LoadOptions | None = None
) -> FileInfo:
    size = path.stat().st_size
    pages: list[PageInfo] = []
    notes: list[str] = []
    skipped: dict[str, list[int]] = {}
    with tifffile.TiffFile(path) as tif:
        # OME-TIFF, ImageJ hyperstacks, pyramids: the images lie along one axis
        series = formats.ome_series(tif, path, options)
        if series is not None:
            return series
        n_pages = len(tif.pages)
        for index in range(n_pages):
            try:
                pages.append(_tiff_page_info(index, tif.pages[index], size))
            except DecodeError as exc:
                skipped.setdefault(exc.reason, []).append(index)
            if on_page is not None:
                on_page()
        declared = _declared_pages(tif)
        values, unit = _wavelengths(tif)
        inverted = sum(
            1
            for p in pages
            if p.channels == 1 and int(getattr(tif.pages[p.index], "photometric", 1)) == 0
        )
    if not pages:
        reasons = "; ".join(skipped) or "no pages"
        raise DecodeError(f"no readable pages ({reasons})")
    for reason, idx in skipped.items():
        if reason != "thumbnail page":
            notes.append(f"skipped {len(idx)} page(s) ({reason})")
    if inverted:
        what = "its page is" if n_pages == 1 else f"{inverted} of its pages are"
        notes.append(
            f"{what} stored 'min-is-white' (photometric MINISWHITE): inverted "
            "(max - value) so that values read as they look"
        )
    if declared is not None and declared > n_pages:
        notes.append(
            f"only {n_pages} of the {declared} pages in its metadata are in the file (truncated?)"
        )
    if values is not None and len(values) != len(pages):
        values = None
    return FileInfo(path, "tiff", tuple(pages), tuple(notes), values, unit)


def _first_description(tif: tifffile.TiffFile) -> dict | None:
    """The JSON description of the first page (tifffile's "shaped" metadata), or None.

    Read from the first page only: tifffile's ``shaped_metadata`` builds every
    series of the file first, which takes time quadratic in the page count for a
    stack written page by page (``imwrite(..., append=True)``: one series per page).
    """
    try:
        description = tif.pages.first.description
        if description.startswith("{"):
            meta = json.loads(description)
            return meta if isinstance(meta, dict) else None
    except Exception:  # metadata is optional, never fatal
        return None
    return None


def _declared_pages(tif: tifffile.TiffFile) -> int | None:
    try:
        meta = _first_description(tif)
        if meta and "shape" in meta:
            shape = [int(s) for s in meta["shape"]]
            # trailing (h, w) or (h, w, samples) are per page
            per_page = tif.pages.first.shape
            return int(np.prod(shape[: len(shape) - len(per_page)], dtype=np.int64))
    except Exception:  # metadata is optional, never fatal
        return None
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = re.match(r"^\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*(nm)?\s*$", value)
        if match:
            return float(match.group(1))
    return None


def _wavelengths(tif: tifffile.TiffFile) -> tuple[tuple[float, ...] | None, str | None]:
    """Per-page wavelengths: key 'wavelengths' in tifffile's JSON (shaped)
    description, or in ImageJ metadata, or numeric ImageJ slice 'Labels'."""
    candidates: list = []
    first = _first_description(tif)
    if first is not None:
        candidates.append(first)
    try:
        if tif.imagej_metadata:
            candidates.append(tif.imagej_metadata)
    except Exception:  # metadata is optional, never fatal
        pass
    for meta in candidates:
        if not isinstance(meta, dict):
            continue
        unit = meta.get("wavelength_unit", "nm")
        for key in (*_WAVELENGTH_KEYS, "Labels"):
            raw = meta.get(key)
            if isinstance(raw, (list, tuple)) and raw:
                numbers = [_number(v) for v in raw]
                finite = [n for n in numbers if n is not None and np.isfinite(n)]
                if len(finite) == len(numbers):
                    return tuple(finite), str(unit)
    return None, None


def _tiff_pixels(page: Any, info: PageInfo) -> np.ndarray:
    array = page.asarray()
    if info.color in (GRAY, PALETTE) and int(page.photometric) == 3:
        cmap = page.colormap
        array = cmap[0][array] if info.color == GRAY else np.moveaxis(cmap[:, array], 0, -1)
    elif array.ndim == 3 and page.axes.startswith("S"):
        array = np.moveaxis(array, 0, -1)  # planar (separate) samples
    if int(page.photometric) == 0 and info.channels == 1:
        array = _invert_min_is_white(array, int(getattr(page, "bitspersample", 0) or 0))
    if array.ndim != (2 if info.channels == 1 else 3):
        array = np.squeeze(array)
    if array.shape[:2] != info.shape:
        raise DecodeError(f"page {info.index} decoded to an unexpected shape {array.shape}")
    return _native(array)


def _invert_min_is_white(array: np.ndarray, bits: int) -> np.ndarray:
    """A photometric MINISWHITE page as viewers show it: ``max - value``, where max
    is the largest value the page's bit depth holds (integers; 1-bit pages are
    flipped) or 1.0 for float pages in [0, 1] (else the page's own maximum)."""
    if array.dtype == bool:
        return ~array
    if array.dtype.kind in "ui":
        top = np.iinfo(array.dtype).max
        if 0 < bits < array.dtype.itemsize * 8:
            top = (1 << bits) - 1
        flipped: np.ndarray = np.asarray(top, dtype=array.dtype) - np.minimum(array, top)
        return flipped.astype(array.dtype)
    finite = array[np.isfinite(array)]
    in_unit = finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1)
    peak = 1.0 if in_unit else float(finite.max())
    inverted: np.ndarray = np.asarray(peak, dtype=array.dtype) - array
    return inverted.astype(array.dtype)


def _read_tiff(info: FileInfo, indices: list[int]) -> _Pages:
    pages = {p.index: p for p in info.pages}
    with tifffile.TiffFile(info.path) as tif:
        for index in indices:
            try:
                yield index, _tiff_pixels(tif.pages[index], pages[index])
            except Exception as exc:  # e.g. compression tifffile cannot decode
                yield index, _pil_fallback(info.path, index, exc)


def _pil_fallback(path: Path, index: int, first_error: Exception) -> np.ndarray | DecodeError:
    """Pillow decodes LZW/JPEG/deflate TIFFs without imagecodecs; try it."""
    try:
        with _open_pil(path, ("TIFF",)) as im:
            im.seek(index)
            color, _, _ = _pil_color(im)
            return _pil_pixels(im, color)
    except Exception:
        reason = f"cannot decode page {index} ({_reason(first_error)})"
        if not formats.has("imagecodecs"):
            reason += f"; compressed TIFFs need imagecodecs: {formats.EXTRA_INSTALL}"
        return DecodeError(reason)


# ---------------------------------------------------------------- numpy


def _probe_npy(path: Path) -> FileInfo:
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    try:
        dtype = _check_dtype(array.dtype, ".npy")
        shape = array.shape
    finally:
        del array
    n, h, w, c, single = _npy_layout(shape)
    color = {1: GRAY, 3: RGB, 4: RGBA}[c]
    if 0 in (n, h, w):
        raise DecodeError(f"array of shape {shape} has no pixels")
    notes: tuple[str, ...] = ()
    if single and len(shape) == 3:
        what = {1: "one gray", 3: "one RGB", 4: "one RGBA"}[c]
        layout = (
            f"array of shape {shape} read as {what} image of {w}x{h} (a last axis "
            f"of {c} holds colour channels); save a stack of gray images as (n, h, w)"
        )
        notes = (layout,)
    pages = tuple(PageInfo(i, (h, w), c, dtype.itemsize, color) for i in range(n))
    return FileInfo(path, "npy", pages, notes)


def _npy_layout(shape: tuple[int, ...]) -> tuple[int, int, int, int, bool]:
    """(n, h, w, channels, single image) of a .npy array, as users save pictures:
    (h, w) gray; (h, w, 3|4) one RGB(A) picture (the convention of every image
    library: a last axis of 3 or 4 holds colour; (h, w, 1) one gray picture);
    (n, h, w) a gray stack; (n, h, w, 3|4) a colour stack."""
    if len(shape) == 2:
        return 1, shape[0], shape[1], 1, True
    if len(shape) == 3 and shape[-1] in (1, 3, 4):
        return 1, shape[0], shape[1], shape[2], True
    if len(shape) == 3:
        return shape[0], shape[1], shape[2], 1, False
    if len(shape) == 4 and shape[-1] in (3, 4):
        return shape[0], shape[1], shape[2], shape[3], False
    raise DecodeError(
        f"array of shape {shape} is not an image or a stack of images "
        "(need (h, w), (h, w, 3|4), (n, h, w) or (n, h, w, 3|4))"
    )


def _read_npy(info: FileInfo, indices: list[int]) -> _Pages:
    array = np.load(info.path, mmap_mode="r", allow_pickle=False)
    try:
        single = _npy_layout(array.shape)[4]
        for index in indices:
            page = np.array(array if single else array[index])
            if page.ndim == 3 and page.shape[-1] == 1:
                page = page[..., 0]
            yield index, _native(page)
    finally:
        del array
