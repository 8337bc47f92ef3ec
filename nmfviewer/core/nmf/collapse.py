"""Detect a collapsed model: components, or all of W H, that are zero.

A penalty large enough (``alpha_W`` / ``alpha_H``) drives every factor to zero
and the loss stops falling, so a stop rule alone reports "converged" for a
model that explains nothing. These pure functions let the run driver say so:
see :func:`collapse_report` for the stop reason and message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import NMFViewerError

if TYPE_CHECKING:
    from ..params import NMFParams

#: stop reason for a run whose model became all zero (W H = 0)
STOP_COLLAPSED = "collapsed"


class CollapsedFitWarning(NMFViewerError, UserWarning):
    """Every component of the fit is zero: the result explains nothing.

    ``field`` names the parameter at fault ('alpha_W' when regularisation
    zeroed the model, else None), ``suggested`` a value to try.
    """

    def __init__(
        self,
        message: str,
        field: str | None = None,
        suggested: float | None = None,
        value: float | None = None,
    ):
        super().__init__(
            message,
            field=field,
            value=value,
            suggestion=suggested,
            hint="Lower it ({option})." if field else None,
        )
        self.suggested = suggested


def dead_components(
    W: np.ndarray, H: np.ndarray, x_max: float | None = None, rtol: float = 1e-6
) -> np.ndarray:
    """(k,) bool: component j adds nothing to W H.

    W (n, k), H (k, m). Component j is dead when max(W[:, j]) * max(H[j]) is
    zero, or, given the data's largest value ``x_max``, at most rtol * x_max
    (its largest entry in W H is below the data's resolution).
    """
    W = np.asarray(W)
    H = np.asarray(H)
    k = H.shape[0]
    if W.shape[1] != k:
        raise ValueError(f"W has {W.shape[1]} components and H {k}.")
    peak = W.max(axis=0).astype(np.float64) * H.max(axis=1).astype(np.float64)
    limit = 0.0 if x_max is None else rtol * float(x_max)
    dead: np.ndarray = ~(peak > limit)  # NaN counts as dead too
    return dead


def is_collapsed(
    W: np.ndarray, H: np.ndarray, x_max: float | None = None, rtol: float = 1e-6
) -> bool:
    """True when every component is dead (:func:`dead_components`): W H = 0."""
    return bool(dead_components(W, H, x_max, rtol).all())


def collapse_report(
    W: np.ndarray, H: np.ndarray, params: NMFParams, x_max: float | None = None
) -> CollapsedFitWarning | None:
    """None for a model with a live component; else a CollapsedFitWarning whose
    message says why (regularisation, when params.alpha_W or alpha_H > 0) and
    what to change. W (n, k), H (k, m); params: the run's NMFParams.

    The run driver calls it on the final factors (cheap: O(k (n + m))) and,
    when it returns a warning, records STOP_COLLAPSED instead of 'converged'
    and passes the warning on (``warnings.warn`` or a result flag).
    """
    if not is_collapsed(W, H, x_max):
        return None
    k = H.shape[0]
    a_w, a_h = float(params.alpha_W), float(params.alpha_H_value)
    if a_w > 0 or a_h > 0:
        field = "alpha_W" if a_w >= a_h else "alpha_H"
        value = max(a_w, a_h)
        return CollapsedFitWarning(
            f"the regularisation zeroed the model: with alpha_W={a_w:g} and "
            f"alpha_H={a_h:g} all {k} components are zero (W H = 0), so the result "
            "explains nothing.",
            field=field,
            suggested=value / 10,
            value=value,
        )
    return CollapsedFitWarning(
        f"the fit collapsed: all {k} components are zero (W H = 0). Try another "
        "init or seed, or rescale the data.",
    )
