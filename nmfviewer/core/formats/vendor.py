"""Microscopy and spectroscopy vendor files through RosettaSciIO: Bruker ``.bcf``,
EDAX ``.spd``, HyperSpy ``.hspy``, Digital Micrograph ``.dm3``/``.dm4``,
Renishaw ``.wdf``.

RosettaSciIO returns signals: an array and its axes, each axis navigation or
signal, with a name, units and calibration. A spectrum image ``(y, x, energy)``
(one signal axis, two navigation axes) becomes one image per channel, the signal
axis its physical axis (keV, cm⁻¹); an image or a stack of images (two signal
axes) gives one image per navigation index. A file with several signals (a
``.bcf`` holds SEM images and the EDS map) gives the one named by
``LoadOptions.dataset`` (title or number), else the first spectrum image, else
the first image. Files are opened lazily where the plugin can; only the images
asked for are computed.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LoadError
from ..names import printable
from ..readers import (
    GRAY,
    DecodeError,
    FileInfo,
    PageInfo,
    _check_dtype,
    _native,
    _NotesHandler,
    capture_notes,
)
from . import VENDOR_SUFFIXES, require
from .layout import Axis, axis_word, choose_image_axis, read_batches

if TYPE_CHECKING:
    from ..params import LoadOptions


def _quiet_rsciio() -> None:
    """RosettaSciIO prints its log to stdout through the handler it installs on the
    'rsciio' logger when imported (removing any other); ours turns those records
    into notes of the file (readers._NotesHandler) instead of stray lines."""
    logger = logging.getLogger("rsciio")
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:
            logger.removeHandler(handler)
    if not any(isinstance(h, _NotesHandler) for h in logger.handlers):
        logger.addHandler(_NotesHandler())


def _signals(path: Path) -> list[dict[str, Any]]:
    plugin, what = VENDOR_SUFFIXES[path.suffix.lower()]
    require("rsciio", f"{what} files")
    module = require(f"rsciio.{plugin}", f"{what} files")
    _quiet_rsciio()  # after the import: it installs its handler then
    try:
        signals = module.file_reader(str(path), lazy=True)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # rsciio raises anything on a corrupt file
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise DecodeError(f"not a readable {what} file ({text[:160]})") from None
    if not isinstance(signals, list) or not signals:
        raise DecodeError(f"{what} file holds no data")
    return signals


def _title(signal: dict[str, Any], number: int) -> str:
    title = signal.get("metadata", {}).get("General", {}).get("title") or ""
    return str(title) or f"signal {number}"


def _shape(signal: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(n) for n in signal["data"].shape)


def _kind(signal: dict[str, Any]) -> str:
    """'spectrum image', 'images' or '' (cannot hold a collection)."""
    axes = signal.get("axes", [])
    shape = _shape(signal)
    n_signal = sum(1 for a in axes if not a.get("navigate", False))
    if n_signal == 1 and len(shape) >= 3:
        return "spectrum image"
    if n_signal == 2 and len(shape) >= 2:
        return "images"
    return ""


def _pick(signals: list[dict[str, Any]], path: Path, wanted: str | None) -> tuple[int, str]:
    described = [
        f"{i}: {_title(s, i)} {_shape(s)}" + (f" {_kind(s)}" if _kind(s) else "")
        for i, s in enumerate(signals)
    ]
    if wanted is not None:
        for i, s in enumerate(signals):
            if wanted.strip() in (str(i), _title(s, i)) and _kind(s):
                return i, ""
        raise LoadError(
            f"{printable(path.name)} has no image or spectrum-image signal {wanted!r}; "
            f"it holds {'; '.join(described)}.",
            path,
            field="dataset",
            value=wanted,
            suggestion=next((str(i) for i, s in enumerate(signals) if _kind(s)), None),
            hint="Use {option} (a number or title of those).",
        )
    for kind in ("spectrum image", "images"):
        for i, s in enumerate(signals):
            if _kind(s) == kind:
                note = ""
                if len(signals) > 1:
                    note = (
                        f"read {described[i]} of its {len(signals)} signals "
                        f"({'; '.join(described)}); choose another with dataset"
                    )
                return i, note
    raise DecodeError(
        f"no image or spectrum image in it (it holds {'; '.join(described)}): a single "
        "spectrum or line scan cannot be a collection of images"
    )


def _axes(signal: dict[str, Any]) -> list[Axis]:
    """Axes in array order with roles: the spatial pair is the two signal axes of
    an image signal, or the last two navigation axes of a spectrum image."""
    meta = signal["axes"]
    shape = _shape(signal)
    order = sorted(range(len(meta)), key=lambda i: _array_index(meta[i], i, len(shape)))
    signal_dims = [d for d in order if not meta[d].get("navigate", False)]
    nav_dims = [d for d in order if meta[d].get("navigate", False)]
    spatial = signal_dims if len(signal_dims) == 2 else nav_dims[-2:]
    axes = []
    for position, d in enumerate(order):
        name = str(meta[d].get("name") or f"axis {position}")
        role = "other"
        if d in spatial:
            role = "y" if d == spatial[0] else "x"
        axes.append(Axis(name, name, shape[position], role))
    return axes


def _array_index(axis: dict[str, Any], i: int, ndim: int) -> int:
    index = axis.get("index_in_array", i)
    return int(index) % ndim if isinstance(index, int) else i


def _axis_values(meta: dict[str, Any]) -> tuple[tuple[float, ...] | None, str | None]:
    size = int(meta.get("size", 0))
    if isinstance(meta.get("axis"), (list, tuple, np.ndarray)):
        values = np.asarray(meta["axis"], dtype=np.float64)
    else:
        scale, offset = meta.get("scale", 1.0), meta.get("offset", 0.0)
        try:
            values = float(offset) + float(scale) * np.arange(size, dtype=np.float64)
        except (TypeError, ValueError):
            return None, None
    if values.shape != (size,) or not np.all(np.isfinite(values)):
        return None, None
    units = meta.get("units")
    return tuple(float(v) for v in values), (str(units) if units not in (None, "") else None)


def probe(path: Path, options: LoadOptions | None) -> FileInfo:
    signals = _signals(path)
    number, note = _pick(signals, path, options.dataset if options else None)
    signal = signals[number]
    dtype = _check_dtype(np.dtype(signal["data"].dtype), "vendor")
    axes = _axes(signal)
    choice = choose_image_axis(
        axes, options.image_axis if options else None, path, _preferred(signal, axes)
    )
    h, w = (a.size for a in axes if a.role in ("y", "x"))
    n = choice.n_images(axes)
    pages = tuple(PageInfo(i, (h, w), 1, dtype.itemsize, GRAY) for i in range(n))
    values, unit, name, label = None, None, None, None
    if choice.image_axis is not None:
        meta = _meta_of(signal, axes[choice.image_axis].key)
        values, unit = _axis_values(meta) if meta else (None, None)
        label = axes[choice.image_axis].name
        name = axis_word(label)
    notes = tuple(n for n in (note, *choice.notes) if n)
    return FileInfo(
        path,
        "vendor",
        pages,
        notes,
        values,
        unit,
        axis_name=name,
        image_label=label,
        layout=(number, axes, choice),
    )


def _meta_of(signal: dict[str, Any], name: str) -> dict[str, Any] | None:
    for i, meta in enumerate(signal["axes"]):
        if str(meta.get("name") or f"axis {i}") == name:
            return dict(meta)
    return None


def _preferred(signal: dict[str, Any], axes: list[Axis]) -> tuple[str, ...]:
    """A spectrum image's images lie along its signal axis."""
    signal_names = {str(m.get("name")) for m in signal["axes"] if not m.get("navigate", False)}
    return tuple(a.key for a in axes if a.role == "other" and a.key in signal_names)


def read_pages(
    info: FileInfo, indices: list[int]
) -> Generator[tuple[int, np.ndarray | DecodeError], None, None]:
    number, axes, choice = info.layout
    with capture_notes([]):  # what the plugin says on opening was noted by probe
        data = _signals(info.path)[number]["data"]
    size = info.pages[0].decoded_bytes
    for index, image in read_batches(data, axes, choice, indices, size, _compute):
        yield index, _native(image)


def _compute(block: Any) -> np.ndarray:
    """A dask block computed in this thread (the loader runs its own pool)."""
    compute = getattr(block, "compute", None)
    return np.asarray(compute(scheduler="synchronous") if compute is not None else block)
