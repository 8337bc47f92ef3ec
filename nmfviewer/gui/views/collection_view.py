"""Collection panel: what was loaded (count, shape, dtypes, value range), the
loader's warnings in plain words, and scrollable thumbnails.

Thumbnails are rendered lazily, only for rows the list view asks to paint,
and kept in a bounded cache, so thousands of images scroll smoothly.
"""

from __future__ import annotations

import html
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QLabel,
    QListView,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...core import count_data_hint
from .common import ElidedLabel, thumbnail_pixmap

THUMB = 64
CACHE_SIZE = 4096
#: the invalid index: the root of a flat list model
_ROOT = QModelIndex()


class ThumbnailModel(QAbstractListModel):
    """A list model over (n, h, w) images; icons are made on first request."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._images = np.zeros((0, 1, 1), np.float32)
        self._names: tuple[str, ...] = ()
        self._cache: OrderedDict[int, QIcon] = OrderedDict()
        self.rendered = 0  # icons rendered so far (lazy rendering is tested)

    def set_images(self, images: np.ndarray, names: tuple[str, ...]) -> None:
        self.beginResetModel()
        self._images = images
        self._names = tuple(names)
        self._cache.clear()
        self.rendered = 0
        self.endResetModel()

    def rowCount(self, parent=_ROOT) -> int:  # Qt API
        return 0 if parent.isValid() else len(self._names)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        i = index.row()
        if role == Qt.ItemDataRole.DisplayRole:
            return str(i)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{i}: {self._names[i]}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icon(i)
        return None

    def _icon(self, i: int) -> QIcon:
        icon = self._cache.get(i)
        if icon is None:
            icon = QIcon(thumbnail_pixmap(self._images[i], THUMB))
            self.rendered += 1
            self._cache[i] = icon
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return icon


def sources_text(collection) -> str:
    """The paths a collection came from, as one line (the first three, then a count)."""
    text = ", ".join(str(p) for p in collection.source[:3])
    if len(collection.source) > 3:
        text += f", … ({len(collection.source)} paths)"
    return text


def describe(collection) -> str:
    """Rich-text summary: count, image shape (h × w), dtypes, value range."""
    h, w = collection.image_shape
    n = collection.n_images
    noun = "image" if collection.axis_label == "image" else "band"
    plural = noun if n == 1 else noun + "s"
    lo, hi = collection.value_range
    rows = [
        (
            "Loaded",
            f"<b>{n:,}</b> {html.escape(plural)} of "
            f"<span style='white-space:nowrap'><b>{h} × {w}</b> pixels (h × w)</span>",
        ),
        ("Data type", html.escape(", ".join(collection.original_dtypes)) + " → float32"),
        ("Value range", f"{lo:.4g} … {hi:.4g}"),
    ]
    if count_data_hint(collection, "frobenius") is not None:
        rows.append(
            (
                "Counts",
                "integer counts: the <b>Kullback-Leibler</b> loss is their Poisson "
                "likelihood (Run panel ▸ Loss)",
            )
        )
    if getattr(collection, "channels", 1) == 3:
        rows.append(("Colour", "kept: R, G, B channels (3 values per pixel)"))
    if collection.axis_values is not None and len(collection.axis_values):
        av = np.asarray(collection.axis_values)
        rows.append(
            (html.escape(collection.axis_label.capitalize()), f"{av.min():.4g} … {av.max():.4g}")
        )
    body = "".join(
        f"<tr><td style='color:#9a9a9a; padding-right:8px'>{k}</td><td>{v}</td></tr>"
        for k, v in rows
    )
    return f"<table cellspacing='1'>{body}</table>"


class CollectionPanel(QWidget):
    """set_collection(collection); set_selected_image(i); set_message(text).
    Emits imageClicked(i)."""

    imageClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = QLabel(
            "Drop a folder of images, image files or a TIFF stack here, or use File ▸ Open."
        )
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # long paths must not widen the dock: the label wraps or clips instead
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setMinimumHeight(66)
        # "From": a long path is elided in the middle, in full in its tooltip
        self.source_label = ElidedLabel()
        self.source_label.setStyleSheet("color: #9a9a9a;")
        self.source_label.hide()
        self.warnings = QPlainTextEdit()
        self.warnings.setReadOnly(True)
        self.warnings.setMaximumHeight(90)
        self.warnings.setPlaceholderText("No warnings.")
        self.warnings.setStyleSheet("QPlainTextEdit { color: #f0c060; }")
        self.model = ThumbnailModel(self)
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setUniformItemSizes(True)
        self.list.setLayoutMode(QListView.LayoutMode.Batched)
        self.list.setBatchSize(200)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 10, THUMB + 22))
        self.list.setSpacing(2)
        self.list.clicked.connect(lambda index: self.imageClicked.emit(index.row()))
        self.list.activated.connect(lambda index: self.imageClicked.emit(index.row()))

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.summary)
        top_layout.addWidget(self.source_label)
        top_layout.addWidget(self.warnings)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.list)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.warnings.hide()

    def set_collection(self, collection) -> None:
        self.summary.setText(describe(collection))
        source = sources_text(collection)
        self.source_label.setFullText(f"From {source}" if source else "")
        self.source_label.setToolTip(source)
        self.source_label.setVisible(bool(source))
        self.set_warnings(collection.warnings)
        self.model.set_images(collection.images, collection.names)
        if collection.n_images:
            self.set_selected_image(0)

    def set_warnings(self, warnings) -> None:
        self.warnings.setPlainText("\n".join(f"• {w}" for w in warnings))
        self.warnings.setVisible(bool(warnings))

    def set_message(self, text: str) -> None:
        """Show a plain-words message (e.g. why loading failed) above the thumbnails."""
        self.set_warnings([text] if text else [])

    def set_selected_image(self, index: int) -> None:
        idx = self.model.index(int(index), 0)
        if idx.isValid():
            self.list.setCurrentIndex(idx)
            self.list.scrollTo(idx)
