"""Weights view: the selected image's k weights as bars, and the selected
component's weight across all images as a line.

For a spectral cube the "images" are the bands, so the line is the
component's spectrum, drawn against the collection's axis values (for
example wavelength in nm) when the file provides them.

Drawing cost is bounded whatever the number of images (and per update: titles,
axis labels and ranges are only set when they change, the y ranges with some
headroom, so a live update does not re-tick the axes each time): the line gets per-point
markers only up to MAX_MARKERS images, and above MAX_LINE_POINTS it is drawn
from a min/max envelope (every peak kept) of at most MAX_LINE_POINTS points.
For a large image collection the default order is a sorted profile (weights
from largest to smallest), which reads better than a solid block of points.
Where the collection has labels, the line is coloured by label and can be
grouped by label.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from .common import ACCENT, label_colors, range_top, set_text_once

BAR_COLOR = (90, 160, 230)
#: per-point markers up to this many images (more would be a solid block)
MAX_MARKERS = 300
#: at most this many points are handed to the line plot per update
MAX_LINE_POINTS = 1000
#: image collections larger than this open as a sorted profile
SORTED_ABOVE = 500
ORDERS = (("index", "by index"), ("weight", "sorted"), ("label", "by label"))


def decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` of (x, y): the minimum and the maximum of y in each
    of max_points // 2 consecutive bins, in order (peaks survive). x, y: (p,)."""
    n = len(y)
    if n <= max_points:
        return x, y
    bins = max(max_points // 2, 1)
    size = -(-n // bins)
    padded = np.full(bins * size, np.nan)
    padded[:n] = y
    blocks = padded.reshape(bins, size)
    valid = ~np.all(np.isnan(blocks), axis=1)
    rows = np.flatnonzero(valid)
    lo = np.nanargmin(blocks[valid], axis=1) + rows * size
    hi = np.nanargmax(blocks[valid], axis=1) + rows * size
    keep = np.unique(np.concatenate([lo, hi]))
    return x[keep], y[keep]


class WeightsView(QWidget):
    """set_axis(values, label, names); set_labels(labels); set_weights(W (n, k), basis_max);
    set_selected_image(i); set_selected_component(j). Emits imageClicked(i),
    componentClicked(j) and scaleChanged(bool) ("× basis max" toggled)."""

    imageClicked = Signal(int)
    componentClicked = Signal(int)
    scaleChanged = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._W: np.ndarray | None = None
        self._x = np.zeros(0)
        self._axis_label = "image"
        self._names: tuple[str, ...] = ()
        self._labels: tuple[str, ...] | None = None
        self._codes = np.zeros(0, dtype=int)  # label index of every image
        self._label_names: list[str] = []
        self._has_values = False
        self._unit = ""
        self._image = 0
        self._component = 0
        self._k = 0
        self._basis_max: np.ndarray | None = None
        self._texts: dict = {}  # titles and axis labels as last set
        self._bars_top: float | None = None  # y range of the bars: [0, top]
        self._line_top: float | None = None  # y range of the line: [0, top]
        self._line_x: tuple[float, float] | None = None  # x range of the line
        self._follow = True  # the line's ranges follow the data (until the user zooms)
        self._perm: np.ndarray | None = None  # position -> image (None: by index)
        self._pos: np.ndarray | None = None  # image -> position
        self._bar_brush = pg.mkBrush(BAR_COLOR)
        self._accent_brush = pg.mkBrush(ACCENT)

        self.scaled = QCheckBox("× basis max")
        self.scaled.setToolTip(
            "Show each weight times the maximum of its basis image: NMF leaves the scale "
            "split between W and H arbitrary, so this makes the components' contributions "
            "comparable (weights.csv holds the raw weights)."
        )
        self.scaled.setChecked(True)  # raw W hides which parts make up an image
        self.scaled.checkStateChanged.connect(self._on_scaled)
        self.order = QComboBox()
        for value, text in ORDERS:
            self.order.addItem(text, value)
        self.order.setToolTip(
            "Order of the images along the line: by index (file order), sorted by the "
            "selected component's weight (a profile, readable for thousands of images), "
            "or grouped by label (when the collection has a labels.csv)."
        )
        self.order.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.order.setMinimumContentsLength(8)  # the dock may be narrow
        self.order.currentIndexChanged.connect(lambda _i: self._redraw_line())
        self.bars_plot = pg.PlotWidget()
        self.bars_plot.setMenuEnabled(False)
        self.bars_plot.setMouseEnabled(x=False, y=False)
        self.bars_plot.hideButtons()
        self.bars_plot.setLabel("bottom", "component")
        self.bars_plot.setLabel("left", "weight")
        self.bars_plot.getAxis("left").enableAutoSIPrefix(False)
        self._bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=BAR_COLOR)
        self.bars_plot.addItem(self._bars)
        self.bars_plot.scene().sigMouseClicked.connect(self._on_bars_click)

        self.line_plot = pg.PlotWidget()
        self.line_plot.setMenuEnabled(False)
        self.line_plot.hideButtons()
        self.line_plot.setLabel("left", "weight")
        self.line_plot.getAxis("left").enableAutoSIPrefix(False)
        self.line_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.line_plot.showGrid(x=True, y=True, alpha=0.2)
        self.line_plot.setClipToView(True)
        self.line_plot.getViewBox().sigRangeChangedManually.connect(self._on_user_range)
        self._curves: list[pg.PlotDataItem] = []
        self._legend = self.line_plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self._legend.hide()
        self._marker = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen((200, 200, 200), style=Qt.PenStyle.DashLine)
        )
        self.line_plot.addItem(self._marker, ignoreBounds=True)
        self.line_plot.scene().sigMouseClicked.connect(self._on_line_click)
        # hover readout: the band under the cursor named by its axis value, and the weight
        self._readout = pg.TextItem("", color=(220, 220, 220), anchor=(0, 0))
        self._readout.setParentItem(self.line_plot.getPlotItem().vb)
        self._readout.setPos(6, 2)
        self.line_plot.scene().sigMouseMoved.connect(self._on_line_hover)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.bars_plot)
        splitter.addWidget(self.line_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        options = QHBoxLayout()
        options.setContentsMargins(6, 2, 6, 0)
        options.addWidget(self.order)
        options.addStretch(1)
        options.addWidget(self.scaled)
        layout.addLayout(options)
        layout.addWidget(splitter)
        self._set_curves(1)
        self._titles()

    # -- public API ------------------------------------------------------------
    def set_axis(self, values: np.ndarray | None, label: str, names: tuple[str, ...]) -> None:
        """values: (n,) x positions of the images (None: 0..n-1); label: axis title.
        A new collection: everything shown before is cleared (labels too)."""
        n = len(names)
        self._x = np.arange(n, dtype=float) if values is None else np.asarray(values, float)
        self._axis_label = label or "image"
        self._has_values = values is not None
        # "wavelength (nm)" -> unit "nm" for titles
        self._unit = label[label.find("(") + 1 : label.rfind(")")] if "(" in (label or "") else ""
        self._names = tuple(names)
        self._image = 0
        self._component = 0
        self._labels = None
        self._codes = np.zeros(n, dtype=int)
        self._label_names = []
        spectral = self._axis_label != "image"
        self.order.blockSignals(True)
        self.order.setCurrentIndex(1 if (not spectral and n > SORTED_ABOVE) else 0)
        self.order.blockSignals(False)
        self._enable_orders()
        self.clear()

    def set_labels(self, labels: tuple[str, ...] | None) -> None:
        """labels: (n,) one label per image ('' = none), or None."""
        if labels is not None and len(labels) != len(self._names):
            raise ValueError(f"{len(labels)} labels for {len(self._names)} images")
        self._labels = None if labels is None else tuple(labels)
        if self._labels is None:
            self._label_names = []
            self._codes = np.zeros(len(self._names), dtype=int)
        else:
            self._label_names = sorted({lab or "(no label)" for lab in self._labels})
            index = {name: i for i, name in enumerate(self._label_names)}
            self._codes = np.array([index[lab or "(no label)"] for lab in self._labels], int)
        self._enable_orders()
        self._redraw()

    @property
    def labels(self) -> tuple[str, ...] | None:
        return self._labels

    def clear(self) -> None:
        """No weights: empty plots, default ranges and ticks, titles of image 0."""
        self._W = None
        self._k = 0
        self._perm = self._pos = None
        self._bars.setOpts(x=[], height=[], brushes=None, brush=self._bar_brush)
        self.bars_plot.getAxis("bottom").setTicks([[], []])  # no components yet: no ticks
        self._set_label(self.bars_plot, "left", "weight")
        # neutral ranges until the first weights arrive (nothing of the last collection)
        self.bars_plot.setRange(xRange=(-0.6, 0.6), yRange=(0, 1), padding=0)
        for curve in self._curves:
            curve.setData([], [])
        self._legend.clear()
        self._legend.hide()
        self._set_label(self.line_plot, "left", "weight")
        self._set_label(
            self.line_plot,
            "bottom",
            self._axis_label if self._has_values else f"{self._axis_label} index",
        )
        n = len(self._x)
        x0, x1 = (float(self._x.min()), float(self._x.max())) if n else (0.0, 1.0)
        self.line_plot.setRange(xRange=(x0, x1 if x1 > x0 else x0 + 1), yRange=(0, 1), padding=0.02)
        self._bars_top = self._line_top = self._line_x = None  # the first weights set them
        self._follow = True
        self._marker.setValue(x0)
        self._titles()

    def set_weights(self, W: np.ndarray, basis_max: np.ndarray | None = None) -> None:
        """W: (n_images, k) weights of the current state; basis_max: (k,) max of each
        basis image (for the "× basis max" display)."""
        self._W = np.asarray(W)
        self._basis_max = None if basis_max is None else np.asarray(basis_max, dtype=float)
        k = self._W.shape[1]
        self._component = min(self._component, k - 1)
        self._image = min(self._image, self._W.shape[0] - 1)
        if k != self._k:  # ranges and ticks only change with k
            self._k = k
            self.bars_plot.setXRange(-0.6, k - 0.4, padding=0)
            step = max(1, int(np.ceil(k / 16)))  # whole-number ticks, at most ~16
            self.bars_plot.getAxis("bottom").setTicks(
                [[(j, str(j)) for j in range(0, k, step)], []]
            )
        self._redraw()

    def set_selected_image(self, index: int) -> None:
        self._image = int(index)
        self._redraw_bars()
        self._place_marker()

    def set_selected_component(self, component: int) -> None:
        self._component = int(component)
        self._redraw()

    @property
    def is_scaled(self) -> bool:
        return self.scaled.isChecked() and self._basis_max is not None

    @property
    def points_drawn(self) -> int:
        """Points handed to the line plot in the last update (all curves)."""
        total = 0
        for curve in self._curves:
            x = curve.xData
            total += 0 if x is None else len(x)
        return total

    @property
    def markers_drawn(self) -> int:
        """Per-point markers drawn in the last update (0 above MAX_MARKERS images)."""
        return sum(
            0 if c.opts["symbol"] is None or c.xData is None else len(c.xData) for c in self._curves
        )

    @property
    def line_order(self) -> str:
        return self.order.currentData()

    def set_line_order(self, order: str) -> None:
        """'index', 'weight' or 'label' (the latter only with labels)."""
        i = self.order.findData(order)
        if i >= 0:
            self.order.setCurrentIndex(i)

    # -- drawing ---------------------------------------------------------------
    def _enable_orders(self) -> None:
        item = self.order.model().item(2)
        if item is not None:
            item.setEnabled(self._labels is not None)
        if self._labels is None and self.order.currentData() == "label":
            self.order.setCurrentIndex(0)

    def _on_scaled(self, _state) -> None:
        self._redraw()
        self.scaleChanged.emit(self.is_scaled)

    def _titles(self) -> None:
        name = self._names[self._image] if 0 <= self._image < len(self._names) else ""
        spectral = self._axis_label != "image"
        where = ""
        if spectral and 0 <= self._image < len(self._x) and self._has_values:
            where = f" at {self._x[self._image]:.4g} {self._unit}".rstrip()
        noun = "band" if spectral else "image"
        label = ""
        if self._labels is not None and 0 <= self._image < len(self._labels):
            label = f" [{self._labels[self._image] or 'no label'}]"
        self._set_title(
            self.bars_plot,
            f"Weights of {noun} {self._image}{where}" + (f" — {name}" if name else "") + label,
        )
        what = "Spectrum" if spectral else "Weight across images"
        self._set_title(self.line_plot, f"{what} of component {self._component}")

    def _set_title(self, plot, text: str) -> None:
        key = (id(plot), "title")
        set_text_once(self._texts, key, text, lambda t: plot.setTitle(t, size="10pt"))

    def _set_label(self, plot, axis: str, text: str) -> None:
        set_text_once(self._texts, (id(plot), axis), text, lambda t: plot.setLabel(axis, t))

    def _on_user_range(self, *_args) -> None:
        self._follow = False  # the user zoomed or panned: leave the line's ranges alone

    def _redraw(self) -> None:
        self._redraw_bars()
        self._redraw_line()

    def _redraw_bars(self) -> None:
        self._titles()
        if self._W is None or self._W.shape[0] != len(self._x):
            return
        W = self._W
        k = W.shape[1]
        base = self._bar_brush
        if self._labels is not None and len(self._label_names) > 1:
            base = pg.mkBrush(label_colors(len(self._label_names))[self._codes[self._image]])
        brushes = [base] * k
        if 0 <= self._component < k:
            brushes[self._component] = self._accent_brush
        heights = np.asarray(W[self._image], dtype=float)
        if self.is_scaled:
            heights = heights * self._basis_max
        label = "weight × basis max" if self.is_scaled else "weight"
        self._set_label(self.bars_plot, "left", label)
        self._bars.setOpts(x=np.arange(k), height=heights, width=0.8, brushes=brushes)
        top = range_top(self._bars_top, float(heights.max()) if k else 0.0)
        if top is not None:
            self._bars_top = top
            self.bars_plot.setYRange(0, top, padding=0)

    def _set_curves(self, count: int) -> None:
        while len(self._curves) > count:
            self.line_plot.removeItem(self._curves.pop())
        while len(self._curves) < count:
            curve = pg.PlotDataItem([], [])
            self.line_plot.addItem(curve)
            self._curves.append(curve)

    def _redraw_line(self) -> None:
        self._titles()
        if self._W is None or self._W.shape[0] != len(self._x):
            return
        n = self._W.shape[0]
        line = np.asarray(self._W[:, self._component], dtype=float)
        if self.is_scaled:  # same scale as the bars: one image's bar equals its point
            line = line * self._basis_max[self._component]
        label = "weight × basis max" if self.is_scaled else "weight"
        self._set_label(self.line_plot, "left", label)
        order = self.order.currentData()
        if order == "weight":
            perm = np.argsort(-line, kind="stable")
        elif order == "label" and self._labels is not None:
            perm = np.lexsort((-line, self._codes))
        else:
            perm = None
        self._perm = perm
        if perm is None:
            self._pos = None
            xs = self._x
            self._set_label(
                self.line_plot,
                "bottom",
                self._axis_label if self._has_values else f"{self._axis_label} index",
            )
        else:
            self._pos = np.empty(n, dtype=int)
            self._pos[perm] = np.arange(n)
            xs = np.arange(n, dtype=float)
            self._set_label(
                self.line_plot,
                "bottom",
                "rank (largest weight first)"
                if order == "weight"
                else "images grouped by label, then by weight",
            )
        ys = line if perm is None else line[perm]
        codes = self._codes if perm is None else self._codes[perm]
        groups = len(self._label_names) if self._labels is not None else 1
        self._set_curves(max(groups, 1))
        colours = label_colors(groups) if groups > 1 else [ACCENT]
        markers = n <= MAX_MARKERS
        scatter = groups > 1 and order == "index"  # interleaved labels: points, no lines
        budget = max(MAX_LINE_POINTS // max(groups, 1), 16)
        self._legend.clear()
        for g, curve in enumerate(self._curves):
            sel = slice(None) if groups == 1 else codes == g
            gx, gy = decimate(xs[sel], ys[sel], budget)
            colour = colours[g % len(colours)]
            curve.setData(
                gx,
                gy,
                # thin lines paint fastest; a thick one only while there are few points
                pen=None if scatter else pg.mkPen(colour, width=2 if markers else 1),
                symbol="o" if (markers or scatter) else None,
                symbolSize=4 if markers else 3,
                symbolBrush=colour,
                symbolPen=None,
            )
            if groups > 1:
                self._legend.addItem(curve, self._label_names[g])
        self._legend.setVisible(groups > 1)
        if self._follow and n:
            span = (float(xs.min()), float(xs.max()))
            if span != self._line_x:
                self._line_x = span
                x0, x1 = span
                self.line_plot.setXRange(x0, x1 if x1 > x0 else x0 + 1, padding=0.02)
            top = range_top(self._line_top, float(ys.max()))
            if top is not None:
                self._line_top = top
                self.line_plot.setYRange(0, top, padding=0)
        self._place_marker()

    def _place_marker(self) -> None:
        if not 0 <= self._image < len(self._x):
            return
        self._marker.setValue(
            self._x[self._image] if self._pos is None else float(self._pos[self._image])
        )

    # -- mouse -----------------------------------------------------------------
    def _on_bars_click(self, event) -> None:
        if self._W is None or event.button() != Qt.MouseButton.LeftButton:
            return
        p = self.bars_plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        j = round(p.x())
        if 0 <= j < self._W.shape[1]:
            self.set_selected_component(j)
            self.componentClicked.emit(j)

    def image_at(self, x: float) -> int | None:
        """The image drawn nearest to x (plot coordinates) on the line."""
        if self._W is None or not len(self._x):
            return None
        if self._perm is None:
            return int(np.argmin(np.abs(self._x - x)))
        return int(self._perm[int(np.clip(round(x), 0, len(self._perm) - 1))])

    def readout_text(self, i: int) -> str:
        """'652 nm (band 42): weight 0.83' for image / band i on the line."""
        spectral = self._axis_label != "image"
        noun = "band" if spectral else "image"
        if self._has_values and self._perm is None:
            where = f"{self._x[i]:.4g} {self._unit}".rstrip() + f" ({noun} {i})"
        else:
            name = self._names[i] if i < len(self._names) else ""
            where = f"{noun} {i}" + (f" — {name}" if name and not spectral else "")
        if self._W is None:
            return where
        value = float(self._W[i, self._component])
        if self.is_scaled:
            value *= float(self._basis_max[self._component])
        return f"{where}: {'weight × basis max' if self.is_scaled else 'weight'} {value:.4g}"

    def _on_line_hover(self, scene_pos) -> None:
        vb = self.line_plot.getPlotItem().vb
        if self._W is None or not vb.sceneBoundingRect().contains(scene_pos):
            self._readout.setText("")
            return
        i = self.image_at(vb.mapSceneToView(scene_pos).x())
        self._readout.setText("" if i is None else self.readout_text(i))

    def _on_line_click(self, event) -> None:
        if self._W is None or event.button() != Qt.MouseButton.LeftButton or not len(self._x):
            return
        p = self.line_plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        i = self.image_at(p.x())
        if i is not None:
            self.set_selected_image(i)
            self.imageClicked.emit(i)
