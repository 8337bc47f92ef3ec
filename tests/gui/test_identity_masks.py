"""Stable component identity across runs, and regions drawn on the image excluded
from the fit."""

from __future__ import annotations

import json

import numpy as np

from nmfviewer.core import Mask
from nmfviewer.core.params import NMFParams
from nmfviewer.gui.views.mask_tool import combine_masks


def set_params(win, **kw):
    params = NMFParams(**{"n_components": 4, "seed": 0, "max_iter": 200, **kw})
    win.params_panel.set_params(params)
    assert win.params_panel.is_valid, win.params_panel.error_text
    return params


def run(win, qtbot, start=None):
    with qtbot.waitSignal(win.session.runFinished, timeout=30_000):
        assert (start or win.start_run)() is not False
    return win._drawn.state


def tile_notes(win):
    return win.basis.badge_texts()


def cosines(A, B):
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    return np.sum(A * B, axis=1)


def test_first_run_is_shown_in_energy_order(loaded, qtbot):
    w = loaded
    set_params(w)
    shown = run(w, qtbot)
    energy = np.linalg.norm(shown.W, axis=0) * np.linalg.norm(shown.H, axis=1)
    assert np.all(np.diff(energy) <= 0)
    np.testing.assert_array_equal(w.basis._H, shown.H)
    assert tile_notes(w) == ["0", "1", "2", "3"]  # nothing to match yet


def test_components_keep_their_tiles_after_a_rerun_with_another_seed(loaded, qtbot, tmp_path):
    w = loaded
    set_params(w, seed=0)
    first = run(w, qtbot)
    set_params(w, seed=12345, init="random")
    second = run(w, qtbot)
    # the engine's order of the second run differs, the tiles do not
    engine = w.session.latest.state.H
    assert not np.allclose(engine, second.H)
    same = cosines(first.H, second.H)
    assert np.all(same > 0.9), same
    notes = tile_notes(w)
    assert all("· 0.9" in n or "· 1.00" in n for n in notes), notes
    # saving tile j saves the component shown there
    j = 0
    assert w.slots.engine_index(j) != j or np.array_equal(engine[0], second.H[0])
    np.testing.assert_array_equal(engine[w.slots.engine_index(j)], second.H[j])
    # the export holds the components in the tiles' order, and run.json says so
    assert w.export_to(tmp_path / "out")
    with np.load(tmp_path / "out" / "factors.npz") as z:
        np.testing.assert_array_equal(z["H"], second.H)
        np.testing.assert_array_equal(z["W"], second.W)
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    energy = np.linalg.norm(second.W, axis=0) * np.linalg.norm(second.H, axis=1)
    if np.all(np.diff(energy) <= 0):  # the tiles happen to be in energy order
        assert "window_order" not in record
    else:
        order = record["window_order"]["energy_rank"]
        assert sorted(order) == [0, 1, 2, 3] and order != [0, 1, 2, 3]
        assert list(np.argsort(-energy, kind="stable")) == sorted(range(4), key=order.__getitem__)


def test_components_keep_their_tiles_after_continue_and_a_larger_k(loaded, qtbot):
    w = loaded
    set_params(w, max_iter=30, tol=0.0)
    first = run(w, qtbot)
    after = run(w, qtbot, lambda: w.continue_run(30))
    assert np.all(cosines(first.H, after.H) > 0.98)
    set_params(w, n_components=5, seed=3)
    bigger = run(w, qtbot)
    assert bigger.H.shape[0] == 5
    notes = tile_notes(w)
    assert notes[4] == "4"  # the new component took the free slot: no partner, no cosine
    assert all("·" in n for n in notes[:4]), notes


def test_restarts_check_puts_stability_badges_on_the_tiles(loaded, qtbot):
    w = loaded
    set_params(w)
    run(w, qtbot)
    with qtbot.waitSignal(w.choose_k.stabilityReady, timeout=60_000) as ready:
        w.choose_k_view.check_restarts.setValue(3)
        w.choose_k_view.check_button.click()
    row = ready.args[0]
    assert row.k == 4 and np.isnan(row.test_error)
    notes = tile_notes(w)
    assert all(" s " in f" {n}" for n in notes), notes
    qtbot.waitUntil(lambda: not w.choose_k.running, timeout=10_000)


def test_a_drawn_region_is_excluded_from_the_fit(loaded, qtbot):
    w = loaded
    tool = w.mask_tool
    roi = tool.add_rectangle((2, 3, 4, 5))  # x, y, width, height in pixels
    excluded = tool.excluded()
    assert excluded.shape == (16, 16) and excluded.sum() == 20
    assert excluded[3:8, 2:6].all()
    assert "20 pixels excluded" in w.mask_bar.summary.text()
    set_params(w)
    state = run(w, qtbot)
    mask = w.session.run_mask
    assert isinstance(mask, Mask)
    np.testing.assert_array_equal(mask.hidden_columns(), np.flatnonzero(excluded.ravel()))
    # no image tells the fit anything about the excluded pixels: the basis is zero there
    assert np.all(state.H[:, excluded.ravel()] == 0)
    assert np.any(state.H[:, ~excluded.ravel()] > 0)
    # the continuation keeps the mask; clearing the regions ends it for the next run
    run(w, qtbot, lambda: w.continue_run(5))
    assert w.session.run_mask is mask
    tool._remove(roi)
    assert tool.excluded() is None and w.fit_mask() is None
    tool.add_polygon([(0, 0), (8, 0), (0, 8)])
    assert 20 < tool.excluded().sum() < 40  # about half of an 8 x 8 square
    tool.clear()
    assert tool.excluded() is None and not w.mask_bar.clear_button.isEnabled()


def test_a_region_with_the_collections_own_mask_hides_both():
    own = Mask.from_array(np.array([True, True, False, True]), (3, 4))
    excluded = np.array([[False, False], [False, True]])
    both = combine_masks(own, excluded, (3, 4))
    np.testing.assert_array_equal(both.hidden_columns(), [2, 3])
    assert combine_masks(own, None, (3, 4)) is own
    assert combine_masks(None, np.zeros((2, 2), bool), (3, 4)) is None
