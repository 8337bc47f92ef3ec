"""Image labels: a CSV of ``name,label`` beside the images (``labels.csv``).

A labels file lets the window colour the weights and top images by class and
sort by it. It is optional: a collection without one has no labels. Names are
matched to the collection's image names (file names relative to the folder);
a name can also be given without its extension, or as a bare file name for an
image in a sub-folder. Images the file does not mention get the label ''.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from .errors import LoadError

#: file names tried, in this order, in the collection's folder
LABEL_FILES = ("labels.csv", "labels.tsv")
_HEADER_NAMES = {"name", "file", "filename", "image", "path"}


def find_labels_file(folder: str | Path) -> Path | None:
    """The labels file in ``folder`` (see LABEL_FILES), or None."""
    folder = Path(folder)
    for name in LABEL_FILES:
        path = folder / name
        if path.is_file():
            return path
    return None


def labels_folder(sources: Sequence[str | Path]) -> Path | None:
    """The folder whose labels file belongs to a collection loaded from ``sources``:
    the folder given, or the one folder all the given files share; None otherwise."""
    paths = [Path(s) for s in sources]
    if len(paths) == 1 and paths[0].is_dir():
        return paths[0]
    if not paths or any(p.is_dir() for p in paths):
        return None
    parents = {p.parent for p in paths}
    return parents.pop() if len(parents) == 1 else None


def read_labels(folder: str | Path, names: Sequence[str]) -> tuple[str, ...] | None:
    """Labels for the images ``names`` from the labels file in ``folder``.

    Parameters
    ----------
    folder : the folder the images were loaded from.
    names : (n_images,) the collection's image names.

    Returns
    -------
    (n_images,) tuple of labels ('' for an image the file does not mention), or
    None when the folder has no labels file or the file names none of the images.

    Raises
    ------
    LoadError
        The file cannot be read or a row is not ``name,label``; the message names
        the file and the line.
    """
    path = find_labels_file(folder)
    if path is None:
        return None
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    table: dict[str, str] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for line_no, row in enumerate(csv.reader(fh, delimiter=delimiter), start=1):
                cells = [c.strip() for c in row]
                if not cells or not any(cells) or cells[0].startswith("#"):
                    continue
                if len(cells) < 2:
                    raise LoadError(
                        f"{path}, line {line_no}: expected 'name{delimiter}label', got "
                        f"{delimiter.join(row)!r}. Give one image name and its label per line.",
                        path,
                    )
                if line_no == 1 and cells[0].lower() in _HEADER_NAMES:
                    continue  # a header row
                table[cells[0]] = cells[1]
    except OSError as exc:
        raise LoadError(
            f"cannot read the labels file {path}: {exc.strerror or exc}. "
            "Check its permissions, or remove it.",
            path,
        ) from exc
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"the labels file {path} is not UTF-8 text ({exc.reason}); save it as UTF-8 CSV.", path
        ) from exc
    # also look up by stem and by bare file name
    loose: dict[str, str] = {}
    for key, value in table.items():
        p = PurePosixPath(key.replace("\\", "/"))
        loose.setdefault(p.name, value)
        loose.setdefault(p.stem, value)
    out = []
    hits = 0
    for name in names:
        p = PurePosixPath(str(name).replace("\\", "/"))
        label = table.get(str(name))
        if label is None:
            label = loose.get(p.name, loose.get(p.stem))
        hits += label is not None
        out.append(label or "")
    return tuple(out) if hits else None
