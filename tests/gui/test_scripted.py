"""Scripted mode: open, run to the end, screenshot the window, quit."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

from PySide6.QtGui import QImage

from nmfviewer.gui import app


def assert_real_screenshot(path, min_size=(600, 400)):
    assert path.exists() and path.stat().st_size > 0
    image = QImage(str(path))
    assert not image.isNull()
    assert image.width() >= min_size[0] and image.height() >= min_size[1]
    step = 7
    colours = {image.pixel(x, y) for x in range(0, image.width(), step)
               for y in range(0, image.height(), step)}
    assert len(colours) > 50, "the screenshot is (nearly) uniform"


def test_main_in_process_runs_screenshots_and_quits(image_dir, tmp_path, qapp):
    shot = tmp_path / "shots" / "window.png"
    ns = SimpleNamespace(paths=[str(image_dir)], n_components=3, max_iter=40, seed=0,
                         start=True, screenshot=shot, quit_when_done=True)
    assert app.main(ns) == 0
    assert_real_screenshot(shot)


def test_main_returns_2_for_a_bad_parameter(image_dir, tmp_path, qapp, capsys):
    ns = SimpleNamespace(paths=[str(image_dir)], n_components=50, start=True,
                         screenshot=None, quit_when_done=True)  # k > 20 images
    assert app.main(ns) == 2
    assert "k must be <= 20" in capsys.readouterr().err


def test_command_line_scripted_mode(image_dir, tmp_path):
    shot = tmp_path / "cli.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    proc = subprocess.run(
        [sys.executable, "-m", "nmfviewer", str(image_dir), "-k", "4", "--max-iter", "50",
         "--start", "--screenshot", str(shot), "--quit-when-done"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert_real_screenshot(shot)
    assert not (tmp_path / "cfg").exists() or all(
        "nmfviewer" in str(p) for p in (tmp_path / "cfg").rglob("*") if p.is_file())



def test_main_returns_2_when_loading_fails(tmp_path, qapp, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    ns = SimpleNamespace(paths=[str(empty)], n_components=3, start=True,
                         screenshot=tmp_path / "x.png", quit_when_done=True)
    assert app.main(ns) == 2
    assert "could not load" in capsys.readouterr().err
    assert (tmp_path / "x.png").stat().st_size > 0  # the window, showing the message
