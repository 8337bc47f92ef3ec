"""The Choose-k dock: the scree hint, the k sweep's curves as they grow, the basis
images of the k under the cursor, and adopting a k.

The view knows nothing of workers or the session: it offers ``set_*`` methods and
emits ``sweepRequested(SweepRequest)``, ``stopRequested()``, ``adoptRequested(k)``
and ``restartsRequested(R)``. Rows arrive one per finished k (``add_row``); the
curves are redrawn from those few numbers, and the thumbnails of a k are made
once, when the cursor first visits it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .common import ACCENT, BACKGROUND, ElidedLabel, thumbnail_pixmap
from .sweep_curves import LEGEND, SweepCurves

THUMB = 40  # thumbnail size in pixels
SCREE_COLOUR = (200, 200, 200)


@dataclass(frozen=True)
class SweepRequest:
    """What the user asked for: ks (the k range, inclusive), reps, restarts, holdout."""

    ks: tuple[int, ...]
    reps: int
    restarts: int
    holdout: float


def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def _plot(y_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=BACKGROUND)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setLabel("left", y_label)
    plot.getAxis("left").setWidth(48)
    return plot


class ChooseKView(QWidget):
    """set_scree(values, elbow); set_image_shape((h, w)); set_limits(max_k);
    add_row(row) with a core ``RankRow``; set_result(suggested_k, rule, complete);
    set_running(bool); set_progress(fraction, text); clear()."""

    sweepRequested = Signal(object)  # SweepRequest
    stopRequested = Signal()
    adoptRequested = Signal(int)  # k
    restartsRequested = Signal(int)  # R
    kHovered = Signal(int)  # the k whose basis images are shown

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: dict[int, object] = {}
        self._icons: dict[int, list[QIcon]] = {}
        self._shape: tuple[int, int] | None = None
        self._suggested: int | None = None
        self._shown_k: int | None = None
        self._pinned_k: int | None = None
        self._elbow: int | None = None

        # -- the scree: an instant hint ---------------------------------------
        self.scree_plot = _plot("log σ")
        self.scree_plot.setLogMode(y=True)
        self.scree_plot.getAxis("left").setStyle(showValues=False)  # the shape is the hint
        self.scree_plot.getAxis("left").setWidth(24)
        self.scree_plot.setFixedHeight(84)
        self.scree_plot.setMinimumWidth(110)
        self.scree_plot.setToolTip(
            "Singular values of X (log scale) against their index; the dashed line is the "
            "elbow, after which they level off"
        )
        self._scree_curve = self.scree_plot.plot(
            pen=pg.mkPen(SCREE_COLOUR, width=1.5), symbol="o", symbolSize=4,
            symbolBrush=SCREE_COLOUR, symbolPen=None,
        )  # fmt: skip
        self._elbow_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(ACCENT, width=1, style=Qt.PenStyle.DashLine)
        )
        self._elbow_line.hide()
        self.scree_plot.addItem(self._elbow_line, ignoreBounds=True)
        self.scree_label = QLabel("Scree of X: load a collection.")
        # no word wrap anywhere in this view: a height-for-width layout would make the
        # dock's scroll area size it by its preferred height and scroll
        self.scree_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        # -- the sweep's controls ---------------------------------------------
        self.k_from = _spin(1, 999, 2, "Smallest k of the sweep")
        self.k_to = _spin(1, 999, 12, "Largest k of the sweep")
        self.reps = _spin(1, 20, 3, "Cross-validation repeats per k (different held-out entries)")
        self.restarts = _spin(
            1, 50, 1, "Restarts per repeat (different seeds): more restarts measure stability"
        )
        self.holdout = QDoubleSpinBox()
        self.holdout.setRange(0.01, 0.5)
        self.holdout.setSingleStep(0.05)
        self.holdout.setDecimals(2)
        self.holdout.setValue(0.1)
        self.holdout.setToolTip("Fraction of the entries of X held out to measure the test error")
        self.sweep_button = QPushButton("Sweep")
        self.sweep_button.setToolTip("Fit every k of the range with cross-validation")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the sweep; the finished ks stay")
        self.sweep_button.clicked.connect(self._on_sweep_clicked)
        self.stop_button.clicked.connect(self.stopRequested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress.setMaximumHeight(16)
        self.status = ElidedLabel("")  # one line; the whole text is its tooltip

        # -- the curves ---------------------------------------------------------
        self.error_plot = SweepCurves()
        self.error_plot.kHovered.connect(self.show_k)
        self.error_plot.left.connect(
            lambda: self.show_k(self._pinned_k) if self._pinned_k is not None else None
        )
        self.error_plot.kClicked.connect(lambda k: self.show_k(k, pin=True))
        self.error_plot.kDoubleClicked.connect(self.adoptRequested)

        # -- the basis images of the k under the cursor ----------------------------
        self.thumb_label = QLabel("Basis images of a k appear here (hover over the curves).")
        self.thumb_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbs.setMovement(QListView.Movement.Static)
        self.thumbs.setIconSize(QSize(THUMB, THUMB))
        self.thumbs.setGridSize(QSize(THUMB + 8, THUMB + 20))
        self.thumbs.setUniformItemSizes(True)
        one_row = THUMB + 20 + 2 * self.thumbs.frameWidth()
        self.thumbs.setFixedHeight(one_row)  # one row shown; scroll for more
        self.adopt_button = QPushButton("Adopt k")
        self.adopt_button.setToolTip(
            "Set this k in the Run panel and fit it fully (or double-click a k on the curves)"
        )
        self.adopt_button.setEnabled(False)
        self.adopt_button.clicked.connect(self._on_adopt_clicked)
        self.check_restarts = _spin(2, 50, 5, "How many restarts at the current run's k")
        self.check_button = QPushButton("Run ×R restarts")
        self.check_button.setToolTip(
            "Fit the current run's k R times from different seeds and show how stable each "
            "component is (a badge on each basis tile)"
        )
        self.check_button.clicked.connect(
            lambda: self.restartsRequested.emit(self.check_restarts.value())
        )
        self._build_layout()
        self.clear()

    def _build_layout(self) -> None:
        controls = QGridLayout()  # three short rows beside the scree: the dock stays small
        controls.setHorizontalSpacing(4)
        controls.setVerticalSpacing(2)
        pairs = (
            ("k from", self.k_from),
            ("to", self.k_to),
            ("reps", self.reps),
            ("restarts", self.restarts),
            ("held out", self.holdout),
        )
        for i, (text, box) in enumerate(pairs):
            row, col = divmod(i, 2)
            label = QLabel(text)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            controls.addWidget(label, row, 2 * col)
            controls.addWidget(box, row, 2 * col + 1)
        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        buttons.addWidget(self.sweep_button)
        buttons.addWidget(self.stop_button)
        controls.addLayout(buttons, 2, 2, 1, 2)
        top = QHBoxLayout()
        top.addWidget(self.scree_plot, 1)
        top.addLayout(controls)
        thumbs_header = QHBoxLayout()
        thumbs_header.addWidget(self.thumb_label, 1)
        thumbs_header.addWidget(self.adopt_button)
        check = QHBoxLayout()
        check.addWidget(self.check_button)
        check.addWidget(QLabel("R ="))
        check.addWidget(self.check_restarts)
        check.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addWidget(self.scree_label)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        key = QLabel(LEGEND)
        key.setTextFormat(Qt.TextFormat.RichText)
        key.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(key)
        layout.addWidget(self.error_plot, 1)
        layout.addLayout(thumbs_header)
        layout.addWidget(self.thumbs)
        layout.addLayout(check)

    # -- public API ------------------------------------------------------------
    def clear(self) -> None:
        """Forget the sweep (a new collection or a new sweep)."""
        self._rows.clear()
        self._icons.clear()
        self._suggested = self._shown_k = self._pinned_k = None
        self.error_plot.clear_curves()
        self.thumbs.clear()
        self.thumb_label.setText("Basis images of a k appear here (hover over the curves).")
        self.adopt_button.setEnabled(False)
        self.adopt_button.setText("Adopt k")
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status.setFullText("Pick a k range and press Sweep.")
        self.set_running(False)

    def clear_scree(self, text: str = "Scree of X: load a collection.") -> None:
        self._elbow = None
        self._scree_curve.setData([], [])
        self._elbow_line.hide()
        self.scree_label.setText(text)

    def set_scree(self, values: np.ndarray, elbow: int) -> None:
        """values: (n,) singular values of X, largest first; elbow: the suggested k."""
        values = np.asarray(values, dtype=np.float64)
        x = np.arange(1, values.size + 1)
        shown = np.maximum(values, values.max() * 1e-12 if values.size else 1.0)
        self._scree_curve.setData(x, shown)
        self._elbow = int(elbow)
        self._elbow_line.setPos(self._elbow + 0.5)  # between the kept values and the floor
        self._elbow_line.show()
        self.scree_label.setText(
            f"<b>Scree of X</b>: levels off after <b>k ≈ {self._elbow}</b> (a hint; "
            "the sweep tests it)"
        )

    @property
    def elbow(self) -> int | None:
        return self._elbow

    def set_image_shape(self, shape: tuple[int, int]) -> None:
        self._shape = (int(shape[0]), int(shape[1]))
        self._icons.clear()

    def set_limits(self, max_k: int) -> None:
        """The largest k the data allows (min(n_images, n_pixels))."""
        for box in (self.k_from, self.k_to):
            box.setMaximum(max(1, int(max_k)))
        if self.k_to.value() > max_k:
            self.k_to.setValue(max_k)

    def set_request(self, request: SweepRequest) -> None:
        """Show the settings of a sweep started elsewhere (k range, reps, restarts...)."""
        if request.ks:
            self.set_range(min(request.ks), max(request.ks))
        self.reps.setValue(request.reps)
        self.restarts.setValue(request.restarts)
        self.holdout.setValue(request.holdout)

    def set_range(self, k_from: int, k_to: int) -> None:
        self.k_from.setValue(int(k_from))
        self.k_to.setValue(int(k_to))

    def request(self) -> SweepRequest:
        lo, hi = self.k_from.value(), self.k_to.value()
        return SweepRequest(
            tuple(range(lo, hi + 1)), self.reps.value(), self.restarts.value(), self.holdout.value()
        )

    def set_running(self, running: bool) -> None:
        self.sweep_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for box in (self.k_from, self.k_to, self.reps, self.restarts, self.holdout):
            box.setEnabled(not running)

    def set_progress(self, fraction: float, text: str = "") -> None:
        self.progress.setValue(round(1000 * min(max(fraction, 0.0), 1.0)))
        self.progress.setFormat(text or f"{100 * fraction:.0f} %")

    def set_status(self, text: str) -> None:
        self.status.setFullText(text)

    @property
    def rows(self) -> dict[int, object]:
        return dict(self._rows)

    def add_row(self, row) -> None:
        """One finished k (a core ``RankRow``): the curves grow by a point."""
        self._rows[int(row.k)] = row
        self._redraw_curves()
        if self._pinned_k is None:
            self.show_k(int(row.k))

    def set_result(self, suggested_k: int | None, rule: str = "", complete: bool = True) -> None:
        self._suggested = suggested_k
        self.error_plot.set_suggested(suggested_k, rule)
        if suggested_k is not None:
            self.show_k(suggested_k, pin=True)
        self.error_plot.setToolTip(f"Suggested k: {rule}" if rule else "")

    @property
    def suggested_k(self) -> int | None:
        return self._suggested

    @property
    def shown_k(self) -> int | None:
        return self._shown_k

    def show_k(self, k: int, *, pin: bool = False) -> None:
        """Show the basis images of the sweep's k (the best run at that k)."""
        if k not in self._rows:
            return
        if pin:
            self._pinned_k = k
        self.error_plot.set_cursor(k)
        if k == self._shown_k:
            return
        self._shown_k = k
        row = self._rows[k]
        self.thumbs.clear()
        for j, icon in enumerate(self._thumbnails(k)):
            item = QListWidgetItem(icon, str(j))
            item.setToolTip(f"component {j}")
            stability = getattr(row, "component_stability", None)
            if stability is not None and len(stability) > j and np.isfinite(stability[j]):
                item.setText(f"{float(stability[j]):.2f}")
                item.setToolTip(
                    f"component {j}: stability {stability[j]:.3f} (matched cosine over restarts)"
                )
            self.thumbs.addItem(item)
        parts = [f"<b>k = {k}</b>"]
        if np.isfinite(row.test_error):
            parts.append(f"test error {float(row.test_error):.4g}")
        if np.isfinite(row.stability_mean):
            parts.append(
                f"stability {float(row.stability_mean):.2f} (min {float(row.stability_min):.2f})"
            )
        self.thumb_label.setText(" · ".join(parts))
        self.adopt_button.setText(f"Adopt k = {k}")
        self.adopt_button.setEnabled(True)
        self.kHovered.emit(k)

    # -- drawing ---------------------------------------------------------------
    def _redraw_curves(self) -> None:
        rows = [self._rows[k] for k in sorted(self._rows)]
        self.error_plot.set_rows(rows, (self.k_from.value(), self.k_to.value()))

    def _thumbnails(self, k: int) -> list[QIcon]:
        icons = self._icons.get(k)
        if icons is None:
            row = self._rows[k]
            H = np.asarray(row.H)
            shape = self._shape or (1, H.shape[1])
            icons = [QIcon(thumbnail_pixmap(h.reshape(shape), THUMB)) for h in H]
            self._icons[k] = icons
        return icons

    def _on_sweep_clicked(self) -> None:
        self.sweepRequested.emit(self.request())

    def _on_adopt_clicked(self) -> None:
        k = self._shown_k if self._shown_k is not None else self._suggested
        if k is not None:
            self.adoptRequested.emit(int(k))
