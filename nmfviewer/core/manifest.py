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
import os
import platform
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .errors import NMFViewerError
from .names import decode_exact, encode_exact, printable
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


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_text(text: str) -> str:
    """``text`` as it can go into UTF-8 JSON: itself, or for a name holding bytes
    that are not UTF-8, its readable escaped form (the exact one goes beside it)."""
    return text if _utf8(text) else printable(text, backslash=True)


def _path_entry(path: str, key: str = "path") -> dict[str, str]:
    """{key: text} plus {key_exact: percent-encoded bytes} when the path is not UTF-8."""
    entry = {key: json_text(path)}
    if not _utf8(path):
        entry[f"{key}_exact"] = encode_exact(path)
    return entry


def describe_inputs(files: Iterable[str | Path]) -> list[dict[str, Any]]:
    """[{path (absolute), size (bytes), sha256}] for each file; unreadable ones get None.

    A path that is not UTF-8 also gets ``path_exact`` (see :mod:`.names`).
    """
    out = []
    for f in files:
        p = Path(f).absolute()
        try:
            size: int | None = p.stat().st_size
            digest: str | None = sha256_file(p)
        except OSError:  # removed or unreadable since loading: record what we know
            size, digest = None, None
        out.append({**_path_entry(str(p)), "size": size, "sha256": digest})
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
    band_axis = getattr(collection, "axis", None)
    sources = [str(Path(p).absolute()) for p in collection.source]
    names = [str(n) for n in collection.names]
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "nmfviewer_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "inputs": {
            "source": [json_text(p) for p in sources],
            "files": describe_inputs(collection.files),
        },
        "load_options": collection.options.to_dict(),
        "params": result.params.to_dict(),
        "data": {
            "n_images": int(collection.n_images),
            "image_shape": [int(s) for s in collection.image_shape],
            "channels": int(getattr(collection, "channels", 1)),
            "names": [json_text(n) for n in names],
            "original_dtypes": list(getattr(collection, "original_dtypes", ())),
            "value_range": [_finite_or_none(v) for v in getattr(collection, "value_range", ())],
            "axis_label": getattr(collection, "axis_label", "image"),
            "axis_values": None
            if axis_values is None
            else [_finite_or_none(v) for v in np.asarray(axis_values).ravel()],
            # the band axis: name, unit and where it came from (an axis file with its sha256)
            "axis": None if band_axis is None else band_axis.to_record(),
            "warnings": [json_text(printable(w)) for w in getattr(collection, "warnings", ())],
        },
        "result": {
            "n_iter": int(result.n_iter),
            "blas_threads": current_blas_threads(),  # a replay sets the same count
            "stop_reason": result.stop_reason,
            "elapsed": float(result.elapsed),
            "final_loss": _finite_or_none(result.loss),
            "reconstruction_err": _reconstruction_err(result),
            "loss_history": [_finite_or_none(v) for v in history],
            # where it ran (streamed from a store, a Dask cluster); a replay runs locally
            "engine": getattr(result, "engine", None) or {"engine": "memory"},
        },
        "environment": library_versions(),
        "export": dict(export or {}),
        "outputs": dict(outputs or {}),
    }
    # names and paths that are not UTF-8: their exact bytes beside the readable text
    if not all(_utf8(p) for p in sources):
        manifest["inputs"]["source_exact"] = [encode_exact(p) for p in sources]
    if not all(_utf8(n) for n in names):
        manifest["data"]["names_exact"] = [encode_exact(n) for n in names]
    return manifest


