"""The public API is imported lazily: ``nmfviewer --help`` answers without loading the
numerics (numba), the image libraries (scikit-image, tifffile, Pillow) or Qt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "skimage", "tifffile", "PIL", "PySide6", "pyqtgraph", "numpy")


def _imported(args: list[str]) -> tuple[set[str], str]:
    """Top-level packages imported by ``python -X importtime -m nmfviewer ARGS``."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nmfviewer", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            modules.add(name.split(".")[0])
    assert "nmfviewer" in modules  # the right package, and importtime worked
    return modules, proc.stdout


@pytest.mark.parametrize("args", [["--help"], ["fit", "--help"], ["--version"]])
def test_help_loads_no_numerics_images_or_qt(args):
    modules, out = _imported(args)
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert "usage: nmfviewer" in out or out.startswith("nmfviewer ")


def test_the_package_resolves_its_public_names_lazily():
    code = (
        "import sys, nmfviewer\n"
        "assert 'numba' not in sys.modules and 'nmfviewer.core.collection' not in sys.modules\n"
        "assert set(nmfviewer.__all__) <= set(dir(nmfviewer))\n"
        "from nmfviewer import NMF, fit, load_collection, __version__\n"
        "import nmfviewer.core as core\n"
        "assert fit is core.fit and NMF is core.NMF\n"
        "for name in nmfviewer.__all__: getattr(nmfviewer, name)\n"
        "for name in core.__all__: getattr(core, name)\n"
        "print(__version__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr


def test_all_lists_every_export():
    import nmfviewer

    assert nmfviewer.__all__ == ["__version__", *nmfviewer._EXPORTS]  # same order


def test_unknown_names_raise_attribute_error():
    import nmfviewer

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nmfviewer.nope  # noqa: B018


def test_one_version_source():
    import tomllib

    import nmfviewer
    from nmfviewer._version import __version__

    assert nmfviewer.__version__ == __version__
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "nmfviewer._version.__version__"
    }


def test_declared_dependencies_are_the_imported_ones():
    """Pillow is imported by the loader and the exports: it must be declared; a runtime
    dependency nothing in the package imports must not be."""
    import ast
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {
        d.split(">")[0].split("<")[0].split("=")[0].strip().lower()
        for d in project["project"]["dependencies"]
    }
    imported = set()
    for path in (ROOT / "nmfviewer").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    distribution = {"PIL": "pillow", "skimage": "scikit-image", "PySide6": "pyside6-essentials"}
    third_party = {
        "numpy",
        "numba",
        "tifffile",
        "pyqtgraph",
        "threadpoolctl",
        "PIL",
        "skimage",
        "PySide6",
        "scipy",
    }
    for module in imported & third_party:
        assert distribution.get(module, module).lower() in declared, module
    assert "imageio" not in declared  # only the tests use it


def _imports_of(path: Path) -> set[str]:
    """Absolute dotted names a module imports (relative imports resolved)."""
    import ast

    names = set()
    parts = path.relative_to(ROOT).with_suffix("").parts
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                base = ".".join(
                    parts[: len(parts) - node.level] + ((node.module,) if node.module else ())
                )
            names.add(base)  # the module imported from, not the names taken from it
    return names


#: the session and the worker switch to nmfviewer.core with the run driver (engine branch)
_PENDING: set[str] = set()


def test_front_ends_import_core_only_through_its_public_api_and_gui_never_the_cli():
    offenders = []
    files = [
        *(ROOT / "nmfviewer" / "gui").rglob("*.py"),
        ROOT / "nmfviewer" / "cli.py",
        ROOT / "nmfviewer" / "cli_options.py",
        ROOT / "nmfviewer" / "__init__.py",
    ]
    for path in files:
        rel = path.relative_to(ROOT / "nmfviewer").as_posix()
        for name in _imports_of(path):
            if rel.startswith("gui/") and name.startswith("nmfviewer.cli"):
                offenders.append(f"{rel} imports {name}")
            if name.startswith("nmfviewer.core.") and rel not in _PENDING:
                offenders.append(f"{rel} imports {name}")
    assert offenders == []
