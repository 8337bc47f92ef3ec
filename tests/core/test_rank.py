"""The k sweep (core/rank_sweep.py): cross-validated test error, restart stability,
the suggestion rule, cancel, bad input, and its files (rank.csv/json/png)."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest

from nmfviewer.core import (
    ExportError,
    NMFParams,
    ParameterError,
    RankProgress,
    RankResult,
    RankRow,
    RankSweep,
    component_energy,
    parse_ks,
    rank,
    suggest_k,
    write_rank,
)


def planted(n=40, m=60, r=3, noise=0.05, seed=0):
    """Random non-negative W (n, r) @ H (r, m) plus Gaussian noise of sd `noise`
    times the sd of W H, clipped at zero: (X float32, W, H)."""
    rng = np.random.default_rng(seed)
    W, H = rng.random((n, r)), rng.random((r, m))
    X0 = W @ H
    X = np.maximum(X0 + noise * X0.std() * rng.standard_normal(X0.shape), 0)
    return np.ascontiguousarray(X, dtype=np.float32), W, H


P = NMFParams(n_components=1)


def test_a_sweep_yields_progress_and_one_row_per_k_in_order():
    X, _, _ = planted(r=3, seed=1)
    sweep = RankSweep(X, "1:5", P, reps=2, restarts=2)
    items = list(sweep)
    rows = [i for i in items if isinstance(i, RankRow)]
    progress = [i for i in items if isinstance(i, RankProgress)]
    assert [r.k for r in rows] == [1, 2, 3, 4, 5]
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 1
    assert {(p.rep, p.restart) for p in progress} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    result = sweep.result()
    assert isinstance(result, RankResult) and result.complete
    assert result.suggested_k == 3
    assert (result.reps, result.restarts, result.holdout) == (2, 2, 0.1)
    for row in rows:
        assert row.W.shape == (40, row.k) and row.H.shape == (row.k, 60)
        assert row.component_stability.shape == (row.k,)
        assert np.all(np.diff(component_energy(row.W, row.H)) <= 0)  # energy order
        assert row.train_error <= row.test_error  # fitted entries fit better
        assert row.iterations >= 1 and row.seconds > 0
    # below the planted rank the held-out error falls steeply; at it the parts are stable
    errors = [r.test_error for r in rows]
    assert errors[0] > 3 * errors[2] and errors[1] > 2 * errors[2]
    assert result.row(3).stability_min > 0.95


def test_restarts_at_one_k_without_holdout():
    X, _, _ = planted(r=3, seed=2)
    result = rank(X, [3], P, reps=1, restarts=3, holdout=0.0)
    (row,) = result.rows
    assert math.isnan(row.test_error) and math.isnan(row.test_error_sd)
    assert row.stability_min > 0.95 and row.stability_mean >= row.stability_min
    assert result.suggested_k is None
    # the best restart is the lowest-loss one: no restart with the same params beats it
    assert row.train_error == pytest.approx(
        0.5 * np.mean((X - row.W @ row.H) ** 2, dtype=np.float64), rel=1e-4
    )


def test_the_same_seed_repeats_the_sweep_exactly():
    X, _, _ = planted(r=2, seed=3)
    a = rank(X, "2:3", NMFParams(n_components=1, seed=7), reps=2)
    b = rank(X, "2:3", NMFParams(n_components=1, seed=7), reps=2)
    for ra, rb in zip(a.rows, b.rows, strict=True):
        assert ra.test_error == rb.test_error
        np.testing.assert_array_equal(ra.H, rb.H)


def test_cancel_keeps_the_finished_ks():
    X, _, _ = planted(r=3, seed=4)
    cancel = threading.Event()
    sweep = RankSweep(X, "1:6", P, reps=1, cancel=cancel)
    for item in sweep:
        if isinstance(item, RankRow) and item.k == 2:
            cancel.set()
    result = sweep.result()
    assert not result.complete
    assert [r.k for r in result.rows] == [1, 2]


def test_the_suggestion_rule():
    def row(k, err, sd, stab):
        return RankRow(
            k,
            err,
            sd,
            err,
            stab,
            stab,
            np.full(k, stab),
            1,
            0.0,
            np.zeros((1, k)),
            np.zeros((k, 1)),
        )

    rows = [
        row(2, 10.0, 1.0, 1.0),
        row(3, 5.2, 0.6, 0.99),
        row(4, 5.0, 1.0, 0.99),
        row(5, 4.9, 0.3, 0.5),
    ]
    # the minimum is k=5 (4.9, se 0.3/sqrt(3) = 0.17): k=4 (5.0) is within, k=3 (5.2) is not
    assert suggest_k(rows, reps=3) == 4
    # with sd 1.0 at k=5 the limit is 4.9 + 0.58: k=3 qualifies
    rows[3] = row(5, 4.9, 1.0, 0.5)
    assert suggest_k(rows, reps=3) == 3
    # an unstable k is skipped while a stable one qualifies ...
    rows[1] = row(3, 5.2, 0.6, 0.5)
    assert suggest_k(rows, reps=3) == 4
    # ... and when none within one standard error is stable, the smallest of them
    rows[2] = row(4, 5.0, 1.0, 0.5)
    assert suggest_k(rows, reps=3) == 3
    assert suggest_k([row(3, math.nan, math.nan, 1.0)], reps=1) is None


@pytest.mark.parametrize(
    "ks, expected",
    [("2:5", (2, 3, 4, 5)), ("2:10:4", (2, 6, 10)), ("5,3,3", (3, 5)), ([4, 2], (2, 4)), (3, (3,))],
)
def test_parse_ks(ks, expected):
    assert parse_ks(ks, 40, 60) == expected


@pytest.mark.parametrize(
    "kw, field, words",
    [
        ({"ks": "2:50"}, "ks", ["k=41", "40 images", "between 1 and 40"]),
        ({"ks": "0:3"}, "ks", ["k=0"]),
        ({"ks": "5:2"}, "ks", ["holds no k"]),
        ({"ks": "a:b"}, "ks", ["not a range"]),
        ({"reps": 0}, "reps", ["reps=0", ">= 1"]),
        ({"restarts": 0}, "restarts", ["restarts=0"]),
        ({"holdout": 0.7}, "holdout", ["holdout=0.7"]),
        ({"holdout": -0.1}, "holdout", ["holdout=-0.1"]),
    ],
)
def test_bad_input_names_the_value_and_the_fix(kw, field, words):
    X, _, _ = planted()
    args = {"ks": "2:4", **kw}
    with pytest.raises(ParameterError) as info:
        RankSweep(X, args.pop("ks"), P, **args)
    assert info.value.field == field
    text = str(info.value)
    for w in words:
        assert w in text, text


# ---- files -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_result():
    X, _, _ = planted(r=3, seed=5)
    return rank(X, "1:5", P, reps=2)


def test_write_rank_writes_csv_json_png(small_result, tmp_path):
    paths = write_rank(small_result, tmp_path / "out")
    assert [p.name for p in paths] == ["rank.csv", "rank.png", "rank.json"]
    lines = (tmp_path / "out" / "rank.csv").read_text().splitlines()
    assert lines[0] == (
        "k,test_error,test_error_sd,train_error,stability_mean,stability_min,iterations,seconds"
    )
    assert [int(line.split(",")[0]) for line in lines[1:]] == [1, 2, 3, 4, 5]
    assert float(lines[3].split(",")[1]) == small_result.row(3).test_error
    doc = json.loads((tmp_path / "out" / "rank.json").read_text())
    assert doc["format"] == "nmfviewer-rank"
    assert doc["suggested_k"] == small_result.suggested_k == 3
    assert "standard error" in doc["rule"] and doc["ks"] == [1, 2, 3, 4, 5]
    assert doc["reps"] == 2 and doc["holdout"] == 0.1 and doc["complete"] is True
    assert len(doc["rows"][2]["component_stability"]) == 3
    assert set(doc["outputs"]) == {"rank.csv", "rank.png"}
    assert doc["settings"]["patience"] >= 1 and "previous k" in doc["settings"]["warm_start"]
    from PIL import Image

    with Image.open(tmp_path / "out" / "rank.png") as img:
        assert img.size[0] >= 600 and img.size[1] >= 400
    # again into the same folder: our files are replaced
    write_rank(small_result, tmp_path / "out")
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_write_rank_never_overwrites_a_file_it_did_not_write(small_result, tmp_path):
    (tmp_path / "rank.csv").write_text("my own table\n")
    with pytest.raises(ExportError, match=r"rank\.csv"):
        write_rank(small_result, tmp_path)
    assert (tmp_path / "rank.csv").read_text() == "my own table\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank.csv"]
