"""``python -m training compare-preprocessing``: which colour mode and contrast method to ship.

A cheap, seeded probe that runs in a minute on 2 cores: a ridge-regression classifier on
the preprocessed pixels, fitted on the track-wise training split and scored on the
validation tracks. It measures how separable each preprocessing makes the classes, not the
CNN's final accuracy; the CNN runs of ``train`` confirm the chosen setting.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from realtime.classes import NUM_CLASSES
from realtime.preprocess import COLOURS, CONTRASTS, Preprocessing, to_input
from training import augment, datasets

log = logging.getLogger(__name__)  # progress and figures; the command line prints them

# colour mode x contrast method at the default CLAHE settings, then the CLAHE settings themselves:
# on 32x32 crops a 4x4 grid leaves 64 pixels a tile, and a low clip limit then barely changes a dark crop
SETTINGS: tuple[dict, ...] = (
    *({"color": c, "contrast": k} for c in COLOURS for k in CONTRASTS),
    {"contrast": "clahe", "clahe_grid": 4, "clahe_clip": 2.0, "luma": "lab"},
    {"contrast": "clahe", "clahe_grid": 4, "clahe_clip": 2.0},
    {"contrast": "clahe", "clahe_grid": 2, "clahe_clip": 2.0},
    {"contrast": "clahe", "clahe_grid": 2, "clahe_clip": 4.0},
    {"contrast": "clahe", "clahe_grid": 2, "clahe_clip": 8.0},
    {"contrast": "clahe", "clahe_grid": 4, "clahe_clip": 8.0},
)


def label(cfg: Preprocessing) -> str:
    if cfg.contrast != "clahe":
        return f"{cfg.color}/{cfg.contrast}"
    return f"{cfg.color}/clahe {cfg.clahe_grid}x{cfg.clahe_grid} clip {cfg.clahe_clip:g} on {cfg.luma}"


def ridge_probe(x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray, lam: float) -> float:
    """Validation accuracy of a one-vs-all ridge classifier (closed form, float64 normal equations)."""
    a = x_tr.reshape(len(x_tr), -1).astype(np.float64)
    mu = a.mean(axis=0)
    a -= mu
    targets = np.eye(NUM_CLASSES)[y_tr]
    gram = a.T @ a
    gram[np.diag_indices_from(gram)] += lam * len(a)
    w = np.linalg.solve(gram, a.T @ targets)
    b = x_va.reshape(len(x_va), -1).astype(np.float64) - mu
    return float(np.mean((b @ w).argmax(axis=1) == y_va))


def compare(data: str, seed: int = 0, val_fraction: float = 0.15, lam: float = 1e-2) -> dict:
    ds = datasets.load(data)
    tr, va = datasets.split_by_track(ds.labels, ds.tracks, val_fraction, seed)
    results = {}
    for setting in SETTINGS:
        cfg = Preprocessing(**setting)
        name = label(cfg)
        if name in results:
            continue
        t0 = time.time()
        x = to_input(augment.batch(ds.images, ds.rois, cfg, None))
        acc = ridge_probe(x[tr], ds.labels[tr], x[va], ds.labels[va], lam)
        results[name] = acc
        log.info(f"{name:<36} ridge-probe validation accuracy {acc:.4f}  ({time.time() - t0:.0f}s)")
    best = max(results, key=results.get)
    log.info(f"best: {best}")
    return {"probe": "ridge", "lambda": lam, "seed": seed, "val_fraction": val_fraction,
            "train_images": int(len(tr)), "val_images": int(len(va)), "accuracy": results, "best": best}


def main(args) -> int:
    res = compare(args.data, seed=args.seed)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0
