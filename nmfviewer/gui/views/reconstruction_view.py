"""Reconstruction view: original, W·H reconstruction and residual of one image,
side by side, plus the top-weighted images of the selected component.

Per update the view computes one image's reconstruction (one row of W times H,
O(k·m)) and the selected component's top images (O(n)); thumbnails are made
once per image and cached.
"""

from __future__ import annotations

import html
from collections import OrderedDict

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon
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

from .common import BACKGROUND, DIVERGING, label_colors, thumbnail_pixmap

N_TOP = 12
TOP_ICON = 52
ICON_CACHE = 256


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
    #: flat pixel index clicked in the original, reconstruction or residual image
    pixelClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._images: np.ndarray | None = None
        self._names: tuple[str, ...] = ()
        self._W: np.ndarray | None = None
        self._H: np.ndarray | None = None
        self._image = 0
        self._noun = "image"
        self._component: int | None = None
        self._labels: tuple[str, ...] | None = None
        self._label_colour: dict[str, tuple[int, int, int]] = {}
        self._scaled = True  # top-image numbers as weight × basis max (as the weights view)
        self._initial = False
        self._icons: OrderedDict[int, QIcon] = OrderedDict()
        self.thumbnails_rendered = 0  # thumbnails made so far (they are cached)
        self.reconstructions = 0  # reconstructions computed so far

        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.canvas = QWidget()
        row = QHBoxLayout(self.canvas)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self._items = {}
        for key, caption in (
            ("original", "Original"),
            ("reconstruction", "Reconstruction W·H"),
            ("residual", "Residual X − W·H"),
        ):
            view = pg.GraphicsLayoutWidget()  # one per image: the row gives each equal width
            view.setBackground(BACKGROUND)
            view.addLabel(caption, row=0, col=0, size="9pt")
            vb = view.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMenu=False)
            item = pg.ImageItem(axisOrder="row-major")
            vb.addItem(item)
            self._items[key] = (vb, item)
            view.scene().sigMouseClicked.connect(lambda ev, it=item: self._on_pixel_click(ev, it))
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
        self.top_list.setGridSize(QSize(TOP_ICON + 12, TOP_ICON + 38))  # number + label
        self.top_list.setMovement(QListView.Movement.Static)
        self.top_list.setUniformItemSizes(True)
        self.top_list.setMinimumWidth(TOP_ICON + 40)
        self.top_list.itemClicked.connect(
            lambda item: self.imageClicked.emit(int(item.data(Qt.ItemDataRole.UserRole)))
        )
        side = QWidget()
        side.setMinimumWidth(TOP_ICON + 40)
        side.setMaximumWidth(4 * (TOP_ICON + 12) + 24)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.top_label)
        side_layout.addWidget(self.top_list, 1)

        left = QVBoxLayout()
        left.setSpacing(2)
        self._left = left  # add_tool_row puts a row of tools under the title
        left.addWidget(self.title)
        left.addWidget(self.canvas, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(8)
        layout.addLayout(left, 1)
        layout.addWidget(side)
        self._refresh_title()

    # -- public API ------------------------------------------------------------
    @property
    def original_viewbox(self) -> pg.ViewBox:
        """The ViewBox showing the original image (image coordinates: x column, y row)."""
        return self._items["original"][0]

    def add_tool_row(self, widget: QWidget) -> None:
        """Show ``widget`` under the title (e.g. the exclusion-region tools)."""
        self._left.insertWidget(1, widget)

    def set_images(self, images: np.ndarray, names: tuple[str, ...], noun: str = "image") -> None:
        """images: (n, h, w) float32, the collection; noun: 'image' or 'band'."""
        self._noun = noun
        self._images = images
        self._names = tuple(names)
        self._image = 0
        self._component = None
        self._labels = None
        self._label_colour = {}
        self._icons.clear()
        self._shown_shape = None
        self.clear_factors()

    def set_labels(self, labels: tuple[str, ...] | None) -> None:
        """(n,) one label per image ('' = none), or None: shown and coloured in the top list."""
        self._labels = None if labels is None else tuple(labels)
        names = sorted({lab or "(no label)" for lab in labels}) if labels is not None else []
        self._label_colour = dict(zip(names, label_colors(len(names)), strict=True))
        self.top_list.clear()
        self._fill_top()
        self._refresh_title()

    def set_scaled(self, scaled: bool) -> None:
        """Top-image numbers as weight × basis max (True) or raw weights (False)."""
        self._scaled = bool(scaled)
        self._fill_top()

    def clear_factors(self) -> None:
        self._W = self._H = None
        self.top_list.clear()
        self.top_label.setText("Click a basis tile to see the images that use it most.")
        self._redraw()

    def set_factors(self, W: np.ndarray, H: np.ndarray, initial: bool = False) -> None:
        """W: (n, k) weights, H: (k, h*w) basis (snapshots; never written).
        initial: these are the initial factors (shown and labelled as such)."""
        self._W, self._H = W, H
        self._initial = bool(initial)
        self._redraw()
        if self._component is not None:
            self._fill_top()

    def _on_pixel_click(self, event, item) -> None:
        if event.button() != Qt.MouseButton.LeftButton or item.image is None:
            return
        p = item.mapFromScene(event.scenePos())
        h, w = item.image.shape[:2]
        row, col = int(p.y()), int(p.x())
        if 0 <= row < h and 0 <= col < w:
            self.pixelClicked.emit(row * w + col)

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
        if self._labels is not None and self._image < len(self._labels):
            name += f" [{html.escape(self._labels[self._image] or 'no label')}]"
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
        self.reconstructions += 1
        residual = original - recon
        if residual.ndim == 3:  # colour: the residual's mean over r, g, b, on one diverging map
            residual = residual.mean(axis=2)
        bound = float(np.abs(residual).max()) or 1.0
        recon_levels = levels
        note = ""
        if self._initial:
            # the initial factors can be far off the data's scale: show them with
            # their own contrast rather than as a white square, and say so
            rlo, rhi = float(recon.min()), float(recon.max())
            if rhi > levels[1] * 1.05 or rhi < 0.5 * levels[1]:
                recon_levels = (rlo, rhi if rhi > rlo else rlo + 1)
                note = ", reconstruction at its own contrast"
        self._items["reconstruction"][1].setImage(recon, autoLevels=False, levels=recon_levels)
        self._items["residual"][1].setImage(residual, autoLevels=False, levels=(-bound, bound))
        norm = float(np.linalg.norm(original))
        if norm > 0:
            rel = float(np.linalg.norm(residual)) / norm
            error = f"relative error ‖x − Wh‖/‖x‖ = <b>{rel:.3f}</b>"
        else:  # 0/0: an all-zero image has no relative error
            error = "relative error <b>n/a</b> (the image is all zero)"
        when = f" · <i>initial factors</i>{note}" if self._initial else ""
        self._refresh_title(f"{when} · {error}")

    def _icon(self, i: int) -> QIcon:
        icon = self._icons.get(i)
        if icon is None:
            icon = QIcon(thumbnail_pixmap(self._images[i], TOP_ICON))
            self.thumbnails_rendered += 1
            self._icons[i] = icon
            if len(self._icons) > ICON_CACHE:
                self._icons.popitem(last=False)
        else:
            self._icons.move_to_end(i)
        return icon

    def _label_of(self, i: int) -> str | None:
        if self._labels is None or i >= len(self._labels):
            return None
        return self._labels[i] or "(no label)"

    def _fill_top(self) -> None:
        if self._W is None or self._images is None or self._component is None:
            return
        if not 0 <= self._component < self._W.shape[1] or self._W.shape[0] != len(self._images):
            return
        j = self._component
        scale = 1.0
        what = "weight"
        if self._scaled and self._H is not None:
            scale = float(np.max(self._H[j]))  # the weights view's "× basis max"
            what = "weight × basis max"
        self.top_label.setText(f"Top {self._noun}s of component <b>{j}</b> ({what}):")
        top = self.top_images(j)
        values = np.asarray(self._W[top, j], dtype=float) * scale
        same = self.top_list.count() == len(top) and all(
            self.top_list.item(r).data(Qt.ItemDataRole.UserRole) == int(i)
            for r, i in enumerate(top)
        )
        if not same:
            self.top_list.clear()
        for r, (i, value) in enumerate(zip(top, values, strict=True)):
            label = self._label_of(int(i))
            text = f"{value:.3g}" + (f"\n{label}" if label is not None else "")
            tip = (
                f"{i}: {self._names[i]} ({what} {value:.4g}; raw weight "
                f"{float(self._W[i, j]):.4g})" + (f"; label {label}" if label else "")
            )
            if same:  # same images: only the numbers change
                item = self.top_list.item(r)
                item.setText(text)
                item.setToolTip(tip)
                continue
            item = QListWidgetItem(self._icon(int(i)), text)
            item.setData(Qt.ItemDataRole.UserRole, int(i))
            item.setToolTip(tip)
            if label is not None:
                item.setForeground(QBrush(QColor(*self._label_colour.get(label, (220, 220, 220)))))
            self.top_list.addItem(item)
