"""Small dialogs of the main window: questions, non-blocking messages, About, and
:func:`describe_error`, which words a core error for the window."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from ..core import NMFViewerError

LOAD_MENU = "File ▸ Load options…"
RUN_PANEL = "the Run panel"
#: LoadOptions fields edited by a widget that is not in LOAD_LABELS
_OTHER_LOAD_WIDGETS = {
    "recursive": "Folders ▸ Include sub-folders",
    "max_memory_bytes": "Memory limit",
    "image_axis": "Image axis",
    "dataset": "Dataset",
    "axis_file": "Band axis file",
}


def widget_spelling(field: str, suggestion: Any) -> str:
    """Where the window sets ``field`` (to ``suggestion``): "File ▸ Load options… ▸
    Mixed sizes ▸ “resize to the most common size”", "Components k = 6 in the Run panel"."""
    # the views import this module (their inline errors): import their labels late
    from .views.load_options import CHOICES as LOAD_CHOICES
    from .views.load_options import LABELS as LOAD_LABELS
    from .views.params_panel import PARAM_LABELS

    if field in LOAD_LABELS:
        where = f"{LOAD_MENU} ▸ {LOAD_LABELS[field]}"
        texts = dict(LOAD_CHOICES.get(field, ()))
        if suggestion is not None and suggestion in texts:
            return f"{where} ▸ “{texts[suggestion]}”"
        return where if suggestion is None else f"{where} ▸ {suggestion}"
    if field in _OTHER_LOAD_WIDGETS:
        return f"{LOAD_MENU} ▸ {_OTHER_LOAD_WIDGETS[field]}"
    if field in PARAM_LABELS:
        value = "" if suggestion is None else f" = {suggestion}"
        return f"{PARAM_LABELS[field]}{value} in {RUN_PANEL}"
    return field if suggestion is None else f"{field} = {suggestion}"


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(text, hint) for a dialog: the problem, and how to fix it in the window.

    For our own errors the hint is rendered from the error's fields (the option
    spelled as the widget that sets it); a value that came from elsewhere (a
    replay's run.json) says so instead. Anything else is a bug: its type and
    message, and no hint.
    """
    if isinstance(exc, NMFViewerError):
        if exc.source is not None:
            return exc.message, f"The value comes from {exc.source}."
        return exc.message, exc.render_hint(widget_spelling)
    return f"Unexpected error (a bug in nmfviewer): {type(exc).__name__}: {exc}", ""


def error_text(exc: BaseException | str) -> str:
    """describe_error as one text: the problem, then the hint on its own line
    (a message already worded is returned as it is)."""
    if not isinstance(exc, BaseException):
        return str(exc)
    text, hint = describe_error(exc)
    return f"{text}\n{hint}" if hint else text


def ask_user(parent: QWidget) -> Callable[[str], bool]:
    """A confirm callable (see Session.confirm) that asks with a Yes/No dialog."""

    def confirm(question: str) -> bool:
        answer = QMessageBox.question(
            parent,
            "Discard results?",
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    return confirm


def open_message(parent: QWidget, title: str, message: str, details: str = "") -> QMessageBox:
    """A window-modal warning that does not block the caller (deleted when closed)."""
    box = QMessageBox(
        QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent
    )
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def about(parent: QWidget, version: str) -> None:
    QMessageBox.about(
        parent,
        "About nmfviewer",
        f"<b>nmfviewer {html.escape(version)}</b>"
        "<p>Non-negative Matrix Factorization of image collections, live: drop a folder of "
        "images, watch the parts appear, export them.</p>"
        "<p>W (images × k) holds each image's weights; the rows of H (k × pixels) are the "
        "basis images.</p>",
    )
