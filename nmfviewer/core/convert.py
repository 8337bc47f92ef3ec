"""Writing chunked stores: image files (``nmfviewer convert``) or a loaded collection.

:func:`convert_to_store` plans the collection as :func:`load_collection` does
(same discovery, same header checks, same load policies and warnings), then
decodes the images in a thread pool one chunk of rows at a time and writes
each chunk as soon as it is full: memory holds one chunk, not the collection.
Everything goes to ``STORE.partial`` (with the converting process's id in a
lock file); the metadata, ``complete: true`` last, is written when every row
is, then the folder is renamed to ``STORE``. An interrupted conversion (Ctrl-C,
a full disk, a crash) leaves at most the ``.partial`` folder, which never
loads as a store and is cleaned up by the next conversion to the same name.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .collection import (
    Collection,
    _assemble,
    _decode_all,
    _plan,
    _raise_nothing_loadable,
    _sources,
    _target_shape,
)
from .discovery import PathsArg
from .errors import LoadError
from .params import LoadOptions
from .store import (
    CHUNK_BYTES,
    PARTIAL,
    Stats,
    StoreImages,
    StoreMatrix,
    chunk_rows_for,
    pid_alive,
    remove_tree,
    require,
    write_metadata,
)

Progress = Callable[[int, int], None]
LOCK_NAME = "converting.pid"


class _Target:
    """A store being written: the ``.partial`` folder, its lock and the X array."""

    def __init__(self, store: Path, n: int, m: int, chunk_rows: int, overwrite: bool) -> None:
        self.store = store
        self.partial = store.with_name(store.name + PARTIAL)
        if store.exists() and not overwrite:
            raise LoadError(
                f"{store} exists already; remove it, or choose another name for the store.",
                store,
            )
        lock = self.partial / LOCK_NAME
        if self.partial.exists():
            pid = _read_pid(lock)
            if pid is not None and pid != os.getpid() and pid_alive(pid):
                raise LoadError(
                    f"another conversion (process {pid}) is writing {store}; wait for it "
                    "to finish, or choose another name.",
                    store,
                )
            remove_tree(self.partial)  # left by an interrupted conversion
        zarr = require("zarr")
        try:
            self.partial.mkdir(parents=True)
            lock.write_text(str(os.getpid()))
            self.group = zarr.open_group(str(self.partial), mode="w", zarr_format=3)
            (self.partial / LOCK_NAME).write_text(str(os.getpid()))
            self.X = self.group.create_array(
                "X",
                shape=(n, m),
                chunks=(chunk_rows, m),
                dtype="float32",
                compressors=None,
                fill_value=0.0,
            )
        except OSError as exc:
            self.abort()
            raise LoadError(f"cannot write the store {store}: {exc}", store) from None
        self.rows = 0
        self.lo, self.hi, self.sum, self.sq = np.inf, -np.inf, 0.0, 0.0

    def append(self, block: np.ndarray) -> None:
        """Write rows (r, m) after those written so far; keep the statistics."""
        r = block.shape[0]
        if r == 0:
            return
        try:
            self.X[self.rows : self.rows + r] = block
        except OSError as exc:
            raise LoadError(
                f"cannot write the store {self.store} ({exc}); nothing was kept. Free disk "
                "space or choose another place.",
                self.store,
            ) from None
        self.rows += r
        self.lo = min(self.lo, float(block.min()))
        self.hi = max(self.hi, float(block.max()))
        self.sum += float(block.sum(dtype=np.float64))
        v = block.ravel().astype(np.float64)
        self.sq += float(np.dot(v, v))

    def stats(self) -> Stats:
        return Stats(float(self.lo), float(self.hi), self.sum, self.sq)

    def finish(self, meta: dict[str, Any]) -> Path:
        """Shrink X to the rows written, write the metadata and rename into place."""
        try:
            if self.rows != self.X.shape[0]:
                self.X.resize((self.rows, self.X.shape[1]))
            write_metadata(self.group, {**meta, "stats": self.stats().to_dict(), "complete": True})
            (self.partial / LOCK_NAME).unlink(missing_ok=True)
            if self.store.exists():  # overwrite: the old store goes only now
                old = self.store.with_name(self.store.name + ".old")
                os.replace(self.store, old)
                os.replace(self.partial, self.store)
                remove_tree(old)
            else:
                os.replace(self.partial, self.store)
        except OSError as exc:
            self.abort()
            raise LoadError(f"cannot finish the store {self.store}: {exc}", self.store) from None
        return self.store

    def abort(self) -> None:
        remove_tree(self.partial)


def _read_pid(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _meta(collection: Collection) -> dict[str, Any]:
    axis = collection.axis_values
    return {
        "names": list(collection.names),
        "image_shape": [int(s) for s in collection.image_shape],
        "source": [str(Path(p).absolute()) for p in collection.source],
        "files": [str(Path(p).absolute()) for p in collection.files],
        "warnings": list(collection.warnings),
        "options": collection.options.to_dict(),
        "original_dtypes": list(collection.original_dtypes),
        "axis_values": None if axis is None else [float(v) for v in axis],
        "axis_label": collection.axis_label,
    }


def convert_to_store(
    paths: PathsArg,
    store: str | Path,
    options: LoadOptions | None = None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    overwrite: bool = False,
) -> Path:
    """Convert image files to a chunked zarr store at ``store``; returns its path.

    Parameters
    ----------
    paths : str, Path or sequence of them
        As for :func:`load_collection`: folders, image files, stacks.
    store : str or Path
        The store to write (a folder, by convention ``*.zarr``).
    options : LoadOptions, optional
        The load policies (colour, size, values, normalisation); the memory
        limit does not apply (one chunk is in memory at a time).
    progress : callable, optional
        ``progress(done, total)`` as images decode (from the decoding threads).
    cancel : threading.Event, optional
        Set: the conversion stops with LoadError and leaves no store.
    chunk_bytes : int
        About this many bytes per chunk of whole rows (the fit's block).
    overwrite : bool
        Replace an existing store (only once the new one is complete).
    """
    options = options or LoadOptions()
    sources = _sources(paths)
    found, slots, skipped, infos = _plan(options, sources, cancel, progress)
    if not slots:
        _raise_nothing_loadable(sources, found, skipped)
    target = _target_shape(slots, options, sources[0])
    h, w = target
    m = h * w
    rows = min(len(slots), chunk_rows_for(m, 4, chunk_bytes))
    workers = options.workers or min(4, max(1, len(infos)))
    out = _Target(Path(store), len(slots), m, rows, overwrite)
    total = len(slots)
    try:
        buf = np.empty((min(rows, total), h, w), dtype=np.float32)
        pending = np.empty((min(rows, total), m), dtype=np.float32)
        fill = 0
        kept = []
        for start in range(0, total, rows):
            batch = slots[start : start + rows]
            view = buf[: len(batch)]

            def tick(done: int, _total: int, offset: int = start) -> None:
                if progress is not None and _total:
                    progress(offset + done, total)

            _decode_all(batch, view, options, workers, tick, cancel)
            for i, slot in enumerate(batch):
                if not slot.ok:
                    skipped.append((slot.name, slot.error))
                    continue
                kept.append(slot)
                pending[fill] = view[i].ravel()
                fill += 1
                if fill == pending.shape[0]:
                    out.append(pending)
                    fill = 0
        out.append(pending[:fill])
        if not kept:
            _raise_nothing_loadable(sources, found, skipped)
        lazy = StoreImages(StoreMatrix(out.partial, out.X, out.stats()), target)
        collection = _assemble(lazy, kept, found, skipped, infos, sources, options, target)  # type: ignore[arg-type]
        meta = _meta(collection)
        return out.finish(meta)
    except BaseException:
        out.abort()
        raise


def write_collection(
    collection: Collection,
    store: str | Path,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    overwrite: bool = False,
) -> Path:
    """Write an in-memory collection to a chunked store (``Collection.to_zarr``)."""
    X = collection.to_matrix()
    n, m = X.shape
    rows = min(n, chunk_rows_for(m, 4, chunk_bytes))
    out = _Target(Path(store), n, m, rows, overwrite)
    try:
        for r0 in range(0, n, rows):
            out.append(np.asarray(X[r0 : r0 + rows], dtype=np.float32))
        return out.finish(_meta(collection))
    except BaseException:
        out.abort()
        raise
