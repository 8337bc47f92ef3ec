"""Line charts as PNG files with Pillow only (no matplotlib, no Qt).

``render_png`` draws one or more stacked panels (shared width) with nice axis
ticks (linear or log), axis labels, a legend, labelled vertical marks and
optional error bars, and writes the PNG atomically. Everything is drawn at
twice the final size and downsampled with a Lanczos filter, which gives
anti-aliased lines and text without any other library.

Fonts: DejaVu Sans from the system or from matplotlib's data folder when one
is installed (found by path, matplotlib is never imported), otherwise Pillow's
built-in scalable default font.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PALETTE", "Panel", "Series", "nice_ticks", "plot_png_bytes", "render_png"]

#: default series colours (Tableau 10), also used to number the basis montage
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)

_SS = 2  # supersampling factor
_INK = (40, 40, 40)
_GRID = (228, 228, 228)
_FRAME = (110, 110, 110)
_MARK = (120, 120, 120)
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
)


@dataclass(frozen=True)
class Series:
    """One line: ``y`` against ``x`` (both (n,)); nan values break the line.

    color: an RGB tuple, or None for the next palette colour. markers: draw a
    dot at every point. yerr: (n,) half-widths of error bars, or None.
    """

    x: Any
    y: Any
    label: str = ""
    color: tuple[int, int, int] | None = None
    markers: bool = False
    yerr: Any = None


@dataclass(frozen=True)
class Panel:
    """One chart: its series, axis labels, log or linear y and labelled vertical marks."""

    series: Sequence[Series]
    x_label: str = ""
    y_label: str = ""
    log_y: bool = False
    marks: Sequence[tuple[float, str]] = field(default_factory=tuple)


# --------------------------------------------------------------------------- fonts
@functools.lru_cache(maxsize=1)
def _font_path() -> str | None:
    candidates = list(_FONT_CANDIDATES)
    try:
        import importlib.util

        spec = importlib.util.find_spec("matplotlib")  # locates, does not import
        if spec is not None and spec.origin:
            base = os.path.dirname(spec.origin)
            candidates.append(os.path.join(base, "mpl-data", "fonts", "ttf", "DejaVuSans.ttf"))
    except (ImportError, ValueError):
        pass
    return next((p for p in candidates if os.path.isfile(p)), None)


@functools.lru_cache(maxsize=16)
def _font(size: int) -> Any:
    from PIL import ImageFont

    path = _font_path()
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    return ImageFont.load_default(size=size)


def _unicode_ok() -> bool:
    return _font_path() is not None


# --------------------------------------------------------------------------- ticks
def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    for f in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= f * mag * (1 + 1e-9):
            return f * mag
    return 10.0 * mag


def nice_ticks(lo: float, hi: float, *, log: bool = False, target: int = 5) -> list[float]:
    """Round tick values inside [lo, hi] (1, 2, 2.5, 5 x 10^n steps; decades on log)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    if log:
        a, b = math.log10(lo), math.log10(hi)
        first, last = math.ceil(a - 1e-9), math.floor(b + 1e-9)
        if last - first >= 2:  # three decades or more: decades only
            every = max(1, math.ceil((last - first + 1) / (target + 2)))
            return [10.0**e for e in range(first, last + 1) if (e - first) % every == 0]
        ticks: list[float] = []  # under three decades: 1, 2, 5 x 10^n
        for e in range(math.floor(a), math.ceil(b) + 1):
            for m in (1, 2, 5):
                v = m * 10.0**e
                if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                    ticks.append(v)
        return ticks if len(ticks) >= 3 else nice_ticks(lo, hi, target=5)
    step = _nice_step(hi - lo, target)
    start = math.ceil(lo / step - 1e-9)
    out = []
    i = start
    while i * step <= hi + step * 1e-9:
        out.append(0.0 if abs(i * step) < step * 1e-9 else i * step)
        i += 1
    return out


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _tick_label(v: float, ticks: Sequence[float], log: bool) -> str:
    if v == 0:
        return "0"
    big = max(abs(t) for t in ticks)
    if log:
        e = math.log10(abs(v))
        if abs(e - round(e)) < 1e-9 and (big >= 1e4 or min(abs(t) for t in ticks) < 1e-3):
            if _unicode_ok():
                return "10" + str(round(e)).translate(_SUP)
            return f"1e{round(e)}"
        if 1e-3 <= abs(v) < 1e5:
            return f"{v:g}"
        return f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")
    if big >= 1e5 or big < 1e-3:
        text = f"{v:.2e}".replace("e+0", "e").replace("e-0", "e-")
        mant, exp = text.split("e")
        mant = mant.rstrip("0").rstrip(".")
        return f"{mant}e{exp}"
    step = min((abs(b - a) for a, b in itertools.pairwise(ticks)), default=abs(v)) or abs(v)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if step * 10**decimals % 1 > 1e-6:  # 2.5-steps need one more
        decimals += 1
    text = f"{v:.{decimals}f}"
    return "−" + text[1:] if text.startswith("-") and _unicode_ok() else text


