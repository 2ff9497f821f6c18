"""``python -m training scenes-video``: a benchmark video from still road scenes (e.g. GTSDB).

Each scene is held for a few frames with a slow zoom, so consecutive frames differ like a
drive does and the tracker has something to follow. Write it to a temporary folder: the
scenes are the benchmark's data and must not be committed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2

log = logging.getLogger(__name__)  # progress and figures; the command line prints them

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".ppm", ".bmp"}


def make_video(scenes: str, out: str, hold: int = 5, fps: float = 25.0, zoom: float = 0.012) -> int:
    files = sorted(p for p in Path(scenes).iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise FileNotFoundError(f"no scene images in {scenes}")
    first = cv2.imread(str(files[0]))
    if first is None:
        raise ValueError(f"unreadable image: {files[0]}")
    h, w = first.shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise ValueError(f"cannot write video {out}")
    n = 0
    for f in files:
        img = cv2.imread(str(f))
        if img is None:
            log.warning(f"unreadable image, skipped: {f}")
            continue
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h))
        for k in range(hold):
            m = cv2.getRotationMatrix2D((w / 2, h / 2), 0, 1.0 + zoom * k)
            writer.write(cv2.warpAffine(img, m, (w, h)) if k else img)
            n += 1
    writer.release()
    log.info(f"wrote {out}: {n} frames of {w}x{h} at {fps:g} fps from {len(files)} scenes")
    return n
