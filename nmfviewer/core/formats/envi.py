"""ENVI cubes (``cube.hdr`` beside ``cube.img`` / ``.raw`` / ``.dat`` ...) through
Spectral Python: every band an image, the header's ``wavelength`` and
``wavelength units`` as the physical axis. BSQ, BIL and BIP interleaves and
both byte orders are Spectral Python's job; only the band asked for is read.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..readers import GRAY, DecodeError, FileInfo, PageInfo, _check_dtype, _native
from . import envi_header_of, require
from .layout import axis_word

if TYPE_CHECKING:
    from ..params import LoadOptions

_WHAT = "ENVI files"


def _header(path: Path) -> Path:
    if path.suffix.lower() == ".hdr":
        return path
    header = envi_header_of(path)
    if header is None:
        raise DecodeError("ENVI data file without its .hdr header beside it")
    return header


def _open(path: Path) -> Any:
    require("spectral", _WHAT)
    envi = require("spectral.io.envi", _WHAT)
    header = _header(path)
    try:
        return envi.open(str(header))
    except envi.EnviDataFileNotFoundError:
        raise DecodeError(
            f"ENVI header {header.name} has no data file beside it (looked for the same "
            "name with .img, .dat, .raw or no ending); put the data file next to it"
        ) from None
    except Exception as exc:  # spectral raises anything on a bad header
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise DecodeError(f"not a readable ENVI header ({text[:160]})") from None


def probe(path: Path, options: LoadOptions | None) -> FileInfo:
    img = _open(path)
    rows, cols, bands = (int(n) for n in img.shape)
    if min(rows, cols, bands) < 1:
        raise DecodeError(f"ENVI cube of shape {img.shape} has no pixels")
    dtype = _check_dtype(np.dtype(img.dtype), "ENVI")
    pages = tuple(PageInfo(b, (rows, cols), 1, dtype.itemsize, GRAY) for b in range(bands))
    meta = img.metadata
    values, unit, name = _wavelengths(meta, bands)
    notes: tuple[str, ...] = ()
    if "data ignore value" in meta:
        notes = (
            f"its header sets 'data ignore value = {meta['data ignore value']}': kept as read",
        )
    return FileInfo(
        path, "envi", pages, notes, values, unit, axis_name=name, image_label="band", layout=None
    )


def _wavelengths(
    meta: dict[str, Any], bands: int
) -> tuple[tuple[float, ...] | None, str | None, str | None]:
    raw = meta.get("wavelength")
    if not isinstance(raw, list) or len(raw) != bands:
        return None, None, "band"
    try:
        values = tuple(float(v) for v in raw)
    except ValueError:
        return None, None, "band"
    if not all(np.isfinite(values)):
        return None, None, "band"
    unit = str(meta.get("wavelength units", "")).strip() or None
    if unit is not None and unit.casefold() in ("unknown", "index"):
        unit = None
    name = "wavenumber" if unit and "cm" in unit.casefold() else "wavelength"
    if unit and unit.casefold() in ("ev", "kev"):
        name = axis_word(unit) or name
    return values, unit, name


def read_pages(
    info: FileInfo, indices: list[int]
) -> Generator[tuple[int, np.ndarray | DecodeError], None, None]:
    img = _open(info.path)
    for index in indices:
        yield index, _native(np.asarray(img.read_band(index)))
