"""Find the image files behind the paths a user gave: folders (optionally
recursive), single files and stacks, in natural order (img2 before img10).

Nothing here reads pixels; :mod:`nmfviewer.core.readers` does that.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LoadError
from .formats import ENVI_DATA_SUFFIXES, envi_header_of
from .formats import SUFFIXES as FORMAT_SUFFIXES
from .names import printable

#: File name endings treated as images inside folders. A file named
#: explicitly is always tried, whatever its ending.
IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".bmp",
        ".dib",
        ".gif",
        ".pgm",
        ".ppm",
        ".pbm",
        ".pnm",
        ".tif",
        ".tiff",
        ".npy",
        *FORMAT_SUFFIXES,  # ENVI .hdr, HDF5 / NeXus, vendor files (core/formats)
    }
)
SUPPORTED_TEXT = (
    "PNG, JPEG, BMP, GIF, PGM/PPM, TIFF (single or multi-page, OME-TIFF, ImageJ), "
    ".npy stacks, ENVI (.hdr), HDF5/NeXus, or .bcf, .spd, .hspy, .dm3/.dm4, .wdf files"
)

_DIGITS = re.compile(r"(\d+)")

#: a walk stops with a LoadError beyond this many image files ...
MAX_FILES = 200_000
#: ... or this many folders (a link to / would otherwise walk the whole file system)
MAX_FOLDERS = 20_000
#: seconds between two discovery progress reports
_PROGRESS_EVERY = 0.2

#: progress(files found so far, 0): total 0 means "still discovering"
Progress = Callable[[int, int], None]
#: what the user may give as the paths to load: one path or several
PathsArg = str | os.PathLike | Iterable[str | os.PathLike]


def natural_key(text: str) -> tuple:
    """Sort key putting 'img2' before 'img10' (case-insensitive, ties by the raw text)."""
    parts = _DIGITS.split(text)
    # split() alternates text (even positions) and digit runs (odd positions),
    # so ints are only ever compared with ints.
    key = tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
    return key, text


def _path_key(parts: Sequence[str]) -> tuple:
    return tuple(natural_key(p) for p in parts)


def list_names(names: Sequence[str], limit: int = 8) -> str:
    """'a, b, c' or 'a, b, c and 12 more' for messages."""
    names = [printable(n) for n in names]
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f" and {len(names) - limit} more"
    return shown


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


@dataclass
class Found:
    """One candidate image file: its path and the name shown to the user."""

    path: Path
    name: str


@dataclass
class Discovery:
    """What a walk over the user's paths found."""

    sources: list[Path]
    found: list[Found] = field(default_factory=list)
    non_images: list[str] = field(default_factory=list)
    subfolders: list[str] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)  # folders we could not list
    outside: list[str] = field(default_factory=list)  # folder links leading out of the tree
    duplicates: list[str] = field(default_factory=list)
    special: list[str] = field(default_factory=list)  # FIFOs, sockets, devices

    def warnings(self) -> list[str]:
        out = []
        if self.non_images:
            out.append(
                f"skipped {plural(len(self.non_images), 'non-image file')}: "
                f"{list_names(self.non_images)}"
            )
        if self.special:
            out.append(
                f"skipped {plural(len(self.special), 'special file')} (not regular files): "
                f"{list_names(self.special)}"
            )
        if self.subfolders:
            out.append(
                f"ignored {plural(len(self.subfolders), 'sub-folder')} "
                f"({list_names(self.subfolders)}); load recursively to include them"
            )
        for loop in self.loops:
            out.append(
                f"skipped folder link {loop}: it leads to a folder already visited "
                "(symbolic-link loop or duplicate)"
            )
        for folder in self.unlisted:
            out.append(f"skipped folder {folder}: it could not be listed")
        if self.outside:
            out.append(
                f"skipped {plural(len(self.outside), 'folder link')} leading out of the folder "
                f"given: {list_names(self.outside)}; set follow_links=True to follow links "
                "out of the tree"
            )
        if self.duplicates:
            out.append(
                f"loaded {plural(len(self.duplicates), 'file')} given more than once only once: "
                f"{list_names(self.duplicates)}"
            )
        return out


