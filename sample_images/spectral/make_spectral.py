"""A synthetic hyperspectral cube with known endmembers and abundances.

64x64 pixels x 100 bands (400-1000 nm), R = 4 endmembers with smooth,
distinct spectra (sums of Gaussians over a 0.01 baseline). Abundance maps
are spatially smooth (Gaussian-filtered noise through a softmax), sum to one
at every pixel, and each endmember has a pure 6x6 patch so the unmixing is
identifiable. Small non-negative noise is added. Fixed seed.

    make_spectral() -> cube (100, 64, 64) float32, endmembers (4, 100),
                       abundances (4, 64, 64), wavelengths (100,)

``python make_spectral.py`` writes cube.tif (multi-page float32 TIFF, one
page per band, wavelengths in nm under the key "wavelengths" of tifffile's
JSON image description, which nmfviewer's loader reads) and ground_truth.npz.
Loaded as a collection the bands are the images (X is 100 x 4096), so NMF
gives W ~ spectra (100 x R) and H ~ abundance maps (R x 4096).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

HERE = Path(__file__).resolve().parent
SEED = 20240229
SIZE, BANDS, R = 64, 100, 4
NOISE = 0.002
# (centre nm, width nm, height) of the Gaussian bumps of each spectrum
PEAKS = (
    ((450, 40, 1.0), (820, 50, 0.2)),  # "blue" material
    ((550, 50, 0.9), (950, 60, 0.3)),  # "green"
    ((650, 45, 0.8), (760, 60, 0.3)),  # "red"
    ((870, 70, 1.0), (480, 60, 0.2)),  # near-infrared
)
PURE = ((2, 2), (2, 56), (56, 2), (56, 56))  # top-left corner of each pure patch


def make_spectral() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    wavelengths = np.linspace(400.0, 1000.0, BANDS)
    endmembers = np.full((R, BANDS), 0.01)
    for r, peaks in enumerate(PEAKS):
        for centre, width, height in peaks:
            endmembers[r] += height * np.exp(-0.5 * ((wavelengths - centre) / width) ** 2)
    fields = np.stack(
        [gaussian_filter(rng.standard_normal((SIZE, SIZE)), 8, mode="wrap") for _ in range(R)]
    )
    fields /= fields.std(axis=(1, 2), keepdims=True)
    logits = 3.0 * fields
    abundances = np.exp(logits - logits.max(axis=0))
    abundances /= abundances.sum(axis=0)
    for r, (row, col) in enumerate(PURE):
        abundances[:, row : row + 6, col : col + 6] = 0.0
        abundances[r, row : row + 6, col : col + 6] = 1.0
    cube = np.tensordot(endmembers, abundances, axes=(0, 0))  # (bands, h, w)
    cube += NOISE * np.abs(rng.standard_normal(cube.shape))
    return cube.astype(np.float32), endmembers, abundances, wavelengths


def main(out: Path = HERE) -> None:
    import tifffile

    cube, endmembers, abundances, wavelengths = make_spectral()
    tifffile.imwrite(
        out / "cube.tif",
        cube,
        photometric="minisblack",
        metadata={
            "wavelengths": [round(float(w), 4) for w in wavelengths],
            "wavelength_unit": "nm",
        },
    )
    np.savez_compressed(
        out / "ground_truth.npz",
        endmembers=endmembers,
        abundances=abundances,
        wavelengths=wavelengths,
    )


if __name__ == "__main__":
    main()
