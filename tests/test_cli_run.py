"""``python -m realtime`` as users run it: one-line errors, clean stop on SIGTERM, fast --help.

The runs use the fake recognizer of test_pipeline.py through ``--recognizer`` so they need no
trained model; ``test_real_recognizer_*`` use the shipped one and skip while it is missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.test_pipeline import count_frames, drive_video, read_events

ROOT = Path(__file__).resolve().parent.parent
FAKE = ["--recognizer", "tests.test_pipeline:make_fake"]


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ, PYTHONPATH=str(ROOT), **extra)
    e.pop("DISPLAY", None)
    return e


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realtime", *args], cwd=kw.pop("cwd", ROOT), env=env(**kw),
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(r: subprocess.CompletedProcess, words: str) -> None:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], r.stderr


def test_missing_file_is_one_line_error(tmp_path: Path) -> None:
    assert_one_line_error(cli("run", str(tmp_path / "missing.mp4"), "--no-display"), "not found")


def test_not_a_video_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.mp4").write_text("hello")
    assert_one_line_error(cli("run", str(tmp_path / "notes.mp4"), "--no-display"), "not a video")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("run", str(tmp_path / "empty"), "--no-display"), "no images")


def test_camera_that_does_not_open(tmp_path: Path) -> None:
    assert_one_line_error(cli("run", "63", "--no-display"), "camera 63")


def test_unwritable_output_is_one_line_error(tmp_path: Path) -> None:
    video = drive_video(tmp_path / "in.mp4", n=3)
    (tmp_path / "file").write_text("x")
    r = cli("run", str(video), "--no-display", "--output", str(tmp_path / "file" / "o.mp4"), *FAKE)
    assert_one_line_error(r, "cannot write")


def test_missing_model_is_one_line_error(tmp_path: Path) -> None:
    video = drive_video(tmp_path / "in.mp4", n=3)
    r = cli("run", str(video), "--no-display", "--model", str(tmp_path / "none.tflite"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error:")


def test_bad_stride_is_a_usage_error() -> None:
    r = cli("run", "x.mp4", "--stride", "0")
    assert r.returncode == 2 and "at least 1" in r.stderr and "Traceback" not in r.stderr


def test_help_is_fast_and_loads_no_ml_runtime() -> None:
    code = ("import sys, realtime.cli as m; m.parser(); "
            "print(sorted(k for k in ('tensorflow', 'keras', 'ai_edge_litert') if k in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env(), capture_output=True, text=True,
                       timeout=60)
    assert r.stdout.strip() == "[]", r.stderr
    t0 = time.perf_counter()
    assert cli("--help").returncode == 0
    assert time.perf_counter() - t0 < 10


def test_run_writes_outputs_and_prints_summary(tmp_path: Path) -> None:
    video = drive_video(tmp_path / "in.mp4")
    r = cli("run", str(video), "--no-display", "--output", str(tmp_path / "o.mp4"), "--events",
            str(tmp_path / "e.jsonl"), "--snapshot", str(tmp_path / "s.png"), *FAKE)
    assert r.returncode == 0, r.stderr
    assert "30 frames" in r.stdout and "Speed limit (30km/h)" in r.stdout
    assert count_frames(tmp_path / "o.mp4")[:2] == (30, (160, 120))
    assert len(read_events(tmp_path / "e.jsonl")) == 31
    assert cv2.imread(str(tmp_path / "s.png")) is not None


def _real_recognizer_ready() -> bool:
    from realtime.classifier import DEFAULT_MODEL

    return DEFAULT_MODEL.exists()


@pytest.mark.parametrize("recognizer", ["fake", "real"])
def test_sigterm_leaves_playable_video_complete_log_and_summary(tmp_path: Path, recognizer: str) -> None:
    if recognizer == "real" and not _real_recognizer_ready():
        pytest.skip("no trained model at models/gtsrb_cnn.tflite")
    # the real recognizer runs a tiny clip at hundreds of FPS: give it frames big and many enough
    # that the signal always lands mid-run
    n, size = (300, (160, 120)) if recognizer == "fake" else (900, (640, 360))
    video = drive_video(tmp_path / "in.mp4", n=n, size=size, false_alarm_at=None)
    out, events, log = tmp_path / "o.mp4", tmp_path / "e.jsonl", tmp_path / "stderr.txt"
    cmd = [sys.executable, "-m", "realtime", "run", str(video), "--no-display", "--output", str(out),
           "--events", str(events), *(FAKE if recognizer == "fake" else [])]
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env(FAKE_DELAY="0.03"), stdout=subprocess.PIPE, stderr=err,
                                text=True)
        deadline = time.monotonic() + 60
        # "source:" is printed once the model is loaded and frames flow; the fake also logs events
        while time.monotonic() < deadline and "source:" not in log.read_text():
            time.sleep(0.05)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    stderr = log.read_text()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    recs = [json.loads(line) for line in events.read_text().splitlines()]  # every line complete
    frames_done = int(stdout.split(" frames")[0].split()[-1])
    assert 0 < frames_done < n, stdout
    assert "stopped: stopped (signal)" in stdout
    assert count_frames(out)[0] == frames_done  # playable, every processed frame in it
    if recognizer == "fake":
        assert [r["frame"] for r in recs] == list(range(frames_done))  # one sign a frame, none missing
    else:
        assert all(r["frame"] < frames_done for r in recs)


def test_bench_reports_the_figures(tmp_path: Path) -> None:
    video = drive_video(tmp_path / "in.mp4", n=20)
    out = str(tmp_path / "b.json")
    r = cli("bench", str(video), "--frames", "15", "--compare-backends", "", "--json", out, *FAKE)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    (row,) = report["rows"]  # one source, as decoded: one row (tests/test_bench.py has the sweep)
    assert {"fps", "fps_encoding", "decode_fps", "stages_ms", "cpu_ms_per_frame"} <= set(row)
    assert row["frames"] == 15 and row["fps"] > 0 and row["fps_encoding"] > 0
    assert {"decode", "classify", "track", "draw", "write"} <= set(row["stages_ms"])
    assert "decode only" in r.stdout
    # the figures say what they were measured with: the OpenCV this process imported, among others
    assert report["versions"]["opencv"] == cv2.__version__ and f"opencv {cv2.__version__}" in r.stdout
    assert {"python", "numpy", "tensorflow", "ai-edge-litert"} <= set(report["versions"])


def test_classify_command_is_wired() -> None:
    r = cli("classify", "--help")
    assert r.returncode == 0 and "--csv" in r.stdout


def test_real_recognizer_on_a_rendered_driveby(tmp_path: Path) -> None:
    """End to end with the shipped detector, classifier and the synthetic renderer, when all exist."""
    video_mod = pytest.importorskip("training.render.video")
    from realtime.classifier import DEFAULT_MODEL

    if not DEFAULT_MODEL.exists():
        pytest.skip(f"no trained model at {DEFAULT_MODEL}")
    mp4, gt = tmp_path / "drive.mp4", tmp_path / "gt.jsonl"
    video_mod.write_driveby(mp4, gt, seed=3, n_frames=60, width=640, height=376)
    r = cli("run", str(mp4), "--no-display", "--output", str(tmp_path / "o.mp4"), "--events",
            str(tmp_path / "e.jsonl"))
    assert r.returncode == 0, r.stderr
    assert count_frames(tmp_path / "o.mp4")[:2] == (60, (640, 376))
    assert "60 frames" in r.stdout


@pytest.mark.slow
def test_shipped_system_finds_the_signs_of_a_rendered_driveby(tmp_path: Path) -> None:
    """End to end on a drive-by rendered with exact ground truth: sign tracks found with the right
    class, and no confirmed track a false alarm.

    The issue's target is 95% of the tracks; the shipped system (int8 exports) finds 18 of these 20.
    The two it misses are end-of-restriction signs: white discs against a pale sky give the
    achromatic route no contrast. Over eight such clips (seeds 11-18) it finds 153 of 160 (95.6%;
    docs/BENCHMARKS.md). The floor below guards this clip's figure; no false track is the issue's own
    bar.
    """
    from training.render.video import write_driveby

    mp4, gt = tmp_path / "drive.mp4", tmp_path / "gt.jsonl"
    write_driveby(mp4, gt, seed=DRIVEBY_SEED, n_frames=500, width=1280, height=720, n_signs=20)
    r = shipped_run_scored(mp4, gt)
    assert r["signs"] == 20
    assert r["recall"] >= DRIVEBY_RECALL_FLOOR, r
    assert r["false_tracks"] == 0, r


def test_bundled_sample_is_what_make_sample_renders_and_meets_the_driveby_target(tmp_path: Path) -> None:
    """`samples/` holds `python -m training render-driveby --seed 0` (``make sample``): its ground truth
    is re-rendered here and must match. On it the shipped system finds every sign track with the right
    class (measured 8 of 8) and confirms no false track: the issue's 95% and its no-false-track bar."""
    from training.__main__ import main

    video, gt = ROOT / "samples" / "driveby.mp4", ROOT / "samples" / "driveby_gt.jsonl"
    # the command's defaults are the sample's settings (`make sample` adds only the paths and --seed 0)
    assert main(["render-driveby", "--out", str(tmp_path / "s.mp4"), "--gt", str(tmp_path / "s.jsonl")]) == 0
    assert (tmp_path / "s.jsonl").read_text() == gt.read_text(), "samples/ is stale: run `make sample`"
    r = shipped_run_scored(video, gt)
    assert r["signs"] == 8
    assert r["recall"] >= 0.95, r
    assert r["false_tracks"] == 0, r


