"""A window for the live view: whether one can be shown, and showing frames in it (q quits, space pauses)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading

import cv2
import numpy as np

WINDOW = "traffic signs (q quits, space pauses)"


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


class Viewer:
    """Shows each frame; ``show`` returns False once the user quits (q, Esc, closing the window)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.available = True

    def show(self, img: np.ndarray) -> bool:
        if not self.available:
            return True
        try:
            cv2.imshow(WINDOW, img)
            key = cv2.waitKey(1) & 0xFF
            if key == ord(" "):
                key = self._paused()
        except cv2.error:
            print("note: no display available (cv2.imshow failed); continuing headless", file=sys.stderr)
            self.available = False
            return True
        return key not in (ord("q"), 27)

    def _paused(self) -> int:
        while not self.stop.is_set():
            key = cv2.waitKey(50) & 0xFF
            if key in (ord(" "), ord("q"), 27):
                return key
            if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                return ord("q")
        return 0

    def close(self) -> None:
        if self.available:
            with contextlib.suppress(cv2.error):
                cv2.destroyAllWindows()
