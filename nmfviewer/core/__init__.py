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
    "LOSS_ALIASES": "params",
    "SOLVER_ALIASES": "params",
    "COLOR_POLICIES": "params",
    "SIZE_POLICIES": "params",
    "NORMALIZATIONS": "params",
    "NEGATIVE_POLICIES": "params",
    "NONFINITE_POLICIES": "params",
    "SEED_LIMIT": "params",
    "parse_seed": "params",
    # what the command line asks the window to do
    "GuiRequest": "request",
    "DEFAULT_K": "request",
    # the BLAS-thread policy
    "ThreadChoice": "threads",
    "configure_blas_threads": "threads",
    "ensure_blas_threads": "threads",
    "current_blas_threads": "threads",
    "current_thread_choice": "threads",
    "restore_blas_threads": "threads",
    "parse_threads": "threads",
    # which files load
    "IMAGE_SUFFIXES": "discovery",
    # collections
    "Collection": "collection",
    "load_collection": "collection",
    "read_labels": "labels",
    "labels_folder": "labels",
    # the physical band axis and the pictures
    "SpectralAxis": "axis",
    "read_axis_file": "axis",
    "Panel": "plots",
    "Series": "plots",
    "PALETTE": "plots",
    "render_png": "plots",
    "component_colors": "pictures",
    "count_data_hint": "counts",
    # the engine
    "NMFState": "nmf.state",
    "STOP_REASONS": "nmf.state",
    "STOP_REASON_TEXT": "nmf.state",
    "stop_reason_text": "nmf.state",
    "FitResult": "nmf.result",
    "loss_of": "nmf.result",
    "NMFRun": "nmf.run",
    "Resume": "nmf.run",
    "StopRule": "nmf.run",
    "fit": "nmf.fit",
    "iterate_nmf": "nmf.fit",
    "resolve_seed": "nmf.prepare",
    "solve_W": "nmf.fit",
    "SOLVER_REGISTRY": "nmf.registry",
    "SolverInfo": "nmf.registry",
    "get_solver": "nmf.registry",
    "solvers_for": "nmf.registry",
    "choose_hals_variant": "nmf.hals",
    "initialize": "nmf.initialize",
    "NMF": "nmf.estimator",
    "Mask": "nmf.mask",
    "MaskError": "nmf.mask",
    "split_holdout": "nmf.mask",
    "loss_on": "nmf.mask",
    "CollapsedFitWarning": "nmf.collapse",
    "STOP_COLLAPSED": "nmf.collapse",
    "collapse_report": "nmf.collapse",
    "is_collapsed": "nmf.collapse",
    # the scree: a hint for k
    "Scree": "scree",
    "scree": "scree",
    "ComponentMatch": "nmf.match",
    "component_energy": "nmf.match",
    "energy_order": "nmf.match",
    "match_components": "nmf.match",
    # component identity across runs
    "Reference": "align",
    "align_result": "align",
    "alignment_record": "align",
    "load_reference": "align",
    # choosing k
    "RankSweep": "rank_sweep",
    "RankRow": "rank_sweep",
    "RankProgress": "rank_sweep",
    "RankResult": "rank_sweep",
    "rank": "rank_sweep",
    "suggest_k": "rank_sweep",
    "suggestion_rule": "rank_sweep",
    "parse_ks": "rank_sweep",
    "STABILITY_THRESHOLD": "rank_sweep",
    "write_rank": "rank_sweep",
    # chunked stores and engines beyond memory (zarr / dask: the optional [dask] extra)
    "convert_to_store": "convert",
    "is_store": "store",
    "open_store": "store",
    "StoreMatrix": "store",
    "StreamedEngine": "nmf.streamed",
    "DaskEngine": "nmf.dask_engine",
    "engine_from_spec": "nmf.dask_engine",
    # export
    "export_run": "export",
    "check_bit_depth": "export",
    "save_basis_png": "export",
    "read_manifest": "manifest",
    "recorded_mask": "manifest",
    "ManifestError": "manifest",
    # names in messages and files
    "printable": "names",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    submodule = importlib.import_module(f"{__name__}.{module}")
    value = getattr(submodule, name)
    globals()[name] = value  # resolve once
    # a module named like its function (scree.scree): importing it bound the module
    # to the package's attribute; the exported function takes that name back
    short = module.rpartition(".")[2]
    if _EXPORTS.get(short) == module:
        globals()[short] = getattr(submodule, short)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static analysers see the real names
    from .align import Reference, align_result, alignment_record, load_reference
    from .axis import SpectralAxis, read_axis_file
    from .collection import Collection, load_collection
    from .convert import convert_to_store
    from .counts import count_data_hint
    from .discovery import IMAGE_SUFFIXES
    from .errors import (
        ExportError,
        LoadError,
        MemoryLimitError,
        NMFViewerError,
        ParameterError,
    )
    from .export import check_bit_depth, export_run, save_basis_png
    from .labels import labels_folder, read_labels
    from .manifest import ManifestError, read_manifest, recorded_mask
    from .names import printable
    from .nmf.collapse import STOP_COLLAPSED, CollapsedFitWarning, collapse_report, is_collapsed
    from .nmf.dask_engine import DaskEngine, engine_from_spec
    from .nmf.estimator import NMF
    from .nmf.fit import fit, iterate_nmf, solve_W
    from .nmf.hals import choose_hals_variant
    from .nmf.initialize import initialize
    from .nmf.mask import Mask, MaskError, loss_on, split_holdout
    from .nmf.match import ComponentMatch, component_energy, energy_order, match_components
    from .nmf.prepare import resolve_seed
    from .nmf.registry import SOLVER_REGISTRY, SolverInfo, get_solver, solvers_for
    from .nmf.result import FitResult, loss_of
    from .nmf.run import NMFRun, Resume, StopRule
    from .nmf.state import STOP_REASON_TEXT, STOP_REASONS, NMFState, stop_reason_text
    from .nmf.streamed import StreamedEngine
    from .params import (
        COLOR_POLICIES,
        DTYPES,
        HALS_VARIANTS,
        INITS,
        LOSS_ALIASES,
        LOSSES,
        NEGATIVE_POLICIES,
        NONFINITE_POLICIES,
        NORMALIZATIONS,
        SEED_LIMIT,
        SIZE_POLICIES,
        SOLVER_ALIASES,
        SOLVERS,
        LoadOptions,
        NMFParams,
        parse_seed,
    )
    from .pictures import component_colors
    from .plots import PALETTE, Panel, Series, render_png
    from .rank_sweep import (
        STABILITY_THRESHOLD,
        RankProgress,
        RankResult,
        RankRow,
        RankSweep,
        parse_ks,
        rank,
        suggest_k,
        suggestion_rule,
        write_rank,
    )
    from .request import DEFAULT_K, GuiRequest
    from .scree import Scree, scree
    from .store import StoreMatrix, is_store, open_store
    from .threads import (
        ThreadChoice,
        configure_blas_threads,
        current_blas_threads,
        current_thread_choice,
        ensure_blas_threads,
        parse_threads,
        restore_blas_threads,
    )
