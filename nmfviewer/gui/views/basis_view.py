"""Basis grid: one tile per component, each with its own contrast.

All tiles are drawn into one RGB montage shown by a single pyqtgraph
ImageItem: one texture upload per update however large k is. Tiles keep the
component order (component j is always tile j), so nothing jumps between
updates; the number of columns only changes when the widget is resized.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QCursor, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from .common import (
    ACCENT,
    BACKGROUND,
    COLORMAPS,
    DEFAULT_COLORMAP,
    grid_columns,
    lookup_table,
)

MAX_LABELS = 144  # above this many tiles, numbers would only clutter the grid
MAX_TILE = 160  # tiles larger than this are shown subsampled (display only; exports are full)


class BasisGrid(pg.GraphicsLayoutWidget):
    """Shows H (k, h*w) as k tiles of shape (h, w).

    Signals: componentClicked(j) on a left click; saveRequested(j) from the
    tile's context menu ("Save basis image as PNG...").
    """

    componentClicked = Signal(int)
    saveRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.ci.setContentsMargins(4, 4, 4, 4)
        self._vb = self.addViewBox(
            lockAspect=True, enableMouse=False, invertY=True, enableMenu=False
        )
        self._image = pg.ImageItem(axisOrder="row-major")
        self._vb.addItem(self._image)
        self._selection = QGraphicsRectItem()
        pen = QPen(ACCENT)
        pen.setCosmetic(True)
        pen.setWidth(3)
        self._selection.setPen(pen)
        self._selection.setZValue(10)
        self._selection.hide()
        self._vb.addItem(self._selection, ignoreBounds=True)
        self._hint = pg.TextItem(
            "Press Run to compute the basis images", color=(200, 200, 200), anchor=(0.5, 0.5)
        )
        self._vb.addItem(self._hint, ignoreBounds=True)
        self._labels: list[pg.TextItem] = []
        self._notes: tuple[str, ...] = ()  # per tile, after its number (set_notes)
        self._H: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None  # tile shape as drawn
        self._full_shape: tuple[int, int] | None = None  # basis image shape
        self._step = 1
        self._cols = 0
        self._gap = 1
        self._cmap = DEFAULT_COLORMAP
        self._lut = lookup_table(self._cmap)
        self._selected: int | None = None
        self._menu_target = -1
        self.scene().sigMouseClicked.connect(self._on_click)
        self.scene().sigMouseMoved.connect(self._on_hover)
        self._hovered: int | None = None
        self.setToolTip(
            "Basis images (rows of H). Click a tile to see its top-weighted "
            "images; right-click to save it as PNG."
        )

    # -- public API ------------------------------------------------------------
    def set_basis(self, H: np.ndarray, image_shape: tuple[int, int]) -> None:
        """H: (k, h*w) non-negative basis; image_shape: (h, w)."""
        H = np.asarray(H)
        relayout = (
            self._H is None
            or H.shape[0] != self._H.shape[0]
            or tuple(image_shape) != self._full_shape
        )
        self._H = H
        self._full_shape = (int(image_shape[0]), int(image_shape[1]))
        self._step = max(1, -(-max(self._full_shape) // MAX_TILE))  # ceil division
        h, w = self._full_shape
        self._shape = (len(range(0, h, self._step)), len(range(0, w, self._step)))
        self._hint.hide()
        if relayout:
            self._layout()
        self._render()

    def reset(self, hint: str = "Press Run to compute the basis images") -> None:
        self._H = None
        self._image.clear()
        self._selection.hide()
        for label in self._labels:
            self._vb.removeItem(label)
        self._labels = []
        self._hint.setText(hint)
        self._hint.setPos(0, 0)
        self._hint.show()
        self._vb.setRange(QRectF(-1, -1, 2, 2), padding=0)
        self._vb.updateMatrix()

    def set_notes(self, notes) -> None:
        """A short text after each tile's number (e.g. its matched cosine); () for none."""
        self._notes = tuple(notes)
        for j, label in enumerate(self._labels):
            label.setText(self._label_text(j))

    def _label_text(self, j: int) -> str:
        note = self._notes[j] if j < len(self._notes) else ""
        return f"{j} {note}" if note else str(j)

    def set_colormap(self, name: str) -> None:
        self._cmap = name
        self._lut = lookup_table(name)
        if self._H is not None:
            self._render()

    @property
    def colormap(self) -> str:
        return self._cmap

    def set_selected(self, component: int | None) -> None:
        self._selected = component
        self._place_selection()

    @property
    def n_tiles(self) -> int:
        return 0 if self._H is None else self._H.shape[0]

    def tile_rect(self, j: int) -> QRectF:
        """The tile's rectangle in image (montage) coordinates."""
        h, w = self._shape or (1, 1)
        row, col = divmod(j, max(self._cols, 1))
        g = self._gap
        return QRectF(g + col * (w + g), g + row * (h + g), w, h)

    def montage(self) -> np.ndarray | None:
        """The RGB montage currently shown, (H, W, 3) uint8 (for tests and export)."""
        return self._image.image

    # -- layout and drawing ------------------------------------------------------
    def _layout(self) -> None:
        if self._H is None or self._shape is None:
            return
        k = self._H.shape[0]
        size = self._vb.size() if self._vb.size().width() > 10 else self.size()
        self._cols = grid_columns(k, self._shape, (size.width(), size.height()))
        self._gap = max(1, round(0.06 * max(self._shape)))
        for label in self._labels:
            self._vb.removeItem(label)
        self._labels = []
        if k <= MAX_LABELS:
            for j in range(k):
                # white on an opaque dark badge with a light rim: readable on any tile,
                # saturated yellow included
                label = pg.TextItem(
                    self._label_text(j),
                    color=(255, 255, 255),
                    anchor=(0, 0),
                    fill=pg.mkBrush(0, 0, 0, 210),
                    border=pg.mkPen(255, 255, 255, 110),
                )
                label.setPos(self.tile_rect(j).topLeft())
                self._vb.addItem(label, ignoreBounds=True)
                self._labels.append(label)

    def _render(self) -> None:
        H, (h, w) = self._H, self._shape
        k, cols, g = H.shape[0], max(self._cols, 1), self._gap
        rows = math.ceil(k / cols)
        fh, fw = self._full_shape
        tiles = np.asarray(H).reshape(k, fh, fw)[:, :: self._step, :: self._step]
        tiles = np.asarray(tiles, dtype=np.float32)
        lo = tiles.min(axis=(1, 2), keepdims=True)
        span = tiles.max(axis=(1, 2), keepdims=True) - lo
        span[span <= 0] = 1.0
        index = ((tiles - lo) * (255.0 / span) + 0.5).clip(0, 255).astype(np.uint8)
        rgb = self._lut[index]  # (k, h, w, 3)
        canvas = np.empty((g + rows * (h + g), g + cols * (w + g), 3), np.uint8)
        canvas[:] = (BACKGROUND.red(), BACKGROUND.green(), BACKGROUND.blue())
        for j in range(k):
            r, c = divmod(j, cols)
            y, x = g + r * (h + g), g + c * (w + g)
            canvas[y : y + h, x : x + w] = rgb[j]
        first = self._image.image is None or self._image.image.shape != canvas.shape
        self._image.setImage(canvas, autoLevels=False, levels=(0, 255))
        if first:
            self._vb.setRange(QRectF(0, 0, canvas.shape[1], canvas.shape[0]), padding=0.01)
            self._vb.updateMatrix()  # apply now: a grab() may come before the next paint
        self._place_selection()

    def _place_selection(self) -> None:
        j = self._selected
        if self._H is None or j is None or not 0 <= j < self._H.shape[0]:
            self._selection.hide()
            return
        r = self.tile_rect(j)
        self._selection.setRect(r.adjusted(-0.5, -0.5, 0.5, 0.5))
        self._selection.show()

    def resizeEvent(self, event) -> None:  # Qt API
        super().resizeEvent(event)
        # also called from the base __init__, and from close() after the scene is gone
        if getattr(self, "_H", None) is not None and not getattr(self, "closed", False):
            cols = self._cols
            self._layout()
            if self._cols != cols:
                self._render()

    # -- mouse -----------------------------------------------------------------
    def component_at(self, scene_pos: QPointF) -> int | None:
        """Component index under a scene position, or None."""
        if self._H is None or self._shape is None:
            return None
        p = self._vb.mapSceneToView(scene_pos)
        h, w = self._shape
        g = self._gap
        col = math.floor((p.x() - g) / (w + g))
        row = math.floor((p.y() - g) / (h + g))
        if col < 0 or row < 0 or col >= self._cols:
            return None
        j = row * self._cols + col
        if j >= self._H.shape[0] or not self.tile_rect(j).contains(p):
            return None
        return j

    def _on_hover(self, scene_pos) -> None:
        j = self.component_at(scene_pos)
        if j == self._hovered:
            return
        self._hovered = j
        if j is None:
            QToolTip.hideText()
            return
        h = self._H[j]
        QToolTip.showText(
            QCursor.pos(),
            f"component {j} · values {float(h.min()):.3g} … "
            f"{float(h.max()):.3g}\nclick: top images · right-click: save PNG",
            self,
        )

    def _on_click(self, event) -> None:
        j = self.component_at(event.scenePos())
        if j is None:
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self.set_selected(j)
            self.componentClicked.emit(j)
        elif event.button() == Qt.MouseButton.RightButton:
            event.accept()
            self._menu_target = j
            menu = QMenu(self)
            menu.addAction(f"Save basis image {j} as PNG…", lambda: self.saveRequested.emit(j))
            menu.addAction(
                f"Show top images of component {j}",
                lambda: (self.set_selected(j), self.componentClicked.emit(j)),
            )
            menu.popup(event.screenPos().toPoint())


class BasisPanel(QWidget):
    """The basis grid under a header: title (k, iteration) and colormap choice."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid = BasisGrid()
        self.title = QLabel("<b>Basis images</b> (rows of H)")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.colormap_box = QComboBox()
        self.colormap_box.addItems(list(COLORMAPS))
        self.colormap_box.setCurrentText(DEFAULT_COLORMAP)
        self.colormap_box.setToolTip("Colormap of the basis tiles (each tile has its own contrast)")
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(QLabel("colormap"))
        header.addWidget(self.colormap_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.grid, 1)
