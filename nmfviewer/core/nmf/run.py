"""The run driver: the one place that runs a solver to a stop.

:class:`NMFRun` prepares X, initialises the factors, drives a solver from the
registry (:mod:`.registry`) and applies the stop rule. Iterating it yields one
:class:`NMFState` per iteration; the last one carries the stop reason
(``state.STOP_REASONS``) and an evaluated loss. ``fit()``, ``solve_W()``, the
estimator, the window's worker and its session all run through it; the k
sweep, restarts and other engines are meant to as well (nothing here knows of
threads: a cancel token and the yielded states are the whole interface).

The stop rule, checked on every state (in this order):

- 'cancelled': ``cancel.is_set()`` (checked as each iteration arrives, so the
  state it stops at is one iteration after the token was set);
- 'loss_rising': the loss rose over the window by more than ``tol`` per
  iteration (``rel_change < -tol``): an unstable run, never called
  'converged'. A change within +-tol per iteration is the loss standing still
  at the tolerance asked for (the loss's own noise is kept well below tol,
  see ``_costs.loss_precision``);
- 'converged': the relative loss change per iteration over ``window``
  iterations is within +-``tol`` (tol=0 never converges);
- 'max_iter', 'time_budget' (seconds the run computed: pauses of the consumer
  do not count; the clock is injectable);
- 'collapsed' replaces any of these but 'cancelled' when the final model is
  all zero (``collapse.collapse_report``, e.g. a penalty that zeroed every
  component): ``NMFRun.collapse`` then holds the message.

A non-finite loss raises :class:`~nmfviewer.core.errors.NMFViewerError`.

Continuing a run (the window's "Continue +N") is a :class:`Resume`: the
solver restarts from the factors the run reached and runs exactly N more
iterations (the tol rule and the time budget do not stop it; cancel does).
States carry whole-run iteration numbers and elapsed times; the restart's
first state repeats the iteration it continues from (its loss, evaluated
afresh, replaces that entry of the history). The run's record
(:attr:`NMFRun.record`, ``FitResult.params``) lists the continuation points in
``NMFParams.continued_at`` with the total ``max_iter``: running that record
from the start replays the segments exactly, so a replay gives the same
factors as the continued run. Results are in energy order
(``match.energy_order``), so a continuation starts from energy-ordered factors:
the driver puts the factors in that order at every continuation point, of a
resumed run and of its replay alike (a no-op on a result's factors), and the
replay's iterates stay those of the continued run.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..errors import NMFViewerError, ParameterError
from ..params import NMFParams
from ._costs import loss_precision
from ._track import Tracker
from .collapse import STOP_COLLAPSED, CollapsedFitWarning, collapse_report
from .initialize import initialize
from .loss import Regularization
from .mask import Mask, as_mask
from .match import energy_order
from .prepare import prepare
from .registry import Iterate, SolverContext, get_solver
from .result import FitResult, loss_of
from .state import NMFState


class CancelToken(Protocol):
    """Anything with ``is_set()`` (a ``threading.Event``)."""

    def is_set(self) -> bool: ...


class StopRule:
    """The stop rule of one run segment over its own iterations and seconds.

    See the module docstring for the reasons and their order ('cancelled' is
    the driver's). ``rel_change`` is nan where the loss was not evaluated, so a
    solver that evaluates it only every few iterations converges only there.
    """

    def __init__(self, params: NMFParams):
        self.tol = params.tol
        self.max_iter = params.max_iter
        self.time_budget = params.time_budget

    def check(self, iteration: int, rel_change: float, elapsed: float) -> str | None:
        """The stop reason after ``iteration`` iterations and ``elapsed`` seconds
        of the segment, or None to go on."""
        if self.tol > 0 and iteration > 0 and not math.isnan(rel_change):
            if rel_change < -self.tol:
                return "loss_rising"
            if rel_change < self.tol:
                return "converged"
        if iteration >= self.max_iter:
            return "max_iter"
        if self.time_budget is not None and elapsed >= self.time_budget:
            return "time_budget"
        return None


@dataclass(frozen=True, eq=False)
class Resume:
    """Where a continued run picks up, and how far it goes.

    Parameters
    ----------
    W : ndarray, shape (n_images, k)
        The factors the run reached (copied by the driver).
    H : ndarray, shape (k, n_pixels)
    iteration : int
        The whole-run iteration of W and H.
    elapsed : float
        Seconds the run computed before.
    loss_history : ndarray, shape (iteration + 1,)
        The run's loss history so far (float64, nan where not evaluated).
    n_iter : int
        Iterations to run on, exactly.
    """

    W: np.ndarray
    H: np.ndarray
    iteration: int
    elapsed: float
    loss_history: np.ndarray = field(repr=False)
    n_iter: int

    def __post_init__(self) -> None:
        if int(self.n_iter) < 1:
            raise ParameterError(f"n_iter={self.n_iter!r} must be a whole number >= 1.")
        if np.shape(self.loss_history) != (int(self.iteration) + 1,):
            raise ParameterError(
                f"loss_history has shape {np.shape(self.loss_history)}; a run at iteration "
                f"{self.iteration} has {int(self.iteration) + 1} losses."
            )

    @classmethod
    def from_result(cls, result: FitResult, n_iter: int) -> Resume:
        """Continue ``result`` (whose ``params`` are the run's record) by ``n_iter``."""
        return cls(
            result.W, result.H, result.n_iter, result.elapsed, result.loss_history, int(n_iter)
        )


def _check_finite(loss: float, iteration: int) -> None:
    if not math.isfinite(loss):
        raise NMFViewerError(
            f"the loss became {loss} at iteration {iteration}; the data may be badly scaled.",
            field="dtype",
            suggestion="float64",
            hint="Try {option} or rescale X.",
        )


class NMFRun:
    """One NMF run: iterate it for its states; the last one says why it stopped.

    Parameters
    ----------
    X : array_like, shape (n_images, n_pixels)
        The data, >= 0 and finite. Converted to ``params.dtype`` once if needed;
        a C-contiguous array of that dtype is used as is, never copied.
    params : NMFParams
        The run's parameters; ``seed=None`` is resolved here (see ``params``).
        With ``resume``: the record of the run being continued
        (``FitResult.params``).
    W0 : ndarray, shape (n_images, k), optional
    H0 : ndarray, shape (k, n_pixels), optional
        Start factors: required for ``init='custom'``; given with another init
        they start the run from them.
    resume : Resume, optional
        Continue a run (instead of W0 / H0): exactly ``resume.n_iter`` more
        iterations from its factors.
    cancel : object with ``is_set()``, optional
        A ``threading.Event`` or alike; once set, the run stops with
        'cancelled' at the next state.
    clock : callable, optional
        Seconds, monotonic (``time.perf_counter``); tests inject a fake one.
        Only time spent computing counts (not time the consumer holds a state).
    update_H : bool, optional
        False keeps H0 fixed and solves for W only, from W0 (``solve_W``).
    mask : Mask or array_like, optional
        Fit only the entries the mask uses (weights in [0, 1], see
        :mod:`.mask`); the losses, the history and the stop rule are then the
        masked loss (``masked.py``). A mask that uses every entry runs the
        unmasked solver (the same iterates).

    Notes
    -----
    Errors in X or params raise here; initialisation runs on the first state.
    The yielded states' W and H are read-only views of the solver's buffers,
    valid until the next state is asked for (``state.snapshot()`` keeps one).
    An NMFRun is iterated once.
    """

    def __init__(
        self,
        X: npt.ArrayLike,
        params: NMFParams,
        *,
        W0: np.ndarray | None = None,
        H0: np.ndarray | None = None,
        resume: Resume | None = None,
        cancel: CancelToken | None = None,
        clock: Callable[[], float] = time.perf_counter,
        update_H: bool = True,
        mask: Mask | npt.ArrayLike | None = None,
    ) -> None:
        X, params = prepare(X, params, check_k=update_H)
        self.X = X
        #: the run's mask (None also when the mask given uses every entry fully)
        self.mask = _effective_mask(mask, X.shape)
        self.params = params
        self._W0, self._H0 = W0, H0
        self._cancel = cancel if cancel is not None else threading.Event()
        self._clock = clock
        self._update_H = bool(update_H)
        self._history: list[float] = []
        self._elapsed0 = 0.0
        self._last: NMFState | None = None
        #: set when the run stopped because its model became all zero ('collapsed'):
        #: the message says why (regularisation) and what to change
        self.collapse: CollapsedFitWarning | None = None
        self._started = False
        if resume is not None:
            if W0 is not None or H0 is not None:
                raise ParameterError("give the start factors as W0 / H0 or in resume, not both.")
            self._W0, self._H0 = _energy_ordered(resume.W, resume.H)
            start = int(resume.iteration)
            end = start + int(resume.n_iter)
            self._plan: list[tuple[int, int | None]] = [(start, end)]
            self._history = [float(v) for v in np.asarray(resume.loss_history, np.float64)]
            self._elapsed0 = float(resume.elapsed)
            self._record = replace(
                params,
                continued_at=(*params.continued_at, start),
                max_iter=end,
                time_budget=None,
            )
        elif params.continued_at and update_H:  # a continued run's record: replay it
            bounds = (0, *params.continued_at, params.max_iter)
            self._plan = list(itertools.pairwise(bounds))
            self._record = params
        else:
            self._plan = [(0, None)]
            self._record = params
        last_end = self._plan[-1][1]
        #: the whole-run iteration at which the run stops at the latest
        self.max_iter: int = params.max_iter if last_end is None else last_end

    # -- what a consumer reads ----------------------------------------------------
    @property
    def record(self) -> NMFParams:
        """The parameters that repeat this run from the start (``FitResult.params``)."""
        last = self._last
        if self._record.continued_at and last is not None and last.stop_reason == "cancelled":
            return replace(self._record, max_iter=last.iteration)
        return self._record

    @property
    def last(self) -> NMFState | None:
        """The last state yielded (a view: see the class notes)."""
        return self._last

    @property
    def done(self) -> bool:
        return self._last is not None and self._last.stop_reason is not None

    def loss_history(self) -> np.ndarray:
        """(iteration + 1,) float64 copy of the run's loss history so far."""
        return np.array(self._history, dtype=np.float64)

    def result(self) -> FitResult:
        """The FitResult of the finished run (factors copied)."""
        if not self.done:
            raise RuntimeError("the run has not stopped yet; iterate it to the end first")
        assert self._last is not None
        return FitResult.from_state(
            self._last, self._history, self.record, collapse=self.collapse, order=self._update_H
        )

    def __iter__(self) -> Iterator[NMFState]:
        if self._started:
            raise RuntimeError("an NMFRun is iterated once; make a new one")
        self._started = True
        return self._states()

    # -- the loop -------------------------------------------------------------------
    def _start_factors(self) -> tuple[np.ndarray, np.ndarray]:
        p, X = self.params, self.X
        if not self._update_H:
            if self._W0 is None or self._H0 is None:
                raise ParameterError("update_H=False needs both W0 and H0.")
            return self._W0, self._H0
        # W0 / H0 given (a resume, or init='custom'): used as they are (copied)
        return initialize(
            X,
            p.n_components,
            p.init,
            seed=_seed(p),
            dtype=X.dtype,
            W0=self._W0,
            H0=self._H0,
            beta=p.beta,
        )

    def _states(self) -> Iterator[NMFState]:
        X, p, clock, cancel = self.X, self.params, self._clock, self._cancel
        history = self._history
        iterate = _iterate_for(p, self.mask)
        t = clock()
        W, H = self._start_factors()
        busy = self._elapsed0 + (clock() - t)
        for index, (start, end) in enumerate(self._plan):
            final = index == len(self._plan) - 1
            if index > 0:  # a continuation point: restart from the factors reached
                t = clock()
                W, H = _energy_ordered(W, H)  # as the result continued from was
                W, H = initialize(
                    X, p.n_components, "custom", seed=_seed(p), dtype=X.dtype, W0=W, H0=H
                )
                busy += clock() - t
            rule = StopRule(p) if end is None else None
            solver = iterate(X, W, H, solver_context(X, p, update_H=self._update_H))
            try:
                while True:
                    t = clock()
                    state = next(solver)
                    busy += clock() - t
                    it = start + state.iteration
                    loss = math.nan if state.loss is None else state.loss
                    if state.iteration == 0 and len(history) > start:
                        history[start] = loss  # a restart repeats the iteration it continues
                    else:
                        history.append(loss)
                    if state.loss is not None:
                        _check_finite(state.loss, it)
                    if cancel.is_set():
                        reason: str | None = "cancelled"
                    elif rule is None:
                        reason = "max_iter" if it >= end else None  # type: ignore[operator]
                    else:
                        reason = rule.check(
                            state.iteration, state.rel_change, busy - self._elapsed0
                        )
                    if reason == "max_iter" and not final:
                        W, H = state.W, state.H  # copied by the restart's initialize
                        break
                    # whole-run iteration and seconds (built directly: cheaper than replace)
                    state = NMFState(it, state.W, state.H, state.loss, state.rel_change, busy)
                    if reason is not None:
                        if state.loss is None:  # the last state shows a real loss
                            t = clock()
                            history[-1] = loss_of(X, state, p)
                            busy += clock() - t
                            _check_finite(history[-1], it)
                        if reason != "cancelled":
                            # a model that explains nothing has not converged
                            self.collapse = collapse_report(
                                state.W, state.H, p, x_max=float(X.max())
                            )
                            if self.collapse is not None:
                                reason = STOP_COLLAPSED
                        state = replace(state, loss=history[-1], stop_reason=reason, elapsed=busy)
                        self._last = state
                        yield state
                        return
                    self._last = state
                    yield state
            finally:
                solver.close()


def _energy_ordered(W: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W (n_images, k) and H (k, n_pixels) in energy order (copies); factors that
    do not fit together are returned as they are (``initialize`` says what is wrong)."""
    W, H = np.asarray(W), np.asarray(H)
    if W.ndim != 2 or H.ndim != 2 or W.shape[1] != H.shape[0]:
        return W, H
    order = energy_order(W, H)
    return W[:, order], H[order]


def _effective_mask(mask: Mask | npt.ArrayLike | None, shape: tuple[int, ...]) -> Mask | None:
    checked = as_mask(mask, (shape[0], shape[1]))
    if checked is None or (checked.is_binary and checked.n_missing == 0):
        return None
    return checked


def _iterate_for(params: NMFParams, mask: Mask | None) -> Iterate:
    """The solver's iterate: the registry's, or its masked form (``masked.py``)."""
    if mask is None:
        return get_solver(params.solver).iterate
    from .masked import masked_solver

    return masked_solver(params.solver, mask)


def _seed(params: NMFParams) -> int:
    """The seed of params as :func:`.prepare.prepare` resolved it (never None here)."""
    if params.seed is None:
        raise ValueError("params.seed is not resolved: pass the params through prepare() first")
    return params.seed


def solver_context(X: np.ndarray, params: NMFParams, *, update_H: bool = True) -> SolverContext:
    """The SolverContext of a run of ``params`` on X (n_images, n_pixels)."""
    return SolverContext(
        reg=Regularization.from_params(params, *X.shape),
        tracker=Tracker(params.window),
        precision=loss_precision(params.tol, params.window),
        window=params.window,
        beta=params.beta,
        hals_variant=params.hals_variant,
        update_H=update_H,
    )


def iterate_states(
    X: np.ndarray,
    params: NMFParams,
    W0: np.ndarray | None = None,
    H0: np.ndarray | None = None,
    mask: Mask | npt.ArrayLike | None = None,
) -> Iterator[NMFState]:
    """The solver's raw states for iteration 0, 1, 2, ... forever (no stop rule).

    X and params as :func:`.prepare.prepare` returns them; W0 (n_images, k),
    H0 (k, n_pixels) and mask as for :class:`NMFRun`. Initialisation runs on
    the first ``next()``.
    """
    iterate = _iterate_for(params, _effective_mask(mask, X.shape))
    W, H = initialize(
        X,
        params.n_components,
        params.init,
        seed=_seed(params),
        dtype=X.dtype,
        W0=W0,
        H0=H0,
        beta=params.beta,
    )
    yield from iterate(X, W, H, solver_context(X, params))
