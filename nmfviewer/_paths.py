"""Where the bundled resources and sample collections are.

Installed (wheel): they ship inside the package as ``nmfviewer/resources`` and
``nmfviewer/sample_images``. From a source checkout or an editable install
they are the repository's top-level ``resources/`` and ``sample_images/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    inside = _PACKAGE_DIR / name
    if inside.is_dir():
        return inside
    beside = _PACKAGE_DIR.parent / name
    if beside.is_dir():
        return beside
    try:  # editable installs map the package through an import hook
        from importlib.resources import files

        located = Path(str(files(f"nmfviewer.{name}")))
        if located.is_dir():
            return located
    except (ModuleNotFoundError, TypeError):
        pass
    return beside


def resources_dir() -> Path:
    """Folder with icons and other files the GUI loads."""
    return _locate("resources")


def sample_images_dir() -> Path:
    """Folder with the bundled sample collections (faces/, swimmer/, spectral/)."""
    return _locate("sample_images")