def manifest_to_bytes(manifest: dict[str, Any]) -> bytes:
    """Pretty, strict JSON (no NaN) in UTF-8, ending with a newline."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False)
    # a stray undecodable byte anywhere (a name in metadata...) becomes the JSON
    # escape \udcXX: still valid JSON, read back by Python as the same str
    return (text + "\n").encode("utf-8", errors="backslashreplace")


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


#: largest run.json read: far above any export (a 100,000-file run is ~30 MB)
MAX_MANIFEST_BYTES = 64 << 20
_FIX = "give the run.json of an nmfviewer export"
_HEX = frozenset("0123456789abcdef")


def _manifest_bytes(path: Path) -> bytes:
    """The file's bytes: only a regular file, never more than MAX_MANIFEST_BYTES.

    A FIFO, socket or device is refused from its stat, before it is opened; the
    open itself is non-blocking and checked again (the path may change between).
    """
    shown = printable(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ManifestError(f"run manifest {shown} does not exist; {_FIX}.", path) from None
    except OSError as exc:
        raise ManifestError(f"cannot read {shown} ({exc.strerror}); {_FIX}.", path) from None
    if stat.S_ISDIR(st.st_mode):
        raise ManifestError(f"{shown} is a folder, not a run manifest; {_FIX}.", path)
    if not stat.S_ISREG(st.st_mode):
        raise ManifestError(
            f"{shown} is not a regular file (a FIFO, socket or device), so it is not read; {_FIX}.",
            path,
        )
    if st.st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{shown} is {st.st_size / 2**20:.0f} MB, far larger than any run.json nmfviewer "
            f"writes (at most {MAX_MANIFEST_BYTES >> 20} MB are read); {_FIX}.",
            path,
        )
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ManifestError(f"cannot read {shown} ({exc.strerror}); {_FIX}.", path) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ManifestError(f"{shown} is not a regular file; {_FIX}.", path)
        chunks, size = [], 0
        while size <= MAX_MANIFEST_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_MANIFEST_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ManifestError(f"cannot read {shown} ({exc.strerror}); {_FIX}.", path) from None
    finally:
        os.close(fd)
    if size > MAX_MANIFEST_BYTES:  # it grew after the stat
        raise ManifestError(f"{shown} is larger than any run.json nmfviewer writes; {_FIX}.", path)
    return b"".join(chunks)


class _Checker:
    """Type checks of run.json values, naming the key at fault."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, value: Any, what: str) -> ManifestError:
        shown = _short(value)
        return ManifestError(
            f"run manifest {printable(self.path)}: key '{key}' holds {shown}, but {what}; "
            f"the file is damaged or was edited; {_FIX} (or export the run again).",
            self.path,
        )

    def get(self, doc: dict, key: str, where: str, kind: Any, optional: bool = False) -> Any:
        full = f"{where}.{key}" if where else key
        if key not in doc:
            if optional:
                return None
            raise ManifestError(
                f"run manifest {printable(self.path)}: key '{full}' is missing; the file is "
                f"incomplete or damaged; {_FIX} (or export the run again).",
                self.path,
            )
        value = doc[key]
        if optional and value is None:
            return None
        return self.check(value, full, kind)

    def check(self, value: Any, key: str, kind: Any) -> Any:
        ok = {
            "dict": isinstance(value, dict),
            "list": isinstance(value, list),
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "count": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            "number": isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value),
        }[kind]
        if not ok:
            what = {
                "dict": "an object {...} is expected",
                "list": "a list [...] is expected",
                "str": "a text is expected",
                "int": "a whole number is expected",
                "count": "a whole number >= 0 is expected",
                "number": "a finite number is expected",
            }[kind]
            raise self.fail(key, value, what)
        return value


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    if len(text) > 60:
        text = text[:57] + "..."
    return printable(text)


#: JSON types each annotation of a parameter dataclass allows
_ANNOTATION_TYPES = {
    "bool": (bool,),
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "None": (type(None),),
}


def _options_from(cls: Any, doc: Any, key: str, check: _Checker) -> Any:
    """cls.from_dict(doc) with every value's JSON type checked first; a refused
    value is reported with its run.json key."""
    from dataclasses import MISSING, fields

    from .errors import ParameterError

    check.check(doc, key, "dict")
    known = {f.name: f for f in fields(cls)}
    for name, f in known.items():
        if name not in doc and f.default is MISSING and f.default_factory is MISSING:
            check.get(doc, name, key, "dict")  # raises: the key is missing
    for name, value in doc.items():
        if name not in known:
            raise check.fail(
                f"{key}.{name}",
                value,
                f"{cls.__name__} has no such field (known: {', '.join(sorted(known))})",
            )
        allowed: tuple[type, ...] = ()
        for part in str(known[name].type).split("|"):
            allowed += _ANNOTATION_TYPES.get(part.strip(), ())
        bad_bool = isinstance(value, bool) and bool not in allowed
        if allowed and (not isinstance(value, allowed) or bad_bool):
            names = " or ".join(str(known[name].type).split(" | "))
            raise check.fail(f"{key}.{name}", value, f"{name} must be {names}")
    try:
        return cls.from_dict(doc)
    except ParameterError as exc:
        field_name = next(
            (n for n in doc if str(exc).startswith(f"{n}=") or str(exc).startswith(f"{n} ")), None
        )
        where = f"{key}.{field_name}" if field_name else key
        raise ManifestError(
            f"run manifest {printable(check.path)}: key '{where}' is refused: {exc}", check.path
        ) from None