def shipped_run_scored(video: Path, gt: Path) -> dict:
    """The shipped system over a rendered drive-by, scored per sign track (what `eval-driveby` prints)."""
    from realtime.classifier import DEFAULT_GATE, DEFAULT_MODEL
    from training.track_eval import run_and_score

    for path in (DEFAULT_MODEL, DEFAULT_GATE):
        if not path.exists():
            pytest.fail(f"the shipped model {path} is missing")
    return run_and_score(video, gt)


DRIVEBY_SEED = 11  # a fresh clip, not the demo's
DRIVEBY_RECALL_FLOOR = 0.85  # measured 0.90 (18 of 20); the target is 0.95


def test_min_score_sets_one_threshold_for_every_route_and_rejects_nonsense() -> None:
    """``--min-score`` is the user's sensitivity knob; out-of-range values fail in argparse, before any work."""
    from realtime.cascade import Cascade
    from realtime.classifier import DEFAULT_MODEL
    from realtime.cli import parser
    from realtime.cli.args import config_from_args
    from realtime.config import Config

    r = cli("run", "whatever.mp4", "--min-score", "1.5")
    assert r.returncode == 2 and "expected a number from 0 to 1" in r.stderr and "Traceback" not in r.stderr
    cfg = config_from_args(parser().parse_args(["run", "x.mp4", "--min-score", "0.5"])).reject
    assert cfg.min_score == 0.5 and cfg.route_min_score == {}
    assert all(cfg.threshold(route) == 0.5 for route in ("red", "blue", "yellow", "achromatic", "learned"))
    shipped = config_from_args(parser().parse_args(["run", "x.mp4"]))
    assert shipped == Config.shipped() and shipped.reject.min_score != 0.5
    if not DEFAULT_MODEL.exists():
        pytest.skip(f"no trained model at {DEFAULT_MODEL}")
    assert Cascade.build(shipped).closer_look is not None
    no_look = config_from_args(parser().parse_args(["run", "x.mp4", "--no-closer-look"]))
    assert Cascade.build(no_look).closer_look is None
