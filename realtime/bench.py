"""Honest speed figures, measured the way the product runs (``python -m realtime bench``).

For every source and every size of the sweep (each frame resized on the fly in the capture
thread), in one process over the same first N frames: decode only (the ceiling set by the video
decoder, the resize included), the full pipeline without encoding pinned to 1, 2, ... cores (how
throughput scales), and the full pipeline writing the annotated video. One row per (source, size):
FPS, the ratio to decode-only, ms per stage, how often each stage ran, capture-to-overlay latency.
Then the classifier alone, per backend, at batch sizes 1, 8 and 32 on random crops, so the choice
of backend is a measured one.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from realtime.balance import Balance
from realtime.config import TrackConfig
from realtime.pipeline import RunOptions, run
from realtime.profile import STAGES, Profiler, available_cores
from realtime.source import Source, open_source
from realtime.stages import Balanced, Recognize, Staged
from realtime.versions import library_versions

BATCHES = (1, 8, 32)
Size = tuple[int, int]  # (width, height)


# -- sources at a size ----------------------------------------------------------------------------
def resizer(size: Size) -> Callable[[np.ndarray], np.ndarray]:
    """A frame -> the frame at ``size`` (area averaging to shrink, bilinear to enlarge)."""
    w, h = size

    def resize(img: np.ndarray) -> np.ndarray:
        ih, iw = img.shape[:2]
        if (iw, ih) == (w, h):
            return img
        interp = cv2.INTER_AREA if iw * ih > w * h else cv2.INTER_LINEAR
        return cv2.resize(img, (w, h), interpolation=interp)

    return resize


def open_sized(spec: str, size: Size | None = None) -> Source:
    """``open_source(spec)`` whose frames come at ``size`` (None: as decoded); the resize runs in the
    capture thread and counts as decode time, as a camera delivering that size would."""
    src = open_source(spec)
    if size is not None and src.size != tuple(size):
        src.transform = resizer(size)
        src.size = tuple(size)
    return src


# -- cores ----------------------------------------------------------------------------------------
def pinning_supported() -> bool:
    return hasattr(os, "sched_setaffinity") and os.path.isdir("/proc/self/task")


def _thread_ids() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return []


@contextlib.contextmanager
def pinned(cores: int | None) -> Iterator[set[int] | None]:
    """Run the block on the first ``cores`` CPUs this process may use; yields that set (None where
    pinning is not supported, or ``cores`` is None: the block then runs unpinned).

    On Linux ``sched_setaffinity(0, ...)`` binds the calling thread only, so every thread of the
    process (``/proc/self/task``: the capture thread, LiteRT's and OpenCV's pools) is bound; threads
    started inside the block inherit it from their creator. Every thread gets its own mask back
    afterwards, and threads started inside the block get the caller's."""
    if cores is None or not pinning_supported():
        yield None
        return
    caller = os.sched_getaffinity(0)
    mask = set(sorted(caller)[:max(1, cores)])
    before: dict[int, set[int]] = {}
    for tid in _thread_ids():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            before[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, mask)
    try:
        yield mask
    finally:
        for tid in _thread_ids():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, before.get(tid, caller))


# -- how often a stage ran ------------------------------------------------------------------------
class _Marked:
    """A recognizer that marks the profiler with the frame it works on, on the thread it runs on, so
    ``Profiler.ran`` counts the frames each stage booked under exactly. Calls of each half come in
    frame order (the loop proposes frame i+1 while it finishes frame i), so the i-th call of a half
    is the i-th frame."""

    def __init__(self, inner: Recognize, profiler: Profiler) -> None:
        self.inner, self.profiler = inner, profiler
        self.calls = {"call": 0, "propose": 0, "finish": 0, "locate": 0}

    def _marked(self, half: str, fn, *args, **kwargs):
        i = self.calls[half]
        self.calls[half] += 1
        self.profiler.mark(i)
        try:
            return fn(*args, **kwargs)
        finally:
            self.profiler.mark(None)

    def __call__(self, frame: np.ndarray, *args, **kwargs):
        return self._marked("call", self.inner, frame, *args, **kwargs)


class _MarkedStaged(_Marked):
    def propose(self, img: np.ndarray, *args, **kwargs):
        return self._marked("propose", self.inner.propose, img, *args, **kwargs)

    def finish(self, img: np.ndarray, *args, **kwargs):
        return self._marked("finish", self.inner.finish, img, *args, **kwargs)


