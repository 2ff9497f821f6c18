"""The closer look: around the candidates the gate likes, the detector's own routes on a finer grid.

The detector judges colour on a coarse grid: a 1360 px frame is reduced to 680 px and pooled 2x2,
so one cell covers 4x4 frame pixels and a 20 px sign spans five cells. At that grain two small
signs on one pole merge into one blob, a sign's rim merges with its surroundings, and a box is a
cell or two off, which at 20 px already costs IoU 0.6. The gate, though, tells which of the ~200
candidates might be signs. So around the few it scores highly (``CloserLook.seeds``) the same
detector looks again on a grid up to 4x finer: each seed's neighbourhood is cut out, enlarged, and all of
them packed into one small mosaic that the detector searches in one call (one call, not one per
patch: the detector's fixed cost per call, ~1.2 ms, would otherwise dominate). Its candidates,
mapped back to the frame, join the coarse ones; the gate scores them and the recognizer sees both.

Cross-validated on GTSDB the look raises end-to-end recall (docs/DETECTOR.md has the figures) for
~7 ms a 1360x800 frame, more than one more detector call would.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from realtime.boxes import greedy_keep, iou_matrix
from realtime.config import CloserLookConfig, DetectorConfig
from realtime.detect import Detector, white_gains
from realtime.preprocess import as_bgr8, work_scale
from realtime.types import Detection


class CloserLook:
    """Seeds from gated candidates, and the closer look around them: frame + seed boxes -> candidates."""

    def __init__(self, detector: DetectorConfig | None = None, config: CloserLookConfig | None = None) -> None:
        self.coarse = detector or DetectorConfig()
        self.config = config or CloserLookConfig()
        self._fine: dict[int, Detector] = {}  # by achromatic window, which follows the frame width

    def seeds(self, boxes: np.ndarray, gate: np.ndarray) -> np.ndarray:
        """The boxes worth a closer look, best-gated first: (K, 4) float32."""
        c = self.config
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        g = np.asarray(gate, np.float32)
        ok = np.flatnonzero((g >= c.min_gate) & (boxes[:, 2] - boxes[:, 0] <= c.max_width))
        chosen = greedy_keep(iou_matrix(boxes[ok], boxes[ok]) >= c.seed_iou, g[ok])[: c.max_seeds]
        return boxes[ok[chosen]]

    def _detector(self, frame_width: int) -> Detector:
        """The coarse settings on the finer grid: no reduction, sizes in patch px, the same
        achromatic window in frame px, and room for every patch's candidates."""
        c, k = self.coarse, self.config.scale  # the window and the size limits follow the full scale
        coarse_cell = c.pool / work_scale(frame_width, c.work_width, c.whole_factor_min)  # frame px
        block = max(3, int(round(c.achromatic_block * coarse_cell * k / c.pool)) | 1)
        if block not in self._fine:
            self._fine[block] = Detector(replace(
                # min_size in patch px: the frame-px floor is applied when mapping back
                c, work_width=1 << 20, white_balance=0.0, min_size=c.min_size,
                max_size=max(1, round(c.max_size * k)), achromatic_block=block,
                max_candidates=max(1, c.max_candidates // 4) * max(1, self.config.max_seeds)))
        return self._fine[block]

    def __call__(self, frame: np.ndarray, seeds: np.ndarray) -> list[Detection]:
        """Candidates found around ``seeds`` (frame-pixel boxes), in frame pixels."""
        c = self.config
        seeds = np.asarray(seeds, np.float32).reshape(-1, 4)
        if not len(seeds):
            return []
        frame = as_bgr8(frame)
        H, W = frame.shape[:2]
        side = np.maximum(seeds[:, 2] - seeds[:, 0], seeds[:, 3] - seeds[:, 1])
        # a wide seed is mostly a sign merged with what is beside it, not a sign framed off: less margin
        grow = (np.where(side > c.full_width, c.wide_margin, c.margin) * side)[:, None]
        reg = np.round(np.concatenate([seeds[:, :2] - grow, seeds[:, 2:] + grow], axis=1)).astype(np.int64)
        reg = np.clip(reg, 0, [W, H, W, H])
        up = np.clip(c.scale * c.full_width / np.maximum(side, 1), 1.0, c.scale)  # patch px per frame px
        size = np.round((reg[:, 2:] - reg[:, :2]) * up[:, None]).astype(np.int64)  # patch w, h
        area = np.prod(size + 2 * c.pad, axis=1)
        keep, total = [], 0
        for i in np.flatnonzero((size >= 4).all(axis=1)):  # in seed order: best-gated first
            if total + area[i] <= c.max_area:
                keep.append(i)
                total += int(area[i])
        if not keep:
            return []
        keep = np.array(keep)
        # shelf packing, tallest first: rows of up to row_width; ``at`` is where each patch itself starts
        order = keep[np.argsort(-size[keep, 1], kind="stable")]
        p, sep = c.pad, c.separator
        at = np.zeros((len(seeds), 2), np.int64)
        x = y = sep
        row_h = width = 0
        for i in order:
            tw, th = size[i] + 2 * p
            if x > sep and x + tw + sep > c.row_width:
                x, y, row_h = sep, y + row_h + sep, 0
            at[i] = x + p, y + p
            x += tw + sep
            row_h, width = max(row_h, th), max(width, x)
        mosaic = np.zeros((y + row_h + sep, width, 3), np.uint8)
        for i in order:
            (x1, y1, x2, y2), (w, h), (px, py) = reg[i], size[i], at[i]
            patch = cv2.resize(frame[y1:y2, x1:x2], (int(w), int(h)), interpolation=cv2.INTER_LINEAR)
            mosaic[py - p:py + h + p, px - p:px + w + p] = cv2.copyMakeBorder(patch, p, p, p, p, cv2.BORDER_REPLICATE)
        # the frame's white balance, not the mosaic's own: the mosaic is mostly signs, not a scene
        # (from every 8th pixel: the same means within a percent or two, at a quarter of a full pass's cost)
        step = c.white_balance_step
        thumb = cv2.resize(frame, (max(1, W // step), max(1, H // step)), interpolation=cv2.INTER_NEAREST)
        gains = white_gains(thumb, self.coarse.white_balance, self.coarse.white_gain_range)
        if gains is not None:
            mosaic = cv2.transform(mosaic, np.diag(gains).astype(np.float32))
        found = self._detector(W)(mosaic)
        if not found:
            return []
        boxes = np.array([d.box for d in found], np.float32)
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        out = []
        lo, hi = c.size_range
        for i in order:
            (px, py), (w, h) = at[i], size[i]
            inside = np.flatnonzero((centre[:, 0] >= px) & (centre[:, 0] < px + w)
                                    & (centre[:, 1] >= py) & (centre[:, 1] < py + h))
            if not len(inside):
                continue
            origin = np.tile(reg[i, :2], 2)
            b = np.clip((boxes[inside] - [px, py, px, py]) / up[i] + origin, origin,
                        np.tile(reg[i, 2:], 2))  # clipped: boxes reaching into the pad
            bw = b[:, 2] - b[:, 0]
            fits = (bw >= lo * side[i]) & (bw <= hi * side[i])
            fits &= np.maximum(bw, b[:, 3] - b[:, 1]) >= self.coarse.min_size  # the detector's own floor
            out += [replace(found[j], box=tuple(box)) for j, box in zip(inside[fits], b[fits].tolist())]
        return out
