"""Stage 0: frames in. One ``Source`` for webcams, video files, image folders, single images and streams.

Capture runs in its own thread so decoding overlaps recognition (OpenCV releases the GIL while it
decodes). Live sources keep only the newest frames, so a slow consumer skips frames instead of
falling seconds behind; files deliver every frame (or every ``stride``-th) in order.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp"})
STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
_OPEN_TIMEOUT_MS = 5000


log = logging.getLogger(__name__)  # warnings about damaged input; the command line prints them

class SourceError(Exception):
    """A source that cannot be opened or read; the message is one line meant for the user."""


@dataclass
class Frame:
    """One captured frame. ``t`` is frame/fps for files, wall-clock seconds since opening otherwise."""

    index: int  # frame number in the source (counts skipped frames, so gaps show drops/stride)
    t: float
    name: str  # source name; the image file name for folders
    image: np.ndarray
    decode_ms: float = 0.0  # time the capture thread spent producing this frame
    captured: float = 0.0  # time.perf_counter() when the reader handed the frame over (0.0: unknown)


# A reader returns the next (image, name) or None at the end; the capture thread calls it.
Reader = Callable[[], "tuple[np.ndarray, str] | None"]


class Source:
    """Iterate ``Frame`` objects produced by ``reader`` on a background thread.

    ``live`` sources use a ring buffer of ``queue_size`` (default 1): when the consumer is slow the
    oldest frames are dropped and counted in ``dropped``. Other sources block the capture thread
    when the queue is full, so no frame is lost.
    """

    # Applied to every image in the capture thread, inside ``decode_ms`` (the bench's resolution
    # sweep resizes here); set it, and ``size`` to match, before the first read.
    transform: Callable[[np.ndarray], np.ndarray] | None = None

    def __init__(self, reader: Reader, *, kind: str, name: str, live: bool, queue_size: int | None = None,
                 fps: float | None = None, size: tuple[int, int] | None = None,
                 frame_count: int | None = None, stride: int = 1, close: Callable[[], None] | None = None,
                 path: Path | None = None) -> None:
        self.kind, self.name, self.live = kind, name, live
        self.path = path  # file or folder on disk, None for cameras and streams
        self.fps, self.size, self.frame_count = fps, size, frame_count  # size is (width, height)
        self.stride = max(1, int(stride))
        self.queue_size = max(1, queue_size if queue_size is not None else (1 if live else 8))
        self.dropped = 0  # live frames discarded because the consumer was busy
        self.skipped_files = 0  # folders: non-image files ignored
        self.unreadable = 0  # folders: image files that failed to decode
        self.max_queued = 0  # high-water mark of the queue, for tests and diagnostics
        self.error: BaseException | None = None
        self._reader = reader
        self._release = close
        self._queue: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._done = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()

    # -- properties ---------------------------------------------------------------------------
    @property
    def width(self) -> int | None:
        return self.size[0] if self.size else None

    @property
    def height(self) -> int | None:
        return self.size[1] if self.size else None

    @property
    def expected_frames(self) -> int | None:
        """Frames this source will deliver (known for files), after stride."""
        if self.frame_count is None or self.live:
            return None
        return (self.frame_count + self.stride - 1) // self.stride

    @property
    def ended(self) -> bool:
        """True once the capture thread finished and every frame was consumed."""
        with self._cond:
            return self._done and not self._queue

    # -- capture thread -----------------------------------------------------------------------
    def start(self) -> Source:
        if self._thread is None:
            self._t0 = time.monotonic()
            self._thread = threading.Thread(target=self._capture, name=f"capture:{self.name}", daemon=True)
            self._thread.start()
        return self

    def _capture(self) -> None:
        index = 0
        try:
            while not self._stop.is_set():
                t_start = time.perf_counter()
                item = self._reader()
                if item is None:
                    break
                captured = time.perf_counter()  # the start of the capture-to-overlay latency
                image, name = item
                if self.transform is not None:
                    image = self.transform(image)
                ms = (time.perf_counter() - t_start) * 1000.0
                live_clock = self.live or not self.fps
                t = time.monotonic() - self._t0 if live_clock else index * self.stride / self.fps
                self._put(Frame(index * self.stride, t, name, image, ms, captured))
                index += 1
        except BaseException as exc:  # surfaced to the consumer, never lost in a thread
            self.error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _put(self, frame: Frame) -> None:
        with self._cond:
            if self.live:
                if len(self._queue) >= self.queue_size:
                    self._queue.popleft()
                    self.dropped += 1
            else:
                while len(self._queue) >= self.queue_size and not self._stop.is_set():
                    self._cond.wait(0.1)
            self._queue.append(frame)
            self.max_queued = max(self.max_queued, len(self._queue))
            self._cond.notify_all()

    # -- consumer -----------------------------------------------------------------------------
    def read(self, timeout: float | None = None) -> Frame | None:
        """Next frame, or None at the end of the source (or after ``timeout`` seconds)."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._queue:
                if self._done:
                    if self.error is not None:
                        err, self.error = self.error, None
                        raise err
                    return None
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    return None
                self._cond.wait(0.1 if wait is None else min(wait, 0.1))
            frame = self._queue.popleft()
            self._cond.notify_all()
            return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        """Stop the capture thread and release the device/file."""
        self._stop.set()
        with self._cond:
            self._queue.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._release is not None:
            self._release()
            self._release = None

    def __enter__(self) -> Source:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        parts = [f"{self.kind} {self.name}"]
        if self.size:
            parts.append(f"{self.size[0]}x{self.size[1]}")
        if self.fps:
            parts.append(f"{self.fps:.1f} fps")
        if self.frame_count is not None:
            parts.append(f"{self.frame_count} frames")
        return ", ".join(parts)


