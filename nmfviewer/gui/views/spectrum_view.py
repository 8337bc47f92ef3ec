"""Pixel spectrum view: one pixel's measured spectrum, its model W·h and each
component's contribution, against the physical band axis.

A spectral cube's images are its bands, so X[:, p] is the spectrum of pixel p,
W (n_bands, k) holds the component spectra and H[:, p] the pixel's abundances:
the model of the pixel is W·H[:, p] and component j contributes W[:, j]·H[j, p].
Component colours are the core's palette, as in spectra.png and the exported
montage. The collection's mean spectrum can be shown beside it. Cost per update
is O(n_bands · k), independent of the number of pixels.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ...core import component_colors

MEASURED_COLOR = (200, 200, 200)
MODEL_COLOR = (255, 255, 255)
MEAN_COLOR = (120, 120, 120)


class PixelSpectrumView(QWidget):
    """set_axis(values, label, unit); set_pixel(pixel, row, col, measured);
    set_factors(W (n, k), h (k,)); set_mean(mean (n,)). No signals: it only shows."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._x = np.zeros(0)
        self._label = "band index"
        self._noun = "band"
        self._unit = ""
        self._pixel: int | None = None
        self._where = ""
        self._measured: np.ndarray | None = None
        self._W: np.ndarray | None = None
        self._h: np.ndarray | None = None
        self._mean: np.ndarray | None = None

        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("left", "value")
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self._legend = self.plot.addLegend(
            offset=(-8, 8), labelTextSize="8pt", labelTextColor=(230, 230, 230)
        )
        self._legend.setBrush(pg.mkBrush(0, 0, 0, 170))
        self._mean_curve = self.plot.plot([], [], pen=pg.mkPen(MEAN_COLOR, width=1.5))
        self._measured_curve = self.plot.plot(
            [], [], pen=pg.mkPen(MEASURED_COLOR, width=1), symbol="o", symbolSize=3,
            symbolBrush=MEASURED_COLOR, symbolPen=None,
        )  # fmt: skip
        self._model_curve = self.plot.plot(
            [], [], pen=pg.mkPen(MODEL_COLOR, width=2, style=Qt.PenStyle.DashLine)
        )
        self._parts: list[pg.PlotDataItem] = []
        self._cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(120, 120, 120, 160))
        self._cursor.hide()
        self.plot.addItem(self._cursor, ignoreBounds=True)
        self.plot.scene().sigMouseMoved.connect(self._on_hover)

        self.show_parts = QCheckBox("components")
        self.show_parts.setChecked(True)
        self.show_parts.setToolTip("Each component's contribution W[:, j]·h[j] to the pixel")
        self.show_parts.checkStateChanged.connect(lambda _s: self._redraw())
        self.show_mean = QCheckBox("mean")
        self.show_mean.setToolTip("The collection's mean spectrum (all pixels)")
        self.show_mean.checkStateChanged.connect(lambda _s: self._redraw())
        self.title = QLabel("Click a pixel in a basis image (abundance map) or in the image view")
        self.title.setWordWrap(True)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout = QLabel(" ")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.setContentsMargins(6, 2, 6, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.show_parts)
        top.addWidget(self.show_mean)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.readout)
        self.readout.setContentsMargins(6, 0, 6, 2)

    # -- public API ------------------------------------------------------------
    def set_axis(self, values: np.ndarray | None, n: int, label: str, unit: str = "") -> None:
        """values: (n,) band positions (None: 0..n-1); label e.g. 'energy (keV)'.
        A new collection: the pixel, factors and mean are cleared."""
        self._x = np.arange(n, dtype=float) if values is None else np.asarray(values, float)
        self._noun = "image" if label == "image" else "band"
        self._label = label if values is not None else f"{self._noun} index"
        self._unit = unit if values is not None else ""
        self.plot.setLabel("bottom", self._label)
        self._pixel, self._measured, self._W, self._h, self._mean = None, None, None, None, None
        self._where = ""
        self._redraw()

    def set_pixel(self, pixel: int, row: int, col: int, measured: np.ndarray) -> None:
        """pixel: flat index; measured: (n_bands,) X[:, pixel]."""
        self._pixel = int(pixel)
        self._where = f"pixel (row {row}, column {col})"
        self._measured = np.asarray(measured, dtype=float)
        self._redraw()

    def set_factors(self, W: np.ndarray | None, h: np.ndarray | None) -> None:
        """W: (n_bands, k) spectra; h: (k,) the pixel's abundances (H[:, pixel])."""
        self._W = None if W is None else np.asarray(W, dtype=float)
        self._h = None if h is None else np.asarray(h, dtype=float)
        self._redraw()

    def set_mean(self, mean: np.ndarray | None) -> None:
        self._mean = None if mean is None else np.asarray(mean, dtype=float)
        self._redraw()

    @property
    def pixel(self) -> int | None:
        return self._pixel

    def model(self) -> np.ndarray | None:
        """The pixel's reconstruction W·h, (n_bands,), or None."""
        if self._W is None or self._h is None:
            return None
        return self._W @ self._h

    def contributions(self) -> np.ndarray | None:
        """(k, n_bands): component j's contribution W[:, j]·h[j]."""
        if self._W is None or self._h is None:
            return None
        return (self._W * self._h).T

    # -- drawing -----------------------------------------------------------------
    def _set_parts(self, k: int) -> None:
        while len(self._parts) > k:
            self.plot.removeItem(self._parts.pop())
        colors = component_colors(k)
        while len(self._parts) < k:
            j = len(self._parts)
            self._parts.append(self.plot.plot([], [], pen=pg.mkPen(colors[j], width=1.5)))

    def _redraw(self) -> None:
        x = self._x
        self._legend.clear()
        show_mean = self.show_mean.isChecked() and self._mean is not None
        self._mean_curve.setData(x, self._mean) if show_mean else self._mean_curve.setData([], [])
        if show_mean:
            self._legend.addItem(self._mean_curve, "mean spectrum")
        if self._measured is not None and len(self._measured) == len(x):
            self._measured_curve.setData(x, self._measured)
            self._legend.addItem(self._measured_curve, "measured")
        else:
            self._measured_curve.setData([], [])
        parts = self.contributions() if self._pixel is not None else None
        model = self.model() if self._pixel is not None else None
        if model is not None and len(model) == len(x):
            self._model_curve.setData(x, model)
            self._legend.addItem(self._model_curve, "model W·h")
        else:
            self._model_curve.setData([], [])
        k = 0 if parts is None or not self.show_parts.isChecked() else parts.shape[0]
        self._set_parts(k)
        for j, curve in enumerate(self._parts):
            curve.setData(x, parts[j])
            if k <= 10:
                self._legend.addItem(curve, f"component {j}")
        if self._pixel is None:
            self.title.setText(
                "Click a pixel in a basis image (abundance map) or in the image view"
            )
        else:
            what = "Spectrum" if self._noun == "band" else "Values across the images"
            self.title.setText(f"<b>{what} of {self._where}</b>")

    def band_at(self, x: float) -> int | None:
        """The band nearest to x (axis units), or None without bands."""
        if not len(self._x):
            return None
        return int(np.argmin(np.abs(self._x - x)))

    def readout_text(self, band: int) -> str:
        """'6.4 keV (band 37): measured 12 · model 11.8' for the band under the cursor."""
        value = f"{self._x[band]:.4g} {self._unit}".rstrip()
        where = (
            f"{value} ({self._noun} {band})"
            if self._unit or not self._label.endswith(" index")
            else f"{self._noun} {band}"
        )
        parts = []
        if self._measured is not None and band < len(self._measured):
            parts.append(f"measured {self._measured[band]:.4g}")
        model = self.model()
        if model is not None and band < len(model):
            parts.append(f"model {model[band]:.4g}")
        if self._mean is not None and self.show_mean.isChecked() and band < len(self._mean):
            parts.append(f"mean {self._mean[band]:.4g}")
        return where + (": " + " · ".join(parts) if parts else "")

    def _on_hover(self, scene_pos) -> None:
        vb = self.plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(scene_pos):
            self._cursor.hide()
            return
        band = self.band_at(vb.mapSceneToView(scene_pos).x())
        if band is None:
            return
        self._cursor.setValue(self._x[band])
        self._cursor.show()
        self.readout.setText(self.readout_text(band))
