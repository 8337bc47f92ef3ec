"""Chunked on-disk collections: a zarr (v3) store opened lazily.

A store written by nmfviewer (:func:`.convert.convert_to_store`,
``Collection.to_zarr``) is a zarr group holding

- ``X``: the (n_images, n_pixels) float32 matrix, chunked in whole rows (one
  chunk = ``chunk_rows`` images: the blocks the streamed and the distributed
  fits work on), uncompressed (a chunk read from the page cache is a copy);
- the attribute ``nmfviewer``: names, image shape, sources, load warnings,
  options, spectral axis, value statistics (min, max, sum, squared norm) and
  ``complete: true``, written last.

A conversion writes to ``STORE.partial`` and renames it when it is complete,
so an interrupted one never leaves a store that loads. Any other 2-D
(n, m) or 3-D (n, h, w) zarr array (or a group holding exactly one) opens too,
as images named 'image 0', 'image 1', ...

Opening reads only metadata: :class:`StoreMatrix` (the lazy X) reads row
blocks when a fit or a view asks for them. zarr is an optional dependency
(``pip install "nmfviewer[dask]"``), imported when a store is opened.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import LoadError, NMFViewerError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .collection import Collection

#: the attribute holding our metadata, and its format version
ATTR = "nmfviewer"
FORMAT = 1
#: suffix of a store being written (renamed away when complete)
PARTIAL = ".partial"
#: bytes of one chunk (a whole number of rows) a conversion aims at
CHUNK_BYTES = 8 << 20
INSTALL_HINT = 'pip install "nmfviewer[dask]"'


def require(module: str) -> Any:
    """Import an optional dependency (zarr, dask, distributed) or raise a clear error."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise NMFViewerError(
            f"{module} is not installed; chunked stores and distributed fits need it: "
            f"{INSTALL_HINT}."
        ) from None


def is_store(path: str | Path) -> bool:
    """True when ``path`` is a zarr store (a folder named *.zarr or holding zarr.json)."""
    p = Path(path)
    if not p.is_dir():
        return False
    return (
        p.suffix == ".zarr"
        or p.name.endswith(".zarr" + PARTIAL)
        or (p / "zarr.json").exists()
        or (p / ".zarray").exists()
        or (p / ".zgroup").exists()
    )


