"""Loss curve on a log axis, live, with iteration, elapsed time, speed and stop reason."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from ...core import STOP_REASON_TEXT
from .common import ACCENT

STOP_TEXT = MappingProxyType(STOP_REASON_TEXT)  # the one wording, from core


class LogAxis(pg.AxisItem):
    """Log axis whose minor ticks are 2 and 5 x 10^n only (1..9 crowd their labels)."""

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: N802 - pyqtgraph API
        ticks = super().logTickValues(minVal, maxVal, size, stdTicks)
        if maxVal - minVal < 0.7:
            return ticks  # less than a decade: every minor tick is needed
        keep = np.log10([1.0, 2.0, 5.0])
        return [(spacing, [v for v in values
                           if np.min(np.abs((v - np.floor(v + 1e-9)) - keep)) < 1e-6])
                 if spacing is None else (spacing, values)
                 for spacing, values in ticks]


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes} min {sec:02d} s"


class LossView(QWidget):
    """set_progress(history, iteration, max_iter, elapsed, stop_reason, paused); clear()."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(axisItems={"left": LogAxis(orientation="left")})
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLogMode(x=False, y=True)
        self.plot.setLabel("bottom", "iteration")
        self.plot.setLabel("left", "loss")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self._curve = self.plot.plot([], [], pen=pg.mkPen(ACCENT, width=2))
        self.plot.setDownsampling(auto=True, mode="peak")  # long runs stay cheap to draw
        self.plot.setClipToView(True)
        self.off_scale = QLabel(self.plot)
        self.off_scale.setStyleSheet("color: #b0b0b0; background: transparent;")
        self.off_scale.move(70, 6)
        self.off_scale.hide()

        self.iteration_label = QLabel()
        self.elapsed_label = QLabel()
        self.speed_label = QLabel()
        self.status_label = QLabel()
        self.status_label.setStyleSheet("font-weight: bold")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMaximumHeight(16)

        facts = QHBoxLayout()
        facts.setSpacing(14)
        for label in (self.iteration_label, self.elapsed_label, self.speed_label):
            facts.addWidget(label)
        facts.addStretch(1)
        status = QHBoxLayout()
        status.addWidget(self.status_label, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(3)
        layout.addWidget(self.plot, 1)
        layout.addLayout(facts)
        status.addWidget(self.progress, 1)
        layout.addLayout(status)
        self.clear()

    def _fit_range(self, x: np.ndarray, y: np.ndarray) -> None:
        """Log-y range over the points after the first when the initial loss towers
        above them (an nndsvda start can be 10^6 x the converged loss): the descent
        stays readable. x (p,) iterations, y (p,) their losses, all finite and > 0."""
        if len(y) > 2 and y[0] > 20 * y[1:].max():
            lo, hi = np.log10(y[1:].min()), np.log10(y[1:].max())
            pad = max(0.05 * (hi - lo), 0.02)
            self.plot.setYRange(lo - pad, hi + 5 * pad, padding=0)
            self.off_scale.setText(f"iteration {int(x[0])}: {y[0]:.3g} (off scale) ↑")
            self.off_scale.show()
        else:
            self.plot.enableAutoRange(axis="y")
            self.off_scale.hide()

    def clear(self) -> None:
        self._curve.setData([], [])
        self.off_scale.hide()
        self.iteration_label.setText("iteration —")
        self.elapsed_label.setText("elapsed —")
        self.speed_label.setText("— it/s")
        self.status_label.setText("not started")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")

    def set_progress(self, history: np.ndarray, iteration: int, max_iter: int, elapsed: float,
                     stop_reason: str | None = None, paused: bool = False,
                     loss: float | None = None) -> None:
        """history: (iteration + 1,) loss per iteration (index 0 = initial factors),
        nan where it was not evaluated (KL / IS: all but every 10th iteration).
        loss: the current state's loss, None if not evaluated: the status then
        shows the latest evaluated one."""
        h = np.asarray(history, dtype=np.float64)
        x = np.flatnonzero(np.isfinite(h))  # only evaluated losses are drawn
        y = h[x]
        positive = y[y > 0]
        floor = positive.min() * 1e-3 if positive.size else 1.0
        # a log axis cannot show 0 or negatives: floor them far below the curve
        y = np.where(y > 0, y, floor)
        self._curve.setData(x, y)
        self._fit_range(x, y)
        if loss is None and len(y):
            loss = float(h[x[-1]])
        rate = iteration / elapsed if elapsed > 0 else 0.0
        self.iteration_label.setText(f"iteration <b>{iteration}</b> / {max_iter}")
        self.elapsed_label.setText(f"elapsed <b>{format_seconds(elapsed)}</b>")
        self.speed_label.setText(f"<b>{rate:,.0f}</b> it/s" if rate >= 10
                                 else f"<b>{rate:.2f}</b> it/s")
        loss_text = f"loss {loss:.4g}" if loss is not None else ""
        if stop_reason is not None:
            text = f"{STOP_TEXT.get(stop_reason, stop_reason)} · {loss_text}"
        elif paused:
            text = f"paused · {loss_text}"
        else:
            text = f"running · {loss_text}"
        self.status_label.setText(text.strip(" ·"))
        self.progress.setRange(0, max(max_iter, 1))
        self.progress.setValue(max_iter if stop_reason is not None else min(iteration, max_iter))
        self.progress.setFormat(
            "done" if stop_reason is not None else f"{iteration} / {max_iter} iterations (%p%)")
