"""Small dialogs of the main window: questions, non-blocking messages, About."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def ask_user(parent: QWidget) -> Callable[[str], bool]:
    """A confirm callable (see Session.confirm) that asks with a Yes/No dialog."""
    def confirm(question: str) -> bool:
        answer = QMessageBox.question(parent, "Discard results?", question,
                                      QMessageBox.StandardButton.Yes
                                      | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes
    return confirm


def open_message(parent: QWidget, title: str, message: str, details: str = "") -> QMessageBox:
    """A window-modal warning that does not block the caller (deleted when closed)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message,
                      QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def about(parent: QWidget, version: str) -> None:
    QMessageBox.about(
        parent, "About nmfviewer",
        f"<b>nmfviewer {html.escape(version)}</b>"
        "<p>Non-negative Matrix Factorization of image collections, live: drop a folder of "
        "images, watch the parts appear, export them.</p>"
        "<p>W (images × k) holds each image's weights; the rows of H (k × pixels) are the "
        "basis images.</p>")
