"""Export a run: basis PNGs, montage, weights CSV, factors NPZ and run.json.

Every file is written atomically: its bytes go to a hidden temporary file in
the same folder (``.NAME.XXXX.tmp``), which is flushed, fsync'ed and then
renamed over the final name with ``os.replace``. ``export_run`` first stages
*all* files as temporaries and only then renames them, run.json last, so an
interrupted export leaves complete files (old or new), never a half-written
one; run.json lists the sha256 of every file of its export.

Only our own files are ever replaced or removed. A folder may hold anything:
earlier results, the very images of this run, a user's own ``weights.csv``.
A file with one of our names (``basis_NN.png``, ``basis_montage.png``,
``weights.csv``, ``factors.npz``, ``run.json``) counts as ours when the
folder's run.json (an nmfviewer manifest) lists it in ``outputs`` with the
sha256 it has now, or when the journal of an interrupted export
(``.nmfviewer-export.json``, present only between the first and the last
rename) does. Any other file in the way is refused with an ExportError naming
it, and so is a file that is an input of the run being exported; left-over
basis images of an earlier, larger export are removed only when they are ours
and not an input.

Exports into one folder never interfere: each holds the folder's lock
(``.nmfviewer-export.lock``, an ``flock`` released by the kernel when its
process dies, the file removed by its holder) for the whole export, and a
second export waits up to :data:`LOCK_WAIT` seconds, then fails naming the
process that holds it. Temporaries carry their process id
(``.NAME.PID.XXXX.tmp``) and only those of dead processes are swept away.

Names: weights.csv holds readable, spreadsheet-safe names in its ``image``
column (OWASP: a leading ``'`` before ``= + - @``, tab, CR) and, when any
name is not plain UTF-8 text, an ``image_exact`` column with the lossless
percent-encoded file-system bytes (:mod:`nmfviewer.core.names`). factors.npz
keeps the exact names (``names``, a numpy str array; undecodable bytes as
surrogate escapes) and run.json adds ``names_exact`` / ``path_exact`` where
needed, so names and paths round-trip and a replay finds the files again.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import ExportError
from .manifest import (
    RunManifest,
    build_manifest,
    manifest_to_bytes,
    read_manifest,
    sha256_file,
)
from .montage import make_montage, scale_to_range
from .names import csv_cell, encode_exact, is_plain, printable

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: an O_EXCL lock file instead
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ExportError",
    "RunManifest",
    "atomic_write_bytes",
    "encode_png",
    "export_run",
    "factors_npz_bytes",
    "make_montage",
    "read_manifest",
    "save_basis_png",
    "weights_csv_bytes",
    "write_factors_npz",
]

MONTAGE_NAME = "basis_montage.png"
WEIGHTS_NAME = "weights.csv"
FACTORS_NAME = "factors.npz"
MANIFEST_NAME = "run.json"
_BASIS_RE = re.compile(r"basis_(\d+)\.png")
_FIX = "choose another folder"
LOCK_NAME = ".nmfviewer-export.lock"
JOURNAL_NAME = ".nmfviewer-export.json"
#: seconds an export waits for another export into the same folder to finish
LOCK_WAIT = 10.0
#: run.json / journal larger than this are not ours (never read whole)
_RECORD_LIMIT = 64 << 20


# --------------------------------------------------------------------------- errors
def _export_error(exc: OSError, folder: Path) -> ExportError:
    """An ExportError naming the folder, what went wrong and the fix."""
    code = exc.errno
    if code == errno.ENOSPC or code == getattr(errno, "EDQUOT", None):
        why = "the disk is full"
        fix = f"free some space or {_FIX}"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "the folder is not writable"
        fix = _FIX
    elif code in (errno.ENOTDIR, errno.EEXIST):
        why = "a file is in the way where a folder is needed"
        fix = _FIX
    else:
        why = exc.strerror or str(exc)
        fix = _FIX
    return ExportError(f"cannot write results to folder {folder}: {why}; {fix}.", folder)


def _ensure_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ExportError(
            f"cannot write results to folder {folder}: it exists and is not a folder; {_FIX}.",
            folder,
        ) from None
    except OSError as exc:
        raise _export_error(exc, folder) from None
    if not folder.is_dir():
        raise ExportError(
            f"cannot write results to folder {folder}: it is not a folder; {_FIX}.", folder
        )


# --------------------------------------------------------------------------- atomic files
def _file_mode() -> int:
    """Permissions a newly created file would get (0o666 minus the umask).

    mkstemp creates 0o600 files; results are meant to be shared like any other
    file. The umask is read from /proc (Linux) because os.umask() can only be
    read by setting it, which races with other threads.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def _stage(path: Path, data: bytes | Callable[[BinaryIO], None]) -> Path:
    """Write ``data`` to a fsync'ed hidden temporary beside ``path``; return its path.

    data: the bytes, or a function writing them to a binary file object (so
    large files need not be held in memory twice). On any failure the
    temporary is removed and the error re-raised.
    """
    # the process id in the name: a sweep removes only the temporaries of dead processes
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), _file_mode())
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _remove_quietly(Path(tmp))
        raise
    return Path(tmp)


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_folder(folder: Path) -> None:
    """Make the renames durable (best effort: not every platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    The folder must exist. Readers see the old file or the complete new one,
    never a partial one; on failure no temporary file is left behind.
    Raises ExportError naming the folder.
    """
    path = Path(path)
    tmp = None
    try:
        tmp = _stage(path, data)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise _export_error(exc, path.parent) from None
    finally:
        if tmp is not None:
            _remove_quietly(tmp)
    _fsync_folder(path.parent)


