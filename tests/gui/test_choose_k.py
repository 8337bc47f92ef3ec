"""The Choose-k dock: the scree hint, a sweep to completion, adopting a k, stopping,
exporting, and closing the window mid-sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from nmfviewer.core.params import NMFParams
from nmfviewer.gui.main_window import MainWindow
from nmfviewer.gui.views.choose_k_view import SweepRequest

FAST: dict = {}  # the default stop rule: converged fits (the suggestion needs them)


def set_params(win, **kw):
    params = NMFParams(**{"n_components": 4, "seed": 0, **FAST, **kw})
    win.params_panel.set_params(params)
    assert win.params_panel.is_valid, win.params_panel.error_text
    return params


def wait_scree(win, qtbot):
    qtbot.waitUntil(lambda: win.choose_k.scree is not None, timeout=10_000)
    return win.choose_k.scree


def at_k(curves, k):
    """The widget position of k on the curves (half-way up)."""
    vb = curves.getViewBox()
    (_x0, _x1), (y0, y1) = vb.viewRange()
    return curves.mapFromScene(vb.mapViewToScene(QPointF(k, (y0 + y1) / 2)))


def sweep(win, qtbot, ks=(2, 3, 4, 5, 6), reps=2, restarts=1, timeout=120_000):
    rows = []
    win.choose_k_view.kHovered.connect(rows.append)
    with qtbot.waitSignal(win.choose_k.sweepFinished, timeout=timeout) as done:
        assert win.choose_k.sweep(SweepRequest(tuple(ks), reps, restarts, 0.1))
    return done.args[0]


def test_scree_hint_arrives_off_the_gui_thread_when_a_collection_loads(loaded, qtbot):
    w = loaded
    result = wait_scree(w, qtbot)
    assert result.values.shape == (20,)  # 20 images: at most 20 singular values
    # the planted images mix 4 blobs: the elbow says so
    assert result.elbow == 4 == w.choose_k_view.elbow
    assert "k ≈ 4" in w.choose_k_view.scree_label.text()
    # the sweep's default range reaches past the elbow
    assert w.choose_k_view.k_from.value() == 2 and w.choose_k_view.k_to.value() == 12


def test_sweep_to_completion_grows_the_curves_and_suggests_a_k(loaded, qtbot):
    w, view = loaded, loaded.choose_k_view
    set_params(w)
    wait_scree(w, qtbot)
    seen = []
    w.choose_k.view.kHovered.connect(seen.append)
    result = sweep(w, qtbot)
    assert result.complete and [r.k for r in result.rows] == [2, 3, 4, 5, 6]
    assert sorted(view.rows) == [2, 3, 4, 5, 6]
    # the curves hold one point per k, in k order
    x, y = view.error_plot.test.getData()
    np.testing.assert_array_equal(x, [2, 3, 4, 5, 6])
    np.testing.assert_allclose(y, [r.test_error for r in result.rows])
    assert seen[:5] == [2, 3, 4, 5, 6]  # thumbnails followed each new k
    # the suggestion is marked, and its basis images are shown
    assert result.suggested_k == 4
    assert view.suggested_k == 4 and view.shown_k == 4
    assert view.thumbs.count() == 4
    mark = view.error_plot.suggested_mark
    assert mark.isVisible() and mark.value() == 4
    assert mark.toolTip().startswith("suggested k = 4: ")
    assert view.progress.value() == 1000 and view.sweep_button.isEnabled()
    assert w.actions.export_sweep.isEnabled()


def test_adopting_a_k_fits_it_fully_with_its_stability_badges(loaded, qtbot):
    w, s = loaded, loaded.session
    set_params(w)
    sweep(w, qtbot, ks=(3, 4, 5), reps=1, restarts=3)
    curves = w.choose_k_view.error_plot
    w.docks["choose_k"].raise_()
    qtbot.waitUntil(curves.isVisible, timeout=5_000)
    # the mouse over k = 3 shows its basis images; a double-click on k = 5 adopts it
    qtbot.mouseMove(curves.viewport(), at_k(curves, 3))
    qtbot.waitUntil(lambda: w.choose_k_view.shown_k == 3, timeout=5_000)
    assert w.choose_k_view.thumbs.count() == 3
    at, left = at_k(curves, 5), Qt.MouseButton.LeftButton
    with qtbot.waitSignal(s.runFinished, timeout=30_000):
        qtbot.mouseClick(curves.viewport(), left, pos=at)  # press, release, press, release
        qtbot.mouseDClick(curves.viewport(), left, pos=at)
        qtbot.mouseRelease(curves.viewport(), left, pos=at)
    assert w.params_panel.k.value() == 5 and s.run_params.n_components == 5
    assert s.latest.state.H.shape[0] == 5 and w.basis.n_tiles == 5
    # each tile carries the stability of its component over the sweep's restarts
    labels = w.basis.badge_texts()
    assert all(" s " in text for text in labels), labels


def test_stop_keeps_the_finished_ks_and_a_new_sweep_drops_the_old(loaded, qtbot):
    w = loaded
    set_params(w, max_iter=100_000, tol=0.0)  # slow fits: Stop comes mid-sweep
    wait_scree(w, qtbot)
    # no held-out entries: no early stopping on the test error either, so every fit
    # runs its 100,000 iterations unless stopped (a fast machine cannot finish first)
    assert w.choose_k.sweep(SweepRequest((2, 3, 4, 5, 6, 7, 8), 1, 3, 0.0))
    assert w.choose_k.running and not w.choose_k_view.sweep_button.isEnabled()
    qtbot.wait(300)
    with qtbot.waitSignal(w.choose_k.sweepFinished, timeout=60_000) as done:
        w.choose_k_view.stop_button.click()
    result = done.args[0]
    assert not result.complete and len(result.rows) < 7
    assert not w.choose_k.running and w.choose_k_view.sweep_button.isEnabled()


def test_export_writes_the_sweep_files(loaded, qtbot, tmp_path):
    from nmfviewer.gui.choose_k import export_sweep_to

    w = loaded
    set_params(w)
    assert not export_sweep_to(w, w.choose_k, tmp_path / "none")  # nothing to export yet
    assert "no sweep to export" in w.messages[-1]
    result = sweep(w, qtbot, ks=(2, 3, 4), reps=1)
    assert export_sweep_to(w, w.choose_k, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["rank.csv", "rank.json", "rank.png"]
    record = json.loads((tmp_path / "out" / "rank.json").read_text())
    assert record["suggested_k"] == result.suggested_k


def test_a_bad_k_range_is_a_dialog_and_nothing_starts(loaded, qtbot):
    w = loaded
    set_params(w)
    assert not w.choose_k.sweep(SweepRequest((), 3, 1, 0.1))
    assert "k range is empty" in w.messages[-1]
    w.choose_k.sweep(SweepRequest((2, 500), 3, 1, 0.1))
    qtbot.waitUntil(lambda: "500" in w.messages[-1], timeout=10_000)
    qtbot.waitUntil(lambda: not w.choose_k.running, timeout=10_000)


@pytest.mark.parametrize("when", ["sweeping", "scree"])
def test_closing_mid_sweep_exits_cleanly(qtbot, settings, image_dir, when):
    w = MainWindow(settings=settings, confirm=lambda q: True)
    w.ask_on_close = False
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.session.collectionChanged, timeout=10_000):
        w.open_paths([image_dir])
    if when == "sweeping":
        set_params(w, max_iter=100_000, tol=0.0)
        assert w.choose_k.sweep(SweepRequest((2, 3, 4, 5, 6), 3, 2, 0.1))
        qtbot.waitUntil(lambda: w.choose_k_view.progress.value() > 0, timeout=20_000)
    assert w.close()
    assert w.session.busy_threads == 0