# --------------------------------------------------------------------------- drawing
def _as_xy(s: Series, log_y: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x = np.asarray(s.x, dtype=np.float64).ravel()
    y = np.asarray(s.y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"series {s.label!r}: x has {x.size} values, y has {y.size}")
    e = None if s.yerr is None else np.asarray(s.yerr, dtype=np.float64).ravel()
    if e is not None and e.shape != y.shape:
        raise ValueError(f"series {s.label!r}: yerr has {e.size} values, y has {y.size}")
    y = np.where(np.isfinite(x) & np.isfinite(y), y, np.nan)
    if log_y:
        y = np.where(y > 0, y, np.nan)
    return x, y, e


_XYE = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _limits(panel: Panel, data: list[_XYE]) -> tuple[float, float, float, float]:
    xs = [x[np.isfinite(y)] for x, y, _ in data] + [
        np.array([m for m, _ in panel.marks], dtype=float)
    ]
    ys = []
    for _, y, e in data:
        ok = np.isfinite(y)
        ys.append(y[ok])
        if e is not None:
            ee = np.where(np.isfinite(e[ok]), e[ok], 0.0)
            ys.append(y[ok] + ee)
            ys.append(y[ok] - ee if not panel.log_y else np.maximum(y[ok] - ee, y[ok] * 0.5))
    xv = np.concatenate(xs) if xs else np.empty(0)
    yv = np.concatenate(ys) if ys else np.empty(0)
    xv, yv = xv[np.isfinite(xv)], yv[np.isfinite(yv)]
    if panel.log_y:
        yv = yv[yv > 0]
    x0, x1 = (float(xv.min()), float(xv.max())) if xv.size else (0.0, 1.0)
    if any(s.markers for s in panel.series) or x1 == x0:
        pad = (x1 - x0) * 0.04 or max(abs(x0) * 0.1, 0.5)
        x0, x1 = x0 - pad, x1 + pad
    if panel.log_y:
        y0, y1 = (float(yv.min()), float(yv.max())) if yv.size else (0.1, 10.0)
        if y1 <= y0:
            y0, y1 = y0 / 2, y1 * 2
        r = math.log10(y1 / y0) * 0.05
        return x0, x1, y0 / 10**r, y1 * 10**r
    y0, y1 = (float(yv.min()), float(yv.max())) if yv.size else (0.0, 1.0)
    if y1 <= y0:
        y0, y1 = y0 - (abs(y0) * 0.1 or 1.0), y1 + (abs(y1) * 0.1 or 1.0)
    pad = (y1 - y0) * 0.05
    lo = y0 - pad if y0 - pad < 0 or y0 > (y1 - y0) * 0.5 else 0.0  # start at 0 when near it
    return x0, x1, (0.0 if y0 >= 0 and lo < 0 else lo), y1 + pad


def _text_size(draw: Any, text: str, font: Any) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return int(right - left), int(bottom - top)


def _polyline_segments(px: np.ndarray, py: np.ndarray) -> list[list[tuple[float, float]]]:
    ok = np.isfinite(px) & np.isfinite(py)
    segs: list[list[tuple[float, float]]] = []
    cur: list[tuple[float, float]] = []
    for a, b, good in zip(px.tolist(), py.tolist(), ok.tolist(), strict=True):
        if good:
            cur.append((a, b))
        elif cur:
            segs.append(cur)
            cur = []
    if cur:
        segs.append(cur)
    return segs


def _draw_panel(img: Any, box: tuple[int, int, int, int], panel: Panel) -> None:
    from PIL import Image, ImageDraw

    draw = ImageDraw.Draw(img)
    s = _SS
    small, label_font = _font(11 * s), _font(12 * s)
    data = [_as_xy(ser, panel.log_y) for ser in panel.series]
    x0, x1, y0, y1 = _limits(panel, data)
    xt = [t for t in nice_ticks(x0, x1, target=7) if x0 <= t <= x1]
    yt = [t for t in nice_ticks(y0, y1, log=panel.log_y, target=5) if y0 <= t <= y1]
    ylabels = [_tick_label(t, yt, panel.log_y) for t in yt]
    xlabels = [_tick_label(t, xt, False) for t in xt]
    ylab_w = max((_text_size(draw, t, small)[0] for t in ylabels), default=0)
    th = _text_size(draw, "0123456789", small)[1]
    left = box[0] + ylab_w + 12 * s + (22 * s if panel.y_label else 0)
    right = box[2] - 16 * s
    top = box[1] + 10 * s
    bottom = box[3] - th - 14 * s - (22 * s if panel.x_label else 0)

    def fx(v: np.ndarray | float) -> Any:
        return left + (np.asarray(v) - x0) * ((right - left) / (x1 - x0))

    def fy(v: np.ndarray | float) -> Any:
        v = np.asarray(v, dtype=np.float64)
        if panel.log_y:
            lv = np.log10(np.where(v > 0, v, np.nan))
            return bottom - (lv - math.log10(y0)) * ((bottom - top) / math.log10(y1 / y0))
        return bottom - (v - y0) * ((bottom - top) / (y1 - y0))

    for t, text in zip(yt, ylabels, strict=True):
        py = float(fy(t))
        draw.line([(left, py), (right, py)], fill=_GRID, width=s)
        w, h = _text_size(draw, text, small)
        draw.text((left - 6 * s - w, py), text, fill=_INK, font=small, anchor="lm")
        draw.line([(left - 4 * s, py), (left, py)], fill=_FRAME, width=s)
    for t, text in zip(xt, xlabels, strict=True):
        px = float(fx(t))
        draw.line([(px, top), (px, bottom)], fill=_GRID, width=s)
        draw.line([(px, bottom), (px, bottom + 4 * s)], fill=_FRAME, width=s)
        draw.text((px, bottom + 6 * s), text, fill=_INK, font=small, anchor="ma")
    for mx, mtext in panel.marks:
        px = float(fx(mx))
        for yy in range(top, bottom, 8 * s):
            draw.line([(px, yy), (px, min(yy + 4 * s, bottom))], fill=_MARK, width=s)
        if mtext:
            w, _ = _text_size(draw, mtext, small)
            tx = px + 4 * s if px + 4 * s + w < right else px - 4 * s - w
            draw.text((tx, top + 2 * s), mtext, fill=_MARK, font=small)
    # series, clipped to the plot rectangle by drawing on a layer
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    ld = ImageDraw.Draw(layer)
    colors = []
    for i, ((x, y, e), ser) in enumerate(zip(data, panel.series, strict=True)):
        color = tuple(ser.color) if ser.color is not None else PALETTE[i % len(PALETTE)]
        colors.append(color)
        px, py = fx(x), fy(y)
        if e is not None:
            lo_y = fy(np.where(y - e > 0, y - e, y * 0.5) if panel.log_y else y - e)
            hi_y = fy(y + e)
            for a, b, c in zip(px.tolist(), lo_y.tolist(), hi_y.tolist(), strict=True):
                if math.isfinite(a) and math.isfinite(b) and math.isfinite(c):
                    ld.line([(a, b), (a, c)], fill=color, width=s)
                    ld.line([(a - 3 * s, b), (a + 3 * s, b)], fill=color, width=s)
                    ld.line([(a - 3 * s, c), (a + 3 * s, c)], fill=color, width=s)
        for seg in _polyline_segments(px, py):
            if len(seg) > 1:
                # round joints look best but cost a disc per vertex: only for short lines
                ld.line(seg, fill=color, width=2 * s, joint="curve" if len(seg) < 400 else None)
            elif not ser.markers:
                ld.ellipse([seg[0][0] - s, seg[0][1] - s, seg[0][0] + s, seg[0][1] + s], color)
        if ser.markers:
            r = 3.5 * s
            for a, b in zip(px.tolist(), py.tolist(), strict=True):
                if math.isfinite(a) and math.isfinite(b):
                    ld.ellipse([a - r, b - r, a + r, b + r], fill=color, outline=(255, 255, 255))
    clip = Image.new("L", img.size, 0)
    ImageDraw.Draw(clip).rectangle([left, top, right, bottom], fill=255)
    img.paste(layer, (0, 0), Image.composite(layer.getchannel("A"), clip, clip))
    draw = ImageDraw.Draw(img)
    draw.rectangle([left, top, right, bottom], outline=_FRAME, width=s)
    if panel.x_label:
        draw.text(((left + right) / 2, box[3] - 4 * s), panel.x_label, _INK, label_font, "md")
    if panel.y_label:
        w, h = _text_size(draw, panel.y_label, label_font)
        tmp = Image.new("RGBA", (w + 4 * s, h + 8 * s), (255, 255, 255, 0))
        ImageDraw.Draw(tmp).text((2 * s, 2 * s), panel.y_label, fill=_INK, font=label_font)
        rot = tmp.rotate(90, expand=True)
        img.paste(rot, (box[0] + 2 * s, int((top + bottom) / 2 - rot.size[1] / 2)), rot)
    _draw_legend(img, panel, data, colors, (left, top, right, bottom), fx, fy)


def _draw_legend(
    img: Any,
    panel: Panel,
    data: list[_XYE],
    colors: list[tuple[int, ...]],
    rect: tuple[float, float, float, float],
    fx: Callable[[Any], Any],
    fy: Callable[[Any], Any],
) -> None:
    from PIL import ImageDraw

    entries = [(ser.label, c) for ser, c in zip(panel.series, colors, strict=True) if ser.label]
    if not entries:
        return
    s = _SS
    draw = ImageDraw.Draw(img, "RGBA")
    font = _font(11 * s)
    line_h = _text_size(draw, "Ag", font)[1] + 6 * s
    widths = [_text_size(draw, t, font)[0] for t, _ in entries]
    left, top, right, bottom = rect
    per_col = max(1, int((bottom - top - 16 * s) // line_h))
    n_cols = math.ceil(len(entries) / per_col)
    rows = math.ceil(len(entries) / n_cols)
    col_w = max(widths) + 30 * s
    w, h = n_cols * col_w + 8 * s, rows * line_h + 8 * s
    pts = [(fx(x), fy(y)) for x, y, _ in data]
    corners = [
        (right - w - 8 * s, top + 8 * s),
        (left + 8 * s, top + 8 * s),
        (right - w - 8 * s, bottom - h - 8 * s),
        (left + 8 * s, bottom - h - 8 * s),
    ]

    def covered(c: tuple[float, float]) -> int:  # like matplotlib's loc='best'
        n = 0
        for px, py in pts:
            inside = (px >= c[0]) & (px <= c[0] + w) & (py >= c[1]) & (py <= c[1] + h)
            n += int(np.count_nonzero(inside))
        return n

    bx, by = min(corners, key=covered)
    draw.rounded_rectangle([bx, by, bx + w, by + h], 4 * s, (255, 255, 255, 215), _GRID, s)
    for i, (text, color) in enumerate(entries):
        cx = bx + 6 * s + (i // rows) * col_w
        cy = by + 4 * s + (i % rows) * line_h + line_h / 2
        draw.line([(cx, cy), (cx + 18 * s, cy)], fill=color, width=3 * s)
        draw.text((cx + 24 * s, cy), text, fill=_INK, font=font, anchor="lm")


def plot_png_bytes(
    panels: Sequence[Panel], *, title: str = "", width: int = 900, panel_height: int = 320
) -> bytes:
    """PNG bytes of the panels stacked vertically (see :func:`render_png`)."""
    from PIL import Image, ImageDraw

    if not panels:
        raise ValueError("render_png needs at least one panel")
    if width < 200 or panel_height < 120:
        raise ValueError(f"plot too small: width={width}, panel_height={panel_height}")
    s = _SS
    title_h = 34 if title else 8
    total = title_h + panel_height * len(panels) + 6
    img = Image.new("RGB", (width * s, total * s), (255, 255, 255))
    if title:
        draw = ImageDraw.Draw(img)
        draw.text((width * s / 2, 10 * s), title, fill=_INK, font=_font(14 * s), anchor="ma")
    for i, panel in enumerate(panels):
        y = (title_h + i * panel_height) * s
        _draw_panel(img, (6 * s, y, width * s, y + panel_height * s), panel)
    img = img.resize((width, total), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)  # optimize=True: 2x slower, 5% smaller
    return buf.getvalue()


def render_png(
    panels: Sequence[Panel],
    path: str | os.PathLike,
    *,
    title: str = "",
    width: int = 900,
    panel_height: int = 320,
) -> Path:
    """Draw the panels stacked vertically and write them as a PNG, atomically.

    Parameters
    ----------
    panels : the charts, top to bottom; each shares ``width`` and has ``panel_height``.
    path : the PNG's path (its folder must exist).
    title : drawn centred above the first panel.
    width, panel_height : pixels.

    Returns the path. The file appears complete or not at all (temporary file
    in the same folder, fsync, rename); errors writing it raise ExportError.
    """
    from .export import atomic_write_bytes

    data = plot_png_bytes(panels, title=title, width=width, panel_height=panel_height)
    path = Path(path)
    atomic_write_bytes(path, data)
    return path
