"""The outcome of a k sweep: its rows, the suggested k and the rule, the ks' syntax.

:class:`RankRow` is one k, :class:`RankResult` the sweep (``RankSweep.result()``,
:mod:`.rank_sweep`), :func:`suggest_k` the documented suggestion rule
(:func:`suggestion_rule` words it for rank.json), :func:`parse_ks` reads a range of
k ('2:20') and checks it against the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ParameterError
from .params import NMFParams

__all__ = [
    "PRECISION_FLOOR",
    "STABILITY_THRESHOLD",
    "RankProgress",
    "RankResult",
    "RankRow",
    "parse_ks",
    "suggest_k",
    "suggestion_rule",
]

#: a k is "stable" when its least stable component's mean matched cosine is at least this
STABILITY_THRESHOLD = 0.8
#: test errors closer than this, relative to the largest, count as equal (rounding level)
PRECISION_FLOOR = 1e-6


@dataclass(frozen=True)
class RankProgress:
    """Where a sweep is: fit (k, rep, restart) at ``iteration``; ``fraction`` of the
    whole sweep done (0..1, an estimate weighted by k)."""

    k: int
    rep: int
    restart: int
    iteration: int
    fraction: float


@dataclass(frozen=True, eq=False)
class RankRow:
    """One k of a sweep.

    Parameters
    ----------
    k : int
    test_error, test_error_sd : float
        Mean and standard deviation over the repeats of the held-out loss per
        held-out entry (nan without a holdout; sd nan with one repeat).
    train_error : float
        Mean over the fits of the loss per fitted entry.
    stability_mean, stability_min : float
        Mean and minimum of ``component_stability`` (nan with a single fit).
    component_stability : ndarray, shape (k,)
        Per component of the best fit: its mean matched cosine over the other fits.
    iterations : int
        Iterations per fit (mean over the fits at this k, rounded).
    seconds : float
        Seconds all fits at this k took.
    W : ndarray, shape (n_images, k)
    H : ndarray, shape (k, n_pixels)
        The best fit at this k (lowest test error, or lowest loss without a
        holdout), energy-ordered.
    """

    k: int
    test_error: float
    test_error_sd: float
    train_error: float
    stability_mean: float
    stability_min: float
    component_stability: np.ndarray
    iterations: int
    seconds: float
    W: np.ndarray
    H: np.ndarray

    def summary(self) -> dict[str, Any]:
        """The row's numbers (no factors), JSON-ready (nan as None)."""
        return {
            "k": self.k,
            "test_error": _num(self.test_error),
            "test_error_sd": _num(self.test_error_sd),
            "train_error": _num(self.train_error),
            "stability_mean": _num(self.stability_mean),
            "stability_min": _num(self.stability_min),
            "component_stability": [_num(c) for c in self.component_stability],
            "iterations": self.iterations,
            "seconds": round(self.seconds, 4),
        }


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


@dataclass(frozen=True, eq=False)
class RankResult:
    """A sweep's outcome: one row per finished k (in increasing k), the suggestion
    and the settings that repeat it. ``complete`` is False after a cancel."""

    rows: tuple[RankRow, ...]
    suggested_k: int | None
    rule: str
    params: NMFParams
    reps: int
    restarts: int
    holdout: float
    seed: int
    complete: bool
    #: how the sweep ran (early stopping, warm starts, the stability threshold)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def ks(self) -> list[int]:
        return [r.k for r in self.rows]

    def row(self, k: int) -> RankRow:
        """The row of k (KeyError when k was not swept)."""
        for r in self.rows:
            if r.k == k:
                return r
        raise KeyError(k)


def suggestion_rule(stability_threshold: float = STABILITY_THRESHOLD) -> str:
    """The suggestion rule in words (rank.json records it)."""
    return (
        "the smallest k whose mean test error is within one standard error (sd / sqrt(reps)) "
        f"of the lowest mean test error (or {PRECISION_FLOOR:g} of the largest, whichever is "
        "larger: rounding level), among those whose least stable component has a mean "
        f"matched cosine >= {stability_threshold:g}; if none of them is that stable, the "
        "smallest k within one standard error; none without held-out entries"
    )


