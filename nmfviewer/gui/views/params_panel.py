"""Parameter panel and run controls.

Every edit builds an NMFParams right away: the core validates it, and its
ParameterError text is shown inline (the Run button is disabled meanwhile).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core import SOLVER_REGISTRY, NMFParams, ParameterError, parse_seed
from ..dialogs import error_text

LOSS_NAMES = (
    ("frobenius", "Frobenius (least squares)"),
    ("kl", "Kullback-Leibler"),
    ("is", "Itakura-Saito"),
)
SOLVER_NAMES = tuple((name, info.label) for name, info in SOLVER_REGISTRY.items())
INIT_NAMES = (
    ("auto", "auto"),
    ("nndsvda", "NNDSVDa"),
    ("nndsvd", "NNDSVD"),
    ("nndsvdar", "NNDSVDar"),
    ("random", "random"),
)
#: NMFParams field -> the label of its widget (errors point to it)
PARAM_LABELS = {
    "n_components": "Components k",
    "loss": "Loss",
    "solver": "Solver",
    "init": "Init",
    "seed": "Seed",
    "max_iter": "Max iterations",
    "tol": "Tolerance",
    "time_budget": "Time budget (s)",
    "alpha_W": "alpha_W",
    "alpha_H": "alpha_H",
    "l1_ratio": "l1_ratio",
}


def _combo(choices) -> QComboBox:
    box = QComboBox()
    for value, text in choices:
        box.addItem(text, value)
    return box


def _select(box: QComboBox, value) -> None:
    i = box.findData(value)
    if i >= 0:
        box.setCurrentIndex(i)


def _tip_labels(form: QFormLayout) -> None:
    """Give each row's label its field's tooltip (hovering either explains the field)."""
    for row in range(form.rowCount()):
        label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        if label is not None and field is not None and field.widget() is not None:
            label.widget().setToolTip(field.widget().toolTip())


class ParamsPanel(QWidget):
    """params() -> NMFParams (raises ParameterError); set_params(p); set_data_shape(n, m);
    set_run_state(state, has_results). Emits run/pause/resume/stop/continue requests."""

    runRequested = Signal()
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    continueRequested = Signal(int)
    validityChanged = Signal()  # read is_valid (no bool argument: see gui/app.py)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._base = NMFParams(n_components=8)
        self._shape: tuple[int, int] | None = None
        self._valid = True
        self._state = "idle"
        self._has_results = False

        self.k = QSpinBox()
        self.k.setRange(1, 10_000)
        self.loss = _combo(LOSS_NAMES)
        self.solver = _combo(SOLVER_NAMES)
        self.init = _combo(INIT_NAMES)
        self.seed = QLineEdit()
        self.seed.setPlaceholderText("random")
        self.max_iter = QSpinBox()
        self.max_iter.setRange(1, 10_000_000)
        self.tol = QLineEdit()
        self.time_budget = QLineEdit()
        self.time_budget.setPlaceholderText("no limit")
        self.alpha_W = QLineEdit()
        self.alpha_H = QLineEdit()
        self.alpha_H.setPlaceholderText("same")
        self.l1_ratio = QLineEdit()
        self.tips = {
            self.k: "k: the number of basis images (components) NMF looks for. More "
            "components give finer parts and a smaller error; at most "
            "min(images, pixels).",
            self.loss: "What 'fits the data' means: Frobenius (least squares, the usual "
            "choice), Kullback-Leibler (counts, Poisson-like noise) or "
            "Itakura-Saito (spectra, scale-invariant).",
            self.solver: "HALS: fast, Frobenius loss only. Multiplicative updates: any loss, "
            "slower per unit of progress.",
            self.init: "Starting factors: auto (NNDSVDa when k ≤ min(images, pixels), else "
            "random), the NNDSVD family (SVD-based, deterministic) or random.",
            self.seed: "Seed of the random initialisation, 0 to 4294967295; leave empty for "
            "a fresh one (the export records the seed used).",
            self.max_iter: "Stop after this many iterations at the latest; a run that "
            "stops here before converging says so and can be continued.",
            self.tol: "Stop when the loss decreases by less than this per iteration "
            "(relative, over the convergence window); 0 never stops early. "
            "Loss panel ▸ relative decrease vs tol shows the measure.",
            self.time_budget: "Stop after this many seconds at the latest (empty: no limit).",
            self.alpha_W: "Regularisation strength on W (scikit-learn's alpha_W); 0: none.",
            self.alpha_H: "Regularisation strength on H; empty ('same') uses alpha_W.",
            self.l1_ratio: "0 = L2 (ridge) penalty, 1 = L1 (sparsity), in between = mix.",
        }
        for widget, tip in self.tips.items():
            widget.setToolTip(tip)

        model = QGroupBox("Model")
        form = QFormLayout(model)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        labels = PARAM_LABELS
        for field in ("n_components", "loss", "solver", "init", "seed"):
            form.addRow(labels[field], getattr(self, "k" if field == "n_components" else field))
        stop = QGroupBox("Stopping")
        form2 = QFormLayout(stop)
        for field in ("max_iter", "tol", "time_budget"):
            form2.addRow(labels[field], getattr(self, field))
        for form_layout in (form, form2):
            _tip_labels(form_layout)
        reg = QGroupBox("Regularisation")
        form3 = QFormLayout(reg)
        for field in ("alpha_W", "alpha_H", "l1_ratio"):
            form3.addRow(labels[field], getattr(self, field))
        _tip_labels(form3)

        # the message has its own reserved lines: the form never moves under the pointer
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #ff6b6b;")
        self.error.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.error.setFixedHeight(3 * self.error.fontMetrics().lineSpacing() + 4)
        self.error.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Start a new run from scratch (Ctrl+R)")
        self.run_button.setStyleSheet("QPushButton { font-weight: bold; padding: 4px 10px; }")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip("Run N more iterations from the current factors")
        self.pause_button.setToolTip("Pause the run (the factors so far stay); again to resume")
        self.stop_button.setToolTip("Stop after the current iteration; the results so far stay")
        self.continue_n = QSpinBox()
        self.continue_n.setRange(1, 1_000_000)
        self.continue_n.setValue(100)
        self.continue_n.setPrefix("+")
        self.continue_n.setSuffix(" it")
        self.continue_n.setToolTip("How many more iterations Continue runs")
        buttons = QGridLayout()
        buttons.addWidget(self.run_button, 0, 0)
        buttons.addWidget(self.pause_button, 0, 1)
        buttons.addWidget(self.stop_button, 0, 2)
        buttons.addWidget(self.continue_button, 1, 0)
        buttons.addWidget(self.continue_n, 1, 1, 1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(6)
        layout.addLayout(buttons)
        layout.addWidget(model)
        layout.addWidget(stop)
        layout.addWidget(reg)
        layout.addWidget(self.error)  # last, in its reserved lines: nothing below it moves
        layout.addStretch(1)

        self.run_button.clicked.connect(self.runRequested)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.stop_button.clicked.connect(self.stopRequested)
        self.continue_button.clicked.connect(
            lambda: self.continueRequested.emit(self.continue_n.value())
        )
        self.loss.currentIndexChanged.connect(self._on_loss_changed)
        for spin in (self.k, self.max_iter):
            spin.valueChanged.connect(self._validate)
        for box in (self.solver, self.init):
            box.currentIndexChanged.connect(self._validate)
        for edit in self._text_fields():
            edit.textChanged.connect(self._validate)
        self.set_params(self._base)

    def _text_fields(self) -> tuple:
        """The line edits that hold a number or text parameter, in form order."""
        return (self.seed, self.tol, self.time_budget, self.alpha_W, self.alpha_H, self.l1_ratio)

    # -- public API ------------------------------------------------------------
    def set_params(self, params: NMFParams) -> None:
        self._base = params
        widgets = (self.k, self.max_iter, self.loss, self.solver, self.init, *self._text_fields())
        for w in widgets:
            w.blockSignals(True)
        self.k.setValue(params.n_components)
        self.max_iter.setValue(params.max_iter)
        _select(self.loss, params.loss)
        _select(self.solver, params.solver)
        _select(self.init, params.init if params.init != "custom" else "auto")
        self.seed.setText("" if params.seed is None else str(params.seed))
        self.tol.setText(f"{params.tol:g}")
        self.time_budget.setText("" if params.time_budget is None else f"{params.time_budget:g}")
        self.alpha_W.setText(f"{params.alpha_W:g}")
        self.alpha_H.setText("" if params.alpha_H == "same" else f"{params.alpha_H:g}")
        self.l1_ratio.setText(f"{params.l1_ratio:g}")
        for w in widgets:
            w.blockSignals(False)
        self._validate()

    def params(self) -> NMFParams:
        """The parameters shown, validated (ParameterError when they are not valid)."""
        seed = parse_seed(self.seed.text())  # the core's rule: 0 <= seed < 2**32, digits only
        budget = self.time_budget.text().strip() or None
        alpha_h = self.alpha_H.text().strip() or "same"
        params = replace(
            self._base,
            n_components=self.k.value(),
            loss=self.loss.currentData(),
            solver=self.solver.currentData(),
            init=self.init.currentData(),
            seed=seed,
            max_iter=self.max_iter.value(),
            tol=self.tol.text().strip() or "",
            time_budget=budget,
            alpha_W=self.alpha_W.text().strip() or "",
            alpha_H=alpha_h,
            l1_ratio=self.l1_ratio.text().strip() or "",
        )
        if self._shape is not None:
            params.check_data_shape(*self._shape)
        return params

    def set_data_shape(self, n_images: int, n_pixels: int) -> None:
        """Validate k against an (n_images x n_pixels) data matrix from now on."""
        self._shape = (int(n_images), int(n_pixels))
        self._validate()

    @property
    def is_valid(self) -> bool:
        return self._valid

    @property
    def error_text(self) -> str:
        return "" if self._valid else self.error.text()

    def set_run_state(self, state: str, has_results: bool) -> None:
        """state: 'idle' | 'running' | 'paused' | 'finished'."""
        self._state, self._has_results = state, has_results
        self._update_buttons()

    # -- internals -------------------------------------------------------------
    def _on_loss_changed(self) -> None:
        # HALS only minimises the Frobenius loss: pick the solver that can do the others
        if self.loss.currentData() != "frobenius" and self.solver.currentData() == "hals":
            _select(self.solver, "mu")
        self._validate()

    def _on_pause_clicked(self) -> None:
        if self._state == "paused":
            self.resumeRequested.emit()
        else:
            self.pauseRequested.emit()

    def _validate(self) -> None:
        try:
            self.params()
        except ParameterError as exc:
            message = error_text(exc)
            self.error.setText(message)
            self.error.setToolTip(message)  # in full, should it need more than its lines
            self.run_button.setToolTip(f"Cannot run: {message}")
            valid = False
        else:
            self.error.clear()
            self.error.setToolTip("")
            self.run_button.setToolTip("Start a new run from scratch (Ctrl+R)")
            valid = True
        if valid != self._valid:
            self._valid = valid
            self.validityChanged.emit()
        self._update_buttons()

    def _update_buttons(self) -> None:
        active = self._state in ("running", "paused")
        self.run_button.setEnabled(self._valid and self._shape is not None)
        self.pause_button.setEnabled(active)
        self.pause_button.setText("Resume" if self._state == "paused" else "Pause")
        self.stop_button.setEnabled(active)
        self.continue_button.setEnabled(self._has_results and not active)
        self.continue_n.setEnabled(self._has_results and not active)
