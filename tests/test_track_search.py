"""Work per sign in video: tracked signs are searched where they should be on every frame, so the
scheduled stages can skip frames without losing them."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from realtime.cascade import Cascade
from realtime.classify import Classify
from realtime.config import ClassifyConfig, RejectConfig
from realtime.pipeline import stream
from realtime.reject import Reject
from realtime.source import open_source
from realtime.track import Tracker
from realtime.types import Detection
from tests.fakes import FakeClassifier, FakeDetector
from tests.test_pipeline import RedBoxes, drive_video


def test_predictions_follow_the_recently_seen_tracks() -> None:
    t = Tracker()
    for i in range(3):
        t.update([Detection((10 + 4 * i, 10, 30 + 4 * i, 30), 0.9, 1)], i)
    (box,) = t.predictions()
    assert box[0] > 18 and box[2] > 38  # moving right: predicted ahead of the last box (18, 38)
    for i in range(3, 6):
        t.update([], i)
    assert t.predictions() == []  # unseen for three updates: not searched any more


def test_hints_are_classified_as_candidates_of_the_track_route() -> None:
    img = np.full((120, 160, 3), 110, np.uint8)
    img[40:60, 60:80] = (40, 40, 230)  # a red square the detector stand-in does not propose
    fake = FakeClassifier({"red": (1, 0.95)})
    cascade = Cascade(FakeDetector([]), Classify(fake, ClassifyConfig(second_look=None)),
                      Reject(RejectConfig(min_score=0.5, route_min_score={})))
    assert cascade.finish(img, cascade.propose(img, 7)) == []
    (found,) = cascade.finish(img, cascade.propose(img, 7), hints=[np.array([59.0, 39.0, 81.0, 61.0])])
    assert found.colour == "track" and found.class_id == 1


class Hinted(RedBoxes):
    """A staged fake that records the hints it is given and finds nothing on odd frames (a
    scheduled stage skipping them), except where a hint points."""

    def __init__(self) -> None:
        super().__init__()
        self.hints: list[int] = []
        self.lock = threading.Lock()

    def propose(self, frame, index=None):
        return (RedBoxes.__call__(self, frame) if index is None or index % 2 == 0 else []), frame

    def finish(self, frame, proposal, hints=None):
        dets, img = proposal
        self.hints.append(len(hints or []))
        if hints and not dets:  # the sign where its track says: found again
            boxes = RedBoxes.__call__(self, img)
            dets = [d for d in boxes if any(abs(d.box[0] - h[0]) < 12 for h in hints)]
        return dets


def test_a_sign_seen_on_scheduled_frames_is_tracked_on_every_frame(tmp_path: Path) -> None:
    video = drive_video(tmp_path / "in.mp4", n=12, false_alarm_at=None)
    plain = [r.detections for r in stream(open_source(video), Hinted())]
    searched_rec = Hinted()
    searched = [r.detections for r in stream(open_source(video), searched_rec, track_search=True)]
    assert sum(1 for d in plain if d) == 6  # the scheduled frames only
    assert all(len(d) == 1 for d in searched)  # every frame, by the track's search
    assert [d[0].confirmed for d in searched[:4]] == [False, False, True, True]  # confirmed as soon as before
    assert searched_rec.hints[0] == 0 and min(searched_rec.hints[1:]) == 1
    again = [r.detections for r in stream(open_source(video), Hinted(), track_search=True)]
    assert again == searched  # deterministic
    serial = [r.detections for r in stream(open_source(video), Hinted(), track_search=True, overlap=False)]
    assert serial == searched  # the same without the proposing thread
