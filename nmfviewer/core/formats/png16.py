"""16-bit colour PNGs at 16 bits per channel, through imagecodecs (Pillow reads
them as 8 bits). Without imagecodecs they are read by Pillow, with a note naming
the extra that keeps the 16 bits.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..readers import DecodeError, FileInfo, PageInfo, _native

if TYPE_CHECKING:
    from ..params import LoadOptions


def probe(
    path: Path, options: LoadOptions | None, *, page: PageInfo, notes: tuple[str, ...] = ()
) -> FileInfo:
    """``page``: what Pillow's header says (8 bits per channel as Pillow decodes it)."""
    from . import EXTRA_INSTALL, has

    if not has("imagecodecs"):
        note = (
            "16-bit colour PNG: read as 8 bits per channel; to keep 16 bits install "
            f"imagecodecs: {EXTRA_INSTALL}"
        )
        return FileInfo(path, "pil", (page,), (*notes, note))
    return FileInfo(path, "png16", (replace(page, itemsize=2),), notes)


def read_pages(
    info: FileInfo, indices: list[int]
) -> Generator[tuple[int, np.ndarray | DecodeError], None, None]:
    import imagecodecs

    pixels: Any = imagecodecs.png_decode(info.path.read_bytes())  # first frame of an APNG
    array = np.asarray(pixels)
    page = info.pages[0]
    if array.shape[:2] != page.shape or array.ndim != 3:
        raise DecodeError(f"decoded to an unexpected shape {array.shape}")
    for index in indices:
        yield index, _native(array)
