"""Loss curve on a log axis, live, with iteration, elapsed time, speed and stop reason.

On demand ("relative decrease") the curve is the stop rule's own measure instead:
the relative loss decrease per iteration over the convergence window, against
the tolerance, so one can see why (and when) a run stops.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..wording import INITIALISATION, STOP_REASON_TEXT, not_converged, stop_text
from .common import ACCENT, log_range, set_text_once

STOP_TEXT = STOP_REASON_TEXT  # the one wording (gui/wording.py)
#: x range shown before a run has this many iterations (no empty axis at the start)
MIN_X_SPAN = 10
#: the x range grows in steps (to this many times the iteration) rather than every update
X_GROWTH = 1.5


def relative_decrease(history: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The stop rule's measure along a loss history.

    history: (p,) loss per iteration, nan where not evaluated. For every evaluated
    iteration t with an evaluated t_old <= t - window (the latest such), the
    relative decrease per iteration (loss[t_old] - loss[t]) / ((t - t_old) * |loss[t_old]|),
    as the core's convergence test computes it. Returns (iterations, values).
    """
    h = np.asarray(history, dtype=np.float64)
    t = np.flatnonzero(np.isfinite(h))
    if t.size < 2:
        return np.zeros(0), np.zeros(0)
    j = np.searchsorted(t, t - max(int(window), 1), side="right") - 1  # latest t_old
    ok = j >= 0
    t_new, t_old = t[ok], t[j[ok]]
    old = h[t_old]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(old != 0, (old - h[t_new]) / ((t_new - t_old) * np.abs(old)), 0.0)
    return t_new, rel


class LogAxis(pg.AxisItem):
    """Log axis whose minor ticks are 2 and 5 x 10^n only (1..9 crowd their labels)."""

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # pyqtgraph API
        ticks = super().logTickValues(minVal, maxVal, size, stdTicks)
        if maxVal - minVal < 0.7:
            return ticks  # less than a decade: every minor tick is needed
        keep = np.log10([1.0, 2.0, 5.0])
        return [
            (spacing, [v for v in values if np.min(np.abs((v - np.floor(v + 1e-9)) - keep)) < 1e-6])
            if spacing is None
            else (spacing, values)
            for spacing, values in ticks
        ]


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes} min {sec:02d} s"


