"""What users see when things go wrong: bad input, bad models, bad outputs, signals, odd frames.

Every case runs the product as users do (``python -m realtime ...`` in a subprocess) or the loop
itself (``realtime.pipeline.run``) with the real detector and a tiny LiteRT model built once per
module. The contract (docs/RELIABILITY.md): exactly one ``error:`` line and a non-zero exit for what
the user must fix, a ``warning:`` line and a clean end for what can be skipped, never a traceback,
and nothing already written lost.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.test_pipeline import count_frames, drive_video

ROOT = Path(__file__).resolve().parent.parent
FAKE = ["--recognizer", "tests.test_pipeline:make_fake"]
SIGN_CLASS = 1  # the stand-in model calls every crop "Speed limit (30km/h)", a red circle


# -- helpers ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained net (width 4) whose output bias makes it sure every crop is class 1.

    With it the real detector's red circles pass the recognizer's 0.99 threshold, so tracking,
    drawing and the event log carry load as with a trained model, for a fraction of the cost.
    """
    from realtime.card import ModelCard
    from realtime.classes import NAMES
    from realtime.preprocess import Preprocessing
    from training.net import build
    from training.train import export_tflite

    out = tmp_path_factory.mktemp("model")
    cfg = Preprocessing()
    net = build(cfg.input_shape, len(NAMES), width=4, dense=8)
    bias = np.zeros(len(NAMES), np.float32)
    bias[SIGN_CLASS] = 30.0
    net.get_layer("probs").bias.assign(bias)
    export_tflite(net, out / "tiny.tflite")
    ModelCard([{"id": i, "name": n} for i, n in enumerate(NAMES)], cfg, files={"tflite": "tiny.tflite"}).save(
        out / "tiny.json")
    return out / "tiny.tflite"


def env() -> dict[str, str]:
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    e.pop("DISPLAY", None)
    e.pop("WAYLAND_DISPLAY", None)
    return e


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realtime", *args], cwd=ROOT, env=env(), capture_output=True,
                          text=True, timeout=timeout)


def errors(r: subprocess.CompletedProcess) -> list[str]:
    return [line for line in r.stderr.splitlines() if line.startswith("error:")]


def assert_error(r: subprocess.CompletedProcess, *words: str) -> str:
    """Non-zero exit, exactly one non-empty ``error:`` line holding ``words``, no traceback."""
    assert r.returncode != 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    (line,) = errors(r)
    assert len(line) > len("error: ") and all(w in line for w in words), r.stderr
    return line


