"""Loading (drop, dialogs' code paths), collection panel, export, prompts, settings."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from nmfviewer.core.params import NMFParams
from nmfviewer.gui.dialogs import error_text
from nmfviewer.gui.main_window import MainWindow


def drop(widget, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.dropEvent(event)
    return event


def run_to_end(window, qtbot, **kw):
    window.params_panel.set_params(NMFParams(**{"n_components": 3, "max_iter": 30, **kw}))
    with qtbot.waitSignal(window.session.runFinished, timeout=20_000):
        assert window.start_run()


def test_dropping_a_folder_loads_it(window, image_dir, qtbot):
    with qtbot.waitSignal(window.session.collectionChanged, timeout=10_000) as loaded:
        event = drop(window, [image_dir])
    assert event.isAccepted()
    c = loaded.args[0]
    assert c.n_images == 20 and c.image_shape == (16, 16)
    summary = window.collection_panel.summary.text()
    assert "20" in summary and "16 × 16" in summary and "uint8" in summary
    assert window.collection_panel.model.rowCount() == 20
    assert window.params_panel.run_button.isEnabled()
    assert json.loads(window.settings.value("recent"))[0] == [str(image_dir)]
    assert window.settings.value("lastFolder") == str(image_dir)


def test_dropping_files_and_a_tiff_stack(window, tmp_path, qtbot):
    import tifffile

    cube = np.random.default_rng(1).random((12, 8, 9)).astype(np.float32)
    tifffile.imwrite(tmp_path / "cube.tif", cube)
    with qtbot.waitSignal(window.session.collectionChanged, timeout=10_000) as loaded:
        drop(window, [tmp_path / "cube.tif"])
    assert loaded.args[0].n_images == 12 and loaded.args[0].image_shape == (8, 9)


def test_a_failed_load_is_reported_and_the_window_keeps_working(window, tmp_path, image_dir, qtbot):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with qtbot.waitSignal(window.session.loadFailed, timeout=10_000) as failed:
        window.open_paths([empty])
    message = error_text(failed.args[0])
    assert str(empty) in message or "empty" in message
    assert window.messages and window.messages[-1] == message
    assert not window.load_progress.isVisible()
    with qtbot.waitSignal(window.session.collectionChanged, timeout=10_000):
        window.open_paths([image_dir])


def test_loader_warnings_are_shown_in_plain_words(window, make_image_dir, qtbot):
    folder = make_image_dir("mixed")
    (folder / "readme.txt").write_text("hello")
    with qtbot.waitSignal(window.session.collectionChanged, timeout=10_000) as loaded:
        window.open_paths([folder])
    warnings = loaded.args[0].warnings
    assert warnings, "the loader should mention the skipped text file"
    assert window.collection_panel.warnings.isVisible()
    assert "readme.txt" in window.collection_panel.warnings.toPlainText()


def test_export_writes_what_fit_writes(loaded, tmp_path, qtbot):
    run_to_end(loaded, qtbot)
    assert loaded.session.has_unsaved_results
    out = tmp_path / "out"
    assert loaded.export_to(out)
    names = {p.name for p in out.iterdir()}
    assert {"weights.csv", "factors.npz", "run.json", "basis_montage.png"} <= names
    assert {"basis_00.png", "basis_01.png", "basis_02.png"} <= names
    with np.load(out / "factors.npz") as f:
        # the export holds the result: the components in energy order
        np.testing.assert_allclose(f["H"], loaded.session.result().H)
    assert not loaded.session.has_unsaved_results


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="permissions are not enforced for root"
)
def test_export_failure_keeps_the_results(loaded, tmp_path, qtbot):
    run_to_end(loaded, qtbot)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert not loaded.export_to(locked / "out")
    finally:
        locked.chmod(0o700)
    assert "Export failed" in loaded.statusBar().currentMessage()
    assert loaded.session.latest is not None and loaded.session.has_unsaved_results
    assert loaded.export_to(tmp_path / "elsewhere")


def test_export_to_a_file_path_fails_cleanly(loaded, tmp_path, qtbot):
    run_to_end(loaded, qtbot)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert not loaded.export_to(blocker / "sub")
    assert loaded.messages and loaded.session.has_unsaved_results
    assert loaded.export_to(tmp_path / "ok")


def test_save_one_basis_image(loaded, tmp_path, qtbot):
    import imageio.v3 as iio

    run_to_end(loaded, qtbot)
    assert loaded.save_basis_to(1, tmp_path / "b1.png")
    assert iio.imread(tmp_path / "b1.png").shape[:2] == (16, 16)


def test_unsaved_results_ask_before_they_are_discarded(loaded, make_image_dir, qtbot):
    questions = []
    answer = [False]
    loaded.session.confirm = lambda q: questions.append(q) or answer[0]
    run_to_end(loaded, qtbot)
    first_run = loaded.session.run_id
    assert not loaded.start_run()  # declined: the results stay
    assert loaded.session.run_id == first_run and len(questions) == 1
    assert not loaded.open_paths([make_image_dir("other")])
    assert len(questions) == 2 and "not been exported" in questions[-1]
    answer[0] = True
    with qtbot.waitSignal(loaded.session.collectionChanged, timeout=10_000):
        assert loaded.open_paths([make_image_dir("other2")])
    assert loaded.session.latest is None  # nothing to lose now: no question
    run_to_end(loaded, qtbot)


def test_settings_remember_geometry_and_last_folder(qtbot, settings, image_dir):
    first = MainWindow(settings=settings, confirm=lambda q: True)
    qtbot.addWidget(first)
    first.show()
    first.resize(760, 560)  # the offscreen screen is 800 x 600
    first.open_paths([image_dir])
    qtbot.waitUntil(lambda: first.session.collection is not None, timeout=10_000)
    size = first.size()
    first.close()
    second = MainWindow(settings=settings, confirm=lambda q: True)
    qtbot.addWidget(second)
    assert second.size() == size
    assert second.recent.last_folder() == str(image_dir)
    assert [a.text() for a in second.actions.recent_menu.actions()] == [str(image_dir)]
    second.close()


def test_selecting_images_and_components_updates_the_views(loaded, qtbot):
    run_to_end(loaded, qtbot)
    w = loaded
    w.select_image(7)
    assert "Image <b>7</b>" in w.recon_view.title.text()
    assert "relative error" in w.recon_view.title.text()
    w.select_component(2)
    top = w.recon_view.top_images(2)
    W = w.session.latest.state.W
    assert W[top[0], 2] == W[:, 2].max()
    assert w.recon_view.top_list.count() == min(12, 20)
    assert w.recon_view.top_list.item(0).data(Qt.ItemDataRole.UserRole) == top[0]


def test_loading_shows_progress_and_can_be_cancelled(qtbot, settings, image_dir):
    import threading

    from nmfviewer.core.errors import LoadError
    from nmfviewer.gui.session import Session

    started = threading.Event()

    def slow_load(paths, options, *, progress=None, cancel=None):
        for done in range(1, 1000):
            progress(done, 1000)
            started.set()
            if cancel.wait(0.01):
                raise LoadError("loading cancelled")
        raise AssertionError("never cancelled")

    session = Session(load_fn=slow_load)
    w = MainWindow(session=session, settings=settings, confirm=lambda q: True)
    qtbot.addWidget(w)
    w.show()
    changed = []
    session.collectionChanged.connect(changed.append)
    progress = []
    session.loadProgress.connect(lambda done, total: progress.append((done, total)))
    assert w.open_paths([image_dir])
    qtbot.waitUntil(lambda: len(progress) >= 2, timeout=10_000)
    assert w.load_progress.isVisible() and w.load_cancel.isVisible()
    assert w.load_progress.maximum() == 1000
    # the window is not blocked: events are processed while loading
    w.params_panel.k.setValue(3)
    assert w.params_panel.k.value() == 3
    workers = list(session._threads)
    with qtbot.waitSignal(session.loadFinished, timeout=5000):
        w.load_cancel.click()
    qtbot.waitUntil(lambda: not any(t.isRunning() for t in workers), timeout=5000)
    assert not w.load_progress.isVisible()
    assert changed == [] and session.collection is None
    assert not w.messages  # a cancel is not an error
    w.close()


def test_no_arguments_opens_the_sample_faces(qtbot, monkeypatch, tmp_path):
    from nmfviewer.core import GuiRequest
    from nmfviewer.gui import app

    windows = []

    class Recorded(MainWindow):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            windows.append(self)

    monkeypatch.setattr(app, "MainWindow", Recorded)
    shot = tmp_path / "start.png"
    assert app.run(GuiRequest(screenshot=shot, quit_when_done=True)) == 0
    c = windows[0].session.collection
    assert c is not None and c.n_images == 100 and c.image_shape == (25, 25)
    assert all(n.startswith("face_") for n in c.names)
    assert windows[0].params_panel.params().n_components == 16
    assert shot.stat().st_size > 0


def test_closing_with_unexported_results_asks_first(loaded, qtbot):
    run_to_end(loaded, qtbot)
    answers = [False, True]
    questions = []
    loaded.session.confirm = lambda q: questions.append(q) or answers.pop(0)
    loaded.ask_on_close = True
    assert not loaded.close()  # declined: the window stays, results intact
    assert loaded.isVisible() and loaded.session.latest is not None
    assert loaded.close() and len(questions) == 2 and "Quit?" in questions[0]
