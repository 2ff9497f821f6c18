"""``python -m training bench-preprocess``: milliseconds per crop of the preprocessing the product runs.

The per-frame path (``prepare_boxes``: sample every box of a 1360x800 frame in one remap, then
contrast and colour) is timed on boxes of GTSDB's sign sizes (16-128 px, median 35), one OpenCV
thread, best of several repeats, for the recognizer's settings and the alternatives, and for the
gate's. The cut-out-crop path (``prepare_batch``, image files) is timed for comparison.
"""

from __future__ import annotations

import json
import logging
import timeit

import cv2
import numpy as np

from realtime.preprocess import Preprocessing, prepare_batch, prepare_boxes

log = logging.getLogger(__name__)  # progress and figures; the command line prints them

SETTINGS = {
    "recognizer: rgb, CLAHE 4x4 on YCrCb (shipped)": Preprocessing(clahe_grid=4, clahe_clip=8.0),
    "rgb, CLAHE 4x4 on LAB (before)": Preprocessing(clahe_grid=4, clahe_clip=2.0, luma="lab"),
    "rgb, CLAHE 2x2 on YCrCb": Preprocessing(clahe_grid=2),
    "rgb, equalize on YCrCb": Preprocessing(contrast="equalize"),
    "rgb, none": Preprocessing(contrast="none"),
    "gate: 20x20 rgb, stretch (shipped)": Preprocessing(size=20, contrast="stretch"),
}


def gtsdb_like_boxes(n: int, width: int = 1360, height: int = 800, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = np.clip(np.exp(rng.normal(np.log(35), 0.45, n)), 16, 128)
    x = rng.uniform(0, width - 130, n)
    y = rng.uniform(0, height - 130, n)
    return np.stack([x, y, x + w, y + w * rng.uniform(0.9, 1.1, n)], axis=1)


def bench(n_crops: int = 256, repeat: int = 9, seed: int = 0) -> dict:
    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    frame = cv2.GaussianBlur(rng.integers(0, 255, (800, 1360, 3), dtype=np.uint8), (0, 0), 1.5)
    boxes = gtsdb_like_boxes(n_crops, seed=seed)
    results: dict[str, dict] = {}
    for name, cfg in SETTINGS.items():
        row = {}
        for batch in (1, 8, 32):
            groups = [boxes[i:i + batch] for i in range(0, n_crops, batch)]
            [prepare_boxes(frame, g, cfg) for g in groups]  # warm the CLAHE objects
            t = min(timeit.repeat(lambda g=groups, c=cfg: [prepare_boxes(frame, x, c) for x in g], number=1,
                                  repeat=repeat))
            row[f"batch{batch}"] = 1000 * t / n_crops
        results[name] = row
    crops = [frame[int(y1):int(y2), int(x1):int(x2)] for x1, y1, x2, y2 in boxes]
    cfg = SETTINGS["recognizer: rgb, CLAHE 4x4 on YCrCb (shipped)"]
    groups = [crops[i:i + 32] for i in range(0, n_crops, 32)]
    t = min(timeit.repeat(lambda: [prepare_batch(g, cfg) for g in groups], number=1, repeat=repeat))
    results["cut-out crops (prepare_batch), shipped settings"] = {"batch32": 1000 * t / n_crops}
    log.info(f"{'setting':<52}{'batch 1':>10}{'batch 8':>10}{'batch 32':>10}   ms per crop")
    for name, row in results.items():
        log.info(f"{name:<52}" + "".join(f"{row[k]:>10.4f}" if k in row else f"{'-':>10}"
                                         for k in ("batch1", "batch8", "batch32")))
    return results


def main(args) -> int:
    res = bench(args.crops)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0