def assert_clean(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and not errors(r), r.stderr


def red_circles_video(path: Path, n: int, size: tuple[int, int] = (320, 240), fps: float = 25.0) -> Path:
    """Red-rimmed white discs sliding right: the real detector finds them, the stand-in names them."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(n):
        img = np.full((size[1], size[0], 3), (90, 110, 100), np.uint8)
        x = 40 + (3 * i) % (size[0] - 80)
        cv2.circle(img, (x, 90), 22, (30, 30, 210), -1, cv2.LINE_AA)
        cv2.circle(img, (x, 90), 15, (245, 245, 245), -1, cv2.LINE_AA)
        w.write(img)
    w.release()
    return path


def sign_image(size: tuple[int, int] = (160, 120)) -> np.ndarray:
    img = np.full((size[1], size[0], 3), (90, 110, 100), np.uint8)
    cv2.circle(img, (size[0] // 2, size[1] // 2), 22, (30, 30, 210), -1, cv2.LINE_AA)
    cv2.circle(img, (size[0] // 2, size[1] // 2), 15, (245, 245, 245), -1, cv2.LINE_AA)
    return img


def jsonl(path: Path) -> list[dict]:
    """Every line must parse and the file must end with a newline (no half-written last line)."""
    text = path.read_text()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


# -- bad input: paths, folders, images ---------------------------------------------------------
def test_missing_paths(tmp_path: Path) -> None:
    assert_error(cli("run", str(tmp_path / "nope.mp4"), "--no-display", *FAKE), "source not found", "nope.mp4")
    r = cli("classify", str(tmp_path / "nope"), "--csv", str(tmp_path / "o.csv"))
    assert_error(r, "no image files")
    assert "warning: not found, skipped" in r.stderr and not (tmp_path / "o.csv").exists()


def test_empty_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert_error(cli("run", str(tmp_path / "empty"), "--no-display", *FAKE), "no images in folder")
    assert_error(cli("classify", str(tmp_path / "empty"), "--csv", str(tmp_path / "o.csv")), "no image files")


def _mixed_folder(folder: Path) -> None:
    """Good, odd-format, broken and foreign files side by side, as a user's camera card holds them."""
    folder.mkdir()
    img = sign_image()
    cv2.imwrite(str(folder / "a_ok.png"), img)
    cv2.imwrite(str(folder / "b_ok.jpg"), img)
    (folder / "c_zero.png").write_bytes(b"")
    jpg = (folder / "b_ok.jpg").read_bytes()
    (folder / "d_truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    png = (folder / "a_ok.png").read_bytes()
    (folder / "e_truncated.png").write_bytes(png[: len(png) // 2])
    (folder / "f_notes.txt").write_text("not an image")
    cv2.imwrite(str(folder / "g_gray.png"), img[:, :, 2])
    cv2.imwrite(str(folder / "h_16bit.png"), img.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "i_bgra.png"), cv2.cvtColor(img, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "j_tiny.png"), img[54:66, 74:86])  # 12x12, smaller than the 32x32 input


def test_folder_with_broken_and_foreign_files_run(tmp_path: Path, model: Path) -> None:
    _mixed_folder(tmp_path / "in")
    ev, out = tmp_path / "e.jsonl", tmp_path / "o.mp4"
    r = cli("run", str(tmp_path / "in"), "--no-display", "--model", str(model), "--events", str(ev),
            "--output", str(out))
    assert_clean(r)
    assert "warning: unreadable image, skipped" in r.stderr
    assert "c_zero.png" in r.stderr and "e_truncated.png" in r.stderr
    assert "warning: truncated image" in r.stderr and "d_truncated.jpg" in r.stderr
    assert "7 frames" in r.stdout and "skipped 1 non-image files, 2 unreadable images" in r.stdout
    assert count_frames(out)[0] == 7
    seen = {e["source"] for e in jsonl(ev) if e["class_id"] == SIGN_CLASS}
    assert {"a_ok.png", "b_ok.jpg", "h_16bit.png", "i_bgra.png"} <= seen  # 16-bit, BGRA too (gray: no colour)


def test_folder_with_broken_and_foreign_files_classify(tmp_path: Path, model: Path) -> None:
    _mixed_folder(tmp_path / "in")
    out = tmp_path / "labels.csv"
    r = cli("classify", str(tmp_path / "in"), "--csv", str(out), "--model", str(model))
    assert_clean(r)
    assert "c_zero.png" in r.stderr and "e_truncated.png" in r.stderr and "d_truncated.jpg" in r.stderr
    assert "classified 7 images" in r.stdout and "2 unreadable, 1 non-image files skipped" in r.stdout
    rows = out.read_text().splitlines()
    assert len(rows) == 8 and all(row.split(";")[1] == str(SIGN_CLASS) for row in rows[1:])
    assert cli("classify", str(tmp_path / "in"), "--csv", str(out), "--batch-size", "0").returncode == 2


# -- bad input: videos -------------------------------------------------------------------------
def test_video_cut_in_half(tmp_path: Path) -> None:
    """mp4v writes the mp4 index at the end: half a file has none, so nothing can be decoded.
    AVI keeps frames decodable in order: the first half is processed and the cut is reported."""
    full = red_circles_video(tmp_path / "full.mp4", 60)
    data = full.read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    assert_error(cli("run", str(tmp_path / "half.mp4"), "--no-display", *FAKE), "truncated or corrupt")

    w = cv2.VideoWriter(str(tmp_path / "full.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(60):
        w.write(np.full((120, 160, 3), 2 * i, np.uint8))
    w.release()
    data = (tmp_path / "full.avi").read_bytes()
    (tmp_path / "half.avi").write_bytes(data[: len(data) // 2])
    out = tmp_path / "o.mp4"
    r = cli("run", str(tmp_path / "half.avi"), "--no-display", "--output", str(out), *FAKE)
    assert_clean(r)
    assert "warning: half.avi ended after" in r.stderr and "truncated or corrupt" in r.stderr
    done = int(r.stdout.split(" frames")[0].split()[-1])
    assert 10 < done < 60 and count_frames(out)[0] == done


def test_video_with_garbage_in_the_middle(tmp_path: Path, model: Path) -> None:
    video = red_circles_video(tmp_path / "v.mp4", 60)
    data = bytearray(video.read_bytes())
    n = len(data)
    data[n // 3: 2 * n // 3] = np.random.default_rng(0).integers(0, 256, 2 * n // 3 - n // 3, np.uint8).tobytes()
    video.write_bytes(bytes(data))
    ev, out = tmp_path / "e.jsonl", tmp_path / "o.mp4"
    r = cli("run", str(video), "--no-display", "--model", str(model), "--events", str(ev), "--output", str(out))
    assert_clean(r)
    done = int(r.stdout.split(" frames")[0].split()[-1])
    assert 0 < done <= 60 and count_frames(out)[0] == done
    assert all(e["frame"] < 60 for e in jsonl(ev))
    if done < 55:
        assert "warning: v.mp4 ended after" in r.stderr


@pytest.mark.parametrize("content", [b"hello, not a video\n", b""], ids=["text", "empty"])
def test_file_named_mp4_that_is_not_a_video(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "x.mp4").write_bytes(content)
    assert_error(cli("run", str(tmp_path / "x.mp4"), "--no-display", *FAKE), "not a video", "x.mp4")


# -- bad input: cameras and streams ------------------------------------------------------------
def test_camera_index_that_does_not_exist() -> None:
    assert_error(cli("run", "7", "--no-display", *FAKE), "cannot open camera 7")


def test_stream_that_cannot_be_opened() -> None:
    t0 = time.monotonic()
    assert_error(cli("run", "http://127.0.0.1:9/none.mjpg", "--no-display", *FAKE), "cannot open stream",
                 "127.0.0.1:9")
    assert time.monotonic() - t0 < 60


class _Mjpeg(http.server.BaseHTTPRequestHandler):
    """Serves ``frames`` JPEGs on the first connection, then refuses every reconnect (404)."""

    frames = 40
    served: list[str] = []

    def do_GET(self) -> None:
        self.served.append(self.path)
        if len(self.served) > 1:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        for i in range(self.frames):
            img = drive_frame(i)
            buf = cv2.imencode(".jpg", img)[1].tobytes()
            self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(buf)
                             + buf + b"\r\n")
            time.sleep(0.02)

    def log_message(self, *args) -> None:
        pass


def drive_frame(i: int) -> np.ndarray:
    img = np.full((120, 160, 3), 110, np.uint8)
    cv2.rectangle(img, (10 + 2 * i, 40), (26 + 2 * i, 56), (0, 0, 230), -1)
    return img


def test_stream_that_stops_mid_run_reconnects_then_ends(tmp_path: Path) -> None:
    _Mjpeg.served = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mjpeg)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ev = tmp_path / "e.jsonl"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cam.mjpg"
        t0 = time.monotonic()
        r = cli("run", url, "--no-display", "--events", str(ev), *FAKE, timeout=90)
        elapsed = time.monotonic() - t0
    finally:
        server.shutdown()
        server.server_close()
    assert_clean(r)
    assert [line for line in r.stderr.splitlines() if "reconnecting" in line] == [
        f"warning: {url} stopped; reconnecting ({k}/3)" for k in (1, 2, 3)]
    assert f"warning: {url} stopped; gave up after 3 reconnect attempts" in r.stderr
    assert len(_Mjpeg.served) == 4 and elapsed < 60  # bounded: 1 connection + 3 refused reconnects
    assert "stopped: end of source" in r.stdout
    events = jsonl(ev)
    assert events and all(e["class_id"] == 1 and e["source"] == url for e in events)


# -- bad models --------------------------------------------------------------------------------
def _broken_model(kind: str, model: Path, folder: Path) -> Path:
    folder.mkdir()
    tfl, card = folder / "tiny.tflite", folder / "tiny.json"
    tfl.write_bytes(model.read_bytes())
    data = json.loads(model.with_suffix(".json").read_text())
    if kind == "corrupt":
        tfl.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, np.uint8).tobytes())
    elif kind == "classes":
        data["classes"] = data["classes"][:10]
    elif kind == "input":
        data["preprocessing"]["size"] = 48
    elif kind == "retinex":
        data["preprocessing"]["contrast"] = "retinex"
    card.write_text("{\"format\": \"tsr-model-card/1\", \"classes\": [" if kind == "card-json" else json.dumps(data))
    return folder / ("none.tflite" if kind == "missing" else "tiny.tflite")


BAD_MODELS = {
    "missing": ("model not found", "none.tflite"),
    "corrupt": ("cannot load LiteRT model", "not a valid Flatbuffer"),
    "classes": ("43 outputs but its card lists 10 classes",),
    "input": ("model input (32, 32, 3) does not match its card (48, 48, 3)",),
    "retinex": ("unknown contrast method 'retinex'",),
    "card-json": ("is not valid JSON",),
}


@pytest.mark.parametrize("kind", list(BAD_MODELS))
def test_bad_model_is_one_line_and_nothing_is_written(tmp_path: Path, model: Path, kind: str) -> None:
    bad = _broken_model(kind, model, tmp_path / "m")
    video = drive_video(tmp_path / "in.mp4", n=5)
    ev = tmp_path / "e.jsonl"
    assert_error(cli("run", str(video), "--no-display", "--model", str(bad), "--events", str(ev)),
                 *BAD_MODELS[kind])
    assert not ev.exists()


def test_bad_model_keeps_the_previous_csv(tmp_path: Path, model: Path) -> None:
    """A classify run that cannot load its model must not truncate the CSV of the last good run."""
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "a.png"), sign_image())
    out = tmp_path / "labels.csv"
    out.write_text("Filename;ClassId\na.png;1\n")
    bad = _broken_model("corrupt", model, tmp_path / "m")
    assert_error(cli("classify", str(tmp_path / "in"), "--csv", str(out), "--model", str(bad)), "cannot load")
    assert out.read_text() == "Filename;ClassId\na.png;1\n"


# -- odd frames through the real pipeline ------------------------------------------------------
ODD_FRAMES = {
    "gray": lambda img: img[:, :, 2].copy(),
    "gray-1ch": lambda img: img[:, :, 2:3].copy(),
    "bgra": lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2BGRA),
    "uint16": lambda img: img.astype(np.uint16) * 257,
    "float32": lambda img: img.astype(np.float32) / 255.0,
    "tiny-12x12": lambda img: img[114:126, 154:166].copy(),
    "8k": lambda img: _eight_k(img),
}


def _eight_k(img: np.ndarray) -> np.ndarray:
    """A 7680x4320 frame with a sign of ordinary size (120 px) in it."""
    big = np.full((4320, 7680, 3), (90, 110, 100), np.uint8)
    big[3000:3120, 5000:5120] = cv2.resize(img[60:180, 100:220], (120, 120))
    return big


@pytest.mark.parametrize("kind", list(ODD_FRAMES))
def test_odd_frames_through_the_pipeline(tmp_path: Path, model: Path, kind: str) -> None:
    from realtime.cascade import Cascade
    from realtime.pipeline import RunOptions, run
    from realtime.source import Source

    image = ODD_FRAMES[kind](sign_image((320, 240)))
    frames = [image.copy() for _ in range(2 if kind == "8k" else 4)]
    n = len(frames)

    def read():
        return (frames.pop(), kind) if frames else None

    src = Source(read, kind="video", name=kind, live=False, fps=10.0, size=(image.shape[1], image.shape[0]),
                 frame_count=n)
    out, ev, snap = tmp_path / "o.mp4", tmp_path / "e.jsonl", tmp_path / "s.png"
    s = run(src, Cascade.build(model=str(model)), RunOptions(output=out, events=ev, snapshot=snap))
    assert s["frames"] == n and s["output_frames"] == n
    got, size, _ = count_frames(out)
    assert got == n and size == (image.shape[1], image.shape[0])  # the encoder dropped none
    assert cv2.imread(str(snap)).shape[:2] == image.shape[:2]
    events = jsonl(ev)
    if kind in ("gray", "gray-1ch", "bgra", "uint16", "float32", "8k"):
        # the disc is found whatever the format (gray: the detector has no colour to go on)
        assert kind.startswith("gray") or any(e["class_id"] == SIGN_CLASS for e in events), kind
    for e in events:
        x1, y1, x2, y2 = e["box"]
        assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]


