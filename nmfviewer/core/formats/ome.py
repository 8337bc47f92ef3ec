"""OME-TIFF and ImageJ hyperstacks through tifffile's series: axes such as
``TZCYX``, one axis chosen to hold the images (:mod:`.layout`), pyramids read at
full resolution (level 0), OME channel wavelengths and z / time steps as the
physical axis of the images.

A plain multi-page TIFF (every page an image) stays with the page reader of
:mod:`nmfviewer.core.readers`; this one takes a TIFF whose first series is
OME, a pyramid, or has more than one axis that could hold the images, or when
the user names an ``image_axis``. Compressed pages (LZW, deflate, zstd, JPEG)
are decoded by tifffile through imagecodecs.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tifffile

from ..readers import DecodeError, FileInfo, _first_description, _tiff_page_info, _tiff_pixels
from .layout import AXIS_WORDS, Axis, choose_image_axis

if TYPE_CHECKING:
    from ..params import LoadOptions

#: the default image axis when several could hold the images: lambda (spectral)
#: first, then the largest axis
_PREFERRED = ("E",)


@dataclass(frozen=True)
class SeriesLayout:
    """Where each image of the collection lies in the TIFF: series number and, per
    image, the page number within the series (level 0)."""

    series: int
    pages: tuple[int, ...]


def probe_series(
    tif: tifffile.TiffFile, path: Path, options: LoadOptions | None
) -> FileInfo | None:
    """FileInfo of the images of the first series, or None when the page reader
    should read this TIFF (not OME/ImageJ/shaped, or one image axis at most)."""
    requested = options.image_axis if options is not None else None
    if not (tif.is_ome or requested is not None or _several_axes(tif)):
        return None
    try:
        series = tif.series[0]
        keyframe = series.keyframe
        lead = len(series.shape) - len(keyframe.shape)
    except Exception:  # a series tifffile cannot build: read page by page
        return None
    page_axes = str(keyframe.axes)
    if lead < 0 or series.axes[lead:] != page_axes:
        return None
    lead_axes, lead_shape = str(series.axes[:lead]), tuple(series.shape[:lead])
    if int(np.prod(lead_shape, dtype=np.int64)) != len(series.pages):
        return None
    several = sum(1 for n in lead_shape if n > 1) > 1
    pyramid = len(series.levels) > 1
    if not (tif.is_ome or several or pyramid or requested is not None):
        return None
    h, w = keyframe.imagelength, keyframe.imagewidth
    words = [AXIS_WORDS.get(a, a.lower()) for a in lead_axes]
    axes = [Axis(a, word, n) for a, word, n in zip(lead_axes, words, lead_shape, strict=True)]
    axes += [Axis("Y", "y", h, "y"), Axis("X", "x", w, "x")]
    choice = choose_image_axis(axes, requested, path, _PREFERRED)
    numbers = []
    for image in range(choice.n_images(axes)):
        index = [image if i == choice.image_axis else 0 for i in range(lead)]
        numbers.append(int(np.ravel_multi_index(index, lead_shape)) if lead else 0)
    template = _tiff_page_info(0, keyframe, path.stat().st_size)
    pages = tuple(replace(template, index=i) for i in range(len(numbers)))
    notes = list(choice.notes)
    if pyramid:
        notes.append(f"pyramid of {len(series.levels)} levels: read at full resolution (level 0)")
    if len(tif.series) > 1:
        notes.append(f"read the first of its {len(tif.series)} image series")
    label, values, unit, name = "image", None, None, None
    if choice.image_axis is not None:
        key = axes[choice.image_axis].key
        label = key
        values, unit, name = _physical_axis(tif, key, len(numbers))
    return FileInfo(
        path,
        "ome",
        pages,
        tuple(notes),
        values,
        unit,
        axis_name=name,
        image_label=label,
        layout=SeriesLayout(0, tuple(numbers)),
    )


def _several_axes(tif: tifffile.TiffFile) -> bool:
    """Whether an ImageJ / tifffile-shaped TIFF has more than one axis of length > 1
    besides y, x and samples, judged from the first page's description only
    (building the series of a stack appended page by page is quadratic)."""
    try:
        if tif.is_imagej:
            meta = tif.imagej_metadata or {}
            counts = [int(meta.get(k, 1)) for k in ("channels", "slices", "frames")]
            return sum(1 for c in counts if c > 1) > 1
        meta = _first_description(tif) or {}
        axes, shape = str(meta.get("axes", "")), list(meta.get("shape", []))
        if len(axes) != len(shape):
            return False
        return sum(1 for a, n in zip(axes, shape, strict=True) if a not in "YXS" and int(n) > 1) > 1
    except Exception:  # metadata is optional, never fatal
        return False


def _ome_pixels(tif: tifffile.TiffFile) -> dict[str, Any] | None:
    try:
        images = tifffile.xml2dict(tif.ome_metadata or "")["OME"]["Image"]
        image = images[0] if isinstance(images, list) else images
        pixels = image["Pixels"]
        return pixels if isinstance(pixels, dict) else None
    except Exception:  # metadata is optional, never fatal
        return None


def _physical_axis(
    tif: tifffile.TiffFile, key: str, n: int
) -> tuple[tuple[float, ...] | None, str | None, str | None]:
    """(values, unit, name) of the image axis from the OME metadata: channel
    emission (or excitation) wavelengths, z steps, time steps; else (None, None, name)."""
    name = {"C": "channel", "Z": "z", "T": "time", "E": "wavelength"}.get(key)
    pixels = _ome_pixels(tif) if tif.is_ome else None
    if pixels is None:
        return None, None, name
    if key == "C":
        channels = pixels.get("Channel")
        channels = channels if isinstance(channels, list) else [channels]
        for what in ("EmissionWavelength", "ExcitationWavelength"):
            found = [c.get(what) if isinstance(c, dict) else None for c in channels]
            numbers = [float(v) for v in found if isinstance(v, (int, float))]
            if len(numbers) == n == len(found):
                unit = channels[0].get(f"{what}Unit", "nm")
                return tuple(numbers), str(unit), "wavelength"
        return None, None, name
    step_key, unit_key, default = {
        "Z": ("PhysicalSizeZ", "PhysicalSizeZUnit", "µm"),
        "T": ("TimeIncrement", "TimeIncrementUnit", "s"),
    }.get(key, ("", "", ""))
    step = pixels.get(step_key) if step_key else None
    if isinstance(step, (int, float)) and step > 0:
        steps = tuple(float(step) * i for i in range(n))
        return steps, str(pixels.get(unit_key, default)), name
    return None, None, name


def read_pages(
    info: FileInfo, indices: list[int]
) -> Generator[tuple[int, np.ndarray | DecodeError], None, None]:
    layout = info.layout
    assert isinstance(layout, SeriesLayout)
    pages = {p.index: p for p in info.pages}
    with tifffile.TiffFile(info.path) as tif:
        series = tif.series[layout.series]
        for index in indices:
            try:
                page = series.pages[layout.pages[index]]
                if page is None:
                    raise DecodeError(f"image {index} is missing from the file")
                yield index, _tiff_pixels(page.aspage(), pages[index])
            except DecodeError as exc:
                yield index, exc
            except Exception as exc:  # e.g. a compression without its codec
                yield index, DecodeError(_codec_reason(index, exc))


def _codec_reason(index: int, exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = f"cannot decode image {index} ({text})"
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        from . import EXTRA_INSTALL

        reason += f"; compressed TIFFs need imagecodecs: {EXTRA_INSTALL}"
    return reason
