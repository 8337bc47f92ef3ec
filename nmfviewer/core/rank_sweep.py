"""Which k? A cross-validated rank sweep with restart stability.

For each k of a sweep, :class:`RankSweep` runs ``reps`` x ``restarts`` fits through
the run driver (:class:`~.nmf.run.NMFRun`) and records:

- the **test error**: speckled masked-entry cross-validation (as RcppML does). Each
  repeat ``rep`` holds out a random ``holdout`` fraction of the entries of X
  (:func:`~.nmf.mask.split_holdout`; the same split for every k, so the curves
  compare like with like), fits the other entries only (a masked run), and
  measures the loss on the held-out entries (:func:`~.nmf.mask.loss_on`). Errors
  are the loss per entry in the engine's convention (Frobenius:
  ``0.5 * mean (x - wh)^2``; KL / IS: the mean divergence), so the training and
  test errors are on one scale; ``test_error`` is their mean over the repeats and
  ``test_error_sd`` the standard deviation;
- the **training error**: the same on the fitted entries (the mean over fits);
- the **stability** of the parts: every fit's basis images are matched one-to-one
  to those of the best fit at that k (lowest test error; lowest loss without a
  holdout) by the Hungarian algorithm on cosine similarity
  (:func:`~.nmf.match.match_components`). ``component_stability[j]`` is the mean
  matched cosine of the best fit's component j over the other fits,
  ``stability_mean`` their mean and ``stability_min`` the least stable component.
  Nothing of size n x n is ever formed (no consensus matrix).

Fast by design:

- **warm starts**: each (rep, restart) is a chain over the ks in increasing order.
  Its first k starts from a seeded random init ('random': the only inits that
  differ between restarts and never look at held-out entries; a seeded
  ``params.init`` such as 'nndsvdar' is used as given); each further k starts from
  the previous k's best factors plus ``k - k_prev`` new components, each a seeded
  random non-negative row of H and column of W at the scale of the random init.
  The masked solver fits the new component to what the others leave unexplained
  within a few iterations.
- **early stopping on the test error**: every ``eval_every`` iterations the
  held-out loss is evaluated (cheap: only the held-out entries of W H are formed);
  a fit stops once it has not improved by ``min_improvement`` (relative) for
  ``patience`` evaluations, and keeps its best iterate. The run's own stop rule
  (tol, max_iter, time budget) still applies.

The suggested k (:func:`suggest_k`, recorded with its rule in :class:`RankResult`
and rank.json): the smallest k whose mean test error is within one standard
error (sd / sqrt(reps)) of the lowest mean test error and whose
``stability_min`` is at least ``stability_threshold`` (0.8); if no k within one
standard error is that stable, the smallest k within one standard error.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .errors import ParameterError
from .nmf.match import energy_order, match_components
from .nmf.prepare import prepare
from .nmf.run import CancelToken, NMFRun
from .params import NMFParams
from .rank_export import write_rank

if TYPE_CHECKING:
    from .nmf.mask import Mask

__all__ = [
    "STABILITY_THRESHOLD",
    "WARM_START",
    "RankProgress",
    "RankResult",
    "RankRow",
    "RankSweep",
    "parse_ks",
    "rank",
    "suggest_k",
    "suggestion_rule",
    "write_rank",
]

#: a k is "stable" when its least stable component's mean matched cosine is at least this
STABILITY_THRESHOLD = 0.8
#: test errors closer than this, relative to the largest, count as equal (rounding level)
PRECISION_FLOOR = 1e-6
#: early stopping: evaluate the held-out loss every EVAL_EVERY iterations ...
EVAL_EVERY = 5
#: ... and stop a fit after PATIENCE evaluations without a relative improvement of
MIN_IMPROVEMENT = 1e-4
PATIENCE = 4
#: how each k after the first starts (rank.json records it)
WARM_START = (
    "each (rep, restart) chain starts its first k from a seeded random init and every "
    "further k from the previous k's best factors plus new seeded random components"
)
#: what the errors are (rank.json records it)
ERROR_DEFINITION = (
    "loss per entry, unpenalised: 0.5 * mean squared residual (Frobenius) or the mean "
    "beta-divergence (KL, IS), over the held-out entries (test) or the fitted ones (train)"
)
#: seeded inits: restarts differ; any other init is replaced by 'random' (see the notes)
SEEDED_INITS = ("random", "nndsvdar")


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


def parse_ks(ks: Any, n_images: int, n_pixels: int) -> tuple[int, ...]:
    """The ks of a sweep, increasing and distinct: an iterable of whole numbers or
    text 'A:B' (inclusive), 'A:B:STEP' or 'A,B,C'. ParameterError (field 'ks') when
    a k is < 1 or above min(n_images, n_pixels)."""
    limit = min(int(n_images), int(n_pixels))
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
    bad = [k for k in values if not 1 <= k <= limit]
    if bad:
        raise ParameterError(
            f"ks={ks!r} includes k={bad[0]}, outside what the data allows: X has {n_images} "
            f"images x {n_pixels} pixels, so every k must be between 1 and {limit}.",
            field="ks",
            value=ks,
            suggestion=f"{min(values[0], limit) if values[0] >= 1 else 1}:{limit}",
        )
    return tuple(sorted(set(values)))


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(
            f"{name}={value!r} must be a whole number >= 1.", field=name, value=value, suggestion=1
        )
    return int(value)


def _fraction(value: Any) -> float:
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


@dataclass
class _Fit:
    """One finished fit: its best iterate (energy-ordered) and its errors."""

    W: np.ndarray
    H: np.ndarray
    test: float
    train: float
    loss: float
    iterations: int


class RankSweep:
    """A cross-validated k sweep; iterate it for progress, read :meth:`result`.

    Parameters
    ----------
    X : array_like, shape (n_images, n_pixels)
        The data (>= 0, finite); used as is when C-contiguous in ``params.dtype``.
    ks : iterable of int or str
        The ks ('2:20', '2:20:2', '3,5,8' or whole numbers), each 1..min(n, m).
    params : NMFParams
        Loss, solver, penalties, stop rule and seed of every fit (n_components is
        replaced by each k; seed None draws one, recorded in the result).
    reps : int
        Repeats of the cross-validation, each with its own held-out entries.
    restarts : int
        Fits per repeat from different random starts.
    holdout : float
        Fraction of the entries held out, 0 <= holdout < 0.5; 0 fits all entries
        (no test error, no early stopping, no suggestion): ``RankSweep(X, [k],
        params, reps=1, restarts=R, holdout=0.0)`` runs R restarts at one k.
    mask : Mask, optional
        Entries never used (missing data); the held-out ones are drawn among the
        others (a binary mask then).
    cancel : object with ``is_set()``, optional
        Stops the sweep (mid-fit); :meth:`result` then holds the ks finished.
    eval_every, patience, min_improvement : optional
        Early stopping (see the module notes).
    stability_threshold : float, optional
        Of the suggestion rule.

    Raises
    ------
    ParameterError
        For bad ks, reps, restarts or holdout (``field`` names it) and bad X.
    """

    def __init__(
        self,
        X: npt.ArrayLike,
        ks: Any,
        params: NMFParams,
        *,
        reps: int = 3,
        restarts: int = 1,
        holdout: float = 0.1,
        mask: Mask | None = None,
        cancel: CancelToken | None = None,
        eval_every: int = EVAL_EVERY,
        patience: int = PATIENCE,
        min_improvement: float = MIN_IMPROVEMENT,
        stability_threshold: float = STABILITY_THRESHOLD,
    ) -> None:
        if not isinstance(params, NMFParams):
            raise ParameterError(f"params must be an NMFParams, got {type(params).__name__}.")
        self.reps = _count("reps", reps)
        self.restarts = _count("restarts", restarts)
        self.holdout = _fraction(holdout)
        self.eval_every = _count("eval_every", eval_every)
        self.patience = _count("patience", patience)
        self.min_improvement = float(min_improvement)
        self.stability_threshold = float(stability_threshold)
        X, params = prepare(X, replace(params, n_components=1, continued_at=()), check_k=False)
        self.ks = parse_ks(ks, *X.shape)
        self.X = X
        self.params = params
        self.seed = int(params.seed)  # type: ignore[arg-type]  # resolved by prepare
        self.mask = mask
        self._cancel = cancel if cancel is not None else threading.Event()
        self._rows: list[RankRow] = []
        self._started = False
        self._complete = False
        n_fits = self.reps * self.restarts
        self._weights = {k: k * n_fits for k in self.ks}
        self._total = float(sum(self._weights.values()))

    # -- results -------------------------------------------------------------------
    @property
    def rows(self) -> tuple[RankRow, ...]:
        return tuple(self._rows)

    def result(self) -> RankResult:
        """The rows so far with the suggestion (``complete`` False if cancelled or
        not run to the end)."""
        rows = tuple(self._rows)
        return RankResult(
            rows=rows,
            suggested_k=suggest_k(rows, self.reps, self.stability_threshold),
            rule=suggestion_rule(self.stability_threshold),
            params=replace(self.params, n_components=self.ks[-1]),
            reps=self.reps,
            restarts=self.restarts,
            holdout=self.holdout,
            seed=self.seed,
            complete=self._complete,
            settings={
                "eval_every": self.eval_every,
                "patience": self.patience,
                "min_improvement": self.min_improvement,
                "stability_threshold": self.stability_threshold,
                "warm_start": WARM_START,
                "error": ERROR_DEFINITION,
            },
        )

    def __iter__(self) -> Iterator[RankProgress | RankRow]:
        if self._started:
            raise RuntimeError("a RankSweep is iterated once; make a new one")
        self._started = True
        return self._sweep()

    # -- the sweep ------------------------------------------------------------------
    def _splits(self) -> list[tuple[Mask | None, Mask | None]]:
        if self.holdout == 0:
            return [(self.mask, None)] * self.reps
        from .nmf.mask import split_holdout

        shape = self.X.shape
        seeds = np.random.SeedSequence(self.seed).generate_state(self.reps)
        return [split_holdout(shape, self.holdout, int(s), within=self.mask) for s in seeds]

    def _sweep(self) -> Iterator[RankProgress | RankRow]:
        splits = self._splits()
        chains: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        done = 0.0
        for k in self.ks:
            t0 = time.perf_counter()
            fits: list[_Fit] = []
            for rep, (train, test) in enumerate(splits):
                for restart in range(self.restarts):
                    if self._cancel.is_set():
                        return
                    fit = None
                    for item in self._fit(k, rep, restart, train, test, chains, done):
                        if isinstance(item, _Fit):
                            fit = item
                        else:
                            yield item
                    if fit is None:  # cancelled mid-fit
                        return
                    fits.append(fit)
                    chains[rep, restart] = (fit.W, fit.H)
                    done += k
            row = self._row(k, fits, time.perf_counter() - t0)
            self._rows.append(row)
            yield row
        self._complete = True

    def _seed(self, rep: int, restart: int, k: int) -> int:
        ss = np.random.SeedSequence([self.seed, rep, restart, k])
        return int(ss.generate_state(1)[0])

    def _start(
        self, k: int, rep: int, restart: int, chains: dict[tuple[int, int], Any]
    ) -> tuple[NMFParams, np.ndarray | None, np.ndarray | None]:
        """(params, W0, H0) of fit (k, rep, restart): a warm start from the chain's
        previous k plus new random components, or a seeded init."""
        from .nmf.initialize import initialize

        p = replace(self.params, n_components=k, seed=self._seed(rep, restart, k))
        previous = chains.get((rep, restart))
        if previous is None:
            init = p.init if p.init in SEEDED_INITS else "random"
            return replace(p, init=init), None, None
        W_prev, H_prev = previous
        new = k - H_prev.shape[0]
        # the new components: a seeded random init of size `new` (sqrt(mean(X) / new) scale)
        W_new, H_new = initialize(self.X, new, "random", seed=p.seed or 0, dtype=self.X.dtype)
        W0 = np.ascontiguousarray(np.hstack([W_prev, W_new]), dtype=self.X.dtype)
        H0 = np.ascontiguousarray(np.vstack([H_prev, H_new]), dtype=self.X.dtype)
        return replace(p, init="custom"), W0, H0

    def _fit(
        self,
        k: int,
        rep: int,
        restart: int,
        train: Mask | None,
        test: Mask | None,
        chains: dict[tuple[int, int], Any],
        done: float,
    ) -> Iterator[RankProgress | _Fit]:
        params, W0, H0 = self._start(k, rep, restart, chains)
        masked: dict[str, Any] = {} if train is None else {"mask": train}
        run = NMFRun(self.X, params, W0=W0, H0=H0, cancel=self._cancel, **masked)
        beta = params.beta
        n_test = _entries(test) if test is not None else 0
        best_test, best_state, since = math.inf, None, 0
        last = None
        weight = float(k)
        for state in run:
            last = state
            if state.stop_reason == "cancelled":
                return
            evaluate = test is not None and (
                state.iteration % self.eval_every == 0 or state.stop_reason is not None
            )
            if evaluate:
                assert test is not None
                from .nmf.mask import loss_on

                err = loss_on(self.X, state.W, state.H, test, beta=beta) / n_test
                if err < best_test * (1.0 - self.min_improvement) or best_state is None:
                    best_test, best_state, since = err, state.snapshot(), 0
                else:
                    since += 1
                inner = state.iteration / (state.iteration + 50.0)
                yield RankProgress(
                    k, rep, restart, state.iteration, (done + weight * inner) / self._total
                )
                if since >= self.patience:
                    break
        if last is None:
            return
        if best_state is None:  # no holdout: the run's own last state
            best_state = last.snapshot()
        order = energy_order(best_state.W, best_state.H)
        W = np.ascontiguousarray(best_state.W[:, order])
        H = np.ascontiguousarray(best_state.H[order])
        if train is None:
            n_train = self.X.size
            train_loss = loss_on_all(self.X, W, H, beta)
        else:
            from .nmf.mask import loss_on

            n_train = _entries(train)
            train_loss = loss_on(self.X, W, H, train, beta=beta)
        yield _Fit(
            W=W,
            H=H,
            test=best_test if test is not None else math.nan,
            train=train_loss / n_train,
            loss=train_loss,
            iterations=int(last.iteration),
        )

    def _row(self, k: int, fits: list[_Fit], seconds: float) -> RankRow:
        if self.holdout > 0:
            per_rep = [
                float(np.mean([f.test for f in fits[r * self.restarts : (r + 1) * self.restarts]]))
                for r in range(self.reps)
            ]
            test_error = float(np.mean(per_rep))
            test_sd = float(np.std(per_rep, ddof=1)) if self.reps > 1 else math.nan
            best = min(fits, key=lambda f: f.test)
        else:
            test_error = test_sd = math.nan
            best = min(fits, key=lambda f: f.loss)
        others = [f for f in fits if f is not best]
        if others:
            cos = np.empty((len(others), k))
            for i, f in enumerate(others):
                m = match_components(best.H, f.H)
                cos[i, m.slots] = m.cosine  # slot j = the best fit's component j
            component = cos.mean(axis=0)
            stab_mean, stab_min = float(component.mean()), float(component.min())
        else:
            component = np.full(k, np.nan)
            stab_mean = stab_min = math.nan
        return RankRow(
            k=k,
            test_error=test_error,
            test_error_sd=test_sd,
            train_error=float(np.mean([f.train for f in fits])),
            stability_mean=stab_mean,
            stability_min=stab_min,
            component_stability=component,
            iterations=round(float(np.mean([f.iterations for f in fits]))),
            seconds=seconds,
            W=best.W,
            H=best.H,
        )


def _entries(mask: Mask) -> int:
    """Entries a mask uses (its weights' sum for a weighted one)."""
    used = getattr(mask, "n_used", None)
    if used is None:
        used = mask.observed_fraction * mask.shape[0] * mask.shape[1]
    return max(round(float(used)), 1)


def loss_on_all(X: np.ndarray, W: np.ndarray, H: np.ndarray, beta: float) -> float:
    """The unpenalised loss on every entry (mask.loss_on's convention), float64."""
    from .nmf.loss import beta_divergence

    return float(beta_divergence(X, W, H, beta))


def rank(X: npt.ArrayLike, ks: Any, params: NMFParams | None = None, **kw: Any) -> RankResult:
    """Run a k sweep to the end (:class:`RankSweep`) and return its result.

    ``params`` defaults to ``NMFParams(n_components=1)`` (Frobenius, HALS); ``kw``
    are RankSweep's (reps, restarts, holdout, mask, cancel, ...).
    """
    sweep = RankSweep(X, ks, params if params is not None else NMFParams(n_components=1), **kw)
    for _ in sweep:
        pass
    return sweep.result()