# -- outputs that cannot be written ------------------------------------------------------------
@pytest.mark.parametrize("option", ["--output", "--events", "--snapshot"])
def test_unwritable_output_fails_before_the_model_loads(tmp_path: Path, model: Path, option: str) -> None:
    """A path under a regular file (tests run as root, so read-only folders would not stop them)."""
    (tmp_path / "file").write_text("x")
    video = red_circles_video(tmp_path / "in.mp4", 10)
    name = {"--output": "o.mp4", "--events": "e.jsonl", "--snapshot": "s.png"}[option]
    ev = tmp_path / "e.jsonl"
    args = ["run", str(video), "--no-display", "--model", str(model), option, str(tmp_path / "file" / name)]
    if option != "--events":
        args += ["--events", str(ev)]
    t0 = time.monotonic()
    r = cli(*args)
    assert_error(r, "cannot write", str(tmp_path / "file" / name), "is a file, not a folder")
    assert not ev.exists()  # no frame was processed
    assert "XNNPACK" not in r.stderr and "source:" not in r.stderr  # not even the model was loaded
    assert time.monotonic() - t0 < 30


def test_unwritable_csv_fails_before_the_model_loads(tmp_path: Path, model: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "a.png"), sign_image())
    r = cli("classify", str(tmp_path / "in"), "--csv", str(tmp_path / "file" / "o.csv"), "--model", str(model))
    assert_error(r, "cannot write")
    assert "XNNPACK" not in r.stderr


