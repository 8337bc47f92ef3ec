"""Export a run: basis PNGs, montage, weights CSV, factors NPZ and run.json.

Every file is written atomically: its bytes go to a hidden temporary file in
the same folder (``.NAME.XXXX.tmp``), which is flushed, fsync'ed and then
renamed over the final name with ``os.replace``. ``export_run`` first stages
*all* files as temporaries and only then renames them, run.json last, so an
interrupted export leaves complete files (old or new), never a half-written
one; run.json lists the sha256 of every file of its export.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import re
import tempfile
from collections.abc import Callable, Sequence
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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

    W: (n_images, k). Names are CSV-quoted where needed; floats at full precision.
    """
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[0] != len(names):
        raise ValueError(f"W has shape {W.shape} but there are {len(names)} image names")
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["image", *(f"component_{j}" for j in range(W.shape[1]))])
    for name, row in zip(names, W.tolist()):
        writer.writerow([name, *(_format_float(v) for v in row)])
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


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove the hidden temporaries a killed export left (``.basis_00.png.XXXX.tmp``...)."""
    ours = ("basis_", MONTAGE_NAME, WEIGHTS_NAME, FACTORS_NAME, MANIFEST_NAME)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith(".") and name.endswith(".tmp") and name[1:].startswith(ours):
            _remove_quietly(Path(entry.path))


def _remove_stale_basis(folder: Path, keep: set[str]) -> None:
    """Remove basis_NN.png of an earlier export with a larger k (after a successful export)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if _BASIS_RE.fullmatch(entry.name) and entry.name not in keep:
            _remove_quietly(Path(entry.path))


def export_run(
    out_dir: str | Path,
    collection: Any,
    result: Any,
    *,
    bit_depth: int = 8,
) -> list[Path]:
    """Write a run's results into ``out_dir`` (created if missing).

    Files: basis_00.png ... (row j of H as an image of collection.image_shape,
    full-range 8- or 16-bit), basis_montage.png, weights.csv, factors.npz and
    run.json (see :mod:`nmfviewer.core.manifest`). Returns their paths, run.json last.
    All are staged as temporaries first and renamed only when every one is
    written. Leftovers of earlier exports into the folder are removed: hidden
    temporaries of a killed export, and (after success, only if the folder held
    a run.json) basis_NN.png beyond the new k.
    Raises ExportError naming the folder when it cannot be written.
    """
    if bit_depth not in (8, 16):
        raise ExportError(f"bit_depth={bit_depth!r} is not supported; use 8 or 16.")
    folder = Path(out_dir).absolute()
    W = np.asarray(result.W)
    H = np.asarray(result.H)
    shape = tuple(int(s) for s in collection.image_shape)
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

    # an earlier nmfviewer export here may have more basis images than this one;
    # without its run.json, basis_NN.png files are not ours to remove
    had_export = (folder / MANIFEST_NAME).is_file()
    _remove_stale_temporaries(folder)
    staged: dict[str, Path] = {}
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
        staged[MANIFEST_NAME] = _stage(folder / MANIFEST_NAME, manifest_to_bytes(manifest))
        # phase 2: renames in the same order, run.json last
        names = list(staged)
        for name in names:
            os.replace(staged[name], folder / name)
            del staged[name]
    except OSError as exc:
        raise _export_error(exc, folder) from None
    finally:
        for tmp in staged.values():
            _remove_quietly(tmp)
    if had_export:
        _remove_stale_basis(folder, keep=set(basis_names))
    _fsync_folder(folder)
    return [folder / name for name in names]
