"""Image collections: :class:`Collection` and :func:`load_collection`.

Loading is three passes: discover the files (:mod:`.discovery`), read their
headers (:func:`.readers.probe`) to plan the stack and check memory, then
decode the pixels in a thread pool straight into one preallocated
(n, h, w) float32 array, applying the policies of :class:`LoadOptions`
(:mod:`.policies`) image by image. Everything a policy did is reported in
plain words in ``Collection.warnings``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .axis import SpectralAxis, find_sidecar_axis, read_axis_file
from .discovery import (
    Discovery,
    Found,
    PathsArg,
    as_path_list,
    discover,
    discover_files,
    list_names,
    plural,
)
from .errors import LoadError
from .names import printable
from .nmf.mask import Mask
from .params import LoadOptions
from .policies import apply_values, check_memory, to_gray, to_rgb
from .readers import DecodeError, FileInfo, PageInfo, probe, read_pages

__all__ = ["Collection", "discover_files", "load_collection"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class Collection:
    """A stack of gray images ready for NMF.

    images:         (n, h, w) float32, C-contiguous, read-only, values >= 0 and finite;
                    (n, h, w, 3) with color='channels' (colour kept as colour).
    names:          one per image: file name (relative to the folder given) or
                    'stack.tif[page 3]' (0-based) for pages of a multi-page file.
    image_shape:    (h, w).
    source:         the paths the user gave.
    files:          every file actually read.
    warnings:       plain-words notes: skipped/converted/resized files and why.
    original_dtypes: distinct dtypes as read, e.g. ('uint8',) or ('uint16', 'float32').
    value_range:    (min, max) of ``images``.
    axis_values:    (n,) wavelength (or other) per image when the file gives one.
    axis_label:     'image', 'band' or e.g. 'wavelength (nm)'.
    mask:           the entries a fit uses (``Mask`` over ``to_matrix()``), from
                    nonfinite='mask', saturation and mask_file (see
                    ``mask_sources``); None: every entry.
    axis:           the physical band axis (values, name, unit, source) when known;
                    axis_values / axis_label follow it (see :meth:`with_axis`).
    image_means:    (n,) float64 mean of each image: for a cube, the mean spectrum
                    (computed once with value_range, off the GUI thread).
    """

    images: np.ndarray
    names: tuple[str, ...]
    image_shape: tuple[int, int]
    source: tuple[Path, ...]
    files: tuple[Path, ...]
    warnings: tuple[str, ...]
    options: LoadOptions
    original_dtypes: tuple[str, ...]
    value_range: tuple[float, float]
    axis_values: np.ndarray | None = None
    axis_label: str = "image"
    mask: Mask | None = None
    axis: SpectralAxis | None = None
    image_means: np.ndarray | None = None

    def __post_init__(self) -> None:
        _sync_axis(self)
        colour = self.images.ndim == 4 and self.images.shape[3] == 3
        if (self.images.ndim != 3 and not colour) or self.images.dtype != np.float32:
            raise ValueError(
                "images must be (n, h, w) or (n, h, w, 3) float32, got "
                f"{self.images.shape} {self.images.dtype}"
            )
        if len(self.names) != self.images.shape[0]:
            raise ValueError(f"{len(self.names)} names for {self.images.shape[0]} images")

    @property
    def n_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        """3 for a colour collection (color='channels'), else 1."""
        return 3 if self.images.ndim == 4 else 1

    @property
    def basis_shape(self) -> tuple[int, ...]:
        """Shape of one row of X as an image: (h, w), or (h, w, 3) in colour."""
        return tuple(int(s) for s in self.images.shape[1:])

    def to_matrix(self) -> np.ndarray:
        """X (n, h*w) float32 (h*w*3 in colour, pixel-major r, g, b): one row per
        image, a view of ``images`` (no copy)."""
        return self.images.reshape(self.images.shape[0], -1)

    @classmethod
    def from_array(
        cls,
        array: npt.ArrayLike,
        names: Sequence[str] | None = None,
        options: LoadOptions | None = None,
    ) -> Collection:
        """A collection from an (n, h, w) stack or an (n, m) matrix (image
        shape (1, m)). The array is copied to float32 and the value policies
        of ``options`` (non-finite, negative, normalise) are applied."""
        options = options or LoadOptions()
        array = np.asarray(array)
        if array.ndim == 2:
            array = array[:, None, :]
        if array.ndim != 3 or 0 in array.shape:
            raise LoadError(
                f"an array of shape {array.shape} is not a collection; give "
                "(n, h, w) images or an (n, m) matrix with n, h, w, m >= 1."
            )
        if array.dtype.kind not in "biuf":
            raise LoadError(
                f"an array of dtype {array.dtype} is not image data; give integer or float values."
            )
        n = array.shape[0]
        names = (
            tuple(str(x) for x in names)
            if names is not None
            else tuple(f"image {i}" for i in range(n))
        )
        if len(names) != n:
            raise LoadError(f"{len(names)} names given for {n} images; give one name per image.")
        images = np.empty(array.shape, dtype=np.float32)
        notes: dict[str, list[str]] = {}
        for i in range(n):
            tags: set[str] = set()
            apply_values(array[i], images[i], options, names[i], None, tags)
            for tag in tags:
                notes.setdefault(tag, []).append(names[i])
        return _finish(
            images,
            names,
            (),
            (),
            _policy_warnings(notes, {}, options),
            options,
            (array.dtype.name,),
            None,
            "image",
        )

    def with_axis(self, axis: SpectralAxis | None) -> Collection:
        """This collection with another band axis (one value per image), or none."""
        if axis is not None and len(axis) != self.n_images:
            raise LoadError(
                f"the band axis {axis.source or axis.label} has {len(axis)} values but the "
                f"collection has {self.n_images} bands; give one value per band.",
                axis.path,
                field="axis_file",
            )
        spectral = self.axis_label != "image" or axis is not None
        return replace(
            self,
            axis=axis,
            axis_values=None if axis is None else axis.values,
            axis_label=axis.label if axis is not None else ("band" if spectral else "image"),
        )

    def to_zarr(self, store: str | Path, *, overwrite: bool = False, **kw: int) -> Path:
        """Write the collection to a chunked zarr store (see :mod:`.store`;
        ``chunk_bytes=`` sets the chunk size)."""
        from .convert import write_collection

        return write_collection(self, store, overwrite=overwrite, **kw)

    def __repr__(self) -> str:
        h, w = self.image_shape
        return (
            f"Collection({self.n_images} images of {w}x{h}, "
            f"{len(self.warnings)} warnings, axis={self.axis_label!r})"
        )


def _sync_axis(c: Collection) -> None:
    """Keep axis, axis_values and axis_label telling the same story: an axis sets
    the other two; values set (or replaced) without a matching axis make one."""
    axis = c.axis
    if axis is not None and c.axis_values is not axis.values:
        axis = (
            None
            if c.axis_values is None
            else SpectralAxis.from_label(c.axis_values, c.axis_label, axis.source)
        )
    elif axis is None and c.axis_values is not None:
        axis = SpectralAxis.from_label(c.axis_values, c.axis_label, "given")
    if axis is not None:
        object.__setattr__(c, "axis", axis)
        object.__setattr__(c, "axis_values", axis.values)
        object.__setattr__(c, "axis_label", axis.label)
    else:
        object.__setattr__(c, "axis", None)


def _finish(
    images: np.ndarray,
    names: Sequence[str],
    source: Sequence[Path],
    files: Sequence[Path],
    warnings: Sequence[str],
    options: LoadOptions,
    dtypes: Sequence[str],
    axis_values: np.ndarray | None,
    axis_label: str,
    axis: SpectralAxis | None = None,
) -> Collection:
    from .mask_sources import collection_mask

    if not isinstance(images, np.ndarray):  # a store being written (convert_to_store)
        stats = images.X.stats()
        value_range = (float(stats.min), float(stats.max))
        if options.nonfinite == "mask" or options.saturation is not None or options.mask_file:
            warnings = [
                *warnings,
                "a store keeps no mask: give the mask options again when fitting it in memory",
            ]
        mask, means = None, None
    else:
        mask, mask_notes = collection_mask(images, names, options)  # NaN marks -> mask, 0
        warnings = [*warnings, *mask_notes]
        images.flags.writeable = False
        value_range = (float(images.min()), float(images.max()))
        # float32 pairwise summation along contiguous rows: 4x faster than a float64
        # accumulation and within ~1e-7 of it (measured on 200 x 512 x 512)
        means = images.reshape(images.shape[0], -1).mean(axis=1).astype(np.float64)
        means.flags.writeable = False
    return Collection(
        images=images,
        names=tuple(names),
        image_shape=images.shape[1:3],
        source=tuple(source),
        files=tuple(files),
        warnings=tuple(warnings),
        options=options,
        original_dtypes=tuple(dtypes),
        value_range=value_range,
        axis_values=axis_values,
        axis_label=axis_label,
        mask=mask,
        axis=axis,
        image_means=means,
    )


_TAG_TEXT = {
    "color": "converted {n} colour {images} to gray ({how}): {names}",
    "palette": "converted {n} palette {images} to gray: {names}",
    "alpha": "dropped the alpha channel of {n} {images}: {names}",
    "extra": "kept only the first channel of {n} multi-channel {images}: {names}",
    "nonfinite": "replaced NaN/infinite values by zero in {n} {images}: {names}",
    "nonfinite_mask": "left NaN/infinite values out of the fit in {n} {images}: {names}",
    "saturated": "left saturated values out of the fit in {n} {images}: {names}",
    "clip": "clipped negative values to zero in {n} {images}: {names}",
    "shift": "shifted {n} {images} to start at zero (negative values): {names}",
    "zero": "left {n} all-zero {images} unnormalised: {names}",
    "gray3": "replicated {n} gray {images} to three colour channels: {names}",
}


def _policy_warnings(notes: dict[str, list[str]], resized: dict, options: LoadOptions) -> list[str]:
    out = []
    for tag, template in _TAG_TEXT.items():
        if tag in notes:
            names = notes[tag]
            out.append(
                template.format(
                    n=len(names),
                    images="image" if len(names) == 1 else "images",
                    names=list_names(names),
                    how=options.color,
                )
            )
    for (old, new), names in resized.items():
        out.append(
            f"resized {plural(len(names), 'image')} from {old[0]} × {old[1]} to "
            f"{new[0]} × {new[1]} (h × w): {list_names(names)}"
        )
    if options.normalize != "none":
        what = "a maximum of 1" if options.normalize == "max" else "a sum of 1"
        out.append(f"normalised each image to {what} (normalize='{options.normalize}')")
    return out


@dataclass
class _Slot:
    """One planned image: where it comes from and what happened to it."""

    info: FileInfo
    page: PageInfo
    name: str
    ok: bool = False
    dtype: str = ""
    error: str = ""
    notes: frozenset[str] = frozenset()


def _plan(
    options: LoadOptions,
    sources: list[Path],
    cancel: threading.Event | None,
    progress: Progress | None = None,
) -> tuple[Discovery, list[_Slot], list[tuple[str, str]], list[tuple[Found, FileInfo]]]:
    """Discover the files and read their headers (in a thread pool).

    Returns (discovery, one _Slot per image, [(name, reason) skipped], [(Found, FileInfo)]).
    """
    found = discover(
        sources,
        options.recursive,
        follow_links=options.follow_links,
        progress=progress,
        cancel=cancel,
    )
    workers = options.workers or max(1, min(4, len(found.found)))
    headers = _HeaderProgress(progress, cancel)
    alone = len(found.found) == 1

    def probe_unless_cancelled(path: Path) -> FileInfo | DecodeError | LoadError:
        if cancel is not None and cancel.is_set():
            return DecodeError("cancelled")
        try:
            return probe(path, headers.page, options)
        except DecodeError as exc:
            return exc
        except LoadError as exc:  # a choice to make (dataset, image axis): see below
            if alone:
                raise
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(probe_unless_cancelled, [f.path for f in found.found]))
    _check_cancel(cancel)
    slots: list[_Slot] = []
    skipped: list[tuple[str, str]] = []
    infos: list[tuple[Found, FileInfo]] = []
    choices: list[LoadError] = []
    for item, info in zip(found.found, results, strict=True):
        if isinstance(info, DecodeError):
            skipped.append((item.name, info.reason))
            continue
        if isinstance(info, LoadError):  # among other files: skipped, said why
            choices.append(info)
            skipped.append((item.name, info.render()))
            continue
        infos.append((item, info))
        multi = len(info.pages) > 1
        label = info.image_label or ("image" if info.backend == "npy" else "page")
        for page in info.pages:
            name = f"{item.name}[{label} {page.index}]" if multi else item.name
            slots.append(_Slot(info, page, name))
    if not slots and choices:  # nothing else loads: the choice is the user's to make
        raise choices[0]
    return found, slots, skipped, infos


#: seconds between two progress reports while headers are read
_HEADER_PROGRESS_EVERY = 0.2


class _HeaderProgress:
    """Progress while reading the headers of a multi-page stack: (pages read, 0),
    at most every 0.2 s, from any loading thread; a cancel stops the reading."""

    def __init__(self, progress: Progress | None, cancel: threading.Event | None) -> None:
        self.progress, self.cancel = progress, cancel
        self.pages = 0
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def page(self) -> None:
        with self._lock:
            self.pages += 1
            now = time.monotonic()
            due = self.progress is not None and now - self._last >= _HEADER_PROGRESS_EVERY
            if due:
                self._last = now
            count = self.pages
        if self.cancel is not None and self.cancel.is_set():
            raise DecodeError("cancelled")
        if due and self.progress is not None:  # due implies a progress callback
            self.progress(count, 0)


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise LoadError("loading cancelled")


def _target_shape(slots: list[_Slot], options: LoadOptions, folder: Path) -> tuple[int, int]:
    counts = Counter(s.page.shape for s in slots)
    # most common shape; Counter keeps first-seen order, so ties go to the
    # shape met first in natural order
    target = counts.most_common(1)[0][0]
    if len(counts) > 1 and options.size_policy == "refuse":
        others = [s.name for s in slots if s.page.shape != target]
        sizes = ", ".join(f"{n} of {h} × {w}" for (h, w), n in counts.most_common()) + " (h × w)"
        raise LoadError(
            f"images in {folder} differ in size ({sizes}) and size_policy is 'refuse'.",
            folder,
            field="size_policy",
            value="refuse",
            suggestion="resize",
            hint=f"Use {{option}} to resize them to {target[0]} × {target[1]}, or remove the "
            f"others ({list_names(others)}).",
        )
    return target


def load_collection(
    paths: PathsArg,
    options: LoadOptions | None = None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Collection:
    """Load folders, image files and multi-page TIFF / .npy stacks as one collection.

    paths:    str | Path | sequence of them.
    progress: optional callable(done, total), called from the loading threads
              as images decode; while files are still being discovered and
              headers read, (files or pages found so far, 0).
    cancel:   optional threading.Event; when set, loading stops with
              LoadError('loading cancelled').

    Raises LoadError (nothing loadable, bad values, refused sizes/colour) or
    MemoryLimitError (estimated from headers, before pixels are read).
    """
    options = options or LoadOptions()
    sources = _sources(paths)
    folder = sources[0]
    if len(sources) == 1 and _is_store(folder):  # a chunked zarr store: opened lazily
        from .store import open_collection

        return open_collection(folder)
    found, slots, skipped, infos = _plan(options, sources, cancel, progress)
    if not slots:
        _raise_nothing_loadable(sources, found, skipped)
    workers = options.workers or min(4, len(infos))
    # at most `workers` pages are decoded at once: count the largest ones
    pages = sorted(
        ((p.decoded_bytes, item.name) for item, info in infos for p in info.pages), reverse=True
    )[:workers]
    for attempt in range(2):
        target = _target_shape(slots, options, folder)
        # per worker: decoded page + float32 gray + a resized copy
        h, w = target
        decode = sum(3 * size for size, _ in pages) + len(pages) * h * w * 8
        channels = 3 if options.color == "channels" else 1
        check_memory(len(slots), target, decode, options, largest=pages[0], channels=channels)
        colour = (3,) if channels == 3 else ()
        images = np.empty((len(slots), *target, *colour), dtype=np.float32)
        _decode_all(slots, images, options, workers, progress, cancel)
        keep = [i for i, s in enumerate(slots) if s.ok]
        if not keep or len(keep) == len(slots) or attempt:
            break
        # The size was chosen from headers, counting files that then failed to
        # decode; if the readable ones agree on another size, decode them again.
        good = [slots[i] for i in keep]
        if Counter(s.page.shape for s in good).most_common(1)[0][0] == target:
            break
        skipped.extend((s.name, s.error) for s in slots if not s.ok)
        slots = [_Slot(s.info, s.page, s.name) for s in good]
    for s in slots:
        if not s.ok:
            skipped.append((s.name, s.error))
    if not keep:
        _raise_nothing_loadable(sources, found, skipped)
    if len(keep) < len(slots):
        # compact in place: destination index <= source index, so copy forward
        for dst, src in enumerate(keep):
            if dst != src:
                images[dst] = images[src]
        images = images[: len(keep)]
    kept = [slots[i] for i in keep]
    return _assemble(images, kept, found, skipped, infos, sources, options, target)


def _is_store(path: Path) -> bool:
    from .store import is_store

    return is_store(path)


def _sources(paths: PathsArg) -> list[Path]:
    sources = as_path_list(paths)
    if not sources:
        raise LoadError("no files or folders given; choose a folder of images.")
    return sources


def _decode_all(
    slots: list[_Slot],
    images: np.ndarray,
    options: LoadOptions,
    workers: int,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> None:
    by_file: dict[int, list[int]] = {}
    for i, slot in enumerate(slots):
        by_file.setdefault(id(slot.info), []).append(i)
    total = len(slots)
    lock = threading.Lock()
    stop = threading.Event()
    done = [0]

    def tick() -> None:
        with lock:
            done[0] += 1
            count = done[0]
        if progress is not None:
            progress(count, total)

    def run_file(indices: list[int]) -> None:
        if stop.is_set() or (cancel is not None and cancel.is_set()):
            return
        info = slots[indices[0]].info
        page_to_slot = {slots[i].page.index: i for i in indices}
        for page, pixels in read_pages(info, list(page_to_slot)):
            slot = slots[page_to_slot[page]]
            if isinstance(pixels, DecodeError):
                slot.error = pixels.reason
            else:
                _fill(slot, pixels, images[page_to_slot[page]], options)
            tick()
            if stop.is_set() or (cancel is not None and cancel.is_set()):
                return

    if progress is not None:
        progress(0, total)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(run_file, idx) for idx in by_file.values()]
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.05, return_when=FIRST_EXCEPTION)
            failing = any(f.exception() is not None for f in finished)
            if failing or (cancel is not None and cancel.is_set()):
                stop.set()
                for f in pending:
                    f.cancel()
                wait(pending)
                # files start in order, so every file before a failed one has
                # run: the error names the first failing file, whatever the timing
                failed = [f for f in futures if not f.cancelled() and f.exception() is not None]
                error = failed[0].exception() if failed else None
                if error is not None:
                    raise error
                break
    _check_cancel(cancel)


def _fill(slot: _Slot, pixels: np.ndarray, out: np.ndarray, options: LoadOptions) -> None:
    path = slot.info.path
    notes: set[str] = set()
    if options.color == "channels":
        gray = to_rgb(pixels, slot.page.color, notes)  # (h, w, 3): colour kept
    else:
        gray = to_gray(pixels, slot.page.color, options.color, slot.name, path, notes)
    apply_values(gray, out, options, slot.name, path, notes)
    slot.dtype = pixels.dtype.name
    slot.notes = frozenset(notes)
    slot.ok = True


def _raise_nothing_loadable(
    sources: list[Path], found: Discovery, skipped: list[tuple[str, str]]
) -> None:
    where = ", ".join(str(s) for s in sources)
    details = "; ".join(f"{name}: {reason}" for name, reason in skipped[:6])
    if len(skipped) > 6:
        details += f"; and {len(skipped) - 6} more"
    extra = ""
    if found.non_images:
        extra = f" (and {plural(len(found.non_images), 'non-image file')})"
    raise LoadError(
        f"no loadable images in {where}: found {plural(len(skipped), 'file')}{extra} "
        f"but none could be read ({details}). Check the files, or choose other ones.",
        sources[0],
    )


def _assemble(
    images: np.ndarray,
    kept: list[_Slot],
    found: Discovery,
    skipped: list[tuple[str, str]],
    infos: list[tuple[Found, FileInfo]],
    sources: list[Path],
    options: LoadOptions,
    target: tuple[int, int],
) -> Collection:
    warnings = found.warnings()
    for name, reason in skipped:
        warnings.append(f"skipped {name}: {reason}")
    for _, info in infos:
        for note in (*info.notes, *info.decode_notes):
            warnings.append(f"{info.path.name}: {note}")
    notes: dict[str, list[str]] = {}
    resized: dict[tuple, list[str]] = {}
    for slot in kept:
        for tag in slot.notes:
            if tag == "resized":
                resized.setdefault((slot.page.shape, target), []).append(slot.name)
            else:
                notes.setdefault(tag, []).append(slot.name)
    warnings.extend(_policy_warnings(notes, resized, options))
    dtypes = list(dict.fromkeys(s.dtype for s in kept))
    files = [s.info.path for s in {id(s.info): s for s in kept}.values()]
    axis = _band_axis(kept, infos, sources, options, warnings)
    axis_values = None if axis is None else axis.values
    axis_label = axis.label if axis is not None else ("band" if _one_cube(kept) else "image")
    warnings = [printable(w) for w in warnings]  # one line each, whatever the names hold
    return _finish(
        images,
        [s.name for s in kept],
        sources,
        files,
        warnings,
        options,
        dtypes,
        axis_values,
        axis_label,
        axis,
    )


def _one_cube(kept: list[_Slot]) -> bool:
    """All images are the pages (bands) of one multi-page TIFF, or of one file whose
    metadata gives a band axis (a .npy stack is a stack of images)."""
    info = kept[0].info
    if len({id(s.info) for s in kept}) != 1 or len(info.pages) < 2:
        return False
    return info.backend == "tiff" or info.axis_values is not None


def _band_axis(
    kept: list[_Slot],
    infos: list[tuple[Found, FileInfo]],
    sources: list[Path],
    options: LoadOptions,
    warnings: list[str],
) -> SpectralAxis | None:
    """The band axis: the axis file given, else the file's metadata, else a sidecar
    beside the cube with a telling name and one value per band (reported)."""
    n = len(kept)
    if options.axis_file is not None:
        axis = read_axis_file(options.axis_file, n)
        warnings.append(f"band axis: {axis.describe()}")
        return axis
    info = kept[0].info
    if _one_cube(kept) and info.axis_values is not None:
        by_page = dict(zip((p.index for p in info.pages), info.axis_values, strict=True))
        values = [by_page[s.page.index] for s in kept]
        name = getattr(info, "axis_name", None) or "wavelength"
        unit = info.axis_unit or ("nm" if name == "wavelength" else "")
        return SpectralAxis(np.asarray(values), name, unit, f"file metadata ({info.path.name})")
    folders = {s if s.is_dir() else s.parent for s in sources}
    if n < 2 or len(folders) != 1:
        return None
    stem = info.path.stem if _one_cube(kept) else ""
    sidecar, notes = find_sidecar_axis(folders.pop(), n, prefer=stem)
    warnings.extend(notes)
    if sidecar is not None:
        warnings.append(f"band axis: {sidecar.describe()}")
    return sidecar
