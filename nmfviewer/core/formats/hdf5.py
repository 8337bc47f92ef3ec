"""HDF5 and NeXus files through h5py: one numeric 2-D or 3-D dataset is the
collection (a 2-D one a single image; in a 3-D one, one dimension holds the
images and the other two are (y, x)).

Which dataset: ``LoadOptions.dataset``, else the only 2-D/3-D one, else the
NeXus default signal (``@default`` down to an NXdata ``@signal``); otherwise a
LoadError lists them. Which dimension holds the images: ``image_axis`` ('0',
'1', '2' or a NeXus / dimension-scale axis name), else the NeXus axis that is
not x / y, else dimension 0. A NeXus axis dataset of that dimension (with its
``@units``) becomes the physical axis. Only the slices asked for are read.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LoadError
from ..names import printable
from ..readers import GRAY, DecodeError, FileInfo, PageInfo, _check_dtype, _native
from . import require
from .layout import Axis, Choice, axis_word, choose_image_axis, read_batches

if TYPE_CHECKING:
    from ..params import LoadOptions

_WHAT = "HDF5 files"
#: at most this many datasets are named in a message
_LISTED = 8


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return str(value)


def _datasets(h5: Any, h5py: Any) -> tuple[list[str], list[str]]:
    """(2-D/3-D numeric datasets, every other dataset as 'name (shape dtype)')."""
    good: list[str] = []
    other: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        if obj.ndim in (2, 3) and obj.dtype.kind in "biuf" and min(obj.shape) >= 1:
            good.append("/" + name)
        else:
            other.append(f"/{name} {obj.shape} {obj.dtype}")

    h5.visititems(visit)
    return good, other


def _nexus_default(h5: Any, h5py: Any) -> str | None:
    """The dataset NeXus' @default / @signal attributes lead to, or None."""
    try:
        group = h5
        for _ in range(3):  # file -> NXentry -> NXdata (-> a sub-entry)
            if "signal" in group.attrs:
                signal = group[_text(group.attrs["signal"])]
                return str(signal.name) if isinstance(signal, h5py.Dataset) else None
            if "default" not in group.attrs:
                return None
            group = group[_text(group.attrs["default"])]
    except Exception:  # broken NeXus attributes: no default
        return None
    return None


def _pick(h5: Any, h5py: Any, path: Path, wanted: str | None) -> tuple[str, tuple[str, ...]]:
    good, other = _datasets(h5, h5py)
    name = printable(path.name)
    listed = ", ".join(good[:_LISTED]) + (
        f" and {len(good) - _LISTED} more" if len(good) > _LISTED else ""
    )
    if wanted is not None:
        key = wanted if wanted.startswith("/") else "/" + wanted
        if key in good:
            return key, ()
        if not good:
            raise DecodeError(_none_text(other))
        raise LoadError(
            f"{name} has no 2-D or 3-D numeric dataset {wanted!r}; it has {listed}.",
            path,
            field="dataset",
            value=wanted,
            suggestion=good[0],
            hint="Use {option} (or another of those).",
        )
    if not good:
        raise DecodeError(_none_text(other))
    if len(good) == 1:
        return good[0], ()
    default = _nexus_default(h5, h5py)
    if default in good:
        note = f"read the NeXus default dataset {default} (others: {listed}); choose with dataset"
        return str(default), (note,)
    raise LoadError(
        f"{name} holds {len(good)} 2-D/3-D datasets ({listed}): say which to read.",
        path,
        field="dataset",
        value=None,
        suggestion=good[0],
        hint="Use {option} (or another of those).",
    )


def _none_text(other: list[str]) -> str:
    held = "; ".join(other[:_LISTED]) if other else "no datasets at all"
    return (
        f"no 2-D or 3-D numeric dataset in this HDF5 file (it holds: {held}); "
        "save the images as an (n, h, w) or (h, w) dataset"
    )


