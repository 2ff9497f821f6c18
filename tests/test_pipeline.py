"""The loop end to end with a fake recognizer: output video, event log, summary, stills, stopping.

``make_fake`` doubles as a ``--recognizer tests.test_pipeline:make_fake`` plug-in for the CLI tests.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.cli.display import display_available
from realtime.draw import DriverAlerts, Painter
from realtime.events import EVENT_KEYS, EventWriter, Summary, format_summary
from realtime.pipeline import AHEAD, RunOptions, run, stream
from realtime.source import Source, open_source
from realtime.types import Detection
from realtime.video import OutputError, check_writable


class RedBoxes:
    """Fake recognizer: every saturated red blob is a 30 km/h sign (class 1)."""

    def __init__(self, delay: float = 0.0, class_id: int = 1) -> None:
        self.delay, self.class_id, self.calls = delay, class_id, 0

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        mask = ((frame[:, :, 2] > 150) & (frame[:, :, 1] < 90) & (frame[:, :, 0] < 90)).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        return [Detection((float(x), float(y), float(x + w), float(y + h)), score=0.9, class_id=self.class_id,
                          colour="red", shape="circle", candidate_score=1.0)
                for x, y, w, h, area in stats[1:n] if area >= 20]


def make_fake(model: str | None = None) -> RedBoxes:
    """``--recognizer test_pipeline:make_fake``; FAKE_DELAY slows it down (seconds per frame)."""
    return RedBoxes(delay=float(os.environ.get("FAKE_DELAY", "0")))


def drive_video(path: Path, n: int = 30, size: tuple[int, int] = (160, 120), fps: float = 10.0,
                false_alarm_at: int | None = 10) -> Path:
    """A red square moving right on grey, and one red blob for a single frame (a false alarm)."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(n):
        img = np.full((size[1], size[0], 3), 110, np.uint8)
        x = 10 + 2 * (i % 50)
        cv2.rectangle(img, (x, 40), (x + 16, 56), (0, 0, 230), -1)
        if i == false_alarm_at:
            cv2.rectangle(img, (120, 90), (135, 105), (0, 0, 230), -1)
        w.write(img)
    w.release()
    return path


def count_frames(path: Path) -> tuple[int, tuple[int, int], float]:
    cap = cv2.VideoCapture(str(path))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = cap.get(cv2.CAP_PROP_FPS)
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n, size, fps


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_video_run_writes_video_events_snapshot_and_summary(tmp_path: Path) -> None:
    src = open_source(drive_video(tmp_path / "in.mp4"))
    opts = RunOptions(output=tmp_path / "out" / "annotated.mp4", events=tmp_path / "ev.jsonl",
                      snapshot=tmp_path / "snap.png")
    summary = run(src, RedBoxes(), opts)

    assert count_frames(tmp_path / "out" / "annotated.mp4") == (30, (160, 120), pytest.approx(10.0))
    assert cv2.imread(str(tmp_path / "snap.png")).shape == (120, 160, 3)
    events = read_events(tmp_path / "ev.jsonl")
    assert all(tuple(e) == EVENT_KEYS for e in events)
    sign = [e for e in events if e["box"][1] == 40]
    alarm = [e for e in events if e["box"][1] == 90]
    assert len(sign) == 30 and len({e["track_id"] for e in sign}) == 1
    assert [e["confirmed"] for e in sign[:4]] == [False, False, True, True]
    assert sign[0]["label"] == "Speed limit (30km/h)" and sign[0]["source"] == "in.mp4"
    assert len(alarm) == 1 and alarm[0]["confirmed"] is False and alarm[0]["frame"] == 10
    assert summary["frames"] == 30 and summary["signs"] == 1 and summary["stopped"] == "end of source"
    (row,) = summary["classes"]
    assert (row["class_id"], row["signs"], row["detections"]) == (1, 1, 28)
    assert (row["first_t"], row["last_t"]) == pytest.approx((0.2, 2.9))
    assert summary["output_frames"] == 30 and summary["event_lines"] == 31
    assert {"decode", "classify", "track", "draw", "write"} <= set(summary["stages_ms"])


def test_annotated_frames_show_the_overlay(tmp_path: Path) -> None:
    src = open_source(drive_video(tmp_path / "in.mp4", n=6))
    run(src, RedBoxes(), RunOptions(output=tmp_path / "o.mp4"))
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    frames = [cap.read()[1] for _ in range(6)]
    cap.release()
    plain = cv2.VideoCapture(str(tmp_path / "in.mp4")).read()[1]
    assert np.abs(frames[0].astype(int) - plain.astype(int)).mean() > 1.0  # HUD and boxes were drawn


