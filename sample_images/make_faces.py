"""Regenerate sample_images/faces/face_000.png ... face_099.png.

They are the first 100 images of ``skimage.data.lfw_subset()`` (the faces;
the other 100 are non-faces): 25x25 gray floats in [0, 1], stored as 8-bit PNG.

    python make_faces.py
"""

from pathlib import Path

import numpy as np
from PIL import Image
from skimage.data import lfw_subset

HERE = Path(__file__).resolve().parent


def main(out: Path = HERE / "faces") -> None:
    faces = lfw_subset()[:100]  # (100, 25, 25) float64 in [0, 1]
    for i, face in enumerate(faces):
        pixels = np.clip(np.round(face * 255), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(out / f"face_{i:03d}.png", optimize=True)


if __name__ == "__main__":
    main()
