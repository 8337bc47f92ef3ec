"""Basis images as pictures: full-range scaling and the labelled montage.

No system fonts are needed: digit labels use a tiny 5x7 bitmap font embedded
here (scaled up with nearest-neighbour, so they stay crisp); any other
character falls back to Pillow's built-in default font.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# 5x7 glyphs, '#' = ink. Digits plus the few characters labels commonly use.
_GLYPHS_5x7 = {
    "0": (" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "),
    "1": ("  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    "2": (" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"),
    "3": ("#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "),
    "4": ("   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "),
    "5": ("#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "),
    "6": ("  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "),
    "7": ("#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "),
    "8": (" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "),
    "9": (" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "),
    " ": ("     ",) * 7,
    "-": ("     ", "     ", "     ", "#####", "     ", "     ", "     "),
    ".": ("     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "),
    ":": ("     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "),
}
_GLYPH_H, _GLYPH_W = 7, 5

#: grey level of the separator lines and of the label band / label ink (uint8)
SEPARATOR_VALUE = 128
LABEL_BACKGROUND = 0
LABEL_INK = 255


def scale_to_range(image: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Map an image's [min, max] linearly onto the full unsigned range.

    image: (h, w) any real dtype. Returns uint8 (bit_depth 8) or uint16 (16).
    A constant image cannot be stretched: it becomes all zeros when its value
    is <= 0 and all full-scale otherwise (never a division by zero). Non-finite
    values count as 0.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth={bit_depth!r}: use 8 or 16")
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    top = float(np.iinfo(dtype).max)
    a = np.asarray(image, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        a = np.where(np.isfinite(a), a, 0.0)
    if a.size == 0:
        return np.zeros(a.shape, dtype=dtype)
    lo, hi = float(a.min()), float(a.max())
    if not hi > lo:
        return np.full(a.shape, top if hi > 0 else 0, dtype=dtype)
    scaled = (a - lo) * (top / (hi - lo))
    return np.clip(np.rint(scaled), 0, top).astype(dtype)


def _pil_text_mask(text: str) -> np.ndarray:
    """Text rendered with Pillow's built-in font (no system font), as a bool mask."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (max(1, int(right - left)), max(1, int(bottom - top))), 0)
    ImageDraw.Draw(img).text((-left, -top), text, fill=255, font=font)
    return np.asarray(img) >= 128


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """(7*scale, 6*len*scale - scale) bool mask of ``text``, nearest-neighbour scaled.

    Digits, space, '-', '.', ':' use the embedded 5x7 font; anything else
    falls back to Pillow's default font (not exactly 7 px high).
    """
    scale = max(1, int(scale))
    if text and all(ch in _GLYPHS_5x7 for ch in text):
        cols = []
        for i, ch in enumerate(text):
            if i:
                cols.append(np.zeros((_GLYPH_H, 1), dtype=bool))  # 1 px letter spacing
            cols.append(np.array([[c == "#" for c in row] for row in _GLYPHS_5x7[ch]]))
        mask = np.hstack(cols)
    elif text:
        mask = _pil_text_mask(text)
    else:
        mask = np.zeros((_GLYPH_H, 1), dtype=bool)
    return np.kron(mask, np.ones((scale, scale), dtype=bool)).astype(bool)


def grid_shape(k: int) -> tuple[int, int]:
    """(rows, cols) of a near-square grid for k tiles, wider than tall."""
    cols = max(1, math.ceil(math.sqrt(k)))
    rows = max(1, math.ceil(k / cols))
    return rows, cols


def tile_scale(image_shape: tuple[int, int], min_tile: int = 96) -> int:
    """Integer nearest-neighbour upscale so the longer tile side is >= min_tile px."""
    longest = max(1, max(image_shape))
    return max(1, math.ceil(min_tile / longest))


def tile_step(image_shape: tuple[int, int], max_tile: int = 512) -> int:
    """Integer subsampling step so the longer tile side is <= max_tile px."""
    longest = max(1, max(image_shape))
    return max(1, math.ceil(longest / max_tile))


