"""The learned localizer: a small CNN that proposes signs by their look, not their rim's colour.

The colour routes (``realtime.detect``) miss the signs whose rim has no usable colour: a danger
sign in fog, at dusk or at night, an orange rim the hue of the foliage behind it, a gapped rim
that merges with a red roof. At their annotated boxes the recognizer reads these signs right; what
is missing is a candidate. This net looks at the whole frame, reduced to the detector's work size
(about 680 px wide), and marks where sign centres are: a CenterNet-style heat map on a grid of 4
work pixels, with each cell's sign width, height and sub-cell offset. Its peaks become candidates
that join the colour routes' for the gate and the recognizer, which decide what is a sign.

The net is ~14k parameters, fully convolutional, and runs through LiteRT on a fixed letterboxed
input (the model file fixes its size; a frame is reduced to fit and padded). Training is
``python -m training train-locator`` (training/locator.py); the model card carries the input size,
the grid and the decoding settings.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np

from realtime.card import ModelError
from realtime.config import MODELS, DetectorConfig, LocateConfig
from realtime.preprocess import Work, as_bgr8, reduce
from realtime.types import Detection

DEFAULT_LOCATOR = MODELS / "locator.tflite"
# frame px: the detector's size limits, which the learned candidates keep too
SIZES = (float(DetectorConfig().min_size), float(DetectorConfig().max_size))


def letterbox(frame: np.ndarray, width: int, height: int, out: np.ndarray | None = None,
              work: Work | None = None, shared_min: float = LocateConfig().shared_min) -> tuple[np.ndarray, float]:
    """The frame reduced (never enlarged) to fit ``width`` x ``height``, padded right and below with
    black; and the scale applied (input px per frame px).

    ``out`` (``(height, width, 3)``, any dtype) receives it in place: the ``Locator`` passes its
    interpreter's float input, which saves a uint8 copy and a float conversion of the whole input
    (~0.15 of ~0.6 ms a 1360x800 frame). ``work``, the frame already reduced, is used instead of
    reducing it again when it fits and is within ``shared_min`` of the scale that fits.
    """
    H, W = frame.shape[:2]
    scale = min(1.0, width / W, height / H)
    if (work is not None and work.image.shape[1] <= width and work.image.shape[0] <= height
            and work.scale >= shared_min * scale):
        small, scale = work.image, work.scale
    else:
        small = frame if scale == 1.0 else reduce(frame, (round(W * scale), round(H * scale)))
    h, w = min(small.shape[0], height), min(small.shape[1], width)
    if out is None:
        out = np.zeros((height, width, 3), np.uint8)
    else:
        out[h:] = 0
        out[:h, w:] = 0
    out[:h, :w] = small[:h, :w]
    return out, scale


def decode(out: np.ndarray, stride: int, config: LocateConfig, scale: float = 1.0,
           sizes: tuple[float, float] = SIZES) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (frame px, (N, 4)) and heats of the map's peaks, best first, longer sides within ``sizes``.

    ``out`` is the net's (H, W, 5) output: heat logit, log width, log height (input px), and the
    centre's offset within its cell (x, y, in cells). A peak is a cell whose heat is the highest of
    its 3x3 neighbourhood.
    """
    logit = np.ascontiguousarray(out[..., 0], np.float32)
    peak = (logit >= cv2.dilate(logit, np.ones((3, 3), np.uint8))) & (logit >= _logit(config.min_heat))
    ys, xs = np.nonzero(peak)
    if not len(ys):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    order = np.argsort(-logit[ys, xs], kind="stable")[: max(0, config.max_candidates * 2)]
    ys, xs = ys[order], xs[order]
    cell = out[ys, xs]
    w, h = np.exp(np.clip(cell[:, 1:3], -1.0, 7.0)).T
    cx, cy = (xs + cell[:, 3]) * stride, (ys + cell[:, 4]) * stride
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) / scale
    heat = 1.0 / (1.0 + np.exp(-cell[:, 0]))
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    ok = np.flatnonzero((side >= sizes[0]) & (side <= sizes[1]))[: config.max_candidates]
    return boxes[ok].astype(np.float32), heat[ok].astype(np.float32)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


class Locator:
    """Frame in, learned sign candidates out (``colour`` "learned", ``candidate_score`` the heat)."""

    def __init__(self, model: Path | str | None = None, config: LocateConfig | None = None, threads: int = 1,
                 sizes: tuple[float, float] = SIZES) -> None:
        self.path = Path(model) if model is not None else DEFAULT_LOCATOR
        if not self.path.is_file():
            raise ModelError(f"locator model not found: {self.path}")
        card = self.path.with_suffix(".json")
        try:
            self.card = json.loads(card.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the locator's card {card}: {exc}") from None
        loc = self.card.get("locator") if isinstance(self.card, dict) else None
        if not loc:
            raise ModelError(f"{self.path}: its card describes no locator (is it a recognizer or a gate?)")
        self.width, self.height = int(loc["input_width"]), int(loc["input_height"])
        self.stride = int(loc["stride"])
        # the card's decoding settings are those it was trained and scored with; a config overrides them
        self.config = config or LocateConfig(**loc.get("decode", {}))
        self.sizes = sizes
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._it = Interpreter(model_path=str(self.path), num_threads=threads)
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load LiteRT model {self.path}: {exc}") from None
        self._in = self._it.get_input_details()[0]
        self._out = self._it.get_output_details()[0]["index"]
        self._lock = threading.Lock()  # one interpreter: one call at a time
        if tuple(self._in["shape"][1:]) != (self.height, self.width, 3):
            raise ModelError(f"{self.path}: input {tuple(self._in['shape'])} does not match its card "
                             f"({self.height}x{self.width})")

    def heat_map(self, frame: np.ndarray, work: Work | None = None) -> tuple[np.ndarray, float]:
        """The net's raw (H, W, 5) output for a frame, and the letterbox scale (``work``: see
        ``letterbox``)."""
        frame = as_bgr8(frame)
        with self._lock:
            buf = self._it.tensor(self._in["index"])()[0]  # the input buffer itself, written in place
            try:
                scale = letterbox(frame, self.width, self.height, out=buf, work=work,
                                  shared_min=self.config.shared_min)[1]
            finally:
                del buf  # LiteRT refuses to invoke while a view of its buffers is alive
            self._it.invoke()
            return self._it.get_tensor(self._out)[0], scale

    def __call__(self, frame: np.ndarray, work: Work | None = None) -> list[Detection]:
        """Candidates of a frame; ``work``, the frame already reduced (the detector's), saves reducing
        it again where it fits the net's input."""
        H, W = frame.shape[:2]
        if min(H, W) == 0:  # nothing to letterbox (the detector, too, returns nothing for it)
            return []
        out, scale = self.heat_map(frame, work)
        boxes, heat = decode(out, self.stride, self.config, scale, self.sizes)
        boxes = np.clip(boxes, 0, [W, H, W, H])
        return [Detection(box=tuple(b), colour="learned", candidate_score=float(s))
                for b, s in zip(boxes.tolist(), heat.tolist()) if b[2] - b[0] >= 1 and b[3] - b[1] >= 1]
