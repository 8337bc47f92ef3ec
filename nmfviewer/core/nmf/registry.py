"""The solvers: one signature, one list.

Every solver is a generator ``iterate(X, W, H, ctx) -> Iterator[NMFState]``:
X (n_images, n_pixels) C-contiguous, W (n_images, k) and H (k, n_pixels) the
start factors in X's dtype, ``ctx`` a :class:`SolverContext`. It yields the
state after 0, 1, 2, ... iterations, forever; it knows nothing of stopping,
threads or progress (the run driver, :mod:`.run`, does that).

``SOLVERS`` lists them with the losses they minimise and a one-line
description; parameter validation, the CLI help, the window's solver list and
the estimator read it. Importing this module is cheap: a solver's module (and
numba) is imported when its ``iterate`` is first used.

To add a solver: write ``iterate_<name>(X, W, H, ctx)`` in its own module of
``nmfviewer/core/nmf/`` and add one :class:`SolverInfo` line below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from ._track import Tracker
    from .loss import Regularization
    from .state import NMFState


@dataclass(frozen=True)
class SolverContext:
    """What a solver needs besides the factors; built by the run driver.

    Parameters
    ----------
    reg : Regularization
        Scaled penalty weights (scikit-learn's scaling).
    tracker : Tracker
        Builds the yielded states (relative change over ``window``).
    precision : float
        Relative accuracy the reported loss needs for the stop rule
        (``_costs.loss_precision``).
    window : int
        Iterations the stop rule looks back over.
    beta : float
        2 Frobenius, 1 Kullback-Leibler, 0 Itakura-Saito.
    hals_variant : str
        'auto', 'plain' or 'accelerated' (HALS only).
    update_H : bool
        False keeps H fixed and solves for W only (``NMF.transform``).
    """

    reg: Regularization
    tracker: Tracker
    precision: float
    window: int
    beta: float = 2.0
    hals_variant: str = "auto"
    update_H: bool = True


#: a solver is a generator (the run driver closes it when it stops)
Iterate = Callable[
    ["np.ndarray", "np.ndarray", "np.ndarray", SolverContext], Generator["NMFState", None, None]
]


@dataclass(frozen=True)
class SolverInfo:
    """One solver: its name, a short label for lists, the losses it minimises, a
    one-line description, and where its ``iterate`` lives."""

    name: str
    label: str
    losses: tuple[str, ...]
    description: str
    module: str  # submodule of nmfviewer.core.nmf
    function: str

    @property
    def iterate(self) -> Iterate:
        """The solver's ``iterate(X, W, H, ctx)`` (imports its module on first use)."""
        module = importlib.import_module(f"{__package__}.{self.module}")
        fn: Iterate = getattr(module, self.function)
        return fn


#: name -> SolverInfo, in the order front ends list them (the first is the default)
SOLVERS: MappingProxyType[str, SolverInfo] = MappingProxyType(
    {
        "hals": SolverInfo(
            "hals",
            "HALS (Frobenius)",
            ("frobenius",),
            "hierarchical alternating least squares (scikit-learn's 'cd'), accelerated on "
            "large problems; Frobenius loss only",
            "hals",
            "iterate_hals",
        ),
        "mu": SolverInfo(
            "mu",
            "Multiplicative updates",
            ("frobenius", "kl", "is"),
            "multiplicative updates (Lee & Seung; Fevotte & Idier), any loss",
            "mu",
            "iterate_mu",
        ),
    }
)


#: the registry under the name nmfviewer.core exports it
SOLVER_REGISTRY = SOLVERS


def get_solver(name: str) -> SolverInfo:
    """The registry entry of solver ``name`` (KeyError naming the known ones)."""
    try:
        return SOLVERS[name]
    except KeyError:
        raise KeyError(f"no solver {name!r}; known: {', '.join(SOLVERS)}") from None


def solvers_for(loss: str) -> tuple[str, ...]:
    """Names of the solvers that minimise ``loss`` ('frobenius', 'kl', 'is')."""
    return tuple(name for name, info in SOLVERS.items() if loss in info.losses)
