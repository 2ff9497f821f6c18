"""Readers for the two GTSRB layouts people have, and the track-wise validation split.

Official layout: ``Final_Training/Images/000NN/GT-000NN.csv`` (``;``-separated, PPM files).
Kaggle layout: ``Train.csv`` / ``Test.csv`` (``,``-separated, ``Path`` column, PNG files).
ROIs in both CSVs describe the image at its original size; they are rescaled to the size
the file actually has, so 32x32 copies and full-size downloads read alike.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

_TRACK_RE = re.compile(r"^(\d+)_(\d+)(?:_(\d+))?$")


class DatasetError(Exception):
    """The folder given is not a GTSRB dataset we can read (one clear message for the user)."""


@dataclass
class Sample:
    path: Path
    class_id: int
    track: str  # samples sharing a track show one physical sign
    roi: tuple[float, float, float, float]  # in the CSV's (original) pixel frame
    size: tuple[int, int]  # (width, height) the CSV declares


@dataclass
class Dataset:
    """Images in memory with their sign boxes rescaled to the actual pixels."""

    images: list[np.ndarray]  # BGR uint8, any size
    rois: np.ndarray  # (N, 4) float32, x1 y1 x2 y2 in actual pixels (x2, y2 exclusive)
    labels: np.ndarray  # (N,) int32
    tracks: np.ndarray  # (N,) str
    paths: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # unreadable files

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: Iterable[int]) -> Dataset:
        idx = np.asarray(list(index), dtype=np.int64)
        return Dataset(
            [self.images[i] for i in idx], self.rois[idx], self.labels[idx], self.tracks[idx],
            [self.paths[i] for i in idx] if self.paths else [],
        )

    def counts(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.labels, minlength=num_classes)


def _track_of(stem: str, class_id: int) -> str:
    """Track key from a file name: ``TTTTT_FFFFF`` (official) or ``CCCCC_TTTTT_FFFFF`` (Kaggle).

    Files with no track in their name (test sets) count as a track of their own.
    """
    m = _TRACK_RE.match(stem)
    if not m:
        return f"{class_id}:{stem}"
    if m.group(3) is not None:  # Kaggle: class_track_frame
        return f"{int(m.group(1))}:{m.group(2)}"
    return f"{class_id}:{m.group(1)}"


def _row_sample(row: dict[str, str], path: Path) -> Sample:
    cid = int(row["ClassId"])
    roi = tuple(float(row[k]) for k in ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2"))
    size = (int(row["Width"]), int(row["Height"]))
    return Sample(path, cid, _track_of(path.stem, cid), roi, size)  # type: ignore[arg-type]


def _read_official(csv_path: Path) -> list[Sample]:
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    if rows and "ClassId" not in rows[0]:
        return []  # an unlabelled test CSV
    return [_row_sample(r, csv_path.parent / r["Filename"]) for r in rows]


def _read_kaggle(csv_path: Path) -> list[Sample]:
    root = csv_path.parent
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=","))
    return [_row_sample(r, root / r["Path"]) for r in rows if "ClassId" in r]


def find_samples(data: Path | str, split: str = "train") -> list[Sample]:
    """All labelled samples under ``data``, whichever layout it has.

    ``data`` may be the dataset root or any folder above the CSVs (``../shared/data`` works).
    For the Kaggle layout ``split`` picks ``Train.csv`` or ``Test.csv``.
    """
    root = Path(data)
    if not root.exists():
        raise DatasetError(f"data folder not found: {root}")
    kaggle = sorted(root.rglob("Train.csv" if split == "train" else "Test.csv"))
    if kaggle:
        samples = [s for p in kaggle for s in _read_kaggle(p)]
    else:
        samples = [s for p in sorted(root.rglob("GT-*.csv")) for s in _read_official(p)]
    if not samples:
        raise DatasetError(
            f"no GTSRB annotations under {root} (looked for GT-*.csv and Train.csv/Test.csv)"
        )
    return samples


def scale_roi(roi: tuple[float, ...], declared: tuple[int, int], width: int, height: int) -> np.ndarray:
    """A CSV ROI (inclusive pixel indices at the declared size) as an exclusive box in actual pixels."""
    sx, sy = width / max(declared[0], 1), height / max(declared[1], 1)
    x1, y1, x2, y2 = roi
    box = np.array([x1 * sx, y1 * sy, (x2 + 1) * sx, (y2 + 1) * sy], np.float32)
    return np.clip(box, 0, [width, height, width, height]).astype(np.float32)


def _load_one(sample: Sample) -> tuple[np.ndarray | None, np.ndarray]:
    img = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
    if img is None:
        return None, np.zeros(4, np.float32)
    return img, scale_roi(sample.roi, sample.size, img.shape[1], img.shape[0])


def load(data: Path | str, split: str = "train", limit_per_class: int | None = None,
         classes: Iterable[int] | None = None, workers: int = 4) -> Dataset:
    """Read images and rescaled ROIs into memory. Unreadable files are skipped and listed."""
    samples = find_samples(data, split)
    if classes is not None:
        keep = set(classes)
        samples = [s for s in samples if s.class_id in keep]
    if limit_per_class is not None:
        seen: Counter[int] = Counter()
        picked = []
        for s in samples:
            if seen[s.class_id] < limit_per_class:
                seen[s.class_id] += 1
                picked.append(s)
        samples = picked
    with ThreadPoolExecutor(workers) as pool:
        loaded = list(pool.map(_load_one, samples))
    images, rois, labels, tracks, paths, skipped = [], [], [], [], [], []
    for s, (img, roi) in zip(samples, loaded):
        if img is None:
            skipped.append(str(s.path))
            continue
        images.append(img)
        rois.append(roi)
        labels.append(s.class_id)
        tracks.append(s.track)
        paths.append(str(s.path))
    if not images:
        raise DatasetError(f"no readable images under {data}")
    return Dataset(images, np.stack(rois), np.asarray(labels, np.int32),
                   np.asarray(tracks), paths, skipped)


def split_by_track(labels: np.ndarray, tracks: np.ndarray, val_fraction: float = 0.15,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) such that no track is on both sides.

    Stratified per class: each class gives ``val_fraction`` of its tracks (at least one
    where it has two or more), so the rare classes are in the validation set too.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[str]] = defaultdict(list)
    for cid, tr in sorted(set(zip(labels.tolist(), tracks.tolist()))):
        by_class[cid].append(tr)
    val_tracks: set[str] = set()
    for cid in sorted(by_class):
        trs = sorted(by_class[cid])
        rng.shuffle(trs)
        n_val = int(round(len(trs) * val_fraction))
        if len(trs) >= 2:
            n_val = min(max(n_val, 1), len(trs) - 1)
        val_tracks.update(trs[:n_val])
    is_val = np.fromiter((t in val_tracks for t in tracks.tolist()), bool, len(tracks))
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)
