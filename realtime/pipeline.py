"""The loop people run: source -> cascade (propose, classify) -> track -> draw/write.

``stream`` yields one ``FrameResult`` per frame (the frame and its tracked signs) and is all a
program needs to read signs from a source; ``run`` consumes it and writes what a user asked for:
the annotated video, the event log, a snapshot, and a summary it returns. Neither prints nor
shows windows: the command line (``realtime.cli``) does, through ``run``'s ``on_frame`` callback.
Every stage books its time in one ``Profiler`` under the names in ``realtime.profile.STAGES``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import importlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.balance import Balance
from realtime.config import AlertsConfig, TrackConfig
from realtime.draw import DriverAlerts, Painter
from realtime.events import EventWriter, Summary
from realtime.preprocess import as_bgr8
from realtime.profile import OFF, Profiler
from realtime.scenecut import SceneCuts
from realtime.source import Source
from realtime.stages import Balanced, Recognize, Staged
from realtime.track import Tracker
from realtime.types import FrameResult
from realtime.video import IMAGE_EXTS, OutputError, VideoOut, check_writable, imwrite, write_atomic

STILLS = ("folder", "image")  # sources of unrelated images: no tracking across them
# Frames a file's proposing half may run ahead of the frame being finished. With one, each frame
# waits for the longer of its two halves, and the proposing half is the longer on the frames the
# closer look runs on, the shorter on the others; with two, the halves even out over frames (1.00-1.06x
# the FPS at 1080p; the halves then overlap more and share the two cores: docs/BENCHMARKS.md). A
# live source keeps one: a frame would otherwise wait for two more to be captured before it is shown.
AHEAD = 2


@dataclass
class RunOptions:
    # annotated output: a video file; for a still, an image file; for a folder of stills, a folder
    output: str | Path | None = None
    events: str | Path | None = None  # JSONL event log
    snapshot: str | Path | None = None  # PNG of the annotated frame with the most confirmed signs
    summary: str | Path | None = None  # the run's summary as JSON
    tracks: str | Path | None = None  # CSV, one row per confirmed sign track
    max_frames: int | None = None
    draw: bool | None = None  # None: draw only when a video or snapshot stores the frames
    overlap: bool = True  # propose for the next frame while this one is classified (staged recognizers)
    track: TrackConfig | None = None  # the tracker's settings for video (None: the defaults)
    alerts: AlertsConfig | None = None  # the alert panel's settings (None: the defaults)
    balance: Balance | None = None  # where the movable stage runs, and its counts (None: a new one, measured)
    ahead: int | None = None  # frames proposed ahead of the one being finished (None: 1 live, AHEAD for files)


def stream(source: Source, recognize: Recognize, *, tracker: Tracker | None = None,
           profiler: Profiler | None = None, stop: threading.Event | None = None,
           max_frames: int | None = None, overlap: bool = True, track_search: bool = False,
           balance: Balance | None = None, ahead: int | None = None) -> Iterator[FrameResult]:
    """One ``FrameResult`` per frame of ``source``, in order, until it ends, ``max_frames``, or
    ``stop`` is set (the frames already read are finished first).

    Video is tracked (``tracker``, default a new ``Tracker``); unrelated stills are not, and every
    accepted detection of a still is confirmed. A staged recognizer (the cascade) proposes for the
    next ``ahead`` frames on a worker thread while this one is classified and tracked (None: 1 for a
    live source, ``AHEAD`` for files and folders). With ``track_search`` it is also handed where each
    live track should be (``Tracker.predictions``). A ``Balanced`` one's movable stage runs with the
    half that ``balance`` picks (default: the faster, as measured).
    """
    if ahead is None:
        ahead = 1 if source.live else AHEAD
    if ahead < 1:
        raise ValueError(f"ahead must be 1 or more, got {ahead}")
    profiler = profiler or OFF
    stop = stop or threading.Event()
    tracker = None if source.kind in STILLS else (tracker or Tracker())
    cuts = SceneCuts(tracker.config.scene_cut) if tracker is not None else None
    staged = isinstance(recognize, Staged)
    split = overlap and staged
    pool = ThreadPoolExecutor(1, thread_name_prefix="propose") if split else None
    movable = split and isinstance(recognize, Balanced)
    balance = balance or Balance()
    # The loop already runs its stages side by side (capture, propose, finish, encode); OpenCV's own
    # worker threads on top only make them wait for each other (docs/PIPELINE.md). The caller's
    # setting is restored at the end.
    cv_threads = cv2.getNumThreads()
    if split:
        cv2.setNumThreads(1)

    def finish(img: np.ndarray, proposal):
        """The second half, handed where the live tracks should be when ``track_search`` is on."""
        if track_search and tracker is not None:
            return recognize.finish(img, proposal, hints=tracker.predictions())
        return recognize.finish(img, proposal)

    def proposed(img: np.ndarray, index: int | None):
        return finish(img, recognize.propose(img, index))

    def proposing(img: np.ndarray, index: int | None, early: bool):
        """The worker's half, with the movable stage when ``early``."""
        proposal = recognize.propose(img, index)
        return recognize.locate(img, proposal) if early else proposal

    def overlapped(img: np.ndarray, future):
        proposal = future.result()
        if movable:
            # called here, not left to finish: a wrapper (the bench's) then sees the stage once a frame
            # on either thread; nothing to do if it ran with the proposing half
            proposal = recognize.locate(img, proposal)
        return finish(img, proposal)

    def plain(img: np.ndarray):
        with profiler.stage("classify"):  # a plugged-in recognizer: one opaque stage
            return recognize(img)

    def done(frame, img: np.ndarray, detect: Callable[[], list]) -> FrameResult:
        """The frame's result: ``detect()`` gives its detections, called once a scene cut (if this
        frame starts one) has ended the tracks, so their predicted boxes are not searched on a new shot.
        The scene-cut test is booked with the tracker, as one "track" time a frame."""
        t0 = time.perf_counter()
        if cuts is not None and cuts(img):
            tracker.cut()
        cut_s = time.perf_counter() - t0
        dets = detect()
        t1 = time.perf_counter()
        if tracker is None:
            dets = [dataclasses.replace(d, confirmed=True) for d in dets if d.class_id >= 0]
        else:
            dets = tracker.update(dets, frame.index)
        profiler.add("track", (cut_s + time.perf_counter() - t1) * 1000.0)
        return FrameResult(frame.index, frame.t, frame.name, img, dets, captured=frame.captured)

    pending: collections.deque = collections.deque()  # (frame, image, finish) of the frames proposed, oldest first
    last_done = time.perf_counter()  # when the caller last handed a frame back
    taken = 0
    try:
        while not stop.is_set() and (max_frames is None or taken < max_frames):
            frame = source.read(timeout=0.25)
            if frame is None:
                if source.ended:
                    break
                continue  # live source between frames: look at the stop flag again
            taken += 1
            profiler.add("decode", frame.decode_ms)
            # Gray, BGRA, 16-bit or float frames become 8-bit BGR once here, so the cascade, the
            # painter, the encoder and the snapshot all see the same image.
            img = np.ascontiguousarray(as_bgr8(frame.image))
            index = None if tracker is None else frame.index  # video frames: the scheduled stages may skip
            if not split:
                if staged:
                    yield done(frame, img, functools.partial(proposed, img, index))
                else:
                    yield done(frame, img, functools.partial(plain, img))
                continue
            future = pool.submit(proposing, img, index, movable and balance.early())
            pending.append((frame, img, functools.partial(overlapped, img, future)))
            if len(pending) > ahead:
                yield done(*pending.popleft())
                now = time.perf_counter()
                if movable:  # a frame's wall time: reading it, both halves, the caller's work on it
                    balance.frame_done((now - last_done) * 1000.0)
                last_done = now
        while pending:  # the frames read and proposed last: finish them before the outputs close
            yield done(*pending.popleft())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        cv2.setNumThreads(cv_threads)


