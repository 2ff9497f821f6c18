"""GTSRB in memory (both layouts, read by ``realtime.annotations``) and the track-wise validation split."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from realtime.annotations import DatasetError, Sample, find_samples, scale_roi

__all__ = ["DatasetError", "Sample", "Dataset", "find_samples", "scale_roi", "load", "split_by_track",
           "check_folds", "track_folds", "split_from_record"]


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


def check_folds(folds: int | None, fold: int | None) -> None:
    """Raise ValueError unless (folds, fold) is (None, None) or K >= 2 with 0 <= I < K."""
    if folds is None and fold is None:
        return
    if folds is None or fold is None:
        raise ValueError("k-fold validation needs both folds (K) and fold (I)")
    if folds < 2:
        raise ValueError(f"k-fold validation needs at least 2 folds; got {folds}")
    if not 0 <= fold < folds:
        raise ValueError(f"fold is 0..{folds - 1} with {folds} folds; got {fold}")


def track_folds(labels: np.ndarray, tracks: np.ndarray, folds: int, seed: int = 0) -> dict[str, int]:
    """The fold (0..K-1) of every track: each class's tracks, shuffled with ``seed``, are dealt
    round-robin into the ``folds`` folds, each class starting where the last one stopped, so
    every class with K or more tracks is in every fold and the folds differ by at most one track."""
    check_folds(folds, 0)
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[str]] = defaultdict(list)
    for cid, tr in sorted(set(zip(labels.tolist(), tracks.tolist()))):
        by_class[cid].append(tr)
    fold_of: dict[str, int] = {}
    dealt = 0
    for cid in sorted(by_class):
        trs = sorted(by_class[cid])
        rng.shuffle(trs)
        for j, tr in enumerate(trs):
            fold_of[tr] = (dealt + j) % folds
        dealt += len(trs)
    return fold_of


def split_by_track(labels: np.ndarray, tracks: np.ndarray, val_fraction: float = 0.15,
                   seed: int = 0, folds: int | None = None, fold: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) such that no track is on both sides.

    Stratified per class: each class gives ``val_fraction`` of its tracks (at least one
    where it has two or more), so the rare classes are in the validation set too. With
    ``folds`` K and ``fold`` I (``track_folds``), fold I is the validation set and the
    other K - 1 folds the training set; ``val_fraction`` is then unused. ``val_fraction`` 0 puts
    every track in the training set, for a model shipped with a schedule the folds chose.
    """
    check_folds(folds, fold)
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction is a share of the tracks, 0 <= f < 1; got {val_fraction}")
    if folds is None and val_fraction == 0.0:
        return np.arange(len(tracks)), np.zeros(0, np.int64)
    if folds is not None:
        fold_of = track_folds(labels, tracks, folds, seed)
        is_val = np.fromiter((fold_of[t] == fold for t in tracks.tolist()), bool, len(tracks))
        return np.flatnonzero(~is_val), np.flatnonzero(is_val)
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


def split_from_record(labels: np.ndarray, tracks: np.ndarray, split: dict) -> tuple[np.ndarray, np.ndarray]:
    """The split a model card's ``training.split`` records (``by`` "track"): its seed and either
    its val_fraction or its folds and fold."""
    if split.get("by") != "track":
        raise ValueError("the model card records no track-wise split")
    if "folds" in split:
        return split_by_track(labels, tracks, seed=split["seed"], folds=split["folds"], fold=split["fold"])
    return split_by_track(labels, tracks, split["val_fraction"], split["seed"])
