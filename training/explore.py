"""``python -m training explore``: what the data looks like before anyone trains on it."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from realtime.classes import NAMES, NUM_CLASSES
from training import datasets, plots

log = logging.getLogger(__name__)  # progress and figures; the command line prints them


def explore(data: str, out: str, per_class: int = 4, seed: int = 0) -> dict:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = datasets.load(data)
    counts = ds.counts(NUM_CLASSES)
    tracks = {c: len(set(ds.tracks[ds.labels == c])) for c in range(NUM_CLASSES)}
    plots.class_distribution(counts, list(NAMES), out_dir / "class_distribution.png",
                             f"GTSRB class distribution ({len(ds)} images, {len(set(ds.tracks))} tracks)")
    rng = np.random.default_rng(seed)
    tiles, caps = [], []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(ds.labels == c)
        if len(idx) == 0:
            continue
        # one image per distinct track where possible, so the grid shows variety
        by_track = {}
        for i in rng.permutation(idx):
            by_track.setdefault(ds.tracks[i], i)
        picks = list(by_track.values())[:per_class]
        row = [cv2.resize(ds.images[i], (48, 48), interpolation=cv2.INTER_NEAREST) for i in picks]
        row += [np.full((48, 48, 3), 255, np.uint8)] * (per_class - len(row))
        tiles.append(cv2.cvtColor(np.concatenate(row, axis=1), cv2.COLOR_BGR2RGB))
        caps.append(f"{c}: {NAMES[c][:28]}")
    plots.image_grid(tiles, caps, out_dir / "samples_grid.png", cols=5, cell=2.2,
                     title="One row of samples per class (different tracks)")
    log.info(f"{len(ds)} images, {len(set(ds.tracks))} tracks, {NUM_CLASSES} classes"
             + (f", {len(ds.skipped)} unreadable skipped" if ds.skipped else ""))
    log.info(f"{'id':>3}  {'class':<42}{'images':>7}{'tracks':>7}")
    for c in range(NUM_CLASSES):
        log.info(f"{c:>3}  {NAMES[c][:41]:<42}{counts[c]:>7}{tracks[c]:>7}")
    log.info(f"imbalance: {counts.max() / max(counts.min(), 1):.1f}x between most and least frequent class")
    log.info(f"wrote {out_dir / 'class_distribution.png'} and {out_dir / 'samples_grid.png'}")
    return {"counts": counts.tolist(), "tracks": tracks}
