"""``python -m training bench-preprocess``: milliseconds per crop of the one preprocessing path,
for every colour/contrast setting, on crops of detector-like sizes (one OpenCV thread)."""

from __future__ import annotations

import json
import timeit

import cv2
import numpy as np

from realtime.preprocess import COLOURS, CONTRASTS, Preprocessing, prepare_batch


def bench(n_crops: int = 256, repeat: int = 7, seed: int = 0) -> dict:
    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    # GTSDB signs are 16..128 px wide; framed crops are ~10% larger
    crops = [rng.integers(0, 255, (int(s), int(s * rng.uniform(0.9, 1.1)), 3), dtype=np.uint8)
             for s in rng.integers(18, 140, n_crops)]
    results = {}
    for color in COLOURS:
        for contrast in CONTRASTS:
            cfg = Preprocessing(color=color, contrast=contrast)
            prepare_batch(crops, cfg)  # warm the CLAHE cache
            for batch in (1, 8, 32):
                groups = [crops[i:i + batch] for i in range(0, n_crops, batch)]
                t = min(timeit.repeat(lambda g=groups, c=cfg: [prepare_batch(x, c) for x in g],
                                      number=1, repeat=repeat))
                results[f"{color}/{contrast}/batch{batch}"] = 1000 * t / n_crops
    print(f"{'colour/contrast':<18}{'batch 1':>10}{'batch 8':>10}{'batch 32':>10}   ms per crop")
    for color in COLOURS:
        for contrast in CONTRASTS:
            k = f"{color}/{contrast}"
            print(f"{k:<18}" + "".join(f"{results[f'{k}/batch{b}']:>10.4f}" for b in (1, 8, 32)))
    return results


def main(args) -> int:
    res = bench(args.crops)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0
