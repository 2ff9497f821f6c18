"""The one loop people run: source -> recognize (detect, crop, batched classify) -> track -> draw -> write.

Every stage is a small object with a narrow interface, injected here, so this file reads top to
bottom like the product works and tests can swap any stage for a fake. Per-stage milliseconds are
measured on every frame and shown on the HUD and in the summary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.draw import DriverAlerts, Painter
from realtime.events import EventWriter, Summary
from realtime.preprocess import as_bgr8
from realtime.source import Source
from realtime.track import Tracker
from realtime.types import Detection

Recognize = Callable[[np.ndarray], list[Detection]]
STILLS = ("folder", "image")  # sources of unrelated images: no tracking across them
WINDOW = "traffic signs (q quits, space pauses)"


class OutputError(Exception):
    """An output path that cannot be written; one line for the user."""


# -- timing -----------------------------------------------------------------------------------
class StageTimes:
    """Per-stage milliseconds: totals for the summary, a smoothed value for the HUD."""

    def __init__(self, smoothing: float = 0.1) -> None:
        self.a = smoothing
        self.reset()

    def reset(self) -> None:
        self.total: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.smooth: dict[str, float] = {}

    def add(self, stage: str, ms: float) -> None:
        self.total[stage] = self.total.get(stage, 0.0) + ms
        self.count[stage] = self.count.get(stage, 0) + 1
        prev = self.smooth.get(stage)
        self.smooth[stage] = ms if prev is None else prev + self.a * (ms - prev)

    def mean(self, frames: int | None = None) -> dict[str, float]:
        """Mean ms per frame (per call when ``frames`` is None)."""
        return {k: round(v / max(frames or self.count[k], 1), 3) for k, v in self.total.items()}


class Timed:
    """Wraps one stage object so each call of its ``method`` (a name, or several) is booked under ``stage``.

    The recognizer stays unaware of timing: it calls ``detector(frame)``, ``gate.predict_proba``
    and ``classifier.classify_boxes`` as usual.
    """

    def __init__(self, inner, times: StageTimes, stage: str, method: str | tuple[str, ...] = "__call__") -> None:
        self._inner, self._times, self._stage = inner, times, stage
        self._methods = (method,) if isinstance(method, str) else tuple(method)

    def __getattr__(self, name: str):
        attr = getattr(self._inner, name)
        if name not in self._methods:
            return attr

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            out = attr(*args, **kwargs)
            self._times.add(self._stage, (time.perf_counter() - t0) * 1000.0)
            return out

        return timed

    def __call__(self, *args, **kwargs):
        return self.__getattr__("__call__")(*args, **kwargs)


def build_recognizer(model: str | None = None, backend: str = "litert", factory: str | None = None,
                     times: StageTimes | None = None, gate: str | None = None,
                     min_score: float | None = None, refine: bool = True, locate: bool = True) -> Recognize:
    """The shipped recognizer (colour/shape detector, gate, CNN), or ``factory`` = "module:function".

    ``gate`` picks a gate model (default: the shipped one; "none" classifies every candidate).
    ``min_score`` replaces the per-route thresholds chosen on GTSDB by one threshold for every
    route (lower: more signs and more false alarms on footage unlike GTSDB's). ``refine`` False
    skips the closer look around the gated candidates (``realtime.refine``: faster, fewer small signs);
    ``locate`` False the learned localizer (``realtime.locate``: faster, fewer signs without a
    coloured rim; it is also off when ``models/locator.tflite`` is absent). A
    factory is called with ``model=`` and must return a callable ``frame -> list[Detection]``; it
    lets users plug in another detector and lets tests run the CLI without a trained model.
    """
    if factory:
        mod_name, _, fn_name = factory.partition(":")
        try:
            fn = getattr(importlib.import_module(mod_name), fn_name or "make_recognizer")
        except (ImportError, AttributeError) as exc:
            raise OutputError(f"cannot load recognizer {factory!r}: {exc}") from None
        return fn(model=model)
    from realtime.classifier import Classifier, resolve_gate  # lazy: LiteRT/TensorFlow load only when needed
    from realtime.detect import Detector
    from realtime.recognize import Recognizer
    from realtime.refine import FineLook

    classifier = Classifier(model, backend=backend)
    classifier.warm_up()  # every batch size allocated now: no memory steps or frame stalls mid-run
    gate_path, gate_model = resolve_gate(gate), None
    if gate_path is not None:
        # one thread: the gate runs beside the recognizer (propose on the worker, finish on the main
        # thread), so a second gate thread only competes for the core the recognizer is using
        gate_model = Classifier(gate_path, backend=backend, threads=1)
        gate_model.warm_up()
    detector = Detector()
    refine = FineLook(detector.config) if refine else None
    from realtime.locate import DEFAULT_LOCATOR, Locator

    locator = Locator() if locate and DEFAULT_LOCATOR.is_file() else None
    overrides = {} if min_score is None else {"min_score": float(min_score), "route_min_score": {}}
    if times is None:
        return Recognizer(detector, classifier, gate=gate_model, refine=refine, locator=locator, **overrides)
    return Recognizer(Timed(detector, times, "detect", ("__call__", "work")),
                      Timed(classifier, times, "classify", "classify_boxes"),
                      gate=None if gate_model is None else Timed(gate_model, times, "gate", "predict_proba"),
                      refine=None if refine is None else Timed(refine, times, "refine"),
                      locator=None if locator is None else Timed(locator, times, "locate"), **overrides)


# -- outputs ----------------------------------------------------------------------------------
VIDEO_EXTS = (".mp4", ".m4v", ".mov", ".mkv", ".avi")


def check_writable(path: str | Path | None, what: str) -> Path | None:
    """Fail before processing starts, not after an hour of video, when an output cannot be written."""
    if not path:
        return None
    p = Path(path)
    if what == "output video" and p.suffix.lower() not in VIDEO_EXTS:
        raise OutputError(f"output video {p} must end in one of {', '.join(VIDEO_EXTS)}")
    if p.is_dir():
        raise OutputError(f"{what} {p} is a folder, expected a file name")
    existing = next((a for a in p.parents if a.exists()), None)  # mkdir would only say "File exists"
    if existing is not None and not existing.is_dir():
        raise OutputError(f"cannot write {what} {p}: {existing} is a file, not a folder")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        existed = p.exists()
        with p.open("ab"):
            pass
        if not existed:
            p.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write {what} {p}: {exc.strerror or exc}") from None
    return p


def _fourcc(path: Path) -> int:
    return cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))


class VideoOut:
    """Annotated video, same size and fps as the input, encoded on its own thread.

    Encoding a 1360x800 frame costs several milliseconds; a bounded queue lets it overlap the next
    frame's recognition without ever dropping a frame (``write`` blocks when the encoder lags).
    Frames of another size (stills) are resized.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], queue_size: int = 6) -> None:
        self.path, self.size = path, size
        self.frames = 0
        self.encode_ms = 0.0  # time spent in the encoder thread, in total
        self._w = cv2.VideoWriter(str(path), _fourcc(path), float(fps), size)
        if not self._w.isOpened():
            raise OutputError(f"cannot write video {path} at {size[0]}x{size[1]} "
                              "(unsupported container or frame size? use .mp4 or .avi)")
        self._q: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._encode, name="encoder", daemon=True)
        self._thread.start()

    def write(self, frame: np.ndarray) -> None:
        """Queue a frame; the caller must not draw on it afterwards."""
        self._q.put(frame)

    def _encode(self) -> None:
        while (frame := self._q.get()) is not None:
            t0 = time.perf_counter()
            if (frame.shape[1], frame.shape[0]) != self.size:
                frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
            self._w.write(frame)
            self.frames += 1
            self.encode_ms += (time.perf_counter() - t0) * 1000.0

    def close(self) -> None:
        """Flush the queue and finalise the file (mp4 index): it plays even after Ctrl-C/SIGTERM."""
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()
        self._w.release()


