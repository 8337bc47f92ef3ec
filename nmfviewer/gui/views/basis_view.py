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
from PySide6.QtGui import QBrush, QColor, QCursor, QFontMetricsF, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsItem,
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


class TileNumbers(QGraphicsItem):
    """The tiles' numbers as badges at their top-left corners, in one item.

    White on an opaque dark badge with a light rim: readable on any tile,
    saturated yellow included. The badges keep their size on screen whatever the
    zoom (drawn in device pixels). One item painting k badges instead of k text
    items: laying out a new k costs nothing, which kept the first frame of a run
    from stalling the window (32 text items took ~50 ms to create).
    """

    def __init__(self):
        super().__init__()
        self._corners: list[QPointF] = []
        self._bounds = QRectF()
        self._fill = QBrush(QColor(0, 0, 0, 210))
        self._fills: list[QBrush] = []
        self._texts: list[str] = []  # per badge; its number when missing
        self._rim = QPen(QColor(255, 255, 255, 110))
        self._rim.setCosmetic(True)
        self._text = QPen(QColor(255, 255, 255))

    def set_corners(
        self,
        corners: list[QPointF],
        bounds: QRectF,
        colors: list[tuple[int, int, int]] | None = None,
    ) -> None:
        """corners: each tile's top-left (view coordinates); bounds: the montage, with
        room for the badges of the last row and column; colors: a badge fill per
        component (cycled), dark by default."""
        self.prepareGeometryChange()
        self._corners, self._bounds = list(corners), QRectF(bounds)
        self._fills = [QBrush(QColor(*c, 210)) for c in colors] if colors else []
        self.update()

    def set_texts(self, texts: list[str]) -> None:
        """The badges' texts (e.g. '3 0.98'); badges beyond them show their number."""
        self._texts = list(texts)
        self.update()

    @property
    def count(self) -> int:
        return len(self._corners)

    def boundingRect(self) -> QRectF:  # Qt API
        return self._bounds

    def paint(self, painter, option, widget=None) -> None:  # Qt API
        if not self._corners:
            return
        to_device = painter.transform()
        painter.save()
        painter.resetTransform()
        metrics = QFontMetricsF(painter.font())
        height = metrics.height() + 2
        for j, corner in enumerate(self._corners):
            text = self._texts[j] if j < len(self._texts) else str(j)
            at = to_device.map(corner)
            box = QRectF(at.x(), at.y(), metrics.horizontalAdvance(text) + 6, height)
            painter.setPen(self._rim)
            painter.setBrush(self._fills[j % len(self._fills)] if self._fills else self._fill)
            painter.drawRect(box)
            painter.setPen(self._text)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


