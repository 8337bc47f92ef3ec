"""Which k? A cross-validated rank sweep with restart stability.

For each k of a sweep, :class:`RankSweep` runs ``reps`` x ``restarts`` fits through
the run driver (:class:`~.nmf.run.NMFRun`) and records:

- the **test error**: speckled masked-entry cross-validation (as RcppML does). Each
  repeat ``rep`` holds out a random ``holdout`` fraction of the entries of X
  (:func:`~.nmf.mask.split_holdout`; the same split for every k, so the curves
  compare like with like), fits the other entries only (a masked run), and
  measures the loss on the held-out entries (``loss_on``'s convention, evaluated
  by :class:`~.nmf.heldout.HeldOutLoss`). Errors
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
  the previous k's best factors plus ``k - k_prev`` new components, each the
  rank-one non-negative fit of the positive part of the residual on the training
  entries (:func:`~.nmf.grow.grow`: three power iterations, three passes over X; the
  held-out entries never enter a start). Up to the data's rank this reaches the
  cold starts' test error in fewer iterations; beyond it the new component starts
  on the training residual, which is noise there, so the warm test error rises
  at least as fast as a cold start's (a sharper minimum).
- **early stopping on the test error**: every ``eval_every`` iterations the
  held-out loss is evaluated (one GEMM per row block, the held-out entries picked
  from it); a fit stops once its best held-out loss improved by at most
  ``min_improvement`` (relative, 0.1%) over the last ``patience`` (4)
  evaluations, and keeps its best iterate. The run's own stop rule (tol,
  max_iter, time budget) still applies.

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
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .errors import ParameterError
from .nmf.match import energy_order, match_components
from .nmf.prepare import prepare
from .nmf.run import CancelToken, NMFRun
from .params import NMFParams
from .rank_export import write_rank
from .rank_result import (
    STABILITY_THRESHOLD,
    RankProgress,
    RankResult,
    RankRow,
    check_count,
    check_holdout,
    parse_ks,
    suggest_k,
    suggestion_rule,
)
from .threads import ensure_blas_threads

if TYPE_CHECKING:
    from .nmf.heldout import HeldOutLoss
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

#: early stopping: evaluate the held-out loss every EVAL_EVERY iterations and stop a
#: fit once its best improved by at most MIN_IMPROVEMENT (relative) over the last
#: PATIENCE evaluations (0.1% over 20 iterations)
EVAL_EVERY = 5
MIN_IMPROVEMENT = 1e-3
PATIENCE = 4
#: how each k after the first starts (rank.json records it)
WARM_START = (
    "each (rep, restart) chain starts its first k from a seeded random init and every "
    "further k from the previous k's best factors plus new components, each the rank-one "
    "non-negative fit (three power iterations) of the positive residual on the training entries"
)
COLD_START = "every fit starts from a seeded random init"

#: what the errors are (rank.json records it)
ERROR_DEFINITION = (
    "loss per entry, unpenalised: 0.5 * mean squared residual (Frobenius) or the mean "
    "beta-divergence (KL, IS), over the held-out entries (test) or the fitted ones (train)"
)
#: seeded inits: restarts differ; any other init is replaced by 'random' (see the notes)
SEEDED_INITS = ("random", "nndsvdar")


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
    warm_start : bool, optional
        Start each k from the previous k's factors (default; see the notes);
        False starts every fit from a seeded random init.

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
        warm_start: bool = True,
    ) -> None:
        if not isinstance(params, NMFParams):
            raise ParameterError(f"params must be an NMFParams, got {type(params).__name__}.")
        self.reps = check_count("reps", reps)
        self.restarts = check_count("restarts", restarts)
        self.holdout = check_holdout(holdout)
        self.eval_every = check_count("eval_every", eval_every)
        self.patience = check_count("patience", patience)
        self.min_improvement = float(min_improvement)
        self.stability_threshold = float(stability_threshold)
        self.warm_start = bool(warm_start)
        X, params = prepare(X, replace(params, n_components=1, continued_at=()), check_k=False)
        self.ks = parse_ks(ks, *X.shape)
        self.X = X
        self.params = params
        self.seed = int(params.seed)  # type: ignore[arg-type]  # resolved by prepare
        if mask is not None:
            from .nmf.mask import as_mask

            mask = as_mask(mask, X.shape)
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
                "warm_start": WARM_START if self.warm_start else COLD_START,
                "error": ERROR_DEFINITION,
            },
        )

    def __iter__(self) -> Iterator[RankProgress | RankRow]:
        if self._started:
            raise RuntimeError("a RankSweep is iterated once; make a new one")
        self._started = True
        ensure_blas_threads(self.X.shape, max(self.ks))  # the API's policy, as fit()'s
        return self._sweep()

    # -- the sweep ------------------------------------------------------------------
    def _splits(self) -> list[tuple[Mask | None, HeldOutLoss | None]]:
        """Per repeat: (the training mask, the held-out loss), the same for every k."""
        if self.holdout == 0:
            return [(self.mask, None)] * self.reps
        from .nmf.heldout import HeldOutLoss
        from .nmf.mask import split_holdout

        shape = self.X.shape
        seeds = np.random.SeedSequence(self.seed).generate_state(self.reps)
        splits: list[tuple[Mask | None, HeldOutLoss | None]] = []
        for s in seeds:
            train, test = split_holdout(shape, self.holdout, int(s), within=self.mask)
            splits.append((train, HeldOutLoss(self.X, test, beta=self.params.beta)))
        return splits

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
        self,
        k: int,
        rep: int,
        restart: int,
        chains: dict[tuple[int, int], Any],
        train: Mask | None,
    ) -> tuple[NMFParams, np.ndarray | None, np.ndarray | None]:
        """(params, W0, H0) of fit (k, rep, restart): a warm start from the chain's
        previous k plus new components fitted to its residual, or a seeded init."""
        from .nmf.grow import grow

        p = replace(self.params, n_components=k, seed=self._seed(rep, restart, k))
        previous = chains.get((rep, restart)) if self.warm_start else None
        if previous is None:
            init = p.init if p.init in SEEDED_INITS else "random"
            return replace(p, init=init), None, None
        W_prev, H_prev = previous
        W0, H0 = grow(self.X, W_prev, H_prev, k, mask=train)
        return replace(p, init="custom"), W0, H0

    def _fit(
        self,
        k: int,
        rep: int,
        restart: int,
        train: Mask | None,
        test: HeldOutLoss | None,
        chains: dict[tuple[int, int], Any],
        done: float,
    ) -> Iterator[RankProgress | _Fit]:
        params, W0, H0 = self._start(k, rep, restart, chains, train)
        masked: dict[str, Any] = {} if train is None else {"mask": train}
        run = NMFRun(self.X, params, W0=W0, H0=H0, cancel=self._cancel, **masked)
        beta = params.beta
        n_test = max(test.n_entries, 1.0) if test is not None else 1.0
        best_test, best_state = math.inf, None
        bests: list[float] = []  # the best held-out loss after each evaluation
        last = None
        weight = float(k)
        for state in run:
            last = state
            if state.stop_reason == "cancelled":
                return
            if state.iteration % self.eval_every and state.stop_reason is None:
                continue
            stop = False
            if test is not None:  # early stopping on the held-out loss
                err = test(state.W, state.H) / n_test
                if err < best_test or best_state is None:
                    best_test, best_state = err, state.snapshot()
                bests.append(best_test)
                # stop once the best improved by less than min_improvement (relative)
                # over the last `patience` evaluations
                if len(bests) > self.patience:
                    gain = bests[-1 - self.patience] - best_test
                    stop = gain <= self.min_improvement * best_test
            inner = state.iteration / (state.iteration + 50.0)
            fraction = (done + weight * inner) / self._total
            yield RankProgress(k, rep, restart, state.iteration, fraction)
            if stop:
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
