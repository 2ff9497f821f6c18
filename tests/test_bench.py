"""``realtime bench``: several files, a resolution sweep, scaling over cores, how often stages ran,
capture-to-overlay latency. A benchmark is not a timed test: only sanity bounds on the figures."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import realtime.pipeline as pipeline
from realtime.bench import available_cores, open_sized, pinned, pinning_supported
from realtime.cli import main
from realtime.pipeline import RunOptions, run
from realtime.profile import LATENCY_SAMPLES, Profiler
from realtime.source import open_source
from tests.test_pipeline import RedBoxes, drive_video

ROW_KEYS = {"source", "size", "native_size", "frames", "pipeline_vs_decode", "decode_fps", "fps", "fps_encoding",
            "stages_ms", "stages_ran", "locate_with_proposing", "latency_ms", "cores", "cpu_ms_per_frame"}


def test_sweep_over_several_files_gives_one_row_per_source_and_size(tmp_path: Path, capsys) -> None:
    clip1 = drive_video(tmp_path / "one.mp4", n=20)
    clip2 = drive_video(tmp_path / "two.mp4", n=20, size=(320, 240))
    out = tmp_path / "bench.json"
    assert main(["bench", str(clip1), str(clip2), "--sizes", "160x120,320x240", "--frames", "10",
                 "--compare-backends", "", "--cores", "1", "--json", str(out),
                 "--recognizer", "tests.test_pipeline:make_fake"]) == 0
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert [(Path(r["source"]).name, r["size"]) for r in rows] == [
        ("one.mp4", [160, 120]), ("one.mp4", [320, 240]), ("two.mp4", [160, 120]), ("two.mp4", [320, 240])]
    assert [r["native_size"] for r in rows] == [[160, 120]] * 2 + [[320, 240]] * 2
    for r in rows:
        assert set(r) == ROW_KEYS
        assert r["frames"] == 10 and r["fps"] > 0 and r["decode_fps"] > 0 and r["fps_encoding"] > 0
        assert r["pipeline_vs_decode"] == pytest.approx(r["fps"] / r["decode_fps"], rel=0.01)
        assert {"decode", "classify", "track", "draw", "write"} <= set(r["stages_ms"])
        assert set(r["stages_ran"]) <= set(r["stages_ms"]) and all(0 < v <= 1 for v in r["stages_ran"].values())
        assert r["stages_ran"]["classify"] == 1.0  # the fake recognizes every frame
        (one_core,) = r["cores"]
        assert one_core["cores"] == 1 and one_core["speedup"] == 1.0 and one_core["fps"] == r["fps"]
        if pinning_supported():
            assert len(one_core["pinned"]) == 1
            assert one_core["cores_busy"] <= 1.15  # CPU-seconds a second: the pass really ran on one core
        assert set(r["latency_ms"]) == {"p50", "p95", "frames"}
        assert r["locate_with_proposing"] is None  # the fake has no movable stage
    for small, big in ((rows[0], rows[1]), (rows[2], rows[3])):
        # four times the pixels to resize and scan: not reported several times faster (noise allowed)
        assert big["decode_fps"] < 5 * small["decode_fps"]
    assert report["core_counts"] == [1] and report["classifier_ms"] is not None and "versions" in report
    stdout = capsys.readouterr().out
    table = [line for line in stdout.splitlines() if re.match(r"\s*\d+(\.\d)?%\s+\d+x\d+\s", line)]
    assert len(table) == 4 and table[0].split()[1] == "160x120" and table[0].endswith("one.mp4")  # ratio first
    assert "decode only" in stdout and "FPS by cores" in stdout


def test_sizes_and_cores_are_checked(tmp_path: Path, capsys) -> None:
    clip = drive_video(tmp_path / "c.mp4", n=3)
    for flags in (["--sizes", "640"], ["--sizes", "640x"], ["--sizes", "8x8"], ["--cores", "0"], ["--cores", "a"]):
        with pytest.raises(SystemExit) as exc:
            main(["bench", str(clip), *flags])
        assert exc.value.code == 2
    assert "WxH" in capsys.readouterr().err


def test_a_swept_source_delivers_frames_at_the_size_and_stamps_capture(tmp_path: Path) -> None:
    clip = drive_video(tmp_path / "c.mp4", n=3)
    before = time.perf_counter()
    src = open_sized(str(clip), (320, 240))
    try:
        assert src.size == (320, 240)
        frames = list(src)
    finally:
        src.close()
    assert [f.image.shape for f in frames] == [(240, 320, 3)] * 3
    assert all(before < f.captured <= time.perf_counter() for f in frames)
    assert all(f.decode_ms > 0 for f in frames)  # the resize is part of it


def _affinities() -> dict[int, set[int]]:
    out = {}
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            out[int(tid)] = os.sched_getaffinity(int(tid))
    return out


@pytest.mark.skipif(not pinning_supported(), reason="no sched_setaffinity here")
def test_pinning_binds_every_thread_and_restores_each_one() -> None:
    stop = threading.Event()
    old = threading.Thread(target=stop.wait, daemon=True)
    old.start()  # a thread started before the pinning, like LiteRT's pool
    before = _affinities()
    caller = os.sched_getaffinity(0)
    first = min(caller)
    seen: dict[str, set[int]] = {}
    try:
        with pinned(1) as mask:
            assert mask == {first}
            assert all(a == {first} for a in _affinities().values())
            new = threading.Thread(target=lambda: (seen.setdefault("new", os.sched_getaffinity(0)), stop.wait()),
                                   daemon=True)
            new.start()  # started inside: inherits the pinning, keeps running after it
            while "new" not in seen:
                time.sleep(0.01)
            assert seen["new"] == {first}
        after = _affinities()
        assert all(after[tid] == a for tid, a in before.items() if tid in after)
        assert after[new.native_id] == caller
    finally:
        stop.set()


@pytest.mark.skipif(not pinning_supported() or available_cores() < 2, reason="needs 2 cores and sched_setaffinity")
def test_a_pinned_pass_uses_at_most_its_cores() -> None:
    data = os.urandom(1 << 20)

    def spin(until: float) -> None:
        while time.perf_counter() < until:
            hashlib.sha256(data).digest()  # releases the GIL: two threads can use two cores

    with pinned(1):
        c0, t0 = time.process_time(), time.perf_counter()
        threads = [threading.Thread(target=spin, args=(t0 + 0.4,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        busy = (time.process_time() - c0) / (time.perf_counter() - t0)
    assert busy <= 1.1


def test_profiler_counts_the_frames_a_stage_ran_on() -> None:
    p = Profiler()
    for i in range(10):
        p.mark(i)
        p.add("detect", 1.0)
        p.add("gate", 1.0)
        p.add("gate", 1.0)  # twice a frame: still one frame
        if i % 3 == 0:
            p.add("closer_look", 1.0)
        p.mark(None)
        p.add("track", 1.0)  # booked with no frame known: bookings / frames
    ran = p.ran(10)
    assert ran == {"detect": 1.0, "gate": 1.0, "closer_look": 0.4, "track": 1.0}
    worker = threading.Thread(target=lambda: (p.mark(3), p.add("locate", 1.0)))
    worker.start()
    worker.join()
    assert p.ran(10)["locate"] == 0.1  # marks are per thread
    p.reset()
    assert p.ran(10) == {}


def test_profiler_latency_percentiles_from_a_bounded_reservoir() -> None:
    p = Profiler()
    assert p.latency() == {"p50": None, "p95": None, "frames": 0}
    for i in range(1, 101):
        p.add_latency(float(i))
    lat = p.latency()
    assert lat["frames"] == 100 and lat["p50"] == pytest.approx(50.5) and lat["p95"] == pytest.approx(95.05)
    for i in range(3 * LATENCY_SAMPLES):
        p.add_latency(10.0 + i % 7)
    lat = p.latency()
    assert lat["frames"] == 100 + 3 * LATENCY_SAMPLES and len(p._latency) == LATENCY_SAMPLES
    assert 10.0 <= lat["p50"] <= lat["p95"] <= 100.0


def test_run_books_capture_to_overlay_latency(tmp_path: Path, monkeypatch) -> None:
    """``run`` books now - ``FrameResult.captured`` after drawing; frames without a stamp are left out."""
    real = pipeline.stream

    def stamped(*args, **kwargs):
        for r in real(*args, **kwargs):
            yield dataclasses.replace(r, captured=0.0 if r.index % 2 else time.perf_counter() - 0.005)

    monkeypatch.setattr(pipeline, "stream", stamped)
    summary = run(open_source(drive_video(tmp_path / "c.mp4", n=10)), RedBoxes(), RunOptions(draw=True))
    lat = summary["latency_ms"]
    assert lat["frames"] == 5 and 5.0 <= lat["p50"] <= lat["p95"]


def test_a_run_reports_capture_to_overlay_latency(tmp_path: Path) -> None:
    summary = run(open_source(drive_video(tmp_path / "c.mp4", n=10)), RedBoxes(), RunOptions(draw=True))
    lat = summary["latency_ms"]
    assert lat["frames"] == 10 and 0 < lat["p50"] <= lat["p95"]


class MovableRedBoxes(RedBoxes):
    """``RedBoxes`` in two halves with a movable middle stage, as the cascade's localizer is; records
    which thread ran each ``locate``."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def propose(self, img, index=None):
        return SimpleNamespace(located=False)

    def locate(self, img, proposal):
        if not proposal.located:  # the loop calls it on the finishing half too: a no-op if done
            self.threads.append(threading.get_ident())
        return SimpleNamespace(located=True)

    def finish(self, img, proposal, hints=None):
        assert proposal.located
        return self(img)


def test_the_bench_reports_where_the_movable_stage_ran(tmp_path: Path) -> None:
    from realtime.bench import pipeline_pass
    from realtime.stages import Balanced

    fake = MovableRedBoxes()
    assert isinstance(fake, Balanced)
    clip = drive_video(tmp_path / "clip.mp4", n=40)
    summary = pipeline_pass(str(clip), 40, fake, Profiler(), None)
    assert summary["frames"] == 40 and len(fake.threads) == 40
    on_worker = sum(t != threading.get_ident() for t in fake.threads)
    # the balance's probe: a warm-up block of 6 on the finishing half, then blocks alternate from the
    # proposing half; of 40 frames, blocks 1, 3 and 5 (18 frames) ran it with the proposing half
    assert on_worker == 18 and summary["locate_early"] == 0.45