def check_outputs(source: Source, opts: RunOptions) -> None:
    """Every output of ``opts`` checked for ``source`` (``OutputError`` if one cannot be written):
    what ``run`` does first, for callers that want to fail before loading models."""
    _annotated_output(source, opts.output)
    for path, what in ((opts.events, "event log"), (opts.snapshot, "snapshot"), (opts.summary, "summary"),
                       (opts.tracks, "track table")):
        check_writable(path, what)


def load_recognizer(spec: str, model: str | Path | None = None) -> Recognize:
    """A plugged-in recognizer: ``MODULE:FUNCTION`` (default function ``make_recognizer``), a factory
    called with ``model=`` that returns a callable frame -> list[Detection]."""
    mod_name, _, fn_name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(mod_name), fn_name or "make_recognizer")
    except (ImportError, AttributeError) as exc:
        raise OutputError(f"cannot load recognizer {spec!r}: {exc}") from None
    return fn(model=model)


class _Outputs:
    """The annotated video (or stills), the event log, the snapshot, the summary and the track table of
    one run; closing never loses what was written (every step runs, the first failure is raised
    afterwards)."""

    def __init__(self, source: Source, opts: RunOptions, names, profiler) -> None:
        self.video_path, self.stills_path = _annotated_output(source, opts.output)
        self.events_path = check_writable(opts.events, "event log")
        self.snap_path = check_writable(opts.snapshot, "snapshot")
        self.summary_path = check_writable(opts.summary, "summary")
        self.tracks_path = check_writable(opts.tracks, "track table")
        outputs = (self.video_path, self.stills_path, self.events_path, self.snap_path, self.summary_path,
                   self.tracks_path)
        for p in outputs:
            if p is not None and source.path is not None and p.resolve() == source.path.resolve():
                raise OutputError(f"refusing to overwrite the input {p}")
        self.fps = source.fps or (2.0 if source.kind in STILLS else 30.0)
        self.profiler = profiler
        self.video: VideoOut | None = None
        if self.video_path is not None and source.size is not None:
            self.video = VideoOut(self.video_path, self.fps, source.size, profiler=profiler)
        try:
            self.events = EventWriter(self.events_path, names)
        except BaseException:
            self.close_video()
            raise
        self.best_count, self.best_img = -1, None
        self.snapshot_written = False
        self.stills = 0

    def add(self, result: FrameResult) -> None:
        img = result.image
        if self.video_path is not None:
            if self.video is None:
                self.video = VideoOut(self.video_path, self.fps, (img.shape[1], img.shape[0]), profiler=self.profiler)
            self.video.write(img)
        elif self.stills_path is not None:
            path = self.stills_path / result.name if self.stills_path.is_dir() else self.stills_path
            if not imwrite(path, img):
                raise OutputError(f"cannot write image {path}")
            self.stills += 1
        self.events.write(result.name, result.index, result.t, result.detections)
        if self.snap_path is not None:
            n = sum(d.confirmed for d in result.detections)
            if n > self.best_count:
                self.best_count, self.best_img = n, img.copy()

    def close_video(self) -> None:
        if self.video is not None:
            self.video.close()

    def close(self, source: Source) -> None:
        errors: list[Exception] = []
        for step in (self.close_video, self.events.close, source.close):
            try:
                step()
            except Exception as exc:
                errors.append(exc)
        if self.snap_path is not None and self.best_img is not None:
            self.snapshot_written = imwrite(self.snap_path, self.best_img)
        if errors:
            raise errors[0]