def _nexus_axes(ds: Any, h5py: Any) -> list[tuple[str | None, Any]]:
    """Per dimension (axis name, 1-D axis dataset or None) from the NXdata group's
    @axes when ``ds`` is its signal, else from h5py dimension labels."""
    out: list[tuple[str | None, Any]] = [(None, None)] * ds.ndim
    parent = ds.parent
    try:
        if _text(parent.attrs.get("signal", "")) == ds.name.rsplit("/", 1)[-1]:
            names = parent.attrs.get("axes")
            if names is None:
                names = []
            names = [names] if isinstance(names, (str, bytes)) else list(np.ravel(names))
            for dim, axis in enumerate(_text(n) for n in names[: ds.ndim]):
                data = parent.get(axis) if axis and axis != "." else None
                ok = isinstance(data, h5py.Dataset) and data.shape == (ds.shape[dim],)
                out[dim] = (None if axis == "." else axis, data if ok else None)
    except Exception:  # broken NeXus attributes: no axis names
        pass
    for dim in range(ds.ndim):
        if out[dim][0] is None and ds.dims[dim].label:
            out[dim] = (str(ds.dims[dim].label), None)
    return out


def _open(path: Path) -> tuple[Any, Any]:
    h5py = require("h5py", _WHAT)
    try:
        return h5py, h5py.File(path, "r")
    except Exception as exc:  # not HDF5, truncated, locked
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise DecodeError(f"not a readable HDF5 file ({text[:160]})") from None


def probe(path: Path, options: LoadOptions | None) -> FileInfo:
    h5py, h5 = _open(path)
    with h5:
        name, notes = _pick(h5, h5py, path, options.dataset if options else None)
        ds = h5[name]
        dtype = _check_dtype(ds.dtype, "HDF5")
        shape = tuple(int(n) for n in ds.shape)
        axes_meta = _nexus_axes(ds, h5py)
        choice, axes = _choose(shape, axes_meta, path, name, options)
        notes += choice.notes
        values, unit, axis_name = None, None, None
        if choice.image_axis is not None:
            label, data = axes_meta[choice.image_axis]
            axis_name = axis_word(label)
            if data is not None and data.dtype.kind in "iuf":
                numbers = np.asarray(data[()], dtype=np.float64)
                if np.all(np.isfinite(numbers)):
                    values = tuple(float(v) for v in numbers)
                    unit = _text(data.attrs["units"]) if "units" in data.attrs else None
    spatial = [a.size for a in axes if a.role in ("y", "x")]
    n = choice.n_images(axes)
    pages = tuple(PageInfo(i, (spatial[0], spatial[1]), 1, dtype.itemsize, GRAY) for i in range(n))
    label = None if choice.image_axis is None else axes[choice.image_axis].name
    return FileInfo(
        path,
        "hdf5",
        pages,
        (*notes, f"read dataset {name} {shape} {dtype}"),
        values,
        unit,
        axis_name=axis_name,
        image_label=label,
        layout=(name, axes, choice),
    )


def _choose(
    shape: tuple[int, ...],
    meta: list[tuple[str | None, Any]],
    path: Path,
    name: str,
    options: LoadOptions | None,
) -> tuple[Choice, list[Axis]]:
    names = [m[0] or f"dim {d}" for d, m in enumerate(meta)]
    if len(shape) == 2:
        axes = [Axis("0", names[0], shape[0], "y"), Axis("1", names[1], shape[1], "x")]
        return choose_image_axis(axes, None, path), axes
    requested = options.image_axis if options else None
    free = [Axis(str(d), names[d], shape[d]) for d in range(3)]
    spatial_names = [d for d in range(3) if (meta[d][0] or "").casefold() in ("x", "y")]
    if requested is not None:
        image = choose_image_axis(free, requested, path).image_axis
        guessed = False
    elif len(spatial_names) == 2:
        image, guessed = next(d for d in range(3) if d not in spatial_names), False
    else:
        image, guessed = 0, True
    assert image is not None
    roles = iter(("y", "x"))
    axes = [
        Axis(a.key, a.name, a.size, "other" if d == image else next(roles))
        for d, a in enumerate(free)
    ]
    notes: tuple[str, ...] = ()
    if guessed:
        notes = (
            f"images along dimension 0 of {name} ({shape[0]} images of {shape[1]} × "
            f"{shape[2]}); choose another dimension with image_axis ('0', '1' or '2')",
        )
    return Choice(image, notes), axes


def read_pages(
    info: FileInfo, indices: list[int]
) -> Generator[tuple[int, np.ndarray | DecodeError], None, None]:
    name, axes, choice = info.layout
    _, h5 = _open(info.path)
    with h5:
        size = info.pages[0].decoded_bytes
        for index, image in read_batches(h5[name], axes, choice, indices, size):
            yield index, _native(image)
