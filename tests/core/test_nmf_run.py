"""The run driver (core/nmf/run.py): stop reasons, continuation, cancel, clock, registry."""

from __future__ import annotations

import importlib
import itertools
import math
import threading

import numpy as np
import pytest

from nmfviewer.core import (
    SOLVER_REGISTRY,
    STOP_REASON_TEXT,
    STOP_REASONS,
    FitResult,
    NMFParams,
    NMFRun,
    NMFViewerError,
    ParameterError,
    Resume,
    StopRule,
    fit,
    get_solver,
    iterate_nmf,
    solvers_for,
)
from nmfviewer.core.nmf import initialize as initialize_module
from nmfviewer.core.params import SOLVERS


def low_rank(n=60, m=80, k=5, noise=0.05, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, k)) ** 3) @ (rng.random((k, m)) ** 3) + noise * rng.random((n, m))
    return np.ascontiguousarray(X, dtype=dtype)


class FakeClock:
    """Advances ``step`` seconds on every call; ``advance`` moves it by hand."""

    def __init__(self, step: float = 1.0):
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fake_solver(losses):
    """A registry-shaped solver yielding the given loss per iteration, then the last forever."""

    def iterate(X, W, H, ctx):
        for it in itertools.count():
            loss = losses[min(it, len(losses) - 1)]
            yield ctx.tracker.state(it, W, H, loss)

    return iterate


@pytest.fixture
def hals_is(monkeypatch):
    """hals_is(iterate): the registry's 'hals' entry runs ``iterate`` instead."""
    info = get_solver("hals")
    module = importlib.import_module(f"nmfviewer.core.nmf.{info.module}")

    def install(iterate):
        monkeypatch.setattr(module, info.function, iterate)
        # init='auto' tries its starts by short real HALS runs: keep them off the fake
        monkeypatch.setattr(initialize_module, "RESTARTS_BELOW", 0)

    return install


def states_of(run):
    return [(s.iteration, s.stop_reason) for s in run]


# ---- stop reasons ----------------------------------------------------------------
def test_max_iter_stops_exactly_and_only_the_last_state_has_a_reason():
    run = NMFRun(low_rank(), NMFParams(n_components=3, tol=0.0, max_iter=7))
    seen = states_of(run)
    assert seen == [(i, None) for i in range(7)] + [(7, "max_iter")]
    r = run.result()
    assert r.n_iter == 7 and r.stop_reason == "max_iter" and r.loss_history.shape == (8,)
    assert r.loss == r.loss_history[-1] and np.isfinite(r.loss_history).all()


def test_converged_on_real_data_and_same_as_fit():
    X = low_rank()
    p = NMFParams(n_components=5)
    run = NMFRun(X, p)
    for _ in run:
        pass
    r = run.result()
    assert r.stop_reason == "converged" and 10 < r.n_iter < p.max_iter
    f = fit(X, p)
    np.testing.assert_array_equal(f.W, r.W)
    np.testing.assert_array_equal(f.loss_history, r.loss_history)


def test_a_rising_loss_is_never_called_converged(hals_is):
    # falls, then rises by more than tol per iteration: negative rel. change over the window
    losses = [100.0, 50.0, 40.0] + [40.0 * (1 + 1e-5 * i) for i in range(1, 100)]
    hals_is(fake_solver(losses))
    run = NMFRun(low_rank(), NMFParams(n_components=3, window=4, tol=1e-6))
    *_, last = run
    assert last.stop_reason == "loss_rising" and last.rel_change < 0
    assert last.iteration == 2 + 4  # the first full window over the rise
    assert STOP_REASON_TEXT["loss_rising"].endswith("(not converged)")


def test_stop_rule_order():
    rule = StopRule(NMFParams(n_components=2, tol=1e-4, max_iter=10, time_budget=5.0))
    assert rule.check(3, -1e-3, 0.0) == "loss_rising"
    assert rule.check(3, -1e-12, 0.0) == "converged"  # standing still within tol
    assert rule.check(3, 0.0, 0.0) == "converged"
    assert rule.check(3, 5e-5, 0.0) == "converged"
    assert rule.check(3, 1e-3, 0.0) is None
    assert rule.check(3, math.nan, 0.0) is None  # loss not evaluated here
    assert rule.check(10, math.nan, 0.0) == "max_iter"
    assert rule.check(3, math.nan, 5.0) == "time_budget"
    assert rule.check(0, -1.0, 0.0) is None  # iteration 0 never converges
    never = StopRule(NMFParams(n_components=2, tol=0.0))
    assert never.check(3, -1.0, 0.0) is None and never.check(3, 0.0, 0.0) is None
    assert set(STOP_REASON_TEXT) == set(STOP_REASONS)


