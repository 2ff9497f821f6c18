"""One per-stage profiler for the runtime, the bench and the evaluation, and the one stage vocabulary.

Stages book wall milliseconds under the names in ``STAGES``; the HUD shows a smoothed value, the
summary and the bench the mean per frame. Stages on other threads (the proposing worker, the video
encoder) book into the same profiler.

Two more things it keeps for the bench: on how many frames each stage ran (``ran``; exact for the
stages booked while a thread is ``mark``-ed with its frame, see ``realtime.bench``), and the
capture-to-overlay latency of each frame (``add_latency``/``latency``: p50 and p95 of a reservoir).
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Iterator

import numpy as np

# the pipeline's stages in order: every timing in the HUD, the summary, the bench and the docs uses these
STAGES = ("decode", "detect", "gate", "closer_look", "locate", "classify", "track", "draw", "write")
LATENCY_SAMPLES = 4096  # the reservoir the latency percentiles are read from: a whole run, in bounded memory


class Profiler:
    """Per-stage milliseconds: totals and counts for the summary, a smoothed value for the HUD."""

    def __init__(self, smoothing: float = 0.1) -> None:
        self.a = smoothing
        self._lock = threading.Lock()
        self._local = threading.local()  # the frame a thread works on, where it was marked
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total: dict[str, float] = {}
            self.count: dict[str, int] = {}
            self.smooth: dict[str, float] = {}
            self.marked: dict[str, set[int]] = {}  # per stage, the marked frames it booked under
            self._latency: list[float] = []
            self._latency_seen = 0
            self._rng = random.Random(0)

    def add(self, stage: str, ms: float) -> None:
        frame = getattr(self._local, "frame", None)
        with self._lock:
            self.total[stage] = self.total.get(stage, 0.0) + ms
            self.count[stage] = self.count.get(stage, 0) + 1
            prev = self.smooth.get(stage)
            self.smooth[stage] = ms if prev is None else prev + self.a * (ms - prev)
            if frame is not None:
                self.marked.setdefault(stage, set()).add(frame)

    def mark(self, frame: int | None) -> None:
        """Stages this thread books from now on belong to ``frame`` (None: unknown), for ``ran``."""
        self._local.frame = frame

    def ran(self, frames: int) -> dict[str, float]:
        """Per stage, the share of ``frames`` on which it ran, in pipeline order. Exact for stages
        booked under ``mark``; for the others (booked with no frame known) min(1, bookings / frames),
        which is exact for a stage that books at most once a frame."""
        with self._lock:
            keys = _in_order(self.count)
            n = max(frames, 1)
            return {k: round(min(1.0, (len(self.marked[k]) if k in self.marked else self.count[k]) / n), 3)
                    for k in keys}

    def add_latency(self, ms: float) -> None:
        """One frame's capture-to-overlay time; a reservoir keeps ``LATENCY_SAMPLES`` of them."""
        with self._lock:
            self._latency_seen += 1
            if len(self._latency) < LATENCY_SAMPLES:
                self._latency.append(ms)
            else:
                j = self._rng.randrange(self._latency_seen)
                if j < LATENCY_SAMPLES:
                    self._latency[j] = ms

    def latency(self) -> dict[str, float | int | None]:
        """Capture-to-overlay ms: ``p50``, ``p95`` (None without samples) and ``frames`` booked."""
        with self._lock:
            xs = list(self._latency)
            seen = self._latency_seen
        if not xs:
            return {"p50": None, "p95": None, "frames": 0}
        p50, p95 = np.percentile(xs, [50, 95])
        return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "frames": seen}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Book the time spent in the ``with`` block under ``name``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - t0) * 1000.0)

    def mean(self, frames: int | None = None) -> dict[str, float]:
        """Mean ms per frame (per call when ``frames`` is None), stages in pipeline order."""
        with self._lock:
            keys = _in_order(self.total)
            return {k: round(self.total[k] / max(frames or self.count[k], 1), 3) for k in keys}

    def smoothed(self) -> dict[str, float]:
        """The smoothed ms of each stage seen, in pipeline order (for the HUD)."""
        with self._lock:
            return {k: self.smooth[k] for k in STAGES if k in self.smooth}


def _in_order(keys) -> list[str]:
    """``keys`` with the pipeline's stages first, in pipeline order, then any others as they came."""
    keys = list(keys)
    return [k for k in STAGES if k in keys] + [k for k in keys if k not in STAGES]


class _Off:
    """A profiler that books nothing: stages run unprofiled when none is given."""

    def add(self, stage: str, ms: float) -> None:
        pass

    def mark(self, frame: int | None) -> None:
        pass

    def add_latency(self, ms: float) -> None:
        pass

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield


OFF = _Off()


def available_cores() -> int:
    """The cores this process may run on (its affinity where the OS has one, else the CPU count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
