"""The window's BLAS threads come from the core's one policy (issue 15 §3), and the
window, the CLI and the API give the same factors for the same seed and count."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nmfviewer import cli
from nmfviewer.core import (
    NMFParams,
    configure_blas_threads,
    current_thread_choice,
    fit,
    restore_blas_threads,
)
from nmfviewer.core import threads as thread_policy

PARAMS = {"n_components": 4, "seed": 3, "max_iter": 25, "tol": 0.0, "window": 10}


@pytest.fixture
def thread_choice_restored():
    previous = current_thread_choice()
    yield
    restore_blas_threads(previous)


def run_in_window(w, qtbot, **params):
    w.params_panel.set_params(NMFParams(**{**PARAMS, **params}))
    with qtbot.waitSignal(w.session.runFinished, timeout=20_000):
        assert w.start_run()
    return w.session.result()


def test_window_chooses_threads_per_run_from_the_data_leaving_the_gui_a_core(
    loaded, qtbot, tmp_path, monkeypatch, thread_choice_restored
):
    # four cores: at start-up (no data yet) the window takes cores - 1 = 3 threads ...
    monkeypatch.setattr(thread_policy, "available_cores", lambda: 4)
    assert configure_blas_threads("auto", reserve_gui_core=True) == 3
    run_in_window(loaded, qtbot)
    # ... and the run itself is sized by the policy: 20 x 256 pixels is a small problem
    choice = current_thread_choice()
    assert (choice.threads, choice.requested, choice.reason) == (1, "auto", "small problem")
    loaded.export_to(tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert doc["result"]["blas_threads"] == 1


def test_a_count_the_user_gave_is_kept(loaded, qtbot, monkeypatch, thread_choice_restored):
    monkeypatch.setattr(thread_policy, "available_cores", lambda: 4)
    assert configure_blas_threads(2, reserve_gui_core=True) == 2  # nmfviewer --threads 2
    run_in_window(loaded, qtbot)
    assert current_thread_choice().threads == 2


@pytest.mark.parametrize("threads", [1, 2])
def test_window_cli_and_api_give_the_same_factors(
    loaded, image_dir, qtbot, tmp_path, threads, thread_choice_restored
):
    configure_blas_threads(threads, reserve_gui_core=True)  # nmfviewer --threads N
    shown = run_in_window(loaded, qtbot)
    out = tmp_path / "cli"
    args = ["-k", "4", "--seed", "3", "--max-iter", "25", "--tol", "0", "--window", "10"]
    assert cli.main(["fit", str(image_dir), *args, "--threads", str(threads),
                     "--out", str(out), "-q"]) == 0  # fmt: skip
    with np.load(out / "factors.npz") as z:
        W_cli, H_cli = z["W"], z["H"]
    configure_blas_threads(threads)
    api = fit(loaded.session.collection.to_matrix(), NMFParams(**PARAMS))
    np.testing.assert_array_equal(shown.W, W_cli)
    np.testing.assert_array_equal(shown.H, H_cli)
    np.testing.assert_array_equal(shown.W, api.W)
    np.testing.assert_array_equal(shown.H, api.H)