def test_a_non_finite_loss_raises_our_error(hals_is):
    hals_is(fake_solver([10.0, 5.0, math.inf]))
    run = NMFRun(low_rank(), NMFParams(n_components=3, tol=0.0))
    seen = []
    with pytest.raises(NMFViewerError, match="iteration 2"):
        for s in run:
            seen.append(s.iteration)
    assert seen == [0, 1]


def test_time_budget_with_an_injected_clock():
    # each clock call advances 1 s: initialisation (2 calls) and every next() (2 calls)
    clock = FakeClock(1.0)
    run = NMFRun(low_rank(), NMFParams(n_components=3, tol=0.0, time_budget=10.0), clock=clock)
    seen = [(s.iteration, s.elapsed, s.stop_reason) for s in run]
    assert seen[0] == (0, 2.0, None)
    assert seen[-1] == (8, 10.0, "time_budget")
    assert [e for _, e, _ in seen] == [2.0 + i for i in range(9)]


def test_time_the_consumer_holds_a_state_does_not_count():
    clock = FakeClock(1.0)
    run = NMFRun(low_rank(), NMFParams(n_components=3, tol=0.0, max_iter=5), clock=clock)
    elapsed = []
    for s in run:
        elapsed.append(s.elapsed)
        clock.advance(100.0)  # a paused window, a slow callback
    assert elapsed == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert run.result().elapsed == 7.0


# ---- cancel ----------------------------------------------------------------------
def test_cancel_stops_at_the_next_state_with_a_real_loss():
    cancel = threading.Event()
    params = NMFParams(n_components=3, solver="mu", loss="kl", tol=0.0, dtype="float64")
    run = NMFRun(low_rank(dtype=np.float64), params, cancel=cancel)
    seen = []
    for s in run:
        seen.append((s.iteration, s.stop_reason, s.loss is None))
        if s.iteration == 3:
            cancel.set()
    assert seen[-1] == (4, "cancelled", False)
    r = run.result()
    assert r.stop_reason == "cancelled" and np.isfinite(r.loss) and r.loss == r.loss_history[-1]


def test_cancelled_before_the_start_stops_at_iteration_0():
    cancel = threading.Event()
    cancel.set()
    run = NMFRun(low_rank(), NMFParams(n_components=3), cancel=cancel)
    assert states_of(run) == [(0, "cancelled")]


# ---- continuation ----------------------------------------------------------------
CONTINUED = {
    "hals-plain": {"hals_variant": "plain"},
    "hals-accelerated": {"hals_variant": "accelerated"},
    "mu-frobenius": {"solver": "mu"},
    "mu-kl": {"solver": "mu", "loss": "kl"},
}


@pytest.mark.parametrize("kw", CONTINUED.values(), ids=CONTINUED.keys())
def test_run_30_continue_40_is_replayed_exactly_by_its_record(kw):
    X = low_rank()
    first = fit(X, NMFParams(n_components=4, tol=0.0, max_iter=30, **kw))
    run = NMFRun(X, first.params, resume=Resume.from_result(first, 40))
    iterations = [s.iteration for s in run]
    assert iterations == list(range(30, 71))  # the restart repeats iteration 30
    more = run.result()
    assert more.n_iter == 70 and more.stop_reason == "max_iter"
    assert more.params.continued_at == (30,) and more.params.max_iter == 70
    assert more.params.time_budget is None
    assert more.loss_history.shape == (71,)
    np.testing.assert_array_equal(more.loss_history[:30], first.loss_history[:30])
    assert more.elapsed >= first.elapsed
    # the record, run from the start, repeats the continued run bit for bit
    replay = fit(X, more.params)
    np.testing.assert_array_equal(replay.W, more.W)
    np.testing.assert_array_equal(replay.H, more.H)
    np.testing.assert_array_equal(replay.loss_history, more.loss_history)
    assert (replay.n_iter, replay.stop_reason) == (70, "max_iter")


def test_a_continuation_runs_exactly_n_more_even_after_convergence():
    X = low_rank()
    first = fit(X, NMFParams(n_components=4))
    assert first.stop_reason == "converged"
    t = first.n_iter
    run = NMFRun(X, first.params, resume=Resume.from_result(first, 25))
    *_, last = run
    assert (last.iteration, last.stop_reason) == (t + 25, "max_iter")
    second = run.result()
    # and again: continuation points add up; the record replays both
    run = NMFRun(X, second.params, resume=Resume.from_result(second, 5))
    for _ in run:
        pass
    third = run.result()
    assert third.params.continued_at == (t, t + 25) and third.params.max_iter == t + 30
    replay = fit(X, third.params)
    np.testing.assert_array_equal(replay.W, third.W)
    np.testing.assert_array_equal(replay.loss_history, third.loss_history)