def as_path_list(paths: PathsArg) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


class _Walk:
    """Limits, progress and cancellation shared by the walks of one discovery."""

    def __init__(
        self, follow_links: bool, progress: Progress | None, cancel: threading.Event | None
    ):
        self.follow_links = follow_links
        self.progress = progress
        self.cancel = cancel
        self.files = 0
        self.folders = 0
        self._last = time.monotonic()

    def tick(self, root: Path) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise LoadError("loading cancelled")
        if self.files > MAX_FILES or self.folders > MAX_FOLDERS:
            what = (
                f"more than {MAX_FILES} image files"
                if self.files > MAX_FILES
                else f"more than {MAX_FOLDERS} folders"
            )
            raise LoadError(
                f"folder {printable(root)} holds {what} (with its sub-folders); choose a "
                "smaller folder, or load without recursive=True.",
                root,
            )
        now = time.monotonic()
        if self.progress is not None and now - self._last >= _PROGRESS_EVERY:
            self._last = now
            self.progress(self.files, 0)


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


def _walk(
    root: Path, recursive: bool, found: Discovery, walk: _Walk | None = None
) -> list[tuple[Path, str]]:
    """Image candidates under ``root`` as (path, path relative to root), in
    natural order of the relative paths.

    Breadth-first, real folders before folder links, and every folder entered
    once by its resolved path: a link loop (or a second link to a folder
    already seen) is skipped and reported instead of walked forever. A folder
    link leading out of ``root`` is not followed (reported) unless
    ``walk.follow_links``; the walk is bounded by MAX_FILES and MAX_FOLDERS.
    """
    walk = walk or _Walk(False, None, None)
    real_root = os.path.realpath(root)
    visited = {real_root}
    pending: deque[tuple[str, tuple[str, ...]]] = deque([(str(root), ())])
    images = []
    while pending:
        folder, parts = pending.popleft()
        walk.folders += 1
        walk.tick(root)
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            if not parts:
                raise LoadError(
                    f"cannot list folder {root}: {exc.strerror or exc}; check its permissions.",
                    root,
                ) from None
            found.unlisted.append(f"{'/'.join(parts)} ({exc.strerror or exc})")
            continue
        subfolders = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue  # hidden files, including macOS '._x.png' resource forks
            rel = (*parts, name)
            try:
                is_dir = entry.is_dir()  # follows symbolic links
            except OSError:
                is_dir = False
            if is_dir:
                subfolders.append((entry.is_symlink(), natural_key(name), rel, entry.path))
            elif os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                if not _envi_data(entry.path):  # read through the .hdr beside it
                    found.non_images.append("/".join(rel))
            elif _is_special(entry):
                found.special.append("/".join(rel))
            else:
                images.append((_path_key(rel), entry.path, rel))
                walk.files += 1
        walk.tick(root)
        for is_link, _, rel, path in sorted(subfolders, key=lambda s: s[:2]):  # real first
            if not recursive:
                found.subfolders.append("/".join(rel))
                continue
            real = os.path.realpath(path)
            if real in visited:
                found.loops.append("/".join(rel))
                continue
            if is_link and not walk.follow_links and not _inside(real, real_root):
                found.outside.append(f"{'/'.join(rel)} -> {real}")
                continue
            visited.add(real)
            pending.append((path, rel))
    images.sort(key=lambda item: item[0])
    return [(Path(path), "/".join(rel)) for _, path, rel in images]


def _envi_data(path: str) -> bool:
    """An ENVI data file (cube.img) whose header (cube.hdr) sits beside it."""
    if os.path.splitext(path)[1].lower() not in ENVI_DATA_SUFFIXES:
        return False
    return envi_header_of(Path(path)) is not None


