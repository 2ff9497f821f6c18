"""Box arithmetic every stage shares: overlap, greedy suppression, de-duplication, rescaling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from realtime.types import Detection

Box = tuple[float, float, float, float]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Jaccard index of two boxes (the GTSDB match criterion is >= 0.6)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard index of every box in ``a`` (N, 4) against every box in ``b`` (M, 4): (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def greedy_keep(same: np.ndarray, scores: np.ndarray) -> list[int]:
    """Greedy suppression, the one rule behind ``suppress`` and ``dedupe``: in order of score (ties
    in input order), keep each item that ``same`` (N, N) does not tie to an item kept before it.
    Returns the kept indices, best first."""
    kept: list[int] = []
    for i in np.argsort(-np.asarray(scores), kind="stable").tolist():
        if not same[i, kept].any():
            kept.append(i)
    return kept


def suppress(boxes: Sequence[Sequence[float]], scores: np.ndarray, overlap: float, idx: np.ndarray) -> np.ndarray:
    """``idx`` (in its order) without the boxes that overlap a better-scored kept one by IoU >= ``overlap``."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return idx[np.sort(greedy_keep(iou_matrix(b, b) >= overlap, scores))]


def dedupe(dets: Sequence[Detection], overlap: float = 0.5, centre: bool = False) -> list[Detection]:
    """Best score first, one detection per place: a box overlapping a kept one by IoU >= ``overlap``
    (or, with ``centre``, holding its centre or having its centre held) is the same sign."""
    b = np.asarray([d.box for d in dets], np.float64).reshape(-1, 4)
    same = iou_matrix(b, b) >= overlap
    if centre:
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        holds = ((b[:, None, 0] <= cx) & (cx <= b[:, None, 2]) & (b[:, None, 1] <= cy) & (cy <= b[:, None, 3]))
        same |= holds | holds.T
    return [dets[i] for i in greedy_keep(same, np.array([d.score for d in dets], np.float64))]


def rescale(box: Sequence[float], scale: Sequence[float]) -> Box:
    """``box`` scaled by (width, height) factors about its centre."""
    sx, sy = scale
    if sx == 1.0 and sy == 1.0:
        return tuple(float(v) for v in box)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * sx / 2, (box[3] - box[1]) * sy / 2
    return float(cx - hw), float(cy - hh), float(cx + hw), float(cy + hh)


def clip_box(box: Sequence[float], W: int, H: int) -> Box:
    """A box inside a W x H frame and at least a pixel wide (the box head may overshoot an edge)."""
    x1 = float(min(max(box[0], 0.0), W - 1))
    y1 = float(min(max(box[1], 0.0), H - 1))
    return x1, y1, float(min(max(box[2], x1 + 1), W)), float(min(max(box[3], y1 + 1), H))


def around(box: Sequence[float], grow: float, W: int, H: int) -> tuple[int, int, int, int]:
    """``box`` grown by ``grow`` of its size on every side, in whole pixels, clipped to the frame."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    return (max(0, int(round(x1 - grow * w))), max(0, int(round(y1 - grow * h))),
            min(W, int(round(x2 + grow * w))), min(H, int(round(y2 + grow * h))))
