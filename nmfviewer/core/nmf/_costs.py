"""The engine's measured constants: the machine cost model and the loss precision.

Nothing here is tuned per run: the same shapes give the same choices on every
machine, so a run is reproducible from its parameters. The figures were
measured on the development machine class (2 cores with AVX-512, numpy's
OpenBLAS with its SkylakeX kernels, numba kernels single-threaded), with
``benchmarks/bench_nmf.py`` and short ``timeit`` loops over the kernels; see
``benchmarks/README.md`` for the numbers behind them. On other machines they
only set where the engine switches strategy, never what it computes for a
given choice.
"""

from __future__ import annotations

import numpy as np

# -- HALS cost model (hals.max_inner: how many inner sweeps pay for themselves)
#: flop/s of the two big products (X H^T, Wt X): large float32 OpenBLAS GEMMs
GEMM_RATE = 1.2e11
#: flop/s of the sweeps' skinny GEMMs (k x k times k x chunk)
SWEEP_RATE = 5e10
#: element updates/s of the compiled in-block kernel (_kernels.hals_block)
KERNEL_RATE = 1.2e10
#: seconds per Python-level call into BLAS / numba inside a sweep
CALL_SECONDS = 1.5e-6
#: bytes/s of a streaming elementwise pass (copy / subtract over a factor)
MEM_RATE = 1e10

#: problems below this many multiply-adds per product (n*m*k) run plain HALS
#: under hals_variant='auto': they take milliseconds either way, and plain
#: HALS from nndsvda lands on the parts of the (non-unique) swimmer data.
ACCELERATE_ABOVE = 1e7

# -- loss precision (loss.FrobeniusLoss, the run driver)
#: absolute error of the trace-trick loss as a fraction of ||X||^2, per tier
#: (tier 0: Gram matrices in the working dtype; tier 1: Gram matrices and the
#: cross term in float64). Measured against the exact loss on faces and
#: spectra: float32 Gram matrices ~2e-8..9e-8; float64 ~1e-9..2e-8.
TRACE_NOISE = {
    np.dtype(np.float32): (1.5e-7, 3e-8),
    np.dtype(np.float64): (1e-15, 1e-15),
}
#: iterations between two measurements of tier 1's error
RECALIBRATE = 50
#: the loosest relative precision the reported loss ever needs
MAX_PRECISION = 1e-4
#: the stop rule compares losses ``window`` iterations apart: their noise must
#: stay below tol * window / PRECISION_MARGIN of the loss
PRECISION_MARGIN = 10.0


def loss_precision(tol: float, window: int) -> float:
    """Relative accuracy the reported loss needs for the stop rule (tol, window).

    tol=0 (never converges): the loss is for display only, MAX_PRECISION.
    """
    if tol > 0:
        return min(MAX_PRECISION, tol * window / PRECISION_MARGIN)
    return MAX_PRECISION