class LossView(QWidget):
    """set_progress(history, iteration, max_iter, elapsed, stop_reason, paused, loss,
    rel_change=...); set_rule(tol, window); clear(). Emits continueRequested when the
    user asks to continue a run that stopped before it converged."""

    continueRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._tol: float | None = None
        self._window = 10
        self._history = np.zeros(0)
        self._last: tuple | None = None  # the last set_progress arguments (for the toggle)
        self._texts: dict = {}  # axis label as last set
        self._x_top = float(MIN_X_SPAN)  # x range: [0, x_top]
        self._y_range: tuple[float, float] | None = None  # log10 y range as last set
        self.plot = pg.PlotWidget(axisItems={"left": LogAxis(orientation="left")})
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLogMode(x=False, y=True)
        self.plot.setLabel("bottom", "iteration")
        self.plot.setLabel("left", "loss")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self._curve = self.plot.plot([], [], pen=pg.mkPen(ACCENT, width=2))
        self._tol_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen((230, 90, 90), width=1, style=Qt.PenStyle.DashLine),
            label="tol",
            labelOpts={"position": 0.95, "color": (230, 90, 90)},
        )
        self._tol_line.hide()
        self.plot.addItem(self._tol_line, ignoreBounds=True)
        self.decrease = QCheckBox("decrease vs tol")
        self.decrease.setToolTip(
            "Plot the stop rule's measure instead of the loss: the relative loss decrease "
            "per iteration over the convergence window. The run converges when it falls "
            "below the tolerance (dashed line)."
        )
        self.decrease.checkStateChanged.connect(lambda _state: self._redraw_curve())
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
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #f0c060;")
        self.note_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip(
            "Run more iterations from the current factors "
            "(as many as the Run panel's Continue box says)"
        )
        self.continue_button.clicked.connect(self.continueRequested)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMaximumHeight(16)

        facts = QHBoxLayout()
        facts.setSpacing(14)
        for label in (self.iteration_label, self.elapsed_label, self.speed_label):
            # a narrow dock clips the facts rather than growing the window
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            facts.addWidget(label, 1)
        status = QHBoxLayout()
        status.addWidget(self.status_label, 2)
        note = QHBoxLayout()
        note.addWidget(self.note_label, 1)
        note.addWidget(self.continue_button)
        note.addWidget(self.decrease, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(3)
        layout.addWidget(self.plot, 1)
        layout.addLayout(facts)
        self.progress.setMaximumWidth(190)  # the status words come first
        status.addWidget(self.progress, 1)
        layout.addLayout(status)
        layout.addLayout(note)
        self.clear()

    def _fit_range(self, x: np.ndarray, y: np.ndarray) -> None:
        """Log-y range over the points after the first when the initial loss towers
        above them (an nndsvda start can be 10^6 x the converged loss): the descent
        stays readable. x (p,) iterations, y (p,) their losses, all finite and > 0.
        The range moves only when the curve leaves it (or fills under half of it)."""
        if not len(y):
            return
        if len(y) > 2 and y[0] > 20 * y[1:].max():
            lo, hi = np.log10(y[1:].min()), np.log10(y[1:].max())
            self.off_scale.setText(f"iteration {int(x[0])}: {y[0]:.3g} (off scale) ↑")
            self.off_scale.show()
        else:
            lo, hi = np.log10(y.min()), np.log10(y.max())
            self.off_scale.hide()
        self._set_y(log_range(self._y_range, float(lo), float(hi)))

    def _set_y(self, y_range: tuple[float, float] | None) -> None:
        if y_range is not None:
            self._y_range = y_range
            self.plot.setYRange(*y_range, padding=0)

    def _set_x(self, last_it: int, max_iter: int | None) -> None:
        """[0, x_top]: at least MIN_X_SPAN (no empty axis at the start of a run), grown
        in steps of X_GROWTH, never past max_iter once the run gets near it."""
        top = self._x_top
        if last_it > top:
            top = last_it * X_GROWTH
        if max_iter and last_it <= max_iter:
            top = min(top, float(max_iter))
        top = max(top, float(MIN_X_SPAN))
        if top != self._x_top:
            self._x_top = top
            self.plot.setXRange(0, top, padding=0.02)

    def _set_label(self, text: str) -> None:
        set_text_once(self._texts, "left", text, lambda t: self.plot.setLabel("left", t))

    def clear(self) -> None:
        """Back to the state before any run (a new collection, a fresh run)."""
        self._history = np.zeros(0)
        self._last = None
        self._curve.setData([], [])
        self.off_scale.hide()
        self._tol_line.hide()
        self.plot.setYRange(0, 1, padding=0)  # log10: 1 … 10, nothing of a previous run
        self._y_range = None
        self._x_top = float(MIN_X_SPAN)
        self.plot.setXRange(0, MIN_X_SPAN, padding=0.02)
        self._set_label("loss")
        self.iteration_label.setText("iteration —")
        self.elapsed_label.setText("elapsed —")
        self.speed_label.setText("— it/s")
        self.status_label.setText("not started")
        self.note_label.clear()
        self.note_label.hide()
        self.continue_button.hide()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")

    def set_rule(self, tol: float | None, window: int) -> None:
        """The run's stop rule: tolerance (0 or None: none) and convergence window."""
        self._tol = None if tol is None else float(tol)
        self._window = max(int(window), 1)
        self._redraw_curve()

    @property
    def points_drawn(self) -> int:
        """Points handed to the curve (its own downsampling may draw fewer)."""
        x = self._curve.xData
        return 0 if x is None else len(x)

    def set_progress(
        self,
        history: np.ndarray,
        iteration: int,
        max_iter: int,
        elapsed: float,
        stop_reason: str | None = None,
        paused: bool = False,
        loss: float | None = None,
        rel_change: float | None = None,
    ) -> None:
        """history: (iteration + 1,) loss per iteration (index 0 = initial factors),
        nan where it was not evaluated (KL / IS: all but every 10th iteration).
        max_iter: the iteration at which this run stops at the latest.
        loss: the current state's loss, None if not evaluated: the status then
        shows the latest evaluated one. rel_change: the state's relative decrease
        per iteration (the stop rule's measure; nan / None when not known)."""
        self._history = np.asarray(history, dtype=np.float64)
        self._last = (iteration, max_iter, stop_reason)
        self._redraw_curve()
        h = self._history
        finite = np.flatnonzero(np.isfinite(h))
        if loss is None and finite.size:
            loss = float(h[finite[-1]])
        self.iteration_label.setText(f"iteration <b>{iteration}</b>")
        self.elapsed_label.setText(f"elapsed <b>{format_seconds(elapsed)}</b>")
        if iteration <= 0 or elapsed <= 0:
            self.speed_label.setText("— it/s")
        else:
            rate = iteration / elapsed
            self.speed_label.setText(
                f"<b>{rate:,.0f}</b> it/s" if rate >= 10 else f"<b>{rate:.2f}</b> it/s"
            )
        loss_text = f"loss {loss:.4g}" if loss is not None else ""
        if stop_reason is not None:
            text = f"{stop_text(stop_reason)} · {loss_text}"
        elif paused:
            text = f"paused · {loss_text}"
        elif iteration == 0:
            text = f"{INITIALISATION} · {loss_text}"
        else:
            text = f"running · {loss_text}"
        self.status_label.setText(text.strip(" ·"))
        self.progress.setRange(0, max(max_iter, 1))
        self.progress.setValue(max_iter if stop_reason is not None else min(iteration, max_iter))
        self.progress.setFormat(
            f"done: {iteration} iterations"
            if stop_reason is not None
            else f"{iteration} / {max_iter} iterations (%p%)"
        )
        self._set_note(stop_reason, rel_change)

    def _set_note(self, stop_reason: str | None, rel_change: float | None) -> None:
        if rel_change is not None and not math.isfinite(rel_change):
            rel_change = None
        if stop_reason is not None and rel_change is None and len(self._history):
            _, rel = relative_decrease(self._history, self._window)
            rel_change = float(rel[-1]) if len(rel) else None
        if not_converged(stop_reason, rel_change, self._tol):
            if rel_change is not None and math.isfinite(rel_change):
                tol = f"tol {self._tol:g}" if self._tol else "no tolerance set"
                why = f"the loss was still falling by {rel_change:.2g} per iteration ({tol})"
            else:
                why = "the loss was still falling"
            self.note_label.setText(f"Not converged: {why}. Continue to run more iterations.")
            self.note_label.show()
            self.continue_button.show()
        else:
            self.note_label.clear()
            self.note_label.hide()
            self.continue_button.hide()

    def _redraw_curve(self) -> None:
        h = self._history
        last_it = self._last[0] if self._last else 0
        if self.decrease.isChecked():
            x, y = relative_decrease(h, self._window)
            keep = y > 0  # a log axis: a loss that rose (or stood still) is not drawn
            x, y = x[keep], y[keep]
            self._set_label("relative decrease / iteration")
            self._curve.setData(x, y)
            self.off_scale.hide()
            if self._tol:
                self._tol_line.setValue(math.log10(self._tol))
                self._tol_line.show()
            else:
                self._tol_line.hide()
            if len(y):  # the range takes in the tolerance: where the curve must get to
                lo, hi = np.log10(y.min()), np.log10(y.max())
                if self._tol:
                    lo, hi = min(lo, math.log10(self._tol)), max(hi, math.log10(self._tol))
                self._set_y(log_range(self._y_range, float(lo), float(hi)))
        else:
            self._tol_line.hide()
            self._set_label("loss")
            x = np.flatnonzero(np.isfinite(h))  # only evaluated losses are drawn
            y = h[x]
            positive = y[y > 0]
            floor = positive.min() * 1e-3 if positive.size else 1.0
            # a log axis cannot show 0 or negatives: floor them far below the curve
            y = np.where(y > 0, y, floor)
            self._curve.setData(x, y)
            self._fit_range(x, y)
        self._set_x(last_it, self._last[1] if self._last else None)
