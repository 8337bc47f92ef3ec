"""nmfviewer: Non-negative Matrix Factorization of image collections.

Public API (no Qt is imported here)::

    from nmfviewer import NMF, load_collection, fit
"""

from __future__ import annotations

__version__ = "0.1.0"

from .core.collection import Collection, load_collection
from .core.errors import ExportError, LoadError, NMFViewerError, ParameterError
from .core.nmf.estimator import NMF
from .core.nmf.fit import FitResult, fit
from .core.nmf.state import NMFState
from .core.params import LoadOptions, NMFParams

__all__ = [
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
    "__version__",
    "fit",
    "load_collection",
]
