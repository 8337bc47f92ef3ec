"""Write a k sweep: rank.csv, rank.png and rank.json, atomically.

Conventions of :mod:`.export`: every file is staged as a hidden temporary in the
folder and renamed only when all are written, rank.json last, under the folder's
export lock. Only our own files are replaced: rank.json when it is an nmfviewer
rank record (``"format": "nmfviewer-rank"``), rank.csv and rank.png when that
record (or the journal of an interrupted write) lists them with the sha256 they
have now. Anything else in the way is refused with an ExportError naming it.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ExportError
from .export import (
    JOURNAL_NAME,
    _ensure_folder,
    _export_error,
    _fsync_folder,
    _journal_bytes,
    _read_record,
    _remove_quietly,
    _stage,
    atomic_write_bytes,
    check_output_folder,
    folder_lock,
)
from .manifest import sha256_file
from .names import printable

if TYPE_CHECKING:
    from .rank_sweep import RankResult

__all__ = ["RANK_FORMAT", "rank_csv_bytes", "rank_record", "write_rank"]

RANK_FORMAT = "nmfviewer-rank"
RANK_VERSION = 1
CSV_NAME, PNG_NAME, JSON_NAME = "rank.csv", "rank.png", "rank.json"
CSV_COLUMNS = (
    "k", "test_error", "test_error_sd", "train_error", "stability_mean", "stability_min",
    "iterations", "seconds",
)  # fmt: skip


def _cell(x: Any) -> str:
    if isinstance(x, float):
        return "" if not math.isfinite(x) else repr(x)
    return str(x)


def rank_csv_bytes(result: RankResult) -> bytes:
    """rank.csv: one row per k (CSV_COLUMNS; an empty cell where a value is nan)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in result.rows:
        writer.writerow([_cell(getattr(row, c)) for c in CSV_COLUMNS])
    return buf.getvalue().encode("utf-8")


def rank_record(result: RankResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """rank.json's content (without ``outputs``), JSON-ready."""
    from .. import __version__

    record: dict[str, Any] = {
        "format": RANK_FORMAT,
        "format_version": RANK_VERSION,
        "nmfviewer_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "suggested_k": result.suggested_k,
        "rule": result.rule,
        "complete": result.complete,
        "ks": result.ks,
        "reps": result.reps,
        "restarts": result.restarts,
        "holdout": result.holdout,
        "seed": result.seed,
        "params": {k: v for k, v in result.params.to_dict().items() if k != "n_components"},
        "settings": dict(result.settings),
        "rows": [row.summary() for row in result.rows],
    }
    for key, value in (extra or {}).items():
        if key in record:
            raise ValueError(f"rank.json already has a key {key!r}")
        record[key] = value
    return record


def _panels(result: RankResult) -> list[Any]:
    from .plots import Panel, Series

    ks = [float(r.k) for r in result.rows]
    marks = []
    if result.suggested_k is not None:
        marks = [(float(result.suggested_k), f"suggested k = {result.suggested_k}")]
    errors = []
    if any(math.isfinite(r.test_error) for r in result.rows):
        errors.append(
            Series(
                ks,
                [r.test_error for r in result.rows],
                label="test error (held-out entries)",
                markers=True,
                yerr=[
                    r.test_error_sd if math.isfinite(r.test_error_sd) else 0.0 for r in result.rows
                ],
            )
        )
    errors.append(
        Series(ks, [r.train_error for r in result.rows], label="training error", markers=True)
    )
    stability = [
        Series(ks, [r.stability_mean for r in result.rows], label="mean", markers=True),
        Series(
            ks, [r.stability_min for r in result.rows], label="least stable component", markers=True
        ),
    ]
    return [
        Panel(errors, x_label="k", y_label="loss per entry", log_y=True, marks=marks),
        Panel(stability, x_label="k", y_label="matched cosine over restarts", marks=marks),
    ]


def _known_hashes(folder: Path) -> dict[str, set[str]]:
    known: dict[str, set[str]] = {}
    record = _read_record(folder / JSON_NAME)
    if record is not None and record.get("format") == RANK_FORMAT:
        outputs = record.get("outputs")
        if isinstance(outputs, dict):
            for name, digest in outputs.items():
                if isinstance(name, str) and isinstance(digest, str):
                    known.setdefault(name, set()).add(digest)
    journal = _read_record(folder / JOURNAL_NAME)
    if journal is not None and isinstance(journal.get("files"), dict):
        for name, digests in journal["files"].items():
            if isinstance(name, str) and isinstance(digests, list):
                known.setdefault(name, set()).update(d for d in digests if isinstance(d, str))
    return known


def _check_ours(folder: Path, known: dict[str, set[str]]) -> None:
    for name in (CSV_NAME, PNG_NAME, JSON_NAME):
        path = folder / name
        if not os.path.lexists(path):
            continue
        ours = False
        if path.is_file() and not path.is_symlink():
            if name == JSON_NAME:
                record = _read_record(path)
                ours = record is not None and record.get("format") == RANK_FORMAT
            else:
                try:
                    ours = sha256_file(path) in known.get(name, set())
                except OSError:
                    ours = False
        if not ours:
            raise ExportError(
                f"cannot write the k sweep to folder {printable(folder)}: {printable(name)} "
                "there was not written by nmfviewer and would be overwritten; choose another "
                "folder (or move that file away).",
                path,
            )


def write_rank(
    result: RankResult, out_dir: str | os.PathLike[str], *, extra: dict[str, Any] | None = None
) -> list[Path]:
    """Write rank.csv, rank.png and rank.json into ``out_dir`` (created if missing).

    Parameters
    ----------
    result : RankResult
        The sweep (complete or not: rank.json says which).
    out_dir : path
        The folder.
    extra : dict, optional
        More keys for rank.json (e.g. the inputs and load options of the CLI).

    Returns
    -------
    list of Path
        rank.csv, rank.png, rank.json (last).

    Raises
    ------
    ExportError
        Naming the folder or the file in the way.
    """
    from .plots import render_png

    folder = check_output_folder(out_dir)
    _ensure_folder(folder)
    staged: dict[str, Path] = {}
    try:
        with folder_lock(folder):
            known = _known_hashes(folder)
            _check_ours(folder, known)
            try:
                staged[CSV_NAME] = _stage(folder / CSV_NAME, rank_csv_bytes(result))
                png = _stage(folder / PNG_NAME, b"")
                staged[PNG_NAME] = png
                title = "k sweep: " + (
                    f"suggested k = {result.suggested_k}"
                    if result.suggested_k is not None
                    else "no suggestion (no held-out entries)"
                )
                render_png(_panels(result), png, title=title)
                outputs = {name: sha256_file(tmp) for name, tmp in staged.items()}
                record = rank_record(result, extra)
                record["outputs"] = outputs
                text = json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
                staged[JSON_NAME] = _stage(folder / JSON_NAME, text.encode("utf-8"))
                written = {**outputs, JSON_NAME: sha256_file(staged[JSON_NAME])}
                journal = folder / JOURNAL_NAME
                atomic_write_bytes(journal, _journal_bytes(known, written))
                names = list(staged)
                for name in names:
                    os.replace(staged.pop(name), folder / name)
                _remove_quietly(journal)
            finally:
                for tmp in staged.values():
                    _remove_quietly(tmp)
    except OSError as exc:
        raise _export_error(exc, folder) from None
    _fsync_folder(folder)
    return [folder / name for name in names]