class BasisGrid(pg.GraphicsLayoutWidget):
    """Shows H (k, h*w) as k tiles of shape (h, w).

    Signals: componentClicked(j) on a left click; saveRequested(j) from the
    tile's context menu ("Save basis image as PNG...").
    """

    componentClicked = Signal(int)
    saveRequested = Signal(int)
    #: flat pixel index (row * w + col of the full basis image) under a left click
    pixelClicked = Signal(int)

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
        self._numbers = TileNumbers()
        self._numbers.setZValue(5)
        self._vb.addItem(self._numbers, ignoreBounds=True)
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
        self._channels = 1  # 3: colour basis images
        self._badge_colors: list[tuple[int, int, int]] | None = None
        self._shared = False  # one scale for all tiles (abundance maps compared)
        self._levels: tuple[float, float] | None = None  # the shared scale's (min, max)
        self._colorbar: pg.ColorBarItem | None = None
        self._menu_target = -1
        self.scene().sigMouseClicked.connect(self._on_click)
        self.scene().sigMouseMoved.connect(self._on_hover)
        self._hovered: int | None = None
        self.setToolTip(
            "Basis images (rows of H). Click a tile to see its top-weighted "
            "images; right-click to save it as PNG."
        )

    # -- public API ------------------------------------------------------------
    def set_basis(self, H: np.ndarray, image_shape: tuple[int, ...]) -> None:
        """H: (k, h*w) non-negative basis; image_shape: (h, w), or (h, w, 3) for a
        colour collection (H then (k, h*w*3): tiles in colour, channels scaled together)."""
        H = np.asarray(H)
        relayout = (
            self._H is None
            or H.shape[0] != self._H.shape[0]
            or tuple(image_shape) != self._full_shape
        )
        self._H = H
        self._channels = int(image_shape[2]) if len(image_shape) > 2 else 1
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
        self._numbers.set_corners([], QRectF())
        self._hint.setText(hint)
        self._hint.setPos(0, 0)
        self._hint.show()
        self._vb.setRange(QRectF(-1, -1, 2, 2), padding=0)
        self._vb.updateMatrix()

    def set_notes(self, notes) -> None:
        """A short text after each tile's number (e.g. its matched cosine); () for none."""
        notes = tuple(notes)
        if notes != self._notes:  # called on every update: repaint only on a change
            self._notes = notes
            self._numbers.set_texts([self._label_text(j) for j in range(len(notes))])

    def badge_texts(self) -> list[str]:
        """The text on each tile's badge, in tile order (number, then its note)."""
        return [self._label_text(j) for j in range(self._numbers.count)]

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

    def set_component_colors(self, colors: list[tuple[int, int, int]] | None) -> None:
        """Colour the number badges (one RGB per component, cycling), as the pixel
        spectrum view and spectra.png draw the components; None: black badges."""
        self._badge_colors = colors
        if self._H is not None:
            self._layout()

    def set_shared_scale(self, shared: bool) -> None:
        """One value scale for every tile, with a colour bar (True), or each tile
        stretched to its own range (False, the default)."""
        self._shared = bool(shared)
        if not self._shared and self._colorbar is not None:
            self.ci.removeItem(self._colorbar)
            self._colorbar = None
        if self._H is not None:
            self._render()

    @property
    def shared_levels(self) -> tuple[float, float] | None:
        """(min, max) of the shared scale as drawn, or None when tiles have their own."""
        return self._levels if self._shared else None

    def set_selected(self, component: int | None) -> None:
        self._selected = component
        self._place_selection()

    @property
    def numbers_shown(self) -> int:
        """Tiles that carry their number (none above MAX_LABELS tiles)."""
        return self._numbers.count

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
        corners: list[QPointF] = []
        if k <= MAX_LABELS:
            corners = [self.tile_rect(j).topLeft() for j in range(k)]
        h, w = self._shape
        rows = math.ceil(k / max(self._cols, 1))
        g = self._gap
        # the montage, and a tile more to the right and below for the last badges
        bounds = QRectF(0, 0, g + (self._cols + 1) * (w + g), g + (rows + 1) * (h + g))
        self._numbers.set_corners(corners, bounds, self._badge_colors)

    def _render(self) -> None:
        H, (h, w) = self._H, self._shape
        k, cols, g = H.shape[0], max(self._cols, 1), self._gap
        rows = math.ceil(k / cols)
        fh, fw = self._full_shape
        colour = self._channels == 3
        full = (k, fh, fw, 3) if colour else (k, fh, fw)
        tiles = np.asarray(H).reshape(full)[:, :: self._step, :: self._step]
        tiles = np.asarray(tiles, dtype=np.float32)
        axes = (1, 2, 3) if colour else (1, 2)  # colour: r, g, b scaled together
        if self._shared:  # one scale: tiles compare with each other
            lo = np.full((1,) * tiles.ndim, float(tiles.min()), np.float32)
            span = np.full((1,) * tiles.ndim, float(tiles.max()) - float(lo.min()), np.float32)
        else:
            lo = tiles.min(axis=axes, keepdims=True)
            span = tiles.max(axis=axes, keepdims=True) - lo
        span[span <= 0] = 1.0
        self._levels = (float(lo.min()), float((lo + span).max()))
        index = ((tiles - lo) * (255.0 / span) + 0.5).clip(0, 255).astype(np.uint8)
        rgb = index if colour else self._lut[index]  # (k, h, w, 3)
        canvas = np.empty((g + rows * (h + g), g + cols * (w + g), 3), np.uint8)
        canvas[:] = (BACKGROUND.red(), BACKGROUND.green(), BACKGROUND.blue())
        for j in range(k):
            r, c = divmod(j, cols)
            y, x = g + r * (h + g), g + c * (w + g)
            canvas[y : y + h, x : x + w] = rgb[j]
        first = self._image.image is None or self._image.image.shape != canvas.shape
        self._image.setImage(canvas, autoLevels=False, levels=(0, 255))
        self._update_colorbar()
        if first:
            self._vb.setRange(QRectF(0, 0, canvas.shape[1], canvas.shape[0]), padding=0.01)
            self._vb.updateMatrix()  # apply now: a grab() may come before the next paint
        self._place_selection()

    def _update_colorbar(self) -> None:
        if not self._shared or self._levels is None:
            return
        cmap = pg.ColorMap(np.linspace(0, 1, len(self._lut)), self._lut)
        if self._colorbar is None:
            self._colorbar = pg.ColorBarItem(
                values=self._levels, colorMap=cmap, interactive=False, width=14
            )
            self._colorbar.getAxis("right").enableAutoSIPrefix(False)
            self.ci.addItem(self._colorbar, row=0, col=1)
        else:
            self._colorbar.setColorMap(cmap)
        self._colorbar.setLevels(self._levels)

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

    def pixel_at(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        """(component, row, col) under a scene position, in full-image pixels, or None."""
        j = self.component_at(scene_pos)
        if j is None or self._full_shape is None:
            return None
        p = self._vb.mapSceneToView(scene_pos)
        r = self.tile_rect(j)
        h, w = self._full_shape
        row = min(h - 1, max(0, int((p.y() - r.top()) * self._step)))
        col = min(w - 1, max(0, int((p.x() - r.left()) * self._step)))
        return j, row, col

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
            hit = self.pixel_at(event.scenePos())
            if hit is not None and self._full_shape is not None:
                self.pixelClicked.emit(hit[1] * self._full_shape[1] + hit[2])
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
        self.shared_scale = QCheckBox("one scale")
        self.shared_scale.setToolTip(
            "Draw every basis image (abundance map) on one shared value scale, with a "
            "colour bar, so that they compare; off: each tile has its own contrast"
        )
        self.shared_scale.checkStateChanged.connect(
            lambda _s: self.grid.set_shared_scale(self.shared_scale.isChecked())
        )
        header.addWidget(self.shared_scale)
        header.addWidget(QLabel("colormap"))
        header.addWidget(self.colormap_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.grid, 1)
