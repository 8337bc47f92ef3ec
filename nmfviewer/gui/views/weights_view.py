"""Weights view: the selected image's k weights as bars, and the selected
component's weight across all images as a line.

For a spectral cube the "images" are the bands, so the line is the
component's spectrum, drawn against the collection's axis values (for
example wavelength in nm) when the file provides them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from .common import ACCENT

BAR_COLOR = (90, 160, 230)


class WeightsView(QWidget):
    """set_axis(values, label, names); set_weights(W (n, k)); set_selected_image(i);
    set_selected_component(j). Emits imageClicked(i) and componentClicked(j)."""

    imageClicked = Signal(int)
    componentClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._W: np.ndarray | None = None
        self._x = np.zeros(0)
        self._axis_label = "image"
        self._names: tuple[str, ...] = ()
        self._has_values = False
        self._unit = ""
        self._image = 0
        self._component = 0
        self._basis_max: np.ndarray | None = None

        self.scaled = QCheckBox("× basis max")
        self.scaled.setToolTip(
            "Show each weight times the maximum of its basis image: NMF leaves the scale "
            "split between W and H arbitrary, so this makes the components' contributions "
            "comparable (weights.csv holds the raw weights).")
        self.scaled.setChecked(True)  # raw W hides which parts make up an image
        self.scaled.checkStateChanged.connect(lambda _state: self._redraw())
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
        self._line = self.line_plot.plot([], [], pen=pg.mkPen(ACCENT, width=2),
                                         symbol="o", symbolSize=4, symbolBrush=ACCENT,
                                         symbolPen=None)
        self._marker = pg.InfiniteLine(angle=90, movable=False,
                                       pen=pg.mkPen((200, 200, 200), style=Qt.PenStyle.DashLine))
        self.line_plot.addItem(self._marker, ignoreBounds=True)
        self.line_plot.scene().sigMouseClicked.connect(self._on_line_click)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.bars_plot)
        splitter.addWidget(self.line_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        options = QHBoxLayout()
        options.setContentsMargins(6, 2, 6, 0)
        options.addStretch(1)
        options.addWidget(self.scaled)
        layout.addLayout(options)
        layout.addWidget(splitter)
        self._titles()

    # -- public API ------------------------------------------------------------
    def set_axis(self, values: np.ndarray | None, label: str, names: tuple[str, ...]) -> None:
        """values: (n,) x positions of the images (None: 0..n-1); label: axis title."""
        n = len(names)
        self._x = np.arange(n, dtype=float) if values is None else np.asarray(values, float)
        self._axis_label = label or "image"
        self._has_values = values is not None
        # "wavelength (nm)" -> unit "nm" for titles
        self._unit = label[label.find("(") + 1:label.rfind(")")] if "(" in (label or "") else ""
        self._names = tuple(names)
        self.line_plot.setLabel("bottom", self._axis_label if values is not None
                                else f"{self._axis_label} index")
        self.clear()

    def clear(self) -> None:
        self._W = None
        self._bars.setOpts(x=[], height=[])
        self._line.setData([], [])
        self._titles()

    def set_weights(self, W: np.ndarray, basis_max: np.ndarray | None = None) -> None:
        """W: (n_images, k) weights of the current state; basis_max: (k,) max of each
        basis image (for the "× basis max" display)."""
        self._W = np.asarray(W)
        self._basis_max = None if basis_max is None else np.asarray(basis_max, dtype=float)
        k = self._W.shape[1]
        self._component = min(self._component, k - 1)
        self._image = min(self._image, self._W.shape[0] - 1)
        self.bars_plot.setXRange(-0.6, k - 0.4, padding=0)
        step = max(1, int(np.ceil(k / 16)))  # whole-number ticks, at most ~16
        self.bars_plot.getAxis("bottom").setTicks([[(j, str(j)) for j in range(0, k, step)], []])
        self._redraw()

    def set_selected_image(self, index: int) -> None:
        self._image = int(index)
        self._redraw()

    def set_selected_component(self, component: int) -> None:
        self._component = int(component)
        self._redraw()

    # -- drawing ---------------------------------------------------------------
    def _titles(self) -> None:
        name = self._names[self._image] if 0 <= self._image < len(self._names) else ""
        spectral = self._axis_label != "image"
        where = ""
        if spectral and 0 <= self._image < len(self._x) and self._has_values:
            where = f" at {self._x[self._image]:.4g} {self._unit}".rstrip()
        noun = "band" if spectral else "image"
        self.bars_plot.setTitle(f"Weights of {noun} {self._image}{where}"
                                + (f" — {name}" if name else ""), size="10pt")
        what = "Spectrum" if spectral else "Weight across images"
        self.line_plot.setTitle(f"{what} of component {self._component}", size="10pt")

    def _redraw(self) -> None:
        self._titles()
        if self._W is None or self._W.shape[0] != len(self._x):
            return
        W = self._W
        k = W.shape[1]
        brushes = [pg.mkBrush(ACCENT if j == self._component else BAR_COLOR) for j in range(k)]
        heights = np.asarray(W[self._image], dtype=float)
        scaled = self.scaled.isChecked() and self._basis_max is not None
        if scaled:
            heights = heights * self._basis_max
        label = "weight × basis max" if scaled else "weight"
        self.bars_plot.setLabel("left", label)
        self.line_plot.setLabel("left", label)
        self._bars.setOpts(x=np.arange(k), height=heights, width=0.8, brushes=brushes)
        line = np.asarray(W[:, self._component], dtype=float)
        if scaled:  # same scale as the bars, so one image's bar equals its point on the line
            line = line * self._basis_max[self._component]
        self._line.setData(self._x, line)
        self._marker.setValue(self._x[self._image])

    # -- mouse -----------------------------------------------------------------
    def _on_bars_click(self, event) -> None:
        if self._W is None or event.button() != Qt.MouseButton.LeftButton:
            return
        p = self.bars_plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        j = int(round(p.x()))
        if 0 <= j < self._W.shape[1]:
            self.set_selected_component(j)
            self.componentClicked.emit(j)

    def _on_line_click(self, event) -> None:
        if self._W is None or event.button() != Qt.MouseButton.LeftButton or not len(self._x):
            return
        p = self.line_plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        i = int(np.argmin(np.abs(self._x - p.x())))
        self.set_selected_image(i)
        self.imageClicked.emit(i)
