"""Regions drawn on an image to exclude from the fit: rectangles and polygons
(pyqtgraph ROIs) over a pyqtgraph ViewBox showing one (h, w) image, plus an
overlay of what is excluded (red) and of the collection's own mask (blue).

``excluded()`` is the (h, w) bool array of the pixels inside any region (a pixel
is inside when its centre is); the window turns it into a column Mask. The array
is recomputed when a region is added, moved or reshaped (O(h * w), on a user's
edit only, never per fit update).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget
from skimage.draw import polygon2mask

EXCLUDED_RGBA = (230, 60, 60, 120)
OWN_MASK_RGBA = (60, 120, 230, 110)
ROI_PEN = (255, 110, 110)


class MaskTool(QObject):
    """Exclusion regions on ``viewbox`` (image coordinates: x = column, y = row)."""

    changed = Signal()  # the excluded pixels changed

    def __init__(self, viewbox: pg.ViewBox, parent=None):
        super().__init__(parent)
        self._vb = viewbox
        self._shape: tuple[int, int] | None = None
        self._rois: list[pg.ROI] = []
        self._excluded: np.ndarray | None = None
        self._own: np.ndarray | None = None  # (h, w) bool: hidden by the collection's mask
        self._overlay = pg.ImageItem(axisOrder="row-major")
        self._overlay.setZValue(5)
        self._vb.addItem(self._overlay)

    # -- public API ------------------------------------------------------------
    def set_shape(self, shape: tuple[int, int]) -> None:
        """A new collection of (h, w) images: the regions go."""
        self.clear(notify=False)
        self._shape = (int(shape[0]), int(shape[1]))
        self._own = None
        self._draw_overlay()

    def set_own_mask(self, hidden: np.ndarray | None) -> None:
        """(h, w) bool pixels the collection's own mask hides (shown in blue), or None."""
        self._own = None if hidden is None else np.asarray(hidden, dtype=bool)
        self._draw_overlay()

    def add_rectangle(self, rect: tuple[float, float, float, float] | None = None) -> pg.ROI:
        """A rectangle (x, y, width, height) in pixels; default: the middle ninth."""
        h, w = self._shape or (1, 1)
        x, y, rw, rh = rect if rect is not None else (w / 3, h / 3, w / 3, h / 3)
        roi = pg.RectROI((x, y), (rw, rh), pen=pg.mkPen(ROI_PEN, width=2), removable=True)
        return self._add(roi)

    def add_polygon(self, points: list[tuple[float, float]] | None = None) -> pg.ROI:
        """A closed polygon of (x, y) points in pixels (drag its corners; click an
        edge to add one); default: a diamond in the middle."""
        h, w = self._shape or (1, 1)
        if points is None:
            cx, cy, r = w / 2, h / 2, min(h, w) / 5
            points = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
        roi = pg.PolyLineROI(points, closed=True, pen=pg.mkPen(ROI_PEN, width=2), removable=True)
        return self._add(roi)

    def clear(self, *, notify: bool = True) -> None:
        for roi in self._rois:
            self._vb.removeItem(roi)
        self._rois = []
        self._excluded = None
        self._draw_overlay()
        if notify:
            self.changed.emit()

    @property
    def n_regions(self) -> int:
        return len(self._rois)

    def excluded(self) -> np.ndarray | None:
        """(h, w) bool, True inside a region; None without regions."""
        return self._excluded

    # -- internals ---------------------------------------------------------------
    def _add(self, roi: pg.ROI) -> pg.ROI:
        self._vb.addItem(roi)
        roi.setZValue(10)
        self._rois.append(roi)
        roi.sigRegionChangeFinished.connect(self._update)
        roi.sigRemoveRequested.connect(self._remove)
        self._update()
        return roi

    def _remove(self, roi: pg.ROI) -> None:
        if roi in self._rois:
            self._rois.remove(roi)
            self._vb.removeItem(roi)
            self._update()

    def _corners(self, roi: pg.ROI) -> np.ndarray:
        """(p, 2) (row, col) corners of a region in pixel-centre coordinates."""
        if isinstance(roi, pg.PolyLineROI):
            local = [h.pos() for h in roi.getHandles()]
        else:
            sx, sy = roi.size()
            local = [QPointF(0, 0), QPointF(sx, 0), QPointF(sx, sy), QPointF(0, sy)]
        points = [roi.mapToParent(p) for p in local]
        # pixel (r, c) covers [c, c + 1) x [r, r + 1): its centre is (r + 0.5, c + 0.5)
        return np.array([(p.y() - 0.5, p.x() - 0.5) for p in points], dtype=float)

    def _update(self) -> None:
        if self._shape is None or not self._rois:
            self._excluded = None
        else:
            out = np.zeros(self._shape, dtype=bool)
            for roi in self._rois:
                out |= polygon2mask(self._shape, self._corners(roi))
            self._excluded = out
        self._draw_overlay()
        self.changed.emit()

    def _draw_overlay(self) -> None:
        if self._shape is None or (self._excluded is None and self._own is None):
            self._overlay.clear()
            return
        rgba = np.zeros((*self._shape, 4), dtype=np.uint8)
        if self._own is not None and self._own.shape == self._shape:
            rgba[self._own] = OWN_MASK_RGBA
        if self._excluded is not None:
            rgba[self._excluded] = EXCLUDED_RGBA
        self._overlay.setImage(rgba, autoLevels=False, levels=(0, 255))


