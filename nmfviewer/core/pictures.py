"""The pictures of an export: loss.png, spectra.png and the captioned montage.

- ``loss.png``: the loss curve on a log scale, the stop reason in the title.
- ``spectra.png`` (spectral collections only): every component's spectrum (the
  columns of W) against the physical band axis, in the palette colours that
  also mark the components in the montage.
- the montage of a spectral or colour collection: component numbers on bands of
  those colours, and a caption naming the axis and its unit.

All are drawn with Pillow (:mod:`.plots`); the export writes them atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .axis import SpectralAxis
from .montage import make_montage
from .plots import PALETTE, Panel, Series, plot_png_bytes

__all__ = [
    "component_colors",
    "is_spectral",
    "loss_png_bytes",
    "montage_png_bytes",
    "spectra_png_bytes",
]

_LOSS_NAMES = {
    "frobenius": "½‖X − WH‖²",
    "kullback-leibler": "KL divergence",
    "kl": "KL divergence",
    "itakura-saito": "Itakura-Saito divergence",
    "is": "Itakura-Saito divergence",
}


def component_colors(k: int) -> list[tuple[int, int, int]]:
    """The colour of each component (k of them), shared by spectra.png and the montage."""
    return [PALETTE[j % len(PALETTE)] for j in range(k)]


def is_spectral(collection: Any) -> bool:
    """True for a cube whose images are bands (W then holds spectra)."""
    return getattr(collection, "axis_label", "image") != "image"


def band_axis(collection: Any) -> SpectralAxis:
    """The collection's axis, or band numbers 0..n-1 when it has none."""
    axis: SpectralAxis | None = getattr(collection, "axis", None)
    if axis is not None:
        return axis
    return SpectralAxis(np.arange(collection.n_images, dtype=np.float64), "band", "", "")


def loss_title(result: Any) -> str:
    """'Loss: converged after 190 iterations, final 0.28446' (loss.png's title)."""
    from .nmf.state import stop_reason_text

    return (
        f"Loss: {stop_reason_text(result.stop_reason)} after {int(result.n_iter)} iterations, "
        f"final {float(result.loss):.6g}"
    )


def loss_png_bytes(result: Any, *, width: int = 800, height: int = 360) -> bytes:
    """loss.png: the loss after each iteration (log scale) with the stop reason.

    Iterations where the loss was not evaluated (nan in ``loss_history``, e.g.
    KL multiplicative updates between checks) are skipped, not drawn as gaps.
    """
    history = np.asarray(result.loss_history, dtype=np.float64).ravel()
    iterations = np.arange(history.size, dtype=np.float64)
    known = np.isfinite(history)
    loss = str(getattr(result.params, "loss", "frobenius"))
    y_label = f"loss ({_LOSS_NAMES.get(loss, loss)})"
    title = loss_title(result)
    series = [Series(iterations[known], history[known], color=PALETTE[0])]
    positive = history[known] > 0
    panel = Panel(series, "iteration", y_label, log_y=bool(positive.any()))
    return plot_png_bytes([panel], title=title, width=width, panel_height=height)


def spectra_png_bytes(
    W: np.ndarray, axis: SpectralAxis, *, width: int = 900, height: int = 380
) -> bytes:
    """spectra.png: column j of W (n_bands, k) against the axis, one colour each.

    The title names the axis source; the y axis is the weight of each band in
    the component (the spectrum in the data's units times the map's scale).
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != len(axis):
        raise ValueError(f"W has shape {W.shape} but the axis has {len(axis)} values")
    colors = component_colors(W.shape[1])
    series = [Series(axis.values, W[:, j], f"component {j}", colors[j]) for j in range(W.shape[1])]
    x_label = axis.label if axis.unit or axis.name != "band" else "band index"
    title = f"Component spectra ({W.shape[1]})"
    if axis.source:
        title += f", axis from {axis.source}"
    return plot_png_bytes(
        [Panel(series, x_label, "weight")], title=title, width=width, panel_height=height
    )


def _caption(image: np.ndarray, text: str) -> np.ndarray:
    """image (h, w, 3) uint8 with a white strip below it holding ``text``,
    wrapped at word boundaries to the image's width (at least 160 px)."""
    from PIL import Image, ImageDraw

    from .plots import _font

    font = _font(12)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(image.shape[1], 160)
    lines: list[str] = []
    for word in text.split(" "):
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(trial, font=font) <= width - 12:
            lines[-1] = trial
        else:
            lines.append(word)
    line_h = int(font.getbbox("Ag")[3]) + 4
    canvas = Image.new("RGB", (width, image.shape[0] + line_h * len(lines) + 10), "white")
    canvas.paste(Image.fromarray(image), (0, 0))
    pen = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        pen.text((6, image.shape[0] + 5 + i * line_h), line, fill=(40, 40, 40), font=font)
    return np.asarray(canvas)


def montage_png_bytes(H: np.ndarray, collection: Any, image_shape: Sequence[int]) -> bytes:
    """basis_montage.png: gray tiles for an image collection (as before); for a
    spectral collection component-coloured number bands and a caption naming
    the axis; for a colour collection colour tiles (channels scaled together)."""
    from .export import encode_png

    shape = tuple(int(s) for s in image_shape)
    k = int(np.asarray(H).shape[0])
    spectral = is_spectral(collection)
    colors = component_colors(k) if spectral else None
    montage = make_montage(H, shape, label_colors=colors)
    if spectral:
        axis = band_axis(collection)
        against = axis.label if axis.unit or axis.name != "band" else "band index"
        caption = (
            f"Components 0–{k - 1}: abundance maps. Spectra in spectra.png, against {against}."
        )
        montage = _caption(montage, caption)
    return encode_png(montage)


def spectral_pictures(collection: Any, result: Any) -> dict[str, Any]:
    """{file name: producer of its bytes} for the pictures of an export."""
    from functools import partial

    out: dict[str, Any] = {"loss.png": partial(loss_png_bytes, result)}
    if is_spectral(collection):
        out["spectra.png"] = partial(spectra_png_bytes, result.W, band_axis(collection))
    return out
