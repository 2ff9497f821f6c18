"""The Python API: ``Reader.read`` for an image, ``Reader.stream`` for a source, ``to_supervision``."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.api import Reader, to_supervision
from realtime.types import Detection

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader()


def test_read_and_stream_give_labelled_signs(reader: Reader, tmp_path: Path) -> None:
    """The bundled drive-by: its first confirmed signs carry label, score, track id; a frame of it read
    as a still gives the same signs, confirmed at once and untracked."""
    frames = list(reader.stream(ROOT / "samples" / "driveby.mp4", max_frames=80))
    assert [f.index for f in frames] == list(range(80)) and frames[-1].t > frames[0].t
    confirmed = [s for f in frames for s in f.signs if s.confirmed]
    assert confirmed and all(s.label and s.track_id is not None and 0 < s.score <= 1 for s in confirmed)
    busiest = max(frames, key=lambda f: sum(s.confirmed for s in f.signs))  # stream leaves the frame undrawn
    cv2.imwrite(str(tmp_path / "still.png"), busiest.image)
    signs = reader.read(tmp_path / "still.png")
    assert signs == reader.read(busiest.image) and all(s.confirmed and s.track_id is None for s in signs)
    assert {s.label for s in signs} & {s.label for s in busiest.signs if s.confirmed}


def test_reader_takes_settings(reader: Reader) -> None:
    strict = Reader(overrides=("reject.min_score=1.0", "reject.route_min_score={}"))
    assert strict.config.reject.min_score == 1.0 and reader.config.reject.min_score < 1.0


def test_to_supervision_maps_every_field(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    class Detections:  # supervision's constructor, recorded
        def __init__(self, **kw) -> None:
            seen.update(kw)

    monkeypatch.setitem(sys.modules, "supervision", types.SimpleNamespace(Detections=Detections))
    dets = [Detection((1, 2, 3, 4), 0.9, 14, track_id=7, confirmed=True),
            Detection((5, 6, 7, 8), 0.8, 1, track_id=8, confirmed=True)]
    to_supervision(dets)
    assert seen["xyxy"].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]] and seen["class_id"].tolist() == [14, 1]
    assert seen["tracker_id"].tolist() == [7, 8]
    assert list(seen["data"]["class_name"]) == ["Stop", "Speed limit (30km/h)"]
    assert np.allclose(seen["confidence"], [0.9, 0.8])
    to_supervision([Detection((1, 2, 3, 4), 0.9, 14)])
    assert seen["tracker_id"] is None
    monkeypatch.setitem(sys.modules, "supervision", None)
    with pytest.raises(ImportError, match="pip install supervision"):
        to_supervision(dets)
