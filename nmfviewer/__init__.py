"""nmfviewer: Non-negative Matrix Factorization of image collections.

Public API (no Qt is imported here)::

    from nmfviewer import NMF, load_collection, fit

Names are resolved lazily (PEP 562 module ``__getattr__``): ``import nmfviewer``
and ``nmfviewer --help`` load neither numba nor scikit-image nor the image
libraries; the first use of a name imports what it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

#: the user-facing names, all defined in (and resolved through) nmfviewer.core
_EXPORTS = (
    "NMF",
    "Collection",
    "ExportError",
    "FitResult",
    "LoadError",
    "LoadOptions",
    "NMFParams",
    "NMFState",
    "NMFViewerError",
    "ParameterError",
    "configure_blas_threads",
    "fit",
    "load_collection",
    "rank",
)

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("nmfviewer.core"), name)
    globals()[name] = value  # resolve once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static analysers see the real names
    from .core import (
        NMF,
        Collection,
        ExportError,
        FitResult,
        LoadError,
        LoadOptions,
        NMFParams,
        NMFState,
        NMFViewerError,
        ParameterError,
        configure_blas_threads,
        fit,
        load_collection,
        rank,
    )