def test_stills_are_not_tracked_and_every_detection_is_confirmed(tmp_path: Path) -> None:
    folder = tmp_path / "stills"
    folder.mkdir()
    for i in range(3):  # the same spot in each image: a tracker would chain them
        img = np.full((60, 80, 3), 100, np.uint8)
        cv2.rectangle(img, (20, 20), (40, 40), (0, 0, 230), -1)
        cv2.imwrite(str(folder / f"img{i}.png"), img)
    summary = run(open_source(folder), RedBoxes(), RunOptions(events=tmp_path / "ev.jsonl"))
    events = read_events(tmp_path / "ev.jsonl")
    assert [e["source"] for e in events] == ["img0.png", "img1.png", "img2.png"]
    assert all(e["confirmed"] is True and e["track_id"] is None for e in events)
    assert summary["signs"] == 3 and summary["kind"] == "folder"


def test_unwritable_output_fails_before_processing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    fake = RedBoxes()
    with pytest.raises(OutputError, match="cannot write"):
        run(open_source(drive_video(tmp_path / "in.mp4", n=3)), fake,
            RunOptions(output=tmp_path / "file" / "out.mp4"))
    assert fake.calls == 0
    with pytest.raises(OutputError, match="folder"):
        check_writable(tmp_path, "event log")
    with pytest.raises(OutputError, match="overwrite the input"):
        run(open_source(tmp_path / "in.mp4"), fake, RunOptions(output=tmp_path / "in.mp4"))


def test_stop_flag_closes_everything_cleanly(tmp_path: Path) -> None:
    stop = threading.Event()
    fake = RedBoxes()

    def recognize(frame):
        if fake.calls == 7:
            stop.set()  # as SIGTERM would, mid-run
        return fake(frame)

    opts = RunOptions(output=tmp_path / "o.mp4", events=tmp_path / "e.jsonl")
    summary = run(open_source(drive_video(tmp_path / "in.mp4")), recognize, opts, stop=stop)
    assert summary["frames"] == 8 and summary["stopped"] == "stopped (signal)"
    assert count_frames(tmp_path / "o.mp4")[0] == 8
    assert max(e["frame"] for e in read_events(tmp_path / "e.jsonl")) == 7


def test_max_frames_and_stride(tmp_path: Path) -> None:
    video = drive_video(tmp_path / "in.mp4")
    s = run(open_source(video), RedBoxes(), RunOptions(max_frames=5))
    assert s["frames"] == 5 and s["stopped"] == "max frames"
    s = run(open_source(video, stride=3), RedBoxes(), RunOptions(events=tmp_path / "e.jsonl"))
    assert s["frames"] == 10
    assert sorted({e["frame"] for e in read_events(tmp_path / "e.jsonl")})[:3] == [0, 3, 6]


def test_the_library_prints_nothing_and_the_summary_reads_as_text(tmp_path: Path, capsys) -> None:
    """``run`` returns the summary; the command line formats it."""
    from realtime.cli.run import format_summary

    summary = run(open_source(drive_video(tmp_path / "in.mp4", n=5)), RedBoxes(), RunOptions())
    assert capsys.readouterr() == ("", "")
    out = format_summary(summary)
    assert "5 frames" in out and "Speed limit (30km/h)" in out and "stopped: end of source" in out


def test_stream_yields_every_frame_in_order_with_its_tracked_signs(tmp_path: Path) -> None:
    """The generator API: one result per frame, frame indices in order, detections tracked."""
    from realtime.pipeline import stream

    results = list(stream(open_source(drive_video(tmp_path / "in.mp4", n=12)), SplitRedBoxes()))
    assert [r.index for r in results] == list(range(12))
    sign = [d for r in results for d in r.detections if d.box[1] == 40]
    assert len(sign) == 12 and len({d.track_id for d in sign}) == 1
    assert [d.confirmed for d in sign[:4]] == [False, False, True, True]
    assert all(r.image.shape == (120, 160, 3) for r in results)


