"""Many video files at once on Ray: one video is one task, from a laptop to a cluster.

Each task runs exactly what ``python -m realtime run FILE --events E --no-display`` runs
(``realtime.pipeline.run`` on ``open_source(FILE)`` with the cascade of the configuration in
effect), so a video's event log is the one a single run writes. Outputs go to one folder:

- ``<stem>.events.jsonl`` (and ``<stem>.annotated.mp4`` when asked), written under a ``.part``
  name and renamed when the video is finished;
- ``<stem>.done.json``, written last (also atomically): the video is finished, with its source's
  size and modification time, the settings' fingerprint, its figures and its sign tracks;
- ``signs.csv`` (one row per confirmed sign track) and ``summary.json`` (one entry per video),
  rebuilt from the markers at the end of every batch.

A second batch into the same folder skips the videos whose marker matches (same file, same
settings) and redoes the others. A video that cannot be read is a failed result, not an
exception: Ray retries a task only when its worker dies. Ray is optional (the ``[fleet]`` extra)
and imported only by the functions that need it. Nothing here prints.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import hashlib
import importlib
import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from realtime.config import Config
from realtime.events import TRACK_COLUMNS

# containers FFmpeg reads that dashcams and phones write; a file named on the command line is taken
# whatever its suffix
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".mts",
                            ".m2ts", ".wmv", ".flv", ".3gp"})
LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})  # a text file of paths, one a line
SIGN_COLUMNS = ("video", *TRACK_COLUMNS)
MAX_RETRIES = 2  # Ray re-runs a task whose worker died at most this many times


class BatchError(Exception):
    """A batch that cannot start (no sources, an output folder that cannot be written): one line."""


# -- what to run ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """What every task runs with: the configuration in effect and the models (as ``run`` takes them)."""

    config: Config = field(default_factory=Config.shipped)
    model: str | None = None
    gate: str | None = None
    backend: str = "litert"
    recognizer: str | None = None  # MODULE:FUNCTION of a plug-in recognizer, as ``run --recognizer``
    save_video: bool = False

    def fingerprint(self) -> str:
        """Changes whenever a video's outputs would: a finished video done with others is redone."""
        key = {"config": self.config.to_dict(), "model": self.model, "gate": self.gate, "backend": self.backend,
               "recognizer": self.recognizer}
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Job:
    """One video: its path and the stem its outputs are named by (unique within the batch)."""

    path: str
    stem: str


@dataclass
class VideoResult:
    """How one video went: ``status`` is "done", "failed" or "skipped" (done by an earlier batch)."""

    video: str
    stem: str
    status: str
    frames: int = 0
    fps: float = 0.0
    signs: int = 0
    error: str | None = None
    elapsed_s: float = 0.0
    attempts: int = 1
    warnings: list[str] = field(default_factory=list)
    tracks: list[dict] = field(default_factory=list)

    def entry(self) -> dict:
        """The video's entry in ``summary.json``."""
        return {"video": self.video, "stem": self.stem, "status": self.status, "frames": self.frames,
                "fps": self.fps, "signs": self.signs, "error": self.error, "elapsed_s": self.elapsed_s,
                "warnings": self.warnings}


def find_videos(specs: Iterable[str | os.PathLike]) -> list[Path]:
    """Video files from SOURCES: files, folders (searched recursively, sorted) and text files listing
    paths (one a line, ``#`` comments; relative paths are relative to the list's folder).

    A path given on the command line that does not exist is a ``BatchError``; one inside a list is
    kept, so its video fails with the reason and the rest of the list runs. Each file once.
    """
    found: list[Path] = []

    def add(path: Path, named: bool, depth: int = 0) -> None:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES))
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file() and depth == 0:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise BatchError(f"cannot read the list {path}: {getattr(exc, 'strerror', None) or exc}") from None
            for line in lines:
                line = line.strip()
                if line and not line.startswith("#"):
                    entry = Path(line).expanduser()
                    add(entry if entry.is_absolute() else path.parent / entry, named=False, depth=1)
        elif path.exists() or not named:
            found.append(path)
        else:
            raise BatchError(f"source not found: {path}")

    for spec in specs:
        add(Path(spec).expanduser(), named=True)
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def assign_stems(paths: list[Path]) -> list[Job]:
    """One job a video; files of the same stem in different folders get ``<stem>-<8 hex of the path>``."""
    counts = collections.Counter(p.stem for p in paths)
    jobs = []
    for p in paths:
        stem = p.stem
        if counts[stem] > 1:
            stem = f"{stem}-{hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]}"
        jobs.append(Job(str(p.resolve()), stem))
    return jobs


# -- the output folder ------------------------------------------------------------------------
def events_path(out: Path, stem: str) -> Path:
    return out / f"{stem}.events.jsonl"


