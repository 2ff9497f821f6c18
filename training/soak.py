"""``python -m training soak``: a long run over rendered drive-by frames, watching memory and speed.

A car PC runs for hours: a few kilobytes kept per frame (a track list that never shrinks, a
growing queue, a cache keyed by frame) add up to an out-of-memory kill mid-drive. The soak feeds
rendered frames through the same loop users run (``realtime.pipeline.run``, bounded source
queue, real detector + classifier + tracker + painter + event log) and samples the resident
memory and the frame rate every ``window`` frames. It fails (exit 1) when memory grows by more
than ``max_growth_mb`` between the end of the warm-up and the end of the run.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from realtime.classes import NUM_CLASSES
from realtime.config import Config
from realtime.pipeline import RunOptions, run
from realtime.profile import Profiler
from realtime.source import Source
from realtime.stages import Recognize

log = logging.getLogger(__name__)  # progress and figures; the command line prints them

CLIP_FRAMES = 1000  # frames per rendered clip; a new seed each clip, so scenes and signs change


def rss_mb() -> float:
    """Resident set size of this process now, in MB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return peak / (1e6 if sys.platform == "darwin" else 1e3)


def rendered_source(frames: int, width: int, height: int, seed: int = 0, clip_frames: int = CLIP_FRAMES) -> Source:
    """An in-memory "video" of ``frames`` rendered frames: a new ``DriveBy`` clip every ``clip_frames``.

    Clips are short so a 20,000-frame soak never holds hundreds of sign pictograms at once; the
    renderer is imported lazily.
    """
    from training.render.pictograms import DISTRACTOR_KINDS, draw_distractor_sign, draw_sign
    from training.render.video import MASTER_SIZE, DriveBy

    # The renderer caches each pictogram on first use (~20 MB over the 43 classes): fill the cache
    # now, or the soak would book the renderer's warm-up as pipeline memory growth.
    for c in range(NUM_CLASSES):
        draw_sign(c, MASTER_SIZE)
    for kind in DISTRACTOR_KINDS:
        draw_distractor_sign(kind, MASTER_SIZE)
    state: dict = {"i": 0, "clip": None}

    def read() -> tuple[np.ndarray, str] | None:
        i = state["i"]
        if i >= frames:
            return None
        k, j = divmod(i, clip_frames)
        if j == 0 or state["clip"] is None:
            n = min(clip_frames, frames - k * clip_frames)
            state["clip"] = None  # free the old clip (~25 MB) before building the next: one alive at a time
            state["clip"] = DriveBy(seed + k, n, width, height, n_signs=max(3, n // 25))
        img, _ = state["clip"].frame(j)
        state["i"] = i + 1
        return img, "soak"

    return Source(read, kind="video", name="soak", live=False, fps=25.0, size=(width, height),
                  frame_count=frames)


class _Probe:
    """Wraps the recognizer: every ``window`` calls it books the window's FPS and the RSS.

    It sits inside the loop, so the figures cover exactly what users run; it also stops the run
    after ``max_seconds`` (wall time), so a soak fits the time one has.
    """

    def __init__(self, recognize: Recognize, window: int, stop: threading.Event, max_seconds: float | None,
                 total: int) -> None:
        self.recognize, self.window, self.stop, self.max_seconds = recognize, window, stop, max_seconds
        self.total = total
        self.calls = 0
        self.t0 = self.t_win = time.perf_counter()
        self.windows: list[dict] = []
        self.timed_out = False
        self.last_rss = 0.0  # at the last processed frame, while the loop's state is still alive

    def __call__(self, frame: np.ndarray):
        out = self.recognize(frame)
        self.calls += 1
        now = time.perf_counter()
        if self.calls % self.window == 0:
            self.windows.append({"end_frame": self.calls, "fps": round(self.window / max(now - self.t_win, 1e-9), 2),
                                 "rss_mb": round(rss_mb(), 1), "t_s": round(now - self.t0, 1)})
            self.t_win = now
            log.info(f"soak: {self.calls} frames, {self.windows[-1]['fps']:.1f} FPS, "
                     f"RSS {self.windows[-1]['rss_mb']:.1f} MB")
        if self.max_seconds is not None and now - self.t0 >= self.max_seconds:
            self.timed_out = True
            self.stop.set()
        if self.stop.is_set() or self.calls == self.total:
            self.last_rss = rss_mb()
        return out


def soak(recognize: Recognize, profiler: Profiler, frames: int = 20000, width: int = 640, height: int = 360, *,
         window: int = 500, warmup: int | None = None, seed: int = 0,
         max_seconds: float | None = None, max_growth_mb: float = 50.0, events: str | None = None,
         json_path: str | None = None) -> dict:
    """Run the pipeline with ``recognize`` (the cascade, booking into ``profiler``) over ``frames``
    rendered frames; return (and optionally write) the report.

    ``warmup`` frames (default: the first window) are excluded from the memory baseline: model
    buffers, CLAHE caches and the renderer's first clip are allocated then.
    """
    window = max(1, min(window, frames))
    warmup = window if warmup is None else max(1, min(warmup, frames))
    stop = threading.Event()
    probe = _Probe(recognize, window, stop, max_seconds, frames)
    baseline: dict = {}

    def recognize_and_mark(frame: np.ndarray):
        out = probe(frame)
        if probe.calls == warmup:
            baseline.update(frame=warmup, rss_mb=round(rss_mb(), 1))
        return out

    rss_start = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        log = events or str(Path(tmp) / "events.jsonl")  # the log is written as in a real run
        summary = run(rendered_source(frames, width, height, seed), recognize_and_mark,
                      RunOptions(events=log, draw=True, track=Config.shipped().track), profiler=profiler,
                      stop=stop)
    rss_after = rss_mb()
    rss_end = probe.last_rss or rss_after
    done = summary["frames"]
    steady = [w["fps"] for w in probe.windows if w["end_frame"] > warmup]
    growth = round(rss_end - baseline["rss_mb"], 1) if baseline else None
    report = {
        "frames": done, "frames_requested": frames, "size": [width, height], "window": window,
        "warmup_frames": warmup, "seconds": summary["elapsed_s"], "fps": summary["fps"],
        "fps_windows": [w["fps"] for w in probe.windows],
        "fps_steady": ({"min": min(steady), "median": statistics.median(steady), "max": max(steady),
                        "first": steady[0], "last": steady[-1]} if steady else None),
        "rss_mb": {"start": round(rss_start, 1), "after_warmup": baseline.get("rss_mb"), "end": round(rss_end, 1),
                   "after_run": round(rss_after, 1),
                   "growth_after_warmup": growth, "limit_growth": max_growth_mb,
                   "windows": [w["rss_mb"] for w in probe.windows]},
        "stopped": "time limit" if probe.timed_out else summary["stopped"],
        "stages_ms": summary["stages_ms"], "event_lines": summary["event_lines"], "signs": summary["signs"],
        "passed": growth is not None and growth < max_growth_mb,
    }
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=1) + "\n")
    return report


