"""``nmfviewer rank``: a k sweep end to end (rank.csv / rank.json / rank.png, the
suggested k as the last stdout line) and its bad input (exit 2, one line)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nmfviewer import cli
from nmfviewer._paths import sample_images_dir

FACES = sample_images_dir() / "faces"


def _one_error_line(code: int, err: str) -> str:
    assert code == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nmfviewer: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def faces_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("rank") / "sweep"
    args = ["rank", str(FACES), "--k", "2:4", "--reps", "2", "--seed", "1", "--out", str(out)]
    return out, args


def test_rank_on_the_sample_faces_writes_the_sweep_and_prints_k_last(faces_sweep, capsys):
    out, args = faces_sweep
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    stdout = captured.out.splitlines()
    assert stdout[-2] == str(out.absolute())
    doc = json.loads((out / "rank.json").read_text())
    assert stdout[-1] == str(doc["suggested_k"]) and doc["suggested_k"] in (2, 3, 4)
    assert doc["ks"] == [2, 3, 4] and doc["reps"] == 2 and doc["seed"] == 1
    assert doc["params"]["loss"] == "frobenius" and "n_components" not in doc["params"]
    assert doc["inputs"] == [str(FACES.absolute())]
    assert doc["load_options"]["color"] == "luminance"
    # progress on stderr: the plan, one line per k, the suggestion
    err = captured.err
    assert "sweeping k = 2, 3, 4: 2 repeat(s) x 1 restart(s)" in err
    for k in (2, 3, 4):
        assert f"k=  {k}: test error" in err
    assert f"suggested k = {doc['suggested_k']}" in err
    with open(out / "rank.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["k"]) for r in rows] == [2, 3, 4]
    for r, row in zip(rows, doc["rows"], strict=True):
        assert float(r["test_error"]) == pytest.approx(row["test_error"])
        assert float(r["train_error"]) < float(r["test_error"])
        assert 0 < float(r["stability_min"]) <= float(r["stability_mean"]) <= 1
    with Image.open(out / "rank.png") as img:
        assert img.format == "PNG" and img.size[0] > 400


def test_rank_restarts_only_prints_none(tmp_path, capsys):
    out = tmp_path / "restarts"
    args = ["rank", str(FACES), "--k", "3", "--reps", "1", "--restarts", "3", "--holdout", "0"]
    assert cli.main([*args, "-q", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "none"
    doc = json.loads((out / "rank.json").read_text())
    assert doc["suggested_k"] is None and doc["restarts"] == 3
    assert doc["rows"][0]["test_error"] is None
    assert 0 < doc["rows"][0]["stability_min"] <= 1


def test_rank_in_a_subprocess_ends_stdout_with_the_k(tmp_path):
    out = tmp_path / "sub"
    proc = subprocess.run(
        [sys.executable, "-m", "nmfviewer", "rank", str(FACES), "--k", "2:3", "--reps", "2",
         "-q", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] in ("2", "3")
    assert {p.name for p in out.iterdir()} == {"rank.csv", "rank.json", "rank.png"}


@pytest.mark.parametrize(
    "args, words",
    [
        (["--k", "2:500"], ["--k", "k=101", "100 images", "between 1 and 100"]),
        (["--k", "0:3"], ["--k", "k=0"]),
        (["--k", "5:2"], ["--k", "holds no k"]),
        (["--k", "two:four"], ["--k", "not a range", "2:20"]),
        (["--k", "2:4", "--reps", "0"], ["--reps", "reps=0", ">= 1"]),
        (["--k", "2:4", "--restarts", "0"], ["--restarts", "restarts=0"]),
        (["--k", "2:4", "--holdout", "0.7"], ["--holdout", "0.7"]),
        (["--k", "2:4", "--holdout", "-0.1"], ["--holdout", "-0.1"]),
        (["--k", "2:4", "--holdout", "lots"], ["--holdout", "lots"]),
        (["--k", "2:4", "--reps", "1.5"], ["--reps", "1.5"]),
        ([], ["--k"]),
        (["--k", "2:4", "-k", "5"], ["-k"]),
    ],
)
def test_bad_rank_options_exit_2_with_one_line(args, words, tmp_path, capsys):
    out = tmp_path / "never"
    code = cli.main(["rank", str(FACES), *args, "--out", str(out)])
    line = _one_error_line(code, capsys.readouterr().err)
    for w in words:
        assert w in line, line
    assert not out.exists()


def test_rank_without_out_or_inputs(tmp_path, capsys):
    assert "--out" in _one_error_line(
        cli.main(["rank", str(FACES), "--k", "2:3"]), capsys.readouterr().err
    )
    missing = tmp_path / "nothing here"
    line = _one_error_line(
        cli.main(["rank", str(missing), "--k", "2:3", "--out", str(tmp_path / "o")]),
        capsys.readouterr().err,
    )
    assert str(missing) in line


def test_rank_refuses_to_overwrite_a_file_it_did_not_write(tmp_path, capsys):
    (tmp_path / "rank.csv").write_text("mine\n")
    code = cli.main(["rank", str(FACES), "--k", "2", "--reps", "2", "-q", "--out", str(tmp_path)])
    line = _one_error_line(code, capsys.readouterr().err)
    assert "rank.csv" in line and "not written by nmfviewer" in line
    assert (tmp_path / "rank.csv").read_text() == "mine\n"


def test_python_api_rank_is_lazy_and_public():
    import nmfviewer

    rng = np.random.default_rng(0)
    X = (rng.random((20, 2)) @ rng.random((2, 30))).astype(np.float32)
    result = nmfviewer.rank(X, "1:3", reps=2)
    assert result.suggested_k == 2
