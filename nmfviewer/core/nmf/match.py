"""Component order and identity: energy order, and matching to a reference run.

NMF's components come out in no particular order (scikit-learn issue #6120) and a
restart permutes them. Two tools make them comparable:

- :func:`energy_order` sorts the components of one result by their energy
  ``||w_j|| * ||h_j||`` (the Frobenius norm of the rank-one term ``w_j h_j``),
  largest first. Every :class:`~.result.FitResult` is in this order.
- :func:`match_components` pairs the basis images of a new result with those of
  a reference (the previous run on the same collection, or the best restart)
  one-to-one by the Hungarian algorithm on their cosine similarity
  (``scipy.optimize.linear_sum_assignment``), for any two numbers of components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

__all__ = ["ComponentMatch", "component_energy", "energy_order", "match_components"]


def _row_norms(A: npt.ArrayLike) -> np.ndarray:
    """Euclidean norms of the rows of A (k, m), float64.

    Computed the same way wherever the rows sit in memory (a C-contiguous float64
    copy, then numpy's pairwise sum along each row): a row's norm depends only on
    its values, so the energy order of a result, of its snapshot and of a replay
    agree to the last bit (see :func:`energy_order`).
    """
    rows = np.array(A, dtype=np.float64, order="C", copy=True)
    np.square(rows, out=rows)
    norms: np.ndarray = np.sqrt(rows.sum(axis=1))
    return norms


def component_energy(W: npt.ArrayLike, H: npt.ArrayLike) -> np.ndarray:
    """``||w_j|| * ||h_j||`` for each component j: (k,) float64.

    Parameters
    ----------
    W : array_like, shape (n_images, k)
    H : array_like, shape (k, n_pixels)
    """
    W = np.asarray(W)
    H = np.asarray(H)
    if W.ndim != 2 or H.ndim != 2 or W.shape[1] != H.shape[0]:
        raise ValueError(f"W {W.shape} and H {H.shape} are not the factors of one model")
    energy: np.ndarray = _row_norms(W.T) * _row_norms(H)
    return energy


def energy_order(W: npt.ArrayLike, H: npt.ArrayLike) -> np.ndarray:
    """The components of (W, H) by energy, largest first.

    Parameters
    ----------
    W : array_like, shape (n_images, k)
    H : array_like, shape (k, n_pixels)

    Returns
    -------
    ndarray, shape (k,), int
        Indices: ``W[:, order]``, ``H[order]`` is the energy-ordered model. Ties
        keep their index order (a stable sort), so applying it to factors that are
        already in order changes nothing.
    """
    energy = component_energy(W, H)
    order: np.ndarray = np.argsort(-energy, kind="stable")
    return order


@dataclass(frozen=True, eq=False)
class ComponentMatch:
    """How the components of a new result map onto a reference's.

    Parameters
    ----------
    slots : ndarray, shape (k,), int
        The slot (row of the reference's H) each new component takes. Components
        without a partner (the new result has more components than the reference)
        take the free slots ``k_ref, k_ref + 1, ...`` in their own order.
    cosine : ndarray, shape (k,), float64
        The cosine similarity of each new basis image with its partner (1 for the
        same image up to scale); nan for a component without a partner.
    """

    slots: np.ndarray
    cosine: np.ndarray

    def order(self) -> np.ndarray:
        """(k,) permutation putting the new components in slot order:
        ``H[match.order()]`` lists the partner of reference row 0 first, and so on
        (slots left empty because the new result has fewer components are skipped)."""
        order: np.ndarray = np.argsort(self.slots, kind="stable")
        return order

    @property
    def matched(self) -> np.ndarray:
        """(k,) bool: which new components have a partner in the reference."""
        matched: np.ndarray = ~np.isnan(self.cosine)
        return matched


def cosine_matrix(A: npt.ArrayLike, B: npt.ArrayLike) -> np.ndarray:
    """Cosine similarity of the rows of A (p, m) with those of B (q, m): (p, q) float64.

    A zero row has cosine 0 with everything.
    """
    A64 = np.asarray(A, dtype=np.float64)
    B64 = np.asarray(B, dtype=np.float64)
    na, nb = _row_norms(A64), _row_norms(B64)
    na[na == 0] = 1.0
    nb[nb == 0] = 1.0
    C: np.ndarray = np.clip((A64 @ B64.T) / np.outer(na, nb), -1.0, 1.0)
    return C


def match_components(H_ref: npt.ArrayLike, H: npt.ArrayLike) -> ComponentMatch:
    """Match the basis images H to the reference's H_ref one-to-one.

    The Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) finds the
    pairing with the largest total cosine similarity; with different numbers of
    components it pairs min(k_ref, k) of them.

    Parameters
    ----------
    H_ref : array_like, shape (k_ref, n_pixels)
        The reference's basis images (rows), e.g. the previous run's H.
    H : array_like, shape (k, n_pixels)
        The new basis images.

    Returns
    -------
    ComponentMatch
        ``slots`` (k,) and ``cosine`` (k,), see :class:`ComponentMatch`.

    Raises
    ------
    ValueError
        When the two have different numbers of pixels.
    """
    H_ref = np.asarray(H_ref)
    H = np.asarray(H)
    if H_ref.ndim != 2 or H.ndim != 2 or H_ref.shape[1] != H.shape[1]:
        raise ValueError(
            f"cannot match basis images of shapes {H.shape} and {H_ref.shape}: "
            "they need the same number of pixels"
        )
    k_ref, k = H_ref.shape[0], H.shape[0]
    C = cosine_matrix(H_ref, H)  # (k_ref, k)
    slots = np.full(k, -1, dtype=np.intp)
    cosine = np.full(k, np.nan, dtype=np.float64)
    if k_ref and k:
        ref_rows, new_rows = linear_sum_assignment(C, maximize=True)
        slots[new_rows] = ref_rows
        cosine[new_rows] = C[ref_rows, new_rows]
    unmatched = np.flatnonzero(slots < 0)
    slots[unmatched] = k_ref + np.arange(unmatched.size)
    return ComponentMatch(slots=slots, cosine=cosine)
