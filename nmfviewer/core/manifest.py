"""The run manifest (``run.json``): everything needed to trust and repeat a run.

It records the inputs (absolute paths, sizes, sha256 of every file read), the
load options, the NMF parameters with the seed actually used, library versions,
the loss history, why the run stopped and how long it took. ``read_manifest``
turns one back into the objects a replay needs.

The JSON is strict (no NaN): a non-finite number is written as null, so the
``loss_history`` of a KL / IS run has null where the loss was not evaluated.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import platform
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .errors import NMFViewerError
from .params import LoadOptions, NMFParams

MANIFEST_FORMAT = "nmfviewer-run"
MANIFEST_VERSION = 1

#: distribution names whose versions the manifest records
_LIBRARIES = (
    "numpy",
    "scipy",
    "scikit-image",
    "imageio",
    "tifffile",
    "pillow",
    "threadpoolctl",
)

_HASH_CHUNK = 1 << 20


class ManifestError(NMFViewerError):
    """A run.json cannot be read or is not an nmfviewer run manifest."""

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (never whole into memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_inputs(files: Iterable[str | Path]) -> list[dict[str, Any]]:
    """[{path (absolute), size (bytes), sha256}] for each file; unreadable ones get None."""
    out = []
    for f in files:
        p = Path(f).absolute()
        try:
            size: int | None = p.stat().st_size
            digest: str | None = sha256_file(p)
        except OSError:  # removed or unreadable since loading: record what we know
            size, digest = None, None
        out.append({"path": str(p), "size": size, "sha256": digest})
    return out


def library_versions() -> dict[str, Any]:
    """Versions of Python, the platform, the numeric libraries and the BLAS in use."""
    versions: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    for dist in _LIBRARIES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    versions["blas"] = _blas_info()
    return versions


def _blas_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a runtime dependency
        return []
    keep = ("user_api", "internal_api", "version", "num_threads", "threading_layer", "architecture")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def _finite_or_none(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _reconstruction_err(result: Any) -> float | None:
    """scikit-learn's reconstruction_err_ of the result, when it offers one."""
    try:
        return _finite_or_none(result.reconstruction_err_)
    except (AttributeError, TypeError, ValueError):
        return None


def build_manifest(
    collection: Any,
    result: Any,
    *,
    outputs: dict[str, str] | None = None,
    export: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run.json content for a collection and a FitResult, as a JSON-ready dict.

    ``outputs`` maps each exported file name to its sha256 (run.json itself excluded).
    """
    from .. import __version__
    from .threads import current_blas_threads

    history = np.asarray(result.loss_history, dtype=np.float64).ravel()
    axis_values = getattr(collection, "axis_values", None)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "nmfviewer_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "inputs": {
            "source": [str(Path(p).absolute()) for p in collection.source],
            "files": describe_inputs(collection.files),
        },
        "load_options": collection.options.to_dict(),
        "params": result.params.to_dict(),
        "data": {
            "n_images": int(collection.n_images),
            "image_shape": [int(s) for s in collection.image_shape],
            "names": list(collection.names),
            "original_dtypes": list(getattr(collection, "original_dtypes", ())),
            "value_range": [_finite_or_none(v) for v in getattr(collection, "value_range", ())],
            "axis_label": getattr(collection, "axis_label", "image"),
            "axis_values": None
            if axis_values is None
            else [_finite_or_none(v) for v in np.asarray(axis_values).ravel()],
            "warnings": list(getattr(collection, "warnings", ())),
        },
        "result": {
            "n_iter": int(result.n_iter),
            "blas_threads": current_blas_threads(),  # a replay sets the same count
            "stop_reason": result.stop_reason,
            "elapsed": float(result.elapsed),
            "final_loss": _finite_or_none(result.loss),
            "reconstruction_err": _reconstruction_err(result),
            "loss_history": [_finite_or_none(v) for v in history],
        },
        "environment": library_versions(),
        "export": dict(export or {}),
        "outputs": dict(outputs or {}),
    }
    return manifest


def manifest_to_bytes(manifest: dict[str, Any]) -> bytes:
    """Pretty, strict JSON (no NaN) in UTF-8, ending with a newline."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


@dataclass(frozen=True)
class InputFile:
    """One file read for a run: absolute path, size in bytes, sha256 (None if unknown)."""

    path: Path
    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class RunManifest:
    """A parsed run.json.

    paths:        the source paths the user gave (absolute), to load again.
    load_options: LoadOptions of the run.
    params:       NMFParams of the run, with the seed that was used.
    files:        every file read, with size and sha256 for verification.
    n_iter, stop_reason: how the recorded run ended.
    raw:          the whole JSON document.
    """

    path: Path
    paths: tuple[Path, ...]
    load_options: LoadOptions
    params: NMFParams
    files: tuple[InputFile, ...]
    n_iter: int
    stop_reason: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    def changed_inputs(self, files: Sequence[str | Path]) -> list[str]:
        """Plain-words differences between the recorded inputs and ``files`` read now.

        Compares the set of absolute paths and each common file's sha256.
        """
        now = {str(Path(f).absolute()): f for f in files}
        recorded = {str(f.path): f for f in self.files}
        notes = []
        for p in sorted(set(recorded) - set(now)):
            notes.append(f"{p} was an input of the recorded run but was not read now")
        for p in sorted(set(now) - set(recorded)):
            notes.append(f"{p} was read now but was not an input of the recorded run")
        for p in sorted(set(now) & set(recorded)):
            expected = recorded[p].sha256
            try:
                actual = sha256_file(p)
            except OSError as exc:
                notes.append(f"{p} could not be read to check it ({exc.strerror})")
                continue
            if expected is not None and actual != expected:
                notes.append(f"{p} has changed since the recorded run (sha256 differs)")
        return notes


def read_manifest(path: str | Path) -> RunManifest:
    """Read a run.json written by :func:`nmfviewer.core.export.export_run`.

    Raises ManifestError (naming the file) when it is missing, not JSON, or not
    an nmfviewer run manifest; ParameterError when its options are invalid.
    """
    path = Path(path)
    fix = "give the run.json of an nmfviewer export"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"run manifest {path} does not exist; {fix}.", path) from None
    except IsADirectoryError:
        raise ManifestError(f"{path} is a folder, not a run manifest; {fix}.", path) from None
    except OSError as exc:
        raise ManifestError(f"cannot read {path} ({exc.strerror}); {fix}.", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path} is not valid JSON ({exc}); {fix}.", path) from None
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path} is not an nmfviewer run manifest; {fix}.", path)
    if int(raw.get("format_version", 0)) > MANIFEST_VERSION:
        raise ManifestError(
            f"{path} has manifest format version {raw.get('format_version')}, newer than this "
            f"nmfviewer understands ({MANIFEST_VERSION}); upgrade nmfviewer.",
            path,
        )
    try:
        inputs = raw["inputs"]
        result = raw.get("result", {})
        return RunManifest(
            path=path,
            paths=tuple(Path(p) for p in inputs["source"]),
            load_options=LoadOptions.from_dict(raw["load_options"]),
            params=NMFParams.from_dict(raw["params"]),
            files=tuple(
                InputFile(Path(f["path"]), f.get("size"), f.get("sha256")) for f in inputs["files"]
            ),
            n_iter=int(result.get("n_iter", 0)),
            stop_reason=str(result.get("stop_reason", "")),
            raw=raw,
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, NMFViewerError):
            raise
        raise ManifestError(
            f"{path} is incomplete or damaged (missing or bad {exc}); {fix}.", path
        ) from None

