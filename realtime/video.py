"""The outputs' side of the pipeline: checking output paths up front, and the annotated video sink."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.profile import OFF

VIDEO_EXTS = (".mp4", ".m4v", ".mov", ".mkv", ".avi")


class OutputError(Exception):
    """An output path that cannot be written; one line for the user."""


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
    Frames of another size (stills) are resized. The encoder's time is booked as "write".
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], queue_size: int = 6, profiler=None) -> None:
        self.path, self.size = path, size
        self.frames = 0
        self.profiler = profiler or OFF
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
            self.profiler.add("write", (time.perf_counter() - t0) * 1000.0)

    def close(self) -> None:
        """Flush the queue and finalise the file (mp4 index): it plays even after Ctrl-C/SIGTERM."""
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()
        self._w.release()


def imwrite(path: Path, img: np.ndarray) -> bool:
    """cv2.imwrite that reports failure (it returns False, or raises for some encoders)."""
    try:
        return bool(cv2.imwrite(str(path), img))
    except cv2.error:
        return False
