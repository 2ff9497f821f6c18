"""``detect-bench FOLDER``: the proposers' time per still on one core (CPU and wall): the colour
detector, the learned localizer reducing the frame itself, and both as the cascade runs them
(sharing the detector's reduced frame)."""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from realtime.cli.args import positive_int

HELP = "the proposers' time per still image on one core"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="folder of .jpg, .png or .ppm images")
    p.add_argument("--images", type=positive_int, default=None, metavar="N",
                   help="time about N images spread over the folder (default: all)")


def _time(fn, frames: list[np.ndarray]) -> tuple[list[float], list[float], list[int]]:
    """CPU and wall seconds and output length of ``fn`` on every frame, three passes (the median is
    robust to a busy neighbour), after five warm-up calls."""
    for f in frames[:5]:
        fn(f)
    cpu, wall, n = [], [], []
    for _ in range(3):
        for f in frames:
            t0, p0 = time.perf_counter(), time.process_time()
            n.append(len(fn(f)))
            cpu.append(time.process_time() - p0)
            wall.append(time.perf_counter() - t0)
    return cpu, wall, n


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from realtime.detect import Detector
    from realtime.locate import DEFAULT_LOCATOR, Locator
    from realtime.source import SourceError

    folder = Path(args.folder)
    if not folder.is_dir():
        raise SourceError(f"{folder} is not a folder of images")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png", ".ppm"))
    if args.images is not None:
        paths = paths[:: max(1, len(paths) // args.images)]
    cv2.setNumThreads(1)
    frames = [f for f in (cv2.imread(str(p)) for p in paths) if f is not None]
    if not frames:
        raise SourceError(f"no readable .jpg, .png or .ppm images in {folder}")
    detector = Detector()
    stages = [("detect", detector)]
    if DEFAULT_LOCATOR.is_file():
        locator = Locator(threads=1)

        def both(frame: np.ndarray) -> list:  # as the cascade runs them: one reduction
            work = detector.work(frame)
            return detector(frame, work=work) + locator(frame, work=work)

        stages += [("locate", locator), ("detect + locate (one reduction)", both)]
    for name, fn in stages:
        cpu, wall, n = _time(fn, frames)
        print(f"{name}: {len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}, 3 passes: CPU mean "
              f"{np.mean(cpu) * 1e3:.2f} ms, median {np.median(cpu) * 1e3:.2f} ms; wall mean "
              f"{np.mean(wall) * 1e3:.2f} ms, median {np.median(wall) * 1e3:.2f} ms; {np.mean(n):.1f} "
              f"candidates/frame (OpenCV {cv2.__version__}, NumPy {np.__version__})")
    return 0
