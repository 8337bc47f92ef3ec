"""Small files in the formats of nmfviewer.core.formats, written by the tests with
the libraries that write them (tifffile, Spectral Python, h5py, RosettaSciIO), and
the arrays they hold. Shared by tests/core/test_formats_*.py and bad_input_cases.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def cube(shape: tuple[int, ...], seed: int = 0, dtype=np.uint16) -> np.ndarray:
    """Values 10..1009, distinct enough that a wrong slice is seen."""
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * 1000 + 10).astype(dtype)


def ome_tiff(
    path: Path,
    data: np.ndarray,
    axes: str = "TZCYX",
    wavelengths: list[float] | None = None,
    **metadata,
) -> Path:
    import tifffile

    meta = {"axes": axes, **metadata}
    if wavelengths is not None:
        n = len(wavelengths)
        meta["Channel"] = {
            "Name": [f"ch{i}" for i in range(n)],
            "EmissionWavelength": list(wavelengths),
            "EmissionWavelengthUnit": ["nm"] * n,
        }
    tifffile.imwrite(path, data, metadata=meta, ome=True)
    return path


def imagej_hyperstack(path: Path, data: np.ndarray, axes: str = "TZCYX") -> Path:
    import tifffile

    tifffile.imwrite(path, data, imagej=True, metadata={"axes": axes})
    return path


def ome_pyramid(path: Path, data: np.ndarray) -> Path:
    """A (c, h, w) OME-TIFF pyramid of three levels (sub-IFDs), tiled."""
    import tifffile

    with tifffile.TiffWriter(path) as tif:
        tif.write(
            data, subifds=2, metadata={"axes": "CYX"}, tile=(16, 16), photometric="minisblack"
        )
        for step in (2, 4):
            tif.write(
                data[:, ::step, ::step],
                subfiletype=1,
                metadata=None,
                tile=(16, 16),
                photometric="minisblack",
            )
    return path


def envi_cube(
    header: Path,
    data: np.ndarray,
    interleave: str = "bsq",
    wavelengths: list[float] | None = None,
    units: str = "nm",
    ext: str = ".img",
) -> Path:
    """``data`` (rows, cols, bands) saved as ``header`` + the data file beside it."""
    import spectral.io.envi as envi

    meta: dict = {}
    if wavelengths is not None:
        meta = {"wavelength": list(wavelengths), "wavelength units": units}
    envi.save_image(str(header), data, metadata=meta, interleave=interleave, ext=ext, force=True)
    return header


def hdf5(path: Path, datasets: dict[str, np.ndarray]) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        for name, array in datasets.items():
            f.create_dataset(name, data=array)
    return path


def nexus(path: Path, signal: np.ndarray, axes: list[str], axis_values: dict[str, tuple]) -> Path:
    """A NeXus file: /entry (NXentry) -> /entry/data (NXdata) with @signal 'counts',
    @axes, one axis dataset per named axis ((values, units)), and a second 3-D
    dataset outside it, so that only the default attributes say which to read."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "counts"
        data.attrs["axes"] = axes
        data.create_dataset("counts", data=signal)
        for name, (values, units) in axis_values.items():
            axis = data.create_dataset(name, data=np.asarray(values))
            axis.attrs["units"] = units
        entry.create_dataset("background", data=np.zeros((2, *signal.shape[1:]), np.float32))
    return path


def hspy(path: Path, data: np.ndarray, axes: list[dict], title: str = "EDS map") -> Path:
    """A HyperSpy .hspy file through RosettaSciIO's own writer."""
    from rsciio.hspy import file_writer

    signal = {
        "data": data,
        "axes": axes,
        "metadata": {"General": {"title": title}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "package_info": {"name": "nmfviewer-tests", "version": "0"},
        "learning_results": {},
        "models": {},
    }
    file_writer(str(path), signal)
    return path


def eds_axes(shape: tuple[int, int, int], scale: float = 0.01, offset: float = 0.2) -> list:
    """RosettaSciIO axes of an EDS map (y, x, energy in keV)."""
    y, x, channels = shape
    return [
        {"name": "y", "size": y, "scale": 1.0, "offset": 0.0, "units": "µm", "navigate": True},
        {"name": "x", "size": x, "scale": 1.0, "offset": 0.0, "units": "µm", "navigate": True},
        {
            "name": "Energy",
            "size": channels,
            "scale": scale,
            "offset": offset,
            "units": "keV",
            "navigate": False,
        },
    ]


def edax_spd(path: Path, data: np.ndarray) -> Path:
    """An EDAX .spd map of ``data`` (y, x, channels) uint16, its header laid out with
    RosettaSciIO's own header description (no .spc / .ipr calibration beside it)."""
    from rsciio.edax._api import get_spd_dtype_list

    lines, points, channels = data.shape
    header = np.zeros(1, dtype=get_spd_dtype_list())
    header["tag"] = np.frombuffer(b"MAPSPECTRA_DATA\x00", dtype="i1")
    header["version"] = 1
    header["nSpectra"] = lines * points
    header["nPoints"] = points
    header["nLines"] = lines
    header["nChannels"] = channels
    header["countBytes"] = 2
    header["dataOffset"] = header.dtype.itemsize
    header["nFrames"] = 1
    path.write_bytes(header.tobytes() + data.astype("<u2").tobytes())
    return path


def garbage(path: Path, size: int = 4096, seed: int = 1) -> Path:
    """Random bytes under a vendor file's name: a corrupt file."""
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, np.uint8).tobytes())
    return path
