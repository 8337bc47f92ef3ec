"""Load options dialog: how files become a collection (LoadOptions of the core)."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from ...core import LoadOptions

CHOICES = MappingProxyType(
    {
        "size_policy": (
            ("resize", "resize to the most common size"),
            ("refuse", "refuse images of another size"),
        ),
        "color": (
            ("luminance", "convert to gray (luminance)"),
            ("mean", "convert to gray (mean)"),
            ("refuse", "refuse colour images"),
            ("channels", "keep colour (R, G, B channels)"),
        ),
        "normalize": (
            ("none", "keep values as read"),
            ("max", "divide each image by its max"),
            ("sum", "scale each image to sum 1"),
        ),
        "negative": (
            ("error", "refuse (error)"),
            ("clip", "clip at zero"),
            ("shift", "shift each image to min 0"),
        ),
        "nonfinite": (("error", "refuse (error)"), ("zero", "replace by zero")),
    }
)
GB = 1024**3
#: text fields of LoadOptions (None when left empty): field -> (label, placeholder, tip)
TEXT_FIELDS = MappingProxyType(
    {
        "image_axis": (
            "Image axis",
            "automatic",
            "Which axis of a multi-axis file holds the images: an OME-TIFF / ImageJ "
            "letter (C channels, T time, Z depth, ...), an HDF5 dimension (0, 1, 2) or "
            "a vendor file's axis name (Energy). Left empty, one is picked and named "
            "in the load warnings; every other axis is read at its first index.",
        ),
        "dataset": (
            "Dataset",
            "automatic (the only one)",
            "The HDF5 / NeXus dataset (/entry/data/data) or the signal of a vendor file "
            "(its title or number) to read when a file holds several.",
        ),
    }
)
LABELS = MappingProxyType(
    {
        "size_policy": "Mixed sizes",
        "color": "Colour images",
        "normalize": "Normalisation",
        "negative": "Negative values",
        "nonfinite": "NaN / infinite values",
    }
)


class LoadOptionsDialog(QDialog):
    """Edit LoadOptions; ``options()`` returns the edited copy."""

    def __init__(self, options: LoadOptions, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Load options")
        self._base = options
        self.boxes: dict[str, QComboBox] = {}
        form = QFormLayout()
        for field, choices in CHOICES.items():
            box = QComboBox()
            for value, text in choices:
                box.addItem(text, value)
            box.setCurrentIndex(max(0, box.findData(getattr(options, field))))
            self.boxes[field] = box
            form.addRow(LABELS[field], box)
        self.recursive = QCheckBox("Include sub-folders")
        self.recursive.setChecked(options.recursive)
        form.addRow("Folders", self.recursive)
        self.max_memory = QDoubleSpinBox()
        self.max_memory.setRange(0.0, 4096.0)
        self.max_memory.setDecimals(1)
        self.max_memory.setSuffix(" GB")
        self.max_memory.setSpecialValueText("automatic (half the free memory)")
        self.max_memory.setToolTip(
            "Collections whose float32 stack would exceed this are "
            "refused before any pixel is read."
        )
        limit = options.max_memory_bytes
        self.max_memory.setValue(0.0 if limit is None else limit / GB)
        form.addRow("Memory limit", self.max_memory)
        self.texts: dict[str, QLineEdit] = {}
        for field, (label, placeholder, tip) in TEXT_FIELDS.items():
            edit = QLineEdit(getattr(options, field) or "")
            edit.setPlaceholderText(placeholder)
            edit.setToolTip(tip)
            edit.setClearButtonEnabled(True)
            self.texts[field] = edit
            form.addRow(label, edit)
        self.axis_file = QLineEdit(options.axis_file or "")
        self.axis_file.setPlaceholderText("from the file, or energy/wavelength/… file beside it")
        self.axis_file.setToolTip(
            "A text or CSV file with one value per band (e.g. energy_keV.csv): spectra are "
            "then drawn and exported against it. Empty: the file's own axis, or a file with "
            "a telling name (energy, wavelength, wavenumber, channel) beside the cube."
        )
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_axis)
        axis_row = QHBoxLayout()
        axis_row.addWidget(self.axis_file, 1)
        axis_row.addWidget(browse)
        form.addRow("Band axis file", axis_row)
        note = QLabel(
            "The options apply to the next collection you open; "
            "OK reloads the current one with them."
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _browse_axis(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Band axis file", self.axis_file.text(), "Axis files (*.csv *.txt *.tsv);;All (*)"
        )
        if path:
            self.axis_file.setText(path)

    def options(self) -> LoadOptions:
        values = {field: box.currentData() for field, box in self.boxes.items()}
        for field, edit in self.texts.items():
            values[field] = edit.text().strip() or None
        gb = self.max_memory.value()
        limit = None if gb == 0 else int(gb * GB)
        axis_file = self.axis_file.text().strip() or None
        return replace(
            self._base,
            recursive=self.recursive.isChecked(),
            max_memory_bytes=limit,
            axis_file=axis_file,
            **values,
        )