def test_disk_full_mid_run_is_one_line_and_the_video_still_plays(tmp_path: Path) -> None:
    """/dev/full accepts the open and fails every write: the event log dies at its first line."""
    video = drive_video(tmp_path / "in.mp4", n=20)
    out = tmp_path / "o.mp4"
    r = cli("run", str(video), "--no-display", "--events", "/dev/full", "--output", str(out), *FAKE)
    assert_error(r, "cannot write event log /dev/full", "No space left on device")
    assert count_frames(out)[0] >= 1  # the video was finalised all the same


def _has_lines(path: Path) -> bool:
    """True once the event log holds a line; the run creates and removes it once while checking it is writable."""
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


# -- interruption ------------------------------------------------------------------------------
LONG = 1500  # frames: the run must still be going when the signal arrives


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return red_circles_video(tmp_path_factory.mktemp("long") / "in.mp4", LONG)


@pytest.mark.parametrize("signum, recognizer", [(signal.SIGINT, "real"), (signal.SIGTERM, "real"),
                                                (signal.SIGINT, "fake")], ids=["sigint-real", "sigterm-real",
                                                                               "sigint-fake"])
def test_signal_leaves_playable_video_complete_log_and_summary(tmp_path: Path, model: Path, long_video: Path,
                                                               signum: int, recognizer: str) -> None:
    total, video = LONG, long_video
    out, ev, log = tmp_path / "o.mp4", tmp_path / "e.jsonl", tmp_path / "stderr.txt"
    plug = FAKE if recognizer == "fake" else ["--model", str(model)]
    cmd = [sys.executable, "-m", "realtime", "run", str(video), "--no-display", "--output", str(out),
           "--events", str(ev), *plug]
    e = dict(env(), FAKE_DELAY="0.02")
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _has_lines(ev):
            time.sleep(0.05)  # the first event line: frames are flowing
        time.sleep(0.5)
        proc.send_signal(signum)
        stdout, _ = proc.communicate(timeout=90)
    stderr = log.read_text()
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    done = int(stdout.split(" frames")[0].split()[-1])
    assert 0 < done < total, stdout
    assert "stopped: stopped (signal)" in stdout
    assert count_frames(out)[0] == done  # closed properly: the mp4 index is there, every frame plays
    events = jsonl(ev)  # every line complete
    frames = sorted({x["frame"] for x in events})
    assert frames and frames[-1] < done
    if recognizer == "fake":  # one red square a frame: a line for every processed frame, none missing
        assert frames == list(range(done))
    else:
        assert all(x["class_id"] == SIGN_CLASS for x in events)


