"""Readers of the formats scientists keep their data in, one module each:

- :mod:`.ome`: OME-TIFF and ImageJ hyperstacks through tifffile's series (axes
  such as ``TZCYX``, pyramids at full resolution);
- :mod:`.envi`: ENVI cubes (``.hdr`` + ``.img``/``.raw``/``.dat``) through Spectral Python;
- :mod:`.hdf5`: HDF5 / NeXus datasets through h5py;
- :mod:`.vendor`: Bruker ``.bcf``, EDAX ``.spd``, HyperSpy ``.hspy``, Digital
  Micrograph ``.dm3``/``.dm4`` and Renishaw ``.wdf`` through RosettaSciIO;
- :mod:`.png16`: 16-bit colour PNGs at 16 bits through imagecodecs.

Each module offers ``probe(path, options) -> FileInfo`` and
``read_pages(info, indices)`` like the built-in back ends of
:mod:`nmfviewer.core.readers`, which dispatches to them by a file's first bytes
or name. The libraries are imported when a file needs them: they are the
optional extra ``formats``, and a file that needs a missing one is skipped with
a reason naming ``pip install "nmfviewer[formats]"``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..params import LoadOptions
    from ..readers import FileInfo

#: how to install the optional readers (named in every "missing library" message)
EXTRA_INSTALL = 'pip install "nmfviewer[formats]"'
#: library (import name) -> what the user installs it as
_LIBRARIES = {
    "spectral": "Spectral Python (spectral)",
    "h5py": "h5py",
    "rsciio": "RosettaSciIO (rosettasciio)",
    "imagecodecs": "imagecodecs",
}
#: vendor file endings read through RosettaSciIO: ending -> (rsciio plugin, format name)
VENDOR_SUFFIXES = {
    ".bcf": ("bruker", "Bruker .bcf"),
    ".spd": ("edax", "EDAX .spd"),
    ".hspy": ("hspy", "HyperSpy .hspy"),
    ".dm3": ("digitalmicrograph", "Digital Micrograph .dm3"),
    ".dm4": ("digitalmicrograph", "Digital Micrograph .dm4"),
    ".wdf": ("renishaw", "Renishaw .wdf"),
}
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5", ".nxs", ".nx5")
#: ENVI: the header is the file to open; the data file beside it has one of these endings
ENVI_DATA_SUFFIXES = (".img", ".raw", ".dat", ".bsq", ".bil", ".bip")
#: file endings discovery lists as images for these readers
SUFFIXES = frozenset({".hdr", *HDF5_SUFFIXES, *VENDOR_SUFFIXES})
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: back end -> module of this package
BACKENDS = {"ome": "ome", "envi": "envi", "hdf5": "hdf5", "vendor": "vendor", "png16": "png16"}


def require(module: str, what: str) -> Any:
    """Import ``module`` or raise DecodeError naming the extra to install."""
    from ..readers import DecodeError  # this package is imported by discovery: stay light

    try:
        return importlib.import_module(module)
    except ImportError:
        library = _LIBRARIES.get(module.split(".")[0], module)
        raise DecodeError(
            f"reading {what} needs {library}, which is not installed; install the "
            f"optional readers with: {EXTRA_INSTALL}"
        ) from None


def envi_header_of(path: Path) -> Path | None:
    """The ENVI header beside a data file ('cube.img' -> 'cube.hdr' or 'cube.img.hdr')."""
    for header in (path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")):
        if header.is_file():
            return header
    return None


def backend_for(path: Path, head: bytes) -> str | None:
    """The back end of this package that reads ``path`` (first bytes ``head``), or None."""
    suffix = path.suffix.lower()
    if suffix in VENDOR_SUFFIXES:  # before the HDF5 magic: .hspy is HDF5 with axes
        return "vendor"
    if head.startswith(_HDF5_MAGIC) or suffix in HDF5_SUFFIXES:
        return "hdf5"
    if head.startswith(b"ENVI") or suffix == ".hdr":
        return "envi"
    if suffix in ENVI_DATA_SUFFIXES and envi_header_of(path) is not None:
        return "envi"
    return None


def _module(backend: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{BACKENDS[backend]}")


def probe(backend: str, path: Path, options: LoadOptions | None, **extra: Any) -> FileInfo:
    """Headers of ``path`` through ``backend``'s module (DecodeError / LoadError)."""
    info: FileInfo = _module(backend).probe(path, options, **extra)
    return info


def ome_series(tif: Any, path: Path, options: LoadOptions | None) -> FileInfo | None:
    """The images of an OME-TIFF / ImageJ hyperstack / pyramid along one axis, or
    None when every page of the TIFF is an image (see :mod:`.ome`)."""
    if not (tif.is_ome or tif.is_imagej or tif.is_shaped):
        return None  # the common plain TIFF: no import
    from .ome import probe_series

    return probe_series(tif, path, options)


def has(module: str) -> bool:
    """Whether an optional library can be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def reader(backend: str) -> Any:
    """``read_pages(info, indices)`` generator of ``backend``'s module."""
    return _module(backend).read_pages