def test_on_frame_returning_false_quits_and_keeps_the_outputs(tmp_path: Path) -> None:
    seen = []

    def on_frame(result) -> bool:
        seen.append(result.index)
        return len(seen) < 4

    s = run(open_source(drive_video(tmp_path / "in.mp4")), SplitRedBoxes(),
            RunOptions(output=tmp_path / "o.mp4"), on_frame=on_frame)
    assert s["stopped"] == "quit" and s["frames"] == len(seen) >= 4
    assert count_frames(tmp_path / "o.mp4")[0] == s["frames"]


def test_headless_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert display_available() is False


def test_driver_alerts_follow_confirmed_signs() -> None:
    a = DriverAlerts(hold_s=5.0)

    def sign(cid: int, tid: int, confirmed: bool = True) -> Detection:
        return Detection((0, 0, 10, 10), 0.9, cid, track_id=tid, confirmed=confirmed)

    a.update([sign(2, 1)], 0.0)
    assert a.speed_limit == 50
    a.update([sign(7, 2, confirmed=False)], 1.0)
    assert a.speed_limit == 50  # unconfirmed signs change nothing
    a.update([sign(32, 3)], 2.0)
    assert a.speed_limit is None
    a.update([sign(25, 4), sign(18, 5)], 3.0)
    assert [c for _, c, _ in a.warnings] == [25, 18]
    a.update([], 9.0)
    assert not a.warnings


def test_a_new_limit_needs_a_track_that_agrees_on_it() -> None:
    """A speed-limit track torn between two limits does not change the limit shown; once its vote
    settles it does. End-of-limit signs follow the same rule."""
    from realtime.config import AlertsConfig
    from realtime.track import Tracker

    a = DriverAlerts.from_config(AlertsConfig(limit_agreement=0.75))
    tracker = Tracker(k=2, n=3)
    votes = [3, 5, 3, 5, 5, 5, 5, 5, 5, 5, 5]  # 60, 80, 60, then 80 on and on
    shown = []
    for i, cid in enumerate(votes):
        (d,) = tracker.update([Detection((100 + i, 50, 130 + i, 80), 0.9, cid)], i)
        a.update([d], i / 25)
        shown.append(a.speed_limit)
    assert shown[:4] == [None] * 4  # confirmed from the second frame, but never 75% one limit
    assert shown[-1] == 80 and None in shown and 60 not in shown
    a.update([Detection((0, 0, 10, 10), 0.9, 32, track_id=99, confirmed=True, agreement=0.5)], 1.0)
    assert a.speed_limit == 80  # an unsettled end-of-limit track clears nothing
    a.update([Detection((0, 0, 10, 10), 0.9, 32, track_id=99, confirmed=True, agreement=0.9)], 1.1)
    assert a.speed_limit is None
    with pytest.raises(ValueError):
        AlertsConfig(limit_agreement=1.5)


def test_one_sign_is_one_warning_even_when_its_label_changes() -> None:
    """A general-caution track read as pedestrians for a few frames keeps one warning on the panel,
    showing what the track is read as now; a second sign of another class is a second warning."""
    a = DriverAlerts(hold_s=5.0)

    def sign(cid: int, tid: int | None) -> Detection:
        return Detection((0, 0, 10, 10), 0.9, cid, track_id=tid, confirmed=True)

    a.update([sign(18, 3)], 0.0)
    a.update([sign(27, 3)], 0.5)
    assert [(c, tid) for _, c, tid in a.warnings] == [(27, 3)] and a.warnings[0][0] == 0.0
    a.update([sign(18, 3)], 1.0)
    a.update([sign(25, 4)], 1.5)
    assert [(c, tid) for _, c, tid in a.warnings] == [(18, 3), (25, 4)]
    a.update([sign(25, None)], 2.0)  # stills: every confirmed detection warns
    a.update([sign(11, None)], 2.5)
    assert [c for _, c, _ in a.warnings] == [18, 25, 11]


def test_hud_modes_and_readable_labels() -> None:
    from realtime.draw import text_on

    full, fps_only, none = (np.zeros((720, 1280, 3), np.uint8) for _ in range(3))
    for frame, mode in ((full, "full"), (fps_only, "fps"), (none, "none")):
        Painter(hud=mode)(frame, [], fps=30.0, stages_ms={"detect": 4.2, "classify": 3.0})
    rows = [int(f[:200, :200].any(axis=(1, 2)).sum()) for f in (full, fps_only, none)]
    assert rows[0] > rows[1] > rows[2] == 0  # the full box is taller than the FPS line; none draws nothing
    assert text_on((0, 170, 255)) == (0, 0, 0) and text_on((40, 40, 230)) == (255, 255, 255)
    with pytest.raises(ValueError):
        Painter(hud="some")


