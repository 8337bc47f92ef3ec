"""Component order and identity (core/nmf/match.py): energy order in every result,
Hungarian matching to a reference, and exact replay of continued runs in that order."""

from __future__ import annotations

import numpy as np
import pytest

from nmfviewer.core import (
    ComponentMatch,
    FitResult,
    NMFParams,
    NMFRun,
    Resume,
    component_energy,
    energy_order,
    fit,
    iterate_nmf,
    match_components,
    solve_W,
)


def low_rank(n=60, m=80, k=5, noise=0.05, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, k)) ** 3) @ (rng.random((k, m)) ** 3) + noise * rng.random((n, m))
    return np.ascontiguousarray(X, dtype=dtype)


def is_energy_ordered(W, H):
    e = component_energy(W, H)
    return bool(np.all(np.diff(e) <= 0))


# ---- energy order ------------------------------------------------------------------
def test_energy_order_sorts_by_the_norm_of_each_rank_one_term():
    W = np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 4.0]])  # column norms 1, 2, 5
    H = np.array([[1.0, 1.0], [0.0, 4.0], [0.1, 0.0]])  # row norms sqrt2, 4, 0.1
    # energies: 1.414, 8, 0.5
    np.testing.assert_array_equal(energy_order(W, H), [1, 0, 2])
    np.testing.assert_allclose(component_energy(W, H), [np.sqrt(2), 8.0, 0.5])
    for j in range(3):  # the energy is the Frobenius norm of w_j h_j
        assert component_energy(W, H)[j] == pytest.approx(np.linalg.norm(np.outer(W[:, j], H[j])))


def test_energy_order_is_stable_and_idempotent():
    W = np.ones((4, 3))
    H = np.ones((3, 5))  # three equal energies: index order kept
    np.testing.assert_array_equal(energy_order(W, H), [0, 1, 2])
    rng = np.random.default_rng(1)
    W, H = rng.random((30, 6)), rng.random((6, 40))
    o = energy_order(W, H)
    np.testing.assert_array_equal(energy_order(W[:, o], H[o]), np.arange(6))


def test_energy_order_does_not_depend_on_memory_layout():
    rng = np.random.default_rng(2)
    Wt = rng.random((7, 50)).astype(np.float32)  # the solvers keep W transposed
    H = rng.random((7, 33)).astype(np.float32)
    order = energy_order(Wt.T, H)
    np.testing.assert_array_equal(order, energy_order(np.ascontiguousarray(Wt.T), H.copy()))
    np.testing.assert_array_equal(
        component_energy(Wt.T, H), component_energy(np.asfortranarray(Wt.T), H[:, :].copy())
    )


def test_every_run_result_is_energy_ordered_and_the_model_unchanged():
    X = low_rank()
    for kw in ({}, {"solver": "mu"}, {"solver": "mu", "loss": "kl"}):
        params = NMFParams(n_components=5, max_iter=40, tol=0.0, **kw)
        r = fit(X, params)
        assert is_energy_ordered(r.W, r.H)
        assert r.W.flags.c_contiguous and r.H.flags.c_contiguous and r.W.flags.owndata
        # the raw solver's last iterate is the same model, in the solver's order
        last = next(s for s in iterate_nmf(X, params) if s.iteration == 40)
        o = energy_order(last.W, last.H)
        assert not np.array_equal(o, np.arange(5)) or kw  # (a real permutation for HALS)
        np.testing.assert_array_equal(r.W, last.W[:, o])
        np.testing.assert_array_equal(r.H, last.H[o])


def test_solve_W_keeps_the_given_basis_order():
    X = low_rank()
    H = fit(X, NMFParams(n_components=4, max_iter=50)).H[::-1].copy()  # reversed on purpose
    r = solve_W(X, H, NMFParams(n_components=4, max_iter=50))
    np.testing.assert_array_equal(r.H, H)
    assert not is_energy_ordered(r.W, r.H)


def test_from_state_orders_unless_told_not_to():
    X = low_rank()
    params = NMFParams(n_components=5, max_iter=10, tol=0.0)
    state = next(s for s in iterate_nmf(X, params) if s.iteration == 10)
    ordered = FitResult.from_state(state, np.zeros(11), params)
    kept = FitResult.from_state(state, np.zeros(11), params, order=False)
    assert is_energy_ordered(ordered.W, ordered.H)
    np.testing.assert_array_equal(kept.H, state.H)


