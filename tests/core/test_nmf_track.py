"""Tracker: rel_change from losses evaluated at every iteration or only at some."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nmfviewer.core.nmf._track import Tracker

W = np.zeros((3, 2))
H = np.zeros((2, 4))


def run(window: int, losses: dict[int, float], n_iter: int) -> list[float]:
    """rel_change for iterations 0..n_iter; losses maps evaluated iterations to losses."""
    tracker = Tracker(window)
    return [tracker.state(t, W, H, losses.get(t)).rel_change for t in range(n_iter + 1)]


def test_dense_losses_give_the_window_formula_exactly():
    window = 5
    losses = list(100.0 * np.exp(-0.1 * np.arange(40)) + np.random.default_rng(0).random(40))
    rel = run(window, dict(enumerate(losses)), 39)
    for t, r in enumerate(rel):
        if t < window:
            assert math.isnan(r)
        else:
            old = losses[t - window]
            assert r == (old - losses[t]) / (window * abs(old))  # bit for bit as before


@pytest.mark.parametrize("window", [5, 10, 15])
def test_sparse_losses_use_the_latest_evaluated_iteration_a_window_back(window):
    losses = {t: 1000.0 / (1 + t) for t in range(0, 61, 10)}
    rel = run(window, losses, 60)
    for t, r in enumerate(rel):
        old_ts = [s for s in losses if s <= t - window]
        if t not in losses or not old_ts:
            assert math.isnan(r), t
        else:
            t_old = max(old_ts)
            expected = (losses[t_old] - losses[t]) / ((t - t_old) * losses[t_old])
            assert r == pytest.approx(expected, rel=1e-15), t
    # window 15: iteration 20 looks back to 0 (20 iterations), 30 to 10
    if window == 15:
        assert rel[20] == pytest.approx((1000.0 - 1000.0 / 21) / (20 * 1000.0))
        assert math.isnan(rel[10])


def test_irregular_evaluations_divide_by_the_real_distance():
    losses = {0: 8.0, 10: 4.0, 13: 3.0}
    rel = run(10, losses, 13)
    assert rel[13] == pytest.approx((8.0 - 3.0) / (13 * 8.0))
    assert rel[10] == pytest.approx((8.0 - 4.0) / (10 * 8.0))


def test_unevaluated_state_carries_none():
    s = Tracker(3).state(4, W, H, None)
    assert s.loss is None and math.isnan(s.rel_change)


@pytest.mark.parametrize("every", [1, 10])
def test_memory_stays_bounded(every):
    window = 7
    tracker = Tracker(window)
    for t in range(5000):
        tracker.state(t, W, H, 1.0 / (t + 1) if t % every == 0 else None)
        assert len(tracker._losses) <= window + 1
