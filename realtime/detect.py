"""The colour/shape detector: sign candidates by colour and structure, in 5-10 ms on one core, for any frame.

The detector is tuned for recall, not precision: what it proposes, a small CNN (the gate) and
the recognizer then judge, and the recognizer's box head re-frames. So the work here is a
handful of whole-image OpenCV calls and vectorised numpy, with no per-blob Python tests:

1. the frame is reduced to about 680 px wide and given a partial grey-world white balance;
2. one HSV conversion; per colour (red, blue, yellow) a score image: the saturation of the
   pixels whose hue is that colour (and bright enough to have one);
3. the score image is pooled 2x2 once more (max for red and blue, so thin rims survive; min for
   the solid yellow core, so it separates from the foliage its thin white border touches), and
   thresholded at a few saturation levels: a loose level keeps dim signs, stricter ones split a
   sign from reddish or bluish surroundings it merges with at the loose level;
4. connected components of each level (on a 340x200 grid for a 1360x800 frame: ~0.3 ms each)
   are filtered by size, aspect and fill in one vectorised step. Squarish blobs become a
   candidate; blobs up to ~3x as long as wide (two signs on one pole, a sign touching a red
   facade) become two, a square at each end;
5. the insides of red rings and bordered triangles: regions of the loosest red level's
   complement ringed by red on all four sides, grown to the outer rim (about the incentre
   for triangles, which the region's centroid tells apart from discs);
6. yellow cores must sit inside a white border (the priority-road sign; autumn leaves do not);
7. achromatic: the end-of-restriction signs (6, 32, 41, 42) carry no colour at all; they are
   taken as bright, unsaturated, disc-filled blobs that stand out from their surroundings, each
   also grown 1.5x about its centre (stripes and pictograms often cut the disc into parts);
8. exact duplicates go, and the best ``max_candidates`` stay, with a guaranteed share per colour.

Figures, and what still falls short, are in docs/DETECTOR.md; the detect-bench command
times it (``python -m realtime detect-bench FOLDER``). Every threshold is in ``config.DetectorConfig``.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from realtime.config import DetectorConfig
from realtime.preprocess import Work, as_bgr8, reduce, work_image
from realtime.types import Detection

ROUTES = ("red", "blue", "yellow", "achromatic")
KINDS = ("blob", "end", "ring", "core")  # how a candidate was found (Detection.shape stays the outline)
_KIND = {k: i for i, k in enumerate(KINDS)}


def _hue_mask(h: np.ndarray, ranges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """255 where the hue lies in any of the inclusive ranges (inRange is ~6x cheaper than a LUT here)."""
    mask = cv2.inRange(h, *ranges[0])
    for lo, hi in ranges[1:]:
        mask = cv2.bitwise_or(mask, cv2.inRange(h, lo, hi))
    return mask


def _cc(mask: np.ndarray) -> np.ndarray:
    """Bounding box, area and centroid of every 8-connected component but the background: (N, 7) float32.

    Labelled within the bounding box of the mask's pixels, widened to an even origin and even sides:
    OpenCV's BBDT labeller (with its statistics) takes twice as long on a grid of odd width or height
    (353 against 172 us at 339 or 340 x 200) and costs per pixel, and on GTSDB that box covers 0.15-0.97
    of the grid. The even origin keeps the labeller's 2x2 blocks, and so the components' order, those
    of the whole grid.
    """
    x, y, w, h = cv2.boundingRect(mask)
    if not w:
        return np.zeros((0, 7), np.float32)
    x0, y0 = x & ~1, y & ~1
    sub = mask[y0:y + h + ((y + h - y0) & 1), x0:x + w + ((x + w - x0) & 1)]
    if (sub.shape[0] | sub.shape[1]) & 1:  # the grid itself ends there: one more row or column of background
        sub = cv2.copyMakeBorder(sub, 0, sub.shape[0] & 1, 0, sub.shape[1] & 1, cv2.BORDER_CONSTANT, value=0)
    n, _, stats, cent = cv2.connectedComponentsWithStatsWithAlgorithm(sub, 8, cv2.CV_32S, cv2.CCL_BBDT)
    st = np.concatenate([stats[1:], cent[1:]], axis=1)
    if x0 or y0:
        st[:, [0, 5]] += x0
        st[:, [1, 6]] += y0
    return st.astype(np.float32)


def _holes(mask: np.ndarray) -> np.ndarray:
    """``_cc`` of the components of the mask's complement that touch no image edge (8-connected).

    The same rows as ``_cc(~mask)`` less those touching an edge, in the same order. The edge-touching
    ones (the background around every ring) are erased with one flood fill from a 1-px frame of
    complement first: stats over the ~90% of a frame they cover cost more than the fill (0.44 against
    0.33 ms a level, fill included, on a 340x200 grid).
    """
    inside = cv2.copyMakeBorder(cv2.bitwise_not(mask), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=255)
    cv2.floodFill(inside, None, (0, 0), 0, flags=8)
    st = _cc(inside)
    st[:, [0, 1, 5, 6]] -= 1  # back to the unpadded grid
    return st


class _Level(NamedTuple):
    """One thresholded colour level: its components, and where its candidates rank."""

    route: int  # index into ROUTES
    strict: float  # (k + 1) / levels: stricter levels rank first, less clutter reaches them
    stats: np.ndarray  # _cc of the mask
    seq: int  # the order the levels are searched in: the tie-break among equal scores
    mask: np.ndarray | None  # kept where the level is also searched for ring insides


class _Found(NamedTuple):
    """Candidates of one kind, in pooled pixels, with what ``_finish`` ranks them by."""

    boxes: np.ndarray  # (N, 4) float32
    route: np.ndarray  # index into ROUTES
    kind: np.ndarray  # index into KINDS
    score: np.ndarray  # ring insides, then yellow cores, then blobs by level strictness, then ends
    tie: np.ndarray  # equal scores: achromatic discs first, then by level, and blob, end, ring in a level


def _found(boxes: np.ndarray, route, kind: int, score, tie) -> _Found:
    n = len(boxes)

    def column(a, dtype=None):  # np.full, not np.broadcast_to: ~1 against ~8 us, 15 times a frame
        a = np.asarray(a, dtype)
        return np.full(n, a) if a.ndim == 0 else a

    return _Found(np.asarray(boxes, np.float32).reshape(n, 4), column(route), np.full(n, kind),
                  column(score, np.float32), column(tie))


def _stack(levels: list[_Level], stats: list[np.ndarray] | None = None) -> tuple[np.ndarray, ...]:
    """All levels' component statistics (``stats``, default each level's own) in one array, and per
    row its level's route, strictness, search order and position in ``levels``."""
    stats = [lv.stats for lv in levels] if stats is None else stats
    rows = np.concatenate(stats) if stats else np.zeros((0, 7), np.float32)
    which = np.repeat(np.arange(len(levels)), [len(s) for s in stats])
    route, strict, seq = (np.array([getattr(lv, k) for lv in levels], t)[which]
                          for k, t in (("route", np.int64), ("strict", np.float64), ("seq", np.int64)))
    return rows, route, strict, seq, which