class _MarkedBalanced(_MarkedStaged):
    def locate(self, img: np.ndarray, proposal, *args, **kwargs):
        if proposal.located:  # the loop's call on a frame whose stage ran with the proposing half: a no-op
            return self.inner.locate(img, proposal, *args, **kwargs)
        # so this runs once a frame, from either thread: its own count names the frame (``ran`` needs
        # each frame's mark to be distinct, not equal to the other halves')
        return self._marked("locate", self.inner.locate, img, proposal, *args, **kwargs)


def marked(recognize: Recognize, profiler: Profiler) -> Recognize:
    kind = _MarkedBalanced if isinstance(recognize, Balanced) else _MarkedStaged if isinstance(recognize, Staged) \
        else _Marked
    return kind(recognize, profiler)


# -- passes ---------------------------------------------------------------------------------------
def decode_pass(spec: str, frames: int, size: Size | None = None) -> tuple[float, float, int, float]:
    """(frames per second, ms per frame in the capture thread, frames read, CPU ms per frame) reading
    only (and resizing to ``size``)."""
    src = open_sized(spec, size)
    n, decode_ms = 0, 0.0
    c0 = time.process_time()
    t0 = time.perf_counter()
    try:
        for f in src:
            decode_ms += f.decode_ms
            n += 1
            if n >= frames:
                break
    finally:
        src.close()
    dt = time.perf_counter() - t0
    cpu = (time.process_time() - c0) * 1000.0 / max(n, 1)
    return n / max(dt, 1e-9), decode_ms / max(n, 1), n, cpu


def pipeline_pass(spec: str, frames: int, recognize, profiler: Profiler, output: str | None,
                  size: Size | None = None, cores: int | None = None, track: TrackConfig | None = None) -> dict:
    """The product loop on the first ``frames`` frames (at ``size``, on ``cores`` CPUs); the summary
    plus ``cpu_ms`` (all threads) per frame, ``cores_busy`` (CPU seconds per wall second: at most the
    cores pinned), ``ran`` (share of frames each stage ran on) and ``locate_early`` (share of frames
    whose movable stage ran with the proposing half; None where none is movable)."""
    balance = Balance()
    opts = RunOptions(output=output, draw=True, max_frames=frames, track=track, balance=balance)
    profiler.reset()
    with pinned(cores) as mask:
        source = open_sized(spec, size)
        c0, t0 = time.process_time(), time.perf_counter()
        summary = run(source, marked(recognize, profiler), opts, profiler=profiler)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    n = max(summary["frames"], 1)
    summary["cpu_ms"] = round(cpu * 1000.0 / n, 2)
    summary["cores_busy"] = round(cpu / max(wall, 1e-9), 2)
    summary["pinned"] = sorted(mask) if mask is not None else None
    summary["ran"] = profiler.ran(summary["frames"])
    # the loop asks the balance only about a movable stage, once a frame
    summary["locate_early"] = round(balance.moved / balance.decided, 3) if balance.decided else None
    return summary


def warm_up(spec: str, recognize: Recognize, size: Size | None, frames: int = 6) -> None:
    """First calls build interpreters and caches (sized by the frame): keep them out of the figures."""
    src = open_sized(spec, size)
    try:
        for i, f in enumerate(src):
            recognize(f.image)
            if i + 1 >= frames:
                break
    finally:
        src.close()


def core_counts(requested: Sequence[int] | None) -> list[int]:
    """The core counts to run, ascending, capped at the cores available (default: 1 and all; only
    all where pinning is not supported)."""
    have = available_cores()
    if not pinning_supported():
        return [have]
    wanted = requested if requested else (1, have)
    return sorted({min(max(1, int(c)), have) for c in wanted})


