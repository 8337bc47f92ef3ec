"""The one BLAS-thread policy (nmfviewer.core.threads): unit tests of the choice with
injected core counts and a fake GEMM clock, and of setting / recording / restoring it."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

from nmfviewer.core import (
    NMFParams,
    ParameterError,
    configure_blas_threads,
    current_blas_threads,
    current_thread_choice,
    fit,
    restore_blas_threads,
)
from nmfviewer.core.threads import (
    REQUIRED_GAIN,
    SMALL_PROBLEM,
    choose_blas_threads,
    ensure_blas_threads,
    parse_threads,
)

LARGE = (400, 112 * 92)  # the faces of issue 15: 4.1 M entries


def _blas() -> set[int]:
    """Thread counts of numpy's BLAS (the one the solvers call; scipy may bring its own)."""
    return {
        i["num_threads"]
        for i in threadpool_info()
        if i["user_api"] == "blas" and "numpy" in i["filepath"]
    }


def fake_clock(seconds_at: dict[int, float]):
    calls = []

    def measure(threads: int) -> float:
        calls.append(threads)
        return seconds_at[threads]

    measure.calls = calls
    return measure


def test_a_requested_count_is_used_as_given():
    assert choose_blas_threads(3, cores=2).threads == 3
    assert choose_blas_threads("2", shape=LARGE, cores=8).threads == 2
    assert choose_blas_threads(1, reserve_gui_core=True, cores=8).requested == 1


@pytest.mark.parametrize("bad", [0, -1, "0", "two", "²", 1.5, True])
def test_bad_counts_are_refused_with_the_field(bad):
    with pytest.raises(ParameterError) as info:
        parse_threads(bad)
    assert info.value.field == "threads" and info.value.suggestion == "auto"


def test_auto_on_one_core_or_for_the_window_on_two():
    assert choose_blas_threads("auto", shape=LARGE, cores=1).threads == 1
    choice = choose_blas_threads("auto", reserve_gui_core=True, cores=2)
    assert choice.threads == 1 and "GUI" in choice.reason
    assert choose_blas_threads("auto", reserve_gui_core=True, cores=8).threads == 7
    assert choose_blas_threads(None, cores=4).threads == 4  # no shape: every core


def test_auto_gives_a_small_problem_one_thread_without_measuring():
    clock = fake_clock({1: 1.0, 2: 0.1})
    shape = (100, SMALL_PROBLEM // 100 - 1)
    choice = choose_blas_threads("auto", shape=shape, n_components=16, cores=2, measure=clock)
    assert choice.threads == 1 and choice.reason == "small problem" and clock.calls == []


def test_auto_keeps_one_thread_on_a_busy_machine():
    """Issue 15: with another process busy, 2 threads were 8x slower than 1 (23.6 s
    against 3.0 s): the GEMM probe sees it and keeps 1."""
    clock = fake_clock({1: 3.0, 2: 23.6})
    choice = choose_blas_threads("auto", shape=LARGE, n_components=16, cores=2, measure=clock)
    assert choice.threads == 1 and "not reliably faster" in choice.reason
    assert clock.calls == [1, 2]  # not faster in the first pair: measured no longer


def test_auto_uses_the_cores_on_a_quiet_machine_only_for_a_clear_gain():
    quiet = fake_clock({1: 1.0, 2: 0.55})
    assert choose_blas_threads("auto", shape=LARGE, cores=2, measure=quiet).threads == 2
    assert quiet.calls == [1, 2] * 5  # every pair must show the gain
    # more than n times faster is noise (the 1-thread GEMM lost its core): keep 1
    preempted = fake_clock({1: 2.35, 2: 1.0})
    assert choose_blas_threads("auto", shape=LARGE, cores=2, measure=preempted).threads == 1
    marginal = fake_clock({1: 1.0, 2: 1.0 / REQUIRED_GAIN * 1.01})
    assert choose_blas_threads("auto", shape=LARGE, cores=2, measure=marginal).threads == 1


def test_the_worst_case_of_the_policy_on_a_busy_machine():
    """Whatever the probe measures, the chosen count is never slower than 1 thread by
    more than the probe's own noise: it picks n threads only when they measured faster."""
    for one, many in [(1.0, 0.55), (1.0, 0.76), (1.0, 0.8), (1.0, 8.0), (3.0, 23.6)]:
        choice = choose_blas_threads(
            "auto", shape=LARGE, cores=2, measure=fake_clock({1: one, 2: many})
        )
        cost = many if choice.threads == 2 else one
        assert cost <= min(one, many) * REQUIRED_GAIN


def test_the_real_probe_returns_a_count_it_can_set():
    choice = choose_blas_threads("auto", shape=(2000, 4096), n_components=8, cores=2)
    assert choice.threads in (1, 2) and choice.reason.startswith("measured")


def test_configure_sets_records_and_restores():
    import numpy  # noqa: F401  (the BLAS is loaded)

    before, previous = _blas(), current_thread_choice()
    try:
        assert configure_blas_threads(1) == 1
        assert _blas() == {1} and current_blas_threads() == 1
        assert current_thread_choice().requested == 1
        assert ensure_blas_threads(LARGE, 16) == 1  # the API does not override it
    finally:
        restore_blas_threads(previous)
    assert _blas() == before and current_thread_choice() == previous


def test_the_api_applies_the_policy_once_when_nothing_was_set(monkeypatch):
    import numpy as np

    import nmfviewer.core.threads as threads

    for name in (
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "BLIS_NUM_THREADS",
        "NMFVIEWER_BLAS_THREADS",
    ):
        monkeypatch.delenv(name, raising=False)
    previous = current_thread_choice()
    restore_blas_threads()
    try:
        if current_blas_threads() < threads.available_cores():
            pytest.skip("the BLAS already runs on fewer threads than cores")
        X = np.random.default_rng(0).random((40, 50)).astype(np.float32)
        fit(X, NMFParams(n_components=2, max_iter=2))
        choice = current_thread_choice()
        assert choice is not None and choice.threads == 1 and choice.reason == "small problem"
        assert _blas() == {1}
    finally:
        restore_blas_threads(previous)


def test_the_api_leaves_a_users_environment_alone(monkeypatch):
    previous = current_thread_choice()
    restore_blas_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        ensure_blas_threads(LARGE, 16)
        assert current_thread_choice() is None
    finally:
        restore_blas_threads(previous)


def test_one_noisy_pair_keeps_one_thread():
    """Load comes in bursts: a pair in which n threads were not faster decides."""
    times = iter([1.0, 0.55, 1.0, 0.55, 1.0, 3.0, 1.0, 0.55, 1.0, 0.55])
    choice = choose_blas_threads("auto", shape=LARGE, cores=2, measure=lambda t: next(times))
    assert choice.threads == 1
