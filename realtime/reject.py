"""The rejection rule, the classify stage's last step: confident enough for the route that found the
candidate, consistent with how it was found, and one detection per place.

The thresholds are chosen by cross-validation over GTSDB scenes (``python -m training
eval-detection``, docs/DETECTOR.md) and live in ``config.RejectConfig``.
"""

from __future__ import annotations

from collections.abc import Sequence

from realtime.boxes import dedupe
from realtime.classes import CLASSES, NUM_CLASSES
from realtime.config import RejectConfig
from realtime.types import Detection

_SAME_OUTLINE = {"octagon": "circle"}  # at sign sizes an octagon and a circle are one outline


def consistent(det: Detection, class_id: int, mode: str = "shape", shape_min_width: float = 24.0) -> bool:
    """Whether the proposer's evidence (colour route, outline) fits the catalogue entry of a class."""
    if not 0 <= class_id < NUM_CLASSES:
        return False  # the background class, or an id the catalogue does not know
    if mode == "none" or not det.colour or det.colour == "learned":  # the learned localizer knows no colour
        return True
    sign = CLASSES[class_id]
    if det.colour == "achromatic":  # the end-of signs, and priority road by its broad white border
        ok = sign.achromatic or sign.id == 12
    else:
        # priority road's core is yellow, or falls in the red hue range when orange under warm light
        ok = det.colour in sign.colours[:1] or (det.colour in ("yellow", "red") and sign.id == 12)
    if not ok or mode == "colour" or not det.shape or det.width < shape_min_width:
        return ok
    return _SAME_OUTLINE.get(det.shape, det.shape) == _SAME_OUTLINE.get(sign.shape, sign.shape)


class Reject:
    """Classified detections in, the accepted ones out, best first, one per place."""

    def __init__(self, config: RejectConfig | None = None) -> None:
        self.config = config or RejectConfig()

    @property
    def floor(self) -> float:
        """The lowest score any route accepts: a detection below it is rejected whatever its class."""
        c = self.config
        return min([c.min_score, *c.route_min_score.values()])

    def accept(self, det: Detection) -> bool:
        """Confident enough, and the class fits how the candidate was found."""
        c = self.config
        return det.score >= c.threshold(det.colour) and consistent(det, det.class_id, c.consistency, c.shape_min_width)

    def __call__(self, dets: Sequence[Detection]) -> list[Detection]:
        """Accepted detections, best first, one per place (two candidates of one sign keep the better)."""
        return dedupe([d for d in dets if self.accept(d)], self.config.dedupe_iou, self.config.dedupe_centre)