def suggest_k(
    rows: Sequence[RankRow], reps: int, stability_threshold: float = STABILITY_THRESHOLD
) -> int | None:
    """The suggested k of a sweep's rows (see :func:`suggestion_rule`); None when
    no row has a test error."""
    scored = sorted((r for r in rows if math.isfinite(r.test_error)), key=lambda r: r.k)
    if not scored:
        return None
    best = min(scored, key=lambda r: r.test_error)
    sd = best.test_error_sd if math.isfinite(best.test_error_sd) else 0.0
    # errors at rounding level (exactly low-rank data) count as equal
    floor = PRECISION_FLOOR * max(r.test_error for r in scored)
    limit = best.test_error + max(sd / math.sqrt(max(reps, 1)), floor)
    within = [r for r in scored if r.test_error <= limit]
    stable = [
        r
        for r in within
        if not math.isfinite(r.stability_min) or r.stability_min >= stability_threshold
    ]
    return (stable or within)[0].k


def parse_ks(ks: Any, n_images: int | None = None, n_pixels: int | None = None) -> tuple[int, ...]:
    """The ks of a sweep, increasing and distinct: an iterable of whole numbers or
    text 'A:B' (inclusive), 'A:B:STEP' or 'A,B,C'. ParameterError (field 'ks') when
    a k is < 1 or above min(n_images, n_pixels) (without the shape: the syntax and
    k >= 1 only)."""
    known = n_images is not None and n_pixels is not None
    limit = min(int(n_images), int(n_pixels)) if known else 20  # type: ignore[arg-type]
    values: list[int] = []
    try:
        if isinstance(ks, str):
            text = ks.strip()
            if ":" in text:
                parts = [int(p) for p in text.split(":")]
                if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] < 1):
                    raise ValueError
                values = list(range(parts[0], parts[1] + 1, parts[2] if len(parts) == 3 else 1))
            else:
                values = [int(p) for p in text.split(",") if p.strip()]
        elif isinstance(ks, (int, np.integer)) and not isinstance(ks, bool):
            values = [int(ks)]
        else:
            values = []
            for k in ks:
                if isinstance(k, bool) or int(k) != k:
                    raise ValueError
                values.append(int(k))
    except (TypeError, ValueError):
        raise ParameterError(
            f"ks={ks!r} is not a range of k; give e.g. '2:20', '2:20:2' or '3,5,8'.",
            field="ks",
            value=ks,
            suggestion=f"2:{min(limit, 20)}",
        ) from None
    if not values:
        raise ParameterError(
            f"ks={ks!r} holds no k; give e.g. '2:{min(limit, 20)}' (first <= last).",
            field="ks",
            value=ks,
            suggestion=f"2:{min(limit, 20)}",
        )
    small = [k for k in values if k < 1]
    if small:
        raise ParameterError(
            f"ks={ks!r} includes k={small[0]}; every k must be a whole number >= 1.",
            field="ks",
            value=ks,
            suggestion=f"1:{max(values)}" if max(values) >= 1 else "2:20",
        )
    bad = [k for k in values if known and k > limit]
    if bad:
        raise ParameterError(
            f"ks={ks!r} includes k={bad[0]}, outside what the data allows: X has {n_images} "
            f"images x {n_pixels} pixels, so every k must be between 1 and {limit}.",
            field="ks",
            value=ks,
            suggestion=f"{min(values[0], limit) if values[0] >= 1 else 1}:{limit}",
        )
    return tuple(sorted(set(values)))


def check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(
            f"{name}={value!r} must be a whole number >= 1.", field=name, value=value, suggestion=1
        )
    return int(value)


def check_holdout(value: Any) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = math.nan
    if not (0.0 <= f < 0.5):
        raise ParameterError(
            f"holdout={value!r} must be a fraction of the entries from 0 (no test error) to "
            "below 0.5; 0.1 holds out 10%.",
            field="holdout",
            value=value,
            suggestion=0.1,
        )
    return f
