"""GTSDB-protocol detection metrics with plain numpy: IoU matching, precision/recall, AP, per category.

Kept free of OpenCV and TensorFlow so the numbers can be checked by hand in small tests and
reused by any runner that produces boxes (the evaluation CLI, the live pipeline's event log).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from realtime.boxes import iou_matrix
from realtime.classes import CATEGORIES, category_of

IOU_THRESHOLD = 0.6  # the GTSDB benchmark's Jaccard criterion
SIZE_BINS: tuple[int, ...] = (32, 64)  # sign width edges in px: <32, 32-64, >=64


@dataclass
class ImageBoxes:
    """Boxes of one image: ground truth (scores all 1) or detections (class -1 = unclassified)."""

    boxes: np.ndarray  # (N, 4) float x1, y1, x2, y2 (x2/y2 exclusive)
    classes: np.ndarray  # (N,) int GTSRB ids
    scores: np.ndarray = field(default=None)  # (N,) float

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float64).reshape(-1, 4)
        self.classes = np.asarray(self.classes, np.int64).reshape(-1)
        self.scores = (np.ones(len(self.boxes)) if self.scores is None
                       else np.asarray(self.scores, np.float64).reshape(-1))
        if not len(self.boxes) == len(self.classes) == len(self.scores):
            raise ValueError("boxes, classes and scores must have the same length")

    def __len__(self) -> int:
        return len(self.boxes)

    def subset(self, keep: np.ndarray) -> ImageBoxes:
        return ImageBoxes(self.boxes[keep], self.classes[keep], self.scores[keep])


def match(det: ImageBoxes, gt: ImageBoxes, threshold: float = IOU_THRESHOLD,
          same_class: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching by descending score, one detection per GT (VOC/GTSDB style).

    Returns ``tp`` (bool per detection) and ``gt_hit`` (bool per GT). A second detection of an
    already matched sign is a false positive, as the benchmark counts duplicates.
    """
    tp = np.zeros(len(det), bool)
    hit = np.zeros(len(gt), bool)
    if len(det) == 0 or len(gt) == 0:
        return tp, hit
    ious = iou_matrix(det.boxes, gt.boxes)
    if same_class:
        ious = np.where(det.classes[:, None] == gt.classes[None, :], ious, 0.0)
    for i in np.argsort(-det.scores, kind="stable"):
        cand = np.where(~hit & (ious[i] >= threshold))[0]
        if len(cand):
            j = cand[np.argmax(ious[i, cand])]
            hit[j] = True
            tp[i] = True
    return tp, hit


