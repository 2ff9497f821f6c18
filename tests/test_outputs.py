"""What a run leaves behind: annotated video that survives a crash, annotated stills, the summary
as JSON, the sign-track table, and the event log."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.pipeline import RunOptions, run
from realtime.source import open_source
from realtime.video import VideoOut
from tests.test_cli_run import FAKE, ROOT, env
from tests.test_pipeline import RedBoxes, count_frames, drive_video, read_events


def test_annotated_video_is_h264(tmp_path: Path) -> None:
    """PyAV is a dependency of the product: the video plays in browsers (H.264), odd sizes included."""
    pytest.importorskip("av", reason="PyAV is what writes H.264; CI installs it")
    for size in ((160, 120), (161, 121)):
        v = VideoOut(tmp_path / f"v{size[0]}.mp4", 10.0, size)
        for i in range(12):
            v.write(np.full((size[1], size[0], 3), 20 * i % 255, np.uint8))
        v.close()
        assert v.codec == "h264" and v.note is None
        cap = cv2.VideoCapture(str(tmp_path / f"v{size[0]}.mp4"))
        assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") in (b"avc1", b"h264", b"H264")
        cap.release()
        assert count_frames(tmp_path / f"v{size[0]}.mp4")[0] == 12


def test_kill_9_leaves_a_playable_video_and_a_parseable_event_log(tmp_path: Path) -> None:
    """A power cut mid-run: everything up to about a second before it plays, every event line parses."""
    pytest.importorskip("av", reason="the crash-safe container is written through PyAV; CI installs it")
    video = drive_video(tmp_path / "in.mp4", n=400, fps=10.0, false_alarm_at=None)
    out, events, err = tmp_path / "o.mp4", tmp_path / "e.jsonl", tmp_path / "err.txt"
    cmd = [sys.executable, "-m", "realtime", "run", str(video), "--no-display", "--output", str(out), "--events",
           str(events), *FAKE]
    with err.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env(FAKE_DELAY="0.02"), stdout=subprocess.DEVNULL, stderr=fh)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not events.exists() or len(events.read_text().splitlines()) < 60):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    lines = events.read_text().splitlines()
    assert len(lines) >= 60, err.read_text()
    frames = [json.loads(line)["frame"] for line in lines]  # every line parses
    played = count_frames(out)[0]
    # fragments close on every keyframe (one a second: 10 frames here); allow for the encoder's queue
    assert played >= max(frames) - 30 and played > 0, (played, max(frames))


def test_still_in_annotated_image_out_with_events_summary_and_tracks(tmp_path: Path) -> None:
    img = np.full((120, 160, 3), 110, np.uint8)
    cv2.rectangle(img, (40, 40), (60, 60), (0, 0, 230), -1)
    cv2.imwrite(str(tmp_path / "photo.png"), img)
    out, summary, tracks = tmp_path / "out.jpg", tmp_path / "s.json", tmp_path / "t.csv"
    s = run(open_source(tmp_path / "photo.png"), RedBoxes(),
            RunOptions(output=out, events=tmp_path / "e.jsonl", summary=summary, tracks=tracks))
    annotated = cv2.imread(str(out))
    assert annotated.shape == img.shape and np.abs(annotated.astype(int) - img).mean() > 1  # drawn on
    assert s["output_frames"] == 1 and json.loads(summary.read_text())["signs"] == 1
    assert [e["class_id"] for e in read_events(tmp_path / "e.jsonl")] == [1]
    assert list(csv.DictReader(tracks.open())) == []  # stills have no tracks


def test_folder_in_annotated_folder_out(tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    for name in ("a.png", "b.jpg"):
        img = np.full((90, 120, 3), 110, np.uint8)
        cv2.rectangle(img, (30, 30), (50, 50), (0, 0, 230), -1)
        cv2.imwrite(str(src / name), img)
    s = run(open_source(src), RedBoxes(), RunOptions(output=tmp_path / "annotated"))
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == ["a.png", "b.jpg"]
    assert s["output_frames"] == 2
    with pytest.raises(Exception, match="needs a video file"):
        run(open_source(drive_video(tmp_path / "in.mp4", n=3)), RedBoxes(), RunOptions(output=tmp_path / "x.jpg"))


def test_track_table_has_one_row_per_confirmed_track(tmp_path: Path) -> None:
    tracks, summary = tmp_path / "t.csv", tmp_path / "s.json"
    run(open_source(drive_video(tmp_path / "in.mp4")), RedBoxes(), RunOptions(tracks=tracks, summary=summary))
    rows = list(csv.DictReader(tracks.open()))
    assert len(rows) == 1  # the moving sign; the one-frame false alarm never confirmed
    (row,) = rows
    assert (row["class_id"], row["label"], row["first_frame"], row["last_frame"]) == (
        "1", "Speed limit (30km/h)", "2", "29")
    assert int(row["frames_seen"]) == 28 and float(row["best_score"]) == pytest.approx(0.9)
    assert json.loads(summary.read_text())["frames"] == 30


def test_classify_writes_the_csv_to_standard_output(tmp_path: Path) -> None:
    from realtime.classifier import DEFAULT_MODEL

    if not DEFAULT_MODEL.exists():
        pytest.fail(f"the shipped model {DEFAULT_MODEL} is missing")
    img = np.full((32, 32, 3), 90, np.uint8)
    cv2.circle(img, (16, 16), 12, (0, 0, 220), 3)
    cv2.imwrite(str(tmp_path / "c.png"), img)
    r = subprocess.run([sys.executable, "-m", "realtime", "classify", str(tmp_path / "c.png"), "--csv", "-"],
                       cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(r.stdout.splitlines(), delimiter=";"))
    assert rows[0][:2] == ["Filename", "ClassId"] and rows[1][0] == "c.png" and len(rows) == 2
    assert not (tmp_path / "-").exists() and "classified 1 images" in r.stderr