# --------------------------------------------------------------------------- encoders
def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (h, w) / (h, w, 3) or uint16 (h, w) array (16-bit grayscale)."""
    from PIL import Image

    a = np.ascontiguousarray(image)
    if a.dtype == np.uint16 and a.ndim == 2:
        img = Image.fromarray(a)  # mode 'I;16'
    elif a.dtype == np.uint8 and a.ndim in (2, 3):
        img = Image.fromarray(a)
    else:
        raise ValueError(f"cannot encode an array of {a.dtype} with shape {a.shape} as PNG")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def basis_png_bytes(image: np.ndarray, bit_depth: int = 8) -> bytes:
    """PNG of one (h, w) basis image scaled to the full 8- or 16-bit range."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"a basis image must be 2-D (h, w), not shape {image.shape}")
    return encode_png(scale_to_range(image, bit_depth))


def save_basis_png(path: str | Path, image: np.ndarray, bit_depth: int = 8) -> Path:
    """Save one basis image (h, w), full-range scaled, 8- or 16-bit grayscale; atomically."""
    path = Path(path)
    atomic_write_bytes(path, basis_png_bytes(image, bit_depth))
    return path


def _format_float(x: float) -> str:
    # repr of a Python float is the shortest string that reads back to the same
    # value; a float32 widened to float64 is exact, so this loses nothing.
    return repr(float(x))


def weights_csv_bytes(names: Sequence[str], W: np.ndarray) -> bytes:
    """weights.csv: header ``image,component_0,...``, one row per image, UTF-8.

    W: (n_images, k). Floats at full precision. The ``image`` column is readable
    and spreadsheet-safe (:func:`~nmfviewer.core.names.csv_cell`: control
    characters and undecodable bytes escaped, a leading ``'`` before a formula
    character); when that changed any name, a last column ``image_exact`` holds
    every name losslessly (:func:`~nmfviewer.core.names.encode_exact`).
    """
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[0] != len(names):
        raise ValueError(f"W has shape {W.shape} but there are {len(names)} image names")
    exact = not all(is_plain(name) for name in names)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    header = ["image", *(f"component_{j}" for j in range(W.shape[1]))]
    writer.writerow([*header, "image_exact"] if exact else header)
    for name, row in zip(names, W.tolist(), strict=True):
        cells = [csv_cell(name), *(_format_float(v) for v in row)]
        writer.writerow([*cells, encode_exact(name)] if exact else cells)
    return buf.getvalue().encode("utf-8")


def write_factors_npz(
    fh: BinaryIO,
    W: np.ndarray,
    H: np.ndarray,
    image_shape: tuple[int, int],
    names: Sequence[str],
    loss_history: np.ndarray,
    axis_values: np.ndarray | None = None,
    axis_label: str | None = None,
) -> None:
    """Write factors.npz to a binary file object: W (n, k), H (k, h*w),
    image_shape (2,), names (n,) str, loss_history (n_iter+1,) (nan where the
    loss was not evaluated), and axis_values (n,) / axis_label when given.
    Loads without ``allow_pickle``."""
    arrays: dict[str, Any] = {
        "W": np.asarray(W),
        "H": np.asarray(H),
        "image_shape": np.asarray(image_shape, dtype=np.int64),
        "names": np.asarray(list(names), dtype=str),
        "loss_history": np.asarray(loss_history, dtype=np.float64),
    }
    if axis_values is not None:
        arrays["axis_values"] = np.asarray(axis_values)
        if axis_label is not None:
            arrays["axis_label"] = np.asarray(axis_label, dtype=str)
    np.savez(fh, **arrays)