def read_manifest(path: str | Path) -> RunManifest:
    """Read a run.json written by :func:`nmfviewer.core.export.export_run`.

    Only a regular file is read (a FIFO or device is refused from its stat,
    never opened), at most :data:`MAX_MANIFEST_BYTES`; a UTF-8 byte-order mark
    is accepted. Every key the replay uses is type-checked. Raises
    ManifestError (naming the file and the key at fault) when it is missing,
    not JSON, not an nmfviewer run manifest, or holds a refused value.
    """
    path = Path(path)
    shown = printable(path)
    data = _manifest_bytes(path)
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"{shown} is not valid JSON (not UTF-8 text at byte {exc.start}); {_FIX}.", path
        ) from None
    except RecursionError:
        raise ManifestError(
            f"{shown} is not a run manifest (JSON nested far too deeply); {_FIX}.", path
        ) from None
    except ValueError as exc:  # JSONDecodeError, or an integer of thousands of digits
        reason = " ".join(str(exc).split())[:120]
        raise ManifestError(f"{shown} is not valid JSON ({reason}); {_FIX}.", path) from None
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{shown} is not an nmfviewer run manifest; {_FIX}.", path)
    check = _Checker(path)
    version = check.get(raw, "format_version", "", "int")
    if version > MANIFEST_VERSION:
        raise ManifestError(
            f"{shown} has manifest format version {version}, newer than this "
            f"nmfviewer understands ({MANIFEST_VERSION}); upgrade nmfviewer.",
            path,
        )
    if version < 1:
        raise check.fail("format_version", version, "versions start at 1")
    inputs = check.get(raw, "inputs", "", "dict")
    source = [
        check.check(p, f"inputs.source[{i}]", "str")
        for i, p in enumerate(check.get(inputs, "source", "inputs", "list"))
    ]
    exact = check.get(inputs, "source_exact", "inputs", "list", optional=True)
    if exact is not None:
        if len(exact) != len(source):
            raise check.fail("inputs.source_exact", exact, f"{len(source)} entries are expected")
        source = [_exact(check, p, f"inputs.source_exact[{i}]") for i, p in enumerate(exact)]
    files = []
    for i, entry in enumerate(check.get(inputs, "files", "inputs", "list")):
        where = f"inputs.files[{i}]"
        check.check(entry, where, "dict")
        file_path = check.get(entry, "path", where, "str")
        if entry.get("path_exact") is not None:
            file_path = _exact(check, entry["path_exact"], f"{where}.path_exact")
        size = check.get(entry, "size", where, "count", optional=True)
        digest = check.get(entry, "sha256", where, "str", optional=True)
        if digest is not None and (len(digest) != 64 or not set(digest) <= _HEX):
            raise check.fail(f"{where}.sha256", digest, "a sha256 of 64 hex digits is expected")
        files.append(InputFile(Path(file_path), size, digest))
    load_options = _options_from(LoadOptions, raw.get("load_options"), "load_options", check)
    if "params" not in raw:
        check.get(raw, "params", "", "dict")
    params = _options_from(NMFParams, raw["params"], "params", check)
    result = check.get(raw, "result", "", "dict")
    n_iter = check.get(result, "n_iter", "result", "count")
    stop_reason = check.get(result, "stop_reason", "result", "str")
    history = check.get(result, "loss_history", "result", "list", optional=True)
    for i, v in enumerate(history or ()):
        if v is not None:
            check.check(v, f"result.loss_history[{i}]", "number")
    # the replay reads these when present: null is as wrong as any other type there
    export = check.get(raw, "export", "", "dict") if "export" in raw else {}
    if "bit_depth" in export:
        bit_depth = check.get(export, "bit_depth", "export", "int")
        if bit_depth not in (8, 16):
            raise check.fail("export.bit_depth", bit_depth, "8 or 16 is expected")
    for key in ("data", "outputs", "environment"):
        if key in raw:
            check.get(raw, key, "", "dict")
    return RunManifest(
        path=path,
        paths=tuple(Path(p) for p in source),
        load_options=load_options,
        params=params,
        files=tuple(files),
        n_iter=n_iter,
        stop_reason=stop_reason,
        raw=raw,
    )


def recorded_mask(manifest: RunManifest, shape: tuple[int, int] | None = None) -> Any:
    """The mask a recorded run used (mask.npz beside its run.json), or None.

    The file's sha256 must match run.json's "mask.sha256"; ``shape`` (the
    replayed X's) must match the mask's. Raises ManifestError naming the file.
    """
    from .nmf.mask import Mask, MaskError

    record = manifest.raw.get("mask")
    if record is None:
        return None
    check = _Checker(manifest.path)
    check.check(record, "mask", "dict")
    name = check.get(record, "file", "mask", "str")
    digest = check.get(record, "sha256", "mask", "str")
    if Path(name).name != name or name in ("", ".", ".."):
        raise check.fail("mask.file", name, "a file name beside run.json is expected")
    path = manifest.path.parent / name
    shown = printable(path)
    if not path.is_file():
        raise ManifestError(
            f"the recorded run used a mask, but {shown} is missing; keep {name} beside "
            f"{printable(manifest.path.name)} to replay the run.",
            path,
        )
    if sha256_file(path) != digest:
        raise ManifestError(
            f"{shown} has changed since the run (its sha256 differs from run.json's); the "
            "replay needs the mask the run used.",
            path,
        )
    try:
        mask = Mask.load(path)
    except MaskError as exc:
        raise ManifestError(exc.message, path) from None
    if shape is not None and mask.shape != tuple(shape):
        raise ManifestError(
            f"{shown} is a mask for data of shape {mask.shape}, but the replayed images give "
            f"{tuple(shape)}; the inputs have changed since the run.",
            path,
        )
    return mask


def _exact(check: _Checker, value: Any, key: str) -> str:
    check.check(value, key, "str")
    try:
        return decode_exact(value)
    except ValueError:
        raise check.fail(key, value, "a percent-encoded path is expected") from None
