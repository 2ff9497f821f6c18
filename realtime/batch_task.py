"""The batch's work: one video as ``realtime run`` processes it (``process``), and the videos as
Ray tasks on a local Ray or a cluster (``start_ray``, ``run_batch``). ``realtime.batch`` holds what
the driver decides (sources, outputs, what is finished) and writes (the reports).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from realtime.batch import (
    Job,
    Settings,
    VideoResult,
    events_path,
    file_stat,
    marker_path,
    part_path,
    video_path,
)
from realtime.video import write_atomic

MAX_RETRIES = 2  # Ray re-runs a task whose worker died at most this many times


# -- one video (the task body; runs with or without Ray) ---------------------------------------
_RECOGNIZERS: dict[str, object] = {}  # one per worker process and settings: models load once, not per video


def _recognizer(settings: Settings):
    key = settings.fingerprint()
    if key not in _RECOGNIZERS:
        if settings.recognizer:
            from realtime.pipeline import load_recognizer

            _RECOGNIZERS[key] = load_recognizer(settings.recognizer, settings.model)
        else:
            from realtime.cascade import Cascade

            # one LiteRT thread: Ray books one CPU a video, and the loop already runs two stages at once
            _RECOGNIZERS[key] = Cascade.build(settings.config, model=settings.model, gate=settings.gate,
                                              backend=settings.backend, threads=1)
    return _RECOGNIZERS[key]


class _Collect(logging.Handler):
    """The library's warnings during one video (a truncated file), returned with its result."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def process(job: Job, settings: Settings, out: str | os.PathLike,
            on_frames: Callable[[int], None] | None = None) -> VideoResult:
    """Run one video the way ``realtime run FILE --events E`` does; outputs under ``.part`` names,
    renamed and marked done at the end. Errors a user's file can cause make a failed result (the
    partial outputs are removed); any other exception propagates (to Ray, as a task error).

    ``on_frames(n)`` is called now and then with the frames processed since its last call.
    """
    import cv2

    from realtime.card import ModelError
    from realtime.config import ConfigError
    from realtime.events import EventLogError
    from realtime.pipeline import RunOptions, run
    from realtime.profile import Profiler
    from realtime.source import SourceError, open_source
    from realtime.video import OutputError

    cv2.setNumThreads(1)  # several videos share the cores; the loop overlaps its own stages
    out = Path(out)
    events, video = events_path(out, job.stem), video_path(out, job.stem)
    parts = [part_path(events)] + ([part_path(video)] if settings.save_video else [])
    file = file_stat(job.path)
    collect = _Collect()
    logger = logging.getLogger("realtime")
    logger.addHandler(collect)
    t0 = time.perf_counter()
    pending = [0, time.monotonic()]

    def on_frame(_result) -> None:
        pending[0] += 1
        if on_frames is not None and time.monotonic() - pending[1] > 1.0:
            on_frames(pending[0])
            pending[:] = [0, time.monotonic()]

    try:
        with contextlib.suppress(FileNotFoundError):
            marker_path(out, job.stem).unlink()  # from here on the video is not finished
        profiler = Profiler()
        recognize = _recognizer(settings)
        if hasattr(recognize, "with_models"):  # the cascade: book its stages in this video's profiler
            recognize = recognize.with_models(profiler=profiler)
        opts = RunOptions(events=parts[0], output=parts[1] if settings.save_video else None,
                          track=settings.config.track, alerts=settings.config.alerts)
        summary = run(open_source(job.path), recognize, opts, profiler=profiler, on_frame=on_frame)
    except (SourceError, ModelError, OutputError, EventLogError, ConfigError, OSError) as exc:
        for p in parts:
            with contextlib.suppress(OSError):
                p.unlink()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return VideoResult(job.path, job.stem, "failed", error=reason,
                           elapsed_s=round(time.perf_counter() - t0, 3), warnings=collect.lines)
    finally:
        logger.removeHandler(collect)
        if on_frames is not None and pending[0]:
            on_frames(pending[0])
    if summary["stopped"] != "end of source":  # SIGTERM to the worker: not finished, nothing renamed
        return VideoResult(job.path, job.stem, "failed", error=f"stopped before the end ({summary['stopped']})",
                           frames=summary["frames"], elapsed_s=round(time.perf_counter() - t0, 3))
    if settings.save_video:
        os.replace(parts[1], video)
    os.replace(parts[0], events)
    tracks = summary["tracks"]
    result = VideoResult(job.path, job.stem, "done", frames=summary["frames"], fps=summary["fps"],
                         signs=len(tracks), elapsed_s=round(time.perf_counter() - t0, 3),
                         warnings=collect.lines, tracks=tracks)
    marker = {"source": job.path, "file": file, "settings": settings.fingerprint(), "status": "done",
              **{k: v for k, v in dataclasses.asdict(result).items() if k not in ("video", "stem", "status")}}
    write_atomic(marker_path(out, job.stem), json.dumps(marker))
    return result


# -- Ray --------------------------------------------------------------------------------------
def start_ray(workers: int | None = None, address: str | None = None) -> bool:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), or start a local Ray with ``workers``
    CPUs; an already initialised Ray is used as it is. True when this call started or joined it
    (the caller then shuts it down). ``ImportError`` without Ray."""
    import ray

    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "configure_logging": True}
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, **quiet)
    return True


def run_batch(jobs: list[Job], settings: Settings, out: str | os.PathLike, *, max_retries: int = MAX_RETRIES,
              on_frames: Callable[[int], None] | None = None) -> Iterator[VideoResult]:
    """Run ``jobs`` as Ray tasks (one CPU each) on the initialised Ray; yield each video's result as
    it completes. A task whose worker died is retried ``max_retries`` times, then reported failed.
    ``on_frames(n)`` receives the frames processed across the cluster as they are done. Closing the
    generator early cancels the videos not yet finished."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    @ray.remote(num_cpus=0)
    class Frames:  # counts frames done on every node, for the driver's progress bar
        def __init__(self) -> None:
            self.n = 0

        def add(self, n: int) -> None:
            self.n += n

        def take(self) -> int:
            n, self.n = self.n, 0
            return n

    def task(job: Job, settings: Settings, out: str, counter) -> VideoResult:
        report = (lambda n: counter.add.remote(n)) if counter is not None else None
        return process(job, settings, out, on_frames=report)

    remote = ray.remote(num_cpus=1, max_retries=max_retries)(task)
    counter = Frames.remote() if on_frames is not None else None
    settings_ref = ray.put(settings)
    refs = {remote.remote(job, settings_ref, str(out), counter): job for job in jobs}
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            if counter is not None:
                n = ray.get(counter.take.remote())
                if n:
                    on_frames(n)
            for ref in ready:
                job = refs.pop(ref)
                try:
                    yield ray.get(ref)
                except RayTaskError as exc:  # a bug, not a bad file: its message, one line
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    yield VideoResult(job.path, job.stem, "failed", error=_one_line(f"{type(cause).__name__}: {cause}"))
                except RayError as exc:  # the worker died on every try
                    yield VideoResult(job.path, job.stem, "failed", attempts=max_retries + 1,
                                      error=f"the worker died {max_retries + 1} times ({type(exc).__name__})")
    finally:
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"