def bench_one(spec: str, recognize: Recognize, profiler: Profiler, frames: int, size: Size | None,
              cores: Sequence[int], encode: bool = True, track: TrackConfig | None = None) -> dict:
    """One row: ``spec`` at ``size`` (None: as decoded), the pipeline pinned to each of ``cores``;
    the row's FPS, stages, latency and encoding pass are those on the most cores."""
    src = open_source(spec)
    native = src.size
    src.close()
    warm_up(spec, recognize, size)
    most = max(cores)
    with pinned(most):
        decode_fps, decode_ms, n, decode_cpu = decode_pass(spec, frames, size)
    passes = {c: pipeline_pass(spec, frames, recognize, profiler, None, size, c, track=track) for c in cores}
    plain = passes[most]
    stages = dict(plain["stages_ms"], decode=round(decode_ms, 3))
    encoded = None
    if encode:
        with tempfile.TemporaryDirectory() as tmp:
            encoded = pipeline_pass(spec, frames, recognize, profiler, str(Path(tmp) / "bench.mp4"), size, most,
                                    track=track)
        stages["write"] = encoded["stages_ms"].get("write", 0.0)
    base = passes[min(cores)]["fps"]
    shown = tuple(size) if size is not None else native
    return {
        "source": str(spec), "size": list(shown) if shown else None, "native_size": list(native) if native else None,
        "frames": plain["frames"],
        "pipeline_vs_decode": round(plain["fps"] / max(decode_fps, 1e-9), 3),
        "decode_fps": round(decode_fps, 2), "fps": plain["fps"],
        "fps_encoding": encoded["fps"] if encoded else None,
        "stages_ms": {k: stages[k] for k in STAGES if k in stages},
        "stages_ran": {k: v for k, v in plain["ran"].items() if k in STAGES},
        # where the learned localizer ran (realtime.balance): share of frames on the proposing half
        "locate_with_proposing": plain["locate_early"],
        "latency_ms": plain["latency_ms"],
        "cores": [{"cores": c, "fps": p["fps"], "speedup": round(p["fps"] / max(base, 1e-9), 2),
                   "cpu_ms_per_frame": p["cpu_ms"], "cores_busy": p["cores_busy"], "pinned": p["pinned"]}
                  for c, p in passes.items()],
        # CPU time of all threads per frame: on a loaded machine this, not wall time, shows the cost
        "cpu_ms_per_frame": {"decode_only": round(decode_cpu, 2), "pipeline": plain["cpu_ms"],
                             "pipeline_encoding": encoded["cpu_ms"] if encoded else None},
    }


def backend_table(model: str | None, backends: list[str], seed: int = 0, gate: str | None = None) -> dict[str, dict]:
    """ms per batched call (preprocessing of a frame's boxes included) per backend and batch size;
    the gate's LiteRT model as one more row; errors as text."""
    from realtime.card import ModelError
    from realtime.classifier import Classifier, resolve_gate

    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (800, 1360, 3), dtype=np.uint8)
    side = rng.integers(16, 120, 32)
    x, y = rng.integers(0, 1360 - 120, 32), rng.integers(0, 800 - 120, 32)
    boxes = np.stack([x, y, x + side, y + side], axis=1).astype(np.float32)
    rows = [(b, model, b) for b in backends]
    gate_path = resolve_gate(gate)
    if gate_path is not None:
        rows.append(("gate (LiteRT)", gate_path, "litert"))
    table: dict[str, dict] = {}
    for name, path, backend in rows:
        try:
            clf = Classifier(path, backend=backend)
        except (ModelError, ImportError) as exc:
            table[name] = {"error": str(exc)}
            continue
        row = {}
        reps = 5 if backend == "keras-predict" else 40
        for b in BATCHES:
            batch = boxes[:b]
            for _ in range(3):
                clf.classify_boxes(frame, batch)
            runs = []
            for _ in range(reps):
                t0 = time.perf_counter()
                clf.classify_boxes(frame, batch)
                runs.append((time.perf_counter() - t0) * 1000.0)
            row[f"batch_{b}_ms"] = round(statistics.median(runs), 3)
        table[name] = row
    return table


def bench(specs: str | Sequence[str], recognize: Recognize, profiler: Profiler, frames: int = 300,
          model: str | None = None, backends: list[str] | None = None, sizes: Sequence[Size] | None = None,
          cores: Sequence[int] | None = None, encode: bool = True,
          on_row: Callable[[dict], None] | None = None, track: TrackConfig | None = None) -> dict:
    """Every (source, size) row, then the classifier table; ``recognize`` (the cascade) books its
    stages into ``profiler``. ``sizes`` None: each source as decoded. ``cores`` None: 1 and all.
    ``on_row`` sees each row as it is measured."""
    specs = [specs] if isinstance(specs, (str, os.PathLike)) else list(specs)
    backends = list(backends if backends is not None else ("litert", "tf-function", "keras-predict"))
    counts = core_counts(cores)
    rows = []
    for spec in specs:
        for size in (sizes or [None]):
            row = bench_one(str(spec), recognize, profiler, frames, size, counts, encode, track=track)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return {
        "rows": rows,
        "classifier_ms": backend_table(model, backends),
        "cpu_count": available_cores(), "core_counts": counts,
        "pinning": "sched_setaffinity, every thread" if pinning_supported()
        else "not supported on this platform: every pass ran on all cores",
        "loadavg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "versions": library_versions(),
    }