# ---- continuation and replay stay exact in energy order ------------------------------
@pytest.mark.parametrize(
    "kw", [{"hals_variant": "plain"}, {"hals_variant": "accelerated"}, {"solver": "mu"}]
)
def test_continued_runs_start_from_ordered_factors_and_replay_bit_for_bit(kw):
    X = low_rank(seed=3)
    first = fit(X, NMFParams(n_components=5, tol=0.0, max_iter=12, **kw))
    run = NMFRun(X, first.params, resume=Resume.from_result(first, 9))
    states = iter(run)
    start = next(states)  # the restart repeats iteration 12 from the result's (ordered) factors
    np.testing.assert_array_equal(start.H, first.H)
    for _ in states:
        pass
    second = run.result()
    run = NMFRun(X, second.params, resume=Resume.from_result(second, 7))
    for _ in run:
        pass
    third = run.result()
    assert third.params.continued_at == (12, 21)
    assert is_energy_ordered(third.W, third.H)
    replay = fit(X, third.params)
    np.testing.assert_array_equal(replay.W, third.W)
    np.testing.assert_array_equal(replay.H, third.H)
    np.testing.assert_array_equal(replay.loss_history, third.loss_history)


def test_a_resume_from_unordered_factors_is_ordered_so_its_replay_matches():
    X = low_rank(seed=4)
    params = NMFParams(n_components=4, tol=0.0, max_iter=15)
    state = next(s for s in iterate_nmf(X, params) if s.iteration == 15).snapshot()
    history = np.full(16, np.nan)
    # factors handed over in the solver's (unordered) order
    run = NMFRun(X, params, resume=Resume(state.W, state.H, 15, 0.0, history, 10))
    for _ in run:
        pass
    continued = run.result()
    replay = fit(X, continued.params)
    np.testing.assert_array_equal(replay.H, continued.H)


# ---- matching ---------------------------------------------------------------------
def test_a_known_permutation_is_recovered_with_cosine_one():
    rng = np.random.default_rng(5)
    H_ref = rng.random((6, 100))
    perm = np.array([3, 0, 5, 1, 4, 2])
    H = H_ref[perm] * rng.uniform(0.5, 3.0, (6, 1))  # scaled rows: cosine still 1
    m = match_components(H_ref, H)
    assert isinstance(m, ComponentMatch)
    np.testing.assert_array_equal(m.slots, perm)
    np.testing.assert_allclose(m.cosine, 1.0)
    ratio = H[m.order()] / H_ref  # each row a multiple of its reference row
    np.testing.assert_allclose(ratio, np.repeat(ratio[:, :1], 100, axis=1))
    np.testing.assert_array_equal(H_ref.argmax(1), H[m.order()].argmax(1))
    assert m.matched.all()


def test_more_new_components_take_free_slots_in_their_own_order():
    rng = np.random.default_rng(6)
    H_ref = rng.random((3, 50)) ** 4
    extra = rng.random((2, 50)) ** 4
    H = np.vstack([extra[0], H_ref[2], H_ref[0], extra[1], H_ref[1]])
    m = match_components(H_ref, H)
    np.testing.assert_array_equal(m.slots, [3, 2, 0, 4, 1])
    assert np.isnan(m.cosine[[0, 3]]).all()
    np.testing.assert_allclose(m.cosine[[1, 2, 4]], 1.0)
    np.testing.assert_array_equal(m.order(), [2, 4, 1, 0, 3])
    np.testing.assert_array_equal(m.matched, [False, True, True, False, True])


def test_fewer_new_components_take_their_partners_slots():
    rng = np.random.default_rng(7)
    H_ref = rng.random((5, 40)) ** 4
    H = H_ref[[4, 1]] + 0.01
    m = match_components(H_ref, H)
    np.testing.assert_array_equal(m.slots, [4, 1])
    assert (m.cosine > 0.99).all()
    np.testing.assert_array_equal(m.order(), [1, 0])


def test_matching_maximises_the_total_cosine():
    import itertools

    from nmfviewer.core.nmf.match import cosine_matrix

    rng = np.random.default_rng(9)
    for _ in range(20):
        H_ref, H = rng.random((5, 12)) ** 3, rng.random((5, 12)) ** 3
        C = cosine_matrix(H_ref, H)
        best = max(sum(C[p[j], j] for j in range(5)) for p in itertools.permutations(range(5)))
        m = match_components(H_ref, H)
        assert m.cosine.sum() == pytest.approx(best, rel=1e-12)
        np.testing.assert_allclose(m.cosine, C[m.slots, np.arange(5)])


def test_zero_rows_and_wrong_shapes():
    m = match_components(np.ones((2, 4)), np.zeros((2, 4)))
    np.testing.assert_array_equal(m.cosine, [0.0, 0.0])
    assert sorted(m.slots) == [0, 1]
    m = match_components(np.zeros((0, 4)), np.ones((2, 4)))
    np.testing.assert_array_equal(m.slots, [0, 1])
    assert np.isnan(m.cosine).all()
    with pytest.raises(ValueError, match="same number of pixels"):
        match_components(np.ones((2, 4)), np.ones((2, 5)))


def test_two_seeds_of_a_planted_model_match_up():
    X = low_rank(k=4, noise=0.01, seed=8)
    a = fit(X, NMFParams(n_components=4, init="random", seed=1))
    b = fit(X, NMFParams(n_components=4, init="random", seed=2))
    m = match_components(a.H, b.H)
    assert (m.cosine > 0.95).all()
    assert sorted(m.slots) == [0, 1, 2, 3]
