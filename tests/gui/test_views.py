"""Views on their own, fed with synthetic arrays."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from nmfviewer.core.collection import Collection
from nmfviewer.core.params import LoadOptions, NMFParams
from nmfviewer.gui.views.basis_view import BasisGrid
from nmfviewer.gui.views.collection_view import CollectionPanel
from nmfviewer.gui.views.common import grid_columns, lookup_table
from nmfviewer.gui.views.load_options import LoadOptionsDialog
from nmfviewer.gui.views.loss_view import LossView
from nmfviewer.gui.views.params_panel import ParamsPanel
from nmfviewer.gui.views.weights_view import WeightsView


@pytest.fixture
def basis(qtbot):
    grid = BasisGrid()
    qtbot.addWidget(grid)
    grid.resize(500, 400)
    grid.show()
    qtbot.waitExposed(grid)
    return grid


def tiles_of(grid, k, shape):
    """Cut the montage back into (k, h, w, 3) tiles."""
    m = grid.montage()
    out = []
    for j in range(k):
        r = grid.tile_rect(j)
        x, y = int(r.x()), int(r.y())
        out.append(m[y : y + shape[0], x : x + shape[1]])
    return np.array(out)


def test_basis_tiles_keep_their_order_and_own_contrast(basis):
    rng = np.random.default_rng(0)
    H = rng.random((6, 12 * 10)).astype(np.float32)
    H[2] *= 1000  # a much brighter component still uses the full colour range
    basis.set_basis(H, (12, 10))
    basis.set_colormap("gray")
    tiles = tiles_of(basis, 6, (12, 10))
    for j in range(6):
        gray = tiles[j][..., 0].astype(int)
        assert gray.min() == 0 and gray.max() == 255
        expected = np.argsort(H[j])  # same pixel order as the component
        assert np.all(np.diff(gray.ravel()[expected]) >= 0)
    # next update: tile j is still component j
    basis.set_basis(H[::-1].copy(), (12, 10))
    flipped = tiles_of(basis, 6, (12, 10))
    np.testing.assert_array_equal(flipped[0], tiles[5])


def test_colormaps_gray_and_perceptual(basis):
    H = np.linspace(0, 1, 2 * 64, dtype=np.float32).reshape(2, 64)
    basis.set_basis(H, (8, 8))
    basis.set_colormap("gray")
    gray = basis.montage().copy()
    basis.set_colormap("viridis")
    viridis = basis.montage()
    assert not np.array_equal(gray, viridis)
    brightest = tiles_of(basis, 1, (8, 8))[0][-1, -1]
    np.testing.assert_array_equal(lookup_table("viridis")[255], brightest)


# pyqtgraph's scene takes the click through its own signal and leaves the
# QMouseEvent unaccepted, which Qt reports for synthesised events
@pytest.mark.qt_log_ignore("Mouse event .* not accepted by receiving widget")
def test_clicking_a_tile_selects_its_component(basis, qtbot):
    H = np.random.default_rng(1).random((5, 64)).astype(np.float32)
    basis.set_basis(H, (8, 8))
    centre = basis.tile_rect(3).center()
    scene = basis._vb.mapViewToScene(centre)
    widget_pos = basis.mapFromScene(scene)
    with qtbot.waitSignal(basis.componentClicked, timeout=2000) as clicked:
        qtbot.mouseClick(basis.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos)
    assert clicked.args == [3]
    qtbot.mouseMove(
        basis.viewport(),
        pos=basis.mapFromScene(basis._vb.mapViewToScene(basis.tile_rect(1).center())),
    )
    qtbot.waitUntil(lambda: basis._hovered == 1, timeout=2000)  # hover names the tile
    assert basis.component_at(scene) == 3
    assert basis.component_at(basis._vb.mapViewToScene(QPointF(-5, -5))) is None


def test_grid_columns_fill_the_area():
    assert grid_columns(16, (25, 25), (400, 400)) == 4
    assert grid_columns(16, (25, 25), (1600, 100)) == 16
    assert grid_columns(1, (10, 10), (50, 50)) == 1


def test_thumbnails_are_rendered_lazily_for_thousands(qtbot):
    images = np.random.default_rng(2).random((3000, 8, 8)).astype(np.float32)
    collection = Collection.from_array(images)
    panel = CollectionPanel()
    qtbot.addWidget(panel)
    panel.resize(300, 400)
    panel.show()
    panel.set_collection(collection)
    qtbot.waitExposed(panel)
    qtbot.wait(50)
    assert panel.model.rowCount() == 3000
    assert 0 < panel.model.rendered < 500  # only what is on screen
    assert "3,000" in panel.summary.text()


def test_weights_view_uses_the_spectral_axis(qtbot):
    view = WeightsView()
    qtbot.addWidget(view)
    wavelengths = np.linspace(400, 700, 30)
    view.set_axis(wavelengths, "wavelength (nm)", tuple(f"band {i}" for i in range(30)))
    W = np.random.default_rng(3).random((30, 4))
    view.set_weights(W)
    view.set_selected_component(2)
    view.set_selected_image(5)
    x, y = view._curves[0].getData()
    np.testing.assert_allclose(x, wavelengths)
    np.testing.assert_allclose(y, W[:, 2])
    assert view.line_plot.getAxis("bottom").labelText == "wavelength (nm)"
    assert "Spectrum of component 2" in view.line_plot.getPlotItem().titleLabel.text
    assert view._marker.value() == pytest.approx(wavelengths[5])


def test_loss_view_survives_zero_and_shows_speed(qtbot):
    view = LossView()
    qtbot.addWidget(view)
    view.set_progress(np.array([10.0, 1.0, 0.0]), 2, 10, 0.5, None, False, 0.0)
    assert "4.00" in view.speed_label.text()
    view.set_progress(np.array([10.0, 1.0, 0.5]), 2, 10, 0.5, "converged", False, 0.5)
    assert "converged" in view.status_label.text()


def test_loss_view_draws_only_evaluated_losses(qtbot):
    # KL / IS: the loss is evaluated every 10th iteration, nan in between
    view = LossView()
    qtbot.addWidget(view)
    h = np.full(24, np.nan)
    h[[0, 10, 20, 23]] = [100.0, 10.0, 5.0, 4.9]
    view.set_progress(h, 23, 30, 1.0, None, False, None)
    np.testing.assert_array_equal(view._curve.xData, [0, 10, 20, 23])
    np.testing.assert_array_equal(view._curve.yData, [100.0, 10.0, 5.0, 4.9])
    assert view.status_label.text() == "running · loss 4.9"  # the latest evaluated one
    view.show()
    qtbot.waitExposed(view)
    view.plot.getViewBox().updateAutoRange()
    (_, _), (y0, y1) = view.plot.viewRange()  # log10 of the drawn losses
    assert np.isfinite([y0, y1]).all() and y0 < np.log10(4.9) and y1 > np.log10(100.0)
    h = h[:15]  # between two evaluations
    view.set_progress(h, 14, 30, 1.0, None, True, None)
    np.testing.assert_array_equal(view._curve.xData, [0, 10])
    assert view.status_label.text() == "paused · loss 10"


def test_params_panel_validates_as_you_type(qtbot):
    panel = ParamsPanel()
    qtbot.addWidget(panel)
    panel.set_data_shape(20, 256)
    panel.set_params(NMFParams(n_components=4))
    assert panel.is_valid and panel.params().n_components == 4
    panel.l1_ratio.setText("2")
    assert not panel.is_valid and "l1_ratio" in panel.error_text
    assert not panel.run_button.isEnabled()
    panel.l1_ratio.setText("0.5")
    panel.seed.setText("")
    assert panel.is_valid and panel.params().seed is None
    panel.loss.setCurrentIndex(panel.loss.findData("is"))
    assert panel.params().solver == "mu" and panel.params().loss == "is"
    panel.alpha_H.setText("0.25")
    assert panel.params().alpha_H == 0.25


def test_load_options_dialog_round_trip(qtbot):
    options = LoadOptions(size_policy="refuse", normalize="max", recursive=True)
    dialog = LoadOptionsDialog(options)
    qtbot.addWidget(dialog)
    assert dialog.options() == options
    dialog.boxes["negative"].setCurrentIndex(dialog.boxes["negative"].findData("clip"))
    assert dialog.options().negative == "clip"
    assert dialog.options().max_memory_bytes is None  # automatic
    dialog.max_memory.setValue(2.0)
    assert dialog.options().max_memory_bytes == 2 * 1024**3
    dialog.max_memory.setValue(0.0)
    assert dialog.options().max_memory_bytes is None


def test_weights_can_be_shown_times_the_basis_max(qtbot):
    view = WeightsView()
    qtbot.addWidget(view)
    view.set_axis(None, "image", ("a", "b"))
    W = np.array([[1.0, 100.0], [2.0, 3.0]])
    view.set_weights(W, basis_max=np.array([10.0, 0.01]))
    assert view.scaled.isChecked()  # the default: contributions are comparable
    np.testing.assert_allclose(view._bars.opts["height"], [10.0, 1.0])
    assert view.bars_plot.getAxis("left").labelText == "weight × basis max"
    view.scaled.setChecked(False)
    np.testing.assert_allclose(view._bars.opts["height"], [1.0, 100.0])
