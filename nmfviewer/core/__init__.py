"""The Qt-free core: loading, the NMF engine, export. Never imports Qt.

``__all__`` is the API the front ends (``nmfviewer.cli``, ``nmfviewer.gui``,
``benchmarks/``) use; they import from ``nmfviewer.core`` only, never from its
submodules. Names are resolved lazily (PEP 562 module ``__getattr__``), so that
importing this package costs nothing: ``nmfviewer --help`` loads neither numba
nor scikit-image.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> submodule of nmfviewer.core that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "NMFViewerError": "errors",
    "LoadError": "errors",
    "MemoryLimitError": "errors",
    "ParameterError": "errors",
    "ExportError": "errors",
    # parameters
    "LoadOptions": "params",
    "NMFParams": "params",
    "LOSSES": "params",
    "SOLVERS": "params",
    "INITS": "params",
    "HALS_VARIANTS": "params",
    "DTYPES": "params",
    # collections
    "Collection": "collection",
    "load_collection": "collection",
    "read_labels": "labels",
    "labels_folder": "labels",
    # the engine
    "NMFState": "nmf.state",
    "FitResult": "nmf.fit",
    "StopRule": "nmf.fit",
    "fit": "nmf.fit",
    "iterate_nmf": "nmf.fit",
    "loss_of": "nmf.fit",
    "resolve_seed": "nmf.fit",
    "solve_W": "nmf.fit",
    "initialize": "nmf.initialize",
    "NMF": "nmf.estimator",
    # export
    "export_run": "export",
    "save_basis_png": "export",
    "read_manifest": "manifest",
    "ManifestError": "manifest",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # resolve once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static analysers see the real names
    from .collection import Collection, load_collection
    from .errors import (
        ExportError,
        LoadError,
        MemoryLimitError,
        NMFViewerError,
        ParameterError,
    )
    from .export import export_run, save_basis_png
    from .labels import labels_folder, read_labels
    from .manifest import ManifestError, read_manifest
    from .nmf.estimator import NMF
    from .nmf.fit import FitResult, StopRule, fit, iterate_nmf, loss_of, resolve_seed, solve_W
    from .nmf.initialize import initialize
    from .nmf.state import NMFState
    from .params import (
        DTYPES,
        HALS_VARIANTS,
        INITS,
        LOSSES,
        SOLVERS,
        LoadOptions,
        NMFParams,
    )
