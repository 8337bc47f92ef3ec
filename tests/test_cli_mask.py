"""Where masks come from: NaN values, a mask image (or folder), a saturation level; the
mask in the run manifest and its replay; bad masks exit 2 with one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from nmfviewer import cli
from nmfviewer._paths import sample_images_dir
from nmfviewer.core import (
    LoadOptions,
    Mask,
    MaskError,
    NMFParams,
    fit,
    load_collection,
    loss_on,
)

FACES = sample_images_dir() / "faces"
FAST = ["-k", "3", "--max-iter", "12", "--seed", "3", "-q"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faces")
    for src in sorted(FACES.glob("*.png"))[:12]:
        shutil.copy(src, folder / src.name)
    return folder


def _shape(folder: Path) -> tuple[int, int]:
    first = sorted(folder.glob("*.png"))[0]
    return iio.imread(first).shape[:2]


def _mask_png(path: Path, shape: tuple[int, int], box=(0, 8, 0, 8)) -> Path:
    """White everywhere but a black box (rows r0:r1, cols c0:c1)."""
    img = np.full(shape, 255, np.uint8)
    r0, r1, c0, c1 = box
    img[r0:r1, c0:c1] = 0
    iio.imwrite(path, img)
    return path


def _one_error_line(code: int, err: str) -> str:
    assert code == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nmfviewer: error: "), err
    return lines[0]


# -- the three sources, in the core ---------------------------------------------------------


def test_nonfinite_mask_leaves_nan_and_inf_out_and_zeroes_them(tmp_path):
    rng = np.random.default_rng(0)
    stack = rng.random((6, 10, 12)).astype(np.float32)
    stack[1, 2, 3] = np.nan
    stack[4, 0, 0] = np.inf
    c = load_collection_from(stack, LoadOptions(nonfinite="mask", normalize="max"))
    assert c.mask is not None and c.mask.n_missing == 2
    X = c.to_matrix()
    assert X[1, 2 * 12 + 3] == 0 and X[4, 0] == 0 and np.isfinite(X).all()
    hidden = ~c.mask.dense(bool)
    assert hidden[1, 2 * 12 + 3] and hidden[4, 0]
    # normalised over the values that are there, not spoiled by the marks
    np.testing.assert_allclose(X.max(axis=1), 1.0, rtol=1e-6)
    assert any("left NaN/infinite values out" in w for w in c.warnings)
    # the default still refuses them; 'zero' still zeroes them without a mask
    assert load_collection_from(stack, LoadOptions(nonfinite="zero")).mask is None


def load_collection_from(stack, options):
    from nmfviewer.core import Collection

    return Collection.from_array(stack, options=options)


def test_saturation_masks_values_at_or_above_the_level():
    stack = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4) * 10
    c = load_collection_from(stack, LoadOptions(saturation=200))
    hidden = ~c.mask.dense(bool)
    np.testing.assert_array_equal(hidden.ravel(), stack.ravel() >= 200)
    assert c.to_matrix()[hidden].max() == 0
    with pytest.raises(MaskError, match=r"saturation=0 .* every value"):
        load_collection_from(stack + 1, LoadOptions(saturation=0))


def test_mask_file_for_all_images_and_a_folder_per_image(faces, tmp_path):
    shape = _shape(faces)
    one = _mask_png(tmp_path / "m.png", shape)
    c = load_collection(faces, LoadOptions(mask_file=str(one)))
    assert c.mask.kind == "columns" and c.mask.n_missing == 64 * c.n_images
    per = tmp_path / "masks"
    per.mkdir()
    names = sorted(p.name for p in faces.glob("*.png"))
    _mask_png(per / names[0], shape, box=(0, 4, 0, 4))
    _mask_png(per / Path(names[1]).with_suffix(".tif").name, shape, box=(5, 6, 5, 6))
    c2 = load_collection(faces, LoadOptions(mask_file=str(per)))
    hidden = (~c2.mask.dense(bool)).sum(axis=1)
    assert hidden[0] == 16 and hidden[1] == 1 and not hidden[2:].any()
    assert any("used whole" in w for w in c2.warnings)


# -- the command line -----------------------------------------------------------------------


def test_fit_with_a_mask_records_it_and_the_replay_gives_the_same_factors(faces, tmp_path, capsys):
    shape = _shape(faces)
    mask_file = _mask_png(tmp_path / "mask.png", shape, box=(2, 12, 3, 9))
    out = tmp_path / "run"
    assert cli.main(["fit", str(faces), *FAST, "--mask", str(mask_file), "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["mask"]["file"] == "mask.npz"
    assert run["outputs"]["mask.npz"] == run["mask"]["sha256"]
    assert run["load_options"]["mask_file"] == str(mask_file.absolute())
    mask = Mask.load(out / "mask.npz")
    assert mask.sha256() == run["mask"]["weights_sha256"]
    # the fit used it: the loss is the masked loss, the hidden pixels' basis is zero
    with np.load(out / "factors.npz") as z:
        W, H = z["W"], z["H"]
    X = load_collection(faces).to_matrix()
    assert run["result"]["final_loss"] == pytest.approx(loss_on(X, W, H, mask), rel=1e-4)
    assert not H[:, mask.hidden_columns()].any() and mask.hidden_columns().size == 60
    # the replay reads mask.npz and gives the same factors
    again = tmp_path / "again"
    assert cli.main(["fit", "--replay", str(out / "run.json"), "--out", str(again), "-q"]) == 0
    with np.load(again / "factors.npz") as z:
        assert np.array_equal(z["W"], W) and np.array_equal(z["H"], H)
    assert (again / "mask.npz").read_bytes() == (out / "mask.npz").read_bytes()
    # a damaged mask.npz stops the replay in one line
    capsys.readouterr()
    (out / "mask.npz").write_bytes(b"not a mask")
    code = cli.main(["fit", "--replay", str(out / "run.json"), "--out", str(tmp_path / "x")])
    line = _one_error_line(code, capsys.readouterr().err)
    assert "mask.npz" in line and "changed" in line


def test_the_api_fit_with_the_collection_mask_matches_the_cli(faces, tmp_path):
    shape = _shape(faces)
    mask_file = _mask_png(tmp_path / "mask.png", shape)
    out = tmp_path / "run"
    assert cli.main(["fit", str(faces), *FAST, "--mask", str(mask_file), "--out", str(out)]) == 0
    c = load_collection(faces, LoadOptions(mask_file=str(mask_file)))
    p = NMFParams(n_components=3, max_iter=12, seed=3)
    r = fit(c.to_matrix(), p, mask=c.mask)
    with np.load(out / "factors.npz") as z:
        np.testing.assert_allclose(z["H"], r.H, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing", ["does not exist", "--mask"]),
        ("text", ["cannot be read as an image"]),
        ("size", ["pixels but the images are", "the images' size"]),
        ("black", ["hides every"]),
        ("folder", ["no mask in the folder"]),
    ],
)
def test_bad_mask_files_exit_2_with_one_line(case, words, faces, tmp_path, capsys):
    shape = _shape(faces)
    path = tmp_path / "mask.png"
    if case == "text":
        path.write_text("not an image")
    elif case == "size":
        _mask_png(path, (shape[0] + 3, shape[1]))
    elif case == "black":
        iio.imwrite(path, np.zeros(shape, np.uint8))
    elif case == "folder":
        path = tmp_path / "masks"
        path.mkdir()
        _mask_png(path / "other_name.png", shape)
    out = tmp_path / "never"
    code = cli.main(["fit", str(faces), *FAST, "--mask", str(path), "--out", str(out)])
    line = _one_error_line(code, capsys.readouterr().err)
    for w in words:
        assert w in line, line
    assert not out.exists()


def test_bad_saturation_exits_2_with_one_line(faces, tmp_path, capsys):
    code = cli.main(["fit", str(faces), *FAST, "--saturation", "0", "--out", str(tmp_path / "o")])
    line = _one_error_line(code, capsys.readouterr().err)
    assert "saturation=0" in line and "every value" in line
    code = cli.main(["fit", str(faces), *FAST, "--saturation", "x", "--out", str(tmp_path / "o")])
    assert "--saturation" in _one_error_line(code, capsys.readouterr().err)
