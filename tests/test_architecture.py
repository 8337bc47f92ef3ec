"""Import rules from design.md, enforced."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nmfviewer"
QT_MODULES = ("PySide6", "pyqtgraph", "shiboken6", "PyQt5", "PyQt6", "qtpy")


def test_importing_core_and_public_api_loads_no_qt():
    code = (
        "import sys, nmfviewer, nmfviewer.core.collection, nmfviewer.core.export, "
        "nmfviewer.core.nmf.fit, nmfviewer.core.nmf.estimator\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"Qt modules loaded by the core: {out}"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names.add(node.module)
            elif node.level > 0:
                # resolve relative imports to an absolute dotted name
                parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
                base = parts[: len(parts) - node.level]
                names.add(".".join(base + ((node.module,) if node.module else ())))
    return names


def test_core_sources_never_import_qt_or_gui():
    offenders = []
    for path in (PACKAGE / "core").rglob("*.py"):
        for name in _imported_modules(path):
            root = name.split(".")[0]
            if root in QT_MODULES or name.startswith("nmfviewer.gui"):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not offenders, offenders


def test_views_know_neither_worker_nor_session():
    offenders = []
    for path in (PACKAGE / "gui" / "views").rglob("*.py"):
        for name in _imported_modules(path):
            if name.startswith(("nmfviewer.gui.worker", "nmfviewer.gui.session")):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not offenders, offenders


def test_only_worker_module_uses_qthread():
    users = [
        p.relative_to(PACKAGE).as_posix()
        for p in (PACKAGE / "gui").rglob("*.py")
        if "QThread" in p.read_text(encoding="utf-8")
    ]
    assert set(users) <= {"gui/worker.py", "gui/sweep_worker.py"}, users
