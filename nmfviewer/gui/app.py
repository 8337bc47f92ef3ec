"""Application set-up and the GUI entry point ``run(request) -> int``.

``request`` is the frozen :class:`nmfviewer.core.GuiRequest` the command line
built and validated (paths, load options, parameters, scripted-run options);
the GUI never parses arguments and never imports the CLI. Scripted mode
(``--start --screenshot FILE --quit-when-done``) is driven by
:class:`ScriptedRun`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QObject, QSettings, QTimer, qInstallMessageHandler
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from .._paths import resources_dir, sample_images_dir
from ..core import (
    GuiRequest,
    configure_blas_threads,
    current_thread_choice,
    restore_blas_threads,
)
from .dialogs import describe_error
from .layout import DEFAULT_SIZE
from .main_window import MainWindow

ORGANIZATION = "nmfviewer"
APPLICATION = "nmfviewer"


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
    for role, color in (
        (roles.Window, window),
        (roles.WindowText, text),
        (roles.Base, base),
        (roles.AlternateBase, window),
        (roles.ToolTipBase, QColor(60, 60, 66)),
        (roles.ToolTipText, text),
        (roles.Text, text),
        (roles.Button, QColor(58, 60, 66)),
        (roles.ButtonText, text),
        (roles.BrightText, QColor(255, 80, 80)),
        (roles.Highlight, QColor(64, 128, 200)),
        (roles.HighlightedText, QColor(255, 255, 255)),
        (roles.Link, QColor(100, 160, 230)),
        (roles.PlaceholderText, QColor(140, 140, 140)),
    ):
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
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
    )


class ScriptedRun(QObject):
    """--start / --screenshot / --quit-when-done: run, grab the window, quit.

    exit_code: 0 on success, 2 for a user error (bad input), 1 otherwise.
    """

    def __init__(self, window: MainWindow, request: GuiRequest, app: QApplication):
        super().__init__(window)
        self.window, self.app = window, app
        self.start = request.start
        self.screenshot = request.screenshot
        self.quit_when_done = request.quit_when_done
        self.exit_code = 0
        self._finished = False
        self._seen_collection = False
        s = window.session
        s.collectionChanged.connect(self._on_collection)
        s.loadFailed.connect(lambda error, _d: self.fail(2, f"could not load: {_text(error)}"))
        s.runFailed.connect(
            lambda error, d: self.fail(1 if d else 2, f"run failed: {_text(error)}")
        )
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
            # never raise here: an exception in this slot would leave the loop running
            try:
                Path(self.screenshot).parent.mkdir(parents=True, exist_ok=True)
                saved = self.window.grab().save(str(self.screenshot))
                reason = "" if saved else " (Qt could not write it: check the file type)"
            except OSError as exc:
                saved, reason = False, f" ({exc.strerror or exc})"
            if not saved:
                print(
                    f"nmfviewer: could not save the screenshot to {self.screenshot}{reason}",
                    file=sys.stderr,
                )
                self.exit_code = self.exit_code or 1
        if self.quit_when_done:
            self.window.ask_on_close = False
            self.window.close()
            self.app.exit(self.exit_code)


def _text(error) -> str:
    """One line for stderr from an error object (or a message already made)."""
    if isinstance(error, BaseException):
        text, hint = describe_error(error)
        return f"{text} {hint}".strip()
    return str(error)


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


def run(request: GuiRequest | None = None) -> int:
    """Open the window for ``request`` (default: the sample faces); return the exit code.

    Sets the BLAS thread count once for the session (leaving the GUI thread a
    core) and restores it when the window closes.
    """
    request = request if request is not None else GuiRequest()
    app = create_app()
    _drop_offscreen_noise(app)
    previous = current_thread_choice()
    configure_blas_threads(request.threads, reserve_gui_core=True)
    window = MainWindow(settings=user_settings())
    window.setWindowIcon(app_icon())
    window.params_panel.set_params(request.params)
    window.session.load_options = request.load_options
    script = ScriptedRun(window, request, app)
    if script.active:
        window.reset_layout(DEFAULT_SIZE)  # screenshots look the same for everyone
    paths = [str(p) for p in request.paths]
    window.show()
    if paths:
        QTimer.singleShot(0, lambda: window.open_paths(paths))
    else:
        faces = sample_images_dir() / "faces"
        if faces.exists():
            QTimer.singleShot(0, lambda: window.session.load([faces], ask=False))
        elif script.active:  # nothing to run on: do not wait forever
            QTimer.singleShot(0, lambda: script.fail(2, "no input: give a folder or image files"))
    quit_on_close = app.quitOnLastWindowClosed()
    if script.active:
        # ScriptedRun quits itself; a second, implicit quit would be left pending
        # for whatever event loop runs next (matters when run() runs in-process)
        app.setQuitOnLastWindowClosed(False)
    try:
        code = app.exec()
    finally:
        app.setQuitOnLastWindowClosed(quit_on_close)
        window.session.shutdown()
        restore_blas_threads(previous)
    return script.exit_code if script.active else int(code)
