"""The formats of issue 12 in the window: the Load options fields that choose the
image axis and the dataset, and a cube of several datasets opened, refused with a
dialog that points to the field, then loaded once the field is filled."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import format_files as ff  # tests/ is not a package

from nmfviewer.core import LoadOptions
from nmfviewer.gui.views.load_options import LoadOptionsDialog


def test_load_options_image_axis_and_dataset_round_trip(qtbot):
    options = LoadOptions(image_axis="T", dataset="/entry/data/data")
    dialog = LoadOptionsDialog(options)
    qtbot.addWidget(dialog)
    assert dialog.options() == options
    dialog.texts["image_axis"].setText("  ")
    dialog.texts["dataset"].setText(" /b ")
    assert dialog.options().image_axis is None  # blank: automatic
    assert dialog.options().dataset == "/b"


def test_load_options_dialog_looks_right(qtbot, tmp_path):
    dialog = LoadOptionsDialog(LoadOptions(image_axis="C"))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    shot = tmp_path / "load_options.png"
    assert dialog.grab().save(str(shot))
    assert shot.stat().st_size > 1000
    edit = dialog.texts["dataset"]
    assert edit.placeholderText().startswith("automatic") and edit.isVisible()


def test_a_file_of_several_datasets_points_to_the_dataset_field(window, qtbot, tmp_path):
    a, b = ff.cube((3, 8, 8)), ff.cube((4, 8, 8), seed=1)
    path = ff.hdf5(tmp_path / "two.h5", {"a": a, "b": b})
    s = window.session
    before = len(window.messages)
    assert window.open_paths([path])
    qtbot.waitUntil(lambda: len(window.messages) > before and not s.loading, timeout=20_000)
    message = window.messages[-1]
    assert "two.h5" in message and "/a, /b" in message and "Load options… ▸ Dataset" in message
    s.load_options = LoadOptions(dataset="/b")
    with qtbot.waitSignal(s.collectionChanged, timeout=20_000):
        assert window.open_paths([path])
    np.testing.assert_array_equal(s.collection.images, b.astype(np.float32))
