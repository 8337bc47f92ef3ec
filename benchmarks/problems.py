"""The four reference problems of the benchmark, built deterministically.

Every problem is a float32, C-contiguous, non-negative matrix X of shape
(n_images, n_pixels) with realistic structure (faces or mixtures of smooth
spectra, plus noise), never uniform noise:

- ``faces``: 2429 x 361 (19x19 faces, the MIT-CBCL size), k=49. The 100 face
  images of scikit-image's ``lfw_subset`` (25x25), cropped at random offsets,
  resized to 19x19, flipped and re-lit at random, plus a little noise.
- ``olivetti``: 400 x 4096 (64x64, the Olivetti size), k=16. The same faces
  upscaled, cropped (shifts), flipped, re-lit, plus noise.
- ``hyperspectral``: 100,000 pixel-spectra x 200 bands, k=8. Dirichlet
  abundances times 8 smooth endmember spectra (sums of Gaussian bands on a
  sloped baseline), a per-pixel illumination factor, plus noise.
- ``large``: 20,000 x 4096 (64x64), k=32. The ``olivetti`` pipeline at scale.

``--quick`` uses tiny versions of the same four generators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Problem:
    """One reference problem: how to build X and which k to factor it with."""

    name: str
    kind: str  # 'faces' or 'spectra'
    n: int  # rows of X (images / pixel-spectra)
    shape: tuple[int, ...]  # (h, w) of an image, or (n_bands,)
    k: int
    seed: int
    repeats: int  # interleaved sklearn/nmfviewer repeats for the timings
    note: str = ""

    @property
    def m(self) -> int:
        return int(np.prod(self.shape))

    def describe(self) -> str:
        shape = "x".join(str(s) for s in self.shape)
        return f"{self.n} x {self.m} ({shape}) k={self.k}"


FULL = {
    "faces": Problem("faces", "faces", 2429, (19, 19), 49, seed=1, repeats=3),
    "olivetti": Problem("olivetti", "faces", 400, (64, 64), 16, seed=2, repeats=3),
    "hyperspectral": Problem("hyperspectral", "spectra", 100_000, (200,), 8, seed=3, repeats=2),
    "large": Problem("large", "faces", 20_000, (64, 64), 32, seed=4, repeats=1),
}

QUICK = {
    "faces": Problem("faces", "faces", 300, (12, 12), 10, seed=1, repeats=1),
    "olivetti": Problem("olivetti", "faces", 60, (24, 24), 6, seed=2, repeats=1),
    "hyperspectral": Problem("hyperspectral", "spectra", 2000, (40,), 4, seed=3, repeats=1),
    "large": Problem("large", "faces", 500, (20, 20), 8, seed=4, repeats=1),
}

#: rows of each problem used for the KL comparison (the full hyperspectral and
#: large problems make KL multiplicative updates slow on both sides alike).
KL_ROWS = {"faces": None, "olivetti": None, "hyperspectral": 20_000, "large": 2_000}


def base_faces() -> np.ndarray:
    """(100, 25, 25) float32 in [0, 1]: the face half of skimage's lfw_subset."""
    from skimage.data import lfw_subset

    return np.ascontiguousarray(lfw_subset()[:100], dtype=np.float32)


