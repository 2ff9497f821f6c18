"""The outputs' side of the pipeline: checking output paths up front, the annotated video sink, and
writing a report whole or not at all.

Video is H.264 in a fragmented MP4 (or Matroska) through PyAV where it is installed: browsers and
QuickTime play it, and a fragment is closed every second, so a power cut or ``kill -9`` loses at
most the last second. Without PyAV, OpenCV writes MPEG-4 Part 2 (``mp4v``), which plays in VLC and
ffmpeg but not in browsers, and is unplayable until the file is closed; ``VideoOut.note`` says so.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.profile import OFF

VIDEO_EXTS = (".mp4", ".m4v", ".mov", ".mkv", ".avi")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# x264 at its fastest preset costs about what OpenCV's mp4v does (~5 ms a 720p frame, one thread)
# and makes files a third of the size; a keyframe, and so a fragment, every second
H264_OPTIONS = {"preset": "ultrafast", "crf": "23", "threads": "1"}
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}


class OutputError(Exception):
    """An output path that cannot be written; one line for the user."""


def check_writable(path: str | Path | None, what: str) -> Path | None:
    """Fail before processing starts, not after an hour of video, when an output cannot be written."""
    if not path:
        return None
    p = Path(path)
    if what == "output video" and p.suffix.lower() not in VIDEO_EXTS:
        raise OutputError(f"output video {p} must end in one of {', '.join(VIDEO_EXTS)}")
    if what == "output image" and p.suffix.lower() not in IMAGE_EXTS:
        raise OutputError(f"output image {p} must end in one of {', '.join(IMAGE_EXTS)}")
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


class _OpenCvWriter:
    """MJPG in AVI, or mp4v: what OpenCV's own FFmpeg can encode on every platform."""

    codec = "mp4v"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self._w = cv2.VideoWriter(str(path), _fourcc(path), float(fps), size)
        if not self._w.isOpened():
            raise OutputError(f"cannot write video {path} at {size[0]}x{size[1]} "
                              "(unsupported container or frame size? use .mp4 or .avi)")
        self.codec = "MJPG" if path.suffix.lower() == ".avi" else "mp4v"

    def write(self, frame: np.ndarray) -> None:
        self._w.write(frame)

    def close(self) -> None:
        self._w.release()


class _H264Writer:
    """H.264 (libx264) through PyAV, in a fragmented MP4 or a Matroska file: playable everywhere, and
    everything up to the last closed fragment (a second) survives a crash."""

    codec = "h264"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        from fractions import Fraction

        import av

        w, h = size[0] + size[0] % 2, size[1] + size[1] % 2  # 4:2:0 chroma needs even sides: pad by a pixel
        self._pad = (h - size[1], w - size[0])
        options = FRAGMENTED if path.suffix.lower() in (".mp4", ".m4v", ".mov") else {}
        self._c = av.open(str(path), "w", options=options)
        try:
            rate = Fraction(fps).limit_denominator(1001)
            self._s = self._c.add_stream("libx264", rate=rate)
            self._s.width, self._s.height, self._s.pix_fmt = w, h, "yuv420p"
            self._s.options = {**H264_OPTIONS, "g": str(max(1, round(fps)))}
            self._s.codec_context.open()  # fail here, not at the first frame
        except BaseException:
            self._c.close()
            raise
        self._av = av

    def write(self, frame: np.ndarray) -> None:
        if any(self._pad):
            frame = cv2.copyMakeBorder(frame, 0, self._pad[0], 0, self._pad[1], cv2.BORDER_REPLICATE)
        for packet in self._s.encode(self._av.VideoFrame.from_ndarray(frame, format="bgr24")):
            self._c.mux(packet)

    def close(self) -> None:
        try:
            for packet in self._s.encode():
                self._c.mux(packet)
        finally:
            self._c.close()


def _writer(path: Path, fps: float, size: tuple[int, int]):
    """H.264 where PyAV can write it (not for .avi), else OpenCV's mp4v or MJPG."""
    if path.suffix.lower() != ".avi":
        try:
            return _H264Writer(path, fps, size)
        except Exception:  # no PyAV, or a build without libx264: OpenCV still can
            pass
    return _OpenCvWriter(path, fps, size)


class VideoOut:
    """Annotated video, same size and fps as the input, encoded on its own thread.

    Encoding a 1360x800 frame costs several milliseconds; a bounded queue lets it overlap the next
    frame's recognition without ever dropping a frame (``write`` blocks when the encoder lags).
    Frames of another size (stills) are resized. The encoder's time is booked as "write".
    ``codec`` says what is written; ``note`` is a line for the user when it is not H.264.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], queue_size: int = 6, profiler=None) -> None:
        self.path, self.size = path, size
        self.frames = 0
        self.profiler = profiler or OFF
        self._w = _writer(path, fps, size)
        self.codec = self._w.codec
        self.note = None if self.codec == "h264" or path.suffix.lower() == ".avi" else (
            f"{path.name} is MPEG-4 Part 2 (mp4v): browsers do not play it and a crash loses it; "
            "install PyAV (pip install av) for H.264 that survives one")
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
            self.profiler.add("write", (time.perf_counter() - t0) * 1000.0)

    def close(self) -> None:
        """Flush the queue and finalise the file (mp4 index): it plays even after Ctrl-C/SIGTERM."""
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()
        self._w.close()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name beside ``path`` and rename it: readers see all or nothing."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def imwrite(path: Path, img: np.ndarray) -> bool:
    """cv2.imwrite that reports failure (it returns False, or raises for some encoders)."""
    try:
        return bool(cv2.imwrite(str(path), img))
    except cv2.error:
        return False
