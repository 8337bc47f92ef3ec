"""Menu bar and actions of the main window (built once; the window connects them)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from .views.common import COLORMAPS


@dataclass
class Actions:
    open_folder: QAction
    open_files: QAction
    recent_menu: QMenu
    samples_menu: QMenu
    load_options: QAction
    export: QAction
    quit: QAction
    run: QAction
    pause: QAction
    stop: QAction
    continue_: QAction
    colormaps: dict[str, QAction]
    reset_layout: QAction
    about: QAction
    quick_start: QAction
    export_sweep: QAction


def _action(window, text, shortcut=None, tip=None) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
    return action


def build_menus(window: QMainWindow, docks) -> Actions:
    """Create File / Run / View / Help menus on ``window``; docks: QDockWidgets to toggle."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    open_folder = _action(
        window,
        "Open &folder…",
        QKeySequence.StandardKey.Open,
        "Load every image in a folder as a collection",
    )
    open_files = _action(
        window, "Open f&iles…", "Ctrl+Shift+O", "Load image files or multi-page TIFF stacks"
    )
    file_menu.addAction(open_folder)
    file_menu.addAction(open_files)
    recent_menu = file_menu.addMenu("Open &recent")
    samples_menu = file_menu.addMenu("Open &sample")
    file_menu.addSeparator()
    load_options = _action(
        window, "&Load options…", None, "Size, colour, normalisation and value policies for loading"
    )
    file_menu.addAction(load_options)
    file_menu.addSeparator()
    export = _action(
        window,
        "&Export results…",
        "Ctrl+E",
        "Write basis PNGs, montage, weights.csv, factors.npz and run.json",
    )
    file_menu.addAction(export)
    export_sweep = _action(
        window,
        "Export &k sweep…",
        None,
        "Write rank.csv, rank.json and rank.png of the Choose-k sweep",
    )
    file_menu.addAction(export_sweep)
    file_menu.addSeparator()
    quit_ = _action(window, "&Quit", QKeySequence.StandardKey.Quit)
    file_menu.addAction(quit_)

    run_menu = bar.addMenu("&Run")
    run = _action(window, "&Run", "Ctrl+R", "Start a new run from scratch")
    pause = _action(window, "&Pause", "Ctrl+P", "Pause or resume the run")
    stop = _action(window, "&Stop", "Ctrl+.", "Stop after the current iteration")
    continue_ = _action(
        window, "&Continue", "Ctrl+Shift+R", "Run more iterations from the current factors"
    )
    for a in (run, pause, stop, continue_):
        run_menu.addAction(a)

    view_menu = bar.addMenu("&View")
    for dock in docks:
        toggle = dock.toggleViewAction()
        # a dock shown from the menu comes to the front of its tab group
        toggle.triggered[()].connect(lambda d=dock, t=toggle: d.raise_() if t.isChecked() else None)
        view_menu.addAction(toggle)
    view_menu.addSeparator()
    cmap_menu = view_menu.addMenu("Basis &colormap")
    group = QActionGroup(window)
    colormaps = {}
    for name in COLORMAPS:
        a = QAction(name, window, checkable=True)
        group.addAction(a)
        cmap_menu.addAction(a)
        colormaps[name] = a
    reset_layout = _action(window, "&Reset layout")
    view_menu.addAction(reset_layout)

    help_menu = bar.addMenu("&Help")
    quick_start = _action(
        window,
        "&Quick start",
        QKeySequence.StandardKey.HelpContents,
        "The workflow in five steps, and the shortcuts",
    )
    help_menu.addAction(quick_start)
    about = _action(window, "&About nmfviewer")
    help_menu.addAction(about)
    return Actions(
        open_folder,
        open_files,
        recent_menu,
        samples_menu,
        load_options,
        export,
        quit_,
        run,
        pause,
        stop,
        continue_,
        colormaps,
        reset_layout,
        about,
        quick_start,
        export_sweep,
    )