class MaskBar(QWidget):
    """Buttons for a MaskTool: exclude a rectangle, a polygon, clear; and a summary."""

    def __init__(self, tool: MaskTool, parent=None):
        super().__init__(parent)
        self.tool = tool
        self.rect_button = QToolButton()
        self.rect_button.setText("Rectangle")
        self.rect_button.setToolTip(
            "Draw a rectangle on the original image whose pixels the next fit ignores "
            "(in every image); drag it or its corner to adjust, right-click to remove"
        )
        self.polygon_button = QToolButton()
        self.polygon_button.setText("Polygon")
        self.polygon_button.setToolTip(
            "A polygon whose pixels the next fit ignores: drag its corners, click an edge "
            "to add a corner, right-click to remove"
        )
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear")
        self.clear_button.setToolTip("Remove every exclusion region")
        self.summary = QLabel("")
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.rect_button.clicked.connect(lambda: tool.add_rectangle())
        self.polygon_button.clicked.connect(lambda: tool.add_polygon())
        self.clear_button.clicked.connect(lambda: tool.clear())
        tool.changed.connect(self._refresh)
        # never widen the image dock: the row clips when the dock is narrow
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        title = QLabel("Exclude from the fit:")
        title.setToolTip("Regions of the image whose pixels the next fit ignores (in every image)")
        layout.addWidget(title)
        for button in (self.rect_button, self.polygon_button, self.clear_button):
            layout.addWidget(button)
        layout.addWidget(self.summary, 1)
        self._refresh()

    def _refresh(self) -> None:
        excluded = self.tool.excluded()
        n = 0 if excluded is None else int(np.count_nonzero(excluded))
        self.clear_button.setEnabled(self.tool.n_regions > 0)
        self.summary.setText(
            f"{n} pixel{'s' if n != 1 else ''} excluded from the next fit" if n else ""
        )


def hidden_pixels(mask, image_shape: tuple[int, int]) -> np.ndarray | None:
    """(h, w) bool: the pixels a collection's own Mask hides in every image, or None."""
    if mask is None:
        return None
    hidden = np.zeros(image_shape[0] * image_shape[1], dtype=bool)
    hidden[np.asarray(mask.hidden_columns(), dtype=np.intp)] = True
    return hidden.reshape(image_shape) if hidden.any() else None


def combine_masks(own, excluded: np.ndarray | None, shape: tuple[int, int]):
    """The Mask a fit uses: the collection's own Mask (or None) and the drawn regions
    (excluded: (h, w) bool, True = ignore in every image), for X of ``shape``
    (n_images, n_pixels). None when nothing is masked."""
    from ...core import Mask

    if excluded is None or not excluded.any():
        return own
    # a colour collection's row holds r, g, b per pixel (pixel-major): a region hides all three
    keep = np.repeat(~excluded.reshape(-1), max(1, shape[1] // excluded.size))
    source = "the regions drawn on the image"
    if own is None:
        return Mask.from_array(keep, shape, source=source)
    # both: an entry is used when the collection's mask uses it and no region covers it
    return Mask.from_array(
        own.dense(np.float32) * keep, source=f"the collection's mask and {source}"
    )