def _augment_faces(
    n: int, out_shape: tuple[int, int], rng: np.random.Generator, chunk: int = 2000
) -> np.ndarray:
    """(n, h*w) float32 faces: random crop (shift), flip, brightness/contrast, noise.

    The 25x25 faces are resized once to (h + pad, w + pad); each output image is
    a random (h, w) window of one of them, so the shifts are up to ``pad`` pixels.
    """
    from skimage.transform import resize

    h, w = out_shape
    pad = max(2, round(0.12 * min(h, w)))
    faces = base_faces()
    big = np.stack([resize(f, (h + pad, w + pad), order=1, anti_aliasing=True) for f in faces])
    big = big.astype(np.float32)
    X = np.empty((n, h * w), dtype=np.float32)
    rows = np.arange(h)[None, :, None]
    cols = np.arange(w)[None, None, :]
    for start in range(0, n, chunk):
        c = min(chunk, n - start)
        idx = rng.integers(0, len(big), c)
        dy = rng.integers(0, pad + 1, c)[:, None, None]
        dx = rng.integers(0, pad + 1, c)[:, None, None]
        flip = rng.random(c) < 0.5
        colsel = np.where(flip[:, None, None], w - 1 - cols, cols) + dx
        imgs = big[idx[:, None, None], rows + dy, colsel]  # (c, h, w)
        gain = rng.uniform(0.6, 1.4, c).astype(np.float32)[:, None, None]
        offset = rng.uniform(0.0, 0.15, c).astype(np.float32)[:, None, None]
        imgs = imgs * gain + offset
        imgs += rng.normal(0.0, 0.02, imgs.shape).astype(np.float32)
        np.maximum(imgs, 0.0, out=imgs)
        X[start : start + c] = imgs.reshape(c, h * w)
    return X


def endmembers(k: int, n_bands: int, rng: np.random.Generator) -> np.ndarray:
    """(k, n_bands) smooth non-negative spectra: 2-4 Gaussian bands on a sloped baseline."""
    x = np.linspace(0.0, 1.0, n_bands)
    S = np.empty((k, n_bands))
    for j in range(k):
        s = rng.uniform(0.05, 0.3) + rng.uniform(-0.1, 0.3) * x
        for _ in range(rng.integers(2, 5)):
            s += rng.uniform(0.3, 1.0) * np.exp(
                -0.5 * ((x - rng.uniform(0, 1)) / rng.uniform(0.03, 0.15)) ** 2
            )
        S[j] = np.maximum(s, 0.01)
    return S


def _spectra(
    n: int, n_bands: int, k: int, rng: np.random.Generator, chunk: int = 20_000
) -> np.ndarray:
    """(n, n_bands) float32: Dirichlet abundances x smooth spectra x illumination + noise."""
    S = endmembers(k, n_bands, rng).astype(np.float32)
    X = np.empty((n, n_bands), dtype=np.float32)
    alpha = np.full(k, 0.4)
    for start in range(0, n, chunk):
        c = min(chunk, n - start)
        A = rng.dirichlet(alpha, c).astype(np.float32)
        A *= rng.uniform(0.7, 1.3, c).astype(np.float32)[:, None]
        block = A @ S
        block += rng.normal(0.0, 0.01, block.shape).astype(np.float32)
        np.maximum(block, 0.0, out=block)
        X[start : start + c] = block
    return X


def make_X(problem: Problem) -> np.ndarray:
    """(n, m) float32 C-contiguous X for a problem; the same every call (fixed seed)."""
    rng = np.random.default_rng(problem.seed)
    if problem.kind == "faces":
        X = _augment_faces(problem.n, problem.shape, rng)
    elif problem.kind == "spectra":
        X = _spectra(problem.n, problem.shape[0], problem.k, rng)
    else:  # pragma: no cover - table above is the only source of problems
        raise ValueError(f"unknown problem kind {problem.kind!r}")
    assert X.flags.c_contiguous and X.dtype == np.float32 and X.min() >= 0
    return X


def nndsvda(X: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The shared starting point: nndsvda factors W0 (n, k), H0 (k, m), X's dtype.

    scikit-learn's own initialiser (the reference side), so both sides start
    from exactly the factors scikit-learn would use with init='nndsvda'.
    """
    from sklearn.decomposition._nmf import _initialize_nmf

    W0, H0 = _initialize_nmf(X, k, init="nndsvda", random_state=seed)
    return (np.ascontiguousarray(W0, dtype=X.dtype), np.ascontiguousarray(H0, dtype=X.dtype))


def select(names: str | None, quick: bool) -> list[Problem]:
    """Problems by comma-separated names (None: all four), full or quick sizes."""
    table = QUICK if quick else FULL
    if not names:
        return list(table.values())
    chosen = []
    for name in (s.strip() for s in names.split(",")):
        if name not in table:
            raise SystemExit(f"unknown problem {name!r}; choose from {', '.join(table)}")
        chosen.append(table[name])
    return chosen
