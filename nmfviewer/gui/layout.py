"""Dock layout of the main window, and the settings it remembers (recent paths)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QScrollArea, QTabBar, QWidget

MAX_RECENT = 8
DEFAULT_SIZE = (1480, 940)  # window size the layout is designed for (and screenshots use)
#: dock key, title; the widgets are given by the window
DOCKS = (
    ("run", "Run"),
    ("collection", "Collection"),
    ("loss", "Loss"),
    ("weights", "Weights"),
    ("image", "Image and reconstruction"),
    ("spectrum", "Pixel spectrum"),
    ("choose_k", "Choose k"),
)


def make_docks(window: QMainWindow, widgets: dict[str, QWidget]) -> dict[str, QDockWidget]:
    """One QDockWidget per entry of DOCKS (object names let QSettings restore them)."""
    docks = {}
    for key, title in DOCKS:
        widget = widgets[key]
        if key in ("run", "choose_k"):  # long forms: scroll rather than squeeze
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(widget)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setMinimumWidth(220)
            widget = scroll
        dock = QDockWidget(title, window)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        docks[key] = dock
    return docks


def default_layout(
    window: QMainWindow, d: dict[str, QDockWidget], size: tuple[int, int] | None = None
) -> None:
    """Run + Collection on the left, Loss + Weights (tabs: Choose k, Pixel spectrum) on
    the right, the image
    inspector under the basis grid. size: the window size; None fits
    DEFAULT_SIZE into the screen."""
    window.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
    window.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
    for dock in d.values():
        dock.setFloating(False)
        dock.show()
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d["run"])
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d["collection"])
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, d["loss"])
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, d["weights"])
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d["image"])
    # Choose k and the pixel spectrum as tabs beside the weights: the right column
    # keeps room for the curves (stale tab bars are hidden by hide_stale_tab_bars)
    window.tabifyDockWidget(d["weights"], d["choose_k"])
    window.tabifyDockWidget(d["weights"], d["spectrum"])
    d["weights"].raise_()
    if size is None:
        screen = window.screen().availableGeometry()
        size = (
            min(DEFAULT_SIZE[0], int(screen.width() * 0.95)),
            min(DEFAULT_SIZE[1], int(screen.height() * 0.92)),
        )
    w, h = size
    window.resize(w, h)
    sx, sy = w / DEFAULT_SIZE[0], h / DEFAULT_SIZE[1]
    window.resizeDocks(
        [d["run"], d["loss"]], [int(320 * sx), int(440 * sx)], Qt.Orientation.Horizontal
    )
    window.resizeDocks(
        [d["run"], d["collection"]], [int(520 * sy), int(380 * sy)], Qt.Orientation.Vertical
    )
    window.resizeDocks(
        [d["loss"], d["weights"], d["spectrum"]],
        [int(250 * sy), int(330 * sy), int(320 * sy)],
        Qt.Orientation.Vertical,
    )
    window.resizeDocks([d["image"]], [int(300 * sy)], Qt.Orientation.Vertical)


def hide_stale_tab_bars(window: QMainWindow, d: dict[str, QDockWidget]) -> None:
    """Hide the dock tab bars a re-layout left behind (Qt keeps a tab group's old bar
    visible at its old place after restoreState + tabify). A bar in use sits right
    under the front dock of its group."""
    window.layout().activate()
    anchors = {
        (dock.geometry().left(), dock.geometry().bottom() + 1)
        for dock in d.values()
        if dock.isVisible() and not dock.isFloating()
    }
    for bar in window.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly):
        if (bar.geometry().left(), bar.geometry().top()) not in anchors:
            bar.hide()


class RecentPaths:
    """Recently opened path lists and the last folder, kept in QSettings."""

    def __init__(self, settings: QSettings, home: str):
        self.settings = settings
        self._home = home

    def last_folder(self) -> str:
        return str(self.settings.value("lastFolder", self._home))

    def set_last_folder(self, folder: str) -> None:
        self.settings.setValue("lastFolder", folder)

    def entries(self) -> list[list[str]]:
        try:
            value = json.loads(str(self.settings.value("recent", "[]")))
            return [list(map(str, v)) for v in value if isinstance(v, list)][:MAX_RECENT]
        except (ValueError, TypeError):
            return []

    def add(self, paths: list[str]) -> None:
        recent = [r for r in self.entries() if r != paths]
        self.settings.setValue("recent", json.dumps([paths, *recent][:MAX_RECENT]))

    def remove(self, paths: list[str]) -> bool:
        """Drop an entry (a load from it failed); True when it was listed."""
        entries = self.entries()
        if paths not in entries:
            return False
        self.settings.setValue("recent", json.dumps([r for r in entries if r != paths]))
        return True


def propose_export_dir(sources: Sequence[str | Path], k: int | None, fallback: str) -> Path:
    """A new results folder beside the input: for data in ``.../faces`` (a folder, or
    files in it) ``.../faces-nmf-k16``; for one stack ``.../cube.tif``, ``.../cube-nmf-k16``;
    then ``-2``, ``-3``... if taken. Never the input folder itself (the next load would
    read the exported PNGs as data). fallback: the folder used without an input path."""
    paths = [Path(s) for s in sources]
    if paths:
        first = paths[0]
        if len(paths) == 1 and not first.is_dir():  # one (stack) file: results beside it
            name, parent = first.stem, first.parent
        else:  # a folder, or files in one: beside that folder, never inside it
            data = first if first.is_dir() else first.parent
            name, parent = data.name, data.parent
    else:
        name, parent = "results", Path(fallback)
    base = f"{name or 'results'}-nmf" + (f"-k{k}" if k else "")
    candidate = parent / base
    n = 2
    while candidate.exists():
        candidate = parent / f"{base}-{n}"
        n += 1
    return candidate
