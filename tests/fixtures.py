"""Tiny GTSRB-style datasets written into ``tmp_path``, in both layouts users have."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

_PALETTE = [(0, 0, 200), (200, 80, 0), (0, 200, 220), (40, 40, 40), (200, 200, 200)]


def sign_image(class_id: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A square image with a class-dependent disc/square and a ~10% border; returns (BGR, inclusive ROI)."""
    img = rng.integers(60, 120, (size, size, 3), dtype=np.uint8)
    b = max(1, size // 10)
    roi = (b, b, size - 1 - b, size - 1 - b)
    colour = _PALETTE[class_id % len(_PALETTE)]
    if class_id % 2:
        cv2.circle(img, (size // 2, size // 2), size // 2 - b, colour, -1)
    else:
        cv2.rectangle(img, (roi[0], roi[1]), (roi[2], roi[3]), colour, -1)
    cv2.putText(img, str(class_id), (size // 4, size * 2 // 3), cv2.FONT_HERSHEY_SIMPLEX, size / 60,
                (255, 255, 255), max(1, size // 30))
    return img, roi


def _track_images(class_id: int, tracks: int, frames: int, sizes, rng: np.random.Generator):
    """(track, frame, size, image, ROI) for every frame of every track of one class."""
    for t in range(tracks):
        for f in range(frames):
            size = int(sizes[(t + f) % len(sizes)])
            yield (t, f, size, *sign_image(class_id, size, rng))


def make_official(root: Path, classes: list[int], tracks: int = 2, frames: int = 3, sizes=(32, 45)) -> Path:
    """``root/Final_Training/Images/000NN/GT-000NN.csv`` with PPM files at several sizes."""
    rng = np.random.default_rng(0)
    base = root / "Final_Training" / "Images"
    for c in classes:
        d = base / f"{c:05d}"
        d.mkdir(parents=True)
        lines = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
        for t, f, size, img, roi in _track_images(c, tracks, frames, sizes, rng):
            name = f"{t:05d}_{f:05d}.ppm"
            cv2.imwrite(str(d / name), img)
            lines.append(f"{name};{size};{size};{roi[0]};{roi[1]};{roi[2]};{roi[3]};{c}")
        (d / f"GT-{c:05d}.csv").write_text("\n".join(lines) + "\n")
    return root


def make_kaggle(root: Path, classes: list[int], tracks: int = 2, frames: int = 3, sizes=(30, 64)) -> Path:
    """``Train.csv`` + ``Train/<id>/*.png`` and ``Test.csv`` + ``Test/*.png``, comma-separated."""
    rng = np.random.default_rng(1)
    header = "Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path"
    train, test = [header], [header]
    for n_test, c in enumerate(classes):
        d = root / "Train" / str(c)
        d.mkdir(parents=True)
        for t, f, size, img, roi in _track_images(c, tracks, frames, sizes, rng):
            rel = f"Train/{c}/{c:05d}_{t:05d}_{f:05d}.png"
            cv2.imwrite(str(root / rel), img)
            train.append(f"{size},{size},{roi[0]},{roi[1]},{roi[2]},{roi[3]},{c},{rel}")
        img, roi = sign_image(c, 40, rng)
        (root / "Test").mkdir(exist_ok=True)
        rel = f"Test/{n_test:05d}.png"
        cv2.imwrite(str(root / rel), img)
        test.append(f"40,40,{roi[0]},{roi[1]},{roi[2]},{roi[3]},{c},{rel}")
    (root / "Train.csv").write_text("\n".join(train) + "\n")
    (root / "Test.csv").write_text("\n".join(test) + "\n")
    return root
