"""Scripted mode: open, run to the end, screenshot the window, quit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from nmfviewer.core import GuiRequest, NMFParams
from nmfviewer.gui import app


def assert_real_screenshot(path, min_size=(600, 400)):
    assert path.exists() and path.stat().st_size > 0
    image = QImage(str(path))
    assert not image.isNull()
    assert image.width() >= min_size[0] and image.height() >= min_size[1]
    step = 7
    colours = {
        image.pixel(x, y)
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    }
    assert len(colours) > 50, "the screenshot is (nearly) uniform"


def test_main_in_process_runs_screenshots_and_quits(image_dir, tmp_path, qapp):
    shot = tmp_path / "shots" / "window.png"
    request = GuiRequest(
        paths=[image_dir],
        params=NMFParams(n_components=3, max_iter=40, seed=0),
        start=True,
        screenshot=shot,
        quit_when_done=True,
    )
    assert app.run(request) == 0
    assert_real_screenshot(shot)


def test_main_returns_2_for_a_bad_parameter(image_dir, tmp_path, qapp, capsys):
    request = GuiRequest(
        paths=[image_dir], params=NMFParams(n_components=50), start=True, quit_when_done=True
    )  # k > 20 images
    assert app.run(request) == 2
    assert "k must be <= 20" in capsys.readouterr().err


def _env(tmp_path) -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])  # the package under test
    return dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
    )


def test_command_line_scripted_mode(image_dir, tmp_path):
    shot = tmp_path / "cli.png"
    env = _env(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nmfviewer",
            str(image_dir),
            "-k",
            "4",
            "--max-iter",
            "50",
            "--start",
            "--screenshot",
            str(shot),
            "--quit-when-done",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert_real_screenshot(shot)
    assert not (tmp_path / "cfg").exists() or all(
        "nmfviewer" in str(p) for p in (tmp_path / "cfg").rglob("*") if p.is_file()
    )


def test_main_returns_2_when_loading_fails(tmp_path, qapp, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    request = GuiRequest(
        paths=[empty],
        params=NMFParams(n_components=3),
        start=True,
        screenshot=tmp_path / "x.png",
        quit_when_done=True,
    )
    assert app.run(request) == 2
    assert "could not load" in capsys.readouterr().err
    assert (tmp_path / "x.png").stat().st_size > 0  # the window, showing the message


def test_a_screenshot_that_cannot_be_written_ends_the_run_with_a_message(image_dir, tmp_path):
    """Never a hang: a path whose folder cannot be created is refused before the window
    opens; one Qt cannot write (no such image type) fails when saving, and the scripted
    run still quits, non-zero."""
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    cases = [
        (blocker / "sub" / "shot.png", 2, "cannot create a file"),
        (tmp_path / "shot.unknown-type", 1, "could not save the screenshot"),
    ]
    for shot, code, words in cases:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "nmfviewer",
                str(image_dir),
                "-k",
                "2",
                "--max-iter",
                "3",
                "--start",
                "--screenshot",
                str(shot),
                "--quit-when-done",
            ],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == code, proc.stderr
        assert words in proc.stderr and "Traceback" not in proc.stderr
        assert not shot.exists()


def test_a_screenshot_folder_that_fails_late_still_quits(image_dir, tmp_path, qapp, capsys):
    """The folder became impossible after the command line checked it: the scripted
    run reports it and exits 1 instead of leaving the event loop running."""
    blocker = tmp_path / "late"
    request = GuiRequest(
        paths=[image_dir],
        params=NMFParams(n_components=2, max_iter=3),
        start=True,
        screenshot=blocker / "sub" / "x.png",
        quit_when_done=True,
    )
    blocker.write_text("a file where the folder should be")
    assert app.run(request) == 1
    assert "could not save the screenshot" in capsys.readouterr().err
