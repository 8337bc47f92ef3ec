"""The physical band axis of a spectral collection: values, name, unit and source.

A spectral cube is a collection whose images are its bands; :class:`SpectralAxis`
says where each band sits (2.13 keV, 532 nm, 1003 cm⁻¹). It comes from the
file's metadata (readers fill ``FileInfo.axis_values / axis_unit / axis_name``),
from an axis file the user gives (``LoadOptions.axis_file``), or from a sidecar
file beside the cube with a telling name (``energy_keV.csv``, ``wavelengths.txt``)
holding exactly one value per band.

Axis files are text: one number per line, or one row of numbers, or a CSV/TSV
whose column is chosen by its header (``energy (keV)``) or is the last one. A
first line that is not numeric is a header; lines starting with ``#`` are
comments. Name and unit are read from the header, the comments and the file
name (keV, eV, nm, µm, cm⁻¹). Values must be finite and strictly monotone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LoadError

__all__ = [
    "AXIS_FILE_SUFFIXES",
    "AXIS_WORDS",
    "SpectralAxis",
    "find_sidecar_axis",
    "parse_axis_label",
    "read_axis_file",
]

#: words in a file name that make it a band-axis sidecar, and the axis name they mean
AXIS_WORDS = {
    "energy": "energy",
    "energies": "energy",
    "wavelength": "wavelength",
    "wavelengths": "wavelength",
    "wavenumber": "wavenumber",
    "wavenumbers": "wavenumber",
    "raman": "wavenumber",
    "channel": "channel",
    "channels": "channel",
}
AXIS_FILE_SUFFIXES = (".csv", ".txt", ".tsv")
#: an axis file larger than this is not an axis file (never read whole)
_MAX_AXIS_BYTES = 16 << 20
_UNIT_PATTERNS = (  # (regex on lower-case text, canonical unit, axis name it implies)
    (r"(?<![a-z])kev(?![a-z])", "keV", "energy"),
    (r"(?<![a-z])ev(?![a-z])", "eV", "energy"),
    (r"(?<![a-z])nm(?![a-z])|nanomet", "nm", "wavelength"),
    (r"(?<![a-z])(?:µm|μm|um)(?![a-z])|micron", "µm", "wavelength"),
    (r"cm\s*\^?\s*[-−]\s*1|cm⁻¹|1\s*/\s*cm|(?<![a-z])rcm(?![a-z])", "cm⁻¹", "wavenumber"),
)
_FIX_FORMAT = (
    "Give one number per band: one per line, or one column of a CSV with an optional "
    "header line such as 'energy (keV)'."
)


@dataclass(frozen=True, eq=False)
class SpectralAxis:
    """Where each band of a spectral collection sits.

    values: (n_bands,) float64, read-only, finite and strictly monotone.
    name:   'energy', 'wavelength', 'wavenumber', 'channel' or 'band'.
    unit:   'keV', 'eV', 'nm', 'µm', 'cm⁻¹' or '' (unknown).
    source: where it came from, e.g. 'energy_keV.csv' or 'file metadata (cube.tif)'.
    path:   the axis file, when there is one (recorded in run.json with its sha256).
    """

    values: np.ndarray
    name: str = "band"
    unit: str = ""
    source: str = ""
    path: Path | None = None

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64).ravel()
        values.flags.writeable = False
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def label(self) -> str:
        """'energy (keV)', or the bare name without a unit."""
        return f"{self.name} ({self.unit})" if self.unit else self.name

    def format_value(self, value: float) -> str:
        """'6.4 keV', '532 nm': a value with the unit, 4 significant digits."""
        text = f"{float(value):.4g}"
        return f"{text} {self.unit}" if self.unit else text

    def span(self) -> str:
        """'0.01–20.5 keV': first to last value."""
        lo, hi = (f"{float(v):.4g}" for v in (self.values[0], self.values[-1]))
        return f"{lo}–{hi} {self.unit}".rstrip()

    def describe(self) -> str:
        """'energy_keV.csv, 0.01–20.5 keV' (the load warning's wording)."""
        return f"{self.source}, {self.span()}" if self.source else self.span()

    def band_at(self, value: float) -> int:
        """Index of the band nearest to ``value`` (in the axis's unit)."""
        return int(np.argmin(np.abs(self.values - float(value))))

    def to_record(self) -> dict[str, Any]:
        """What run.json records: name, unit, source, and the file with its sha256."""
        record: dict[str, Any] = {"name": self.name, "unit": self.unit, "source": self.source}
        if self.path is not None:
            record["path"] = str(Path(self.path).absolute())
            try:
                record["sha256"] = hashlib.sha256(Path(self.path).read_bytes()).hexdigest()
            except OSError:
                record["sha256"] = None
        return record

    @classmethod
    def from_label(cls, values: Any, label: str | None, source: str = "") -> SpectralAxis:
        """An axis from values and a label such as 'wavelength (nm)' or 'energy'."""
        name, unit = parse_axis_label(label or "")
        return cls(values, name or "band", unit or "", source)


def _unit_in(text: str) -> tuple[str | None, str | None]:
    """(unit, axis name it implies) found in ``text``, or (None, None)."""
    low = text.lower()
    for pattern, unit, name in _UNIT_PATTERNS:
        if re.search(pattern, low):
            return unit, name
    return None, None


def _name_in(text: str) -> str | None:
    for word in re.split(r"[^a-z]+", text.lower()):
        if word in AXIS_WORDS:
            return AXIS_WORDS[word]
    if "shift" in text.lower():
        return "wavenumber"
    return None


def parse_axis_label(text: str) -> tuple[str | None, str | None]:
    """(name, unit) read from a label, header or file name: 'Energy (keV)' ->
    ('energy', 'keV'); 'wavenumber_cm-1' -> ('wavenumber', 'cm⁻¹'); a unit alone
    implies the name ('nm' -> 'wavelength'). None where nothing is said."""
    unit, implied = _unit_in(text)
    name = _name_in(text) or implied
    if name == "channel" and implied is not None:
        name = implied  # 'channel energy (eV)'
    return name, unit


# --------------------------------------------------------------------------- reading
def _fail(path: Path, what: str, hint: str = _FIX_FORMAT) -> LoadError:
    return LoadError(
        f"axis file {path.name}: {what}.", path, field="axis_file", value=str(path), hint=hint
    )


def _number(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_AXIS_BYTES:
            raise _fail(path, f"the file is larger than {_MAX_AXIS_BYTES >> 20} MB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise LoadError(
            f"axis file {path} does not exist.",
            path,
            field="axis_file",
            value=str(path),
            hint="Check the path, or leave the axis file out to number the bands.",
        ) from None
    except IsADirectoryError:
        raise _fail(path, "it is a folder, not a file") from None
    except OSError as exc:
        raise _fail(path, f"cannot read it ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("latin-1")  # 'µm' in an old Windows file
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
            raise _fail(path, "it is not a text file") from None


def _rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(comment lines, [(line number, tokens)]) of an axis file's text."""
    comments: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(("#", "%", "//")):
            comments.append(line.lstrip("#%/ "))
            continue
        tokens = [t.strip().strip('"').strip("'") for t in re.split(r"[,;\t]|\s{1,}", line)]
        rows.append((number, [t for t in tokens if t]))
    return comments, rows


def _pick_column(header: list[str], width: int) -> int:
    """The header's column that names an axis or a unit, else the last one."""
    for i, cell in enumerate(header[:width]):
        name, unit = parse_axis_label(cell)
        if (name is not None and name != "channel") or unit is not None:
            return i
    return width - 1


def read_axis_file(path: str | Path, n_bands: int | None = None) -> SpectralAxis:
    """Read a band axis from a text or CSV file (see the module notes).

    n_bands: the collection's number of bands (images); when given, the file
    must hold exactly that many values. Raises LoadError (field 'axis_file')
    naming the file, what is wrong (count, a non-numeric value and its line,
    a value out of order) and the fix.
    """
    path = Path(path)
    comments, rows = _read_text_rows(path)
    header: list[str] = []
    if rows and any(_number(t) is None for t in rows[0][1]):
        header = rows.pop(0)[1]
    if not rows:
        raise _fail(path, "it holds no numbers")
    widths = {len(tokens) for _, tokens in rows}
    if len(rows) == 1 and not header:  # one row: every value is a band
        cells = [(rows[0][0], t) for t in rows[0][1]]
    else:
        if len(widths) > 1:
            line = next(n for n, t in rows if len(t) != len(rows[0][1]))
            raise _fail(path, f"line {line} has another number of columns than line {rows[0][0]}")
        column = _pick_column(header, widths.pop())
        cells = [(n, tokens[column]) for n, tokens in rows]
    values = np.empty(len(cells), dtype=np.float64)
    for i, (line, token) in enumerate(cells):
        value = _number(token)
        if value is None or not np.isfinite(value):
            what = "not a number" if value is None else "not a finite number"
            raise _fail(path, f"line {line} holds {token!r}, which is {what}")
        values[i] = value
    _check_monotone(path, values, cells)
    if n_bands is not None and values.size != n_bands:
        raise _fail(
            path,
            f"it has {values.size} values but the collection has {n_bands} bands",
            hint=f"Choose an axis file with exactly {n_bands} values, one per band, in band "
            "order ({option}).",
        )
    described = " ".join([*header, *comments])
    name, unit = parse_axis_label(described)
    if name is None or unit is None:
        file_name, file_unit = parse_axis_label(path.stem)
        name, unit = name or file_name, unit or file_unit
    return SpectralAxis(values, name or "band", unit or "", path.name, path)


def _read_text_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    return _rows(_read_text(path))


def _check_monotone(path: Path, values: np.ndarray, cells: Sequence[tuple[int, str]]) -> None:
    if values.size < 2:
        return
    steps = np.diff(values)
    rising = steps[0] > 0
    bad = np.flatnonzero(~(steps > 0) if rising else ~(steps < 0))
    if bad.size:
        i = int(bad[0]) + 1
        order = "increase" if rising else "decrease"
        raise _fail(
            path,
            f"the values must {order} from band to band, but line {cells[i][0]} "
            f"({cells[i][1]}) follows {cells[i - 1][1]}",
            hint="Sort the file, remove repeated values, or check it is the axis of this cube.",
        )


# --------------------------------------------------------------------------- sidecars
def _sidecar_candidates(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    out = []
    for entry in entries:
        if entry.suffix.lower() not in AXIS_FILE_SUFFIXES or entry.name.startswith("."):
            continue
        if _name_in(entry.stem) is None:
            continue
        try:
            if entry.is_file() and entry.stat().st_size <= _MAX_AXIS_BYTES:
                out.append(entry)
        except OSError:
            continue
    return out


def find_sidecar_axis(
    folder: Path, n_bands: int, prefer: str = ""
) -> tuple[SpectralAxis | None, list[str]]:
    """The band axis beside a cube: a file in ``folder`` with a telling name
    (energy, wavelength, wavenumber, channel) and exactly ``n_bands`` values.

    prefer: the cube's file stem; a sidecar whose name starts with it wins.
    Returns (axis or None, warnings about files that looked like an axis but
    were not used, and why).
    """
    notes: list[str] = []
    fitting: list[SpectralAxis] = []
    for path in _sidecar_candidates(folder):
        try:
            fitting.append(read_axis_file(path, n_bands))
        except LoadError as exc:
            notes.append(f"ignored {path.name} as band axis: {exc.message.partition(': ')[2]}")
    if not fitting:
        return None, notes
    if prefer:
        fitting.sort(key=lambda a: not a.source.lower().startswith(prefer.lower()))
    if len(fitting) > 1:
        others = ", ".join(a.source for a in fitting[1:])
        notes.append(
            f"also beside the cube with {n_bands} values: {others}; choose one as the axis file "
            "to use another"
        )
    return fitting[0], notes