# -- opening ----------------------------------------------------------------------------------
def open_source(spec: str | int | os.PathLike, *, stride: int = 1, queue_size: int | None = None,
                reconnects: int = 3, reconnect_delay: float = 1.0) -> Source:
    """Open SOURCE: a camera index ("0"), a stream URL, a video file, an image folder or an image.

    Raises ``SourceError`` with a one-line message when it cannot be opened. The capture thread
    starts on the first ``read()``/iteration.
    """
    text = str(spec)
    if isinstance(spec, int) or text.isdigit():
        return _open_capture(int(text), kind="camera", name=f"camera {text}", stride=1, queue_size=queue_size,
                             reconnects=reconnects, reconnect_delay=reconnect_delay)
    if text.lower().startswith(STREAM_PREFIXES):
        return _open_capture(text, kind="stream", name=_redact(text), stride=1, queue_size=queue_size,
                             reconnects=reconnects, reconnect_delay=reconnect_delay)
    path = Path(text)
    if not path.exists():
        raise SourceError(f"source not found: {text}")
    if path.is_dir():
        return _open_folder(path, stride, queue_size)
    if path.suffix.lower() in IMAGE_EXTS:
        return _open_image(path)
    return _open_video(path, stride, queue_size)


def _redact(url: str) -> str:
    """Stream URL without credentials, for logs and event files."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


def _capture_info(cap: cv2.VideoCapture) -> tuple[float | None, tuple[int, int] | None, int | None]:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return (fps if 0 < fps < 1000 else None), ((w, h) if w > 0 and h > 0 else None), (n if n > 0 else None)


def _open_video(path: Path, stride: int, queue_size: int | None) -> Source:
    if not os.access(path, os.R_OK):
        raise SourceError(f"cannot read {path}: permission denied")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise SourceError(_unreadable_video(path))
    ok, first = cap.read()
    if not ok or first is None:
        cap.release()
        raise SourceError(f"{_unreadable_video(path)} (no frames decoded)")
    fps, size, count = _capture_info(cap)
    size = (first.shape[1], first.shape[0])
    pending: list[np.ndarray] = [first]
    name = path.name
    pos = [1]  # frames decoded or grabbed so far, to notice a video that ends before its header says

    def read() -> tuple[np.ndarray, str] | None:
        if pending:
            return pending.pop(), name
        for _ in range(stride - 1):  # skip on purpose: grab() avoids the colour conversion
            if not cap.grab():
                return _ended()
            pos[0] += 1
        ok, img = cap.read()
        if not ok or img is None:
            return _ended()
        pos[0] += 1
        return img, name

    def _ended() -> None:
        # Frame counts of some containers are estimates (off by a frame or two); a bigger gap is damage.
        if count is not None and pos[0] < count - max(2, count // 50):
            log.warning(f"{name} ended after {pos[0]} of {count} frames (file truncated or corrupt?); "
                  "kept what was decoded")
        return None

    return Source(read, kind="video", name=name, live=False, queue_size=queue_size, fps=fps, size=size,
                  frame_count=count, stride=stride, close=cap.release, path=path)


# Leading bytes of containers FFmpeg reads: a file that has one but does not open is damaged, not foreign.
_VIDEO_MAGIC = ((4, b"ftyp"), (0, b"RIFF"), (0, b"\x1a\x45\xdf\xa3"), (0, b"FLV"), (0, b"\x00\x00\x01\xba"),
                (0, b"OggS"))


def _unreadable_video(path: Path) -> str:
    """One line saying why a video file does not open: damaged container, or not a video at all."""
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if not head:
        return f"not a video OpenCV can read (empty file): {path}"
    if any(head[at:at + len(magic)] == magic for at, magic in _VIDEO_MAGIC):
        return f"video is truncated or corrupt (its container does not open): {path}"
    return f"not a video OpenCV can read: {path}"


def truncated_jpeg(path: Path) -> bool:
    """A JPEG without its end marker: libjpeg decodes it in part (grey below the cut) without an error."""
    try:
        with path.open("rb") as fh:
            if fh.read(2) != b"\xff\xd8":
                return False
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64))
            tail = fh.read().rstrip(b"\x00")
    except OSError:
        return False
    return not tail.endswith(b"\xff\xd9")


def _open_image(path: Path) -> Source:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SourceError(f"cannot read image: {path}")
    if truncated_jpeg(path):
        log.warning(f"truncated image, using the part that decodes: {path}")
    pending = [img]

    def read() -> tuple[np.ndarray, str] | None:
        return (pending.pop(), path.name) if pending else None

    return Source(read, kind="image", name=path.name, live=False, size=(img.shape[1], img.shape[0]),
                  frame_count=1, path=path)


def _open_folder(path: Path, stride: int, queue_size: int | None) -> Source:
    entries = sorted(p for p in path.iterdir() if p.is_file())
    images = [p for p in entries if p.suffix.lower() in IMAGE_EXTS]
    if not images:
        raise SourceError(f"no images in folder: {path}")
    images = images[::max(1, stride)]
    it = iter(images)
    src: Source

    def read() -> tuple[np.ndarray, str] | None:
        for f in it:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                src.unreadable += 1
                log.warning(f"unreadable image, skipped: {f}")
                continue
            if truncated_jpeg(f):
                log.warning(f"truncated image, using the part that decodes: {f}")
            return img, f.name
        return None

    src = Source(read, kind="folder", name=path.name or str(path), live=False, queue_size=queue_size,
                 frame_count=len(images), stride=1, path=path)
    src.skipped_files = len(entries) - len(images)
    return src


def _open_capture(target: int | str, *, kind: str, name: str, stride: int, queue_size: int | None,
                  reconnects: int, reconnect_delay: float) -> Source:
    def connect() -> cv2.VideoCapture | None:
        if isinstance(target, int):
            cap = cv2.VideoCapture(target)
        else:
            cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, _OPEN_TIMEOUT_MS,
                                                          cv2.CAP_PROP_READ_TIMEOUT_MSEC, _OPEN_TIMEOUT_MS])
        if cap.isOpened():
            return cap
        cap.release()
        return None

    cap = connect()
    if cap is None:
        what = f"camera {target}" if kind == "camera" else f"stream {name}"
        raise SourceError(f"cannot open {what}")
    fps, size, _ = _capture_info(cap)
    state = {"cap": cap}

    def read_once() -> np.ndarray | None:
        c = state["cap"]
        ok, img = c.read() if c is not None else (False, None)
        return img if ok and img is not None else None

    def reconnect() -> bool:
        if state["cap"] is not None:
            state["cap"].release()
            state["cap"] = None
        time.sleep(reconnect_delay)
        state["cap"] = connect()
        return state["cap"] is not None

    def release() -> None:
        if state["cap"] is not None:
            state["cap"].release()
            state["cap"] = None

    read = reconnecting_reader(read_once, reconnect, name, reconnects)
    return Source(read, kind=kind, name=name, live=True, queue_size=queue_size, fps=fps, size=size,
                  close=release)


def reconnecting_reader(read_once: Callable[[], np.ndarray | None], reconnect: Callable[[], bool], name: str,
                        attempts: int) -> Reader:
    """Wrap a live read so a dropped stream is reopened up to ``attempts`` times in a row, then ends.

    The attempt counter resets after every good frame: a long run survives several short outages.
    """
    def read() -> tuple[np.ndarray, str] | None:
        failures = 0
        while True:
            img = read_once()
            if img is not None:
                return img, name
            if failures >= attempts:
                log.warning(f"{name} stopped; gave up after {attempts} reconnect attempts")
                return None
            failures += 1
            log.warning(f"{name} stopped; reconnecting ({failures}/{attempts})")
            reconnect()

    return read
