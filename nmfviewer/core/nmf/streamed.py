"""The streamed engine: a fit over row blocks of X read from a store, on one machine.

``NMFRun(store_X, params)`` (a :class:`~nmfviewer.core.store.StoreMatrix`, as
``Collection.to_matrix()`` returns for a store) or ``NMFRun(X, params,
engine=StreamedEngine(max_memory=...))`` runs it. Plain HALS and Frobenius MU
read each block once per iteration (:mod:`.blocked`: the same iterates as in
memory); KL and Itakura-Saito MU run the in-memory solver, whose passes over
X already go in row blocks, on the lazy X.

Memory: W and H, a few products of their size, and a few blocks of X (the
block being used and the next one, read ahead by one thread while the current
one is multiplied): independent of the number of images. With ``max_memory``
the block is the largest whole number of the store's chunks that fits.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ParameterError
from ..params import NMFParams
from .blocked import BlockStep, HalfStep, Partials, check_blocked_params, check_stats
from .prepare import check_X, resolve_seed

if TYPE_CHECKING:
    from .registry import SolverContext
    from .state import NMFState

#: a block aims at this many bytes when no memory limit is given
BLOCK_BYTES = 32 << 20
#: blocks alive at once: the current one, the one read ahead, the reader's buffer
BLOCKS_IN_FLIGHT = 3


class ArrayMatrix:
    """An in-memory X (n, m) seen as row blocks (the engines' view of a plain array)."""

    def __init__(self, X: np.ndarray, chunk_rows: int | None = None) -> None:
        self.X = X
        self.shape = X.shape
        self.dtype = X.dtype
        self.itemsize = X.itemsize
        self.size = X.size
        self.ndim = 2
        self.chunk_rows = chunk_rows or max(1, (8 << 20) // max(1, X.shape[1] * X.itemsize))
        self.path = None

    def read(self, r0: int, r1: int, dtype: Any = None) -> np.ndarray:
        return self.X[r0:r1]

    def blocks(self, rows: int | None = None) -> list[tuple[int, int]]:
        step = rows or self.chunk_rows
        n = self.shape[0]
        return [(r0, min(n, r0 + step)) for r0 in range(0, n, step)]


def as_blocks(X: Any, dtype: np.dtype) -> Any:
    """X as the engines read it: a StoreMatrix (its values checked from the
    statistics) or an in-memory array (checked by ``check_X``, never copied)."""
    if hasattr(X, "stats") and hasattr(X, "blocks"):
        s = X.stats()
        check_stats(s.min, s.max, s.nonfinite, str(X.path))
        if np.dtype(dtype) != X.dtype:
            X.dtype = np.dtype(dtype)  # blocks are converted as they are read
        return X
    return ArrayMatrix(check_X(X, dtype))


def squared_norm(X: Any) -> float:
    if isinstance(X, ArrayMatrix):
        from .loss import sqnorm

        return sqnorm(X.X)
    return float(X.stats().sqnorm)


@dataclass
class StreamedEngine:
    """Fit X block by block on this machine (see the module docstring).

    Parameters
    ----------
    max_memory : int, optional
        Bytes the fit may hold (W, H, products and blocks); None: blocks of
        about 32 MB. Too small for one chunk of the store: ParameterError.
    block_rows : int, optional
        Rows per block (rounded to whole chunks of a store); overrides max_memory.
    """

    max_memory: int | None = None
    block_rows: int | None = None
    name = "streamed"

    def __post_init__(self) -> None:
        self.rows: int | None = None
        self.X: Any = None
        self.solver = "hals"

    # -- the run driver's interface ------------------------------------------------
    def prepare(self, X: Any, params: NMFParams, *, check_k: bool = True) -> tuple[Any, NMFParams]:
        """(X as blocks, params with the seed resolved and the HALS variant recorded)."""
        if not isinstance(params, NMFParams):
            raise ParameterError(f"params must be an NMFParams, got {type(params).__name__}.")
        params = check_blocked_params(params, self.name, beta_ok=True)
        blocks = as_blocks(X, np.dtype(params.dtype))
        X = blocks.X if isinstance(blocks, ArrayMatrix) else blocks  # what the driver reads
        if check_k:
            params.check_data_shape(*X.shape)
        self.X, self.solver = blocks, params.solver
        self.rows = self._block_rows(blocks, params.n_components)
        return X, resolve_seed(params)

    def describe(self) -> dict[str, Any]:
        store = getattr(self.X, "path", None)
        return {
            "engine": self.name,
            "store": None if store is None else str(store),
            "block_rows": self.rows,
            "max_memory": self.max_memory,
            "workers": 1,
        }

    def final_state(self, state: NMFState) -> NMFState:
        return state

    def close(self) -> None:
        pass

    def _block_rows(self, X: Any, k: int) -> int:
        n, m = X.shape
        chunk = min(n, int(X.chunk_rows))
        item = np.dtype(X.dtype).itemsize
        if self.block_rows is not None:
            return int(max(chunk, -(-int(self.block_rows) // chunk) * chunk))
        if self.max_memory is None:
            return int(chunk * max(1, BLOCK_BYTES // max(1, chunk * m * item)))
        # W (and its transpose, a W-sized A_b), H with C, its float64 sums and copies
        fixed = 3 * n * k * item + 8 * k * m * 8 + (1 << 20)
        per_row = m * item * BLOCKS_IN_FLIGHT + 2 * k * item
        room = self.max_memory - fixed
        if room < per_row * chunk:
            need = fixed + per_row * chunk
            raise ParameterError(
                f"a fit of {n} x {m} with k={k} in blocks of {chunk} rows (the store's chunks) "
                f"needs about {need / 2**20:.0f} MB; the memory limit is "
                f"{self.max_memory / 2**20:.0f} MB. Raise the limit, or convert the images "
                "again with smaller chunks.",
                field="max_memory_bytes",
                value=self.max_memory,
                suggestion=math.ceil(need / 2**20) << 20,
            )
        return int(chunk * max(1, int(room // (per_row * chunk))))

    # -- the solver ---------------------------------------------------------------------
    def iterate(
        self, X: Any, W: np.ndarray, H: np.ndarray, ctx: SolverContext
    ) -> Generator[NMFState, None, None]:
        """Yield NMFState for iterations 0, 1, ... (a solver of the registry's signature)."""
        X = self.X if isinstance(X, np.ndarray) else X  # the blocks of the X prepared
        if ctx.beta != 2:
            from .mu import iterate_mu  # its passes over X go in row blocks already

            return iterate_mu(X, W, H, ctx)  # type: ignore[return-value]
        return self._iterate(X, W, H, ctx, self.solver)

    def _iterate(
        self, X: Any, W: np.ndarray, H: np.ndarray, ctx: SolverContext, solver: str
    ) -> Generator[NMFState, None, None]:
        n, m = X.shape
        k = H.shape[0]
        dt = np.dtype(X.dtype)
        rows = self.rows or X.chunk_rows
        blocks = X.blocks(rows)
        Wt = np.ascontiguousarray(W.T, dtype=dt)  # (k, n)
        H = np.ascontiguousarray(H, dtype=dt)
        half = HalfStep(solver, k, n, m, dt, ctx.reg, squared_norm(X))
        steps: dict[int, BlockStep] = {}
        wt_b = np.empty((k, rows), dtype=dt)
        tracker = ctx.tracker
        reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmf-block-reader")

        def read(i: int) -> Any:
            r0, r1 = blocks[i]
            return reader.submit(X.read, r0, r1, dt)

        def sweep(update_W: bool) -> Partials:
            """One pass over X: update W block by block (if asked), sum the partials."""
            part = Partials.zeros(k, m)
            B = half.B
            nxt = read(0)
            for i, (r0, r1) in enumerate(blocks):
                Xb = nxt.result()
                if i + 1 < len(blocks):
                    nxt = read(i + 1)
                r = r1 - r0
                w = wt_b[:, :r] if r == rows else np.empty((k, r), dtype=dt)
                np.copyto(w, Wt[:, r0:r1])
                if update_W:
                    step = steps.get(r)
                    if step is None:
                        step = steps[r] = BlockStep(solver, k, r, m, dt, ctx.reg)
                    C_b = step(Xb, w, H, B)
                    np.copyto(Wt[:, r0:r1], w)
                else:
                    C_b = w @ Xb
                part.add(C_b, w)
                del Xb
            return part

        try:
            half.gram_H(H)
            part = sweep(update_W=False)
            yield tracker.state(0, Wt.T, H, half.loss(part, H))
            it = 0
            while True:
                it += 1
                part = sweep(update_W=True)
                loss = half.step(part, H, ctx.update_H)
                yield tracker.state(it, Wt.T, H, loss)
        finally:
            reader.shutdown(wait=True, cancel_futures=True)
