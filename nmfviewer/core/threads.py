"""One BLAS-thread policy for every entry point (CLI, Python API, window, replay).

The count is set once per process, from the main thread, before any fit
(threadpoolctl limits are process-wide and not thread-safe: nothing toggles
them while a solver runs). The count used is kept here
(:func:`current_blas_threads`) so that run.json can record it and a replay can
use it again: BLAS summation order depends on the thread count, so the same
count gives bit-identical factors.

'auto' is chosen to be robust on a shared machine. Measured on a 2-core
machine with another process busy (400 faces of 112 x 92, k = 16): 23.6 s at
2 OpenBLAS threads against 3.0 s at 1, and 2.7 s at 2 threads when quiet.
OpenBLAS threads wait for each other at every GEMM, so a thread that loses its
core stalls the others; one thread only ever loses what the other core would
have added. Hence:

- a small X (fewer than :data:`SMALL_PROBLEM` entries) always gets 1 thread;
  there the GEMMs are too short for threads to pay even on a quiet machine;
- a larger X gets more threads only when a short measurement (pairs of GEMMs
  of the problem's shape, 1 thread then n, back to back) shows them clearly
  and plausibly faster in every pair (by :data:`REQUIRED_GAIN`, and not more
  than n times); a busy machine measures slow at n threads, or noisy, and
  keeps 1. A single best-of-three comparison was not enough: on this 2-core
  machine at load average 9 it once measured 2 threads "2.35x faster"
  (impossible on 2 cores: the 1-thread run had lost its core) and the fit
  then took 13.3 s instead of 1.7 s;
- the window leaves its GUI thread a core (``reserve_gui_core``): on 2 cores
  that is 1 BLAS thread.

What is recorded is the count, not the timings: a replay sets the recorded
count and needs no measurement.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ParameterError

#: entries of X below which 'auto' always uses a single BLAS thread
SMALL_PROBLEM = 1 << 20
#: several threads must be at least this much faster than one to be chosen
REQUIRED_GAIN = 1.3
#: entries of the measurement block (rows x pixels of X's shape, capped)
_PROBE_ENTRIES = 1 << 20
_PROBE_PAIRS = 5
#: a measured gain above n threads x this is noise (the 1-thread run lost its core)
_PLAUSIBLE = 1.1
#: environment variables by which a user sets the BLAS thread count
_USER_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "NMFVIEWER_BLAS_THREADS")  # fmt: skip


@dataclass(frozen=True)
class ThreadChoice:
    """The BLAS thread count in force and why.

    threads:   the count set (what run.json records).
    requested: what was asked for: a number or 'auto'.
    reason:    a short phrase for logs and the manifest.
    """

    threads: int
    requested: int | str
    reason: str


_lock = threading.Lock()
_choice: ThreadChoice | None = None
_limiter: Any = None  # the threadpoolctl limiter, to restore the original limits


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def parse_threads(value: Any, *, field: str = "threads") -> int | str:
    """'auto' or a whole number >= 1 (str or int); ParameterError otherwise."""
    if value is None:
        return "auto"
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text.isascii() and text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(
            f"{field}={value!r} must be a whole number >= 1 or 'auto'.",
            field=field,
            value=value,
            suggestion="auto",
        )
    return int(value)


def choose_blas_threads(
    requested: int | str | None = "auto",
    *,
    reserve_gui_core: bool = False,
    shape: tuple[int, int] | None = None,
    n_components: int | None = None,
    cores: int | None = None,
    measure: Any = None,
) -> ThreadChoice:
    """The thread count the policy picks, without setting it.

    requested:        a number (used as given) or 'auto' / None.
    reserve_gui_core: leave one core to the GUI thread (the window).
    shape, n_components: X's (n_images, n_pixels) and k, when known; without
                      them 'auto' uses every available core (minus the GUI's).
    cores:            the cores available (default: :func:`available_cores`).
    measure:          ``measure(threads) -> seconds`` for a GEMM probe of the
                      problem's shape (default: :func:`gemm_probe`); tests pass
                      a fake clock here.
    """
    requested = parse_threads(requested)
    if requested != "auto":
        return ThreadChoice(int(requested), requested, "requested")
    n = available_cores() if cores is None else max(1, int(cores))
    if reserve_gui_core:
        n = max(1, n - 1)
    if n == 1:
        why = (
            "one core left for BLAS (the GUI thread keeps one)"
            if reserve_gui_core
            else ("one core available")
        )
        return ThreadChoice(1, "auto", why)
    if shape is None:
        return ThreadChoice(n, "auto", f"{n} of the available cores")
    n_images, n_pixels = (int(s) for s in shape)
    if n_images * n_pixels < SMALL_PROBLEM:
        return ThreadChoice(1, "auto", "small problem")
    if measure is None:
        measure = gemm_probe((n_images, n_pixels), int(n_components or 16))
    ratios = []
    for _ in range(_PROBE_PAIRS):  # back-to-back pairs: a burst of load hits both
        ratio = measure(1) / max(measure(n), 1e-12)
        # every pair must show a clear gain, and a possible one: more than n times
        # faster means the 1-thread run was preempted, so the machine is busy
        if not REQUIRED_GAIN <= ratio <= n * _PLAUSIBLE:
            return ThreadChoice(
                1, "auto", f"measured: {n} threads not reliably faster ({ratio:.2f}x)"
            )
        ratios.append(ratio)
    return ThreadChoice(n, "auto", f"measured: {n} threads {min(ratios):.2f}x faster")


def gemm_probe(shape: tuple[int, int], k: int) -> Callable[[int], float]:
    """``measure(threads) -> seconds`` of one (k x r) @ (r x m) float32 GEMM at that
    many BLAS threads, on a block of X's shape (r rows of m pixels, at most ~1 M
    entries, allocated once)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    n_images, n_pixels = shape
    m = max(1, min(n_pixels, _PROBE_ENTRIES))
    r = max(1, min(n_images, _PROBE_ENTRIES // m))
    rng = np.random.default_rng(0)
    B = rng.random((r, m), dtype=np.float32)
    A = rng.random((k, r), dtype=np.float32)
    out = np.empty((k, m), dtype=np.float32)

    def measure(threads: int) -> float:
        with threadpool_limits(limits=threads, user_api="blas"):
            np.matmul(A, B, out=out)  # wake the threads up
            start = time.perf_counter()
            np.matmul(A, B, out=out)
            return time.perf_counter() - start

    return measure


def configure_blas_threads(
    requested: int | str | None = "auto",
    *,
    reserve_gui_core: bool = False,
    shape: tuple[int, int] | None = None,
    n_components: int | None = None,
) -> int:
    """Set the BLAS thread count for the whole process; return the count set.

    Call once, from the main thread, before fitting (the CLI after loading,
    the window at start-up, :func:`ensure_blas_threads` at the first API fit).
    See :func:`choose_blas_threads` for the arguments. A later call replaces
    the count; :func:`restore_blas_threads` puts the library's back.
    """
    global _choice, _limiter
    choice = choose_blas_threads(
        requested, reserve_gui_core=reserve_gui_core, shape=shape, n_components=n_components
    )
    from threadpoolctl import threadpool_limits

    with _lock:
        if _limiter is None:
            _limiter = threadpool_limits(limits=choice.threads, user_api="blas")
        else:
            threadpool_limits(limits=choice.threads, user_api="blas")
        _choice = choice
    return choice.threads


def ensure_blas_threads(shape: tuple[int, int], n_components: int) -> int | None:
    """The API's policy: apply 'auto' once, unless the thread count was set already.

    Leaves everything as it is when nmfviewer set a count before (CLI, window,
    an earlier fit), when the user set one through the usual environment
    variables, or when the BLAS runs on fewer threads than cores (a
    ``threadpool_limits`` of the caller's). Returns the count in force (None
    when unknown).
    """
    if _choice is not None:
        return _choice.threads
    if any(os.environ.get(name) for name in _USER_ENV):
        return current_blas_threads()
    current = current_blas_threads()
    if current is not None and current < available_cores():
        return current
    return configure_blas_threads("auto", shape=shape, n_components=n_components)


def current_blas_threads() -> int | None:
    """The BLAS thread count in force (what run.json records); None without a BLAS."""
    if _choice is not None:
        return _choice.threads
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    # numpy's BLAS does nmfviewer's products (scipy may load a second one)
    own = [i["num_threads"] for i in blas if "numpy" in str(i.get("filepath", ""))]
    counts = own or [i["num_threads"] for i in blas]
    return max(counts) if counts else None


def current_thread_choice() -> ThreadChoice | None:
    """The choice nmfviewer made in this process (None: it set nothing)."""
    return _choice


def restore_blas_threads(to: ThreadChoice | None = None) -> None:
    """Undo :func:`configure_blas_threads`: back to ``to`` (a choice made before, from
    :func:`current_thread_choice`) or, when None, to the library's own count."""
    global _choice, _limiter
    from threadpoolctl import threadpool_limits

    with _lock:
        if to is not None:
            if _limiter is None:
                _limiter = threadpool_limits(limits=to.threads, user_api="blas")
            else:
                threadpool_limits(limits=to.threads, user_api="blas")
            _choice = to
            return
        if _limiter is not None:
            _limiter.restore_original_limits()
        _limiter, _choice = None, None