def chunk_rows_for(n_pixels: int, itemsize: int = 4, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Rows per chunk so that a chunk holds about ``chunk_bytes``."""
    return max(1, chunk_bytes // max(1, n_pixels * itemsize))


@dataclass(frozen=True)
class Stats:
    """Value statistics of X, in float64: what the fit needs before it starts
    (the mean for random starts, the max for guards, the squared norm for the loss)."""

    min: float
    max: float
    sum: float
    sqnorm: float
    nonfinite: int = 0

    def to_dict(self) -> dict[str, float]:
        return {"min": self.min, "max": self.max, "sum": self.sum, "sqnorm": self.sqnorm}


class StoreMatrix:
    """The lazy X (n_images, n_pixels) of a zarr array: row blocks read on demand.

    Enough of numpy's array interface for the engine's set-up (shape, dtype,
    ``mean``, ``max``, products with dense matrices: the randomized SVD of
    nndsvd) without ever holding X; the fits read it block by block
    (:meth:`blocks`, :meth:`read`). Values come as float32 whatever the
    store's dtype.
    """

    __array_ufunc__ = None  # ndarray @ StoreMatrix defers to __rmatmul__
    ndim = 2

    def __init__(self, path: Path, array: Any, stats: Stats | None = None) -> None:
        self.path = Path(path)
        self.array = array
        n = int(array.shape[0])
        self.shape = (n, int(np.prod(array.shape[1:])))
        self.dtype = np.dtype(np.float32)
        self.store_dtype = np.dtype(array.dtype)
        self.chunk_rows = int(array.chunks[0])
        self._stats = stats

    # -- size ------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    def __repr__(self) -> str:
        return f"StoreMatrix({str(self.path)!r}, shape={self.shape}, chunk_rows={self.chunk_rows})"

    # -- reading ---------------------------------------------------------------------
    def read(self, r0: int, r1: int, dtype: Any = np.float32) -> np.ndarray:
        """Rows r0:r1 as a C-contiguous (r1 - r0, n_pixels) array of ``dtype``."""
        try:
            block = np.asarray(self.array[r0:r1])
        except OSError as exc:
            raise LoadError(f"cannot read rows {r0}:{r1} of {self.path}: {exc}", self.path) from exc
        block = block.reshape(r1 - r0, self.shape[1])
        return np.ascontiguousarray(block, dtype=dtype)

    def blocks(self, rows: int | None = None) -> list[tuple[int, int]]:
        """Row ranges (r0, r1) of ``rows`` rows (a multiple of the chunk rows)."""
        step = self.chunk_rows if rows is None else max(1, int(rows))
        n = self.shape[0]
        return [(r0, min(n, r0 + step)) for r0 in range(0, n, step)]

    def iter_blocks(self, rows: int | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
        for r0, r1 in self.blocks(rows):
            yield r0, r1, self.read(r0, r1)

    def __getitem__(self, key: Any) -> np.ndarray:
        """Row slices (``X[r0:r1]``) and single rows, read from the store."""
        if isinstance(key, slice):
            r0, r1, step = key.indices(self.shape[0])
            if step != 1:
                raise IndexError("a StoreMatrix reads contiguous row ranges only")
            return self.read(r0, max(r0, r1))
        if isinstance(key, (int, np.integer)):
            i = int(key) % self.shape[0]
            row: np.ndarray = self.read(i, i + 1)[0]
            return row
        raise IndexError(f"a StoreMatrix reads row slices, not {key!r}")

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.shape, dtype=dtype or self.dtype)
        for r0, r1, block in self.iter_blocks():
            out[r0:r1] = block
        return out

    def astype(self, dtype: Any) -> np.ndarray:
        return self.__array__(dtype)

    # -- statistics --------------------------------------------------------------------
    def stats(self) -> Stats:
        """min, max, sum and squared norm (one pass over the store unless recorded)."""
        if self._stats is None:
            lo, hi, total, sq, bad = math.inf, -math.inf, 0.0, 0.0, 0
            for _, _, b in self.iter_blocks():
                finite = np.isfinite(b)
                if not finite.all():
                    bad += int(b.size - np.count_nonzero(finite))
                    b = np.where(finite, b, 0)
                lo, hi = min(lo, float(b.min())), max(hi, float(b.max()))
                total += float(b.sum(dtype=np.float64))
                v = b.ravel().astype(np.float64)
                sq += float(np.dot(v, v))
            self._stats = Stats(lo, hi, total, sq, bad)
        return self._stats

    def min(self) -> float:
        return self.stats().min

    def max(self) -> float:
        return self.stats().max

    def mean(self, dtype: Any = None) -> float:
        return self.stats().sum / self.size

    # -- products with dense matrices (randomized SVD of the initialisation) ----------
    def __matmul__(self, other: np.ndarray) -> np.ndarray:
        """X @ B for B (n_pixels, p): row blocks of the result."""
        other = np.asarray(other)
        out = np.empty((self.shape[0], other.shape[1]), dtype=np.result_type(self.dtype, other))
        for r0, r1, b in self.iter_blocks():
            np.matmul(b, other, out=out[r0:r1])
        return out

    def __rmatmul__(self, other: np.ndarray) -> np.ndarray:
        """A @ X for A (p, n_images): summed over row blocks."""
        other = np.asarray(other)
        out = np.zeros((other.shape[0], self.shape[1]), dtype=np.result_type(self.dtype, other))
        for r0, r1, b in self.iter_blocks():
            out += other[:, r0:r1] @ b
        return out

    @property
    def T(self) -> _Transposed:
        return _Transposed(self)


class _Transposed:
    """X.T of a StoreMatrix, for ``X.T @ Q`` (Q (n_images, p))."""

    __array_ufunc__ = None

    def __init__(self, X: StoreMatrix) -> None:
        self.X = X
        self.shape = (X.shape[1], X.shape[0])

    def __matmul__(self, other: np.ndarray) -> np.ndarray:
        other = np.asarray(other)
        out = np.zeros((self.shape[0], other.shape[1]), dtype=np.result_type(self.X.dtype, other))
        for r0, r1, b in self.X.iter_blocks():
            out += b.T @ other[r0:r1]
        return out


class StoreImages:
    """(n, h, w) images of a store for :class:`Collection` (read on demand).

    ``images[i]`` reads image i; ``reshape(n, h * w)`` is the lazy X
    (:class:`StoreMatrix`), which ``Collection.to_matrix()`` returns.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    class _Flags:
        writeable = False
        c_contiguous = True

    def __init__(self, X: StoreMatrix, image_shape: tuple[int, int]) -> None:
        self.X = X
        self.shape = (X.shape[0], *image_shape)
        self.flags = self._Flags()
        self.nbytes = X.nbytes

    def reshape(self, *shape: Any) -> StoreMatrix:
        if len(shape) == 1 and isinstance(shape[0], tuple):
            shape = shape[0]
        n, m = self.X.shape
        if tuple(shape) not in ((n, m), (n, -1)):
            raise ValueError(f"a store's images reshape to {self.X.shape} only, not {shape}")
        return self.X

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = self.X[key]
        if rows.ndim == 1:
            return rows.reshape(self.shape[1:])
        return rows.reshape(rows.shape[0], *self.shape[1:])

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.X, dtype=dtype).reshape(self.shape)

    def min(self) -> float:
        return self.X.min()

    def max(self) -> float:
        return self.X.max()


def _open_zarr(path: Path) -> Any:
    zarr = require("zarr")
    try:
        return zarr.open(str(path), mode="r")
    except Exception as exc:  # zarr raises several types for a folder that is no store
        raise LoadError(f"{path} is not a readable zarr store ({exc}).", path) from None


