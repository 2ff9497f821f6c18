"""Stage 1: localise sign candidates by colour and shape, with no learning, for any frame.

Colour masks are computed on a reduced copy of the frame (about 680 px wide: a 16 px sign is
still 8 px there) at several saturation levels, connected components and the insides of red
rims are filtered by size and aspect in one vectorised step, and only the survivors get a
shape test from their convex hull. Boxes are then refined on the full-resolution pixels around
each candidate so small signs still reach IoU >= 0.6. Design, figures and what falls short
(speed: ~50 ms per 1360x800 frame, not the 5 ms target) are in docs/DETECTOR.md.

Routes: red (prohibitory rings, danger/yield triangles, stop), blue (mandatory discs), yellow
(priority-road diamond: the yellow core is found and grown to the white border) and
achromatic (end-of-restriction signs: a bright disc inside a dark ring).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from realtime.preprocess import as_bgr8
from realtime.types import Detection

SHAPES = ("circle", "triangle", "inverted_triangle", "octagon", "diamond")

# Shape signatures of a convex hull: fill of its bounding box, and its width at 20%, 50% and 80%
# of the height relative to the widest row. Rectangles are a negative template.
_TEMPLATES: dict[str, tuple[float, float, float, float]] = {
    "circle": (0.785, 0.80, 1.00, 0.80),
    "triangle": (0.50, 0.25, 0.55, 0.85),
    "inverted_triangle": (0.50, 0.85, 0.55, 0.25),
    "octagon": (0.83, 0.82, 1.00, 0.82),
    "diamond": (0.50, 0.42, 1.00, 0.42),
    "rectangle": (0.97, 1.00, 1.00, 1.00),
}
_T_ARRAY = np.array(list(_TEMPLATES.values()))
_T_WEIGHTS = np.array([1.6, 1.0, 0.6, 1.0])  # fill matters most; mid-height width least
# Which shapes each colour route may report (others are scored but rejected).
_ROUTE_SHAPES: dict[str, tuple[str, ...]] = {
    "red": ("circle", "triangle", "inverted_triangle", "octagon"),
    "blue": ("circle", "octagon"),
    "yellow": ("diamond",),
    "achromatic": ("circle", "octagon"),
}


@dataclass(frozen=True)
class DetectorConfig:
    """Every threshold of the localiser, in one place so evaluations can record and vary them."""

    work_width: int = 680  # masks are computed at about this width; wider frames are reduced
    min_size: int = 14  # sign box width/height limits, in frame pixels
    max_size: int = 250
    max_aspect: float = 1.7  # long side / short side of a sign box
    # colour masks (OpenCV HSV: H 0..180, S and V 0..255); chroma = max(B,G,R) - min(B,G,R)
    red_hue: tuple[int, int] = (10, 165)  # red if H <= first or H >= second
    blue_hue: tuple[int, int] = (96, 130)
    yellow_hue: tuple[int, int] = (12, 32)
    red_levels: tuple[int, ...] = (28, 60, 110)  # minimum saturation of each mask level
    red_open_level: int | None = 1  # also use this red level morphologically opened (None: off)
    blue_levels: tuple[int, ...] = (50, 100)
    yellow_levels: tuple[int, ...] = (70,)
    min_chroma: int = 8  # max(B,G,R) - min(B,G,R): saturation is noise on near-black pixels
    min_value: int = 15
    yellow_core_saturation: int = 110  # mean S of a priority-road core
    yellow_core_value_cv: float = 0.15  # its brightness std / mean
    yellow_grow: float = 2.0  # yellow core -> white-bordered diamond
    hole_levels: int = 3  # the loosest red levels also searched for white insides
    hole_grow: float = 1.5  # white inside of a red ring -> outer rim (median on GTSDB dev folds)
    hole_grow_triangle: float = 1.7  # the same for both triangles, whose borders are wider
    white_balance: float = 0.5  # exponent of the grey-world gains (0 = off)
    max_noise: float = 16.0  # mean |pixel - 3x3 mean| of the reduced frame above which it is median-filtered
    surround_max: float = 0.5  # mask share around a candidate at which its score drops to zero
    solid_min: float = 0.7  # yellow cores and white discs are solid; foliage is not
    achromatic: bool = False  # off: on GTSDB its false candidates crowd out true ones
    achromatic_max: int = 4  # at most this many achromatic candidates a frame (noisy route)
    achromatic_block: int = 31  # local-contrast window (working px) for bright discs
    achromatic_offset: int = 18  # brighter than the local mean by this much
    achromatic_max_saturation: int = 60
    min_shape_score: float = 0.35
    small_px: int = 10  # components narrower than this (working px) get at least small_score
    small_score: float = 0.4
    min_candidate_score: float = 0.25
    # near-duplicates only: a looser merge lets a badly framed box with a better score replace a
    # well framed one (measured on the development folds); the recognizer de-duplicates after the CNN
    nms_iou: float = 0.8
    nested_cover: float | None = None  # e.g. 0.8: a box this much inside a better one of similar size is dropped
    max_candidates: int = 64
    # share of max_candidates reserved for each route, so red clutter cannot crowd out a blue sign
    route_share: dict = field(default_factory=lambda: {"red": 0.5, "blue": 0.2, "yellow": 0.15, "achromatic": 0.1})
    refine: bool = True  # re-measure each box on the full-resolution pixels
    keep_coarse: bool = True  # also keep the unrefined box when refining moved it
    square_circles: bool = True  # widen lopsided red-circle boxes to a square


def _shape_features(hull: np.ndarray) -> tuple[float, float, float, float] | None:
    """Fill ratio and normalised widths at 20/50/80% of the height of a convex polygon."""
    pts = hull.reshape(-1, 2).astype(np.float64)
    if len(pts) < 3:
        return None
    x0, y0 = pts.min(axis=0)
    w, hh = pts.max(axis=0) - (x0, y0)
    if w <= 0 or hh <= 0:
        return None
    fill = cv2.contourArea(pts.astype(np.float32)) / (w * hh)
    p0, p1 = pts, np.concatenate([pts[1:], pts[:1]])
    lo, hi = np.minimum(p0[:, 1], p1[:, 1]), np.maximum(p0[:, 1], p1[:, 1])
    dy = np.where(hi > lo, p1[:, 1] - p0[:, 1], 1.0)
    ys = y0 + hh * np.array([0.2, 0.5, 0.8])[:, None]  # (3, 1) against every edge
    sel = (lo <= ys) & (hi >= ys) & (hi > lo)
    xs = p0[:, 0] + (ys - p0[:, 1]) / dy * (p1[:, 0] - p0[:, 0])
    widths = np.where(sel.any(axis=1), np.where(sel, xs, -np.inf).max(axis=1) - np.where(sel, xs, np.inf).min(axis=1),
                      0.0)
    widths = widths / max(widths.max(), 1e-6)
    return float(fill), float(widths[0]), float(widths[1]), float(widths[2])


def classify_shape(hull: np.ndarray, allowed: tuple[str, ...] = SHAPES) -> tuple[str, float]:
    """Best allowed shape template for a convex hull, and a [0, 1] score for how well it fits.

    When another template (a rectangle, say) fits clearly better, the score is halved.
    """
    f = _shape_features(hull)
    if f is None:
        return "", 0.0
    d = np.sqrt(np.sum(((np.asarray(f) - _T_ARRAY) * _T_WEIGHTS) ** 2, axis=1)).tolist()
    dist = dict(zip(_TEMPLATES, d))
    best = min(allowed, key=dist.get)
    score = float(np.exp(-((dist[best] / 0.3) ** 2)))
    if min(dist.values()) < dist[best] - 0.1:
        score *= 0.5
    return best, score


class Detector:
    """Frame in, a bounded list of unclassified candidates (``class_id == -1``) out, best first."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

    # -- masks -----------------------------------------------------------------------------------
    def _masks(self, bgr: np.ndarray, only: str | None = None,
               hsv: np.ndarray | None = None) -> list[tuple[str, np.ndarray]]:
        """(route, binary mask) pairs of one (reduced) image, each colour at several saturation levels.

        A loose level keeps dim, hazy signs; stricter levels split a sign from reddish or bluish
        surroundings it merges with at the loose level. cv2 calls only, no per-pixel Python.
        """
        c = self.config
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV) if hsv is None else hsv
        h, s, v = cv2.split(hsv)
        chroma = cv2.subtract(v, cv2.min(cv2.min(bgr[:, :, 0], bgr[:, :, 1]), bgr[:, :, 2]))
        lit = cv2.bitwise_and(cv2.inRange(v, c.min_value, 255), cv2.inRange(chroma, c.min_chroma, 255))
        hues = {
            "red": cv2.bitwise_or(cv2.inRange(h, 0, c.red_hue[0]), cv2.inRange(h, c.red_hue[1], 180)),
            "blue": cv2.inRange(h, *c.blue_hue),
            "yellow": cv2.inRange(h, *c.yellow_hue),
        }
        levels = {"red": c.red_levels, "blue": c.blue_levels, "yellow": c.yellow_levels}
        out = []
        opened = None
        for route, hue in hues.items():
            if only is not None and route != only:
                continue
            hue = cv2.bitwise_and(hue, lit)
            for k, sat in enumerate(levels[route]):
                m = cv2.bitwise_and(hue, cv2.inRange(s, sat, 255))
                if k == 0 and route == "red":
                    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, self._kernel)
                out.append((route, m))
                if route == "red" and k == c.red_open_level and only is None:
                    opened = cv2.morphologyEx(m, cv2.MORPH_OPEN, self._kernel)
        if opened is not None:  # last, so the red levels keep their order for the inside search
            # the opened copy cuts poles and thin bridges off solid signs (stop, no entry)
            out.append(("red", opened))
        return out

    def _achromatic_mask(self, bgr: np.ndarray) -> np.ndarray:
        """Bright, grey-white regions that stand out from their surroundings (end-of-limit discs)."""
        c = self.config
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        local = cv2.blur(gray, (c.achromatic_block, c.achromatic_block))
        bright = cv2.compare(gray, cv2.add(local, c.achromatic_offset), cv2.CMP_GT)
        chroma = cv2.subtract(cv2.max(cv2.max(bgr[:, :, 0], bgr[:, :, 1]), bgr[:, :, 2]),
                              cv2.min(cv2.min(bgr[:, :, 0], bgr[:, :, 1]), bgr[:, :, 2]))
        return cv2.bitwise_and(bright, cv2.inRange(chroma, 0, c.achromatic_max_saturation))

    # -- candidates from one mask ----------------------------------------------------------------
    def _filter(self, stats: np.ndarray, scale: float, grow: float, fill_range: tuple[float, float]) -> np.ndarray:
        """Indices of components whose size, aspect and fill can be a sign: one vectorised step."""
        c = self.config
        bw, bh = stats[:, 2] * grow / scale, stats[:, 3] * grow / scale
        aspect = np.maximum(bw, bh) / np.maximum(np.minimum(bw, bh), 1e-6)
        fill = stats[:, 4] / np.maximum(stats[:, 2] * stats[:, 3], 1)
        ok = (bw >= c.min_size) & (bh >= c.min_size) & (bw <= c.max_size) & (bh <= c.max_size)
        ok &= (aspect <= c.max_aspect) & (stats[:, 2] >= 3) & (stats[:, 3] >= 3)
        ok &= (fill >= fill_range[0]) & (fill <= fill_range[1])
        return np.nonzero(ok)[0]

    def _hull_shape(self, labels: np.ndarray, idx: int, stat: np.ndarray,
                    route: str) -> tuple[str, float, float, float]:
        """Shape, shape score, solidity (pixels / hull) and convexity (outline area / hull) of a blob.

        Signs have convex outlines even when their inside is another colour; foliage and
        facades, the usual false blobs, have ragged ones.
        """
        x, y, w, h, area = (int(v) for v in stat)
        sub = (labels[y:y + h, x:x + w] == idx).astype(np.uint8)
        cnts, _ = cv2.findContours(sub, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not cnts:
            return "", 0.0, 0.0, 0.0
        hull = cv2.convexHull(np.concatenate(cnts))
        shape, sscore = classify_shape(hull, _ROUTE_SHAPES[route])
        if max(w, h) < self.config.small_px:  # a few pixels wide: shape is barely measurable
            sscore = max(sscore, self.config.small_score)
        hull_area = max(cv2.contourArea(hull), 1.0)
        outline = sum(cv2.contourArea(cn) for cn in cnts)
        return shape, sscore, area / hull_area, min(1.0, outline / hull_area)

    def _components(self, mask: np.ndarray, route: str, scale: float, frame_wh: tuple[int, int],
                    hsv: np.ndarray | None = None, seen: set | None = None) -> list[Detection]:
        """Whole blobs of the route colour: filled signs (blue discs, stop) and unbroken rings."""
        c = self.config
        n, labels, stats, _ = _cc(mask, 8)
        if n <= 1:
            return []
        grow = c.yellow_grow if route == "yellow" else 1.0
        fill_lo = 0.45 if route == "achromatic" else 0.12
        out = []
        for i in self._filter(stats[1:], scale, grow, (fill_lo, 1.0)):
            if seen is not None:  # the same blob at a stricter level: already tested
                key = (route, *(int(v) for v in stats[i + 1][:4]))
                if key in seen:
                    continue
                seen.add(key)
            shape, sscore, solidity, _ = self._hull_shape(labels, i + 1, stats[i + 1], route)
            if route == "yellow":  # the white border test below is the stronger evidence here
                sscore = 0.3 + 0.7 * sscore
            if sscore < c.min_shape_score or (route in ("achromatic", "yellow") and solidity < c.solid_min):
                continue
            # rings and bordered triangles leave their inside free of the border colour; filled red
            # blobs (lamps, car bodies) do not, except stop and no-entry signs
            colour_score = 1.0 if route != "red" or solidity < 0.85 else 0.7
            x, y, w, h = (float(v) for v in stats[i + 1][:4])
            if route == "yellow" and hsv is not None and not self._yellow_core(hsv, labels, i + 1, stats[i + 1]):
                continue
            colour_score *= _isolation(_surround(mask, x, y, w, h), c.surround_max)
            box = _scaled((x, y, x + w, y + h), scale, grow)
            out.append(Detection(box=_clip(box, frame_wh), colour=route, shape=shape,
                                 candidate_score=float(sscore * colour_score)))
        return out

    def _yellow_core(self, hsv: np.ndarray, labels: np.ndarray, idx: int, stat: np.ndarray) -> bool:
        """A priority-road core: deeply and evenly saturated, inside a white border.

        On GTSDB development folds sign cores had mean saturation 134-175 and brightness varying
        by <= 8 %; sunlit foliage, the usual false yellow, 66-101 and ~19 %.
        """
        c = self.config
        x, y, w, h = (int(v) for v in stat[:4])
        sub = (labels[y:y + h, x:x + w] == idx).astype(np.uint8)
        mean, std = cv2.meanStdDev(hsv[y:y + h, x:x + w], mask=sub)
        if mean[1, 0] < c.yellow_core_saturation or std[2, 0] > c.yellow_core_value_cv * max(mean[2, 0], 1.0):
            return False
        return _white_border(hsv, (x, y, w, h))

    def _holes(self, mask: np.ndarray, route: str, scale: float, frame_wh: tuple[int, int]) -> list[Detection]:
        """Insides of closed rings and bordered triangles: robust when a pole or a branch touches the rim."""
        c = self.config
        n, labels, stats, _ = _cc(cv2.bitwise_not(mask), 4)
        if n <= 1:
            return []
        st = stats[1:]
        H, W = mask.shape
        inner = (st[:, 0] > 0) & (st[:, 1] > 0) & (st[:, 0] + st[:, 2] < W) & (st[:, 1] + st[:, 3] < H)
        out = []
        for i in self._filter(st, scale, c.hole_grow, (0.35, 0.95)):
            if not inner[i]:
                continue
            shape, sscore, solidity, _ = self._hull_shape(labels, i + 1, stats[i + 1], route)
            if sscore < c.min_shape_score or shape == "octagon" or solidity < 0.6:
                continue
            x, y, w, h = (float(v) for v in stats[i + 1][:4])
            g = c.hole_grow if shape == "circle" else c.hole_grow_triangle
            if shape == "triangle":  # the inner triangle shrinks toward the incentre, 2/3 down
                cy = y + h * 2 / 3
                y1, y2 = cy - h * 2 / 3 * g, cy + h / 3 * g
            elif shape == "inverted_triangle":
                cy = y + h / 3
                y1, y2 = cy - h / 3 * g, cy + h * 2 / 3 * g
            else:
                y1, y2 = y + h / 2 - h * g / 2, y + h / 2 + h * g / 2
            box = _scaled((x + w / 2 - w * g / 2, y1, x + w / 2 + w * g / 2, y2), scale, 1.0)
            # an inside enclosed by the border colour is strong evidence in itself: no isolation penalty
            out.append(Detection(box=_clip(box, frame_wh), colour=route, shape=shape,
                                 candidate_score=float(min(1.0, 0.2 + sscore))))
        return out

    # -- full-resolution refinement --------------------------------------------------------------
    def _variants(self, frame: np.ndarray, det: Detection, gains=None) -> list[Detection]:
        """The coarse box, and the refined one when it differs: neither is better everywhere
        (refining alone won 2 points on danger signs and lost 3 on others on the development
        folds); the CNN scores both and the recognizer keeps the more confident."""
        coarse = replace(det)
        fine = self._refine(frame, det, gains)
        if _box_iou(coarse.box, fine.box) >= self.config.nms_iou:
            return [fine]
        fine.candidate_score *= 0.99  # ties keep the refined box first
        return [fine, coarse] if self.config.keep_coarse else [fine]

    def _refine(self, frame: np.ndarray, det: Detection, gains=None) -> Detection:
        """Re-measure a box on full-resolution pixels: half-size masks are off by a pixel or two."""
        if det.colour not in ("red", "blue"):
            return det
        H, W = frame.shape[:2]
        x1, y1, x2, y2 = det.box
        pw, ph = (x2 - x1) * 0.25 + 2, (y2 - y1) * 0.25 + 2
        rx1, ry1 = int(max(0, np.floor(x1 - pw))), int(max(0, np.floor(y1 - ph)))
        rx2, ry2 = int(min(W, np.ceil(x2 + pw))), int(min(H, np.ceil(y2 + ph)))
        if rx2 - rx1 < 4 or ry2 - ry1 < 4:
            return det
        mask = self._masks(_balanced(frame[ry1:ry2, rx1:rx2], gains), det.colour)[0][1]
        if det.colour == "red" and det.shape in ("circle", "triangle", "inverted_triangle"):
            rim = _rim_box(mask, (x1 - rx1, y1 - ry1, x2 - rx1, y2 - ry1), det.shape)
            if rim is not None:
                det.box = _clip((rim[0] + rx1, rim[1] + ry1, rim[2] + rx1, rim[3] + ry1), (W, H))
                return det
        n, labels, stats, _ = _cc(mask, 8)
        if n <= 1:
            return det
        # keep components that overlap the coarse box; their union is the sign
        bx1, by1, bx2, by2 = x1 - rx1, y1 - ry1, x2 - rx1, y2 - ry1
        st = stats[1:]
        ix = np.minimum(st[:, 0] + st[:, 2], bx2) - np.maximum(st[:, 0], bx1)
        iy = np.minimum(st[:, 1] + st[:, 3], by2) - np.maximum(st[:, 1], by1)
        inside = (ix > 0) & (iy > 0) & (ix * iy >= 0.5 * st[:, 2] * st[:, 3]) & (st[:, 4] >= 3)
        if not inside.any():
            return det
        sel = st[inside]
        nx1, ny1 = sel[:, 0].min(), sel[:, 1].min()
        nx2, ny2 = (sel[:, 0] + sel[:, 2]).max(), (sel[:, 1] + sel[:, 3]).max()
        ow, oh, nw, nh = x2 - x1, y2 - y1, nx2 - nx1, ny2 - ny1
        if not (0.7 * ow <= nw <= 1.3 * ow + 3 and 0.7 * oh <= nh <= 1.3 * oh + 3):
            return det
        det.box = _clip((nx1 + rx1, ny1 + ry1, nx2 + rx1, ny2 + ry1), (W, H))
        return det

    # -- the whole stage -------------------------------------------------------------------------
    def __call__(self, frame_bgr: np.ndarray) -> list[Detection]:
        c = self.config
        frame = as_bgr8(frame_bgr)
        H, W = frame.shape[:2]
        if min(H, W) < max(4, c.min_size // 2):
            return []
        scale = min(1.0, c.work_width / W) if c.work_width < W else 1.0
        small = cv2.resize(frame, (max(1, round(W * scale)), max(1, round(H * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1.0 else frame
        cands: list[Detection] = []
        red_level = 0
        gains = _grey_world(small, c.white_balance)
        small = _balanced(small, gains)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        noisy = cv2.mean(cv2.absdiff(gray, cv2.blur(gray, (3, 3))))[0] > c.max_noise
        if noisy:  # pixel noise, not texture: smooth it, and trust only the stricter colour levels
            small = cv2.medianBlur(small, 5)
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        masks = self._masks(small, hsv=hsv)
        seen: set = set()
        if noisy:
            masks = [(r, m) for k, (r, m) in enumerate(masks) if k > 0 and masks[k - 1][0] == r]
        for route, mask in masks:
            cands += self._components(mask, route, scale, (W, H), hsv, seen)
            if route == "red" and red_level < c.hole_levels:
                red_level += 1
                cands += self._holes(mask, route, scale, (W, H))
        if c.achromatic:
            ach = self._components(self._achromatic_mask(small), "achromatic", scale, (W, H))
            ach.sort(key=lambda d: -d.candidate_score)
            cands += [d for d in ach[: c.achromatic_max]]
        cands = [d for d in cands if d.candidate_score >= c.min_candidate_score]
        cands = _take(_suppress(cands, c.nms_iou, c.nested_cover), c.max_candidates, c.route_share)
        if c.refine and scale < 1.0:
            cands = [v for d in cands for v in self._variants(frame, d, gains)][: c.max_candidates]
        if c.square_circles:
            cands = [_squared(d, (W, H)) for d in cands]
        return [d for d in cands if d.box[2] - d.box[0] >= 1 and d.box[3] - d.box[1] >= 1]


def _grey_world(bgr: np.ndarray, strength: float) -> tuple[float, float, float, float] | None:
    """Partial grey-world white balance gains: dusk and shade tint red rims magenta, white insides blue."""
    means = np.array(cv2.mean(bgr)[:3])
    if strength <= 0 or means.min() < 1:
        return None
    gains = np.clip((means.mean() / means) ** strength, 0.6, 1.7)
    return (*(float(g) for g in gains), 1.0)


def _balanced(bgr: np.ndarray, gains: tuple[float, float, float, float] | None) -> np.ndarray:
    return bgr if gains is None else cv2.multiply(bgr, gains, dtype=cv2.CV_8U)


def _isolation(surround: float, limit: float) -> float:
    return float(np.clip(1.0 - surround / limit, 0.0, 1.0))


def _surround(mask: np.ndarray, x: float, y: float, w: float, h: float, pad: float = 0.3) -> float:
    """Share of mask pixels in a band around a box: a sign stands alone, clutter and noise do not."""
    H, W = mask.shape
    ix1, iy1 = int(max(0, np.floor(x))), int(max(0, np.floor(y)))
    ix2, iy2 = int(min(W, np.ceil(x + w))), int(min(H, np.ceil(y + h)))
    px, py = max(1, int(round(w * pad))), max(1, int(round(h * pad)))
    ox1, oy1, ox2, oy2 = max(0, ix1 - px), max(0, iy1 - py), min(W, ix2 + px), min(H, iy2 + py)
    band = (ox2 - ox1) * (oy2 - oy1) - max(0, ix2 - ix1) * max(0, iy2 - iy1)
    if band <= 0:
        return 0.0
    inner = cv2.countNonZero(mask[iy1:iy2, ix1:ix2]) if ix2 > ix1 and iy2 > iy1 else 0
    return (cv2.countNonZero(mask[oy1:oy2, ox1:ox2]) - inner) / band


def _white_border(hsv: np.ndarray, core: tuple[float, float, float, float]) -> bool:
    """Whether a yellow core sits in a white border, as on the priority-road sign (not on autumn leaves).

    Samples the border halfway between the core's corners and the sign's, on both axes.
    """
    x, y, w, h = core
    cx, cy = x + w / 2, y + h / 2
    H, W = hsv.shape[:2]
    core_v = float(hsv[int(min(H - 1, cy)), int(min(W - 1, cx)), 2])
    good = 0
    for dx, dy in ((-0.75, 0), (0.75, 0), (0, -0.75), (0, 0.75)):
        px, py = int(round(cx + dx * w)), int(round(cy + dy * h))
        if not (0 <= px < W and 0 <= py < H):
            continue
        hh, ss, vv = (int(v) for v in hsv[py, px])
        if ss < 70 and vv >= 0.75 * core_v:
            good += 1
    return good >= 3


def _cc(mask: np.ndarray, connectivity: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Connected components with stats; BBDT is several times faster than the default here."""
    return cv2.connectedComponentsWithStatsWithAlgorithm(mask, connectivity, cv2.CV_32S, cv2.CCL_BBDT)


def _run(line: np.ndarray) -> int:
    """Length of the leading run of set pixels, bridging single-pixel gaps."""
    on = np.asarray(line) > 0
    n, gap = 0, 0
    for i, v in enumerate(on):
        if v:
            n, gap = i + 1, 0
        else:
            gap += 1
            if gap > 1:
                break
    return n


def _rim_box(mask: np.ndarray, box: tuple[float, float, float, float], shape: str):
    """Outer box of a red ring or bordered triangle from its white inside and the rim thickness.

    The inside is the non-red region at the box centre; the rim is measured along rays out of
    it. Poles, branches and neighbouring signs that touch the rim no longer stretch the box.
    Returns None when no plausible inside is found.
    """
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    H, W = mask.shape
    n, labels, stats, _ = _cc(cv2.bitwise_not(mask), 4)
    cy = {"triangle": y1 + bh * 0.62, "inverted_triangle": y1 + bh * 0.38}.get(shape, y1 + bh / 2)
    cx = x1 + bw / 2
    label = 0
    for dx, dy in ((0, 0), (-0.12, 0), (0.12, 0), (0, -0.12), (0, 0.12)):
        px, py = int(cx + dx * bw), int(cy + dy * bh)
        if 0 <= px < W and 0 <= py < H and labels[py, px] > 0:
            label = labels[py, px]
            break
    if label == 0:
        return None
    hx, hy, hw, hh, _ = (int(v) for v in stats[label])
    if hx == 0 or hy == 0 or hx + hw >= W or hy + hh >= H:  # leaks out: the rim is open
        return None
    if not (0.35 * bw <= hw <= 1.0 * bw and 0.35 * bh <= hh <= 1.0 * bh):
        return None
    mx, my = hx + hw // 2, hy + hh // 2
    cap = max(2, int(0.3 * hw))
    left = _run(mask[my, max(0, hx - cap):hx][::-1])
    right = _run(mask[my, hx + hw:hx + hw + cap])
    up = _run(mask[max(0, hy - cap):hy, mx][::-1])
    down = _run(mask[hy + hh:hy + hh + cap, mx])
    if shape == "triangle":
        t = down
        if t == 0:
            return None
        return hx - 1.73 * t, hy - 2 * t, hx + hw + 1.73 * t, hy + hh + t
    if shape == "inverted_triangle":
        t = up
        if t == 0:
            return None
        return hx - 1.73 * t, hy - t, hx + hw + 1.73 * t, hy + hh + 2 * t
    if min(left, right, up, down) == 0:
        return None
    t = float(np.median([left, right, up, down]))
    return hx - t, hy - t, hx + hw + t, hy + hh + t


def _scaled(box: tuple[float, float, float, float], scale: float, grow: float) -> tuple[float, float, float, float]:
    """A working-resolution box in frame pixels, grown about its centre."""
    x1, y1, x2, y2 = box
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * grow / 2, (y2 - y1) * grow / 2
    return (cx - hw) / scale, (cy - hh) / scale, (cx + hw) / scale, (cy + hh) / scale


def _squared(det: Detection, wh: tuple[int, int]) -> Detection:
    """Round signs are about as wide as tall: a lopsided box saw only part of a broken rim."""
    if det.shape != "circle" or det.colour != "red":
        return det
    x1, y1, x2, y2 = det.box
    w, h = x2 - x1, y2 - y1
    if 0.87 * h <= w <= 1.15 * h:
        return det
    side = max(w, h)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    det.box = _clip((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), wh)
    return det


def _box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _take(ranked: list[Detection], n: int, share: dict[str, float]) -> list[Detection]:
    """The best ``n`` candidates, with a guaranteed share per colour route.

    Busy scenes hold far more red clutter (brick, foliage, tail lights) than yellow or blue: a
    plain top-n lets one route crowd out the others' signs.
    """
    if len(ranked) <= n:
        return ranked
    quota = {r: int(n * f) for r, f in share.items()}
    chosen: set[int] = set()
    for i, d in enumerate(ranked):
        if quota.get(d.colour, 0) > 0:
            quota[d.colour] -= 1
            chosen.add(i)
    for i in range(len(ranked)):
        if len(chosen) >= n:
            break
        chosen.add(i)
    return [ranked[i] for i in sorted(chosen)][:n]


def _clip(box: tuple[float, float, float, float], wh: tuple[int, int]) -> tuple[float, float, float, float]:
    W, H = wh
    x1, y1, x2, y2 = box
    x1, y1 = float(np.clip(x1, 0, max(W - 1, 0))), float(np.clip(y1, 0, max(H - 1, 0)))
    return x1, y1, float(np.clip(x2, x1 + 1, W)), float(np.clip(y2, y1 + 1, H))


def _suppress(cands: list[Detection], nms_iou: float, nested_cover: float | None) -> list[Detection]:
    """Best-first: drop candidates that overlap or sit inside an already kept one (ring and disc).

    One vectorised overlap matrix, then a greedy pass over it.
    """
    if not cands:
        return []
    order = sorted(cands, key=lambda d: -d.candidate_score)
    b = np.array([d.box for d in order], np.float64)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iw = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
    ih = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    small, large = np.minimum(area[:, None], area[None, :]), np.maximum(area[:, None], area[None, :])
    iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-9)
    clash = iou >= nms_iou
    if nested_cover is not None:
        clash |= (inter >= nested_cover * small) & (small >= 0.4 * large) & (inter > 0)
    keep = np.ones(len(order), bool)
    for i in range(len(order)):
        if keep[i]:
            later = clash[i, i + 1:]
            keep[i + 1:] &= ~later
    return [d for d, k in zip(order, keep) if k]


def _bench(argv: list[str] | None = None) -> int:
    """``python -m realtime.detect DIR [N]``: detector time per frame on one core (CPU and wall)."""
    import sys
    import time
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m realtime.detect DIR [N]", file=sys.stderr)
        return 2
    paths = sorted(p for p in Path(args[0]).iterdir() if p.suffix.lower() in (".jpg", ".png", ".ppm"))
    paths = paths[:: max(1, len(paths) // int(args[1]))] if len(args) > 1 else paths
    cv2.setNumThreads(1)
    det = Detector()
    frames = [cv2.imread(str(p)) for p in paths]
    det(frames[0])
    cpu, wall, n = [], [], []
    for f in frames:
        t0, p0 = time.perf_counter(), time.process_time()
        n.append(len(det(f)))
        cpu.append(time.process_time() - p0)
        wall.append(time.perf_counter() - t0)
    print(f"{len(frames)} frames: CPU mean {np.mean(cpu) * 1e3:.1f} ms, median {np.median(cpu) * 1e3:.1f} ms; "
          f"wall mean {np.mean(wall) * 1e3:.1f} ms, median {np.median(wall) * 1e3:.1f} ms; "
          f"{np.mean(n):.1f} candidates/frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(_bench())
