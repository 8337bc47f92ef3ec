"""The rough edges of issue 15 (§2, §4, §5) in the real window and its views."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from nmfviewer.core import Collection, NMFParams, iterate_nmf
from nmfviewer.gui.layout import propose_export_dir
from nmfviewer.gui.quick_start import STEPS, quick_start_html
from nmfviewer.gui.redraw import RedrawLimiter
from nmfviewer.gui.views.collection_view import CollectionPanel
from nmfviewer.gui.views.loss_view import LossView, relative_decrease
from nmfviewer.gui.views.reconstruction_view import ReconstructionView
from nmfviewer.gui.views.weights_view import MAX_LINE_POINTS, WeightsView, decimate
from nmfviewer.gui.wording import STOP_REASON_TEXT, not_converged


def run_to_end(window, qtbot, **kw):
    window.params_panel.set_params(NMFParams(**{"n_components": 3, "max_iter": 30, **kw}))
    with qtbot.waitSignal(window.session.runFinished, timeout=20_000):
        assert window.start_run()


# -- §2: the per-update drawing cost is bounded -------------------------------------
def test_decimate_keeps_every_peak_within_the_budget():
    rng = np.random.default_rng(0)
    y = rng.random(10_000)
    y[1234], y[8765] = 5.0, -5.0
    x = np.arange(y.size, dtype=float)
    dx, dy = decimate(x, y, 2000)
    assert len(dx) <= 2000 and np.all(np.diff(dx) > 0)
    assert dy.max() == 5.0 and dy.min() == -5.0 and 1234.0 in dx and 8765.0 in dx
    same = decimate(x[:50], y[:50], 2000)
    np.testing.assert_array_equal(same[1], y[:50])


@pytest.mark.parametrize("n", [100, 10_000])
def test_weights_line_draws_a_bounded_number_of_points(qtbot, n):
    view = WeightsView()
    qtbot.addWidget(view)
    view.set_axis(None, "image", tuple(f"img {i}" for i in range(n)))
    W = np.random.default_rng(1).random((n, 32)).astype(np.float32)
    view.set_weights(W, np.ones(32))
    if n <= 300:  # few images: by index, a marker per image
        assert view.line_order == "index"
        assert view.points_drawn == n and view.markers_drawn == n
    else:  # many: a sorted profile, decimated, no markers
        assert view.line_order == "weight"
        assert view.points_drawn <= MAX_LINE_POINTS and view.markers_drawn == 0
        _x, y = view._curves[0].getData()
        assert np.all(np.diff(y) <= 0)  # largest weight first
        assert y[0] == pytest.approx(W[:, 0].max())
        # the profile maps back to images: clicking rank 0 picks the largest weight
        assert view.image_at(0.0) == int(np.argmax(W[:, 0]))
        view.set_line_order("index")
        assert view.points_drawn <= MAX_LINE_POINTS


def test_reconstruction_caches_thumbnails_across_updates(qtbot):
    view = ReconstructionView()
    qtbot.addWidget(view)
    rng = np.random.default_rng(2)
    images = rng.random((40, 6, 5)).astype(np.float32)
    view.set_images(images, tuple(map(str, range(40))))
    view.set_selected_component(1)
    H = rng.random((3, 30)).astype(np.float32)
    W = rng.random((40, 3)).astype(np.float32)
    for step in range(5):  # the same top images, updated weights
        view.set_factors(W * (1 + step), H)
    assert view.thumbnails_rendered == view.top_list.count() == 12
    assert view.reconstructions == 5  # one image's reconstruction per update


def test_redraw_limiter_draws_only_the_newest_and_spaces_by_cost(qtbot):
    drawn = []
    limiter = RedrawLimiter(drawn.append, min_interval=0.05, budget=0.2)
    limiter.submit(1)  # nothing drawn recently: at once
    for item in (2, 3, 4):  # a burst: kept back, only the newest survives
        limiter.submit(item)
    assert drawn == [1]
    qtbot.waitUntil(lambda: drawn == [1, 4], timeout=2000)
    cost = limiter.last_cost + limiter.last_repaint
    assert limiter.interval == pytest.approx(max(0.05, cost / 0.2))
    limiter.submit(5, now=True)  # e.g. the last state of a run
    assert drawn == [1, 4, 5]


def test_hidden_docks_skip_updates_and_catch_up_when_shown(loaded, qtbot):
    w = loaded
    w.docks["weights"].hide()
    run_to_end(w, qtbot)
    qtbot.wait(50)
    assert w.weights_view._W is None  # never drawn while hidden
    w.docks["weights"].show()
    w.docks["weights"].raise_()  # it shares a tab group with Choose k
    qtbot.waitUntil(lambda: w.weights_view._W is not None, timeout=2000)
    np.testing.assert_array_equal(w.weights_view._W, w._drawn.state.W)


# -- §4: honest progress ----------------------------------------------------------
def test_relative_decrease_is_the_stop_rules_measure():
    rng = np.random.default_rng(3)
    X = rng.random((30, 40)).astype(np.float32)
    params = NMFParams(n_components=3, seed=0, window=4, max_iter=25, tol=0.0)
    states = []
    for s in iterate_nmf(X, params):  # the solver iterates until it is told to stop
        states.append((s.iteration, s.loss, s.rel_change))
        if s.iteration == 25:
            break
    history = np.array([loss for _, loss, _ in states])
    it, rel = relative_decrease(history, 4)
    expected = {i: r for i, _, r in states if np.isfinite(r)}
    assert list(it) == sorted(expected)
    np.testing.assert_allclose(rel, [expected[i] for i in it], rtol=1e-9)


def test_loss_view_first_frame_and_not_converged_note(qtbot):
    view = LossView()
    qtbot.addWidget(view)
    view.show()
    view.set_rule(1e-4, 10)
    view.set_progress(np.array([1e6]), 0, 3000, 0.0, None, False, 1e6)
    assert view.status_label.text().startswith("initialisation")
    assert view.speed_label.text() == "— it/s"  # not "0.00 it/s"
    assert view.iteration_label.text() == "iteration <b>0</b>"  # the maximum: once, in the bar
    assert view.progress.text().startswith("0 / 3000")
    (x0, x1), _ = view.plot.viewRange()
    assert x0 <= 0 and x1 >= 9  # no empty x axis at the start
    history = 100.0 * 0.99 ** np.arange(301)  # still falling by ~1% per iteration
    view.set_progress(history, 300, 300, 3.0, "max_iter", False, history[-1], rel_change=0.01)
    assert view.status_label.text().startswith(STOP_REASON_TEXT["max_iter"])
    assert view.note_label.isVisible() and "Not converged" in view.note_label.text()
    with qtbot.waitSignal(view.continueRequested, timeout=1000):
        qtbot.mouseClick(view.continue_button, Qt.MouseButton.LeftButton)
    view.decrease.setChecked(True)  # the stop rule made visible
    assert view.plot.getAxis("left").labelText.startswith("relative decrease")
    assert view._tol_line.isVisible() and view._tol_line.value() == pytest.approx(-4)
    assert view.plot.viewRange()[1][0] < -4  # the tolerance is in view
    assert view.points_drawn == 301 - 10
    view.set_progress(history, 300, 300, 3.0, "converged", False, history[-1], 1e-5)
    assert not view.note_label.isVisible() and not view.continue_button.isVisible()


def test_not_converged_wording_rule():
    assert not_converged("max_iter", 1e-3, 1e-4)
    assert not_converged("time_budget", float("nan"), 1e-4)
    assert not not_converged("max_iter", 1e-6, 1e-4)
    assert not not_converged("converged", 1e-3, 1e-4)
    assert not not_converged("cancelled", 1e-3, 1e-4)


def test_run_to_max_iter_offers_continue_in_the_window(loaded, qtbot):
    w = loaded
    run_to_end(w, qtbot, max_iter=5, tol=1e-12)
    assert w.loss_view.continue_button.isVisible()
    assert "not converged" in w.statusBar().currentMessage()
    it = w.session.latest.state.iteration
    with qtbot.waitSignal(w.session.runFinished, timeout=20_000):
        w.loss_view.continue_button.click()
    assert w.session.latest.state.iteration == it + w.params_panel.continue_n.value()


# -- §5: rough edges ----------------------------------------------------------------
def test_a_new_collection_resets_every_view(loaded, qtbot, make_image_dir):
    w = loaded
    run_to_end(w, qtbot)
    w.select_component(2)
    assert "iteration" in w.basis_title.text()
    with qtbot.waitSignal(w.session.collectionChanged, timeout=10_000):
        assert w.open_paths([make_image_dir("other", n=7, shape=(9, 11))])
    assert "iteration" not in w.basis_title.text() and w.basis.n_tiles == 0
    assert w.loss_view.status_label.text() == "not started"
    assert w.loss_view.points_drawn == 0 and "—" in w.loss_view.iteration_label.text()
    assert w.weights_view._W is None and w.weights_view.points_drawn == 0
    assert len(w.weights_view._bars.opts["x"]) == 0
    assert "component 0" in w.weights_view.line_plot.getPlotItem().titleLabel.text
    assert w.recon_view.top_list.count() == 0
    # no range or axis title of the old run survives
    assert w.loss_view.plot.viewRange()[1] == [0, 1]
    (bx0, bx1), (by0, by1) = w.weights_view.bars_plot.viewRange()
    assert bx1 - bx0 < 2 and (by0, by1) == (0, 1)
    assert w.weights_view.line_plot.viewRange()[0][1] < 7
    assert w.weights_view.line_plot.getAxis("bottom").labelText == "image index"
    assert "relative error" not in w.recon_view.title.text()
    assert "7" in w.collection_panel.summary.text()
    run_to_end(w, qtbot)  # and a run on the new one draws its own x range and ticks
    # the line's x range follows the new collection (7 images), not the old one (20)
    qtbot.waitUntil(lambda: w.weights_view.line_plot.viewRange()[0][1] < 10, timeout=2000)


def test_open_recent_lists_only_loads_that_worked(window, qtbot, image_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(window.session.loadFailed, timeout=10_000):
        assert window.open_paths([empty])
    assert window.recent.entries() == []
    assert not window.actions.recent_menu.isEnabled()
    with qtbot.waitSignal(window.session.collectionChanged, timeout=10_000):
        assert window.open_paths([image_dir])
    assert window.recent.entries() == [[str(image_dir)]]
    # a recent entry that fails later (the folder was emptied) leaves the list
    for f in image_dir.iterdir():
        f.unlink()
    with qtbot.waitSignal(window.session.loadFailed, timeout=10_000):
        window.actions.recent_menu.actions()[0].trigger()
    assert window.recent.entries() == []


def test_export_folder_is_proposed_beside_the_input(tmp_path):
    data = tmp_path / "faces"
    data.mkdir()
    (data / "a.png").write_bytes(b"")
    proposed = propose_export_dir([data], 16, str(tmp_path))
    assert proposed == tmp_path / "faces-nmf-k16" and not proposed.exists()
    proposed.mkdir()
    assert propose_export_dir([data], 16, "") == tmp_path / "faces-nmf-k16-2"
    (data / "b.png").write_bytes(b"")
    assert propose_export_dir([data / "a.png", data / "b.png"], 4, "") == (
        tmp_path / "faces-nmf-k4"
    )
    stack = tmp_path / "cube.tif"
    stack.write_bytes(b"")
    assert propose_export_dir([stack], None, "") == tmp_path / "cube-nmf"
    assert propose_export_dir([], 3, str(tmp_path)) == tmp_path / "results-nmf-k3"


def test_all_zero_image_has_no_relative_error(qtbot):
    view = ReconstructionView()
    qtbot.addWidget(view)
    images = np.ones((3, 4, 4), np.float32)
    images[1] = 0
    view.set_images(images, ("a", "zero", "c"))
    view.set_factors(np.full((3, 2), 0.5, np.float32), np.ones((2, 16), np.float32))
    assert "relative error ‖x − Wh‖/‖x‖ = <b>0.000</b>" in view.title.text()
    view.set_selected_image(1)
    assert "n/a" in view.title.text() and "all zero" in view.title.text()
    assert "0.000" not in view.title.text()


def test_top_image_numbers_match_the_weight_bars(qtbot):
    view = ReconstructionView()
    qtbot.addWidget(view)
    images = np.ones((4, 2, 2), np.float32)
    view.set_images(images, tuple("abcd"))
    W = np.array([[1, 0], [2, 0], [3, 0], [4, 0]], np.float32)
    H = np.array([[10, 0, 0, 0], [1, 1, 1, 1]], np.float32)
    view.set_factors(W, H)
    view.set_selected_component(0)
    assert "weight × basis max" in view.top_label.text()
    assert [view.top_list.item(r).text() for r in range(4)] == ["40", "30", "20", "10"]
    view.set_scaled(False)
    assert "(weight)" in view.top_label.text()
    assert [view.top_list.item(r).text() for r in range(4)] == ["4", "3", "2", "1"]


def test_labels_colour_and_sort_the_weights(window, qtbot, image_dir):
    (image_dir / "labels.csv").write_text(
        "name,label\n"
        + "".join(f"img_{i:03d}.png,{'cat' if i % 2 else 'dog'}\n" for i in range(20)),
        encoding="utf-8",
    )
    with qtbot.waitSignal(window.session.collectionChanged, timeout=10_000):
        assert window.open_paths([image_dir])
    assert window.weights_view.labels == tuple("cat" if i % 2 else "dog" for i in range(20))
    assert "labels.csv" not in window.collection_panel.warnings.toPlainText()
    run_to_end(window, qtbot)
    view = window.weights_view
    view.set_line_order("label")
    assert view.line_order == "label" and len(view._curves) == 2  # one colour per label
    (x_cat, _), (x_dog, _) = (c.getData() for c in view._curves)
    assert list(x_cat) == list(range(10)) and list(x_dog) == list(range(10, 20))
    assert view.image_at(0.0) % 2 == 1 and view.image_at(19.0) % 2 == 0
    window.select_component(0)
    texts = [window.recon_view.top_list.item(r).text() for r in range(3)]
    assert all(t.split("\n")[1] in ("cat", "dog") for t in texts)


def test_every_parameter_has_a_tooltip(window):
    panel = window.params_panel
    for widget in (
        panel.k,
        panel.loss,
        panel.solver,
        panel.init,
        panel.seed,
        panel.max_iter,
        panel.tol,
        panel.time_budget,
        panel.alpha_W,
        panel.alpha_H,
        panel.l1_ratio,
        panel.continue_n,
        panel.run_button,
        panel.pause_button,
        panel.stop_button,
    ):
        assert len(widget.toolTip()) > 10, widget


def test_validation_message_does_not_move_the_form(window, qtbot):
    panel = window.params_panel
    qtbot.wait(20)
    before = panel.k.mapTo(panel, panel.k.rect().topLeft())
    panel.l1_ratio.setText("2")
    qtbot.wait(20)
    assert not panel.is_valid and "l1_ratio" in panel.error_text
    assert panel.k.mapTo(panel, panel.k.rect().topLeft()) == before


def test_long_source_path_is_elided_in_the_middle(qtbot, tmp_path):
    panel = CollectionPanel()
    qtbot.addWidget(panel)
    panel.resize(240, 400)
    panel.show()
    qtbot.waitExposed(panel)
    deep = tmp_path.joinpath(*[f"folder_number_{i}" for i in range(8)])
    c = Collection.from_array(np.ones((2, 3, 3), np.float32))
    from dataclasses import replace

    panel.set_collection(replace(c, source=(deep,)))
    label = panel.source_label
    assert label.toolTip() == str(deep)
    assert "…" in label.text() and label.text().endswith("folder_number_7")


def test_quick_start_lists_five_steps_and_the_shortcuts(window):
    text = quick_start_html(window.actions)
    assert len(STEPS) == 5 and text.count("<li>") == 5
    assert "Ctrl+R" in text and "Ctrl+E" in text
    assert window.actions.quick_start.text() == "&Quick start"
