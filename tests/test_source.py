"""Sources: files give every frame in order, live sources drop stale frames, bad input is one clear error."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.cli.args import log_to_stderr
from realtime.source import Source, SourceError, open_source, reconnecting_reader


@pytest.fixture
def stderr_warnings() -> None:
    """The library's warnings on stderr, as the command line shows them (else pytest's log capture
    takes them, and these tests would pass only after a test that ran the command line)."""
    log_to_stderr()


def make_video(path: Path, n: int = 12, size: tuple[int, int] = (64, 48), fps: float = 10.0) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert w.isOpened()
    for i in range(n):
        img = np.full((size[1], size[0], 3), 0, np.uint8)
        cv2.putText(img, str(i), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        w.write(img)
    w.release()
    return path


def test_video_file_every_frame_in_order(tmp_path: Path) -> None:
    src = open_source(make_video(tmp_path / "clip.mp4"))
    assert (src.kind, src.live, src.size, src.frame_count) == ("video", False, (64, 48), 12)
    assert src.fps == pytest.approx(10.0)
    frames = list(src)
    src.close()
    assert [f.index for f in frames] == list(range(12))
    assert [f.t for f in frames] == pytest.approx([i / 10.0 for i in range(12)])
    assert {f.name for f in frames} == {"clip.mp4"}
    assert frames[0].image.shape == (48, 64, 3)


def test_video_stride_skips_on_purpose(tmp_path: Path) -> None:
    with open_source(make_video(tmp_path / "clip.mp4"), stride=5) as src:
        frames = list(src)
        assert src.expected_frames == 3
    assert [f.index for f in frames] == [0, 5, 10]
    assert [f.t for f in frames] == pytest.approx([0.0, 0.5, 1.0])


def test_file_source_never_drops_with_a_slow_consumer(tmp_path: Path) -> None:
    with open_source(make_video(tmp_path / "clip.mp4", n=10), queue_size=2) as src:
        got = []
        for f in src:
            time.sleep(0.01)
            got.append(f.index)
        assert got == list(range(10)) and src.dropped == 0 and src.max_queued <= 2


def test_folder_sorted_skips_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture, stderr_warnings: None) -> None:
    for name in ("b.png", "a.jpg", "c.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((20, 30, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"garbage")
    src = open_source(tmp_path)
    names = [f.name for f in src]
    src.close()
    assert names == ["a.jpg", "b.png", "c.png"]
    assert src.kind == "folder" and src.skipped_files == 1 and src.unreadable == 1
    assert "broken.png" in capsys.readouterr().err


def test_single_image(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((20, 30, 3), np.uint8))
    with open_source(tmp_path / "x.png") as src:
        frames = list(src)
    assert len(frames) == 1 and frames[0].name == "x.png" and src.size == (30, 20)


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.mp4", "not found"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no images"),
    (lambda p: (p / "text.mp4").write_text("hello") and p / "text.mp4", "not a video"),
    (lambda p: (p / "bad.png").write_bytes(b"xx") and p / "bad.png", "cannot read image"),
])
def test_bad_input_is_one_clear_error(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(SourceError, match=message) as info:
        open_source(make(tmp_path))
    assert "\n" not in str(info.value)


def test_camera_and_stream_that_do_not_open() -> None:
    with pytest.raises(SourceError, match="camera 57"):
        open_source("57")
    with pytest.raises(SourceError, match="stream"):
        open_source("rtsp://user:secret@127.0.0.1:9/none")
    with pytest.raises(SourceError) as info:
        open_source("http://user:secret@127.0.0.1:9/none.mjpg")
    assert "secret" not in str(info.value)


def test_live_source_drops_stale_frames_instead_of_lagging() -> None:
    produced = 0

    def fast_camera():
        nonlocal produced
        if produced >= 400:
            return None
        produced += 1
        time.sleep(0.001)
        return np.zeros((4, 4, 3), np.uint8), "cam"

    src = Source(fast_camera, kind="camera", name="cam", live=True, queue_size=2)
    got = []
    for f in src:
        got.append(f.index)
        time.sleep(0.02)  # slow consumer
    src.close()
    assert src.max_queued <= 2
    assert src.dropped > 0 and len(got) + src.dropped == produced
    assert max(np.diff(got)) > 1  # indices jump: we skipped stale frames
    assert got == sorted(got) and got[-1] == produced - 1  # and still saw the newest one


def test_live_frames_carry_wall_clock_time() -> None:
    n = iter(range(3))

    def cam():
        return (np.zeros((2, 2, 3), np.uint8), "cam") if next(n, None) is not None else None

    with Source(cam, kind="camera", name="cam", live=True) as src:
        t0 = time.monotonic()
        frames = list(src)
    assert all(0 <= f.t <= time.monotonic() - t0 + 0.5 for f in frames)


def test_reconnect_then_end_cleanly(capsys: pytest.CaptureFixture, stderr_warnings: None) -> None:
    script = [1, None, 2, None, None, None, None]  # one outage it survives, one it does not
    reconnects = []

    def read_once():
        v = script.pop(0) if script else None
        return None if v is None else np.full((2, 2, 3), v, np.uint8)

    read = reconnecting_reader(read_once, lambda: reconnects.append(1) or True, "rtsp://cam", attempts=2)
    with Source(read, kind="stream", name="rtsp://cam", live=True, queue_size=8) as src:
        values = [int(f.image[0, 0, 0]) for f in src]
    assert values == [1, 2] and len(reconnects) == 3
    assert "gave up after 2" in capsys.readouterr().err


def test_reader_errors_reach_the_consumer() -> None:
    def broken():
        raise SourceError("device unplugged")

    src = Source(broken, kind="camera", name="cam", live=True)
    with pytest.raises(SourceError, match="unplugged"):
        list(src)
    src.close()


def test_close_stops_a_blocked_capture_thread(tmp_path: Path) -> None:
    src = open_source(make_video(tmp_path / "clip.mp4", n=30), queue_size=1)
    assert src.read() is not None
    src.close()
    assert not any(t.name.startswith("capture:") and t.is_alive() for t in threading.enumerate())


def test_http_mjpeg_stream_that_stops_reconnects_then_ends(capsys: pytest.CaptureFixture,
                                                           stderr_warnings: None) -> None:
    """A real stream over HTTP: 15 frames, then the server refuses (404) every reconnect attempt."""
    import http.server

    served = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.append(self.path)
            if len(served) > 1:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for i in range(15):
                buf = cv2.imencode(".jpg", np.full((48, 64, 3), 10 * i, np.uint8))[1].tobytes()
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                 % len(buf) + buf + b"\r\n")
                time.sleep(0.01)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cam.mjpg"
        with open_source(url, reconnects=2, reconnect_delay=0.05, queue_size=64) as src:
            assert src.kind == "stream" and src.live
            frames = list(src)
    finally:
        server.shutdown()
        server.server_close()
    assert 5 <= len(frames) <= 15 and frames[0].image.shape == (48, 64, 3)  # FFmpeg may keep a few
    assert len(served) == 3  # first connection, then two refused reconnects
    assert "gave up after 2" in capsys.readouterr().err
