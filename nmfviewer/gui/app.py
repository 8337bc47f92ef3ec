"""Application set-up and the GUI entry point ``main(args) -> int``.

``args`` is the argparse namespace of :mod:`nmfviewer.cli` (attributes read
with defaults, so a partial namespace works too). Scripted mode
(``--start --screenshot FILE --quit-when-done``) is driven by
:class:`ScriptedRun`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pyqtgraph as pg
from PySide6.QtCore import QObject, QSettings, QTimer, qInstallMessageHandler
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from .._paths import resources_dir, sample_images_dir
from ..core.errors import NMFViewerError
from ..core.params import LoadOptions, NMFParams
from .layout import DEFAULT_SIZE
from .main_window import MainWindow

ORGANIZATION = "nmfviewer"
APPLICATION = "nmfviewer"
DEFAULT_K = 16


def app_icon() -> QIcon:
    icon = QIcon()
    for name in ("nmfviewer.svg", "nmfviewer.png"):
        path = resources_dir() / name
        if path.exists():
            icon.addFile(str(path))
    return icon


def _dark_palette() -> QPalette:
    p = QPalette()
    roles = QPalette.ColorRole
    base, window, text = QColor(36, 37, 41), QColor(47, 49, 54), QColor(222, 222, 222)
    for role, color in ((roles.Window, window), (roles.WindowText, text), (roles.Base, base),
                        (roles.AlternateBase, window), (roles.ToolTipBase, QColor(60, 60, 66)),
                        (roles.ToolTipText, text), (roles.Text, text),
                        (roles.Button, QColor(58, 60, 66)), (roles.ButtonText, text),
                        (roles.BrightText, QColor(255, 80, 80)),
                        (roles.Highlight, QColor(64, 128, 200)),
                        (roles.HighlightedText, QColor(255, 255, 255)),
                        (roles.Link, QColor(100, 160, 230)),
                        (roles.PlaceholderText, QColor(140, 140, 140))):
        p.setColor(role, color)
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.Text, roles.ButtonText, roles.WindowText):
        p.setColor(disabled, role, QColor(120, 120, 120))
    return p


def shield_singletons() -> None:
    """Work around a reference-counting bug in PySide6 6.12 (with Python < 3.12).

    PySide drops a reference to ``None`` each time it passes a null pointer to a
    Python override (pyqtgraph's ``paint(painter, option, widget=None)``, on
    every repaint) and to ``True`` each time True crosses a signal into Python.
    When a count reaches zero the interpreter aborts ("none_dealloc" /
    "bool_dealloc"), at the latest while exiting. Python 3.12 makes these
    singletons immortal; here we do the same by giving them a huge count.
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    import PySide6

    if tuple(PySide6.__version_info__[:2]) != (6, 12):  # pyproject pins <6.12; defensive only
        return
    import ctypes

    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt: first field
        if refcount.value < 1 << 40:
            refcount.value += 1 << 40


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), configured for nmfviewer."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    if app.property("nmfviewer_configured") is None:
        app.setProperty("nmfviewer_configured", 1)
        app.setStyle("Fusion")
        app.setPalette(_dark_palette())
    shield_singletons()
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("nmfviewer")
    app.setWindowIcon(app_icon())
    return app


def user_settings() -> QSettings:
    """The persistent settings (an INI file in the user's config folder).

    Tests redirect it with ``QSettings.setPath(IniFormat, UserScope, tmp)``.
    """
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                     ORGANIZATION, APPLICATION)


def params_from_namespace(ns) -> NMFParams:
    """NMFParams from the CLI namespace (cli.params_from_args when it exists)."""
    try:
        from ..cli import params_from_args
    except ImportError:
        params_from_args = None
    if params_from_args is not None:
        return params_from_args(ns, n_components=DEFAULT_K)
    k = getattr(ns, "n_components", None) or DEFAULT_K
    values = {"n_components": k}
    for name in ("loss", "solver", "init", "seed", "max_iter", "tol", "time_budget",
                 "alpha_W", "alpha_H", "l1_ratio", "dtype"):
        value = getattr(ns, name, None)
        if value is not None:
            values[name] = value
    return NMFParams(**values)


def load_options_from_namespace(ns) -> LoadOptions:
    """LoadOptions from the CLI namespace (cli.load_options_from_args when it exists)."""
    try:
        from ..cli import load_options_from_args
    except ImportError:
        load_options_from_args = None
    if load_options_from_args is not None:
        return load_options_from_args(ns)
    values = {}
    for name in ("recursive", "color", "size_policy", "normalize", "negative", "nonfinite"):
        value = getattr(ns, name, None)
        if value is not None:
            values[name] = value
    return LoadOptions(**values)


