"""The one per-stage profiler."""

from __future__ import annotations

import threading
import time

from realtime.profile import OFF, STAGES, Profiler


def test_stages_book_means_per_frame_in_pipeline_order_from_any_thread() -> None:
    p = Profiler()
    with p.stage("classify"):
        time.sleep(0.01)
    t = threading.Thread(target=lambda: p.add("detect", 4.0))
    t.start()
    t.join()
    p.add("detect", 2.0)
    p.add("wait", 1.0)  # not a stage: kept, after the stages
    means = p.mean(frames=2)
    assert list(means) == ["detect", "classify", "wait"]
    assert means["detect"] == 3.0 and 4.0 < means["classify"] * 2 < 40.0
    assert list(p.smoothed()) == ["detect", "classify"] and set(p.smoothed()) <= set(STAGES)
    p.reset()
    assert p.mean() == {}


def test_off_books_nothing() -> None:
    with OFF.stage("detect"):
        pass
    OFF.add("detect", 1.0)