def video_path(out: Path, stem: str) -> Path:
    return out / f"{stem}.annotated.mp4"


def marker_path(out: Path, stem: str) -> Path:
    return out / f"{stem}.done.json"


def _part(path: Path) -> Path:
    """The name an output is written under until it is complete (the video keeps its suffix, which
    chooses the container)."""
    return path.with_name(f"{path.stem}.part{path.suffix}") if path.suffix == ".mp4" else \
        path.with_name(path.name + ".part")


def check_out(out: str | os.PathLike) -> Path:
    """Create the output folder and make sure it can be written, before any video starts."""
    p = Path(out)
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BatchError(f"cannot write to the output folder {p}: {exc.strerror or exc}") from None
    return p


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name beside ``path`` and rename it: readers see all or nothing."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _stat(path: str) -> dict | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def read_marker(out: Path, stem: str) -> dict | None:
    try:
        return json.loads(marker_path(out, stem).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_finished(out: Path, job: Job, settings: Settings) -> bool:
    """The video's marker says done, for this very file (size, mtime) and these settings, and its
    outputs are there."""
    m = read_marker(out, job.stem)
    if not m or m.get("status") != "done" or m.get("source") != job.path or m.get("settings") != settings.fingerprint():
        return False
    if m.get("file") != _stat(job.path) or not events_path(out, job.stem).is_file():
        return False
    return not settings.save_video or video_path(out, job.stem).is_file()


def was_started(out: Path, job: Job) -> bool:
    """An earlier batch began this video and did not finish it (a leftover ``.part`` or a stale marker)."""
    return any(p.exists() for p in (_part(events_path(out, job.stem)), _part(video_path(out, job.stem)),
                                    marker_path(out, job.stem)))


@dataclass
class Plan:
    todo: list[Job]
    skipped: list[VideoResult]  # finished by an earlier batch
    unfinished: int  # of ``todo``, how many an earlier batch had begun


def plan(jobs: list[Job], out: Path, settings: Settings) -> Plan:
    """Split the jobs into those an earlier batch finished (skipped) and those to run."""
    todo, skipped, unfinished = [], [], 0
    for job in jobs:
        if is_finished(out, job, settings):
            skipped.append(result_from_marker(job, read_marker(out, job.stem) or {}))
        else:
            unfinished += was_started(out, job)
            todo.append(job)
    return Plan(todo, skipped, unfinished)


def result_from_marker(job: Job, m: dict) -> VideoResult:
    return VideoResult(job.path, job.stem, "skipped", frames=int(m.get("frames", 0)), fps=float(m.get("fps", 0.0)),
                       signs=int(m.get("signs", 0)), elapsed_s=float(m.get("elapsed_s", 0.0)),
                       warnings=list(m.get("warnings", [])), tracks=list(m.get("tracks", [])))


# -- one video (the task body; runs with or without Ray) ---------------------------------------
_RECOGNIZERS: dict[str, object] = {}  # one per worker process and settings: models load once, not per video


def _recognizer(settings: Settings):
    key = settings.fingerprint()
    if key not in _RECOGNIZERS:
        if settings.recognizer:
            from realtime.video import OutputError

            mod_name, _, fn_name = settings.recognizer.partition(":")
            try:
                fn = getattr(importlib.import_module(mod_name), fn_name or "make_recognizer")
            except (ImportError, AttributeError) as exc:
                raise OutputError(f"cannot load recognizer {settings.recognizer!r}: {exc}") from None
            _RECOGNIZERS[key] = fn(model=settings.model)
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
    parts = [_part(events)] + ([_part(video)] if settings.save_video else [])
    file = _stat(job.path)
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
        opts = RunOptions(events=parts[0], output=parts[1] if settings.save_video else None)
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


# -- reports ----------------------------------------------------------------------------------
def write_reports(out: Path, results: list[VideoResult], pending: Iterable[Job] = ()) -> None:
    """``signs.csv`` and ``summary.json`` of the whole batch (atomically); ``pending`` are the videos
    an interrupted batch did not get to ("not run")."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SIGN_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in results:
        for t in r.tracks:
            w.writerow({"video": r.video, **t})
    write_atomic(out / "signs.csv", buf.getvalue())
    entries = [r.entry() for r in results] + [VideoResult(j.path, j.stem, "not run").entry() for j in pending]
    status = collections.Counter("done" if e["status"] == "skipped" else e["status"] for e in entries)
    totals = {"videos": len(entries), "done": status["done"], "failed": status["failed"],
              "not_run": status["not run"], "frames": sum(e["frames"] for e in entries),
              "signs": sum(e["signs"] for e in entries)}
    write_atomic(out / "summary.json", json.dumps({"totals": totals, "videos": entries}, indent=1) + "\n")


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