# the four directions in which the yellow route looks for a core's white border
_SIDES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], np.float32)


class Detector:
    """Frame in, a bounded list of unclassified candidates (``class_id == -1``) out, best first."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = c = config or DetectorConfig()
        self._hues = {"red": ((0, c.red_hue[0]), (c.red_hue[1], 180)), "blue": (c.blue_hue,),
                      "yellow": (c.yellow_hue,)}
        self._levels = {"red": c.red_levels, "blue": c.blue_levels, "yellow": c.yellow_levels}
        self._kernel = np.ones((c.pool, c.pool), np.uint8)

    def work(self, frame_bgr: np.ndarray) -> Work:
        """The frame at the size colour is judged at (``work_width``), for ``__call__``'s ``work``."""
        return work_image(as_bgr8(frame_bgr), self.config.work_width, self.config.whole_factor_min)

    def __call__(self, frame_bgr: np.ndarray, work: Work | None = None) -> list[Detection]:
        """Candidates of a frame; ``work`` is ``self.work(frame_bgr)`` where the caller has it already
        (``Cascade.propose`` hands it on to the learned localizer)."""
        c = self.config
        frame = as_bgr8(frame_bgr)
        H, W = frame.shape[:2]
        if min(H, W) < max(4, c.min_size // 2):
            return []
        small, scale = work if work is not None else self.work(frame)
        small = _balanced(small, c.white_balance, c.white_gain_range)
        h, s, v = cv2.split(cv2.cvtColor(small, cv2.COLOR_BGR2HSV))
        noisy = cv2.mean(cv2.absdiff(v, cv2.blur(v, (3, 3))))[0] > c.max_noise
        if noisy:  # sensor noise, not texture: smooth it, and trust only the stricter levels below
            h, s, v = cv2.split(cv2.cvtColor(cv2.medianBlur(small, 5), cv2.COLOR_BGR2HSV))
        s_lit = cv2.bitwise_and(s, cv2.compare(v, c.min_value, cv2.CMP_GE))
        f = c.pool / scale  # pooled pixels -> frame pixels
        found: list[_Found] = []
        if c.achromatic and not noisy:
            found.append(self._discs(v, s, f))
        # Every level's components first; each kind of candidate is then cut from all levels at
        # once (a handful of numpy calls per kind instead of per level: ~1/3 of the detector's time)
        levels: list[_Level] = []
        for r, route in enumerate(ROUTES[:3]):
            score = cv2.bitwise_and(s_lit, _hue_mask(h, self._hues[route]))
            if c.pool > 1:
                pool = cv2.erode if route == "yellow" else cv2.dilate
                score = np.ascontiguousarray(pool(score, self._kernel)[::c.pool, ::c.pool])
            thresholds = self._levels[route]
            for k, level in enumerate(thresholds):
                if noisy and k < len(thresholds) - 1:  # pixel noise, not texture: looser levels are all noise
                    continue
                mask = cv2.compare(score, level, cv2.CMP_GE)
                rings = route == "red" and (k < c.ring_levels or noisy)
                levels.append(_Level(r, (k + 1) / len(thresholds), _cc(mask), len(levels), mask if rings else None))
        yellow = ROUTES.index("yellow")
        found += self._blobs([lv for lv in levels if lv.route != yellow], f)
        found.append(self._rings([lv for lv in levels if lv.mask is not None], f))
        found.append(self._cores([lv for lv in levels if lv.route == yellow], f, v, s))
        return self._finish(found, f, (W, H))

    # -- candidate sources, all vectorised over every level ------------------------------------------
    def _blobs(self, levels: list[_Level], f: float) -> list[_Found]:
        """Squarish blobs as they are, and elongated ones as a square at each end (pooled px)."""
        c = self.config
        st, route, strict, seq, _ = _stack(levels)
        # blob boxes keep the pooled grid's offset (``_pool_shift``: 2 frame px right and down at 1360
        # wide). Corrected, candidate recall at IoU 0.6 rises but cross-validated end-to-end recall
        # falls, with the shipped gates and with gates retrained on the corrected boxes alike
        x, y, w, h, area = st[:, 0], st[:, 1], st[:, 2], st[:, 3], st[:, 4]
        long_side, short_side = np.maximum(w, h), np.minimum(w, h)
        fill = area / np.maximum(w * h, 1)
        red = route == ROUTES.index("red")
        lo = np.where(red, np.float32(c.red_fill[0]), np.float32(c.blue_fill[0]))
        hi = np.where(red, np.float32(c.red_fill[1]), np.float32(c.blue_fill[1]))
        ok = (long_side * f >= c.min_size) & (long_side * f <= c.max_size)
        ok &= ((fill >= lo) & (fill <= hi)) | (long_side < c.measurable_px)
        aspect = long_side / np.maximum(short_side, 1)
        single = ok & (aspect <= c.max_aspect)
        blobs = _found(np.stack([x, y, x + w, y + h], axis=1)[single], route[single], _KIND["blob"],
                       0.3 + 0.4 * strict[single], 1 + 3 * seq[single])
        stack = ok & (aspect > c.split_aspect) & (aspect <= c.max_stack) & (short_side * f >= c.min_size)
        x, y, w, h, route, strict, seq = (a[stack] for a in (x, y, w, h, route, strict, seq))
        tall = h > w
        side = np.minimum(w, h)
        first = np.stack([x, y, x + side, y + side], axis=1)
        last = np.stack([np.where(tall, x, x + w - side), np.where(tall, y + h - side, y),
                         x + w, y + h], axis=1)
        two = np.concatenate  # each elongated blob gives both ends
        ends = _found(two([first, last]), two([route, route]), _KIND["end"], two([0.2 + 0.2 * strict] * 2),
                      two([2 + 3 * seq] * 2))
        return [blobs, ends]

    def _rings(self, levels: list[_Level], f: float) -> _Found:
        """Insides of red rings and bordered triangles, grown to the outer rim (pooled px).

        An inside is a region of the mask's complement with red just outside it on all four sides;
        it frames the sign even when a pole, a branch or a second sign touches the rim.
        """
        c = self.config
        if not levels:
            return _found(np.zeros((0, 4)), 0, _KIND["ring"], 0.9, 0)
        st, route, _, seq, which = _stack(levels, [_holes(lv.mask) for lv in levels])
        masks = np.stack([lv.mask for lv in levels])
        x, y, w, h, area, cx_, cy_ = st.T
        _, H, W = masks.shape
        fill = area / np.maximum(w * h, 1)
        ok = (np.maximum(w, h) * f * c.hole_grow >= c.min_size) & (np.maximum(w, h) * f <= c.max_size)
        ok &= (np.maximum(w, h) <= c.hole_max_aspect * np.minimum(w, h)) & (fill >= c.hole_min_fill)
        ok &= (x > 0) & (y > 0) & (x + w < W) & (y + h < H)
        idx = np.flatnonzero(ok)
        xi, yi, wi, hi = (a[idx].astype(np.int64) for a in (x, y, w, h))
        my, mx, li = yi + hi // 2, xi + wi // 2, which[idx]

        def red(yy, xx):
            return masks[li, yy, np.minimum(np.maximum(xx, 0), W - 1)] > 0  # np.clip costs ~5x more

        # a triangle's inside is half its width at mid-height: its rim lies a quarter of the width in
        # from each side of the box (within a pixel either way, at this coarse grid)
        tri = fill[idx] < c.triangle_fill
        inset = np.where(tri, wi // 4, 0)
        left, right = xi - 1 + inset, xi + wi - inset
        ringed = (red(my, left) | (tri & (red(my, left - 1) | red(my, left + 1))))
        ringed &= (red(my, right) | (tri & (red(my, right - 1) | red(my, right + 1))))
        ringed &= red(yi - 1, mx) & red(np.minimum(yi + hi, H - 1), mx)
        idx, tri = idx[ringed], tri[ringed]
        x, y, w, h, cy_ = x[idx], y[idx], w[idx], h[idx], cy_[idx]
        shift = _pool_shift(c.pool)  # pooled components lie this much (negated) right and down of the sign
        x, y, cy_ = x - c.hole_pad / 2 + shift, y - c.hole_pad / 2 + shift, cy_ + shift
        w, h = w + c.hole_pad, h + c.hole_pad
        g = c.hole_grow
        # a triangle's inside shrinks toward the incentre, a third of the height from its base;
        # the centroid sits below the middle for an apex-up triangle, above it for yield
        up = cy_ > y + h / 2
        cy = np.where(tri, np.where(up, y + h * 2 / 3, y + h / 3), y + h / 2)
        above = np.where(tri, np.where(up, h * 2 / 3, h / 3), h / 2) * g
        below = np.where(tri, np.where(up, h / 3, h * 2 / 3), h / 2) * g
        cx = x + w / 2
        boxes = np.stack([cx - w * g / 2, cy - above, cx + w * g / 2, cy + below], axis=1)
        return _found(boxes, route[idx], _KIND["ring"], 0.9, 3 + 3 * seq[idx])

    def _cores(self, levels: list[_Level], f: float, v: np.ndarray, s: np.ndarray) -> _Found:
        """Priority-road cores: diamond-filled yellow blobs in a bright, unsaturated border, grown to it."""
        c = self.config
        st, route, strict, seq, _ = _stack(levels)
        x, y, w, h, area = st[:, 0], st[:, 1], st[:, 2], st[:, 3], st[:, 4]
        long_side, short_side = np.maximum(w, h), np.minimum(w, h)
        fill = area / np.maximum(w * h, 1)
        ok = (long_side * c.yellow_grow * f >= c.min_size) & (long_side * c.yellow_grow * f <= c.max_size)
        ok &= long_side <= c.max_aspect * short_side
        ok &= ((fill >= c.yellow_fill[0]) & (fill <= c.yellow_fill[1])) | (long_side < c.measurable_px)
        x, y, w, h, route, strict, seq = (a[ok] for a in (x, y, w, h, route, strict, seq))
        p, (Hs, Ws) = c.pool, v.shape
        # min-pooling eroded the core by pool - 1 work pixels, and shifted it: its true centre and
        # size, in pooled px, from which the sign is grown and its border looked for
        cx, cy = x + w / 2 + _pool_shift(p), y + h / 2 + _pool_shift(p)
        w, h = w + (p - 1) / p, h + (p - 1) / p
        # the border lies between the core's edge and the sign's: on each of the four axes two samples
        # on the work image, a third and two thirds of the way out; a side is white if either is. (One
        # sample at a fixed 0.75 of the eroded core's width missed the border of synthetic 36 px signs
        # and of GTSDB's priority signs whose core is a pixel off the pooled grid: 25 -> 26 of 31 framed.)
        g = c.yellow_grow
        out = (1 + (g - 1) * np.array([1 / 3, 2 / 3], np.float32)) / 2  # from the centre, in core widths
        ox, oy = (_SIDES[:, None, k, None] * out[None, :, None] * wh for k, wh in ((0, w), (1, h)))  # (4, 2, N)

        def pixel(u, n):  # pooled coordinate -> work pixel index
            return np.clip(np.rint(u * p - 0.5).astype(np.int64), 0, n - 1)

        px, py = pixel(cx + ox, Ws), pixel(cy + oy, Hs)
        core_v = v[pixel(cy, Hs), pixel(cx, Ws)]
        white = ((s[py, px] < c.white_max_saturation) & (v[py, px] >= c.white_min_brightness * core_v))
        white = white.any(axis=1).sum(axis=0)
        keep = white >= c.white_min_sides
        cx, cy = cx[keep], cy[keep]
        hw, hh = w[keep] * c.yellow_grow / 2, h[keep] * c.yellow_grow / 2
        return _found(np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1), route[keep], _KIND["core"],
                      0.6 + 0.2 * strict[keep], 1 + 3 * seq[keep])

    def _discs(self, v: np.ndarray, s: np.ndarray, f: float) -> _Found:
        """Bright, unsaturated, disc-filled blobs brighter than their surroundings (pooled px)."""
        c = self.config
        size = (max(1, v.shape[1] // c.pool), max(1, v.shape[0] // c.pool))
        # a whole factor: the work image's odd last row or column (a 1280x720 frame's, a mosaic's black
        # edge) is left out; resampling by 383/191 instead took 0.56 against 0.01 ms an image
        vq, sq = (reduce(a[: c.pool * size[1], : c.pool * size[0]], size) for a in (v, s))
        local = cv2.blur(vq, (c.achromatic_block, c.achromatic_block))
        mask = cv2.bitwise_and(cv2.compare(vq, cv2.add(local, c.achromatic_offset), cv2.CMP_GT),
                               cv2.compare(sq, c.achromatic_max_saturation, cv2.CMP_LT))
        st = _cc(mask)
        x, y, w, h, area = st[:, 0], st[:, 1], st[:, 2], st[:, 3], st[:, 4]
        long_side, short_side = np.maximum(w, h), np.minimum(w, h)
        ok = (long_side * f >= c.min_size) & (long_side * f <= c.max_size)
        ok &= long_side <= c.achromatic_max_aspect * short_side
        ok &= (area / np.maximum(w * h, 1) >= c.achromatic_fill) | (long_side < c.measurable_px)
        boxes = np.stack([x, y, x + w, y + h], axis=1)[ok]
        if c.achromatic_grow > 1.0 and len(boxes):
            centre, half = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2:] - boxes[:, :2]) * (c.achromatic_grow / 2)
            grown = np.concatenate([centre - half, centre + half], axis=1)
            grown = grown[2 * half.max(axis=1) * f <= c.max_size]  # the size limit holds for grown boxes too
            boxes = np.concatenate([boxes, grown])
        return _found(boxes, ROUTES.index("achromatic"), _KIND["blob"], 0.3, 0)

    # -- assembly ------------------------------------------------------------------------------------
    def _finish(self, found: list[_Found], f: float, wh: tuple[int, int]) -> list[Detection]:
        """Frame-pixel boxes, exact duplicates dropped, the best ``max_candidates`` kept (route shares)."""
        c = self.config
        found = [p for p in found if len(p.boxes)]
        if not found:
            return []
        boxes, route, kind, score, tie = (np.concatenate(a) for a in zip(*found))
        boxes = boxes * np.float32(f)
        W, H = wh
        boxes = np.minimum(np.maximum(boxes, 0), np.array([W, H, W, H], np.float32))
        big = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        ok = np.flatnonzero((boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1) & (big >= c.min_size))
        order = ok[np.lexsort((tie[ok], -score[ok]))]  # by score; ties by search order, then position
        # the same blob at two levels gives the same box: keep its best-ranked copy (boxes lie inside
        # the frame, so 16 bits a coordinate make a unique key for any frame OpenCV can hold)
        r = np.minimum(np.round(boxes[order]), 65535).astype(np.uint64)
        key = r[:, 0] | (r[:, 1] << np.uint64(16)) | (r[:, 2] << np.uint64(32)) | (r[:, 3] << np.uint64(48))
        _, first = np.unique(key, return_index=True)
        order = order[np.sort(first)]
        order = _take(order, route, c.max_candidates, [c.route_share.get(r, 0.0) for r in ROUTES])
        shapes = np.where(kind[order] == _KIND["core"], "diamond", "").tolist()
        return [Detection(box=tuple(b), colour=ROUTES[r], shape=sh, candidate_score=sc)
                for b, r, sh, sc in zip(boxes[order].tolist(), route[order].tolist(), shapes, score[order].tolist())]


def _pool_shift(pool: int) -> float:
    """Where a pooled component really starts, in pooled px, relative to its pooled coordinate.

    ``cv2.dilate``/``erode`` with a ``pool``-wide kernel anchor it at ``pool // 2``, so pooled pixel
    i holds work pixels ``pool * i - pool // 2`` ... ``pool * i - pool // 2 + pool - 1``: every
    component sits this far (-0.5 at pool 2, 2 frame px at 1360 wide) left and up of ``pool * i``.
    """
    return -(pool // 2) / pool


def white_gains(bgr: np.ndarray, strength: float, limits: tuple[float, float] = (0.6, 1.7)) -> np.ndarray | None:
    """Per-channel gains of a partial grey-world white balance (None: off, or a channel is black).

    Dusk and shade tint red rims magenta and white insides blue; the gains pull the frame's mean
    a part of the way (``strength``) toward grey, no gain beyond ``limits``.
    """
    if strength <= 0:
        return None
    means = np.array(cv2.mean(bgr)[:3])
    if means.min() < 1:
        return None
    return np.clip((means.mean() / means) ** strength, *limits)


def _balanced(bgr: np.ndarray, strength: float, limits: tuple[float, float]) -> np.ndarray:
    gains = white_gains(bgr, strength, limits)  # cv2.transform: ~3x cheaper than cv2.multiply here
    return bgr if gains is None else cv2.transform(bgr, np.diag(gains).astype(np.float32))


def _take(order: np.ndarray, route: np.ndarray, n: int, share: list[float]) -> np.ndarray:
    """The first ``n`` of a ranked index list, with a guaranteed share per route.

    Busy scenes hold far more red clutter (brick, foliage, tail lights) than yellow or blue: a
    plain top-n lets one route crowd out the others' signs.
    """
    if len(order) <= n:
        return order
    chosen = np.zeros(len(order), bool)
    for r, frac in enumerate(share):
        mine = np.flatnonzero(route[order] == r)
        chosen[mine[: int(n * frac)]] = True
    rest = np.flatnonzero(~chosen)
    chosen[rest[: max(0, n - int(chosen.sum()))]] = True
    return order[chosen]
