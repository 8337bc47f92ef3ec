"""``nmfviewer fit --align-to DIR``: components put in a previous run's order, the
matched cosines and the reference recorded in run.json, a replay aligned again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nmfviewer import cli
from nmfviewer._paths import sample_images_dir
from nmfviewer.core import (
    FitResult,
    LoadError,
    align_result,
    component_energy,
    load_reference,
)
from nmfviewer.core.manifest import sha256_file

FACES = sample_images_dir() / "faces"
SPECTRAL = sample_images_dir() / "spectral"
FAST = ["--max-iter", "30", "--seed", "3", "-q"]


def _factors(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(folder / "factors.npz") as z:
        return z["W"], z["H"]


def _alignment(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text())["alignment"]


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("align") / "first"
    assert cli.main(["fit", str(FACES), "-k", "4", *FAST, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def shuffled(first, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A reference holding the first run's basis in a known shuffled order."""
    folder = tmp_path_factory.mktemp("shuffled")
    perm = np.array([2, 0, 3, 1])
    _, H = _factors(first)
    np.savez(folder / "factors.npz", H=H[perm], image_shape=np.array([25, 25]))
    return folder, perm


def test_the_same_run_aligned_to_a_shuffled_reference_takes_its_order(
    first, shuffled, tmp_path, capsys
):
    ref, perm = shuffled
    out = tmp_path / "aligned"
    code = cli.main(
        ["fit", str(FACES), "-k", "4", *FAST, "--align-to", str(ref), "--out", str(out)]
    )
    assert code == 0
    W0, H0 = _factors(first)
    W, H = _factors(out)
    np.testing.assert_array_equal(H, H0[perm])  # the same fit, in the reference's order
    np.testing.assert_array_equal(W, W0[:, perm])
    record = _alignment(out)
    assert record["reference"] == str((ref / "factors.npz").absolute())
    assert record["reference_sha256"] == sha256_file(ref / "factors.npz")
    assert record["slots"] == [0, 1, 2, 3] and record["reference_k"] == 4
    assert record["cosine"] == pytest.approx([1.0] * 4, abs=1e-6)
    # run.json stays a readable manifest, and its outputs list is unchanged in kind
    assert "factors.npz" in json.loads((out / "run.json").read_text())["outputs"]


def test_more_components_than_the_reference_follow_in_energy_order(first, tmp_path, capsys):
    out = tmp_path / "k6"
    npz = first / "factors.npz"  # the file itself is accepted too
    code = cli.main(
        ["fit", str(FACES), "-k", "6", *FAST, "--align-to", str(npz), "--out", str(out)]
    )
    assert code == 0
    record = _alignment(out)
    assert record["slots"] == [0, 1, 2, 3, 4, 5]
    assert record["cosine"][4:] == [None, None]
    assert all(0.5 < c <= 1.0 for c in record["cosine"][:4])
    W, H = _factors(out)
    e = component_energy(W, H)
    assert e[4] >= e[5]  # the unmatched two keep their energy order
    _, H_ref = _factors(first)
    for j in range(4):  # each matched basis image is closest to its slot's reference
        cos = H_ref @ H[j] / (np.linalg.norm(H_ref, axis=1) * np.linalg.norm(H[j]))
        assert record["cosine"][j] == pytest.approx(cos[j], abs=1e-5)


def test_fewer_components_take_their_partners_slots(first, tmp_path):
    out = tmp_path / "k2"
    code = cli.main(
        ["fit", str(FACES), "-k", "2", *FAST, "--align-to", str(first), "--out", str(out)]
    )
    assert code == 0
    slots = _alignment(out)["slots"]
    assert len(slots) == 2 and slots == sorted(slots) and set(slots) <= {0, 1, 2, 3}


def test_a_replay_aligns_to_the_recorded_reference_again(first, shuffled, tmp_path, capsys):
    ref, _ = shuffled
    out = tmp_path / "aligned"
    assert (
        cli.main(["fit", str(FACES), "-k", "4", *FAST, "--align-to", str(ref), "--out", str(out)])
        == 0
    )
    again = tmp_path / "again"
    assert cli.main(["fit", "--replay", str(out / "run.json"), "--out", str(again), "-q"]) == 0
    np.testing.assert_array_equal(_factors(again)[1], _factors(out)[1])
    assert _alignment(again)["slots"] == [0, 1, 2, 3]
    # with the reference gone: a warning, and the components in energy order
    (ref / "factors.npz").rename(ref / "gone.npz")
    try:
        capsys.readouterr()
        third = tmp_path / "third"
        assert cli.main(["fit", "--replay", str(out / "run.json"), "--out", str(third), "-q"]) == 0
        assert "missing or changed" in capsys.readouterr().err
        np.testing.assert_array_equal(_factors(third)[1], _factors(first)[1])
    finally:
        (ref / "gone.npz").rename(ref / "factors.npz")


def _one_error_line(code: int, err: str) -> str:
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "warning" not in line]
    assert len(lines) == 1 and lines[0].startswith("nmfviewer: error: "), err
    return lines[0]


@pytest.mark.parametrize("case", ["missing", "no_factors", "not_npz", "no_H", "other_pixels"])
def test_a_bad_reference_exits_2_in_one_line_and_writes_nothing(case, first, tmp_path, capsys):
    bad = {
        "missing": tmp_path / "nowhere",
        "no_factors": tmp_path,
        "not_npz": tmp_path / "text.npz",
        "no_H": tmp_path / "noH.npz",
        "other_pixels": first,
    }[case]
    (tmp_path / "text.npz").write_text("not an archive")
    np.savez(tmp_path / "noH.npz", W=np.ones((3, 2)))
    data = SPECTRAL if case == "other_pixels" else FACES
    out = tmp_path / "never"
    code = cli.main(["fit", str(data), "-k", "2", *FAST, "--align-to", str(bad), "--out", str(out)])
    line = _one_error_line(code, capsys.readouterr().err)
    assert str(bad) in line
    assert {
        "missing": "does not exist",
        "no_factors": "holds no factors.npz",
        "not_npz": "not a factors.npz",
        "no_H": "no basis H",
        "other_pixels": "4096 pixels",
    }[case] in line
    assert not out.exists()


def test_align_result_in_python(first):
    reference = load_reference(first)
    W, H = _factors(first)
    rng = np.random.default_rng(0)
    perm = rng.permutation(4)
    result = FitResult(W[:, perm], H[perm], 1, 0.0, np.zeros(2), "max_iter", 0.0, params=None)  # type: ignore[arg-type]
    aligned, match = align_result(result, reference)
    np.testing.assert_array_equal(aligned.H, H)
    np.testing.assert_array_equal(match.slots, perm)
    with pytest.raises(LoadError, match="pixels"):
        reference.check_fits(100)
