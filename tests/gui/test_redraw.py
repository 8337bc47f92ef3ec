"""Redrawing during a run without stalling the window (issue 15 §2): a redraw is split
across event-loop turns, live plots keep their axes unless the data leaves them, and
titles are only set when they change. Behaviour, not timing."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer

from nmfviewer.core import NMFParams, iterate_nmf
from nmfviewer.gui.redraw import RedrawLimiter
from nmfviewer.gui.views.common import log_range, range_top
from nmfviewer.gui.views.loss_view import MIN_X_SPAN, LossView
from nmfviewer.gui.views.weights_view import WeightsView
from nmfviewer.gui.worker import FitUpdate


def staged(log, marks):
    """A draw of ``item`` in three steps; each step posts a zero-time timer, which
    fires before the next step only if the steps run in separate event-loop turns."""

    def draw(item):
        for step in "abc":
            log.append((item, step, len(marks)))
            QTimer.singleShot(0, lambda: marks.append(1))
            yield

    return draw


def test_a_staged_redraw_runs_one_step_per_event_loop_turn(qtbot):
    log, marks = [], []
    limiter = RedrawLimiter(staged(log, marks), min_interval=0.01)
    limiter.submit(1)
    assert log == [(1, "a", 0)] and limiter.busy  # the rest waits for later turns
    qtbot.waitUntil(lambda: not limiter.busy, timeout=2000)
    assert [s for _, s, _ in log] == ["a", "b", "c"]
    seen = [m for _, _, m in log]
    assert seen[1] >= 1 and seen[2] >= 2  # other events ran between the steps
    assert limiter.drawn == 1 and limiter.last_max_step <= limiter.last_cost


def test_a_newer_update_waits_for_the_staged_draw_and_only_the_newest_is_drawn(qtbot):
    log, marks = [], []
    limiter = RedrawLimiter(staged(log, marks), min_interval=0.01)
    limiter.submit(1)
    for item in (2, 3):
        limiter.submit(item, now=True)  # e.g. the final state arriving mid-draw
    assert [i for i, _, _ in log] == [1]  # not interleaved with the draw under way
    qtbot.waitUntil(lambda: limiter.drawn == 2 and not limiter.busy, timeout=2000)
    assert [(i, s) for i, s, _ in log] == [(1, "a"), (1, "b"), (1, "c"),
                                           (3, "a"), (3, "b"), (3, "c")]  # fmt: skip


def test_flush_finishes_a_staged_draw_at_once_and_cancel_drops_its_rest(qtbot):
    log, marks = [], []
    limiter = RedrawLimiter(staged(log, marks), min_interval=0.01)
    limiter.submit(1)
    limiter.submit(2)
    limiter.flush()  # e.g. the run finished: the views show its last state now
    assert [(i, s) for i, s, _ in log] == [(1, "a"), (1, "b"), (1, "c"),
                                           (2, "a"), (2, "b"), (2, "c")]  # fmt: skip
    assert not limiter.busy
    log.clear()
    limiter.submit(3, now=True)
    limiter.cancel()  # a new collection: the rest belongs to the old one
    qtbot.wait(30)
    assert log == [(3, "a", log[0][2])] and not limiter.busy


def _update(collection, iteration=3):
    params = NMFParams(n_components=4, seed=0, tol=0.0)
    for state in iterate_nmf(collection.to_matrix(), params):
        if state.iteration == iteration:
            history = np.full(iteration + 1, float(state.loss))
            return FitUpdate(1, state.snapshot(), history, 100, params)
    raise AssertionError("no state")


def test_the_window_draws_one_view_per_turn(loaded):
    w = loaded
    update = _update(w.session.collection)
    steps = w._draw_update(update)
    next(steps)  # the first turn: the basis grid only
    assert w.basis.n_tiles == 4 and w.basis.numbers_shown == 4
    assert w.weights_view._W is None and w.loss_view.points_drawn == 0
    next(steps)  # the next: one more view (the loss)
    assert w.loss_view.points_drawn == 4 and w.weights_view._W is None
    for _ in steps:
        pass
    np.testing.assert_array_equal(w.weights_view._W, update.state.W)
    assert w.recon_view.reconstructions >= 1


def test_weights_axes_keep_their_range_while_the_data_stays_inside(qtbot):
    view = WeightsView()
    qtbot.addWidget(view)
    view.set_axis(None, "image", tuple(map(str, range(50))))
    W = np.random.default_rng(0).random((50, 6)).astype(np.float32) + 0.5
    view.set_weights(W, np.ones(6))
    ranges = view.bars_plot.viewRange(), view.line_plot.viewRange()
    assert ranges[0][1][1] >= W[0].max() and ranges[1][1][1] >= W[:, 0].max()
    titles = []
    real = view.line_plot.setTitle
    view.line_plot.setTitle = lambda *a, **k: (titles.append(a[0]), real(*a, **k))
    for scale in (0.9, 0.95, 0.8):  # a live update: the weights move a little
        view.set_weights(W * scale, np.ones(6))
        assert (view.bars_plot.viewRange(), view.line_plot.viewRange()) == ranges
    assert titles == []  # same title: not set again (a re-layout and repaint)
    view.set_weights(W * 3, np.ones(6))  # the data leaves the range: it follows
    assert view.bars_plot.viewRange()[1][1] >= 3 * W[0].max()
    assert view.line_plot.viewRange()[1][1] >= 3 * W[:, 0].max()
    view.set_selected_component(2)
    assert titles == ["Weight across images of component 2"]


def test_loss_x_range_grows_in_steps_and_y_range_holds(qtbot):
    view = LossView()
    qtbot.addWidget(view)
    history = 100.0 * 0.97 ** np.arange(400)
    view.set_progress(history[:5], 4, 1000, 0.1)
    assert view.plot.viewRange()[0][1] >= MIN_X_SPAN
    view.set_progress(history[:21], 20, 1000, 0.2)
    first = view.plot.viewRange()
    assert first[0][1] >= 20
    for it in (22, 25, 28):  # within the range: nothing moves
        view.set_progress(history[: it + 1], it, 1000, 0.3)
        assert view.plot.viewRange() == first
    view.set_progress(history[:301], 300, 1000, 1.0)
    (_, x1), (y0, _) = view.plot.viewRange()
    assert 300 <= x1 <= 1000 * 1.03 and y0 <= np.log10(history[300])
    view.set_progress(history[:400], 399, 400, 1.5)  # near max_iter: not past it
    assert view.plot.viewRange()[0][1] <= 400 * 1.03


def test_range_helpers_move_only_when_the_data_leaves_or_shrinks():
    assert range_top(None, 2.0) > 2.0
    assert range_top(10.0, 6.0) is None and range_top(10.0, 10.0) is None
    assert range_top(10.0, 11.0) > 11.0 and range_top(10.0, 4.0) < 10.0
    assert log_range(None, 1.0, 3.0)[0] < 1.0
    assert log_range((0.0, 3.2), 1.0, 3.0) is None
    assert log_range((0.0, 3.2), -0.5, 3.0)[0] < -0.5
    assert log_range((-10.0, 3.2), 1.0, 3.0) is not None  # far too wide: tightened


def test_a_dock_behind_another_tab_is_not_redrawn(loaded, qtbot):
    # Weights, Choose k and Pixel spectrum share a tab group: only the tab in front is
    # drawn on each update (a tab behind still says isVisible()); the others are drawn
    # when they come to the front (visibilityChanged).
    w = loaded
    w.show()
    qtbot.waitExposed(w)
    w.docks["weights"].raise_()
    qtbot.waitUntil(lambda: w._showing("weights"), timeout=5_000)
    assert not w._showing("spectrum") and not w._showing("choose_k")
    w.docks["spectrum"].raise_()
    qtbot.waitUntil(lambda: w._showing("spectrum"), timeout=5_000)
    assert not w._showing("weights")
