"""The stage order, defined once: propose (detect, gate, closer look, locate) -> classify -> reject.

The runtime (``realtime.pipeline``), the bench and the GTSDB evaluation (``python -m training
eval-detection``) all run this class; the evaluation swaps in each fold's gate, localizer and
verifier with ``with_models``, so no training hook widens the runtime's API.

``propose`` and ``finish`` are the two halves a video loop overlaps: the detector, the gate and the
closer look on a worker thread for the next frame, while the recognizer and the rejection run for
this one on the main thread. ``locate``, the learned localizer, may run with either half; the loop
gives it to the one with which frames come out faster (``realtime.balance``; docs/PIPELINE.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from realtime.boxes import clip_box
from realtime.config import Config
from realtime.preprocess import as_bgr8
from realtime.profile import OFF, Profiler, available_cores
from realtime.stages import ColourProposer, GateScores, Proposer
from realtime.types import TRACK_ROUTE, Detection, Proposal

if TYPE_CHECKING:
    from realtime.classify import Classify
    from realtime.closer_look import CloserLook
    from realtime.reject import Reject

_KEEP = object()  # with_models: leave this stage as it is
MIN_HINT = 4  # px: a predicted box cut off by the frame's edge to less than this holds no sign to classify


@dataclass
class Trace:
    """One frame through the cascade, every intermediate kept (for the evaluation and debugging)."""

    proposal: Proposal  # every candidate (detector's, closer look's, localizer's, in that order) and its gate P(sign)
    detector_count: int  # how many of them the detector proposed
    classified: list[Detection]  # one per candidate classified, before rejection
    accepted: list[Detection]  # what the cascade reports


class Cascade:
    """Frame in, accepted sign detections out (class id, score and re-framed box filled in).

    Stages are injected: ``detector`` (colour/shape), ``gate`` (None: every candidate is
    classified, and there is no closer look), ``closer_look`` and ``locator`` (None: skipped),
    ``classify`` and ``reject``. ``build`` assembles the shipped ones from a ``Config``.
    """

    def __init__(self, detector: ColourProposer, classify: Classify, reject: Reject, gate: GateScores | None = None,
                 closer_look: CloserLook | None = None, locator: Proposer | None = None,
                 profiler: Profiler | None = None, every: tuple[int, int] = (1, 1)) -> None:
        self.detector = detector
        # (closer look, learned localizer): in video they run on every n-th frame, staggered
        self.every = every
        self.gate = gate
        self.closer_look = closer_look
        self.locator = locator
        self.classify = classify
        self.reject = reject
        self.profiler = profiler or OFF

    @classmethod
    def build(cls, config: Config | None = None, model: str | Path | None = None, gate: str | Path | None = None,
              backend: str = "litert", profiler: Profiler | None = None, threads: int | None = None) -> Cascade:
        """The shipped stages with ``config`` (default: the one saved with the models).

        ``model`` and ``gate`` replace the shipped recognizer and gate model (``gate="none"`` turns
        the gate off). ``threads`` is the recognizer's LiteRT threads (default ``recognizer_threads()``;
        1 where several videos share the cores). Interpreters are built and timed now, so no frame
        stalls on a first call.
        """
        from realtime.classifier import Classifier, resolve_gate  # lazy: LiteRT loads only when needed
        from realtime.classify import Classify
        from realtime.closer_look import CloserLook
        from realtime.design import DesignChecks
        from realtime.detect import Detector
        from realtime.gate import Gate
        from realtime.locate import DEFAULT_LOCATOR, Locator
        from realtime.reject import Reject

        cfg = config or Config.shipped()
        recognizer = Classifier(model, backend=backend, threads=threads or recognizer_threads())
        recognizer.warm_up()  # every batch size allocated now: no memory steps or frame stalls mid-run
        gate_path = resolve_gate("none" if not cfg.gate.enabled else gate)
        gate_stage = None
        if gate_path is not None:
            # one thread: the gate runs beside the recognizer (propose on the worker, finish on the main
            # thread), so a second gate thread only competes for the core the recognizer is using
            gate_model = Classifier(gate_path, backend=backend, threads=1)
            gate_model.warm_up()
            gate_stage = Gate(gate_model)
        locator = None
        if cfg.locate.enabled and DEFAULT_LOCATOR.is_file():
            locator = Locator(config=cfg.locate, sizes=(float(cfg.detect.min_size), float(cfg.detect.max_size)))
        design = DesignChecks(cfg.design, cfg.detect)
        return cls(Detector(cfg.detect), Classify(recognizer, cfg.classify, cfg.gate, design), Reject(cfg.reject),
                   gate=gate_stage, closer_look=CloserLook(cfg.detect, cfg.closer_look) if cfg.closer_look.enabled
                   else None, locator=locator, profiler=profiler, every=(cfg.closer_look.every, cfg.locate.every))

    @classmethod
    def shipped(cls, **kwargs) -> Cascade:
        """``build`` with the shipped configuration and models."""
        return cls.build(**kwargs)

    def with_models(self, gate=_KEEP, locator=_KEEP, verifier=_KEEP, profiler=_KEEP) -> Cascade:
        """A copy with other stage models (each fold's, in the evaluation); unnamed ones are kept."""
        new = Cascade(self.detector, self.classify, self.reject, self.gate, self.closer_look, self.locator,
                      self.profiler, self.every)
        if gate is not _KEEP:
            new.gate = gate
        if locator is not _KEEP:
            new.locator = locator
        if verifier is not _KEEP:
            new.classify = self.classify.with_verifier(verifier)
        if profiler is not _KEEP:
            new.profiler = profiler or OFF
        return new

    # -- the halves -------------------------------------------------------------------------------
    def propose(self, img: np.ndarray, index: int | None = None) -> Proposal:
        """The first half: the detector's candidates, the gate's P(sign) for each, and the closer
        look's candidates around the best-gated ones (gated too). ``index``, a video frame's number,
        lets the scheduled stages skip frames (``every``); a still (None) gets every stage."""
        return self._propose(img, index)[0]

    def finish(self, img: np.ndarray, proposal: Proposal, hints: list | None = None) -> list[Detection]:
        """The second half: the learned localizer's candidates (unless ``locate`` has run already),
        the ``hints`` (boxes where tracked signs should be; candidates of route "track"), then
        classify and reject."""
        proposal = self.locate(img, proposal)
        if hints:
            H, W = img.shape[:2]
            boxes = [clip_box(b, W, H) for b in hints]
            proposal = self._joined(img, proposal, [Detection(box=b, colour=TRACK_ROUTE) for b in boxes
                                                    if min(b[2] - b[0], b[3] - b[1]) >= MIN_HINT])
        with self.profiler.stage("classify"):
            return self.reject(self.classify(img, proposal.candidates, proposal.gate, self.reject.floor))

    def locate(self, img: np.ndarray, proposal: Proposal) -> Proposal:
        """The proposal plus the learned localizer's candidates, gated, and marked ``located``: once
        a frame, whichever half calls it first (``finish`` calls it too).

        They come after the closer look and seed none of it: as seeds they took seeds and mosaic
        pixels from the colour routes' candidates, and cross-validated on GTSDB one small blue sign
        was lost. That also lets a video loop run the localizer with either half, wherever frames
        come out faster (``realtime.balance``), and get the same candidates.
        """
        if proposal.located:
            return proposal
        if self.locator is None or not _due(proposal.index, self.every[1], self.every[1] // 2):
            return proposal._replace(located=True)
        with self.profiler.stage("locate"):
            extra = self.locator(img, work=proposal.work)
        return self._joined(img, proposal, extra)._replace(located=True)

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        img = as_bgr8(frame)
        return self.finish(img, self.propose(img))

    def trace(self, frame: np.ndarray) -> Trace:
        """One frame with every intermediate result: what the evaluation scores and explains."""
        img = as_bgr8(frame)
        first, detector_count = self._propose(img)
        proposal = self.locate(img, first)
        with self.profiler.stage("classify"):
            classified = self.classify(img, proposal.candidates, proposal.gate)
            accepted = self.reject(classified)
        return Trace(proposal, detector_count, classified, accepted)

    # -- steps --------------------------------------------------------------------------------------
    def _propose(self, img: np.ndarray, index: int | None = None) -> tuple[Proposal, int]:
        """The first half, and how many of its candidates are the detector's."""
        with self.profiler.stage("detect"):
            work = self.detector.work(img)
            cands = self.detector(img, work=work)
        proposal = Proposal(cands, self._gate(img, cands), work, index)
        if self.closer_look is None or self.gate is None or not cands or not _due(index, self.every[0], 0):
            return proposal, len(cands)
        with self.profiler.stage("closer_look"):
            extra = self.closer_look(img, self.closer_look.seeds([d.box for d in cands], proposal.gate))
        return self._joined(img, proposal, extra), len(cands)

    def _gate(self, img: np.ndarray, cands: list[Detection]) -> np.ndarray:
        if self.gate is None:
            return np.ones(len(cands), np.float32)
        with self.profiler.stage("gate"):
            return self.gate(img, cands)

    def _joined(self, img: np.ndarray, proposal: Proposal, extra: list[Detection]) -> Proposal:
        """``proposal`` with ``extra`` candidates after its own, gated; itself when there are none."""
        if not extra:
            return proposal
        return proposal._replace(candidates=list(proposal.candidates) + extra,
                                 gate=np.concatenate([proposal.gate, self._gate(img, extra)]))


def recognizer_threads(cores: int | None = None) -> int:
    """LiteRT threads for the recognizer, from the cores there are: the video loop's own threads
    (capture, propose, finish) keep about two cores busy, so the recognizer gets the rest, 1 to 4.

    On the 2-core host one thread is 1.05x the FPS of two at 1080p (median of six alternated passes,
    docs/BENCHMARKS.md): a second thread only competes with the proposing thread for a core.
    """
    free = (cores if cores is not None else available_cores()) - 2
    return max(1, min(4, free))


def _due(index: int | None, every: int, phase: int) -> bool:
    """Whether a scheduled stage runs on this frame: always for a still (no index)."""
    return index is None or every <= 1 or index % every == phase
