"""The command line: headless fit + export, replay, GUI dispatch, user errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from nmfviewer import __version__, cli
from nmfviewer._paths import sample_images_dir
from nmfviewer.core import (
    GuiRequest,
    LoadOptions,
    NMFParams,
    ParameterError,
    current_thread_choice,
    fit,
    read_manifest,
)
from nmfviewer.core.nmf import fit as fit_module

FACES = sample_images_dir() / "faces"
FAST = ["-k", "4", "--max-iter", "15", "--seed", "3"]
EXPORTED = {"basis_00.png", "basis_01.png", "basis_02.png", "basis_03.png",
            "basis_montage.png", "loss.png", "weights.csv", "factors.npz", "run.json"}  # fmt: skip


def _patch_fit(monkeypatch, fake) -> None:
    """Replace the fit the command line calls (it takes it from nmfviewer.core)."""
    import nmfviewer.core

    monkeypatch.setattr(fit_module, "fit", fake)
    monkeypatch.setattr(nmfviewer.core, "fit", fake)


def _factors(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(folder / "factors.npz") as z:
        return z["W"], z["H"]


@pytest.fixture(scope="module")
def faces_copy(tmp_path_factory) -> Path:
    """20 of the sample faces in a folder the tests may change."""
    folder = tmp_path_factory.mktemp("faces")
    for src in sorted(FACES.glob("*.png"))[:20]:
        shutil.copy(src, folder / src.name)
    return folder


@pytest.fixture(scope="module")
def recorded(faces_copy, tmp_path_factory):
    """One in-process headless run, reused by the replay tests."""
    out = tmp_path_factory.mktemp("run") / "out"
    assert cli.main(["fit", str(faces_copy), *FAST, "--normalize", "max", "--out", str(out)]) == 0
    return out


def test_fit_on_sample_faces_exports_everything(tmp_path, capsys):
    out = tmp_path / "faces out"
    code = cli.main(["fit", str(FACES), *FAST, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.strip() == str(out.absolute())
    assert {p.name for p in out.iterdir()} == EXPORTED
    assert "iteration" in captured.err and "it/s" in captured.err
    assert "stopped after 15 iterations, reached max iterations (not converged)" in captured.err
    W, H = _factors(out)
    assert W.shape == (100, 4) and H.shape == (4, 25 * 25)
    assert iio.imread(out / "basis_00.png").shape == (25, 25)
    m = read_manifest(out / "run.json")
    assert m.params == NMFParams(n_components=4, max_iter=15, seed=3)
    assert m.paths == (FACES.absolute(),) and len(m.files) == 100


def test_quiet_prints_only_the_folder(tmp_path, capsys):
    out = tmp_path / "q"
    assert cli.main(["fit", str(FACES), *FAST, "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.strip() == str(out.absolute())


def test_options_reach_the_run_manifest(tmp_path, faces_copy):
    out = tmp_path / "o"
    argv = ["fit", str(faces_copy), "-k", "2", "--loss", "kl", "--max-iter", "5", "--tol", "0",
            "--dtype", "float64", "--seed", "11", "--alpha-W", "0.01", "--l1-ratio", "0.5",
            "--color", "mean", "--normalize", "sum", "--max-memory", "1G", "--bit-depth", "16",
            "--out", str(out), "-q"]  # fmt: skip
    assert cli.main(argv) == 0
    m = read_manifest(out / "run.json")
    assert (m.params.loss, m.params.solver, m.params.dtype) == ("kl", "mu", "float64")
    assert (m.params.seed, m.params.max_iter, m.params.tol) == (11, 5, 0.0)
    assert (m.params.alpha_W, m.params.l1_ratio) == (0.01, 0.5)
    assert m.load_options == LoadOptions(color="mean", normalize="sum", max_memory_bytes=1 << 30)
    assert _factors(out)[0].dtype == np.float64
    assert iio.imread(out / "basis_00.png").dtype == np.uint16


def test_fit_kl_mu_reports_the_latest_evaluated_loss(tmp_path, faces_copy, capsys, monkeypatch):
    # KL multiplicative updates evaluate the loss only every 10th iteration
    monkeypatch.setattr(cli, "_PROGRESS_INTERVAL", 0.0)  # a progress line per iteration
    out = tmp_path / "kl"
    argv = ["fit", str(faces_copy), "-k", "3", "--solver", "mu", "--loss", "kl",
            "--max-iter", "25", "--tol", "0", "--seed", "0", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == EXPORTED - {"basis_03.png"}
    shown = {}
    for line in err.splitlines():
        if line.startswith("iteration"):
            words = line.split()
            shown[int(words[1])] = float(words[3])
    assert sorted(shown) == list(range(26))
    raw = json.loads((out / "run.json").read_text(encoding="utf-8"))["result"]
    history = raw["loss_history"]
    assert raw["n_iter"] == 25 and len(history) == 26 and history[-1] == raw["final_loss"]
    for t, loss in shown.items():  # the latest evaluated loss, to the 6 digits shown
        latest = history[t] if t == 25 else history[t - t % 10]
        assert loss == pytest.approx(latest, rel=1e-5)
    assert [t for t, v in enumerate(history) if v is not None] == [0, 10, 20, 25]
    assert f"loss {raw['final_loss']:.6g}" in err.splitlines()[-1]


def test_python_m_nmfviewer_fit_in_a_subprocess(tmp_path):
    out = tmp_path / "sub"
    proc = subprocess.run(
        [sys.executable, "-m", "nmfviewer", "fit", str(FACES), *FAST, "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out.absolute())
    assert {p.name for p in out.iterdir()} == EXPORTED
    assert "Traceback" not in proc.stderr


def test_replay_gives_identical_factors(recorded, tmp_path, capsys):
    out2 = tmp_path / "replayed"
    assert cli.main(["fit", "--replay", str(recorded / "run.json"), "--out", str(out2)]) == 0
    err = capsys.readouterr().err
    assert "changed" not in err and "not read now" not in err
    W1, H1 = _factors(recorded)
    W2, H2 = _factors(out2)
    assert np.array_equal(W1, W2) and np.array_equal(H1, H2)
    first, again = read_manifest(recorded / "run.json"), read_manifest(out2 / "run.json")
    assert again.params == first.params and again.load_options == first.load_options
    assert again.load_options.normalize == "max"


def test_replay_warns_when_an_input_changed(recorded, faces_copy, tmp_path, capsys):
    victim = sorted(faces_copy.glob("*.png"))[5]
    original = victim.read_bytes()
    try:
        iio.imwrite(victim, np.zeros((25, 25), np.uint8))
        assert cli.main(["fit", "--replay", str(recorded / "run.json"), "--out",
                         str(tmp_path / "r"), "-q"]) == 0  # fmt: skip
    finally:
        victim.write_bytes(original)
    err = capsys.readouterr().err
    assert "warning" in err and str(victim.absolute()) in err and "changed" in err


def test_replay_of_moved_inputs_says_so(recorded, tmp_path, capsys):
    doc = json.loads((recorded / "run.json").read_text(encoding="utf-8"))
    doc["inputs"]["source"] = [str(tmp_path / "moved away")]
    edited = tmp_path / "run.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    code = cli.main(["fit", "--replay", str(edited), "--out", str(tmp_path / "o")])
    line = _one_error_line(code, capsys.readouterr().err)
    assert "moved away" in line and "no longer exists" in line


def test_replay_of_a_custom_init_run_is_refused(recorded, tmp_path, capsys):
    doc = json.loads((recorded / "run.json").read_text(encoding="utf-8"))
    doc["params"]["init"] = "custom"
    edited = tmp_path / "run.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    code = cli.main(["fit", "--replay", str(edited), "--out", str(tmp_path / "o")])
    line = _one_error_line(code, capsys.readouterr().err)
    assert str(edited) in line and "custom" in line


def test_replay_refuses_other_options(recorded, tmp_path, capsys):
    code = cli.main(["fit", "--replay", str(recorded / "run.json"), "--out", str(tmp_path),
                     "-k", "3", "--loss", "kl"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "-k/--n-components" in err and "--loss" in err


def test_replay_of_a_time_budget_run_repeats_its_iterations(recorded, tmp_path, capsys):
    doc = json.loads((recorded / "run.json").read_text(encoding="utf-8"))
    doc["result"]["stop_reason"] = "time_budget"
    doc["params"]["time_budget"] = 0.5
    edited = tmp_path / "run.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "tb"
    assert cli.main(["fit", "--replay", str(edited), "--out", str(out), "-q"]) == 0
    assert "replaying exactly 15 iterations" in capsys.readouterr().err
    assert np.array_equal(_factors(out)[1], _factors(recorded)[1])


def _one_error_line(code: int, err: str) -> str:
    assert code == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nmfviewer: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def bad_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    (root / "empty").mkdir()
    texts = root / "texts"
    texts.mkdir()
    (texts / "notes.txt").write_text("not an image")
    (texts / "fake.png").write_text("a text file named .png")
    return {"empty": root / "empty", "texts": texts, "missing": root / "no such folder"}


@pytest.mark.parametrize(
    "args, names",
    [
        (["-k", "0"], ["n_components", "k"]),
        (["-k", "1000"], ["n_components", "100"]),
        (["-k", "2", "--tol", "-1"], ["tol"]),
        (["-k", "2", "--max-iter", "0"], ["max_iter"]),
        (["-k", "2", "--loss", "nope"], ["--loss", "nope"]),
        (["-k", "two"], ["-k", "two"]),
        (["-k", "2", "--seed", "-5"], ["seed"]),
        (["-k", "2", "--solver", "hals", "--loss", "is"], ["hals", "mu"]),
        (["-k", "2", "--max-memory", "lots"], ["--max-memory", "lots"]),
        (["-k", "2", "--bit-depth", "12"], ["--bit-depth"]),
        (["-k", "2", "--threads", "0"], ["--threads"]),
        (["-k", "2", "--no-such-option"], ["--no-such-option"]),
        (["--max-iter", "5"], ["-k"]),
    ],
)
def test_bad_parameters_exit_2_with_one_line(args, names, tmp_path, capsys):
    code = cli.main(["fit", str(FACES), *args, "--out", str(tmp_path / "never")])
    line = _one_error_line(code, capsys.readouterr().err)
    for name in names:
        assert name in line
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("which", ["missing", "empty", "texts"])
def test_bad_inputs_exit_2_naming_the_folder(which, bad_folders, tmp_path, capsys):
    path = bad_folders[which]
    code = cli.main(["fit", str(path), "-k", "2", "--out", str(tmp_path / "never")])
    line = _one_error_line(code, capsys.readouterr().err)
    assert str(path) in line


def _bad_file(folder: Path, case: str) -> Path:
    good = (FACES / "face_000.png").read_bytes()
    if case == "zero-byte.png":
        (folder / case).write_bytes(b"")
    elif case == "text named.png":
        (folder / case).write_text("this is not a PNG")
    elif case == "truncated.png":
        (folder / case).write_bytes(good[: len(good) // 3])
    elif case in ("negative.tif", "nan.tif"):
        import tifffile

        a = np.random.default_rng(0).random((10, 10)).astype(np.float32)
        a[2, 3] = -1.0 if case == "negative.tif" else np.nan
        tifffile.imwrite(folder / case, a)
    return folder / case


@pytest.mark.parametrize(
    "case, fix",
    [("zero-byte.png", ""), ("text named.png", ""), ("truncated.png", ""),
     ("negative.tif", "--negative"), ("nan.tif", "--nonfinite")],
)  # fmt: skip
def test_bad_files_exit_2_naming_the_file_and_the_fix(case, fix, tmp_path, capsys):
    bad = _bad_file(tmp_path, case)
    code = cli.main(["fit", str(bad), "-k", "1", "--out", str(tmp_path / "never")])
    line = _one_error_line(code, capsys.readouterr().err)
    assert case in line and fix in line


def test_a_bad_file_among_good_ones_is_skipped_with_a_warning(tmp_path, capsys):
    for src in sorted(FACES.glob("*.png"))[:5]:
        shutil.copy(src, tmp_path / src.name)
    _bad_file(tmp_path, "text named.png")
    out = tmp_path / "out"
    assert cli.main(["fit", str(tmp_path), "-k", "2", "--max-iter", "3", "--out", str(out)]) == 0
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and "text named.png" in warnings[0]
    assert _factors(out)[0].shape == (5, 2)


def test_missing_out_and_missing_inputs(capsys, tmp_path):
    _one_error_line(cli.main(["fit", str(FACES), "-k", "2"]), capsys.readouterr().err)
    line = _one_error_line(cli.main(["fit", "-k", "2", "--out", str(tmp_path)]),
                           capsys.readouterr().err)  # fmt: skip
    assert "PATH" in line


def test_unwritable_output_folder_exits_2_naming_it(tmp_path, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    out = blocker / "results"
    line = _one_error_line(
        cli.main(["fit", str(FACES), *FAST, "--out", str(out), "-q"]), capsys.readouterr().err
    )
    assert str(out) in line and "choose another folder" in line


def test_bad_manifest_exits_2(tmp_path, capsys):
    bogus = tmp_path / "run.json"
    bogus.write_text("{}")
    line = _one_error_line(
        cli.main(["fit", "--replay", str(bogus), "--out", str(tmp_path / "o")]),
        capsys.readouterr().err,
    )
    assert str(bogus) in line


def test_ctrl_c_during_the_fit_exits_130_and_writes_nothing(tmp_path, capsys, monkeypatch):
    real_fit = fit_module.fit

    def fit_interrupted_at_iteration_3(X, params, *args, callback=None, **kwargs):
        def cb(state):
            callback(state)
            if state.iteration >= 3:
                raise KeyboardInterrupt

        return real_fit(X, params, *args, callback=cb, **kwargs)

    _patch_fit(monkeypatch, fit_interrupted_at_iteration_3)
    out = tmp_path / "never"
    code = cli.main(["fit", str(FACES), *FAST, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 130 and "interrupted while fitting" in err and "Traceback" not in err
    assert not out.exists()


def test_version_and_help(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"nmfviewer {__version__}"
    assert cli.main(["fit", "--help"]) == 0
    assert "--replay" in capsys.readouterr().out
    assert cli.main(["--help"]) == 0
    assert "nmfviewer fit --help" in capsys.readouterr().out


@pytest.fixture
def fake_gui(monkeypatch):
    """Stand-in for nmfviewer.gui.app that records the request it is given."""
    calls: list[GuiRequest] = []
    module = types.ModuleType("nmfviewer.gui.app")
    module.run = lambda request: calls.append(request) or 0
    monkeypatch.setitem(sys.modules, "nmfviewer.gui.app", module)
    return calls


def test_no_subcommand_opens_the_gui_with_one_frozen_request(fake_gui, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fit").mkdir()  # a folder literally named 'fit'
    shot = tmp_path / "shot.png"
    argv = ["./fit", "-k", "5", "--loss", "kl", "--seed", "random", "--start",
            "--screenshot", str(shot), "--quit-when-done", "--recursive",
            "--threads", "1"]  # fmt: skip
    assert cli.main(argv) == 0
    (request,) = fake_gui
    assert isinstance(request, GuiRequest) and request.paths == (Path("./fit"),)
    params = request.params
    assert (params.n_components, params.loss, params.solver, params.seed) == (5, "kl", "mu", None)
    assert request.load_options == LoadOptions(recursive=True)
    assert request.start and request.quit_when_done and request.screenshot == shot
    assert request.threads == 1
    with pytest.raises(AttributeError):
        request.start = False  # type: ignore[misc]
    assert cli.main(["--", "fit"]) == 0 and fake_gui[1].paths == (Path("fit"),)


def test_gui_with_nothing_given_and_bad_values(fake_gui, capsys):
    assert cli.main([]) == 0
    (request,) = fake_gui
    assert request == GuiRequest()  # the sample faces, k = 16, defaults everywhere
    assert request.params == NMFParams(n_components=16) and not request.scripted
    ns = cli.build_gui_parser()[0].parse_args([])
    with pytest.raises(ParameterError, match="components k is missing") as info:
        cli.params_from_args(ns)
    assert info.value.field == "n_components"
    # bad values are refused before the window opens
    line = _one_error_line(cli.main(["-k", "0"]), capsys.readouterr().err)
    assert "n_components" in line
    line = _one_error_line(cli.main(["nowhere-to-be-found"]), capsys.readouterr().err)
    assert "nowhere-to-be-found" in line
    assert len(fake_gui) == 1


@pytest.mark.parametrize(
    "text, expected",
    [("123", 123), ("2G", 2 << 30), ("512M", 512 << 20), ("1.5k", 1536), ("4GiB", 4 << 30)],
)
def test_parse_size(text, expected):
    assert cli.parse_size(text) == expected


def _blas_threads() -> set[int]:
    from threadpoolctl import threadpool_info

    # numpy's BLAS, the one the solvers call (scipy may load a second one)
    return {
        i["num_threads"]
        for i in threadpool_info()
        if i["user_api"] == "blas" and "numpy" in i["filepath"]
    }


@pytest.mark.parametrize("threads, expected", [("1", 1), ("2", 2), ("auto", 1), (None, 1)])
def test_blas_threads_are_set_for_the_fit_recorded_and_restored(
    threads, expected, tmp_path, monkeypatch
):
    seen = []
    real_fit = fit_module.fit

    def fit_recording_threads(*args, **kwargs):
        seen.append(_blas_threads())
        return real_fit(*args, **kwargs)

    _patch_fit(monkeypatch, fit_recording_threads)
    before, choice_before = _blas_threads(), current_thread_choice()
    extra = [] if threads is None else ["--threads", threads]
    out = tmp_path / "t"
    # the faces X (100 x 625) is small: 'auto' means one thread
    assert cli.main(["fit", str(FACES), *FAST, "--out", str(out), "-q", *extra]) == 0
    assert seen == [{expected}]
    assert (
        json.loads((out / "run.json").read_text(encoding="utf-8"))["result"]["blas_threads"]
        == expected
    )
    assert _blas_threads() == before and current_thread_choice() == choice_before


def test_replay_uses_the_recorded_thread_count(tmp_path, monkeypatch):
    out = tmp_path / "two"
    assert cli.main(["fit", str(FACES), *FAST, "--threads", "2", "--out", str(out), "-q"]) == 0
    seen = []
    real_fit = fit_module.fit

    def fit_recording_threads(*args, **kwargs):
        seen.append(_blas_threads())
        return real_fit(*args, **kwargs)

    _patch_fit(monkeypatch, fit_recording_threads)
    again = tmp_path / "again"
    assert cli.main(["fit", "--replay", str(out / "run.json"), "--out", str(again), "-q"]) == 0
    assert seen == [{2}]
    W1, H1 = _factors(out)
    W2, H2 = _factors(again)
    assert np.array_equal(W1, W2) and np.array_equal(H1, H2)


def test_replay_of_a_run_json_without_the_count_uses_the_blas_it_recorded(tmp_path, monkeypatch):
    out = tmp_path / "two"
    assert cli.main(["fit", str(FACES), *FAST, "--threads", "2", "--out", str(out), "-q"]) == 0
    doc = json.loads((out / "run.json").read_text(encoding="utf-8"))
    del doc["result"]["blas_threads"]  # as written before the count was recorded
    assert doc["environment"]["blas"][0]["num_threads"] == 2
    (out / "run.json").write_text(json.dumps(doc), encoding="utf-8")
    seen = []
    real_fit = fit_module.fit

    def fit_recording_threads(*args, **kwargs):
        seen.append(_blas_threads())
        return real_fit(*args, **kwargs)

    _patch_fit(monkeypatch, fit_recording_threads)
    again = tmp_path / "again"
    assert cli.main(["fit", "--replay", str(out / "run.json"), "--out", str(again), "-q"]) == 0
    assert seen == [{2}]


@pytest.mark.parametrize("threads", [1, 2])
def test_cli_and_api_give_the_same_factors_at_the_same_thread_count(threads, tmp_path):
    out = tmp_path / "cli"
    assert cli.main(["fit", str(FACES), *FAST, "--threads", str(threads), "--out", str(out),
                     "-q"]) == 0  # fmt: skip
    from nmfviewer.core import configure_blas_threads, load_collection, restore_blas_threads

    previous = current_thread_choice()
    try:
        assert configure_blas_threads(threads) == threads
        X = load_collection([FACES]).to_matrix()
        result = fit(X, NMFParams(n_components=4, max_iter=15, seed=3))
    finally:
        restore_blas_threads(previous)
    W, H = _factors(out)
    assert np.array_equal(W, result.W) and np.array_equal(H, result.H)


def test_without_a_display_the_window_is_refused_in_one_line(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    proc = subprocess.run([sys.executable, "-m", "nmfviewer", str(FACES)], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    if not sys.platform.startswith("linux"):
        pytest.skip("the check is for Linux (X11 / Wayland)")
    line = _one_error_line(proc.returncode, proc.stderr)
    assert "nmfviewer fit" in line and "QT_QPA_PLATFORM=offscreen" in line
    assert "PySide6" not in proc.stderr  # refused before Qt was imported


def test_output_folder_is_checked_before_loading_and_fitting(tmp_path, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("loaded or fitted although the output cannot be written")

    _patch_fit(monkeypatch, never)
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    for out in (blocker, blocker / "below"):
        line = _one_error_line(cli.main(["fit", str(FACES), *FAST, "--out", str(out)]),
                               capsys.readouterr().err)  # fmt: skip
        assert str(out) in line and "not a folder" in line and "--out" in line
    line = _one_error_line(cli.main(["fit", str(FACES), *FAST, "--out", ""]),
                           capsys.readouterr().err)  # fmt: skip
    assert "--out is empty" in line
    assert blocker.read_text() == "x" and os.listdir(tmp_path) == ["a file"]


def test_follow_links_takes_a_folder_link_out_of_the_tree(tmp_path, capsys):
    # by default a recursive walk stays inside the folder given; --follow-links goes out
    sys.path.insert(0, str(Path(__file__).parent))
    from bad_input_cases import good_folder

    folder = good_folder(tmp_path / "in", n=3)
    good_folder(tmp_path / "outside", n=2)
    os.symlink(tmp_path / "outside", folder / "elsewhere")
    args = [str(folder), "--recursive", "-k", "2", "--max-iter", "5", "-q"]
    assert cli.main(["fit", *args, "--out", str(tmp_path / "a")]) == 0
    assert "elsewhere ->" in capsys.readouterr().err
    assert cli.main(["fit", *args, "--follow-links", "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    rows = lambda out: (out / "weights.csv").read_text().splitlines()[1:]  # noqa: E731
    assert len(rows(tmp_path / "a")) == 3 and len(rows(tmp_path / "b")) == 5


def test_a_collapsed_model_is_exported_and_exits_2(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).parent))
    from bad_input_cases import good_folder

    folder = good_folder(tmp_path / "in", n=6)
    out = tmp_path / "out"
    code = cli.main(["fit", str(folder), "-k", "2", "--alpha-W", "1000", "-q", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "zeroed the model" in err[0] and "--alpha-W 100" in err[0] and str(out) in err[0]
    assert json.loads((out / "run.json").read_text())["result"]["stop_reason"] == "collapsed"
