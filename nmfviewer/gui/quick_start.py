"""Help ▸ Quick start: the workflow in five steps and the keyboard shortcuts."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

STEPS = (
    (
        "Load",
        (
            "drop a folder of images, image files or a TIFF stack on the window, or use "
            "File ▸ Open (File ▸ Open sample to try one). A <code>labels.csv</code> "
            "(name,label) beside the images colours the weights by label."
        ),
    ),
    (
        "Choose k",
        (
            "set the number of basis images in the Run panel (hover a field for what "
            "it does); the defaults stop at a converged answer."
        ),
    ),
    (
        "Run",
        (
            "press Run and watch the basis images form; Pause, Stop, or Continue a run "
            "that stopped before it converged."
        ),
    ),
    (
        "Inspect",
        (
            "click a basis tile for the images that use it most, an image for its "
            "weights, reconstruction and residual; tick <i>decrease vs tol</i> "
            "in the Loss panel to see the stop rule."
        ),
    ),
    (
        "Export",
        (
            "File ▸ Export results writes basis PNGs, the montage, weights.csv, "
            "factors.npz and run.json to a new folder beside the data."
        ),
    ),
)


def quick_start_html(actions) -> str:
    """The quick-start text; actions: the window's Actions (for their shortcuts)."""
    steps = "".join(f"<li><b>{title}</b>: {text}</li>" for title, text in STEPS)
    rows = []
    for action in (
        actions.open_folder,
        actions.open_files,
        actions.run,
        actions.pause,
        actions.stop,
        actions.continue_,
        actions.export,
        actions.quick_start,
        actions.quit,
    ):
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if keys:
            name = html.escape(action.text().replace("&", ""))
            rows.append(
                f"<tr><td style='padding-right:12px'>{html.escape(keys)}</td><td>{name}</td></tr>"
            )
    return (
        f"<h3>nmfviewer in five steps</h3><ol>{steps}</ol>"
        f"<h3>Shortcuts</h3><table>{''.join(rows)}</table>"
    )


def show_quick_start(parent: QWidget, actions) -> QMessageBox:
    """A non-modal window with the quick start (closes itself when dismissed)."""
    box = QMessageBox(
        QMessageBox.Icon.NoIcon,
        "Quick start",
        quick_start_html(actions),
        QMessageBox.StandardButton.Close,
        parent,
    )
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setModal(False)
    box.show()
    return box
