"""The stage contracts: what each stage of the pipeline takes and gives.

    source -> propose (detect, gate, closer look, locate) -> classify (verifier, second look,
    design checks, reject) -> track -> draw/write

``realtime.cascade.Cascade`` runs propose and classify in that order; ``realtime.pipeline`` adds the
source, the tracker and the outputs. Anything matching these protocols can stand in for a stage
(tests use small fakes; ``--recognizer MODULE:FUNCTION`` plugs in a whole ``Recognize``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from realtime.preprocess import Work
from realtime.types import Detection, Proposal


class Proposer(Protocol):
    """A frame (and the detector's reduced frame, where there is one) -> unclassified candidates."""

    def __call__(self, frame: np.ndarray, work: Work | None = None) -> list[Detection]: ...


class ColourProposer(Proposer, Protocol):
    """The detect stage: a ``Proposer`` that also makes the reduced frame (``Work``) it judges
    colour on, which the cascade hands on to the learned localizer."""

    def work(self, frame: np.ndarray) -> Work: ...


class GateScores(Protocol):
    """A frame and candidates -> P(sign) of each, one batched call."""

    def __call__(self, img: np.ndarray, cands: Sequence[Detection]) -> np.ndarray: ...


class Recognizer(Protocol):
    """The recognizer network: boxes of a frame -> class ids, scores, probabilities, boxes, P(sign)
    (``realtime.classifier.Classifier``)."""

    class_ids: np.ndarray

    def classify_boxes(self, img: np.ndarray, boxes, verifier=None): ...


class Recognize(Protocol):
    """A whole frame -> accepted sign detections: the cascade, or a plugged-in replacement."""

    def __call__(self, frame: np.ndarray) -> list[Detection]: ...


@runtime_checkable
class Staged(Protocol):
    """A ``Recognize`` split in two halves, so a video loop can propose for the next frame on one
    core while it finishes this one on the other."""

    def propose(self, img: np.ndarray, index: int | None = None) -> Proposal: ...

    def finish(self, img: np.ndarray, proposal: Proposal, hints: list | None = None) -> list[Detection]: ...


@runtime_checkable
class Balanced(Staged, Protocol):
    """A ``Staged`` recognizer with a stage that may run with either half (the cascade's learned
    localizer): ``locate`` does it once a frame, and ``finish`` skips it when it is done. The loop
    runs it where the frames come out faster (``realtime.balance``)."""

    def locate(self, img: np.ndarray, proposal: Proposal) -> Proposal: ...


class Tracker(Protocol):
    """A frame's detections -> the same with track id, voted class and ``confirmed``."""

    def update(self, detections: list[Detection], frame_index: int) -> list[Detection]: ...

    def reset(self) -> None: ...
