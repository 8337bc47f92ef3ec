"""Per-image policies of :class:`~nmfviewer.core.params.LoadOptions`: colour to
gray, non-finite and negative values, resizing, normalisation; and the memory
budget check done from headers before any pixel is read.

Each function records what it did in a ``notes`` set of short tags that the
loader turns into plain-words warnings.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from skimage.transform import resize

from .errors import LoadError, MemoryLimitError
from .params import LoadOptions
from .readers import GRAY_ALPHA, PALETTE, RGBA

#: ITU-R BT.601 luma weights (what Pillow's convert('L') uses)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_F32_MAX = float(np.finfo(np.float32).max)


def to_gray(
    pixels: np.ndarray, color: str, policy: str, name: str, path: Path | None, notes: set[str]
) -> np.ndarray:
    """(h, w) or (h, w, c) pixels -> (h, w) gray, native dtype kept for gray input.

    Colour (c >= 3) becomes float32 luminance or channel mean; alpha and extra
    channels are dropped; colour images whose channels are all equal are gray.
    """
    if pixels.ndim == 2:
        if color == PALETTE:
            notes.add("palette")
        return pixels
    if color == GRAY_ALPHA or pixels.shape[2] < 3:
        notes.add("alpha" if pixels.shape[2] == 2 else "extra")
        return pixels[..., 0]
    if pixels.shape[2] > 3:
        notes.add("alpha" if color == RGBA else "extra")
    rgb = pixels[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return rgb[..., 0]  # gray stored as colour: nothing to convert
    if policy == "refuse":
        raise LoadError(
            f"{name} is a colour image and color is 'refuse'.",
            path,
            field="color",
            value="refuse",
            suggestion="luminance",
            hint="Use {option} (or 'mean') to convert it to gray, or remove it.",
        )
    notes.add("palette" if color == PALETTE else "color")
    if policy == "mean":
        mean: np.ndarray = rgb.mean(axis=2, dtype=np.float32)
        return mean
    gray = np.empty(rgb.shape[:2], dtype=np.float32)
    np.dot(rgb.astype(np.float32, copy=False), LUMA, out=gray)
    return gray


def to_rgb(pixels: np.ndarray, color: str, notes: set[str]) -> np.ndarray:
    """(h, w) or (h, w, c) pixels -> (h, w, 3) for color='channels', native dtype.

    Gray (and gray + alpha) is replicated to three channels (noted 'gray3'), an
    alpha or any channel past the third is dropped (noted), palette images arrive
    decoded to RGB.
    """
    if pixels.ndim == 2:
        notes.add("gray3")
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if color == GRAY_ALPHA or pixels.shape[2] < 3:
        notes.add("gray3")
        if pixels.shape[2] == 2:
            notes.add("alpha")
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    if pixels.shape[2] > 3:
        notes.add("alpha" if color == RGBA else "extra")
    return pixels[..., :3]


def apply_values(
    gray: np.ndarray,
    out: np.ndarray,
    options: LoadOptions,
    name: str,
    path: Path | None,
    notes: set[str],
) -> None:
    """Write gray (h0, w0) any numeric dtype into ``out`` (h, w) float32,
    applying the non-finite, negative, resize and normalisation policies.

    Raises LoadError naming the image and the option that fixes it.
    """
    if gray.dtype.kind == "f":
        bad = ~np.isfinite(gray)
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            if options.nonfinite == "error":
                n_nan = int(np.count_nonzero(np.isnan(gray)))
                raise LoadError(
                    f"{name} has {n_bad} non-finite values ({n_nan} NaN, {n_bad - n_nan} "
                    "infinite).",
                    path,
                    field="nonfinite",
                    value="error",
                    suggestion="zero",
                    hint="Use {option} to replace them by zero, or fix the file.",
                )
            # 'mask': NaN marks the entry; the collection turns the marks into its mask
            gray = np.where(bad, np.nan if options.nonfinite == "mask" else 0, gray)
            notes.add("nonfinite_mask" if options.nonfinite == "mask" else "nonfinite")
        if gray.dtype.itemsize > 4 and gray.size:
            largest = float(np.max(np.abs(gray)))
            if largest > _F32_MAX:
                raise LoadError(
                    f"{name} has values too large for float32 (up to {largest:.3g}); "
                    "rescale the file before loading it.",
                    path,
                )
    if options.saturation is not None:
        gray = mark_saturated(gray, options.saturation, notes)
    # negatives are judged on the values as read: a float64 -1e-300 is
    # negative even though it becomes -0.0 in float32
    low = float(gray.min()) if gray.dtype.kind in "if" else 0.0
    if low != low:  # NaN: entries marked for the mask
        low = float(np.nanmin(gray)) if not np.isnan(gray).all() else 0.0
    same_shape = gray.shape == out.shape
    if same_shape:
        np.copyto(out, gray, casting="unsafe")
        x = out
    else:
        x = np.array(gray, dtype=np.float32)
    if low < 0:
        if options.negative == "error":
            raise LoadError(
                f"{name} has negative values (min {low:.4g}).",
                path,
                field="negative",
                value="error",
                suggestion="clip",
                hint="Use {option} to clip them at zero, or 'shift' to shift each image to "
                "start at zero.",
            )
        if options.negative == "clip":
            notes.add("clip")
        else:
            x -= np.float32(low)
            notes.add("shift")
        np.maximum(x, 0, out=x)  # also catches rounding left-overs of the shift
    if not same_shape:
        out[...] = resize(x, out.shape, order=1, anti_aliasing=True, preserve_range=True)
        np.maximum(out, 0, out=out)
        notes.add("resized")
    normalize(out, options.normalize, notes)


def mark_saturated(gray: np.ndarray, level: float, notes: set[str]) -> np.ndarray:
    """gray with the values >= level set to NaN (a mark for the collection's mask),
    as float; unchanged when no value reaches the level."""
    hit = gray >= level
    if not hit.any():
        return gray
    notes.add("saturated")
    dtype = gray.dtype if gray.dtype.kind == "f" else np.float64
    return np.where(hit, np.nan, gray).astype(dtype, copy=False)


def normalize(image: np.ndarray, how: str, notes: set[str]) -> None:
    """In place: 'max' divides by the maximum, 'sum' makes the image sum to 1
    (NaN marks of masked entries are left out)."""
    if how == "none":
        return
    total = float(image.max()) if how == "max" else float(image.sum(dtype=np.float64))
    if total != total and not np.isnan(image).all():  # NaN marks: masked entries
        total = float(np.nanmax(image)) if how == "max" else float(np.nansum(image))
    if total > 0 and np.isfinite(total):
        image /= np.float32(total) if how == "max" else total
    else:
        notes.add("zero")


def available_memory() -> int | None:
    """Bytes of memory available now (MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def check_memory(
    n_images: int,
    shape: tuple[int, int],
    decode_bytes: int,
    options: LoadOptions,
    largest: tuple[int, str] | None = None,
    channels: int = 1,
) -> int:
    """Raise MemoryLimitError when the (n, h, w) float32 stack plus the decoding
    buffers exceed ``options.max_memory_bytes`` (default: half of the memory
    available now). ``largest``: (decoded bytes, name) of the largest page, named
    in the message when decoding it is what costs most. Returns the estimate in bytes."""
    stack = n_images * shape[0] * shape[1] * 4 * channels
    need = stack + decode_bytes
    if options.max_memory_bytes is not None:
        limit, why = options.max_memory_bytes, "max_memory_bytes"
    else:
        available = available_memory()
        if available is None:
            return need
        limit, why = available // 2, "half the available memory"
    if need > limit:
        fix = "load fewer images or a sub-folder"
        if largest is not None and 3 * largest[0] > stack:
            fix = (
                f"the largest image, {largest[1]}, alone needs {human_bytes(3 * largest[0])} "
                "to decode: leave it out or shrink it"
            )
        raise MemoryLimitError(
            f"loading {n_images} image{'' if n_images == 1 else 's'} "
            f"of {shape[1]}x{shape[0]} pixels needs "
            f"{human_bytes(need)} as float32 but the limit is {human_bytes(limit)} ({why}).",
            field="max_memory_bytes",
            value=limit,
            hint=f"{fix[0].upper()}{fix[1:]}, or raise the limit ({{option}}).",
        )
    return need
