"""The session without threads (run_inline=True) and with fake views; the worker's
throttle driven by a fake clock; fit, worker and session give the same run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nmfviewer.core import NMFParams, fit, load_collection, read_manifest
from nmfviewer.gui.session import FINISHED, IDLE, PAUSED, RUNNING, Session
from nmfviewer.gui.worker import (
    SNAPSHOT_INTERVAL,
    FitUpdate,
    FitWorker,
    Mailbox,
    Throttle,
)


class FakeClock:
    """Advances ``step`` seconds on every call."""

    def __init__(self, step: float):
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class FakeViews:
    """What the main window wires to the session: records what would be shown and
    can act like a user at a given iteration (``at[iteration] = action``)."""

    def __init__(self, session: Session):
        self.session = session
        self.updates: list[FitUpdate] = []
        self.states: list[str] = []
        self.finished: list[str] = []
        self.collections: list = []
        self.at: dict = {}
        session.updated.connect(self.set_update)
        session.runStateChanged.connect(self.states.append)
        session.runFinished.connect(self.finished.append)
        session.collectionChanged.connect(self.collections.append)

    def set_update(self, update: FitUpdate) -> None:
        self.updates.append(update)
        action = self.at.pop((update.state.iteration, update.paused), None)
        if action is not None:
            action()

    @property
    def iterations(self) -> list[int]:
        return [u.state.iteration for u in self.updates]


@pytest.fixture
def session(qtbot, image_dir):
    """An inline session whose clock makes every state due (one tick > the interval)."""
    s = Session(run_inline=True, clock=FakeClock(step=1.0))
    views = FakeViews(s)
    assert s.load([image_dir])  # inline: loaded when load() returns
    assert len(views.collections) == 1 and not s.loading
    s.views = views
    yield s
    s.shutdown()


def assert_same_run(a, b) -> None:
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.H, b.H)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    assert (a.n_iter, a.stop_reason) == (b.n_iter, b.stop_reason)


P = NMFParams(n_components=4, seed=0, tol=0.0, max_iter=30)


def test_start_runs_inline_and_equals_fit(session):
    views = session.views
    assert session.start(P)
    assert views.iterations == list(range(31))  # every state due under this clock
    assert [u.done for u in views.updates] == [False] * 30 + [True]
    assert views.states == [RUNNING, FINISHED] and views.finished == ["max_iter"]
    assert session.run_state == FINISHED and session.busy_threads == 0
    assert_same_run(session.result(), fit(session.collection.to_matrix(), P))


def test_default_params_converge_the_same_way_as_fit(session):
    params = NMFParams(n_components=3, seed=0)  # k=4 fits the planted data too well
    session.start(params)
    r = session.result()
    assert r.stop_reason == "converged"
    assert_same_run(r, fit(session.collection.to_matrix(), params))


def test_pause_resume_inline(session):
    views = session.views
    views.at[(5, False)] = session.pause
    views.at[(6, True)] = lambda: (views.states.append("seen paused"), session.resume())
    session.start(P)
    paused = [u for u in views.updates if u.paused]
    assert [u.state.iteration for u in paused] == [6]
    assert views.states == [RUNNING, PAUSED, "seen paused", RUNNING, FINISHED]
    # a pause changes nothing in the run
    assert_same_run(session.result(), fit(session.collection.to_matrix(), P))


def test_stop_inline_then_continue_equals_the_replayed_record(session, tmp_path):
    views = session.views
    long = NMFParams(n_components=4, seed=0, tol=0.0, max_iter=10_000)
    views.at[(12, False)] = session.stop
    session.start(long)
    assert views.finished == ["cancelled"] and session.latest.state.iteration == 13
    stopped = session.result()
    assert stopped.stop_reason == "cancelled" and stopped.params.continued_at == ()

    session.continue_run(40)
    assert views.finished == ["cancelled", "max_iter"]
    continued = session.result()
    assert continued.n_iter == 53 and continued.loss_history.shape == (54,)
    assert continued.params.continued_at == (13,) and continued.params.max_iter == 53
    np.testing.assert_array_equal(continued.loss_history[:13], stopped.loss_history[:13])
    # the states of the continuation go on from the stop: 13 (repeated), 14, ... 53
    assert views.iterations[-41:] == list(range(13, 54))

    X = session.collection.to_matrix()
    assert_same_run(continued, fit(X, continued.params))  # what a replay runs
    # and through run.json: the exported record replays the continued run exactly
    session.export(tmp_path / "out")
    manifest = read_manifest(tmp_path / "out" / "run.json")
    raw = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert raw["params"]["continued_at"] == [13] and raw["params"]["max_iter"] == 53
    replay = fit(
        load_collection(manifest.paths, manifest.load_options).to_matrix(), manifest.params
    )
    assert_same_run(continued, replay)


def test_worker_session_and_fit_agree_on_a_continued_run(session, qtbot):
    # Run 30, Continue +40 in the (inline) session ...
    session.start(P)
    session.continue_run(40)
    in_session = session.result()
    # ... the same with the worker alone, run on this thread ...
    X = session.collection.to_matrix()
    got = []
    first = FitWorker(1, X, P, clock=FakeClock(1.0))
    first.updateReady.connect(lambda: got.append(first.take_update()))
    first.run()
    assert got[-1].done
    from nmfviewer.core import FitResult, Resume

    r30 = FitResult.from_state(got[-1].state, got[-1].loss_history, got[-1].params)
    second = FitWorker(2, X, r30.params, resume=Resume.from_result(r30, 40), clock=FakeClock(1.0))
    second.updateReady.connect(lambda: got.append(second.take_update()))
    second.run()
    by_worker = FitResult.from_state(got[-1].state, got[-1].loss_history, got[-1].params)
    # ... and fit() of the record: all three identical
    by_fit = fit(X, in_session.params)
    assert_same_run(in_session, by_worker)
    assert_same_run(in_session, by_fit)
    assert in_session.params == by_worker.params == by_fit.params


def test_a_new_run_during_a_run_drops_the_old_runs_updates(session):
    views = session.views
    long = NMFParams(n_components=4, seed=0, tol=0.0, max_iter=10_000)
    new = NMFParams(n_components=3, seed=1, tol=0.0, max_iter=8)
    old_id = None

    def start_new():
        nonlocal old_id
        old_id = session.run_id
        session.start(new, ask=False)  # supersedes the running one (runs inline, here)

    views.at[(7, False)] = start_new
    session.start(long)
    new_id = session.run_id
    assert new_id != old_id
    ids = [u.run_id for u in views.updates]
    # the old run's updates stop where the new run starts; its late final
    # ('cancelled') update never reaches the views
    cut = ids.index(new_id)
    assert set(ids[:cut]) == {old_id} and set(ids[cut:]) == {new_id}
    assert views.finished == ["max_iter"] and session.latest.state.H.shape[0] == 3
    assert session.run_state == FINISHED

    # a late update of a superseded worker, or of the wrong run id, is dropped
    shown = len(views.updates)
    stale_worker = FitWorker(old_id, session.collection.to_matrix(), long)
    stale_worker.updateReady.connect(session._on_update_ready)
    stale_worker._mailbox.put(views.updates[0])
    stale_worker.updateReady.emit()
    assert len(views.updates) == shown and session.latest.run_id == new_id


def test_set_collection_resets_and_start_checks_k(session):
    with pytest.raises(Exception, match="k must be <= 20"):
        session.start(NMFParams(n_components=21))
    session.start(P)
    session.set_collection(session.collection)
    assert session.latest is None and session.run_state == IDLE


# ---- the throttle ---------------------------------------------------------------
def test_throttle_interval_copy_cost_and_view_cost():
    t = [0.0]
    throttle = Throttle(lambda: t[0])
    assert throttle.due()  # the first state is always sent
    throttle.sent(0.0, 0.001)
    t[0] = SNAPSHOT_INTERVAL - 1e-9
    assert not throttle.due()
    t[0] = SNAPSHOT_INTERVAL
    assert throttle.due()
    throttle.sent(1.0, 0.05)  # copying took 50 ms: at most 10% of the time -> 0.5 s
    t[0] = 1.49
    assert not throttle.due()
    t[0] = 1.5
    assert throttle.due()
    throttle.note_view_cost(0.2)  # the views took 200 ms: 5x that between updates
    throttle.sent(2.0, 0.0)
    t[0] = 2.99
    assert not throttle.due()
    t[0] = 3.0
    assert throttle.due()


def test_the_pump_sends_at_the_throttled_rate_under_a_fake_clock(qapp):
    """Replaces a sleep-and-count test: the worker, run on this thread with a fake
    clock, sends the first state, then one every SNAPSHOT_INTERVAL, and the last."""
    rng = np.random.default_rng(0)
    X = rng.random((30, 40)).astype(np.float32)
    clock = FakeClock(step=0.004)
    params = NMFParams(n_components=3, seed=0, tol=0.0, max_iter=500)
    w = FitWorker(1, X, params, clock=clock)
    sent = []  # (clock time when taken, update)
    w.updateReady.connect(lambda: sent.append((clock.now, w.take_update())))
    w.run()
    iterations = [u.state.iteration for _, u in sent]
    assert iterations[0] == 0 and sent[-1][1].done and iterations[-1] == 500
    assert iterations == sorted(iterations)
    times = [t for t, _ in sent]
    gaps = np.diff(times[:-1])  # the final state is sent whatever the time
    assert (gaps >= SNAPSHOT_INTERVAL).all()
    # and not later than the next state after it was due (an iteration is 3 ticks:
    # two for the run's clock, one for the throttle's check)
    assert (gaps <= SNAPSHOT_INTERVAL + 3 * clock.step + 1e-9).all()
    assert clock.now / (SNAPSHOT_INTERVAL + 3 * clock.step) <= len(sent) - 1
    assert len(sent) - 1 <= clock.now / SNAPSHOT_INTERVAL
    # a slow window: the views' cost reported back slows the snapshots 5x
    slow = FitWorker(2, X, params, clock=FakeClock(step=0.004))
    slow.throttle.note_view_cost(SNAPSHOT_INTERVAL)  # next one after 5 x 0.1 s
    few = []
    slow.updateReady.connect(lambda: few.append(slow.take_update()))
    slow.run()
    assert len(few) < len(sent) / 4 and few[-1].done


def test_mailbox_keeps_only_the_newest():
    box = Mailbox()
    assert box.put(1) is True  # empty: notify
    assert box.put(2) is False  # a notification is already in flight
    assert box.take() == 2 and box.take() is None


def test_a_collection_mask_reaches_the_run_and_the_continued_run(session, tmp_path):
    from dataclasses import replace

    from nmfviewer.core import split_holdout

    X = session.collection.to_matrix()
    train = split_holdout(X.shape, 0.2, seed=1)[0]
    session.set_collection(replace(session.collection, mask=train))
    session.start(P)
    r = session.result()
    assert_same_run(r, fit(X, P, mask=train))
    session.continue_run(5)
    again = session.result()
    replayed = fit(X, again.params, mask=train)  # the record replays with the same mask
    np.testing.assert_array_equal(again.H, replayed.H)
    session.export(tmp_path / "out")
    assert (tmp_path / "out" / "mask.npz").exists()
