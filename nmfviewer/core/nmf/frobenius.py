"""The alternating loop shared by the Frobenius solvers (HALS, Frobenius MU).

The factors are kept as Wt (k, n_images) and H (k, n_pixels), C-contiguous.
One iteration forms ``A = H X^T`` (see ``products.HXt``) and ``C = Wt X`` into
preallocated buffers, the two k x k Gram matrices ``B = H H^T`` and
``D = Wt Wt^T``, and hands them to the solver's two update functions; the loss
comes by the trace trick from the same products (``loss.FrobeniusLoss``).
X is never copied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from .loss import FrobeniusLoss
from .products import HXt

if TYPE_CHECKING:
    from .loss import Regularization
    from .registry import SolverContext
    from .state import NMFState

#: update(F, num, gram): F (k, p) in place, from num (k, p) = the factor's
#: product with X and gram (k, k) = the other factor's Gram matrix
Update = Callable[[np.ndarray, np.ndarray, np.ndarray], None]
#: make_updates(k, n, m, dtype, reg) -> (update of Wt (k, n), update of H (k, m))
MakeUpdates = Callable[[int, int, int, np.dtype, "Regularization"], tuple[Update, Update]]


def iterate_frobenius(
    X: np.ndarray, W: np.ndarray, H: np.ndarray, ctx: SolverContext, make_updates: MakeUpdates
) -> Iterator[NMFState]:
    """Yield NMFState for iterations 0, 1, 2, ... of an alternating Frobenius solver.

    Parameters
    ----------
    X : ndarray, shape (n_images, n_pixels)
        C-contiguous data, never written.
    W : ndarray, shape (n_images, k)
        Start weights in X's dtype (copied into Wt).
    H : ndarray, shape (k, n_pixels)
        Start basis in X's dtype, C-contiguous; updated in place.
    ctx : SolverContext
        Penalties, state tracker, loss precision; ``ctx.update_H=False`` keeps
        H fixed and solves for W only.
    make_updates : callable
        ``make_updates(k, n, m, dtype, reg) -> (update_W, update_H)``, each
        ``update(F, num, gram)`` updating F in place (see ``Update``).
    """
    n, m = X.shape
    k = H.shape[0]
    dt = X.dtype
    reg = ctx.reg
    update_H = ctx.update_H
    Wt = np.ascontiguousarray(W.T)  # (k, n)
    A = np.empty((k, n), dtype=dt)  # H X^T
    hxt = HXt(X, k)
    C = np.empty((k, m), dtype=dt)  # Wt X
    B = np.empty((k, k), dtype=dt)  # H H^T
    D = np.empty((k, k), dtype=dt)  # Wt Wt^T
    up_W, up_H = make_updates(k, n, m, dt, reg)
    frob = FrobeniusLoss(X, ctx.precision, k, ctx.window)
    tracker = ctx.tracker

    def loss() -> float:
        return frob.objective(reg, A, Wt, C if update_H else None, H, B, D)

    hxt(H, A)
    frob.gram(H, B, "H")
    frob.gram(Wt, D, "W")
    if update_H:
        np.matmul(Wt, X, out=C)
    yield tracker.state(0, Wt.T, H, loss())
    it = 0
    while True:
        it += 1
        up_W(Wt, A, B)
        frob.gram(Wt, D, "W")
        if update_H:
            np.matmul(Wt, X, out=C)
            up_H(H, C, D)
            hxt(H, A)
            frob.gram(H, B, "H")
        yield tracker.state(it, Wt.T, H, loss())
