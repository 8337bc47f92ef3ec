"""Masks and masked (weighted) NMF: storage, checks, held-out splits, the masked loss,
monotone masked solvers, recovery of hidden entries."""

from __future__ import annotations

import numpy as np
import pytest

from nmfviewer.core import (
    Mask,
    MaskError,
    NMFParams,
    NMFRun,
    fit,
    iterate_nmf,
    loss_on,
    split_holdout,
)
from nmfviewer.core.nmf.initialize import initialize
from nmfviewer.core.nmf.loss import beta_divergence
from nmfviewer.core.nmf.masked import iterate_masked_frobenius
from nmfviewer.core.nmf.run import solver_context

SOLVERS = [("hals", "frobenius", 2), ("mu", "frobenius", 2), ("mu", "kl", 1), ("mu", "is", 0)]


def _planted(n=60, m=90, r=4, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.random((n, r)) @ rng.random((r, m))).astype(dtype)


# -- the Mask itself ---------------------------------------------------------------------


def test_storage_is_compact_and_dense_view_round_trips():
    rng = np.random.default_rng(1)
    n, m = 50, 400
    few = rng.random((n, m)) > 0.01  # 1% missing: flat indices
    many = rng.random((n, m)) > 0.3
    cols = rng.random(m) > 0.2
    w = rng.random((n, m)).astype(np.float32)
    cases = {
        "missing": Mask.from_array(few),
        "dense": Mask.from_array(many),
        "columns": Mask.from_array(cols, (n, m)),
        "weights": Mask.from_array(w),
    }
    assert {k: v.kind for k, v in cases.items()} == {k: k for k in cases}
    assert cases["missing"].nbytes < 0.2 * n * m  # 8 bytes per missing entry
    assert cases["dense"].nbytes == n * m  # one byte per entry, never a float copy
    assert cases["columns"].nbytes == m
    np.testing.assert_array_equal(cases["missing"].dense(bool), few)
    np.testing.assert_array_equal(cases["dense"].dense(bool), many)
    np.testing.assert_array_equal(cases["columns"].dense(bool), np.broadcast_to(cols, (n, m)))
    np.testing.assert_array_equal(cases["weights"].dense(), w)
    assert cases["dense"].n_missing == int((~many).sum())
    assert cases["dense"].observed_fraction == pytest.approx(many.mean())
    assert cases["weights"].observed_fraction == pytest.approx(w.mean(), rel=1e-6)
    assert not cases["weights"].is_binary and cases["columns"].is_binary
    # the CSR of entries with weight < 1 matches the dense view
    for mask in cases.values():
        indptr, cols_, _ = mask.missing_rows(10, 30)
        dense = mask.dense()[10:30] < 1
        assert indptr[-1] == dense.sum()
        for i in range(20):
            np.testing.assert_array_equal(
                cols_[indptr[i] : indptr[i + 1]], np.flatnonzero(dense[i])
            )


def test_from_missing_and_same_hash_whatever_the_storage(tmp_path):
    n, m = 20, 30
    rows, cols = [0, 3, 3, 19], [0, 5, 6, 29]
    a = Mask.from_missing(rows, cols, (n, m))
    dense = np.ones((n, m), bool)
    dense[rows, cols] = False
    b = Mask("dense", dense, (n, m))
    assert a.kind == "missing" and a.n_missing == 4
    assert a.sha256() == b.sha256()
    c = Mask.load(a.save(tmp_path / "mask.npz"))
    assert c.sha256() == a.sha256() and c.kind == a.kind
    dense[1, 1] = False
    assert Mask("dense", dense, (n, m)).sha256() != a.sha256()


@pytest.mark.parametrize(
    ("M", "shape", "words"),
    [
        (np.ones((3, 4)), (5, 4), ["shape (3, 4)", "(5, 4)"]),
        (np.full((5, 4), 2.0), None, ["from 2 to 2", "[0, 1]"]),
        (-np.ones((5, 4)), None, ["[0, 1]"]),
        (np.full((5, 4), np.nan), None, ["NaN", "[0, 1]"]),
        (np.zeros((5, 4)), None, ["hides every entry"]),
        (np.array(["a"] * 4), (5, 4), ["dtype"]),
    ],
)
def test_bad_masks_raise_mask_error(M, shape, words):
    with pytest.raises(MaskError) as info:
        Mask.from_array(M, shape)
    assert info.value.field == "mask"
    for w in words:
        assert w in str(info.value)


def test_a_hidden_image_is_an_error_a_hidden_pixel_only_on_request():
    M = np.ones((5, 4), bool)
    M[2] = False
    with pytest.raises(MaskError, match=r"every pixel of image\(s\) 2"):
        Mask.from_array(M, source="mask.png")
    with pytest.raises(MaskError, match=r"mask.png"):
        Mask.from_array(M, source="mask.png")
    M = np.ones((5, 4), bool)
    M[:, 1] = False
    assert Mask.from_array(M).hidden_columns().tolist() == [1]  # a region left out
    with pytest.raises(MaskError, match=r"pixel\(s\) 1 .* in every image"):
        Mask.from_array(M, allow_hidden_columns=False)


