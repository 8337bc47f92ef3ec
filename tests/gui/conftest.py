"""Fixtures for the GUI tests (pytest-qt, offscreen).

Settings never touch the user's home: QSettings' user scope is redirected to
a temporary folder and windows get their own temporary settings file.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from nmfviewer.gui.app import create_app, shield_singletons
from nmfviewer.gui.main_window import MainWindow

shield_singletons()  # PySide6 6.12 reference-count bug, see nmfviewer/gui/app.py


@pytest.fixture(autouse=True)
def _configured_app(qapp):
    """The test QApplication styled like the real one (same widget metrics)."""
    return create_app()


@pytest.fixture(autouse=True)
def _temporary_user_settings(tmp_path, monkeypatch):
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(config))
        QSettings.setPath(QSettings.Format.NativeFormat, scope, str(config))
    yield


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "nmfviewer.ini"), QSettings.Format.IniFormat)


def planted(n=20, shape=(16, 16), k=4, seed=0):
    """(n, h, w) uint8 images that are non-negative mixtures of k blobs."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    parts = []
    for _ in range(k):
        cy, cx = rng.uniform(2, h - 2), rng.uniform(2, w - 2)
        parts.append(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 6.0).ravel())
    X = rng.uniform(0.1, 1.0, (n, k)) @ np.array(parts)
    return (X / X.max() * 255).astype(np.uint8).reshape(n, h, w)


def write_pngs(folder, images):
    import imageio.v3 as iio

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        iio.imwrite(folder / f"img_{i:03d}.png", img)
    return folder


@pytest.fixture
def make_image_dir(tmp_path):
    """make_image_dir(name, n=20, shape=(16, 16), k=4) -> folder of PNGs."""

    def make(name, **kw):
        return write_pngs(tmp_path / name, planted(**kw))

    return make


@pytest.fixture
def image_dir(tmp_path):
    """A folder of 20 PNG images, 16 x 16, 8-bit gray."""
    return write_pngs(tmp_path / "images", planted())


@pytest.fixture
def window(qtbot, settings):
    w = MainWindow(settings=settings, confirm=lambda question: True)
    w.ask_on_close = False
    qtbot.addWidget(w)
    w.show()
    yield w
    w.session.shutdown()


@pytest.fixture
def loaded(window, image_dir, qtbot):
    """The window with ``image_dir`` loaded."""
    with qtbot.waitSignal(window.session.collectionChanged, timeout=10_000):
        assert window.open_paths([image_dir])
    return window