def test_painter_draws_boxes_hud_and_panel() -> None:
    frame = np.zeros((400, 600, 3), np.uint8)
    alerts = DriverAlerts(speed_limit=80)
    alerts.warnings.append((0.0, 18, 5))
    dets = [Detection((100, 100, 140, 140), 0.97, 14, track_id=3, confirmed=True),
            Detection((300, 200, 320, 220), 0.4, 1, track_id=4, confirmed=False)]
    Painter()(frame, dets, fps=61.5, stages_ms={"detect": 4.2, "classify": 0.3}, alerts=alerts)
    assert frame[100, 120].any() and frame[200, 310].any()  # box edges
    assert frame[5:40, 5:100].any()  # HUD
    assert frame[:120, -120:].any()  # speed-limit disc


def test_event_writer_and_summary_units(tmp_path: Path) -> None:
    d = Detection((1.23, 2, 3, 4), 0.5, 14, track_id=9, confirmed=True, agreement=2 / 3)
    with EventWriter(tmp_path / "e.jsonl") as w:
        w.write("cam", 5, 0.5, [d])
    (e,) = read_events(tmp_path / "e.jsonl")
    assert e == {"source": "cam", "frame": 5, "t": 0.5, "box": [1.2, 2.0, 3.0, 4.0], "class_id": 14,
                 "label": "Stop", "score": 0.5, "track_id": 9, "confirmed": True, "found": "detector",
                 "agreement": 0.667}
    s = Summary()
    s.add(0, 0.0, [d])
    s.add(1, 1.0, [d, Detection((0, 0, 1, 1), 0.9, 14, track_id=10, confirmed=True)])
    s.add(2, 2.0, [Detection((0, 0, 1, 1), 0.9, 2, track_id=11, confirmed=False)])
    s.elapsed_s = 2.0
    r = s.as_dict()
    assert (r["frames"], r["fps"], r["signs"], r["detections"]) == (3, 1.5, 2, 3)
    assert r["classes"] == [{"class_id": 14, "label": "Stop", "signs": 2, "detections": 3, "first_t": 0.0,
                             "last_t": 1.0, "first_frame": 0, "last_frame": 1}]
    assert "(0 signs" not in format_summary(s.as_dict())  # no row of 0 signs, no explanation


def test_summary_counts_a_track_once_under_its_most_frequent_class() -> None:
    """A sign whose voted label passes through another class for a few frames is still one sign (the
    bundled sample's general caution sign was read as pedestrians for 6 frames, and the summary
    said 9 signs for 8)."""
    s = Summary()
    for f in range(10):
        cid = 27 if 4 <= f < 7 else 18  # caution, 3 frames of pedestrians, caution again
        s.add(f, f / 25, [Detection((0, 0, 9, 9), 0.9, cid, track_id=3, confirmed=True),
                          Detection((20, 0, 29, 9), 0.9, 1, track_id=None, confirmed=True)])
    r = s.as_dict()
    assert r["signs"] == 1 + 10 and r["detections"] == 20  # the track, and ten untracked stills
    rows = {row["class_id"]: row for row in r["classes"]}
    assert (rows[18]["signs"], rows[18]["detections"], rows[18]["first_frame"], rows[18]["last_frame"]) == (1, 7, 0, 9)
    assert (rows[27]["signs"], rows[27]["detections"], rows[27]["first_frame"], rows[27]["last_frame"]) == (0, 3, 4, 6)
    assert rows[1]["signs"] == 10
    text = format_summary(s.as_dict())
    assert " 0 signs" in text and "(0 signs: " in text  # the row, and a line saying what it means


class SplitRedBoxes(RedBoxes):
    """The fake, split like the shipped recognizer: ``propose`` (any thread), then ``finish``.
    ``lead`` records, at each finish, how many frames had been proposed beyond the one finished."""

    def __init__(self, finish_s: float = 0.0) -> None:
        super().__init__()
        self.threads: set[str] = set()
        self.finish_s = finish_s
        self.proposed = self.finished = 0
        self.lead: list[int] = []

    def propose(self, frame: np.ndarray, index: int | None = None):
        self.threads.add(threading.current_thread().name)
        time.sleep(0.002)  # long enough for the main thread to get ahead if frames were mixed up
        out = RedBoxes.__call__(self, frame), frame[0, 0].copy()
        self.proposed += 1
        return out

    def finish(self, frame: np.ndarray, proposal, hints=None) -> list[Detection]:
        dets, corner = proposal
        assert np.array_equal(frame[0, 0], corner)  # the proposal belongs to this frame
        time.sleep(self.finish_s)
        self.finished += 1
        self.lead.append(self.proposed - self.finished)
        return dets


