"""core.plots: PNG line charts with Pillow (size, ink, log scale, ticks, atomic write)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from nmfviewer.core.errors import ExportError
from nmfviewer.core.plots import PALETTE, Panel, Series, nice_ticks, plot_png_bytes, render_png


def _pixels_of(path, color, tol=40):
    """(rows, cols) of pixels within ``tol`` of ``color``."""
    a = np.asarray(Image.open(path).convert("RGB")).astype(int)
    near = np.abs(a - np.array(color)).sum(axis=2) <= tol
    return np.nonzero(near)


def test_render_png_has_the_requested_size_and_draws_each_series(tmp_path):
    x = np.linspace(0.0, 10.0, 200)
    panels = [
        Panel([Series(x, np.sin(x) + 1, "a"), Series(x, np.cos(x) + 1, "b")], "x (nm)", "y"),
        Panel([Series(x, np.exp(-x) + 1e-3, "loss")], "iteration", "loss", log_y=True),
    ]
    out = render_png(panels, tmp_path / "p.png", title="two panels", width=640, panel_height=240)
    assert out == tmp_path / "p.png"
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size[0] == 640
        assert img.size[1] >= 2 * 240
    for color in PALETTE[:2]:
        rows, _ = _pixels_of(out, color)
        assert rows.size > 200, f"series in {color} not drawn"
    assert not list(tmp_path.glob(".*.tmp"))


def test_log_scale_draws_an_exponential_as_a_straight_line(tmp_path):
    x = np.linspace(0.0, 4.0, 400)
    red = (214, 39, 40)
    panel = Panel([Series(x, 10.0**x, color=red)], log_y=True)
    path = render_png([panel], tmp_path / "log.png", width=500, panel_height=300)
    rows, cols = _pixels_of(path, red, tol=30)
    assert rows.size > 100
    fit = np.polyfit(cols, rows, 1)
    residual = np.abs(np.polyval(fit, cols) - rows)
    assert np.percentile(residual, 95) < 3.0  # straight on a log axis
    # ... and visibly curved on a linear one
    path = render_png([Panel([Series(x, 10.0**x, color=red)])], tmp_path / "lin.png", width=500)
    rows, cols = _pixels_of(path, red, tol=30)
    residual = np.abs(np.polyval(np.polyfit(cols, rows, 1), cols) - rows)
    assert np.percentile(residual, 95) > 20.0


def test_log_scale_skips_zero_and_negative_values_and_nan_breaks_lines(tmp_path):
    y = np.array([1.0, 0.0, -1.0, 10.0, np.nan, 100.0, 1000.0])
    data = plot_png_bytes([Panel([Series(np.arange(7), y, "x", markers=True)], log_y=True)])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_markers_error_bars_and_marks_are_drawn(tmp_path):
    k = np.arange(2, 9)
    err = np.full(k.shape, 0.05)
    series = [Series(k, 1 / k, "test error", markers=True, yerr=err)]
    marked = render_png([Panel(series, "k", "error", marks=[(5.0, "k = 5")])], tmp_path / "m.png")
    plain = render_png([Panel(series, "k", "error")], tmp_path / "plain.png")
    a = np.asarray(Image.open(marked).convert("L")).astype(int)
    b = np.asarray(Image.open(plain).convert("L")).astype(int)
    rows, cols = np.nonzero(np.abs(a - b) > 30)
    assert rows.size > 50
    # the mark is a vertical line: most differing pixels share a few columns
    column = np.bincount(cols).argmax()
    assert np.count_nonzero(np.abs(cols - column) <= 1) > 0.5 * rows.size
    assert rows.max() - rows.min() > 200  # spans the panel's height
    # error bars: more ink than the same series without them
    no_err = render_png([Panel([Series(k, 1 / k, markers=True)])], tmp_path / "n.png")
    with_err = render_png([Panel([Series(k, 1 / k, markers=True, yerr=err)])], tmp_path / "e.png")
    assert _pixels_of(with_err, PALETTE[0])[0].size > _pixels_of(no_err, PALETTE[0])[0].size + 50


@pytest.mark.parametrize(
    ("lo", "hi", "log", "expected"),
    [
        (0.0, 1.0, False, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.01, 20.5, False, [5.0, 10.0, 15.0, 20.0]),
        (-3.0, 7.0, False, [-2.0, 0.0, 2.0, 4.0, 6.0]),
        (1e-6, 1.0, True, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]),
        (1.3, 110.0, True, [2.0, 5.0, 10.0, 20.0, 50.0, 100.0]),
    ],
)
def test_nice_ticks(lo, hi, log, expected):
    assert nice_ticks(lo, hi, log=log) == pytest.approx(expected)


def test_nice_ticks_within_one_decade_on_a_log_axis_still_gives_several():
    ticks = nice_ticks(2.1, 2.9, log=True)
    assert len(ticks) >= 3 and all(2.1 <= t <= 2.9 for t in ticks)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "loss.png"
    path.write_bytes(b"old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(ExportError, match="disk is full"):
        render_png([Panel([Series([0, 1], [1, 2])])], path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]


def test_bad_series_and_sizes_are_refused():
    with pytest.raises(ValueError, match="x has 3 values, y has 2"):
        plot_png_bytes([Panel([Series([0, 1, 2], [1, 2])])])
    with pytest.raises(ValueError, match="at least one panel"):
        plot_png_bytes([])
    with pytest.raises(ValueError, match="too small"):
        plot_png_bytes([Panel([Series([0, 1], [1, 2])])], width=50)


def test_empty_and_constant_series_still_render():
    assert plot_png_bytes([Panel([])])[:4] == b"\x89PNG"
    assert plot_png_bytes([Panel([Series([1, 2, 3], [5, 5, 5], "flat")])])[:4] == b"\x89PNG"
    assert plot_png_bytes([Panel([Series([0.0], [0.0])], log_y=True)])[:4] == b"\x89PNG"
