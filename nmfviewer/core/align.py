"""Align a result's components to a previous run's (``nmfviewer fit --align-to DIR``).

A reference is a previous export: its folder or its ``factors.npz``. The new
result's basis images are matched one-to-one to the reference's by the Hungarian
algorithm on cosine similarity (:func:`.nmf.match.match_components`) and put in
the reference's order: component j of the aligned result is the partner of the
reference's component j; components without a partner (a larger k) follow in
energy order. The record (:func:`alignment_record`) goes into run.json: the
reference's path and sha256, each exported component's slot in the reference and
its matched cosine.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LoadError
from .manifest import sha256_file
from .nmf.match import ComponentMatch, match_components
from .nmf.result import FitResult

__all__ = ["Reference", "align_result", "alignment_record", "load_reference"]

FACTORS_NAME = "factors.npz"


@dataclass(frozen=True, eq=False)
class Reference:
    """The basis of a previous run to align to.

    Parameters
    ----------
    H : ndarray, shape (k_ref, n_pixels)
        Its basis images (rows), in its order.
    path : Path
        The factors.npz it was read from (absolute).
    sha256 : str
        The file's sha256 (hex).
    image_shape : tuple of int or None
        (height, width) of its basis images when the file records it.
    """

    H: np.ndarray
    path: Path
    sha256: str
    image_shape: tuple[int, int] | None = None

    def check_fits(self, n_pixels: int, image_shape: tuple[int, int] | None = None) -> None:
        """LoadError unless the reference's basis images have ``n_pixels`` pixels
        (and, when both are known, the same image shape)."""
        k_ref, m_ref = self.H.shape
        if m_ref == n_pixels and (
            image_shape is None
            or self.image_shape is None
            or tuple(image_shape) == self.image_shape
        ):
            return
        theirs = f"{m_ref} pixels" if self.image_shape is None else _shape_text(self.image_shape)
        ours = f"{n_pixels} pixels" if image_shape is None else _shape_text(image_shape)
        raise LoadError(
            f"cannot align to {self.path}: its {k_ref} basis images have {theirs}, the "
            f"images here have {ours}; align only to a run on the same kind of images.",
            self.path,
        )


def _shape_text(shape: tuple[int, ...]) -> str:
    h, w = shape
    return f"{h}x{w} = {h * w} pixels"


def load_reference(path: str | os.PathLike[str]) -> Reference:
    """Read the basis of a previous export: its folder or its factors.npz.

    Raises
    ------
    LoadError
        Naming the path: missing, a folder without factors.npz, or a file that
        is not a factors.npz with a 2-D non-negative finite H.
    """
    given = Path(os.fspath(path))
    if not given.exists():
        raise LoadError(
            f"{given} does not exist; give a previous output folder or its {FACTORS_NAME}.",
            given,
        )
    file = given / FACTORS_NAME if given.is_dir() else given
    if given.is_dir() and not file.is_file():
        raise LoadError(
            f"{given} holds no {FACTORS_NAME}; give the output folder of a previous run "
            f"(it has {FACTORS_NAME} and run.json) or the {FACTORS_NAME} itself.",
            given,
        )
    if not zipfile.is_zipfile(file):
        raise LoadError(
            f"{file} is not a {FACTORS_NAME} (not an .npz archive); give a previous output "
            f"folder or its {FACTORS_NAME}.",
            file,
        )
    try:
        with np.load(file, allow_pickle=False) as npz:
            if "H" not in npz.files:
                raise LoadError(
                    f"{file} has no basis H; it is not an nmfviewer {FACTORS_NAME}.", file
                )
            H = np.array(npz["H"], dtype=np.float64)
            shape = npz["image_shape"] if "image_shape" in npz.files else None
    except LoadError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise LoadError(
            f"{file} cannot be read as a {FACTORS_NAME} ({exc}); give a previous output "
            "folder or its factors.npz.",
            file,
        ) from None
    if H.ndim != 2 or H.shape[0] < 1 or not np.all(np.isfinite(H)):
        raise LoadError(f"{file}: its H of shape {H.shape} is not a basis of finite values.", file)
    image_shape = None
    if shape is not None and np.shape(shape) == (2,):
        image_shape = (int(shape[0]), int(shape[1]))
    return Reference(H=H, path=file.absolute(), sha256=sha256_file(file), image_shape=image_shape)


def align_result(result: FitResult, reference: Reference) -> tuple[FitResult, ComponentMatch]:
    """The result with its components in the reference's order, and the match.

    Parameters
    ----------
    result : FitResult
        W (n_images, k), H (k, n_pixels), in energy order.
    reference : Reference
        H (k_ref, n_pixels).

    Returns
    -------
    (FitResult, ComponentMatch)
        The aligned result (copies; loss and history unchanged) and the match of
        the *original* result's components (``match.order()`` is the permutation
        applied).
    """
    reference.check_fits(result.H.shape[1])
    match = match_components(reference.H, result.H)
    order = match.order()
    aligned = replace(
        result,
        W=np.ascontiguousarray(result.W[:, order]),
        H=np.ascontiguousarray(result.H[order]),
    )
    return aligned, match


def alignment_record(reference: Reference, match: ComponentMatch) -> dict[str, Any]:
    """run.json's ``alignment`` section: per exported component (basis_00, ...),
    its slot in the reference and its matched cosine (None without a partner)."""
    order = match.order()
    cosines = [None if np.isnan(c) else round(float(c), 6) for c in match.cosine[order]]
    return {
        "reference": str(reference.path),
        "reference_sha256": reference.sha256,
        "reference_k": int(reference.H.shape[0]),
        "method": "Hungarian assignment on the cosine similarity of basis images",
        "slots": [int(s) for s in match.slots[order]],
        "cosine": cosines,
    }