def test_overlapped_recognition_gives_the_same_outputs_as_plain(tmp_path: Path) -> None:
    """Proposing frame t+1 while frame t is finished changes speed, not results, and loses no frame."""
    video = drive_video(tmp_path / "in.mp4", n=25)
    out = {}
    for overlap in (False, True):
        rec = SplitRedBoxes()
        ev = tmp_path / f"ev_{overlap}.jsonl"
        s = run(open_source(video), rec, RunOptions(output=tmp_path / f"o_{overlap}.mp4", events=ev, overlap=overlap))
        assert s["frames"] == 25 and count_frames(tmp_path / f"o_{overlap}.mp4")[0] == 25
        out[overlap] = [{k: v for k, v in e.items() if k != "t"} for e in read_events(ev)]
        assert any(name.startswith("propose") for name in rec.threads) == overlap
    assert out[True] == out[False] and out[True]
    rec = SplitRedBoxes()
    s = run(open_source(video), rec, RunOptions(max_frames=7))
    assert s["frames"] == 7


def test_a_file_is_proposed_ahead_by_the_set_number_of_frames_with_the_same_outputs(tmp_path: Path) -> None:
    """With a slow finishing half the worker proposes as far ahead as ``ahead`` lets it, never
    further, and the event log is the same for every ``ahead``; a file's default is ``AHEAD``, a
    live source's one frame."""
    video = drive_video(tmp_path / "in.mp4", n=25)
    logs, leads = {}, {}
    for ahead in (1, 2, 3, None):
        rec = SplitRedBoxes(finish_s=0.02)  # ten times the proposing half
        ev = tmp_path / f"ev_{ahead}.jsonl"
        s = run(open_source(video), rec, RunOptions(output=tmp_path / f"o_{ahead}.mp4", events=ev, ahead=ahead))
        assert s["frames"] == 25 and count_frames(tmp_path / f"o_{ahead}.mp4")[0] == 25
        logs[ahead] = [{k: v for k, v in e.items() if k != "t"} for e in read_events(ev)]
        leads[ahead] = rec.lead
    assert logs[1] == logs[2] == logs[3] == logs[None] and logs[1]
    for ahead in (1, 2, 3):
        # never further than ``ahead``, nor past the last frame; and reached while frames were finished
        assert all(lead <= min(ahead, 24 - j) for j, lead in enumerate(leads[ahead]))
        assert max(leads[ahead]) == ahead
    assert max(leads[None]) == AHEAD == 2

    frames = iter(range(20))

    def camera():  # a live source: its frames are shown once the next one is captured, not two
        i = next(frames, None)
        time.sleep(0.005)
        return None if i is None else (np.full((120, 160, 3), 40 + i, np.uint8), f"cam:{i}")

    live = SplitRedBoxes(finish_s=0.02)
    with Source(camera, kind="camera", name="cam", live=True) as src:
        assert len(list(stream(src, live))) >= 2
    assert live.lead and max(live.lead) <= 1
    source = open_source(video)
    try:
        with pytest.raises(ValueError, match="ahead"):
            next(stream(source, SplitRedBoxes(), ahead=0))
    finally:
        source.close()


def test_overlapped_run_uses_one_opencv_thread_and_restores_the_setting(tmp_path: Path) -> None:
    """While stages overlap, OpenCV's own pool only makes them wait for each other; the caller's
    setting comes back afterwards."""
    video = drive_video(tmp_path / "in.mp4", n=5)
    seen: list[int] = []

    class Probe(SplitRedBoxes):
        def finish(self, frame, proposal, hints=None):
            seen.append(cv2.getNumThreads())
            return super().finish(frame, proposal)

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        run(open_source(video), Probe(), RunOptions())
        assert seen and set(seen) == {1} and cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


def test_the_readme_python_example_runs() -> None:
    """The README's API example, exactly as written, on the bundled drive-by: it prints the signs."""
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    (code,) = re.findall(r"```python\n(.*?)```", (root / "README.md").read_text(), re.S)
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) > 100 and any("Ahead only" in line for line in lines)