def display_available(probe: bool = False) -> bool:
    """Whether a window can be shown: False on headless Linux (no X11/Wayland display).

    With ``probe``, a window is opened in a child process first: OpenCV's Qt backend aborts the
    whole process (no exception) when DISPLAY points at an unreachable server, which would lose
    the video and event log of the run.
    """
    if not sys.platform.startswith("linux"):
        return True  # Windows and macOS always have a window system; imshow errors are caught later
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    if not probe:
        return True
    code = "import cv2; cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


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


# -- the loop ---------------------------------------------------------------------------------
@dataclass
class RunOptions:
    output: str | Path | None = None  # annotated video
    events: str | Path | None = None  # JSONL event log
    snapshot: str | Path | None = None  # PNG of the annotated frame with the most confirmed signs
    display: bool | None = None  # None: show a window when a display is available
    max_frames: int | None = None
    progress: bool = True
    draw: bool | None = None  # None: draw only when something shows or stores the frames
    quiet: bool = False  # no summary on stdout
    overlap: bool = True  # propose for the next frame while this one is classified (split recognizers)


def run(source: Source, recognize: Recognize, opts: RunOptions | None = None, *,
        tracker: Tracker | None = None, painter: Painter | None = None, times: StageTimes | None = None,
        stop: threading.Event | None = None) -> dict:
    """Process ``source`` until it ends, ``max_frames``, ``q``, Ctrl-C or SIGTERM; return the summary.

    Outputs are checked before the first frame; on every way out the video is finalised, the
    event log holds every processed frame and the summary is printed.
    """
    opts = opts or RunOptions()
    try:
        out_path = check_writable(opts.output, "output video")
        events_path = check_writable(opts.events, "event log")
        snap_path = check_writable(opts.snapshot, "snapshot")
        for p in (out_path, events_path, snap_path):
            if p is not None and source.path is not None and p.resolve() == source.path.resolve():
                raise OutputError(f"refusing to overwrite the input {p}")
    except BaseException:
        source.close()
        raise
    stills = source.kind in STILLS
    tracker = None if stills else (tracker or Tracker())
    painter = painter or Painter()
    times = times if times is not None else StageTimes()
    stop = stop or threading.Event()
    show = opts.display if opts.display is not None else display_available(probe=True)
    if opts.display is None and not show and not opts.quiet:
        print("note: no display; running headless (--no-display silences this)", file=sys.stderr)
    draw = opts.draw if opts.draw is not None else bool(show or out_path or snap_path)
    alerts = DriverAlerts()
    summary = Summary(painter.names)
    video: VideoOut | None = None
    try:
        if out_path is not None and source.size is not None:
            video = VideoOut(out_path, source.fps or (2.0 if stills else 30.0), source.size)
        events = EventWriter(events_path, painter.names)
    except BaseException:
        if video is not None:
            video.close()
        source.close()
        raise
    best_count, best_img = -1, None
    total = source.expected_frames
    if opts.max_frames is not None:
        total = min(total, opts.max_frames) if total is not None else None
    bar = None
    if opts.progress and total is not None and total > 1:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", dynamic_ncols=True, leave=False, file=sys.stderr,
                   disable=None)  # None: only on a terminal, not in logs
    fps: float | None = None
    t_start = time.perf_counter()
    t_last = t_start
    reason = "end of source"
    # Recognizers that split into propose (detector) and finish (gate, classifier, rejection) let
    # the next frame's proposals run on the other core while this frame is classified and drawn.
    split = opts.overlap and callable(getattr(recognize, "propose", None)) and callable(
        getattr(recognize, "finish", None))
    pool = ThreadPoolExecutor(1, thread_name_prefix="propose") if split else None
    # The loop already runs its stages side by side (capture, propose, finish, encode); OpenCV's own
    # worker threads on top only make them wait for each other. On 2 cores, one OpenCV thread plus
    # the gate in the proposing half took ~10 ms of CPU a frame off and raised the FPS by 15-20%
    # (either alone gained little; docs/BENCHMARKS.md). The caller's setting is restored at the end.
    cv_threads = cv2.getNumThreads()
    if split:
        cv2.setNumThreads(1)
    pending = None  # (frame, image, future proposal) of the frame proposed last

    def complete(frame, img: np.ndarray, dets_or_future, t1: float) -> None:
        """Everything after recognition for one frame: track, draw, write, log."""
        nonlocal video, best_count, best_img, show, reason, fps, t_last
        dets = recognize.finish(img, dets_or_future.result()) if split else dets_or_future
        t2 = time.perf_counter()
        if tracker is None:
            dets = [dataclasses.replace(d, confirmed=True) for d in dets if d.class_id >= 0]
        else:
            dets = tracker.update(dets, frame.index)
        t3 = time.perf_counter()
        alerts.update(dets, frame.t)
        if draw:
            painter(img, dets, fps=fps, stages_ms=_hud_stages(times), alerts=alerts)
        t4 = time.perf_counter()
        if out_path is not None:
            if video is None:
                video = VideoOut(out_path, source.fps or (2.0 if stills else 30.0), (img.shape[1], img.shape[0]))
            video.write(img)
        t5 = time.perf_counter()
        events.write(frame.name, frame.index, frame.t, dets)
        summary.add(frame.index, frame.t, dets)
        if snap_path is not None:
            n = sum(d.confirmed for d in dets)
            if n > best_count:
                best_count, best_img = n, img.copy()
        t6 = time.perf_counter()
        times.add("recognize", (t2 - t1) * 1000.0)
        times.add("track", (t3 - t2) * 1000.0)
        times.add("draw", (t4 - t3) * 1000.0)
        times.add("write", (t5 - t4) * 1000.0)
        times.add("events", (t6 - t5) * 1000.0)
        if show:
            show = _show(img, stop, frame.name)
            if stop.is_set():
                reason = "quit"
        now = time.perf_counter()
        inst = 1.0 / max(now - t_last, 1e-6)
        fps = inst if fps is None else fps + 0.1 * (inst - fps)
        t_last = now
        if bar is not None:
            bar.update(1)

    taken = 0
    try:
        with stop_on_signals(stop):
            while not stop.is_set():
                if opts.max_frames is not None and taken >= opts.max_frames:
                    reason = "max frames"
                    break
                t0 = time.perf_counter()
                frame = source.read(timeout=0.25)
                t1 = time.perf_counter()
                if frame is None:
                    if source.ended:
                        break
                    continue  # live source between frames: look at the stop flag again
                taken += 1
                times.add("wait", (t1 - t0) * 1000.0)
                times.add("decode", frame.decode_ms)
                # Gray, BGRA, 16-bit or float frames (custom sources, odd cameras) become 8-bit BGR once
                # here, so the recognizer, the painter (putText needs 8-bit), the encoder (drops frames
                # that are not 3-channel) and the snapshot all see the same image.
                img = np.ascontiguousarray(as_bgr8(frame.image))
                if not split:
                    complete(frame, img, recognize(img), t1)
                    continue
                future = pool.submit(recognize.propose, img)
                if pending is not None:
                    complete(*pending, time.perf_counter())
                pending = (frame, img, future)
            else:
                reason = reason if reason == "quit" else "stopped (signal)"
            if pending is not None:  # the last frame proposed: finish it before the outputs close
                complete(*pending, time.perf_counter())
                pending = None
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        cv2.setNumThreads(cv_threads)
        elapsed = time.perf_counter() - t_start
        # Every step runs even when one fails (a full disk fails the log, not the video): the
        # first failure is raised afterwards, unless an exception is already on its way out.
        cleanup_errors: list[Exception] = []
        for step in (bar.close if bar is not None else None, video.close if video is not None else None,
                     events.close, source.close):
            try:
                if step is not None:
                    step()
            except Exception as exc:
                cleanup_errors.append(exc)
        if show:
            with contextlib.suppress(cv2.error):
                cv2.destroyAllWindows()
        if snap_path is not None and best_img is not None and not _imwrite(snap_path, best_img):
            print(f"warning: could not write the snapshot {snap_path}", file=sys.stderr)
    if cleanup_errors:
        raise cleanup_errors[0]
    summary.elapsed_s = elapsed
    if video is not None and video.frames:
        times.total["encode"], times.count["encode"] = video.encode_ms, video.frames
    extra = {"source": source.name, "kind": source.kind, "stopped": reason,
             "stages_ms": times.mean(summary.frames),  # "wait": main loop idle, waiting for a frame
             "dropped_frames": source.dropped, "unreadable_files": source.unreadable,
             "skipped_files": source.skipped_files,
             "output": str(out_path) if out_path else None, "output_frames": video.frames if video else 0,
             "events": str(events_path) if events_path else None, "event_lines": events.lines}
    if not opts.quiet:
        print(summary.format(extra))
        print("  ms/frame: " + ", ".join(f"{k} {v:.2f}" for k, v in extra["stages_ms"].items())
              + f"; stopped: {reason}", flush=True)
        if source.unreadable or source.skipped_files:
            print(f"  skipped {source.skipped_files} non-image files, {source.unreadable} unreadable images")
        if source.dropped:
            print(f"  dropped {source.dropped} stale live frames (processing slower than the camera)")
    return summary.as_dict(extra)


def _imwrite(path: Path, img: np.ndarray) -> bool:
    """cv2.imwrite that reports failure (it returns False, or raises for some encoders)."""
    try:
        return bool(cv2.imwrite(str(path), img))
    except cv2.error:
        return False


def _hud_stages(times: StageTimes) -> dict[str, float]:
    keys = ("decode", "detect", "locate", "gate", "refine", "classify", "recognize", "track", "draw", "write")
    return {k: times.smooth[k] for k in keys if k in times.smooth}


def _show(img: np.ndarray, stop: threading.Event, name: str) -> bool:
    """Show a frame; q/Esc quits, space pauses. Returns False (headless) when the GUI is unavailable."""
    try:
        cv2.imshow(WINDOW, img)
        key = cv2.waitKey(1) & 0xFF
        if key == ord(" "):
            while not stop.is_set():
                key = cv2.waitKey(50) & 0xFF
                if key in (ord(" "), ord("q"), 27):
                    break
                if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                    key = ord("q")
                    break
        if key in (ord("q"), 27):
            stop.set()
        return True
    except cv2.error:
        print("note: no display available (cv2.imshow failed); continuing headless", file=sys.stderr)
        return False
