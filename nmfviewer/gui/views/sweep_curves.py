"""The k sweep's curves: test and training error (left axis) and the stability of
the parts (right axis, a second ViewBox sharing x), the suggested k marked, a
cursor on the k under the mouse. Drawn from the sweep's rows (a few numbers per k).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from .common import ACCENT, BACKGROUND

TEST_COLOUR = (230, 159, 0)
TRAIN_COLOUR = (86, 180, 233)
STABLE_COLOUR = (0, 158, 115)


def _swatch(colour: tuple[int, int, int], text: str) -> str:
    r, g, b = colour
    return f'<span style="color: rgb({r}, {g}, {b})">{text}</span>'


#: the curves' key, one line of rich text shown above the plot (a legend inside the
#: plot would cover the curves wherever it went)
LEGEND = " &nbsp; ".join(
    (
        _swatch(TEST_COLOUR, "● test error"),
        _swatch(TRAIN_COLOUR, "▼ training error"),
        _swatch(STABLE_COLOUR, "■ stability"),
        _swatch(STABLE_COLOUR, "× its min"),
        _swatch((ACCENT.red(), ACCENT.green(), ACCENT.blue()), "│ suggested k"),
    )
)


class SweepCurves(pg.PlotWidget):
    """set_rows(rows, k_range); set_suggested(k, rule); set_cursor(k); clear().

    Signals: kHovered(k) for the finished k nearest the mouse, left() when the
    mouse leaves the plot area, kClicked(k), kDoubleClicked(k).
    """

    kHovered = Signal(int)
    left = Signal()
    kClicked = Signal(int)
    kDoubleClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent, background=BACKGROUND)
        self._ks = np.zeros(0)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setLabel("left", "error")
        self.setLabel("bottom", "k (components)")
        self.getAxis("left").setWidth(48)
        self.setMinimumHeight(150)
        self.test = self.plot(
            pen=pg.mkPen(TEST_COLOUR, width=2), symbol="o", symbolSize=6,
            symbolBrush=TEST_COLOUR, symbolPen=None,
        )  # fmt: skip
        self.test_bars = pg.ErrorBarItem(pen=pg.mkPen(TEST_COLOUR, width=1), beam=0.25)
        self.addItem(self.test_bars)
        self.train = self.plot(
            pen=pg.mkPen(TRAIN_COLOUR, width=1.5, style=Qt.PenStyle.DashLine), symbol="t",
            symbolSize=6, symbolBrush=TRAIN_COLOUR, symbolPen=None,
        )  # fmt: skip
        # stability on a right-hand axis: a second ViewBox with the same x
        self.showAxis("right")
        self.stability_vb = pg.ViewBox(enableMouse=False, enableMenu=False)
        self.scene().addItem(self.stability_vb)
        right = self.getAxis("right")
        right.linkToView(self.stability_vb)
        right.setLabel("stability", color=STABLE_COLOUR)
        right.setWidth(40)
        self.stability_vb.setXLink(self)
        self.stability_vb.setYRange(0.5, 1.01, padding=0)
        self.getViewBox().sigResized.connect(self._sync_stability_view)
        self.stable_mean = pg.PlotDataItem(
            pen=pg.mkPen(STABLE_COLOUR, width=2), symbol="s", symbolSize=6,
            symbolBrush=STABLE_COLOUR, symbolPen=None,
        )  # fmt: skip
        self.stable_min = pg.PlotDataItem(
            pen=pg.mkPen(STABLE_COLOUR, width=1, style=Qt.PenStyle.DotLine), symbol="x",
            symbolSize=6, symbolBrush=STABLE_COLOUR, symbolPen=STABLE_COLOUR,
        )  # fmt: skip
        for item in (self.stable_mean, self.stable_min):
            self.stability_vb.addItem(item)
        self.suggested_mark = pg.InfiniteLine(angle=90, pen=pg.mkPen(ACCENT, width=2))
        self.suggested_mark.hide()
        self.addItem(self.suggested_mark, ignoreBounds=True)
        self.cursor = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(255, 255, 255, 90, width=1, style=Qt.PenStyle.DashLine)
        )
        self.cursor.hide()
        self.addItem(self.cursor, ignoreBounds=True)
        self.scene().sigMouseMoved.connect(self._on_hover)
        self.scene().sigMouseClicked.connect(self._on_click)

    # -- public API ------------------------------------------------------------
    def clear_curves(self) -> None:
        self._ks = np.zeros(0)
        for item in (self.test, self.train, self.stable_mean, self.stable_min):
            item.setData([], [])
        self.test_bars.setData(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0))
        self.test_bars.hide()
        self.suggested_mark.hide()
        self.cursor.hide()

    def set_rows(self, rows: list, k_range: tuple[int, int]) -> None:
        """rows: the sweep's RankRows, in k order; k_range: the ks asked for (lo, hi)."""
        ks = np.array([float(r.k) for r in rows])
        self._ks = ks

        def column(name: str) -> np.ndarray:
            return np.array([float(getattr(r, name)) for r in rows], dtype=float)

        def draw(item, values: np.ndarray) -> np.ndarray:
            finite = np.isfinite(values)  # nan: not measured (e.g. one fit per k)
            item.setData(ks[finite], values[finite])
            return values[finite]

        test, sd = column("test_error"), column("test_error_sd")
        draw(self.test, test)
        finite = np.isfinite(test) & np.isfinite(sd)
        self.test_bars.setData(x=ks[finite], y=test[finite], height=2 * sd[finite])
        self.test_bars.setVisible(bool(finite.any()))  # empty bars would pull in y = 0
        draw(self.train, column("train_error"))
        draw(self.stable_mean, column("stability_mean"))
        lowest = draw(self.stable_min, column("stability_min"))
        floor = min(0.5, np.floor(lowest.min() * 10) / 10) if lowest.size else 0.5
        self.stability_vb.setYRange(max(floor, 0.0), 1.01, padding=0)
        lo, hi = k_range
        if ks.size:
            lo, hi = min(lo, int(ks.min())), max(hi, int(ks.max()))
        self.setXRange(lo - 0.5, hi + 0.5, padding=0)
        step = 1 if hi - lo <= 12 else 2 if hi - lo <= 30 else 5  # whole ks only
        first = int(np.ceil(lo / step) * step)
        ticks = [(k, str(k)) for k in range(first, int(hi) + 1, step)]
        self.getAxis("bottom").setTicks([ticks, []])

    def set_suggested(self, k: int | None, rule: str = "") -> None:
        mark = self.suggested_mark
        if k is None:
            mark.hide()
            return
        mark.setPos(k)
        mark.setToolTip(f"suggested k = {k}: {rule}")
        mark.show()

    def set_cursor(self, k: int | None) -> None:
        if k is None:
            self.cursor.hide()
        else:
            self.cursor.setPos(k)
            self.cursor.show()

    # -- internals ---------------------------------------------------------------
    def _sync_stability_view(self) -> None:
        """Keep the stability ViewBox on top of the error ViewBox."""
        main = self.getViewBox()
        self.stability_vb.setGeometry(main.sceneBoundingRect())
        self.stability_vb.linkedViewChanged(main, self.stability_vb.XAxis)

    def k_at(self, scene_pos) -> int | None:
        """The finished k nearest a scene position inside the plot area, or None."""
        vb = self.getViewBox()
        if not self._ks.size or not vb.sceneBoundingRect().contains(scene_pos):
            return None
        x = vb.mapSceneToView(scene_pos).x()
        return int(self._ks[np.argmin(np.abs(self._ks - x))])

    def _on_hover(self, scene_pos) -> None:
        k = self.k_at(scene_pos)
        if k is None:
            self.left.emit()
        else:
            self.kHovered.emit(k)

    def _on_click(self, event) -> None:
        k = self.k_at(event.scenePos())
        if k is None or event.button() != Qt.MouseButton.LeftButton:
            return
        (self.kDoubleClicked if event.double() else self.kClicked).emit(k)