def make_montage(
    H: np.ndarray,
    image_shape: tuple[int, ...],
    labels: Sequence[str] | None = None,
    *,
    min_tile: int = 96,
    max_tile: int = 512,
    separator: int = 2,
    label_colors: Sequence[tuple[int, int, int]] | None = None,
) -> np.ndarray:
    """All basis images in one labelled grid, as a uint8 grayscale picture.

    H: (k, h*w) basis, one row per basis image; image_shape: (h, w).
    labels: one string per basis image; default "0", "1", ...
    Each tile is scaled to the full 8-bit range on its own, upscaled by an
    integer factor (nearest-neighbour) to at least ``min_tile`` px (images
    larger than ``max_tile`` px are subsampled by an integer step: the montage
    is an overview, the basis PNGs keep full resolution), and has a
    black label band above it with the label in white. Tiles are separated by
    ``separator``-px grey lines (also around the border).
    Returns (rows_px, cols_px) uint8.

    Colour: with image_shape (h, w, 3) (H rows of h*w*3 values, a colour
    collection) each tile's three channels are scaled together, so hues stay
    right; with ``label_colors`` (one RGB per basis image) each label band is
    drawn in its colour (matching the lines of spectra.png). Either gives an
    (rows_px, cols_px, 3) uint8 picture.
    """
    H = np.asarray(H)
    h, w = (int(s) for s in image_shape[:2])
    channels = int(image_shape[2]) if len(image_shape) > 2 else 1
    if H.ndim != 2 or H.shape[1] != h * w * channels:
        raise ValueError(
            f"H has shape {H.shape}; expected (k, {h * w * channels}) for image shape "
            f"{tuple(image_shape)}"
        )
    k = H.shape[0]
    if labels is None:
        labels = [str(i) for i in range(k)]
    if len(labels) != k:
        raise ValueError(f"{len(labels)} labels for {k} basis images")
    scale = tile_scale((h, w), min_tile)
    step = tile_step((h, w), max_tile)
    th, tw = -(-h // step) * scale, -(-w // step) * scale
    font_scale = max(1, min(4, tw // 48))
    masks = [text_mask(str(lab), font_scale) for lab in labels]
    pad = max(2, font_scale)
    band = max(m.shape[0] for m in masks) + 2 * pad if masks else 0
    rows, cols = grid_shape(k)
    cell_h, cell_w = band + th, tw
    sep = max(0, int(separator))
    rgb = channels > 1 or label_colors is not None
    out = np.full(
        (
            rows * cell_h + (rows + 1) * sep,
            cols * cell_w + (cols + 1) * sep,
            *((3,) if rgb else ()),
        ),
        SEPARATOR_VALUE,
        dtype=np.uint8,
    )
    for i in range(k):
        r, c = divmod(i, cols)
        y0 = sep + r * (cell_h + sep)
        x0 = sep + c * (cell_w + sep)
        out[y0 : y0 + band, x0 : x0 + cell_w] = (
            label_colors[i] if label_colors is not None else LABEL_BACKGROUND
        )
        m = masks[i][:, :cell_w]  # a label wider than the tile is clipped
        ly, lx = y0 + pad, x0 + pad if m.shape[1] + pad <= cell_w else x0
        region = out[ly : ly + m.shape[0], lx : lx + m.shape[1]]
        region[m[: region.shape[0], : region.shape[1]]] = LABEL_INK
        shape = (h, w, channels) if channels > 1 else (h, w)
        tile = scale_to_range(H[i].reshape(shape)[::step, ::step], 8)
        if scale > 1:
            tile = np.repeat(np.repeat(tile, scale, axis=0), scale, axis=1)
        if rgb and tile.ndim == 2:
            tile = tile[:, :, None]
        out[y0 + band : y0 + band + th, x0 : x0 + tw] = tile
    # cells of an incomplete last row stay separator grey
    return out
