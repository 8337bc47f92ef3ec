"""Where a collection's mask comes from (``Collection.mask``).

Three sources, combined (an entry is used only when every source uses it):

- ``LoadOptions.nonfinite='mask'``: NaN and infinite values are left out of the
  fit (X holds 0 there);
- ``LoadOptions.saturation``: values at or above the level, as read (before any
  normalisation), are left out;
- ``LoadOptions.mask_file``: a mask image, white = use, black = ignore (a pixel
  is used when its value is at least half the file type's full scale: 128 for
  8-bit, 32768 for 16-bit, 0.5 for float images), one for every image; or a
  folder of mask images, one per image matched by file stem (``img_01.png``
  and ``img_01.tif`` match ``img_01``); images without one are used whole
  (a warning says which).

The per-image value policies mark the entries of the first two sources with NaN
(``policies.apply_values``); :func:`collection_mask` turns the marks into the
mask and zeroes them. A resized image spreads its marks to the pixels they
were blended into (those values are not trustworthy either).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .nmf.mask import Mask, MaskError
from .params import LoadOptions

#: the hint of mask-file errors: the front end names its option
_HINT = "(the mask comes from {option})"


def collection_mask(
    images: np.ndarray, names: Sequence[str], options: LoadOptions
) -> tuple[Mask | None, list[str]]:
    """(the mask of a collection's images, warnings); NaN marks in images become 0.

    images: (n, h, w) or, in colour, (n, h, w, 3) float32, written in place (NaN
    marks zeroed); the mask is over ``images.reshape(n, -1)`` (a mask file's pixel
    hides all three channels of a colour pixel).
    """
    n, h, w = images.shape[:3]
    channels = images.shape[3] if images.ndim == 4 else 1
    X = images.reshape(n, -1)
    m = X.shape[1]
    observed: np.ndarray | None = None
    sources: list[str] = []
    warnings: list[str] = []
    if options.nonfinite == "mask" or options.saturation is not None:
        marks = np.isnan(X)
        if marks.any():
            if options.saturation is not None and marks.all():
                raise MaskError(
                    f"saturation={options.saturation:g} is at or below every value of the "
                    "images: nothing is left to fit. Give a level near the top of the "
                    "detector's range (values at or above it are left out).",
                    field="saturation",
                    value=options.saturation,
                )
            observed = ~marks
            X[marks] = 0
            if options.nonfinite == "mask":
                sources.append("NaN/infinite values (nonfinite='mask')")
            if options.saturation is not None:
                sources.append(f"values >= {options.saturation:g} (saturation)")
    from_file: np.ndarray | None = None
    if options.mask_file is not None:
        from_file, notes = read_mask_file(Path(options.mask_file), names, (h, w))
        if channels > 1:  # pixel-major r, g, b (Collection.to_matrix)
            from_file = np.repeat(from_file, channels, axis=-1)
        warnings.extend(notes)
        sources.append(f"mask file {options.mask_file}")
    if observed is None and from_file is None:
        return None, warnings
    source = " and ".join(sources)
    if observed is None:
        assert from_file is not None
        mask = Mask.from_array(from_file, (n, m), source=source, names=names)
    else:
        if from_file is not None:
            observed &= from_file
        mask = Mask.from_array(observed, source=source, names=names)
    used = mask.observed_fraction
    warnings.append(f"the fit leaves out {1 - used:.2%} of the entries ({source})")
    return mask, warnings


def read_mask_file(
    path: Path, names: Sequence[str], shape: tuple[int, int]
) -> tuple[np.ndarray, list[str]]:
    """The mask of a file ((h*w,) bool, for every image) or of a folder ((n, h*w)
    bool, one row per image), and warnings. Raises MaskError (field 'mask_file')."""
    if not path.exists():
        raise MaskError(
            f"the mask file {path} does not exist; give a mask image (white = use, "
            "black = ignore) or a folder of them.",
            path,
            field="mask_file",
            value=str(path),
            hint=_HINT,
        )
    if not path.is_dir():
        return _read_one(path, shape), []
    from .discovery import IMAGE_SUFFIXES

    by_stem = {
        f.stem: f
        for f in sorted(path.iterdir())
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
    }
    observed = np.ones((len(names), shape[0] * shape[1]), dtype=bool)
    missing = []
    for i, name in enumerate(names):
        stem = Path(str(name).split("[page")[0]).stem
        found = by_stem.get(stem)
        if found is None:
            missing.append(str(name))
        else:
            observed[i] = _read_one(found, shape)
    if len(missing) == len(names):
        raise MaskError(
            f"no mask in the folder {path} matches an image name (e.g. {names[0]!s}); name "
            "each mask after its image (img_01.png for img_01.tif).",
            path,
            field="mask_file",
            value=str(path),
            hint=_HINT,
        )
    notes = []
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        notes.append(f"no mask in {path} for {len(missing)} image(s), used whole: {shown}")
    return observed, notes


def _read_one(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """(h*w,) bool of one mask image: white (>= half the type's full scale) = use."""
    from .collection import load_collection
    from .errors import LoadError

    try:
        mask_images = load_collection(path, LoadOptions(nonfinite="zero", negative="clip"))
    except LoadError as exc:
        raise MaskError(
            f"the mask file {path} cannot be read as an image ({exc.message}); give a "
            "black-and-white image of the images' size.",
            path,
            field="mask_file",
            value=str(path),
            hint=_HINT,
        ) from None
    if mask_images.n_images != 1:
        raise MaskError(
            f"the mask file {path} holds {mask_images.n_images} images; give one mask image "
            "(or a folder with one mask per image).",
            path,
            field="mask_file",
            value=str(path),
            hint=_HINT,
        )
    if tuple(mask_images.image_shape) != tuple(shape):
        mh, mw = mask_images.image_shape
        raise MaskError(
            f"the mask {path} is {mw} x {mh} pixels but the images are {shape[1]} x "
            f"{shape[0]} (w x h); make the mask the images' size.",
            path,
            field="mask_file",
            value=str(path),
            hint=_HINT,
        )
    dtype = np.dtype(mask_images.original_dtypes[0])
    half = np.iinfo(dtype).max / 2 if dtype.kind in "ui" else 0.5
    return np.asarray(mask_images.images[0].ravel() >= half)