def test_a_mask_for_other_data_is_refused():
    X = _planted()
    with pytest.raises(MaskError, match="shape"):
        NMFRun(X, NMFParams(n_components=3), mask=Mask.from_array(np.ones((4, 4), bool)))


# -- held-out splits and the masked loss ----------------------------------------------------


def test_split_holdout_is_a_partition_with_the_asked_fraction():
    shape = (80, 120)
    train, test = split_holdout(shape, 0.1, seed=3)
    tr, te = train.dense(bool), test.dense(bool)
    assert not (tr & te).any() and (tr | te).all()
    assert te.mean() == pytest.approx(0.1, abs=0.01)
    assert tr.any(axis=1).all() and tr.any(axis=0).all()
    again = split_holdout(shape, 0.1, seed=3)[1]
    assert again.sha256() == test.sha256()
    assert split_holdout(shape, 0.1, seed=4)[1].sha256() != test.sha256()
    # within a mask: its hidden entries stay hidden and are never held out
    within = Mask.from_array(np.random.default_rng(0).random(shape) > 0.2)
    train2, test2 = split_holdout(shape, 0.25, seed=1, within=within)
    assert within.holdout(0.25, seed=1)[1].sha256() == test2.sha256()
    w = within.dense(bool)
    assert not (test2.dense(bool) & ~w).any()
    assert ((train2.dense(bool) | test2.dense(bool)) == w).all()
    with pytest.raises(MaskError, match="between 0 and 1"):
        split_holdout(shape, 1.5, seed=0)


@pytest.mark.parametrize("beta", [2, 1, 0])
@pytest.mark.parametrize("fraction", [0.05, 0.7])  # sampled and block-wise paths
def test_loss_on_matches_a_dense_reference(beta, fraction):
    rng = np.random.default_rng(2)
    X = _planted(40, 70)
    X[rng.random(X.shape) < 0.1] = 0  # zeros: left out of the IS sum
    W = rng.random((40, 4)).astype(np.float32)
    H = rng.random((4, 70)).astype(np.float32)
    _, test = split_holdout(X.shape, fraction, seed=5)
    weights = Mask.from_array(rng.random(X.shape))
    for mask in (test, weights):
        w = mask.dense(np.float64)
        x = X.astype(np.float64)
        wh = np.maximum(W.astype(np.float64) @ H, np.finfo(np.float32).eps * X.max())
        pos = x > 0
        if beta == 2:
            ref = 0.5 * np.sum(w * (x - W.astype(np.float64) @ H) ** 2)
        elif beta == 1:
            ref = np.sum(w[pos] * x[pos] * np.log(x[pos] / wh[pos])) - np.sum(w * x)
            ref += np.sum(w * (W.astype(np.float64) @ H))
        else:
            r = x[pos] / wh[pos]
            ref = np.sum(w[pos] * (r - np.log(r) - 1))
        assert loss_on(X, W, H, mask, beta=beta) == pytest.approx(ref, rel=1e-9)
    # all entries: the engine's unmasked divergence (its Frobenius residual is float32)
    ones = Mask.from_array(np.ones(X.shape, bool))
    assert loss_on(X, W, H, ones, beta=beta) == pytest.approx(
        beta_divergence(X, W, H, beta), rel=1e-6
    )


# -- masked solvers -------------------------------------------------------------------------


@pytest.mark.parametrize(("solver", "loss", "beta"), SOLVERS)
@pytest.mark.parametrize("kind", ["speckle", "weights", "region"])
def test_masked_loss_never_increases_and_is_the_masked_loss(solver, loss, beta, kind):
    rng = np.random.default_rng(7)
    X = _planted(50, 80, r=5) + 0.05 * rng.random((50, 80)).astype(np.float32)
    if kind == "speckle":
        mask = split_holdout(X.shape, 0.3, seed=1)[0]
    elif kind == "weights":
        mask = Mask.from_array(rng.random(X.shape) ** 2)
    else:
        region = np.ones(80, bool)
        region[10:30] = False
        mask = Mask.from_array(region, X.shape)
    p = NMFParams(n_components=4, solver=solver, loss=loss, seed=0, max_iter=150, tol=0)
    # every iterate, its masked loss recomputed independently (float64, loss_on)
    losses, reported = [], []
    for state in iterate_nmf(X, p, mask=mask):
        losses.append(loss_on(X, state.W, state.H, mask, beta=beta))
        reported.append(np.nan if state.loss is None else state.loss)
        if state.iteration == 80:
            break
    h = np.array(losses)
    assert np.all(np.diff(h) <= 1e-6 * h[:-1]), np.max(np.diff(h) / h[:-1])
    assert h[-1] < 0.5 * h[0]
    seen = np.isfinite(reported)  # KL: every 10th iteration, as unmasked
    assert seen.sum() >= (80 if beta != 1 else 8)
    np.testing.assert_allclose(np.array(reported)[seen], h[seen], rtol=1e-4)
    result = fit(X, p, mask=mask)
    assert result.loss == pytest.approx(loss_on(X, result.W, result.H, mask, beta=beta), rel=1e-4)
    if kind == "region":
        assert not result.H[:, 10:30].any()  # nothing determines the hidden pixels


