"""The movable stage (the learned localizer) runs with whichever half of the video loop has less
else to do; where it runs changes the speed, never the detections."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from realtime.balance import Balance
from realtime.cascade import Cascade
from realtime.pipeline import stream
from realtime.source import open_source
from realtime.track import Tracker

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "driveby.mp4"


def run_balance(balance: Balance, frames: int, ms) -> list[bool]:
    """Drive a balance as the loop does: each frame decided as it is proposed, then timed, with
    ``ms(early)`` the frame time a place gives."""
    places = []
    for _ in range(frames):
        places.append(balance.early())
        balance.frame_done(ms(places[-1]))
    return places


def test_probes_alternate_the_places_and_the_faster_one_runs_until_the_next_probe() -> None:
    b = Balance(block=3, probe_blocks=4, every_blocks=10)
    places = run_balance(b, 60, lambda early: 9.0 if early else 12.0)
    assert places[:3] == [False] * 3  # warm-up
    assert places[3:15] == [True] * 3 + [False] * 3 + [True] * 3 + [False] * 3  # the probe alternates
    assert places[15:33] == [True] * 18  # the faster place until the next probe ...
    assert places[33:45] == [True] * 3 + [False] * 3 + [True] * 3 + [False] * 3  # ... ten blocks on
    assert b.ms == {True: 9.0, False: 12.0} and b.best
    assert b.decided == 60 and b.moved == places.count(True)
    slower = Balance(block=3, probe_blocks=4, every_blocks=10)
    assert run_balance(slower, 30, lambda early: 14.0 if early else 8.0)[15:] == [False] * 15
    # a block's first frame still carries the previous place: it is not timed
    first_frames = Balance(block=3, probe_blocks=2, every_blocks=3)
    run_balance(first_frames, 9, lambda early: 1.0)
    assert first_frames.ms == {True: 1.0, False: 1.0}


def test_fixed_places_and_settings_that_cannot_work() -> None:
    assert all(run_balance(Balance("propose"), 50, lambda e: 20.0 if e else 1.0))
    assert not any(run_balance(Balance("finish"), 50, lambda e: 1.0 if e else 20.0))
    for bad in ({"place": "sideways"}, {"block": 1}, {"probe_blocks": 3}, {"probe_blocks": 10, "every_blocks": 10}):
        with pytest.raises(ValueError):
            Balance(**bad)


def test_the_detections_are_the_same_wherever_the_localizer_runs() -> None:
    """The shipped cascade on the bundled drive-by's first 40 frames: the localizer on the worker
    thread, on the main thread, and placed as the loop measures, with identical results."""
    cascade = Cascade.shipped()
    inner = cascade.locator
    threads: list[str] = []

    def locator(frame, work=None):
        threads.append(threading.current_thread().name)
        return inner(frame, work=work)

    cascade.locator = locator
    runs = {}
    for place in ("propose", "finish", "auto"):
        threads.clear()
        balance = Balance(place)
        with open_source(str(SAMPLE)) as src:  # closed: its capture thread would block on a full queue
            results = list(stream(src, cascade, tracker=Tracker(), max_frames=40, track_search=True,
                                  balance=balance))
        runs[place] = [(r.index, r.detections) for r in results]
        assert len(results) == 40 and len(threads) == 20  # every other frame, wherever it ran
        on_worker = sum(t.startswith("propose") for t in threads)
        if place == "propose":
            assert on_worker == 20 and balance.moved == balance.decided
        elif place == "finish":
            assert on_worker == 0 and balance.moved == 0
    assert runs["propose"] == runs["finish"] == runs["auto"]
    assert sum(len(d) for _, d in runs["auto"]) > 0  # the sample's signs were found
