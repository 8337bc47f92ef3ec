"""Which axis of a multi-dimensional array holds the images.

An OME-TIFF ``TZCYX``, an HDF5 ``(bands, h, w)`` cube or an EDS spectrum image
``(y, x, energy)`` has two spatial axes and one or more others. One of those
others holds the images of the collection (the user's ``image_axis``, or a
default); the rest are read at their first index, and the load warnings say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LoadError
from ..names import printable

#: tifffile's axis letters, in words
AXIS_WORDS = {
    "T": "time",
    "Z": "z",
    "C": "channel",
    "E": "lambda",
    "I": "image",
    "Q": "other",
    "S": "sample",
    "A": "angle",
    "P": "phase",
    "R": "tile",
    "H": "lifetime",
    "L": "exposure",
    "V": "event",
    "M": "mosaic",
    "Y": "y",
    "X": "x",
}
#: spatial or colour roles: never the image axis
SPATIAL = ("y", "x", "sample")


@dataclass(frozen=True)
class Axis:
    """One axis of an array: ``key`` is what the user types to choose it ('C', '0',
    'energy'), ``name`` its word ('channel'), ``role`` 'y', 'x', 'sample' (colour
    channels of one picture) or 'other' (could hold the images)."""

    key: str
    name: str
    size: int
    role: str = "other"

    def describe(self) -> str:
        """'C (channel, 4)', or 'Z (3)' when the name is the key."""
        word = f"{self.name}, " if self.name.casefold() != self.key.casefold() else ""
        return f"{self.key} ({word}{self.size})"

    def matches(self, text: str) -> bool:
        wanted = text.strip().casefold()
        return wanted in (self.key.casefold(), self.name.casefold())


@dataclass(frozen=True)
class Choice:
    """The axis chosen to hold the images (None: one image) and the notes to report."""

    image_axis: int | None
    notes: tuple[str, ...]

    def n_images(self, axes: Sequence[Axis]) -> int:
        return 1 if self.image_axis is None else axes[self.image_axis].size

    def index(self, axes: Sequence[Axis], image: int) -> tuple[int | slice, ...]:
        """The index of image ``image`` into the array: spatial axes whole, the image
        axis at ``image``, every other axis at 0."""
        return tuple(
            slice(None) if a.role in SPATIAL else (image if i == self.image_axis else 0)
            for i, a in enumerate(axes)
        )


#: bytes of images read at once by :func:`read_batches` (a lazy or chunked file is
#: read once per batch instead of once per image)
BATCH_BYTES = 128 * 1024**2


def read_batches(
    data: Any,
    axes: Sequence[Axis],
    choice: Choice,
    indices: list[int],
    image_bytes: int,
    compute: Callable[[Any], np.ndarray] = np.asarray,
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, (h, w) image) for ``indices``, reading ``data`` (an h5py dataset, a dask
    or numpy array) a run of images at a time: one read per run of images of at most
    BATCH_BYTES, not one per image (a spectrum image stored (y, x, channels), or
    compressed in chunks, would otherwise be decoded whole for every channel)."""
    if choice.image_axis is None:
        for index in indices:
            yield index, compute(data[choice.index(axes, index)])
        return
    key = list(choice.index(axes, 0))
    # where the image axis lies among the axes left after the integer indices
    position = sum(1 for k in key[: choice.image_axis] if isinstance(k, slice))
    per_batch = max(1, BATCH_BYTES // max(1, image_bytes))
    order = sorted(set(indices))
    for start in range(0, len(order), per_batch):
        batch = order[start : start + per_batch]
        key[choice.image_axis] = slice(batch[0], batch[-1] + 1)
        block = compute(data[tuple(key)])
        for index in batch:
            yield index, np.take(block, index - batch[0], axis=position)


def choose_image_axis(
    axes: Sequence[Axis],
    requested: str | None,
    path: Path,
    preferred: Sequence[str] = (),
) -> Choice:
    """Pick the axis that holds the images.

    axes:      every axis of the array, in array order; two have roles 'y' and 'x'.
    requested: the user's ``image_axis`` (an axis key or name, case-insensitive) or None.
    preferred: keys tried first for the default, in order; then the largest axis.

    Raises LoadError naming the file and the axes to choose from when the
    requested axis is not one of them.
    """
    candidates = [i for i, a in enumerate(axes) if a.role not in SPATIAL]
    choices = ", ".join(repr(axes[i].key) for i in candidates)
    listed = ", ".join(axes[i].describe() for i in candidates)
    name = printable(path.name)
    if requested is not None:
        chosen = [i for i in candidates if axes[i].matches(requested)]
        if not chosen:
            spatial = [a for a in axes if a.matches(requested) and a.role in SPATIAL]
            why = (
                f"{requested!r} is a spatial axis of {name}"
                if spatial
                else f"{name} has no axis {requested!r}"
            )
            raise LoadError(
                f"{why}; the images can lie along "
                + (f"{listed}." if candidates else "no axis (it holds one image)."),
                path,
                field="image_axis",
                value=requested,
                suggestion=axes[candidates[0]].key if candidates else None,
                hint=f"Use {{option}} (one of {choices})." if candidates else None,
            )
        image_axis: int | None = chosen[0]
    else:
        image_axis = _default(axes, candidates, preferred)
    notes = _notes(axes, candidates, image_axis, requested is not None, choices)
    return Choice(image_axis, notes)


def _default(axes: Sequence[Axis], candidates: list[int], preferred: Sequence[str]) -> int | None:
    if not candidates:
        return None
    several = [i for i in candidates if axes[i].size > 1]
    if not several:
        return candidates[0]
    for key in preferred:
        for i in several:
            if axes[i].key.casefold() == key.casefold():
                return i
    return max(several, key=lambda i: axes[i].size)  # first of the largest


def _notes(
    axes: Sequence[Axis],
    candidates: list[int],
    image_axis: int | None,
    requested: bool,
    choices: str,
) -> tuple[str, ...]:
    if image_axis is None:
        return ()
    others = [axes[i] for i in candidates if i != image_axis and axes[i].size > 1]
    if not others:
        return ()
    chosen = axes[image_axis]
    fixed = ", ".join(a.describe() for a in others)
    how = "as asked" if requested else "by default"
    note = (
        f"images along axis {chosen.describe()} {how}; read the first "
        f"index of {fixed}; choose another axis with image_axis (one of {choices})"
    )
    return (note,)


def axis_word(name: str | None) -> str | None:
    """A physical axis name in the words of :mod:`nmfviewer.core.axis`: 'energy',
    'wavelength', 'wavenumber', or the name as given (lower case)."""
    if not name:
        return None
    text = name.strip().casefold()
    if "energy" in text or text in ("e", "ev", "kev"):
        return "energy"
    if "wavenumber" in text or "raman" in text or "shift" in text:
        return "wavenumber"
    if text in ("band", "bands"):
        return "band"
    if "wavelength" in text or text == "lambda":
        return "wavelength"
    return text