def format_report(r: dict) -> str:
    """The soak result in a few lines for the terminal."""
    rss = r["rss_mb"]
    lines = [f"soak: {r['frames']} of {r['frames_requested']} frames at {r['size'][0]}x{r['size'][1]} in "
             f"{r['seconds']:.0f} s ({r['fps']:.1f} FPS); stopped: {r['stopped']}",
             f"  RSS MB: start {rss['start']}, after warm-up ({r['warmup_frames']} frames) {rss['after_warmup']}, "
             f"end {rss['end']}; growth {rss['growth_after_warmup']} (limit {rss['limit_growth']})"]
    if r["fps_steady"]:
        s = r["fps_steady"]
        lines.append(f"  FPS per {r['window']}-frame window after warm-up: min {s['min']:.1f}, median "
                     f"{s['median']:.1f}, max {s['max']:.1f} (first {s['first']:.1f}, last {s['last']:.1f})")
    lines.append(f"  {r['signs']} signs, {r['event_lines']} event lines; "
                 + ("PASSED" if r["passed"] else "FAILED: memory grew too much or no window after warm-up"))
    return "\n".join(lines)


def main(args) -> int:
    """``python -m training soak``: run, print the report, exit 1 when memory grew too much."""
    from realtime.cli.run import build
    from realtime.video import check_writable

    check_writable(args.json, "soak report")
    profiler = Profiler()
    report = soak(build(args, profiler), profiler, args.frames, args.width, args.height, window=args.window,
                  warmup=args.warmup, seed=args.seed, max_seconds=args.max_seconds, max_growth_mb=args.max_growth_mb,
                  json_path=args.json)
    log.info(format_report(report))
    return 0 if report["passed"] else 1
