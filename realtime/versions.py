"""The library versions a figure was measured with, recorded beside it.

OpenCV 5.1 changed what the renderer drew and how fast the detector ran (docs/BENCHMARKS.md), so
a benchmark or an evaluation that does not say which versions it ran on cannot be compared with
another. Read from the installed distributions' metadata: importing TensorFlow only to ask its
version would cost seconds.
"""

from __future__ import annotations

import platform
from importlib import metadata

import cv2
import numpy as np

DISTRIBUTIONS = ("tensorflow", "keras", "ai-edge-litert", "scikit-image")


def library_versions() -> dict[str, str]:
    """Python, NumPy and the OpenCV actually imported, then the other libraries the figures depend on
    ("-" where one is not installed)."""
    out = {"python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__}
    for name in DISTRIBUTIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def one_line(versions: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in versions.items())
