"""The swimmer data set of Donoho & Stodden (2003), regenerated.

256 images of 32x32 pixels: a stick figure with a fixed torso (a vertical
bar) and four limbs, each in one of four positions, all 4^4 = 256
combinations. The 17 ground-truth parts are the torso and the 16 limb
positions; they do not overlap, so NMF can recover them as its basis.

    make_swimmer() -> images (256, 32, 32), parts (17, 32, 32), float64 in {0, 1}

``python make_swimmer.py`` writes images/swimmer_000.png ... swimmer_255.png
(8-bit, 0 or 255) and ground_truth/parts.npy (17, 32, 32) float32.
Image i has limb positions given by the base-4 digits of i (left arm,
right arm, left leg, right leg, most significant first).
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZE = 32
TORSO = (slice(10, 22), slice(15, 17))  # rows 10..21, columns 15..16
# (joint row, joint column, angles in degrees; 0 = right, 90 = up)
LIMBS = (
    (11, 14.5, (90, 125, 160, 195)),  # left arm: up ... slightly down-left
    (11, 16.5, (90, 55, 20, -15)),  # right arm, mirrored
    (20, 14.5, (165, 200, 235, 270)),  # left leg: out-left ... straight down
    (20, 16.5, (15, -20, -55, -90)),  # right leg, mirrored
)
START, LENGTH = 2.5, 8.0  # limb segment: from START to START + LENGTH pixels off the joint


def _segment(row: float, col: float, angle: float) -> np.ndarray:
    """(32, 32) 0/1 image of a one-pixel-wide limb segment."""
    part = np.zeros((SIZE, SIZE))
    rad = np.deg2rad(angle)
    for t in np.linspace(START, START + LENGTH, 64):
        r = round(row - t * np.sin(rad))
        c = round(col + t * np.cos(rad))
        if 0 <= r < SIZE and 0 <= c < SIZE:
            part[r, c] = 1.0
    return part


def make_parts() -> np.ndarray:
    """(17, 32, 32) ground-truth parts: torso, then 4 positions of each limb."""
    torso = np.zeros((SIZE, SIZE))
    torso[TORSO] = 1.0
    parts = [torso]
    for row, col, angles in LIMBS:
        parts.extend(_segment(row, col, a) for a in angles)
    parts = np.array(parts)
    # a pixel claimed by two parts (where segments meet) goes to neither, so
    # the parts are exactly disjoint
    shared = parts.sum(axis=0) > 1
    parts[:, shared] = 0.0
    return parts


def make_swimmer() -> tuple[np.ndarray, np.ndarray]:
    """images (256, 32, 32) and parts (17, 32, 32), float64 values 0 or 1."""
    parts = make_parts()
    images = np.empty((4**4, SIZE, SIZE))
    for i, pose in enumerate(product(range(4), repeat=4)):
        images[i] = parts[0] + sum(parts[1 + 4 * limb + pos] for limb, pos in enumerate(pose))
    return images, parts


def main(out: Path = HERE) -> None:
    from PIL import Image

    images, parts = make_swimmer()
    (out / "images").mkdir(exist_ok=True)
    (out / "ground_truth").mkdir(exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray((image * 255).astype(np.uint8)).save(
            out / "images" / f"swimmer_{i:03d}.png", optimize=True
        )
    np.save(out / "ground_truth" / "parts.npy", parts.astype(np.float32))


if __name__ == "__main__":
    main()
