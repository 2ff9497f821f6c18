"""The classify stage: the gated candidates of a frame through the recognizer CNN in one batched call.

The recognizer names the class and re-frames the box with its box head; crops it likes get a second
look, re-cut at that box; a detection's score is P(sign) (from the verifier on the recognizer's
features, else from the gate) times the class confidence; a class whose printed design is not on
the frame (``realtime.design``) becomes -1. What is reported is decided afterwards by the
rejection rule (``realtime.reject``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from realtime.boxes import clip_box, rescale
from realtime.config import ClassifyConfig, GateConfig
from realtime.design import DesignChecks
from realtime.gate import to_classify
from realtime.types import Detection

_CARD = object()  # "the recognizer's own verifier", as opposed to None: no verifier


class Classify:
    """Frame + candidates + their gate P(sign) -> one classified detection per candidate classified."""

    def __init__(self, recognizer, config: ClassifyConfig | None = None, gate: GateConfig | None = None,
                 design: DesignChecks | None = None, verifier=_CARD) -> None:
        self.recognizer = recognizer  # a ``realtime.classifier.Classifier`` (or anything with its classify_boxes)
        self.config = config or ClassifyConfig()
        self.gate = gate or GateConfig()
        self.design = design if design is not None else DesignChecks()
        # P(sign) from the recognizer's features: the card's verifier unless another is given (the
        # evaluation passes each fold's own)
        self.verifier = getattr(recognizer, "verifier", None) if verifier is _CARD else verifier

    def with_verifier(self, verifier) -> Classify:
        """The same stage scoring P(sign) with another verifier."""
        return Classify(self.recognizer, self.config, self.gate, self.design, verifier)

    def __call__(self, img: np.ndarray, cands: Sequence[Detection], gate: np.ndarray,
                 check_from: float = 0.0) -> list[Detection]:
        """Classify the candidates ``to_classify`` picks, in candidate order, in one batched call.

        A caller that keeps only the detections scoring ``check_from`` or more (the cascade, through
        ``Reject.floor``) spares work on the rest: the design checks run only from there (~38 checks
        of a 1080p frame's crops that no route would accept), and a crop gets a second look only if
        the average of the two passes could still reach it (``second_look_from``). The evaluation,
        which sweeps the thresholds, passes 0 and gets every check and second look.
        """
        if not cands:
            return []
        g = np.asarray(gate, np.float32)
        keep = to_classify(cands, g, self.gate)
        if not len(keep):
            return []
        res = self.recognizer.classify_boxes(img, [cands[i].box for i in keep], verifier=self.verifier)
        verified = self.verifier is not None
        p_sign = res.sign if verified else g[keep]
        ids, scores = res.ids, res.scores * p_sign
        if self.config.second_look is not None:
            ids, scores, boxes = self._second_look(img, res, p_sign, ids, scores, verified,
                                                   second_look_from(self.config.second_look, check_from))
        else:
            boxes = res.boxes
        H, W = img.shape[:2]
        out = []
        for i, c, s, b in zip(keep, ids, scores, boxes):
            c = int(c)
            box = clip_box(b, W, H)
            if self.config.design_checks and s >= check_from and not self.design.passes(img, c, box):
                c = -1
            out.append(replace(cands[i], box=rescale(box, self.config.box_scale), class_id=c, score=float(s)))
        return out

    def _second_look(self, img: np.ndarray, res, p_sign: np.ndarray, ids: np.ndarray, scores: np.ndarray,
                     verified: bool, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Classify the promising crops again, cut at the box head's box, and average the two passes.

        The first crop is framed by a colour blob, often loosely; the second by the box head, like
        the GTSRB images the recognizer learnt from. Averaging P(sign) x probabilities over both
        raises cross-validated GTSDB precision and recall (docs/DETECTOR.md); so does blending the
        two passes' boxes (``second_box``): each head's box errs a little, and the second crop,
        framed closer, errs differently. Only crops scoring ``threshold`` or more get one, a few a
        frame, in one more batched call.
        """
        idx = np.flatnonzero(scores >= threshold)
        if not len(idx):
            return ids, scores, res.boxes
        res2 = self.recognizer.classify_boxes(img, res.boxes[idx], verifier=self.verifier)
        p2 = res2.sign if verified else p_sign[idx]
        probs = (res.probs[idx] * p_sign[idx, None] + res2.probs * p2[:, None]) / 2
        best = probs.argmax(axis=1)
        ids, scores = np.array(ids, copy=True), np.array(scores, np.float32, copy=True)
        ids[idx] = np.asarray(self.recognizer.class_ids)[best]
        scores[idx] = probs[np.arange(len(idx)), best]
        w = self.config.second_box
        boxes = np.array(res.boxes, np.float32, copy=True)
        boxes[idx] = (1 - w) * boxes[idx] + w * np.asarray(res2.boxes, np.float32)
        return ids, scores, boxes


# float32 rounding in the average is ~1e-7; a crop this close under the bound still gets its look
_BOUND_SLACK = 1e-4


def second_look_from(second_look: float, keep_from: float) -> float:
    """The least first-pass score worth a second look when only scores of ``keep_from`` or more are kept.

    A class's averaged score is (its first-pass P(sign) x probability + the second pass's) / 2, and
    the first term is at most the crop's first-pass score, the second at most 1: a crop scoring under
    2 x ``keep_from`` - 1 cannot reach ``keep_from`` whatever its second look says, so it needs none.
    With the shipped floor of 0.75 that spares the looks of crops scoring 0.3-0.5 (4 of ~20 a frame
    on a 1080p drive-by) and changes no accepted detection.
    """
    return max(second_look, 2.0 * keep_from - 1.0 - _BOUND_SLACK)
