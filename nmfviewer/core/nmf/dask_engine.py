"""The distributed engine: plain HALS / Frobenius MU on a Dask cluster.

``fit(X, params, engine=DaskEngine(client))``, X a store's lazy matrix or an
in-memory array; ``DaskEngine(address='tcp://host:8786')`` connects,
``DaskEngine(n_workers=N)`` starts a ``LocalCluster`` of N processes (and shuts
it down in :meth:`close`, also on Ctrl-C).

Design (the blocked iteration of :mod:`.blocked`):

- X's row blocks are loaded once, on the workers (read from the store by each
  worker, or scattered from memory) and stay there; so do the blocks of W^T.
- An iteration broadcasts H and B = H H^T (k x m + k x k) to the workers,
  runs one task per block (A_b = H X_b^T, the W_b update, C_b = W_b^T X_b) and
  one sum per block group (a group: the blocks first placed on one worker);
  the client gathers the groups' float64 sums (k x m + k x k + 1 each),
  updates H and computes the loss by the trace trick. Nothing of size n x m
  or n x k crosses the network per iteration.
- W is gathered when a run stops (:meth:`final_state`) and every
  ``sync_seconds`` (or ten times as long as the last gather took, so that
  gathers cost at most ~10% of the run whatever W's size); the states in
  between carry the W of the last gather (their H and loss are current).
  Each gather is a checkpoint.
- A lost worker (killed, disconnected) or an iteration that does not finish
  in time: the engine waits for workers, loads the blocks again, restores W
  and H from the checkpoint and repeats the iterations since (the same
  arithmetic in the same order: the same iterates), then goes on. No worker
  within ``worker_timeout`` seconds: NMFViewerError.

The per-block arithmetic and the order of every sum are fixed by the block
layout, not by the workers, so the iterates do not depend on the number of
workers nor on a recovery; they equal the in-memory ones to rounding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NMFViewerError, ParameterError
from ..params import NMFParams
from ..store import require
from .blocked import HalfStep, Partials, check_blocked_params
from .dask_tasks import block_init, block_step, first, group_sum, load_block
from .prepare import resolve_seed
from .streamed import ArrayMatrix, as_blocks, squared_norm

if TYPE_CHECKING:
    from .registry import SolverContext
    from .state import NMFState

#: a block aims at this many bytes (at least two blocks per worker when X allows)
BLOCK_BYTES = 32 << 20
#: seconds to wait for a scheduler to answer
CONNECT_SECONDS = 5.0


# -- client side ----------------------------------------------------------------------------
@dataclass
class DaskEngine:
    """Run a fit on a Dask cluster (see the module docstring).

    Parameters
    ----------
    client : distributed.Client, optional
        A connected client (the caller keeps it).
    address : str, optional
        'tcp://host:port' of a running scheduler (used when no client is given).
    n_workers : int, optional
        Start a LocalCluster of this many single-threaded worker processes on
        127.0.0.1 for the run (when neither client nor address is given).
    block_rows : int, optional
        Rows per block (whole chunks of a store); default about 32 MB, at least
        two blocks per worker where X allows.
    sync_seconds : float
        Gather W (a checkpoint, and the W the live states show) this often,
        at least ten times the last gather's duration apart.
    worker_timeout : float
        Seconds to wait for a worker (at start and after a loss).
    """

    client: Any = None
    address: str | None = None
    n_workers: int | None = None
    block_rows: int | None = None
    sync_seconds: float = 5.0
    worker_timeout: float = 30.0
    name = "dask"

    def __post_init__(self) -> None:
        self._own_client = self._cluster = None
        self.X: Any = None
        self.solver = "hals"
        self.recoveries = 0
        self._Wt: np.ndarray | None = None
        self._fresh: Any = None  # (iteration, futures) of the W blocks not yet gathered

    # -- the cluster ---------------------------------------------------------------------
    def start(self) -> Any:
        """Connect (or start the local cluster) and wait for a worker; returns the client."""
        if self.client is not None:
            return self.client
        distributed = require("distributed")
        require("dask")
        if self.address is None and self.n_workers is None:
            raise ParameterError("DaskEngine needs a client, a scheduler address or n_workers.")
        try:
            if self.address is not None:
                client = distributed.Client(self.address, timeout=CONNECT_SECONDS)
            else:
                self._cluster = distributed.LocalCluster(
                    n_workers=int(self.n_workers or 1),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",  # a free port: 8787 may be taken
                    silence_logs=logging.CRITICAL,  # a worker stopped at shutdown is no news
                )
                client = distributed.Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise NMFViewerError(
                f"cannot reach the Dask scheduler at {self.address} ({exc}); start one with "
                "`dask scheduler` and workers with `dask worker ADDRESS`, or run on a local "
                "cluster instead."
            ) from None
        self.client = self._own_client = client
        self._wait_for_workers()
        return client

    def _wait_for_workers(self) -> list[str]:
        try:
            self.client.wait_for_workers(1, timeout=self.worker_timeout)
        except (TimeoutError, OSError):
            where = self.address or "the local cluster"
            raise NMFViewerError(
                f"the Dask cluster at {where} has no workers (waited "
                f"{self.worker_timeout:g} s); start some with `dask worker {where}`."
            ) from None
        return sorted(self.client.scheduler_info(n_workers=-1)["workers"])

    def close(self) -> None:
        """Shut down what the engine started (its client and local cluster)."""
        for thing in (self._own_client, self._cluster):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # closing a broken cluster: nothing to keep
                    pass
        self._own_client = self._cluster = None
        if self.address is not None or self.n_workers is not None:
            self.client = None

    def __enter__(self) -> DaskEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        store = getattr(self.X, "path", None)
        workers = 0
        if self.client is not None:
            try:
                workers = len(self.client.scheduler_info(n_workers=-1)["workers"])
            except Exception:  # a cluster gone after the run
                workers = 0
        return {
            "engine": self.name,
            "store": None if store is None else str(store),
            "scheduler": self.address or ("local" if self.n_workers else None),
            "workers": workers,
            "block_rows": getattr(self, "rows", None),
            "recoveries": self.recoveries,
        }

    # -- the run driver's interface ---------------------------------------------------------
    def prepare(self, X: Any, params: NMFParams, *, check_k: bool = True) -> tuple[Any, NMFParams]:
        if not isinstance(params, NMFParams):
            raise ParameterError(f"params must be an NMFParams, got {type(params).__name__}.")
        params = check_blocked_params(params, "distributed")
        blocks = as_blocks(X, np.dtype(params.dtype))
        X = blocks.X if isinstance(blocks, ArrayMatrix) else blocks  # what the driver reads
        if check_k:
            params.check_data_shape(*X.shape)
        self.start()
        self.X, self.solver = blocks, params.solver
        self._layout(blocks)
        return X, resolve_seed(params)

    def final_state(self, state: NMFState) -> NMFState:
        """The state with the W of its own iteration (gathered now if need be)."""
        from dataclasses import replace

        self._sync()
        assert self._Wt is not None
        return replace(state, W=self._Wt.T)

    # -- blocks -------------------------------------------------------------------------------
    def _layout(self, X: Any) -> None:
        workers = self._wait_for_workers()
        n, m = X.shape
        chunk = min(n, int(X.chunk_rows))
        item = np.dtype(X.dtype).itemsize
        if self.block_rows is not None:
            rows = max(chunk, -(-int(self.block_rows) // chunk) * chunk)
        else:
            rows = chunk * max(1, BLOCK_BYTES // max(1, chunk * m * item))
            per_worker = -(-n // (2 * len(workers)))  # two blocks per worker at least
            rows = min(rows, max(chunk, -(-per_worker // chunk) * chunk))
        self.rows = rows
        self.blocks = X.blocks(rows)
        nb, nw = len(self.blocks), len(workers)
        # groups: contiguous runs of blocks, one per worker at the start; fixed for the run
        self.groups = [list(range(g * nb // nw, (g + 1) * nb // nw)) for g in range(nw)]
        self.groups = [g for g in self.groups if g]
        self._load(workers)

    def _load(self, workers: list[str]) -> None:
        """Put the blocks of X on the workers (group g on worker g mod workers)."""
        X, client = self.X, self.client
        self.home: dict[int, str] = {}
        for g, group in enumerate(self.groups):
            for b in group:
                self.home[b] = workers[g % len(workers)]
        futures = []
        for b, (r0, r1) in enumerate(self.blocks):
            where = [self.home[b]]
            if isinstance(X, ArrayMatrix):
                futures.append(client.scatter(X.X[r0:r1], workers=where, hash=False))
            else:
                futures.append(
                    client.submit(
                        load_block,
                        str(X.path.absolute()),
                        r0,
                        r1,
                        np.dtype(X.dtype).name,
                        workers=where,
                        allow_other_workers=True,
                        pure=False,
                    )
                )
        self.Xf = futures

    def _scatter_W(self, Wt: np.ndarray) -> list[Any]:
        return [
            self.client.scatter(
                np.ascontiguousarray(Wt[:, r0:r1]), workers=[self.home[b]], hash=False
            )
            for b, (r0, r1) in enumerate(self.blocks)
        ]

    def _round(
        self, prev: list[Any], shared: Any, reg: Any, init: bool
    ) -> tuple[list[Any], Partials]:
        """Submit one iteration's tasks; returns (the new W block futures, the sums)."""
        client = self.client
        if init:
            steps = [
                client.submit(block_init, x, w, workers=[self.home[b]], allow_other_workers=True)
                for b, (x, w) in enumerate(zip(self.Xf, prev, strict=True))
            ]
        else:
            steps = [
                client.submit(
                    block_step,
                    x,
                    w,
                    shared,
                    self.solver,
                    reg,
                    workers=[self.home[b]],
                    allow_other_workers=True,
                    pure=False,
                )
                for b, (x, w) in enumerate(zip(self.Xf, prev, strict=True))
            ]
        sums = [
            client.submit(
                group_sum,
                *[steps[b] for b in group],
                workers=[self.home[group[0]]],
                allow_other_workers=True,
                pure=False,
            )
            for group in self.groups
        ]
        done = require("distributed").wait(sums, timeout=self._timeout())
        if done.not_done:
            raise TimeoutError("an iteration did not finish in time")
        parts = client.gather(sums)
        total = parts[0]
        for p in parts[1:]:
            total += p
        return steps, total

    def _share(self, H: np.ndarray, half: HalfStep) -> Any:
        """H and B on every worker (one object: scatter would split a tuple)."""
        pair = (H.copy(), half.B.copy())
        return self.client.scatter([pair], broadcast=True, hash=False)[0]

    def _timeout(self) -> float:
        slow = getattr(self, "_slowest", 0.0)
        return max(self.worker_timeout, 20.0 * slow)

    def _sync(self) -> None:
        """Gather W^T from the workers into the client's copy (a checkpoint)."""
        if self._fresh is None:
            return
        it, steps, H = self._fresh
        started = time.monotonic()
        Wt = self._Wt
        assert Wt is not None
        pieces = self.client.gather([self.client.submit(first, s, pure=False) for s in steps])
        for (r0, r1), piece in zip(self.blocks, pieces, strict=True):
            Wt[:, r0:r1] = piece
        self._checkpoint = (it, Wt.copy(), H.copy())
        self._fresh = None
        self._synced_at = time.monotonic()
        self._sync_every = max(self.sync_seconds, 10.0 * (self._synced_at - started))

    # -- the solver ------------------------------------------------------------------------------
    def iterate(
        self, X: Any, W: np.ndarray, H: np.ndarray, ctx: SolverContext
    ) -> Generator[NMFState, None, None]:
        """Yield NMFState for iterations 0, 1, ... (a solver of the registry's signature)."""
        X = self.X if isinstance(X, np.ndarray) else X  # the blocks of the X prepared
        if self.client is None:
            raise RuntimeError("the DaskEngine was closed before the run")
        n, m = X.shape
        k = H.shape[0]
        dt = np.dtype(X.dtype)
        self._Wt = np.ascontiguousarray(W.T, dtype=dt)
        H = np.ascontiguousarray(H, dtype=dt)
        half = HalfStep(self.solver, k, n, m, dt, ctx.reg, squared_norm(X))
        tracker, reg = ctx.tracker, ctx.reg
        self._checkpoint = (0, self._Wt.copy(), H.copy())
        self._synced_at = time.monotonic()
        self._sync_every = self.sync_seconds
        self._slowest = 0.0

        def run(prev: list[Any], init: bool) -> tuple[list[Any], Partials]:
            shared = None
            if not init:
                shared = self._share(H, half)
            return self._round(prev, shared, reg, init)

        def attempt(prev: list[Any], it: int, init: bool) -> tuple[list[Any], Partials]:
            t0 = time.monotonic()
            while True:
                try:
                    out = run(prev, init)
                    self._slowest = max(self._slowest, time.monotonic() - t0)
                    return out
                except Exception as exc:  # any cluster failure: recover
                    if isinstance(exc, NMFViewerError):
                        raise
                    prev = self._recover_until_done(it, H, half, reg, exc, ctx.update_H)

        half.gram_H(H)
        steps, part = attempt(self._scatter_W(self._Wt), 0, True)
        self._fresh = None
        yield tracker.state(0, self._Wt.T, H, half.loss(part, H))
        it = 0
        while True:
            it += 1
            steps, part = attempt(steps, it, False)
            loss = half.step(part, H, ctx.update_H)
            self._fresh = (it, steps, H)
            if time.monotonic() - self._synced_at >= self._sync_every:
                self._sync()
            yield tracker.state(it, self._Wt.T, H, loss)

    def _recover_until_done(self, *args: Any) -> list[Any]:
        """:meth:`_recover`, again if the cluster fails during the recovery itself."""
        while True:
            try:
                return self._recover(*args)
            except Exception as exc:
                if isinstance(exc, NMFViewerError):
                    raise
                args = (*args[:4], exc, *args[5:])

    def _recover(
        self,
        it: int,
        H: np.ndarray,
        half: HalfStep,
        reg: Any,
        exc: Exception,
        update_H: bool = True,
    ) -> list[Any]:
        """After a failure in iteration ``it``: reload, restore the checkpoint, repeat the
        iterations since it; returns the W block futures of iteration it - 1."""
        self.recoveries += 1
        if self.recoveries > 20:
            raise NMFViewerError(
                f"the Dask cluster failed 20 times during the fit (last: {exc}); the last good "
                f"factors are those of iteration {self._checkpoint[0]}."
            )
        workers = self._wait_for_workers()
        self._load(workers)
        ck_it, Wt, H_ck = self._checkpoint
        np.copyto(H, H_ck)
        half.gram_H(H)
        prev = self._scatter_W(Wt)
        for _ in range(ck_it + 1, it):  # repeat the iterations since the checkpoint
            shared = self._share(H, half)
            prev, part = self._round(prev, shared, reg, False)
            half.step(part, H, update_H)
        self._fresh = None
        return prev


def engine_from_spec(scheduler: str | None, cluster: str | None) -> DaskEngine | None:
    """The engine of the command line's ``--scheduler ADDRESS`` / ``--cluster local:N``."""
    if scheduler is not None and cluster is not None:
        raise ParameterError(
            "give a scheduler address or a local cluster, not both.", field="scheduler"
        )
    if scheduler is not None:
        address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
        return DaskEngine(address=address)
    if cluster is not None:
        kind, _, count = cluster.partition(":")
        if kind != "local" or not count.isdigit() or int(count) < 1:
            raise ParameterError(
                f"cluster={cluster!r} is not understood; give local:N (N worker processes).",
                field="cluster",
                value=cluster,
                suggestion="local:2",
            )
        return DaskEngine(n_workers=int(count))
    return None