def factors_npz_bytes(*args: Any, **kwargs: Any) -> bytes:
    """factors.npz as bytes; arguments as :func:`write_factors_npz` after ``fh``."""
    buf = io.BytesIO()
    write_factors_npz(buf, *args, **kwargs)
    return buf.getvalue()


# --------------------------------------------------------------------------- export_run
def basis_file_names(k: int) -> list[str]:
    """basis_00.png, basis_01.png, ... (at least two digits, more when k > 100)."""
    width = max(2, len(str(max(k - 1, 0))))
    return [f"basis_{j:0{width}d}.png" for j in range(k)]


def _is_our_name(name: str) -> bool:
    return name in (MONTAGE_NAME, WEIGHTS_NAME, FACTORS_NAME, MANIFEST_NAME) or bool(
        _BASIS_RE.fullmatch(name)
    )


def _temporary_owner(entry_name: str) -> int | bool | None:
    """For a hidden temporary of ours: the pid that wrote it, None for one of an
    older nmfviewer (no pid in its name); False when it is not one of ours."""
    if not (entry_name.startswith(".") and entry_name.endswith(".tmp")):
        return False

    def ours(name: str) -> bool:
        return _is_our_name(name) or name == JOURNAL_NAME

    stem, _, _random = entry_name[1:-4].rpartition(".")
    if ours(stem):
        return None
    target, _, pid = stem.rpartition(".")
    if ours(target) and pid.isdigit():
        return int(pid)
    return False


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of ours may be writing it
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would kill on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove the hidden temporaries killed exports left (``.basis_00.png.PID.XXXX.tmp``...).

    Only those of processes that no longer run: a live export's files are its own.
    """
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        owner = _temporary_owner(entry.name)
        if owner is False:
            continue
        if owner is None or not _process_alive(owner):
            _remove_quietly(Path(entry.path))


# --------------------------------------------------------------------------- the folder lock
def _lock_holder(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            text = fh.read(32).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (process {text})" if text.isdigit() else ""


def _busy_error(folder: Path, path: Path, wait: float) -> ExportError:
    return ExportError(
        f"cannot write results to folder {printable(folder)}: another export into it is in "
        f"progress{_lock_holder(path)} and did not finish within {wait:g} s; wait for it "
        f"to finish or {_FIX}.",
        folder,
    )


@contextlib.contextmanager
def folder_lock(folder: Path, wait: float | None = None) -> Iterator[None]:
    """Hold the export lock of ``folder`` (waiting up to ``wait`` seconds).

    POSIX: ``flock`` on ``.nmfviewer-export.lock``; the kernel releases it when
    the holder dies, so a crashed export never blocks the folder. The holder
    removes the file when done; a waiter that locked a file removed meanwhile
    tries again. Elsewhere: the file created with O_EXCL, holding the pid, and
    taken over when that process is gone. Raises ExportError when the folder
    stays busy, OSError when the lock file cannot be created.
    """
    wait = LOCK_WAIT if wait is None else wait
    path = folder / LOCK_NAME
    deadline = time.monotonic() + wait
    cloexec = getattr(os, "O_CLOEXEC", 0)
    while True:
        if fcntl is not None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | cloexec, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
            else:
                try:
                    now = os.stat(path)
                    mine = os.fstat(fd)
                    same = (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)  # its holder removed it after we opened it: again
                continue
        else:  # pragma: no cover - exercised on Windows only
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                holder = "".join(ch for ch in _lock_holder(path) if ch.isdigit())
                if holder and not _process_alive(int(holder)):
                    _remove_quietly(path)
                    continue
        if time.monotonic() >= deadline:
            raise _busy_error(folder, path, wait)
        time.sleep(0.05)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        _remove_quietly(path)  # while still holding it: no one else can own this file
        os.close(fd)


# --------------------------------------------------------------------------- ownership
def _read_record(path: Path) -> dict | None:
    """A small JSON object file (run.json, the journal) or None; never follows a
    link, never opens a FIFO or device, never reads more than _RECORD_LIMIT."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _RECORD_LIMIT:
            return None
        with open(path, "rb") as fh:
            data = fh.read(_RECORD_LIMIT + 1)
        raw = json.loads(data.decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return None
    return raw if isinstance(raw, dict) else None


def _recorded_hashes(folder: Path) -> dict[str, set[str]]:
    """{our file name: sha256 values we know we wrote} from run.json and a journal."""
    known: dict[str, set[str]] = {}
    manifest = _read_record(folder / MANIFEST_NAME)
    if manifest is not None and manifest.get("format") == "nmfviewer-run":
        outputs = manifest.get("outputs")
        if isinstance(outputs, dict):
            for name, digest in outputs.items():
                if isinstance(name, str) and isinstance(digest, str):
                    known.setdefault(name, set()).add(digest)
    journal = _read_record(folder / JOURNAL_NAME)
    if journal is not None and journal.get("format") == "nmfviewer-export-journal":
        files = journal.get("files")
        if isinstance(files, dict):
            for name, digests in files.items():
                if isinstance(name, str) and isinstance(digests, list):
                    known.setdefault(name, set()).update(d for d in digests if isinstance(d, str))
    return known


def _identity(path: Path | str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class _Ownership:
    """Which files with our names in a folder we may replace or remove."""

    def __init__(self, folder: Path, inputs: Sequence[str | Path]):
        self.folder = folder
        self.known = _recorded_hashes(folder)
        self.inputs = {i for i in (_identity(p) for p in inputs) if i is not None}
        self.present = {e.name: e for e in _scandir(folder) if _is_our_name(e.name)}

    def is_input(self, name: str) -> bool:
        return _identity(self.folder / name) in self.inputs

    def is_ours(self, name: str) -> bool:
        entry = self.present.get(name)
        if entry is None:
            return True  # nothing there
        try:
            if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                return False
            digest = sha256_file(entry.path)
        except OSError:
            return False
        if digest in self.known.get(name, ()):
            return True
        if name == MANIFEST_NAME:  # a run.json cannot list itself: judge it by its content
            raw = _read_record(Path(entry.path))
            return raw is not None and raw.get("format") == "nmfviewer-run"
        return False

    def check_writable(self, names: Sequence[str]) -> None:
        """Raise ExportError for the first file in the way that is not ours."""
        for name in names:
            if name not in self.present:
                continue
            where = f"{printable(name)} in folder {printable(self.folder)}"
            if self.is_input(name):
                raise ExportError(
                    f"cannot write results to folder {printable(self.folder)}: {where} is an "
                    f"input of this run and would be overwritten; {_FIX}.",
                    self.folder / name,
                )
            if not self.is_ours(name):
                raise ExportError(
                    f"cannot write results to folder {printable(self.folder)}: {where} was not "
                    f"written by an nmfviewer export and would be overwritten; {_FIX} "
                    "(or move that file away).",
                    self.folder / name,
                )

    def stale_basis(self, keep: set[str]) -> list[str]:
        """Our basis_NN.png of an earlier, larger export: safe to remove."""
        return sorted(
            name
            for name in self.present
            if _BASIS_RE.fullmatch(name)
            and name not in keep
            and name in self.known
            and not self.is_input(name)
            and self.is_ours(name)
        )


def _scandir(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError:
        return []


def _journal_bytes(known: dict[str, set[str]], outputs: dict[str, str]) -> bytes:
    files = {name: sorted(known.get(name, set()) | {digest}) for name, digest in outputs.items()}
    for name, digests in known.items():
        files.setdefault(name, sorted(digests))
    doc = {"format": "nmfviewer-export-journal", "pid": os.getpid(), "files": files}
    return (json.dumps(doc, indent=1) + "\n").encode("ascii")


def check_output_folder(out_dir: str | os.PathLike) -> Path:
    """The absolute output folder; ExportError for an empty path ('' is not 'here')."""
    text = os.fspath(out_dir)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise ExportError(
            f"the output folder is empty ({text!r}); give the folder to write the results "
            "to (an unset variable?), '.' for the current folder.",
            None,
        )
    return Path(text).absolute()


def export_run(
    out_dir: str | Path,
    collection: Any,
    result: Any,
    *,
    bit_depth: int = 8,
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """Write a run's results into ``out_dir`` (created if missing).

    Files: basis_00.png ... (row j of H as an image of collection.image_shape,
    full-range 8- or 16-bit), basis_montage.png, weights.csv, factors.npz and
    run.json (see :mod:`nmfviewer.core.manifest`). Returns their paths, run.json last.
    All are staged as temporaries first and renamed only when every one is
    written, under the folder's lock. Files are replaced only when they are
    ours (see the module notes); after success our basis_NN.png beyond the new
    k are removed, and so are temporaries of killed exports.
    Raises ExportError naming the folder (or the file in the way) when it
    cannot be written, and for an empty ``out_dir``. ``extra`` adds sections to
    run.json (e.g. ``{"alignment": ...}``; JSON-ready, no key run.json has).
    """
    if bit_depth not in (8, 16):
        raise ExportError(f"bit_depth={bit_depth!r} is not supported; use 8 or 16.")
    folder = check_output_folder(out_dir)
    W = np.asarray(result.W)
    H = np.asarray(result.H)
    h, w = collection.image_shape
    shape = (int(h), int(w))
    k = H.shape[0]
    if W.shape != (collection.n_images, k) or H.shape[1] != shape[0] * shape[1]:
        raise ValueError(
            f"result W {W.shape} / H {H.shape} do not match the collection "
            f"({collection.n_images} images of {shape})"
        )

    _ensure_folder(folder)
    basis_names = basis_file_names(k)
    # each producer runs only when its file is staged: one encoded file in memory at a time
    producers: dict[str, Callable[[], bytes]] = {}
    for j, name in enumerate(basis_names):
        producers[name] = partial(basis_png_bytes, H[j].reshape(shape), bit_depth)
    producers[MONTAGE_NAME] = lambda: encode_png(make_montage(H, shape))
    producers[WEIGHTS_NAME] = partial(weights_csv_bytes, collection.names, W)
    axis = (getattr(collection, "axis_values", None), getattr(collection, "axis_label", None))
    npz_args = (W, H, shape, collection.names, result.loss_history, *axis)
    inputs = tuple(getattr(collection, "files", ()))

    try:
        with folder_lock(folder):
            return _export_locked(
                folder,
                producers,
                npz_args,
                collection,
                result,
                bit_depth,
                basis_names,
                inputs,
                extra,
            )
    except OSError as exc:
        raise _export_error(exc, folder) from None


def _export_locked(
    folder: Path,
    producers: dict[str, Callable[[], bytes]],
    npz_args: tuple[Any, ...],
    collection: Any,
    result: Any,
    bit_depth: int,
    basis_names: Sequence[str],
    inputs: Sequence[str | Path],
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    owners = _Ownership(folder, inputs)
    owners.check_writable([*producers, FACTORS_NAME, MANIFEST_NAME])
    _remove_stale_temporaries(folder)
    staged: dict[str, Path] = {}
    journal = folder / JOURNAL_NAME
    try:
        # phase 1: every file as a temporary; run.json last, with the others' sha256
        for name, produce in producers.items():
            staged[name] = _stage(folder / name, produce())
        staged[FACTORS_NAME] = _stage(
            folder / FACTORS_NAME, lambda fh: write_factors_npz(fh, *npz_args)
        )
        outputs = {name: sha256_file(tmp) for name, tmp in staged.items()}
        manifest = build_manifest(
            collection, result, outputs=outputs, export={"bit_depth": bit_depth}
        )
        for key, value in (extra or {}).items():
            if key in manifest:
                raise ValueError(f"run.json already has a section {key!r}")
            manifest[key] = value
        staged[MANIFEST_NAME] = _stage(folder / MANIFEST_NAME, manifest_to_bytes(manifest))
        # the journal: while renaming, old and new versions of every file are ours
        # (an export killed between two renames leaves files run.json does not list)
        written = {**outputs, MANIFEST_NAME: sha256_file(staged[MANIFEST_NAME])}
        atomic_write_bytes(journal, _journal_bytes(owners.known, written))
        # phase 2: renames in the same order, run.json last
        names = list(staged)
        for name in names:
            os.replace(staged[name], folder / name)
            del staged[name]
    finally:
        for tmp in staged.values():
            _remove_quietly(tmp)
    for name in owners.stale_basis(keep=set(basis_names)):
        _remove_quietly(folder / name)
    _remove_quietly(journal)
    _fsync_folder(folder)
    return [folder / name for name in names]