def pr_curve(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision after each detection, in descending score order."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    hits = np.asarray(tp, bool)[order]
    ctp = np.cumsum(hits)
    cfp = np.cumsum(~hits)
    recall = ctp / max(n_gt, 1)
    precision = ctp / np.maximum(ctp + cfp, 1)
    return recall, precision


def average_precision(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> float:
    """Area under the interpolated precision/recall curve (VOC 2010+ all-points)."""
    if n_gt == 0:
        return float("nan")
    recall, precision = pr_curve(scores, tp, n_gt)
    r = np.concatenate([[0.0], recall, [recall[-1] if len(recall) else 0.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # interpolate: best precision at any higher recall
    steps = np.where(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def size_bin(width: float, edges: tuple[int, ...] = SIZE_BINS) -> str:
    """Name of the width bin of a sign, e.g. '<32', '32-64', '>=64'."""
    for i, e in enumerate(edges):
        if width < e:
            return f"<{e}" if i == 0 else f"{edges[i - 1]}-{e}"
    return f">={edges[-1]}"


def recall_by_size(widths: np.ndarray, hit: np.ndarray, edges: tuple[int, ...] = SIZE_BINS) -> dict:
    """Recall per sign width bin: where small distant signs are lost shows up here."""
    names = [size_bin(w, edges) for w in np.asarray(widths, np.float64)]
    out = {}
    for b in [size_bin(e - 1, edges) for e in edges] + [f">={edges[-1]}"]:
        sel = np.array([n == b for n in names], bool)
        n = int(sel.sum())
        out[b] = {"n": n, "recall": float(np.asarray(hit)[sel].mean()) if n else None}
    return out


@dataclass
class Pooled:
    """Detections and GT of many images after per-image matching, pooled for the curves."""

    scores: np.ndarray
    tp: np.ndarray
    gt_widths: np.ndarray
    gt_hit: np.ndarray

    def summary(self) -> dict:
        n_gt, n_det = len(self.gt_hit), len(self.tp)
        ntp = int(self.tp.sum())
        return {
            "n_gt": n_gt, "n_det": n_det, "tp": ntp, "fp": n_det - ntp, "fn": n_gt - int(self.gt_hit.sum()),
            "precision": ntp / n_det if n_det else None,
            "recall": float(self.gt_hit.mean()) if n_gt else None,
            "ap": average_precision(self.scores, self.tp, n_gt) if n_gt else None,
            "recall_by_size": recall_by_size(self.gt_widths, self.gt_hit),
        }


def pool(dets: Mapping[str, ImageBoxes], gts: Mapping[str, ImageBoxes], keep_det=None, keep_gt=None,
         same_class: bool = False, threshold: float = IOU_THRESHOLD) -> Pooled:
    """Match image by image (only boxes the ``keep_*`` predicates accept), then pool the results.

    Images in ``gts`` without an entry in ``dets`` count as having no detections, and images
    only in ``dets`` (scenes without signs) contribute their false positives.
    """
    scores, tps, widths, hits = [], [], [], []
    empty = ImageBoxes(np.zeros((0, 4)), np.zeros(0))
    for name in sorted(set(dets) | set(gts)):
        d, g = dets.get(name, empty), gts.get(name, empty)
        if keep_det is not None:
            d = d.subset(np.array([bool(keep_det(int(c))) for c in d.classes], bool))
        if keep_gt is not None:
            g = g.subset(np.array([bool(keep_gt(int(c))) for c in g.classes], bool))
        tp, hit = match(d, g, threshold, same_class)
        scores.append(d.scores)
        tps.append(tp)
        widths.append(g.boxes[:, 2] - g.boxes[:, 0])
        hits.append(hit)
    def cat(xs, dt):
        return (np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    return Pooled(cat(scores, np.float64), cat(tps, bool), cat(widths, np.float64), cat(hits, bool))


def _in(category: str):
    return lambda c: c >= 0 and category_of(c) == category


def evaluate(dets: Mapping[str, ImageBoxes], gts: Mapping[str, ImageBoxes],
             threshold: float = IOU_THRESHOLD) -> dict:
    """Everything the report holds, by GTSDB category and overall.

    Per category (the benchmark protocol): detections whose predicted class is in the category
    against the GT signs of that category, class otherwise ignored. ``overall``: every
    detection against every sign, class ignored (localisation). ``end_to_end``: the class must
    match too.
    """
    out: dict = {"iou_threshold": threshold, "categories": {}}
    for cat in CATEGORIES:
        out["categories"][cat] = pool(dets, gts, _in(cat), _in(cat), threshold=threshold).summary()
    out["overall"] = pool(dets, gts, threshold=threshold).summary()
    out["end_to_end"] = pool(dets, gts, same_class=True, threshold=threshold).summary()
    return out


def candidate_recall(cands: Mapping[str, ImageBoxes], gts: Mapping[str, ImageBoxes],
                     threshold: float = IOU_THRESHOLD) -> dict:
    """Share of signs that any detector candidate frames at IoU >= threshold, per GT category.

    Needs no classifier: it bounds the recall the whole system can reach.
    """
    out = {}
    for cat in (*CATEGORIES, "all"):
        keep = None if cat == "all" else _in(cat)
        p = pool(cands, gts, keep_gt=keep, threshold=threshold)
        hit = p.gt_hit  # greedy one-to-one; two signs never share one candidate at IoU >= 0.6
        out[cat] = {"n_gt": len(hit), "recall": float(hit.mean()) if len(hit) else None,
                    "recall_by_size": recall_by_size(p.gt_widths, hit)}
    n_cands = sum(len(c) for c in cands.values())
    out["candidates_per_image"] = n_cands / max(len(set(cands) | set(gts)), 1)
    return out
