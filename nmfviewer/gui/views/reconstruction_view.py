"""Reconstruction view: original, W·H reconstruction and residual of one image,
side by side, plus the top-weighted images of the selected component.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .common import BACKGROUND, DIVERGING, thumbnail_pixmap

N_TOP = 12
TOP_ICON = 52


def weighted_sum(w: np.ndarray, H: np.ndarray) -> np.ndarray:
    """w (k,) @ H (k, m) without BLAS: the GUI thread must not queue behind the
    solver's matrix products for the BLAS lock."""
    out = np.zeros(H.shape[1], dtype=np.float32)
    for j in np.flatnonzero(w):
        out += np.float32(w[j]) * H[j]
    return out


class ReconstructionView(QWidget):
    """set_images(images (n, h, w), names); set_factors(W (n, k), H (k, h*w));
    set_selected_image(i); set_selected_component(j). Emits imageClicked(i)."""

    imageClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._images: np.ndarray | None = None
        self._names: tuple[str, ...] = ()
        self._W: np.ndarray | None = None
        self._H: np.ndarray | None = None
        self._image = 0
        self._noun = "image"
        self._component: int | None = None

        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.canvas = QWidget()
        row = QHBoxLayout(self.canvas)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self._items = {}
        for key, caption in (("original", "Original"), ("reconstruction", "Reconstruction W·H"),
                             ("residual", "Residual X − W·H")):
            view = pg.GraphicsLayoutWidget()  # one per image: the row gives each equal width
            view.setBackground(BACKGROUND)
            view.addLabel(caption, row=0, col=0, size="9pt")
            vb = view.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMenu=False)
            item = pg.ImageItem(axisOrder="row-major")
            vb.addItem(item)
            self._items[key] = (vb, item)
            row.addWidget(view, 1)
        self._items["residual"][1].setColorMap(pg.colormap.get(DIVERGING))
        self._shown_shape: tuple[int, int] | None = None

        self.top_label = QLabel("Click a basis tile to see the images that use it most.")
        self.top_label.setTextFormat(Qt.TextFormat.RichText)
        self.top_label.setWordWrap(True)
        self.top_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.top_list = QListWidget()
        self.top_list.setViewMode(QListView.ViewMode.IconMode)
        self.top_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.top_list.setIconSize(QSize(TOP_ICON, TOP_ICON))
        self.top_list.setGridSize(QSize(TOP_ICON + 12, TOP_ICON + 24))
        self.top_list.setMovement(QListView.Movement.Static)
        self.top_list.setUniformItemSizes(True)
        self.top_list.setMinimumWidth(TOP_ICON + 40)
        self.top_list.itemClicked.connect(
            lambda item: self.imageClicked.emit(int(item.data(Qt.ItemDataRole.UserRole))))
        side = QWidget()
        side.setMinimumWidth(TOP_ICON + 40)
        side.setMaximumWidth(4 * (TOP_ICON + 12) + 24)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.top_label)
        side_layout.addWidget(self.top_list, 1)

        left = QVBoxLayout()
        left.setSpacing(2)
        left.addWidget(self.title)
        left.addWidget(self.canvas, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(8)
        layout.addLayout(left, 1)
        layout.addWidget(side)
        self._refresh_title()

    # -- public API ------------------------------------------------------------
    def set_images(self, images: np.ndarray, names: tuple[str, ...], noun: str = "image") -> None:
        """images: (n, h, w) float32, the collection; noun: 'image' or 'band'."""
        self._noun = noun
        self._images = images
        self._names = tuple(names)
        self._image = 0
        self._component = None
        self.clear_factors()

    def clear_factors(self) -> None:
        self._W = self._H = None
        self.top_list.clear()
        self.top_label.setText("Click a basis tile to see the images that use it most.")
        self._redraw()

    def set_factors(self, W: np.ndarray, H: np.ndarray) -> None:
        """W: (n, k) weights, H: (k, h*w) basis (snapshots; never written)."""
        self._W, self._H = W, H
        self._redraw()
        if self._component is not None:
            self._fill_top()

    def set_selected_image(self, index: int) -> None:
        self._image = int(index)
        self._redraw()

    def set_selected_component(self, component: int) -> None:
        self._component = int(component)
        self._fill_top()

    def top_images(self, component: int, count: int = N_TOP) -> np.ndarray:
        """Indices of the images with the largest weight on ``component``, largest first."""
        w = np.asarray(self._W[:, component])
        count = min(count, w.size)
        top = np.argpartition(-w, count - 1)[:count]
        return top[np.argsort(-w[top], kind="stable")]

    # -- drawing ---------------------------------------------------------------
    def _refresh_title(self, extra: str = "") -> None:
        if self._images is None:
            self.title.setText("No collection loaded")
            return
        name = html.escape(self._names[self._image]) if self._image < len(self._names) else ""
        self.title.setText(f"{self._noun.capitalize()} <b>{self._image}</b> — {name}{extra}")

    def _redraw(self) -> None:
        if self._images is None or not len(self._images):
            self._refresh_title()
            return
        self._image = min(self._image, len(self._images) - 1)
        original = self._images[self._image]
        lo, hi = float(original.min()), float(original.max())
        levels = (lo, hi if hi > lo else lo + 1)
        self._items["original"][1].setImage(original, autoLevels=False, levels=levels)
        if original.shape != self._shown_shape:  # new collection: fit the images to the views
            self._shown_shape = original.shape
            for vb, _item in self._items.values():
                vb.setRange(QRectF(0, 0, original.shape[1], original.shape[0]), padding=0.02)
        if self._W is None or self._H is None or self._W.shape[0] != len(self._images):
            self._items["reconstruction"][1].clear()
            self._items["residual"][1].clear()
            self._refresh_title()
            return
        recon = weighted_sum(self._W[self._image], self._H).reshape(original.shape)
        residual = original - recon
        bound = float(np.abs(residual).max()) or 1.0
        self._items["reconstruction"][1].setImage(recon, autoLevels=False, levels=levels)
        self._items["residual"][1].setImage(residual, autoLevels=False, levels=(-bound, bound))
        norm = float(np.linalg.norm(original))
        rel = float(np.linalg.norm(residual)) / norm if norm > 0 else 0.0
        self._refresh_title(f" · relative error ‖x − Wh‖/‖x‖ = <b>{rel:.3f}</b>")

    def _fill_top(self) -> None:
        if self._W is None or self._images is None or self._component is None:
            return
        if not 0 <= self._component < self._W.shape[1]:
            return
        j = self._component
        self.top_label.setText(f"Top {self._noun}s of component <b>{j}</b> (weight):")
        top = self.top_images(j)
        if self.top_list.count() == len(top) and all(
                self.top_list.item(r).data(Qt.ItemDataRole.UserRole) == int(i)
                for r, i in enumerate(top)):
            for r, i in enumerate(top):  # same images: only the weights change
                self.top_list.item(r).setText(f"{self._W[i, j]:.3g}")
            return
        self.top_list.clear()
        for i in top:
            item = QListWidgetItem(QIcon(thumbnail_pixmap(self._images[i], TOP_ICON)),
                                   f"{self._W[i, j]:.3g}")
            item.setData(Qt.ItemDataRole.UserRole, int(i))
            item.setToolTip(f"{i}: {self._names[i]} (weight {self._W[i, j]:.4g})")
            self.top_list.addItem(item)
