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
and imported only by the functions that need it (``realtime.batch_task``: the task and Ray;
this module: what the driver decides and writes). Nothing here prints.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from realtime.config import Config
from realtime.events import TRACK_COLUMNS, tracks_csv
from realtime.video import write_atomic

# containers FFmpeg reads that dashcams and phones write; a file named on the command line is taken
# whatever its suffix
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".mts",
                            ".m2ts", ".wmv", ".flv", ".3gp"})
LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})  # a text file of paths, one a line
SIGN_COLUMNS = ("video", *TRACK_COLUMNS)


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


def part_path(path: Path) -> Path:
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


def file_stat(path: str) -> dict | None:
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
    if m.get("file") != file_stat(job.path) or not events_path(out, job.stem).is_file():
        return False
    return not settings.save_video or video_path(out, job.stem).is_file()


def was_started(out: Path, job: Job) -> bool:
    """An earlier batch began this video and did not finish it (a leftover ``.part`` or a stale marker)."""
    return any(p.exists() for p in (part_path(events_path(out, job.stem)), part_path(video_path(out, job.stem)),
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


# -- reports ----------------------------------------------------------------------------------
def write_reports(out: Path, results: list[VideoResult], pending: Iterable[Job] = ()) -> None:
    """``signs.csv`` and ``summary.json`` of the whole batch (atomically); ``pending`` are the videos
    an interrupted batch did not get to ("not run")."""
    write_atomic(out / "signs.csv", tracks_csv([{"video": r.video, **t} for r in results for t in r.tracks],
                                                SIGN_COLUMNS))
    entries = [r.entry() for r in results] + [VideoResult(j.path, j.stem, "not run").entry() for j in pending]
    status = collections.Counter("done" if e["status"] == "skipped" else e["status"] for e in entries)
    totals = {"videos": len(entries), "done": status["done"], "failed": status["failed"],
              "not_run": status["not run"], "frames": sum(e["frames"] for e in entries),
              "signs": sum(e["signs"] for e in entries)}
    write_atomic(out / "summary.json", json.dumps({"totals": totals, "videos": entries}, indent=1) + "\n")
