"""Describe the machine a benchmark ran on: CPU, cores, memory, versions, BLAS."""

from __future__ import annotations

import os
import platform
import sys

#: environment variables that change which BLAS kernel runs or how many threads it uses
BLAS_ENV = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_VERBOSE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NVPL_BLAS_DEBUG_CPU_TYPE",
)


RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def result_path(kind: str, started, machine: dict | None = None) -> str:
    """Where a benchmark's JSON goes: ``results/<kind>-<YYYYMMDD-HHMM>-<cpu>.json``.

    kind: 'bench', 'stall', ...; started: a datetime; the CPU part is the
    machine's CPU model in lower case, e.g. 'amd-epyc' or 'intel-xeon-processor',
    so results from different machines never overwrite each other.
    """
    model = (machine or {}).get("cpu_model") or _cpu_model()
    slug = "-".join("".join(c if c.isalnum() else " " for c in model.lower()).split())
    slug = slug.replace("-r-", "-").replace("-tm-", "-")[:40] or "machine"
    return os.path.join(RESULTS_DIR, f"{kind}-{started.strftime('%Y%m%d-%H%M')}-{slug}.json")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    """The SIMD flags that matter for BLAS kernels (avx2, avx512f, ...)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return sorted(f for f in flags if f.startswith(("avx", "fma", "sse4")))
    except OSError:
        pass
    return []


def _mem_total_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:  # a missing package is reported, not fatal
        return None
    return getattr(mod, "__version__", "?")


def blas_info() -> list[dict]:
    """threadpoolctl's view of the loaded BLAS / OpenMP libraries (kernel, threads)."""
    from threadpoolctl import threadpool_info

    keep = (
        "user_api",
        "internal_api",
        "prefix",
        "version",
        "num_threads",
        "architecture",
        "threading_layer",
        "filepath",
    )
    return [{k: lib.get(k) for k in keep if k in lib} for lib in threadpool_info()]


def describe() -> dict:
    """Everything needed to read the numbers in context (JSON-serialisable)."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        affinity = None
    return {
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "cpus_usable": affinity,
        "mem_total_bytes": _mem_total_bytes(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            name: _version(name)
            for name in ("numpy", "scipy", "sklearn", "threadpoolctl", "nmfviewer")
        },
        "blas": blas_info(),
        "env": {name: os.environ.get(name) for name in BLAS_ENV},
    }


def one_line(machine: dict) -> str:
    """A short human-readable summary: CPU, cores, BLAS kernel and threads."""
    kernels = sorted(
        {
            f"{lib.get('internal_api')} {lib.get('version')} {lib.get('architecture', '')}"
            f" x{lib.get('num_threads')}".replace("  ", " ")
            for lib in machine["blas"]
            if lib.get("user_api") == "blas"
        }
    )
    env = {k: v for k, v in machine["env"].items() if v is not None}
    return (
        f"{machine['cpu_model']}, {machine['cpus_usable']} usable cores, "
        f"{(machine['mem_total_bytes'] or 0) / 2**30:.0f} GiB; BLAS: {'; '.join(kernels)}; "
        f"env: {env or 'no BLAS variables set'}"
    )