def _annotated_output(source: Source, output: str | Path | None) -> tuple[Path | None, Path | None]:
    """(video path, stills path) for ``--output``: a video file for video; an image file for a still;
    a folder (made if need be) for a folder of stills, each annotated image under its own name."""
    if not output:
        return None, None
    p = Path(output)
    if source.kind == "image" and p.suffix.lower() in IMAGE_EXTS:
        return None, check_writable(p, "output image")
    if source.kind == "folder" and (p.is_dir() or not p.suffix):
        if p.exists() and not p.is_dir():
            raise OutputError(f"output folder {p} is a file")
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot make the output folder {p}: {exc.strerror or exc}") from None
        return None, p
    if p.suffix.lower() in IMAGE_EXTS:
        raise OutputError(f"{p} is an image file; a {source.kind} needs a video file"
                          + (" or a folder" if source.kind == "folder" else ""))
    return check_writable(p, "output video"), None


def run(source: Source, recognize: Recognize, opts: RunOptions | None = None, *,
        tracker: Tracker | None = None, painter: Painter | None = None, profiler: Profiler | None = None,
        stop: threading.Event | None = None, on_frame: Callable[[FrameResult], bool | None] | None = None) -> dict:
    """Process ``source`` until it ends, ``max_frames``, ``stop`` (Ctrl-C, SIGTERM) or ``on_frame``
    returning False; write the outputs; return the summary.

    Outputs are checked before the first frame; on every way out the video is finalised and the
    event log holds every processed frame. ``on_frame`` sees each frame after drawing (a window,
    a progress bar). ``profiler`` should be the one the cascade books into.
    """
    opts = opts or RunOptions()
    painter = painter or Painter()
    profiler = profiler if profiler is not None else Profiler()
    stop = stop or threading.Event()
    try:
        outs = _Outputs(source, opts, painter.names, profiler)
    except BaseException:
        source.close()
        raise
    draw = opts.draw if opts.draw is not None else bool(outs.video_path or outs.stills_path or outs.snap_path)
    alerts, summary = DriverAlerts.from_config(opts.alerts or AlertsConfig()), Summary(painter.names)
    fps: float | None = None
    quit_ = False
    t_start = t_last = time.perf_counter()
    try:
        with stop_on_signals(stop):
            for result in stream(source, recognize, tracker=tracker or Tracker(opts.track), profiler=profiler,
                                 stop=stop, max_frames=opts.max_frames, overlap=opts.overlap,
                                 track_search=(opts.track or TrackConfig()).search, balance=opts.balance,
                                 ahead=opts.ahead):
                alerts.update(result.detections, result.t)
                if draw:
                    with profiler.stage("draw"):
                        painter(result.image, result.detections, fps=fps, stages_ms=profiler.smoothed(), alerts=alerts)
                if result.captured > 0:  # capture to overlay (0.0: the stream did not pass the stamp on)
                    profiler.add_latency((time.perf_counter() - result.captured) * 1000.0)
                with profiler.stage("write"):
                    outs.add(result)
                summary.add(result.index, result.t, result.detections)
                if on_frame is not None and on_frame(result) is False:
                    quit_ = True
                    stop.set()
                now = time.perf_counter()
                inst = 1.0 / max(now - t_last, 1e-6)
                fps, t_last = (inst if fps is None else fps + 0.1 * (inst - fps)), now
    finally:
        summary.elapsed_s = time.perf_counter() - t_start
        outs.close(source)
    reason = ("quit" if quit_ else "stopped (signal)" if stop.is_set()
              else "max frames" if opts.max_frames is not None and summary.frames >= opts.max_frames
              else "end of source")
    result = summary.as_dict(_extra(source, outs, profiler, summary, reason))
    result["latency_ms"] = (profiler.latency() if isinstance(profiler, Profiler)
                            else {"p50": None, "p95": None, "frames": 0})
    result["tracks"] = summary.tracks()
    if outs.tracks_path is not None:
        summary.write_tracks(outs.tracks_path)
    if outs.summary_path is not None:
        write_atomic(outs.summary_path, json.dumps(result, indent=1) + "\n")
    return result





def _extra(source: Source, outs: _Outputs, profiler: Profiler, summary: Summary, reason: str) -> dict:
    return {"source": source.name, "kind": source.kind, "stopped": reason,
            "stages_ms": profiler.mean(summary.frames) if isinstance(profiler, Profiler) else {},
            "dropped_frames": source.dropped, "unreadable_files": source.unreadable,
            "skipped_files": source.skipped_files,
            "output": str(outs.video_path or outs.stills_path) if (outs.video_path or outs.stills_path) else None,
            "output_frames": outs.video.frames if outs.video else outs.stills,
            "video_codec": outs.video.codec if outs.video else None,
            "video_note": outs.video.note if outs.video else None,
            "events": str(outs.events_path) if outs.events_path else None, "event_lines": outs.events.lines,
            "snapshot": str(outs.snap_path) if outs.snap_path else None, "snapshot_written": outs.snapshot_written}


@contextlib.contextmanager
def stop_on_signals(flag: threading.Event) -> Iterator[None]:
    """SIGTERM and the first Ctrl-C set ``flag`` so the loop finishes its frame and closes files;
    a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame) -> None:
        if flag.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