# -- soak command --------------------------------------------------------------------------------
def test_soak_smoke(tmp_path: Path) -> None:
    report = tmp_path / "soak.json"
    r = subprocess.run([sys.executable, "-m", "training", "soak", "--frames", "30", "--window", "10", "--json",
                        str(report), *FAKE], cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120)
    assert_clean(r)
    data = json.loads(report.read_text())
    assert data["frames"] == 30 and len(data["fps_windows"]) == 3 and data["passed"] is True
    assert data["rss_mb"]["after_warmup"] > 0 and data["rss_mb"]["end"] > 0
    assert "PASSED" in r.stdout


class _LongMjpeg(_Mjpeg):
    """A live source that keeps delivering (like a camera) until the client goes away."""

    frames = 3000

    def do_GET(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().do_GET()


def test_signal_during_a_live_stream_keeps_everything(tmp_path: Path) -> None:
    """Ctrl-C on a live source (the camera code path: newest frame only, reader thread)."""
    _LongMjpeg.served = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LongMjpeg)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out, ev, log = tmp_path / "o.mp4", tmp_path / "e.jsonl", tmp_path / "stderr.txt"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cam.mjpg"
        cmd = [sys.executable, "-m", "realtime", "run", url, "--no-display", "--output", str(out),
               "--events", str(ev), *FAKE]
        with log.open("w") as err:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=err, text=True)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _has_lines(ev):
                time.sleep(0.05)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            stdout, _ = proc.communicate(timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    stderr = log.read_text()
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    done = int(stdout.split(" frames")[0].split()[-1])
    assert 0 < done < _LongMjpeg.frames, stdout
    assert "stopped: stopped (signal)" in stdout
    assert count_frames(out)[0] == done  # the annotated video is closed and plays
    frames = [e["frame"] for e in jsonl(ev)]  # every line complete
    # live: stale frames are dropped, so capture indices jump; the fake reports one sign a frame,
    # so every processed frame has its line, in order
    assert len(set(frames)) == done and frames == sorted(frames)
