"""The gate: a tiny CNN's P(sign) for every candidate of a frame, in one batched call, and which
candidates are worth classifying by it.

The proposers find ~200 candidates a frame; the gate keeps the dozen or so that may be signs, so
the recognizer classifies a dozen crops, not two hundred.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from realtime.boxes import suppress
from realtime.config import GateConfig
from realtime.preprocess import prepare_boxes
from realtime.types import Detection


class Gate:
    """P(sign) of boxes of one frame from a gate model (a ``realtime.classifier.Classifier`` whose
    classes are 0 = clutter, 1 = sign)."""

    def __init__(self, model) -> None:
        self.model = model
        self._sign = list(model.class_ids).index(1)

    def __call__(self, img: np.ndarray, cands: Sequence[Detection]) -> np.ndarray:
        return self.scores(img, [d.box for d in cands])

    def scores(self, img: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
        """P(sign) of boxes of one BGR frame."""
        if len(boxes) == 0:
            return np.zeros(0, np.float32)
        probs = self.model.predict_proba(prepare_boxes(img, boxes, self.model.pre))
        return probs[:, self._sign].astype(np.float32)


def to_classify(cands: Sequence[Detection], gate: np.ndarray, config: GateConfig) -> np.ndarray:
    """Indices of the candidates the classify stage classifies, in candidate order: gated at
    ``config.threshold`` or more, and not a near-duplicate (``pre_nms``) of a better-gated one."""
    g = np.asarray(gate, np.float32)
    keep = np.flatnonzero(g >= config.threshold)
    if config.pre_nms is not None and len(keep) > 1:
        keep = suppress([cands[i].box for i in keep], g[keep], config.pre_nms, keep)
    return keep
