"""The evaluation's per-still detection records (the event log's own tests are in test_pipeline.py)."""

from __future__ import annotations

from realtime.classes import NAMES
from realtime.events import detection_record
from realtime.types import Detection


def test_detection_record_format():
    d = Detection(box=(10.04, 20.0, 50.26, 60.0), class_id=14, score=0.987654)
    rec = detection_record("00012.jpg", 0, d, NAMES[14])
    assert rec == {"source": "00012.jpg", "frame": 0, "box": [10.0, 20.0, 50.3, 60.0], "class_id": 14,
                   "label": "Stop", "score": 0.9877}