def test_masked_penalised_loss_never_increases():
    X = _planted()
    mask = split_holdout(X.shape, 0.3, seed=2)[0]
    for solver, loss in (("hals", "frobenius"), ("mu", "kl")):
        p = NMFParams(
            n_components=4, solver=solver, loss=loss, alpha_W=0.01, l1_ratio=0.5, seed=0,
            max_iter=100, tol=0,
        )  # fmt: skip
        h = fit(X, p, mask=mask).loss_history
        h = h[np.isfinite(h)]
        assert h.size >= 10 and np.all(np.diff(h) <= 1e-6 * h[:-1])


@pytest.mark.parametrize(("solver", "loss", "beta"), SOLVERS)
def test_hidden_entries_of_a_planted_matrix_are_recovered(solver, loss, beta):
    # rank 4, 30% of the entries hidden: the fit of the other 70% predicts them.
    # Measured relative errors on the hidden entries: HALS 1e-3, MU 0.005-0.012
    # after these iterations; the thresholds leave a wide margin.
    X = _planted(60, 90, r=4, seed=11)
    train, test = split_holdout(X.shape, 0.3, seed=4)
    p = NMFParams(n_components=4, solver=solver, loss=loss, seed=1, max_iter=1500, tol=0)
    result = fit(X, p, mask=train)
    hidden = test.dense(bool)
    err = np.linalg.norm((result.W @ result.H - X)[hidden]) / np.linalg.norm(X[hidden])
    assert err < (0.01 if solver == "hals" else 0.05), err


def test_an_all_ones_mask_gives_the_unmasked_run():
    X = _planted()
    ones = Mask.from_array(np.ones(X.shape, bool))
    for solver, loss in (("hals", "frobenius"), ("mu", "kl")):
        p = NMFParams(n_components=4, solver=solver, loss=loss, seed=0, max_iter=30, tol=0)
        a, b = fit(X, p), fit(X, p, mask=ones)
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.loss_history, b.loss_history)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_masked_frobenius_path_with_every_entry_is_plain_hals(dtype):
    # the surrogate with w = 1 is X itself: the same iterates as plain HALS, to rounding
    from nmfviewer.core.nmf.hals import _plain_updates

    X = _planted(dtype=dtype)
    p = NMFParams(n_components=4, seed=0, hals_variant="plain", dtype=np.dtype(dtype).name)
    ones = Mask("dense", np.ones(X.shape, bool), X.shape)
    W0, H0 = initialize(X, 4, "nndsvda", seed=0, dtype=X.dtype)
    plain = iterate_nmf(X, p, W0=W0, H0=H0)
    masked = iterate_masked_frobenius(
        X, W0.copy(), H0.copy(), solver_context(X, p), ones, _plain_updates
    )
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for _ in range(20):
        s, t = next(plain), next(masked)
        np.testing.assert_allclose(t.W, s.W, rtol=tol, atol=tol * float(s.W.max()))
        np.testing.assert_allclose(t.H, s.H, rtol=tol, atol=tol * float(s.H.max()))
        assert t.loss == pytest.approx(s.loss, rel=max(tol, 1e-6), abs=1e-9 * s.loss + 1e-12)


def test_estimator_takes_a_mask():
    from nmfviewer.core import NMF

    X = _planted()
    train, test = split_holdout(X.shape, 0.3, seed=4)
    model = NMF(n_components=4, random_state=0, max_iter=500, tol=1e-6)
    W = model.fit_transform(X, mask=train)
    hidden = test.dense(bool)
    err = np.linalg.norm((W @ model.components_ - X)[hidden]) / np.linalg.norm(X[hidden])
    assert err < 0.05


def test_accelerated_masked_hals_never_increases_and_goes_further_per_iteration():
    X = _planted(50, 80, r=5) + 0.05 * np.random.default_rng(3).random((50, 80)).astype(np.float32)
    mask = split_holdout(X.shape, 0.3, seed=1)[0]
    ends = {}
    for variant in ("plain", "accelerated"):
        p = NMFParams(n_components=4, seed=0, tol=0, max_iter=60, hals_variant=variant)
        h = fit(X, p, mask=mask).loss_history
        assert np.all(np.diff(h) <= 1e-6 * h[:-1])
        ends[variant] = h[-1]
    assert ends["accelerated"] <= ends["plain"] * (1 + 1e-6)