def open_store(path: str | Path) -> tuple[StoreMatrix, dict[str, Any]]:
    """(the lazy X, our metadata or {} for a foreign array) of the store at ``path``.

    Raises LoadError for a store being written (or whose conversion was
    interrupted), one that is not complete, and arrays that are not 2-D/3-D.
    """
    path = Path(path)
    if path.name.endswith(PARTIAL):
        raise LoadError(
            f"{path} is a store still being written (or whose conversion was interrupted); "
            "wait for the conversion to finish, or convert again.",
            path,
        )
    node = _open_zarr(path)
    meta: dict[str, Any] = {}
    attrs = dict(node.attrs)
    if ATTR in attrs:
        meta = dict(attrs[ATTR])
        if not meta.get("complete"):
            raise LoadError(
                f"{path} is an incomplete nmfviewer store (its conversion did not finish); "
                "convert again.",
                path,
            )
        if int(meta.get("format", 0)) > FORMAT:
            raise LoadError(
                f"{path} was written by a newer nmfviewer (store format {meta['format']}); "
                "update nmfviewer to read it.",
                path,
            )
    array = node
    if not hasattr(node, "shape"):  # a group: ours ('X'), or one with a single array
        keys = sorted(node.array_keys())
        if "X" in keys:
            array = node["X"]
        elif len(keys) == 1:
            array = node[keys[0]]
        else:
            found = ", ".join(keys) if keys else "none"
            raise LoadError(
                f"{path} is a zarr group without one image array (arrays: {found}); give "
                "the array's own folder, e.g. {path}/NAME.",
                path,
            )
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise LoadError(
            f"the zarr array in {path} has shape {tuple(array.shape)}; a collection is "
            "(n_images, n_pixels) or (n_images, height, width).",
            path,
        )
    if np.dtype(array.dtype).kind not in "biuf":
        raise LoadError(
            f"the zarr array in {path} holds {array.dtype}; images need integer or float values.",
            path,
        )
    if array.ndim == 3 and tuple(array.chunks[1:]) != tuple(array.shape[1:]):
        raise LoadError(
            f"the zarr array in {path} is chunked {tuple(array.chunks)}, not in whole images; "
            "the fit reads whole rows: convert it with `nmfviewer convert` (which rechunks).",
            path,
        )
    if array.ndim == 2 and int(array.chunks[1]) != int(array.shape[1]):
        raise LoadError(
            f"the zarr array in {path} is chunked {tuple(array.chunks)}, not in whole rows; "
            "the fit reads whole rows: convert it with `nmfviewer convert` (which rechunks).",
            path,
        )
    stats = None
    if "stats" in meta:
        s = meta["stats"]
        stats = Stats(float(s["min"]), float(s["max"]), float(s["sum"]), float(s["sqnorm"]))
    return StoreMatrix(path, array, stats), meta


def open_collection(path: str | Path) -> Collection:
    """A :class:`Collection` over the store at ``path``; nothing but metadata is read."""
    from .collection import Collection
    from .params import LoadOptions

    path = Path(path)
    X, meta = open_store(path)
    n = X.shape[0]
    if meta:
        image_shape = tuple(int(v) for v in meta["image_shape"])
        names = tuple(str(v) for v in meta["names"])
        known = set(LoadOptions.__dataclass_fields__)
        options = LoadOptions.from_dict(
            {k: v for k, v in meta.get("options", {}).items() if k in known}
        )
        axis = meta.get("axis_values")
        axis_values = None if axis is None else np.asarray(axis, dtype=np.float64)
        if axis_values is not None:
            axis_values.flags.writeable = False
        return Collection(
            images=StoreImages(X, image_shape),  # type: ignore[arg-type]
            names=names,
            image_shape=image_shape,  # type: ignore[arg-type]
            source=(path,),
            files=_fingerprint(path),
            warnings=tuple(str(w) for w in meta.get("warnings", ())),
            options=options,
            original_dtypes=tuple(meta.get("original_dtypes", ("float32",))),
            value_range=(X.stats().min, X.stats().max),
            axis_values=axis_values,
            axis_label=str(meta.get("axis_label", "image")),
        )
    shape = tuple(int(s) for s in X.array.shape)
    image_shape = shape[1:] if len(shape) == 3 else (1, shape[1])
    lo, hi = float("nan"), float("nan")  # not read: the fit checks the values
    return Collection(
        images=StoreImages(X, image_shape),  # type: ignore[arg-type]
        names=tuple(f"image {i}" for i in range(n)),
        image_shape=image_shape,
        source=(path,),
        files=_fingerprint(path),
        warnings=(),
        options=LoadOptions(),
        original_dtypes=(X.store_dtype.name,),
        value_range=(lo, hi),
    )


def _fingerprint(path: Path) -> tuple[Path, ...]:
    """The files run.json hashes for a store: its metadata (names, statistics), not X."""
    meta = path / "zarr.json"
    return (meta,) if meta.is_file() else ()


def write_metadata(group: Any, meta: dict[str, Any]) -> None:
    """Set our attribute on the store's group (``complete`` last of all)."""
    group.attrs[ATTR] = {"format": FORMAT, **meta}


def remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