def test_a_cancelled_continuation_records_where_it_stopped():
    X = low_rank()
    first = fit(X, NMFParams(n_components=4, tol=0.0, max_iter=10))
    cancel = threading.Event()
    run = NMFRun(X, first.params, resume=Resume.from_result(first, 40), cancel=cancel)
    for s in run:
        if s.iteration == 20:
            cancel.set()
    r = run.result()
    assert (r.n_iter, r.stop_reason) == (21, "cancelled")
    assert r.params.continued_at == (10,) and r.params.max_iter == 21
    replay = fit(X, r.params)
    np.testing.assert_array_equal(replay.W, r.W)


def test_resume_is_checked():
    X = low_rank()
    first = fit(X, NMFParams(n_components=4, tol=0.0, max_iter=5))
    with pytest.raises(ParameterError, match="n_iter"):
        Resume.from_result(first, 0)
    with pytest.raises(ParameterError, match="6 losses"):
        Resume(first.W, first.H, 5, 0.0, first.loss_history[:3], 10)
    with pytest.raises(ParameterError, match="not both"):
        NMFRun(X, first.params, W0=first.W, H0=first.H, resume=Resume.from_result(first, 3))
    with pytest.raises(ParameterError, match="continued_at"):
        NMFParams(n_components=2, max_iter=10, continued_at=(5, 3))
    with pytest.raises(ParameterError, match="continued_at"):
        NMFParams(n_components=2, max_iter=10, continued_at=(11,))
    p = NMFParams(n_components=2, max_iter=10, continued_at=[3, 5])
    assert p.continued_at == (3, 5) and NMFParams.from_dict(p.to_dict()) == p


# ---- results, iteration protocol -------------------------------------------------
def test_result_needs_a_finished_run_and_a_run_is_iterated_once():
    run = NMFRun(low_rank(), NMFParams(n_components=3, tol=0.0, max_iter=3))
    with pytest.raises(RuntimeError, match="not stopped"):
        run.result()
    it = iter(run)
    next(it)
    with pytest.raises(RuntimeError, match="iterated once"):
        iter(run)
    for _ in it:
        pass
    assert run.done and isinstance(run.result(), FitResult)
    assert run.max_iter == 3


def test_from_state_evaluates_a_missing_loss_only_with_X():
    X = low_rank(dtype=np.float64)
    params = NMFParams(n_components=3, solver="mu", loss="kl", tol=0.0, dtype="float64")
    states = iterate_nmf(X, params)
    s0, s1 = next(states), next(states)
    assert s1.loss is None
    history = [s0.loss, math.nan]
    with pytest.raises(ValueError, match="pass X"):
        FitResult.from_state(s1, history, params)
    r = FitResult.from_state(s1, history, params, X)
    assert r.stop_reason == "cancelled" and np.isfinite(r.loss) and r.loss_history[-1] == r.loss
    assert r.W.flags.owndata and r.W.flags.writeable


def test_iterate_nmf_applies_no_stop_rule():
    states = iterate_nmf(low_rank(), NMFParams(n_components=3, max_iter=2))
    last = next(s for s in states if s.iteration == 5)
    assert last.stop_reason is None


# ---- the registry ------------------------------------------------------------------
def test_the_registry_is_what_params_accept_and_every_solver_has_one_signature():
    assert tuple(SOLVER_REGISTRY) == SOLVERS
    assert solvers_for("frobenius") == ("hals", "mu") and solvers_for("kl") == ("mu",)
    X = low_rank()
    for name, info in SOLVER_REGISTRY.items():
        assert info.name == name and info.description and info.label
        for loss in info.losses:
            run = NMFRun(X, NMFParams(n_components=3, solver=name, loss=loss, tol=0.0, max_iter=2))
            assert [s.iteration for s in run] == [0, 1, 2]
    with pytest.raises(KeyError, match="known: hals, mu"):
        get_solver("als")


# ---- a model zeroed by regularisation ----------------------------------------------
def test_a_model_zeroed_by_regularisation_stops_as_collapsed_not_converged():
    X = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    result = fit(X, NMFParams(n_components=3, alpha_W=100.0, max_iter=500))
    assert result.stop_reason == "collapsed"
    assert result.collapse is not None and result.collapse.field == "alpha_W"
    assert result.collapse.suggestion == pytest.approx(10.0)
    live = fit(X, NMFParams(n_components=3, alpha_W=1e-4, max_iter=500))
    assert live.stop_reason != "collapsed" and live.collapse is None


def test_the_estimator_warns_of_a_collapsed_model():
    from nmfviewer.core import NMF, CollapsedFitWarning

    X = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    with pytest.warns(CollapsedFitWarning, match="zeroed the model"):
        NMF(n_components=3, alpha_W=100.0, max_iter=500).fit(X)