class ScriptedRun(QObject):
    """--start / --screenshot / --quit-when-done: run, grab the window, quit.

    exit_code: 0 on success, 2 for a user error (bad input), 1 otherwise.
    """

    def __init__(self, window: MainWindow, ns, app: QApplication):
        super().__init__(window)
        self.window, self.app = window, app
        self.start = bool(getattr(ns, "start", False))
        self.screenshot = getattr(ns, "screenshot", None)
        self.quit_when_done = bool(getattr(ns, "quit_when_done", False))
        self.exit_code = 0
        self._finished = False
        self._seen_collection = False
        s = window.session
        s.collectionChanged.connect(self._on_collection)
        s.loadFailed.connect(lambda msg, _d: self.fail(2, f"could not load: {msg}"))
        s.runFailed.connect(lambda msg, d: self.fail(1 if d else 2, f"run failed: {msg}"))
        s.runFinished.connect(lambda _reason: QTimer.singleShot(200, self._finish))

    @property
    def active(self) -> bool:
        return self.start or bool(self.screenshot) or self.quit_when_done

    def _on_collection(self, _collection) -> None:
        if self._finished or self._seen_collection:
            return  # only the collection given on the command line is scripted
        self._seen_collection = True
        if self.start:
            if not self.window.start_run():
                self.fail(2, f"cannot start: {self.window.messages[-1]}")
        else:
            QTimer.singleShot(200, self._finish)

    def fail(self, code: int, message: str) -> None:
        print(f"nmfviewer: {message}", file=sys.stderr)
        self.exit_code = code
        self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.screenshot:
            Path(self.screenshot).parent.mkdir(parents=True, exist_ok=True)
            if not self.window.grab().save(str(self.screenshot)):
                print(f"nmfviewer: could not save the screenshot to {self.screenshot}",
                      file=sys.stderr)
                self.exit_code = self.exit_code or 1
        if self.quit_when_done:
            self.window.ask_on_close = False
            self.window.close()
            self.app.exit(self.exit_code)


def _limit_blas_threads(threads):
    """Set the BLAS thread count once, for the whole session (never toggled later).

    By default the fit keeps one core free for the event loop (OpenBLAS threads
    spin while they wait, so using every core starves the window).
    """
    if threads in (None, "auto"):
        threads = max(1, (os.cpu_count() or 2) - 1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=int(threads), user_api="blas")


def _drop_offscreen_noise(app: QApplication) -> None:
    """The offscreen platform (scripted screenshots, CI) warns about window size
    hints it cannot apply, once per dock; those lines say nothing to a user."""
    if app.platformName() != "offscreen" or app.property("nmfviewer_quiet") is not None:
        return
    app.setProperty("nmfviewer_quiet", 1)
    previous = None

    def handler(mode, context, message):
        if "propagateSizeHints" in message:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            print(message, file=sys.stderr)

    previous = qInstallMessageHandler(handler)


def main(args=None) -> int:
    """Open the window (sample faces when no paths are given); return the exit code."""
    ns = args if args is not None else SimpleNamespace()
    app = create_app()
    _drop_offscreen_noise(app)
    try:
        params = params_from_namespace(ns)
        options = load_options_from_namespace(ns)
    except NMFViewerError as exc:
        print(f"nmfviewer: {exc}", file=sys.stderr)
        return 2
    window = MainWindow(settings=user_settings())
    window.setWindowIcon(app_icon())
    window.params_panel.set_params(params)
    window.session.load_options = options
    script = ScriptedRun(window, ns, app)
    if script.active:
        window.reset_layout(DEFAULT_SIZE)  # screenshots look the same for everyone
    paths = [str(p) for p in (getattr(ns, "paths", None) or [])]
    window.show()
    if paths:
        QTimer.singleShot(0, lambda: window.open_paths(paths))
    else:
        faces = sample_images_dir() / "faces"
        if faces.exists():
            QTimer.singleShot(0, lambda: window.session.load([faces], ask=False))
        elif script.active:  # nothing to run on: do not wait forever
            QTimer.singleShot(0, lambda: script.fail(2, "no input: give a folder or image files"))
    blas = _limit_blas_threads(getattr(ns, "threads", None))
    quit_on_close = app.quitOnLastWindowClosed()
    if script.active:
        # ScriptedRun quits itself; a second, implicit quit would be left pending
        # for whatever event loop runs next (matters when main() runs in-process)
        app.setQuitOnLastWindowClosed(False)
    try:
        code = app.exec()
    finally:
        app.setQuitOnLastWindowClosed(quit_on_close)
        window.session.shutdown()
        if blas is not None:
            blas.restore_original_limits()
    return script.exit_code if script.active else int(code)
