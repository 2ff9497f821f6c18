"""Save detector candidates that overlap no sign, as crops for a future "background" CNN class.

A 43-class CNN must name a sign for every crop it sees, and on GTSDB it calls yellow leaves
"priority road" with 0.99 confidence: a background class trained on exactly the clutter the
detector proposes is the fix. Crops are written per fold (the same interleaved folds as
``eval-detection``), so a model evaluated on fold k can be trained without fold k's scenes.

    python -m training.mine_background --scenes DIR --gt gt.txt --out DIR [--max-per-scene 20]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

from realtime.detect import Detector
from realtime.preprocess import Preprocessing, as_bgr8, crop
from training.detection_eval import FOLDS, fold_of, list_scenes, read_gt
from training.detmetrics import iou_matrix

MAX_IOU = 0.1  # a crop touching a sign this much is not clean background


def background_candidates(frame: np.ndarray, detector: Detector, gt_boxes: np.ndarray,
                          max_iou: float = MAX_IOU) -> list:
    """Candidates of a frame that overlap no ground-truth sign and contain no sign centre."""
    dets = detector(frame)
    if not dets or len(gt_boxes) == 0:
        return dets
    boxes = np.array([d.box for d in dets])
    ious = iou_matrix(boxes, gt_boxes).max(axis=1)
    cx, cy = (gt_boxes[:, 0] + gt_boxes[:, 2]) / 2, (gt_boxes[:, 1] + gt_boxes[:, 3]) / 2
    holds = ((boxes[:, None, 0] <= cx) & (cx <= boxes[:, None, 2]) & (boxes[:, None, 1] <= cy)
             & (cy <= boxes[:, None, 3])).any(axis=1)
    return [d for d, o, h in zip(dets, ious, holds) if o < max_iou and not h]


def mine(scenes_dir: str, gt_path: str, out: str, max_per_scene: int = 20, margin: float | None = None) -> int:
    """Write ``out/fold{k}/<scene>_<i>.png`` and ``out/index.csv``; returns the number of crops."""
    margin = Preprocessing().margin if margin is None else margin
    scenes = list_scenes(scenes_dir)
    gts = read_gt(gt_path)
    folds = fold_of([p.name for p in scenes], FOLDS)
    detector = Detector()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out_dir / "index.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "scene", "fold", "x1", "y1", "x2", "y2", "colour", "shape", "candidate_score"])
        for path in scenes:
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if img is None:
                continue
            frame = as_bgr8(img)
            g = gts.get(path.name)
            gt_boxes = g.boxes if g is not None else np.zeros((0, 4))
            fold_dir = out_dir / f"fold{folds[path.name]}"
            fold_dir.mkdir(exist_ok=True)
            for i, d in enumerate(background_candidates(frame, detector, gt_boxes)[:max_per_scene]):
                name = f"{path.stem}_{i:02d}.png"
                cv2.imwrite(str(fold_dir / name), crop(frame, d.box, margin))
                w.writerow([f"fold{folds[path.name]}/{name}", path.name, folds[path.name],
                            *(round(float(v), 1) for v in d.box), d.colour, d.shape, round(d.candidate_score, 3)])
                n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.mine_background", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", required=True)
    p.add_argument("--gt", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--max-per-scene", type=int, default=20)
    args = p.parse_args(argv)
    try:
        n = mine(args.scenes, args.gt, args.out, args.max_per_scene)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} background crops to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
