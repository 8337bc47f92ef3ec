"""Small helpers shared by the views: colormaps, scaling to 8 bits, QImage from numpy."""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy

#: colormaps offered for images: name shown -> pyqtgraph colormap name (None = gray)
COLORMAPS = MappingProxyType(
    {"gray": None, "viridis": "viridis", "magma": "magma", "inferno": "inferno"}
)
DEFAULT_COLORMAP = "viridis"
#: diverging colormap for residuals (blue - white - red)
DIVERGING = "CET-D1"

ACCENT = QColor(255, 170, 0)  # selection highlight
BACKGROUND = QColor(30, 30, 34)  # plot / montage background


def lookup_table(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB table for a colormap name from COLORMAPS (or a pyqtgraph name)."""
    pg_name = COLORMAPS.get(name, name)
    if pg_name is None:
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp, ramp, ramp], axis=1)
    return pg.colormap.get(pg_name).getLookupTable(nPts=256, alpha=False)


def to_uint8(image: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Scale ``image`` (any shape, finite) so lo -> 0 and hi -> 255 (own min/max by default)."""
    a = np.asarray(image, dtype=np.float32)
    if a.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo = float(a.min()) if lo is None else lo
    hi = float(a.max()) if hi is None else hi
    span = hi - lo
    if not span > 0:
        return np.zeros(a.shape, np.uint8)
    scaled = (a - lo) * (255.0 / span) + 0.5  # round to nearest
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)


def gray_qimage(image8: np.ndarray) -> QImage:
    """A QImage (owning a copy) of a (h, w) uint8 array."""
    a = np.ascontiguousarray(image8, dtype=np.uint8)
    h, w = a.shape
    return QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def rgb_qimage(rgb: np.ndarray) -> QImage:
    """A QImage (owning a copy) of a (h, w, 3) uint8 array."""
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = a.shape
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def thumbnail_pixmap(image: np.ndarray, size: int) -> QPixmap:
    """A pixmap of ``image`` (h, w), or (h, w, 3) colour with its channels scaled
    together, with its own contrast, fitted into size x size."""
    from PySide6.QtCore import Qt

    qimg = rgb_qimage(to_uint8(image)) if image.ndim == 3 else gray_qimage(to_uint8(image))
    scaled = qimg.scaled(
        size,
        size,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.FastTransformation
        if max(image.shape) < size
        else Qt.TransformationMode.SmoothTransformation,
    )
    return QPixmap.fromImage(scaled)


def range_top(current: float | None, needed: float, *, headroom: float = 1.15) -> float | None:
    """The top of a [0, top] axis range that shows ``needed`` (the data's maximum), or
    None to keep ``current``: the range only moves when the data leaves it or shrinks
    below half of it, so that a live plot does not re-tick its axis on every update."""
    if not math.isfinite(needed) or needed <= 0:
        needed = 1.0
    if current is not None and 0.5 * current <= needed <= current:
        return None
    return needed * headroom


def log_range(
    current: tuple[float, float] | None, lo: float, hi: float
) -> tuple[float, float] | None:
    """A log10 axis range [a, b] holding the data's [lo, hi] (log10 values), or None
    to keep ``current``: as :func:`range_top`, it moves only when the data leaves it or
    fills less than half of it; a new range has room below (a falling loss)."""
    span = max(hi - lo, 0.05)
    if current is not None:
        a, b = current
        if a <= lo and hi <= b and (b - a) <= 2 * span + 0.3:
            return None
    return lo - 0.3 * span - 0.05, hi + 0.05 * span + 0.05


def set_text_once(cache: dict, key: object, text: str, apply) -> None:
    """``apply(text)`` unless ``text`` is what was applied last for ``key``: a plot's
    title or axis label set to the same text re-lays out and repaints the plot."""
    if cache.get(key) != text:
        cache[key] = text
        apply(text)


def grid_columns(n_tiles: int, tile_hw: tuple[int, int], area_wh: tuple[float, float]) -> int:
    """Number of columns that makes ``n_tiles`` tiles of shape (h, w) largest in the area (w, h)."""
    if n_tiles <= 0:
        return 1
    th, tw = tile_hw
    aw, ah = max(area_wh[0], 1.0), max(area_wh[1], 1.0)
    best, best_scale = 1, -1.0
    for cols in range(1, n_tiles + 1):
        rows = math.ceil(n_tiles / cols)
        scale = min(aw / (cols * tw * 1.08), ah / (rows * th * 1.08))
        if scale > best_scale * 1.0001:
            best, best_scale = cols, scale
    return best


#: qualitative colours for image labels (Okabe-Ito, readable on the dark background)
LABEL_PALETTE = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (200, 200, 200),
)


def label_colors(n: int) -> list[tuple[int, int, int]]:
    """n colours for n labels: the palette, then evenly spaced hues beyond it."""
    if n <= len(LABEL_PALETTE):
        return list(LABEL_PALETTE[: max(n, 0)])
    out = list(LABEL_PALETTE)
    for i in range(n - len(LABEL_PALETTE)):
        c = QColor.fromHsvF((i * 0.618034) % 1.0, 0.55, 0.95)
        out.append((c.red(), c.green(), c.blue()))
    return out


class ElidedLabel(QLabel):
    """One line of plain text elided in the middle to the width it gets (a long path
    keeps its start and its end); the full text is the tooltip."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setFullText(text)

    def setFullText(self, text: str) -> None:  # Qt naming
        self._full = text
        self.setToolTip(text)
        self._elide()

    def fullText(self) -> str:  # Qt naming
        return self._full

    def _elide(self) -> None:
        width = max(self.width(), 40)
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, width))

    def resizeEvent(self, event) -> None:  # Qt API
        super().resizeEvent(event)
        self._elide()
