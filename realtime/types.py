"""The one small type every stage passes along: a sign detection in one frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Detection:
    """A sign candidate and, once classified, what it is.

    ``box`` is ``(x1, y1, x2, y2)`` in frame pixels, x2/y2 exclusive. ``class_id`` is a
    GTSRB id, or -1 while unclassified or when the classifier says it is not a sign.
    """

    box: tuple[float, float, float, float]
    score: float = 0.0  # classifier confidence in [0, 1]
    class_id: int = -1
    colour: str = ""  # detector route that found it: red, blue, yellow, achromatic, ...
    shape: str = ""  # circle, triangle, inverted_triangle, octagon, diamond
    candidate_score: float = 0.0  # detector's own shape/colour evidence in [0, 1]
    track_id: int | None = None
    confirmed: bool = False

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
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
