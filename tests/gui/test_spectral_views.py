"""Spectral views: pixel spectrum, readouts in axis units, one-scale abundance maps,
the band axis file in Load options."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QPointF

from nmfviewer.core import SpectralAxis
from nmfviewer.core.params import LoadOptions, NMFParams
from nmfviewer.gui.dialogs import error_text
from nmfviewer.gui.views.basis_view import BasisGrid
from nmfviewer.gui.views.load_options import LoadOptionsDialog
from nmfviewer.gui.views.spectrum_view import PixelSpectrumView

N_BANDS, SHAPE = 30, (8, 10)


@pytest.fixture
def eds_cube(tmp_path):
    """A 30-band cube with energy_keV.csv beside it."""
    rng = np.random.default_rng(0)
    spectra = rng.random((N_BANDS, 3)) + 0.05
    maps = rng.random((3, SHAPE[0] * SHAPE[1]))
    cube = (spectra @ maps).reshape(N_BANDS, *SHAPE).astype(np.float32)
    folder = tmp_path / "eds"
    folder.mkdir()
    tifffile.imwrite(folder / "map.tif", cube)
    np.savetxt(folder / "energy_keV.csv", np.linspace(0.5, 15.0, N_BANDS))
    return folder / "map.tif"


def test_pixel_spectrum_view_shows_model_and_parts_and_reads_out_in_units(qtbot):
    view = PixelSpectrumView()
    qtbot.addWidget(view)
    axis = SpectralAxis(np.linspace(1.0, 10.0, 4), "energy", "keV")
    view.set_axis(axis.values, 4, axis.label, axis.unit)
    assert view.plot.getAxis("bottom").labelText == "energy (keV)"
    W = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0], [1.0, 1.0]])
    h = np.array([0.5, 2.0])
    view.set_pixel(7, 1, 2, np.array([0.4, 3.1, 6.2, 2.4]))
    view.set_factors(W, h)
    np.testing.assert_allclose(view.model(), W @ h)
    np.testing.assert_allclose(view.contributions().sum(axis=0), W @ h)
    assert view.contributions().shape == (2, 4)
    assert "row 1, column 2" in view.title.text()
    assert view.readout_text(view.band_at(6.9)) == "7 keV (band 2): measured 6.2 · model 6"
    view.set_mean(np.array([1.0, 2.0, 3.0, 4.0]))
    view.show_mean.setChecked(True)
    assert view.readout_text(0).endswith("mean 1")


def test_clicking_an_abundance_map_shows_that_pixels_spectrum(window, eds_cube, qtbot):
    with qtbot.waitSignal(window.session.collectionChanged, timeout=10_000) as loaded:
        window.open_paths([eds_cube])
    c = loaded.args[0]
    assert c.axis.label == "energy (keV)"
    assert "band axis: energy_keV.csv, 0.5–15 keV" in c.warnings
    window.params_panel.set_params(NMFParams(n_components=3, max_iter=30, seed=0))
    with qtbot.waitSignal(window.session.runFinished, timeout=20_000):
        assert window.start_run()
    window._redraw.flush()
    grid = window.basis
    # the centre of tile 1's pixel (row 3, column 4), through the grid's own mapping
    r = grid.tile_rect(1)
    view_point = QPointF(r.left() + 4.5 * (r.width() / SHAPE[1]), r.top() + 3.5)
    scene = grid._vb.mapViewToScene(view_point)
    assert grid.pixel_at(scene) == (1, 3, 4)
    with qtbot.waitSignal(grid.pixelClicked) as clicked:
        window.basis._on_click(_Click(scene))
    pixel = clicked.args[0]
    assert pixel == 3 * SHAPE[1] + 4
    view = window.spectrum_view
    assert view.pixel == pixel
    X = c.to_matrix()
    np.testing.assert_allclose(view._measured, X[:, pixel])
    W, H = window.session.latest.state.W, window.session.latest.state.H
    np.testing.assert_allclose(view.model(), W @ H[:, pixel], rtol=1e-5)
    assert view.plot.getAxis("bottom").labelText == "energy (keV)"
    np.testing.assert_allclose(view._mean, c.images.mean(axis=(1, 2)), rtol=1e-6)
    text = window.weights_view.readout_text(2)
    assert text.startswith("1.5 keV (band 2): weight")


def test_one_scale_draws_all_maps_on_the_same_levels_with_a_colour_bar(qtbot):
    grid = BasisGrid()
    qtbot.addWidget(grid)
    H = np.stack([np.linspace(0, 1, 20), np.linspace(0, 4, 20)])
    grid.set_basis(H, (4, 5))
    assert grid.shared_levels is None
    first = grid.montage().copy()
    grid.set_shared_scale(True)
    assert grid.shared_levels == (0.0, 4.0)
    assert grid._colorbar is not None
    shared = grid.montage()
    r = grid.tile_rect(0)
    y, x = int(r.top()) + 3, int(r.left()) + 4  # the brightest pixel of tile 0
    assert not np.array_equal(first[y, x], shared[y, x])  # 1 of 4: no longer the top colour
    grid.set_shared_scale(False)
    assert grid._colorbar is None
    np.testing.assert_array_equal(grid.montage(), first)


def test_load_options_dialog_edits_the_axis_file(qtbot, tmp_path):
    dialog = LoadOptionsDialog(LoadOptions(axis_file=str(tmp_path / "e.csv")))
    qtbot.addWidget(dialog)
    assert dialog.axis_file.text() == str(tmp_path / "e.csv")
    dialog.axis_file.setText("")
    assert dialog.options().axis_file is None
    dialog.axis_file.setText(str(tmp_path / "w.txt"))
    assert dialog.options().axis_file == str(tmp_path / "w.txt")


def test_a_bad_axis_file_is_a_dialog_naming_the_file_and_the_widget(window, eds_cube, qtbot):
    bad = eds_cube.parent / "mine.txt"
    bad.write_text("1\n2\n3\n")
    window.session.load_options = LoadOptions(axis_file=str(bad))
    with qtbot.waitSignal(window.session.loadFailed, timeout=10_000) as failed:
        window.open_paths([eds_cube])
    message = error_text(failed.args[0])
    assert "axis file mine.txt: it has 3 values but the collection has 30 bands" in message
    assert "Band axis file" in message


class _Click:
    """A left click at a scene position (what the grid reads of a mouse event)."""

    def __init__(self, scene_pos):
        self._pos = scene_pos

    def scenePos(self):
        return self._pos

    def button(self):
        from PySide6.QtCore import Qt

        return Qt.MouseButton.LeftButton


def test_colour_basis_tiles_are_drawn_in_colour_with_hues_kept(qtbot):
    grid = BasisGrid()
    qtbot.addWidget(grid)
    red = np.zeros((4, 5, 3))
    red[..., 0], red[..., 1] = 2.0, 1.0  # orange: r twice g
    blue = np.zeros((4, 5, 3))
    blue[..., 2] = 0.5
    blue[0, 0] = 0.0
    grid.set_basis(np.stack([red.ravel(), blue.ravel()]), (4, 5, 3))
    m = grid.montage()
    r0, r1 = grid.tile_rect(0), grid.tile_rect(1)
    np.testing.assert_array_equal(m[int(r0.top()) + 2, int(r0.left()) + 2], [255, 128, 0])
    np.testing.assert_array_equal(m[int(r1.top()) + 2, int(r1.left()) + 2], [0, 0, 255])


def test_colour_collection_in_the_window(window, tmp_path, qtbot):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (6, 7, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    window.session.load_options = LoadOptions(color="channels")
    with qtbot.waitSignal(window.session.collectionChanged, timeout=10_000) as loaded:
        window.open_paths([folder])
    assert loaded.args[0].channels == 3
    assert "R, G, B" in window.collection_panel.summary.text()
    window.params_panel.set_params(NMFParams(n_components=2, max_iter=20, seed=0))
    with qtbot.waitSignal(window.session.runFinished, timeout=20_000):
        assert window.start_run()
    window._redraw.flush()
    assert window.basis.montage().ndim == 3
    window.select_image(2)
    recon = window.recon_view._items["reconstruction"][1].image
    assert recon.shape == (6, 7, 3)
    saved = window.session.save_basis(1, tmp_path / "b.png")
    with Image.open(saved) as img:
        assert img.mode == "RGB" and img.size == (7, 6)
