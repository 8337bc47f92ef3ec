"""Running NMF from the window: live updates, pause/resume/stop/continue, new runs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nmfviewer.core.params import NMFParams
from nmfviewer.gui.session import FINISHED, PAUSED, RUNNING
from nmfviewer.gui.worker import FitUpdate

# never converges (the window is never full): runs until stopped
LONG = {"max_iter": 1_000_000, "tol": 0.0, "window": 1_000_000}


def set_params(win, **kw):
    params = NMFParams(**{"n_components": 4, "seed": 0, **kw})
    win.params_panel.set_params(params)
    assert win.params_panel.is_valid, win.params_panel.error_text
    return params


def record(signal):
    seen = []
    signal.connect(seen.append)
    return seen


def test_run_shows_live_updates_and_a_stop_reason(loaded, qtbot):
    w, s = loaded, loaded.session
    set_params(w, **LONG)
    updates = record(s.updated)
    assert w.start_run()
    qtbot.waitUntil(lambda: len(updates) >= 3, timeout=20_000)  # live, ~10 per second
    # drawn at the pace the views afford, one view per event-loop turn
    qtbot.waitUntil(lambda: "running" in w.loss_view.status_label.text(), timeout=5_000)
    with qtbot.waitSignal(s.runFinished, timeout=10_000):
        s.stop()
    iterations = [u.state.iteration for u in updates]
    assert iterations[0] == 0 and all(b > a for a, b in itertools.pairwise(iterations)), iterations
    assert [u.done for u in updates] == [False] * (len(updates) - 1) + [True]

    set_params(w, max_iter=40, tol=0.0, window=1000)
    with qtbot.waitSignal(s.runFinished, timeout=20_000) as finished:
        assert w.start_run()
    assert finished.args == ["max_iter"]
    last = s.latest
    assert last.done and last.stop_reason == "max_iter" and last.state.iteration == 40
    assert last.loss_history.shape == (41,)
    assert last.loss_history[-1] < last.loss_history[0]
    # the views show the last state
    assert w.basis.n_tiles == 4
    assert "reached max iterations" in w.loss_view.status_label.text()
    assert "iteration <b>40</b>" in w.loss_view.iteration_label.text()
    assert w.loss_view.progress.value() == w.loss_view.progress.maximum()
    assert s.run_state == FINISHED
    assert w.actions.export.isEnabled() and w.params_panel.continue_button.isEnabled()


def test_pause_resume_stop_continue(loaded, qtbot):
    w, s = loaded, loaded.session
    set_params(w, **LONG)
    with qtbot.waitSignal(s.updated, timeout=10_000):
        w.start_run()
    assert s.run_state == RUNNING and w.params_panel.pause_button.isEnabled()

    w.params_panel.pause_button.click()
    assert s.run_state == PAUSED and w.params_panel.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: s.latest is not None and s.latest.paused, timeout=10_000)
    paused_at = s.latest.state.iteration
    qtbot.wait(300)
    assert s.latest.state.iteration == paused_at  # nothing moves while paused

    w.params_panel.pause_button.click()  # resume
    assert s.run_state == RUNNING
    qtbot.waitUntil(lambda: s.latest.state.iteration > paused_at, timeout=10_000)

    with qtbot.waitSignal(s.runFinished, timeout=10_000) as finished:
        w.params_panel.stop_button.click()
    assert finished.args == ["cancelled"]
    stopped = s.latest
    assert stopped.done and stopped.state.iteration > paused_at
    assert "stopped by user" in w.loss_view.status_label.text()

    w.params_panel.continue_n.setValue(25)
    with qtbot.waitSignal(s.runFinished, timeout=20_000) as finished:
        w.params_panel.continue_button.click()
    assert finished.args == ["max_iter"]
    n = stopped.state.iteration + 25
    assert s.latest.state.iteration == n
    assert s.latest.loss_history.shape == (n + 1,)
    np.testing.assert_array_equal(
        s.latest.loss_history[: stopped.state.iteration],
        stopped.loss_history[: stopped.state.iteration],
    )
    # the continuation starts from the stopped factors and only goes down from there
    # (compared with its own iteration-0 loss: the solver's running loss is an estimate)
    start_loss = s.latest.loss_history[stopped.state.iteration]
    assert start_loss == pytest.approx(stopped.state.loss, rel=0.05)
    assert s.latest.state.loss <= start_loss * (1 + 1e-6)
    result = s.result()
    assert result.n_iter == n and result.loss_history.shape == (n + 1,)


def test_a_new_run_drops_the_old_runs_results(loaded, qtbot):
    w, s = loaded, loaded.session
    set_params(w, **LONG)
    with qtbot.waitSignal(s.updated, timeout=10_000):
        w.start_run()
    old_worker, old_id = s._fit, s.run_id
    shown = record(s.updated)
    with qtbot.waitSignal(s.updated, timeout=10_000):
        w.start_run()
    new_id = s.run_id
    assert new_id != old_id
    # a late snapshot of the old run arrives after the new run started: dropped
    late = FitUpdate(old_id, s.latest.state, s.latest.loss_history, 10)
    old_worker._mailbox.put(late)
    old_worker.updateReady.emit()
    qtbot.wait(300)
    with qtbot.waitSignal(s.runFinished, timeout=10_000):
        s.stop()
    assert shown and {u.run_id for u in shown} == {new_id}
    qtbot.waitUntil(lambda: not old_worker.isRunning(), timeout=10_000)


def test_changing_k_and_loss_then_running_again(loaded, qtbot):
    w, s = loaded, loaded.session
    for k, loss in ((3, "frobenius"), (5, "kl")):
        w.params_panel.k.setValue(k)
        w.params_panel.loss.setCurrentIndex(w.params_panel.loss.findData(loss))
        w.params_panel.max_iter.setValue(30)
        with qtbot.waitSignal(s.runFinished, timeout=20_000):
            assert w.start_run()
        assert s.latest.state.H.shape == (k, 256) and s.latest.state.W.shape == (20, k)
        assert s.run_params.loss == loss
        assert w.basis.n_tiles == k
        assert w.weights_view._W.shape == (20, k)
    assert s.run_params.solver == "mu"  # picked for KL by the panel


def test_kl_run_shows_evaluated_losses_and_ends_with_a_real_loss(loaded, qtbot, tmp_path):
    # KL multiplicative updates evaluate the loss every 10th iteration only
    import json
    import re

    from nmfviewer.core.nmf.loss import Regularization, objective

    w, s = loaded, loaded.session
    params = set_params(w, loss="kl", solver="mu", **LONG)
    statuses = []
    shown = w.loss_view.set_progress  # every status the loss view shows for an update
    w.loss_view.set_progress = lambda *a, **k: (
        shown(*a, **k),
        statuses.append(w.loss_view.status_label.text()),
    )
    assert w.start_run()
    qtbot.waitUntil(lambda: s.latest is not None and s.latest.state.iteration >= 25, timeout=20_000)
    with qtbot.waitSignal(s.runFinished, timeout=10_000):
        s.stop()
    status = r"(initialisation|running|stopped by user) · loss [0-9.e+-]+"
    assert all(re.fullmatch(status, t) for t in statuses)

    set_params(w, loss="kl", solver="mu", max_iter=23, tol=0.0, window=1000)
    with qtbot.waitSignal(s.runFinished, timeout=20_000) as finished:
        assert w.start_run()
    assert finished.args == ["max_iter"]
    last = s.latest
    h = last.loss_history
    assert last.done and last.state.iteration == 23 and h.shape == (24,)
    np.testing.assert_array_equal(np.flatnonzero(np.isfinite(h)), [0, 10, 20, 23])
    X = s.collection.to_matrix()
    reg = Regularization.from_params(params, *X.shape)
    expected = objective(X, last.state.W, last.state.H, params.beta, reg)
    assert last.state.loss == h[-1] == pytest.approx(expected, rel=1e-6)
    # the curve shows the evaluated points; the status the final loss
    np.testing.assert_array_equal(w.loss_view._curve.xData, [0, 10, 20, 23])
    assert w.loss_view.status_label.text() == (
        f"reached max iterations (not converged) · loss {last.state.loss:.4g}"
    )
    s.export(tmp_path / "out")
    res = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))["result"]
    assert res["final_loss"] == last.state.loss and res["loss_history"][1] is None


def test_closing_mid_run_stops_every_thread(window, image_dir, qtbot):
    w, s = window, window.session
    with qtbot.waitSignal(s.collectionChanged, timeout=10_000):
        w.open_paths([image_dir])
    set_params(w, **LONG)
    with qtbot.waitSignal(s.updated, timeout=10_000):
        w.start_run()
    workers = list(s._threads)
    assert workers and any(t.isRunning() for t in workers)
    w.close()
    assert not any(t.isRunning() for t in workers)
    assert s.busy_threads == 0


def test_worker_exception_reaches_the_user_and_the_window_still_works(loaded, qtbot, monkeypatch):
    import importlib

    from nmfviewer.core import get_solver

    def broken(*args, **kwargs):
        raise RuntimeError("solver exploded")
        yield  # pragma: no cover

    w, s = loaded, loaded.session
    set_params(w, max_iter=20)
    info = get_solver("hals")  # the registry resolves a solver's iterate on each run
    module = importlib.import_module(f"nmfviewer.core.nmf.{info.module}")
    monkeypatch.setattr(module, info.function, broken)
    with qtbot.waitSignal(s.runFailed, timeout=10_000):
        w.start_run()
    assert any("solver exploded" in m for m in w.messages)
    assert s.run_state != RUNNING and w.params_panel.run_button.isEnabled()
    monkeypatch.undo()
    with qtbot.waitSignal(s.runFinished, timeout=20_000) as finished:
        assert w.start_run()
    assert finished.args[0] in ("max_iter", "converged")
    assert not w.messages[1:]  # no new error


def test_invalid_k_for_the_data_is_shown_inline_and_run_is_disabled(loaded):
    w = loaded
    w.params_panel.k.setValue(21)  # 20 images
    assert not w.params_panel.is_valid
    assert "k must be <= 20" in w.params_panel.error_text
    assert not w.params_panel.run_button.isEnabled() and not w.actions.run.isEnabled()
    w.params_panel.k.setValue(4)
    w.params_panel.tol.setText("abc")
    assert "tol" in w.params_panel.error_text and not w.params_panel.run_button.isEnabled()
    w.params_panel.tol.setText("1e-4")
    assert w.params_panel.is_valid and w.params_panel.run_button.isEnabled()


def test_threaded_run_and_continuation_equal_fit_of_the_record(loaded, qtbot):
    """Real threads: Run 30, Continue +40 gives the factors fit() gives for the
    run's record (what a replay of the export runs), bit for bit."""
    from nmfviewer.core import fit

    w, s = loaded, loaded.session
    params = set_params(w, max_iter=30, tol=0.0, window=10)
    with qtbot.waitSignal(s.runFinished, timeout=20_000):
        assert w.start_run()
    X = s.collection.to_matrix()
    first = s.result()
    np.testing.assert_array_equal(first.W, fit(X, params).W)
    with qtbot.waitSignal(s.runFinished, timeout=20_000) as finished:
        s.continue_run(40)
    assert finished.args == ["max_iter"]
    r = s.result()
    assert r.n_iter == 70 and r.params.continued_at == (30,) and r.params.max_iter == 70
    replay = fit(X, r.params)
    np.testing.assert_array_equal(replay.W, r.W)
    np.testing.assert_array_equal(replay.H, r.H)
    np.testing.assert_array_equal(replay.loss_history, r.loss_history)
    assert replay.stop_reason == r.stop_reason == "max_iter"
