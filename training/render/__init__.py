"""Synthetic signs, road scenes and drive-by clips with exact ground truth (no TensorFlow needed).

They feed the detector and pipeline tests, the demo video and the soak benchmark: every
frame is reproducible from its seed and every box is the plate's true pixel extent.
"""

from __future__ import annotations

from typing import Any

from training.render.pictograms import DISTRACTOR_KINDS, contact_sheet, draw_distractor_sign, draw_sign, tight_box
from training.render.scene import render_scene

_VIDEO = ("DriveBy", "render_driveby", "write_driveby")

__all__ = [
    "DISTRACTOR_KINDS",
    "DriveBy",
    "contact_sheet",
    "draw_distractor_sign",
    "draw_sign",
    "render_driveby",
    "render_scene",
    "tight_box",
    "write_driveby",
]


def __getattr__(name: str) -> Any:
    # imported lazily: the still-scene renderer does not need the video module
    if name in _VIDEO:
        from training.render import video

        return getattr(video, name)
    raise AttributeError(name)