def _is_special(entry: os.DirEntry) -> bool:
    """FIFOs, sockets, devices: opening a FIFO would block forever."""
    try:
        mode = entry.stat().st_mode  # follows links
    except OSError:
        return False  # broken link, loop, no permission: the reader reports it
    return not stat.S_ISREG(mode)


def discover(
    paths: PathsArg,
    recursive: bool = False,
    *,
    follow_links: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Discovery:
    """Walk ``paths`` (folders and files) into a :class:`Discovery`.

    follow_links: also follow folder links that lead out of a folder given
                  (links inside it are always followed; loops are always skipped).
    progress:     optional callable(files found, 0), at most every 0.2 s while
                  walking (a total of 0 means "still discovering").
    cancel:       optional threading.Event; when set, LoadError('loading cancelled').

    Raises LoadError for a missing path, an empty folder, a folder with no
    image files (naming what it holds instead), or a walk beyond MAX_FILES
    image files / MAX_FOLDERS folders.
    """
    sources = as_path_list(paths)
    if not sources:
        raise LoadError(f"no files or folders given; choose a folder of {SUPPORTED_TEXT}.")
    walk = _Walk(follow_links, progress, cancel)
    found = Discovery(sources=sources)
    seen: dict[object, str] = {}
    for source in sources:
        if not source.exists():
            raise LoadError(f"{source} does not exist; check the path.", source)
        if source.is_dir():
            before = (len(found.non_images), len(found.subfolders))
            items = _walk(source, recursive, found, walk)
            if not items:
                _raise_nothing_in(source, found, before, recursive)
        elif source.is_file():
            items = [(source, source.name)]
        else:
            found.special.append(str(source))
            continue
        for path, name in items:
            key = _identity(path)
            if key in seen:
                found.duplicates.append(name)
                continue
            seen[key] = name
            found.found.append(Found(path=path.absolute(), name=name))
    if not found.found:
        raise LoadError(
            f"no image files found in {', '.join(str(s) for s in sources)}; "
            f"choose {SUPPORTED_TEXT}.",
            sources[0],
        )
    _make_names_unique(found.found)
    return found


def _identity(path: Path) -> object:
    """Same file, whatever link or spelling leads to it."""
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return os.path.abspath(path)


def _raise_nothing_in(
    folder: Path, found: Discovery, before: tuple[int, int], recursive: bool
) -> None:
    non_images = found.non_images[before[0] :]
    subfolders = found.subfolders[before[1] :]
    if non_images:
        raise LoadError(
            f"no images in folder {folder}: it holds {plural(len(non_images), 'file')} that "
            f"{'is not an image' if len(non_images) == 1 else 'are not images'} "
            f"({list_names(non_images)}); choose a folder of {SUPPORTED_TEXT}.",
            folder,
        )
    if subfolders and not recursive:
        raise LoadError(
            f"no images at the top of folder {folder}, but it has "
            f"{plural(len(subfolders), 'sub-folder')} ({list_names(subfolders)}).",
            folder,
            field="recursive",
            value=False,
            suggestion=True,
            hint="Use {option} to load the images inside them.",
        )
    raise LoadError(
        f"folder {folder} is empty (no image files"
        f"{' in it or its sub-folders' if recursive else ''}); choose a folder of "
        f"{SUPPORTED_TEXT}.",
        folder,
    )


def _make_names_unique(found: list[Found]) -> None:
    """Two sources may give the same display name: show the longer path for those."""
    counts: dict[str, int] = {}
    for item in found:
        counts[item.name] = counts.get(item.name, 0) + 1
    for item in found:
        if counts[item.name] > 1:
            item.name = str(item.path)


def discover_files(paths: PathsArg, recursive: bool = False) -> tuple[list[Path], list[str]]:
    """Image files under ``paths`` in natural order, and plain-words warnings
    about what was skipped (non-image files, sub-folders, link loops).

    Raises LoadError when a path is missing or nothing image-like is found.
    """
    found = discover(paths, recursive)
    return [f.path for f in found.found], found.warnings()
