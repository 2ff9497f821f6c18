"""The small types every stage passes along: a sign detection, a frame's proposal, a frame's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from realtime.classes import NAMES
from realtime.preprocess import Work

# the route of a candidate cut where a live track's box should be (``track.search``), not proposed
# by the detector or the localizer on the frame
TRACK_ROUTE = "track"


@dataclass
class Detection:
    """A sign candidate and, once classified, what it is.

    ``box`` is ``(x1, y1, x2, y2)`` in frame pixels, x2/y2 exclusive. ``class_id`` is a
    GTSRB id, or -1 while unclassified or when the classifier says it is not a sign.
    """

    box: tuple[float, float, float, float]
    score: float = 0.0  # P(sign) x class confidence in [0, 1]
    class_id: int = -1
    colour: str = ""  # how it was proposed: the detector's route (red, blue, yellow, achromatic) or "learned"
    shape: str = ""  # circle, triangle, inverted_triangle, octagon, diamond
    candidate_score: float = 0.0  # the proposer's own evidence in [0, 1]
    track_id: int | None = None
    confirmed: bool = False
    # the share of its track's recent vote weight behind ``class_id`` (1.0 untracked): how settled
    # the label is, which the alert panel asks of a new speed limit
    agreement: float = 1.0

    @property
    def label(self) -> str:
        """The class's name (GTSRB), or "" for -1."""
        return NAMES[self.class_id] if 0 <= self.class_id < len(NAMES) else ""

    @property
    def found(self) -> str:
        """How the box was found on its frame: "detector" (the detector, its closer look or the
        learned localizer proposed it) or "track" (classified where its track's box should be)."""
        return "track" if self.colour == TRACK_ROUTE else "detector"

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


class Proposal(NamedTuple):
    """A frame's candidates so far and the gate's P(sign) for each, plus the detector's reduced frame
    (``work``), which the learned localizer takes instead of reducing the frame again, the frame's
    index in a video (None for a still), which the scheduled stages go by, and whether the learned
    localizer has had its turn (``located``: a video loop may run it with either half)."""

    candidates: list[Detection]
    gate: np.ndarray
    work: Work | None = None
    index: int | None = None
    located: bool = False


@dataclass
class FrameResult:
    """What the pipeline yields for every frame: where it came from and the signs on it."""

    index: int  # frame number in the source
    t: float  # seconds from the start of the source
    name: str  # the source's name for the frame (file name for folders)
    image: np.ndarray  # the BGR frame, annotated when the pipeline draws
    detections: list[Detection] = field(default_factory=list)  # tracked (or, for stills, accepted) signs
    captured: float = 0.0  # time.perf_counter() when the source read the frame (``Frame.captured``); 0.0: unknown

    @property
    def signs(self) -> list[Detection]:
        """The frame's signs (``detections``; classified, tracked for video)."""
        return self.detections
