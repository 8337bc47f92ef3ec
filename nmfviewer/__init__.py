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

#: public name -> module that defines it (the front ends use nmfviewer.core directly)
_EXPORTS: dict[str, str] = {
    "NMF": "nmfviewer.core",
    "Collection": "nmfviewer.core",
    "ExportError": "nmfviewer.core",
    "FitResult": "nmfviewer.core",
    "LoadError": "nmfviewer.core",
    "LoadOptions": "nmfviewer.core",
    "NMFParams": "nmfviewer.core",
    "NMFState": "nmfviewer.core",
    "NMFViewerError": "nmfviewer.core",
    "ParameterError": "nmfviewer.core",
    "configure_blas_threads": "nmfviewer.core",
    "fit": "nmfviewer.core",
    "load_collection": "nmfviewer.core",
}

__all__ = [  # noqa: RUF022 - __version__ first, then _EXPORTS in order (a test checks)
    "__version__",
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
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
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
    )
