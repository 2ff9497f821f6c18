"""The Python API: ``Reader`` reads traffic signs from images, videos, cameras, folders and streams.

    from realtime import Reader

    reader = Reader()                          # the shipped models and settings
    signs = reader.read("photo.jpg")           # one image: accepted signs, untracked
    for frame in reader.stream("dashcam.mp4"):  # video: one result per frame, signs tracked
        for sign in frame.signs:
            print(frame.index, frame.t, sign.label, sign.score, sign.track_id, sign.confirmed)

Each sign is a ``realtime.types.Detection`` (box, class_id, label, score, track_id, confirmed);
``to_supervision`` turns a list of them into ``supervision.Detections`` where that library is
installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from realtime.cascade import Cascade
from realtime.config import Config
from realtime.pipeline import stream
from realtime.profile import Profiler
from realtime.source import SourceError, open_source
from realtime.track import Tracker
from realtime.types import Detection, FrameResult


class Reader:
    """The shipped cascade behind two calls: ``read`` for one image, ``stream`` for a source."""

    def __init__(self, config: Config | str | Path | None = None, *, model: str | Path | None = None,
                 gate: str | Path | None = None, overrides: Sequence[str] = ()) -> None:
        """``config``: a ``Config``, a settings file, or None for the shipped one; ``overrides``:
        ``section.key=value`` changes (``("reject.min_score=0.6",)``); ``model`` and ``gate`` replace
        the shipped recognizer and gate model."""
        cfg = config if isinstance(config, Config) else Config.load(config) if config else Config.shipped()
        self.config = cfg.with_overrides(list(overrides))
        self.profiler = Profiler()
        self.cascade = Cascade.build(self.config, model=model, gate=gate, profiler=self.profiler)

    def read(self, image: np.ndarray | str | os.PathLike) -> list[Detection]:
        """The accepted signs of one image (a BGR array or an image file), best first; every one is
        confirmed (a still has no track to wait for)."""
        if not isinstance(image, np.ndarray):
            path = Path(image)
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise SourceError(f"cannot read image: {path}")
            image = img
        return [replace(d, confirmed=True) for d in self.cascade(image) if d.class_id >= 0]

    def stream(self, source: str | int | os.PathLike, *, stride: int = 1,
               max_frames: int | None = None) -> Iterator[FrameResult]:
        """One result per frame of a camera index, video file, folder of images, image or stream URL,
        in order: ``index``, ``t`` (seconds), ``name``, ``image`` and ``signs`` (tracked for video)."""
        src = open_source(source, stride=stride)
        try:
            yield from stream(src, self.cascade, tracker=Tracker(self.config.track), profiler=self.profiler,
                              max_frames=max_frames, track_search=self.config.track.search)
        finally:
            src.close()


def to_supervision(detections: Sequence[Detection]):
    """The signs as ``supervision.Detections`` (xyxy, confidence, class_id, tracker_id, and the
    labels under ``data["class_name"]``), for supervision's annotators and tools."""
    try:
        import supervision as sv
    except ImportError:
        raise ImportError("to_supervision needs the supervision package: pip install supervision") from None
    xyxy = np.array([d.box for d in detections], np.float32).reshape(-1, 4)
    tracker = [d.track_id for d in detections]
    return sv.Detections(
        xyxy=xyxy, confidence=np.array([d.score for d in detections], np.float32),
        class_id=np.array([d.class_id for d in detections], int),
        tracker_id=np.array(tracker, int) if tracker and all(t is not None for t in tracker) else None,
        data={"class_name": np.array([d.label for d in detections], dtype=object)})
