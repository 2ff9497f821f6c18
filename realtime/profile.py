"""One per-stage profiler for the runtime, the bench and the evaluation, and the one stage vocabulary.

Stages book wall milliseconds under the names in ``STAGES``; the HUD shows a smoothed value, the
summary and the bench the mean per frame. Stages on other threads (the proposing worker, the video
encoder) book into the same profiler.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

# the pipeline's stages in order: every timing in the HUD, the summary, the bench and the docs uses these
STAGES = ("decode", "detect", "gate", "closer_look", "locate", "classify", "track", "draw", "write")


class Profiler:
    """Per-stage milliseconds: totals and counts for the summary, a smoothed value for the HUD."""

    def __init__(self, smoothing: float = 0.1) -> None:
        self.a = smoothing
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total: dict[str, float] = {}
            self.count: dict[str, int] = {}
            self.smooth: dict[str, float] = {}

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self.total[stage] = self.total.get(stage, 0.0) + ms
            self.count[stage] = self.count.get(stage, 0) + 1
            prev = self.smooth.get(stage)
            self.smooth[stage] = ms if prev is None else prev + self.a * (ms - prev)

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
            keys = [k for k in STAGES if k in self.total] + [k for k in self.total if k not in STAGES]
            return {k: round(self.total[k] / max(frames or self.count[k], 1), 3) for k in keys}

    def smoothed(self) -> dict[str, float]:
        """The smoothed ms of each stage seen, in pipeline order (for the HUD)."""
        with self._lock:
            return {k: self.smooth[k] for k in STAGES if k in self.smooth}


class _Off:
    """A profiler that books nothing: stages run unprofiled when none is given."""

    def add(self, stage: str, ms: float) -> None:
        pass

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield


OFF = _Off()
