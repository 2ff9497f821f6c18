"""Pictograms of the 43 GTSRB sign types (and a few unlisted look-alikes) drawn with OpenCV.

The synthetic scenes and drive-by videos need signs whose class and outline are known
exactly, without shipping any image files. Each sign is drawn at several times its size in
unit coordinates (0..1 across the plate) and shrunk with INTER_AREA, which anti-aliases the
outline the way a camera would. The result is straight-alpha BGRA: alpha is the plate mask.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from realtime.classes import NUM_CLASSES
from training.render import glyphs

Point = tuple[float, float]

# BGR, close to the RAL colours of German signs (as a camera sees them: not fully saturated).
RED = (40, 30, 200)
BLUE = (165, 85, 10)
YELLOW = (20, 185, 245)
WHITE = (242, 242, 242)
BLACK = (25, 25, 25)
GREY = (135, 135, 135)
DARK_GREY = (70, 70, 70)
END_WHITE = (225, 225, 225)  # the end-of-restriction plates photograph greyer than the others in GTSRB
GREEN_SIGN = (70, 120, 20)
LAMP_RED = (30, 30, 220)
LAMP_YELLOW = (20, 200, 240)
LAMP_GREEN = (80, 170, 30)

DISTRACTOR_KINDS: tuple[str, ...] = ("parking", "crossing", "direction", "green")

_SHIFT = 4  # sub-pixel bits for cv2 drawing calls
_ONE = 1 << _SHIFT
_ALPHA_FLOOR = 6  # alpha below this after downsampling is dropped: invisible, but would widen boxes


class _Pen:
    """Drawing in unit coordinates on a supersampled canvas, so shapes are size independent."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.img = np.zeros((n, n, 3), np.uint8)
        self.alpha = np.zeros((n, n), np.uint8)

    def p(self, pt: Point) -> tuple[int, int]:
        return int(round(pt[0] * self.n * _ONE)), int(round(pt[1] * self.n * _ONE))

    def w(self, width: float) -> int:
        return max(1, int(round(width * self.n)))

    def pts(self, pts: Sequence[Point]) -> np.ndarray:
        return np.array([self.p(q) for q in pts], np.int32)

    def poly(self, pts: Sequence[Point], colour: tuple[int, int, int], target: np.ndarray | None = None) -> None:
        cv2.fillPoly(self.img if target is None else target, [self.pts(pts)], colour, cv2.LINE_AA, _SHIFT)

    def line(self, pts: Sequence[Point], width: float, colour: tuple[int, int, int], closed: bool = False) -> None:
        cv2.polylines(self.img, [self.pts(pts)], closed, colour, self.w(width), cv2.LINE_AA, _SHIFT)

    def circle(self, c: Point, r: float, colour: tuple[int, int, int], width: float | None = None,
               target: np.ndarray | None = None) -> None:
        thick = -1 if width is None else self.w(width)
        cv2.circle(self.img if target is None else target, self.p(c), int(round(r * self.n * _ONE)), colour,
                   thick, cv2.LINE_AA, _SHIFT)

    def ellipse(self, c: Point, axes: Point, angle: float, colour: tuple[int, int, int],
                width: float | None = None, start: float = 0, end: float = 360) -> None:
        thick = -1 if width is None else self.w(width)
        cv2.ellipse(self.img, self.p(c), self.p(axes), angle, start, end, colour, thick, cv2.LINE_AA, _SHIFT)

    def rounded_poly(self, pts: Sequence[Point], radius: float, colour: tuple[int, int, int],
                     target: np.ndarray | None = None) -> None:
        """Convex polygon with rounded corners: the polygon shrunk by ``radius`` plus a stroke of 2*radius."""
        arr = np.asarray(pts, np.float64)
        shrunk = _inset(arr, radius) if radius > 0 else arr
        dst = self.img if target is None else target
        cv2.fillPoly(dst, [self.pts(shrunk)], colour, cv2.LINE_AA, _SHIFT)
        if radius > 0:
            cv2.polylines(dst, [self.pts(shrunk)], True, colour, max(1, int(round(2 * radius * self.n))),
                                 cv2.LINE_AA, _SHIFT)

    def text(self, text: str, box: tuple[float, float, float, float], colour: tuple[int, int, int],
             weight: float = 0.16, stroke: float | None = None) -> None:
        """Text stretched into a box: condensed digits like the DIN font, legible when small.

        Digits and the letters of stop and parking come from the renderer's own strokes
        (``glyphs``), the same in every OpenCV; other text (the direction boards) from OpenCV's font.

        ``weight`` is the font thickness OpenCV 4 draws with; OpenCV 5 draws its fonts at one
        weight whatever the thickness. For the renderer's own glyphs it is the stroke over the
        text height. ``stroke``, where given, sets the weight on both: twice
        the 75th percentile of the ink's distance to the paper, over the text height, reached by
        eroding or dilating the drawn text. OpenCV 5's own weight is ~0.16 by this measure,
        bolder than the DIN 1451 digits of real signs; at 0.11 the recognizer reads the rendered
        50 km/h sign as 50 at every size (as 80 before; ``pictogram-legibility``).
        """
        if glyphs.drawable(text):  # the project's own strokes, the same in every OpenCV
            tmp = _ink(glyphs.draw(text, 240, weight if stroke is None else stroke))
        else:
            scale, thick = 4.0, max(2, int(round(4.0 * 30 * weight)))
            font = cv2.FONT_HERSHEY_SIMPLEX
            text = text.replace("0", "O")  # this OpenCV's fonts slash the zero; no German sign does
            (tw, th), base = cv2.getTextSize(text, font, scale, thick)
            pad = thick + 4
            tmp = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
            cv2.putText(tmp, text, (pad, pad + th), font, scale, 255, thick, cv2.LINE_AA)
            tmp = _ink(tmp)
        if stroke is not None:
            dist = cv2.distanceTransform((tmp > 127).astype(np.uint8), cv2.DIST_L2, 3)
            change = int(round(2 * float(np.percentile(dist[dist > 0], 75)) - stroke * tmp.shape[0]))
            if change:  # a k x k kernel thins or thickens a stroke by k - 1 pixels
                k = abs(change) + 1
                tmp = _ink((cv2.erode if change > 0 else cv2.dilate)(tmp, np.ones((k, k), np.uint8)))
        x1, y1, x2, y2 = (int(round(v * self.n)) for v in box)
        m = cv2.resize(tmp, (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255
        roi = self.img[y1:y2, x1:x2].astype(np.float32)
        self.img[y1:y2, x1:x2] = (roi * (1 - m) + np.array(colour, np.float32) * m + 0.5).astype(np.uint8)

    def arrow(self, pts: Sequence[Point], width: float, head_len: float, head_w: float,
              colour: tuple[int, int, int]) -> None:
        """Polyline shaft with a triangular head whose tip is the last point, aligned with the path's end."""
        path = [tuple(map(float, q)) for q in pts]
        tip, left = path[-1], head_len
        i = len(path) - 1
        base = path[0]
        while i > 0:  # walk back along the path until head_len of arc length is used up
            (ax, ay), (bx, by) = path[i - 1], path[i]
            seg = math.hypot(bx - ax, by - ay)
            if seg >= left:
                base = (bx + (ax - bx) * left / seg, by + (ay - by) * left / seg)
                break
            left -= seg
            i -= 1
        d = math.hypot(tip[0] - base[0], tip[1] - base[1])
        ux, uy = (tip[0] - base[0]) / d, (tip[1] - base[1]) / d
        shaft = [*path[:i], (base[0] + ux * 0.01, base[1] + uy * 0.01)]
        cv2.polylines(self.img, [self.pts(shaft)], False, colour, self.w(width), cv2.LINE_AA, _SHIFT)
        nx, ny = -uy, ux
        self.poly([tip, (base[0] + nx * head_w, base[1] + ny * head_w),
                   (base[0] - nx * head_w, base[1] - ny * head_w)], colour)


def _ink(mask: np.ndarray) -> np.ndarray:
    """``mask`` cropped to its nonzero pixels (``tight_box``)."""
    x1, y1, x2, y2 = tight_box(mask)
    return mask[y1:y2, x1:x2]


def _inset(pts: np.ndarray, d: float) -> np.ndarray:
    """Offset a convex polygon inwards by distance d (vertex order either way)."""
    n = len(pts)
    area = 0.5 * sum(pts[i, 0] * pts[(i + 1) % n, 1] - pts[(i + 1) % n, 0] * pts[i, 1] for i in range(n))
    sign = 1.0 if area > 0 else -1.0
    lines = []
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        t = (b - a) / np.linalg.norm(b - a)
        normal = np.array([-t[1], t[0]]) * sign  # inward normal for this orientation (y down)
        lines.append((a + normal * d, t))
    out = []
    for i in range(n):
        (p1, t1), (p2, t2) = lines[i - 1], lines[i]
        m = np.array([t1, -t2]).T
        s = np.linalg.solve(m, p2 - p1)
        out.append(p1 + t1 * s[0])
    return np.array(out)


def _bezier(p0: Point, p1: Point, p2: Point, n: int = 24) -> list[Point]:
    t = np.linspace(0, 1, n)
    x = (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t**2 * p2[0]
    y = (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t**2 * p2[1]
    return list(zip(x.tolist(), y.tolist()))


def _arc(c: Point, r: float, a0: float, a1: float, n: int = 24) -> list[Point]:
    a = np.radians(np.linspace(a0, a1, n))
    return list(zip((c[0] + r * np.cos(a)).tolist(), (c[1] + r * np.sin(a)).tolist()))


# ---------------------------------------------------------------- plates


def _disc_plate(pen: _Pen, border: tuple[int, int, int] | None, fill: tuple[int, int, int],
                ring: float = 0.10) -> None:
    """Round plate with a thin white rim: the alpha is the whole disc."""
    pen.circle((0.5, 0.5), 0.49, 255, target=pen.alpha)
    pen.circle((0.5, 0.5), 0.49, WHITE)
    if border is not None:
        pen.circle((0.5, 0.5), 0.47, border)
        pen.circle((0.5, 0.5), 0.47 - ring, fill)
    else:
        pen.circle((0.5, 0.5), 0.47, fill)


def _triangle(scale: float, up: bool) -> list[Point]:
    """Equilateral triangle, side = scale, centred on the plate (incentre at the plate centre)."""
    h = scale * math.sqrt(3) / 2
    top = 0.5 - h / 2
    if up:
        return [(0.5, top), (0.5 + scale / 2, top + h), (0.5 - scale / 2, top + h)]
    return [(0.5 - scale / 2, top), (0.5 + scale / 2, top), (0.5, top + h)]


def _triangle_plate(pen: _Pen, up: bool, border: float) -> None:
    outer = _triangle(0.98, up)
    pen.rounded_poly(outer, 0.05, 255, target=pen.alpha)
    pen.rounded_poly(outer, 0.05, WHITE)
    red = _inset(np.array(outer), 0.014)
    pen.rounded_poly(red, 0.04, RED)
    pen.rounded_poly(_inset(red, border), 0.015, WHITE)


def _stripes(pen: _Pen, colour: tuple[int, int, int], n: int = 5, spacing: float = 0.045, width: float = 0.016,
             ) -> None:
    """The diagonal band of the German end-of-restriction signs, lower left to upper right."""
    for k in range(n):
        off = (k - (n - 1) / 2) * spacing
        ox, oy = off / math.sqrt(2), off / math.sqrt(2)
        pen.line([(0.12 + ox, 0.88 + oy), (0.88 + ox, 0.12 + oy)], width, colour)


# ---------------------------------------------------------------- vehicles


def _car_rear(pen: _Pen, cx: float, cy: float, w: float, colour: tuple[int, int, int], tilt: float = 0.0) -> None:
    """A car seen from behind (the no-passing signs; tilted ``tilt`` degrees clockwise, skidding, for 23)."""
    h = w * 0.9
    c, s = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))

    def at(pts: Sequence[Point]) -> list[Point]:  # offsets from the centre -> plate points
        return [(cx + c * dx - s * dy, cy + s * dx + c * dy) for dx, dy in pts]

    pen.rounded_poly(at([(-w / 2, -h * 0.05), (w / 2, -h * 0.05), (w / 2, h * 0.35), (-w / 2, h * 0.35)]), w * 0.06,
                     colour)
    pen.rounded_poly(at([(-w * 0.34, -h * 0.45), (w * 0.34, -h * 0.45), (w * 0.44, 0), (-w * 0.44, 0)]), w * 0.05,
                     colour)
    pen.poly(at([(-w * 0.24, -h * 0.36), (w * 0.24, -h * 0.36), (w * 0.31, -h * 0.09), (-w * 0.31, -h * 0.09)]), WHITE)
    for sx in (-1, 1):
        pen.poly(at([(sx * w * 0.42, h * 0.3), (sx * w * 0.2, h * 0.3), (sx * w * 0.2, h * 0.55),
                     (sx * w * 0.42, h * 0.55)]), colour)


def _truck_rear(pen: _Pen, cx: float, cy: float, w: float, colour: tuple[int, int, int]) -> None:
    """A lorry seen from behind: a tall box on wheels."""
    h = w * 1.2
    pen.poly([(cx - w / 2, cy - h * 0.5), (cx + w / 2, cy - h * 0.5), (cx + w / 2, cy + h * 0.3),
              (cx - w / 2, cy + h * 0.3)], colour)
    pen.line([(cx, cy - h * 0.42), (cx, cy + h * 0.22)], w * 0.05, WHITE)
    for sx in (-1, 1):
        pen.poly([(cx + sx * w * 0.45, cy + h * 0.28), (cx + sx * w * 0.15, cy + h * 0.28),
                  (cx + sx * w * 0.15, cy + h * 0.45), (cx + sx * w * 0.45, cy + h * 0.45)], colour)


def _truck_side(pen: _Pen, cx: float, cy: float, w: float, colour: tuple[int, int, int]) -> None:
    """A lorry from the side (sign 16): cab on the left, box behind, three wheels."""
    h = w * 0.55
    x0, y0 = cx - w / 2, cy - h / 2
    pen.poly([(x0 + w * 0.3, y0), (x0 + w, y0), (x0 + w, y0 + h * 0.78), (x0 + w * 0.3, y0 + h * 0.78)], colour)
    pen.poly([(x0 + w * 0.05, y0 + h * 0.25), (x0 + w * 0.27, y0 + h * 0.25), (x0 + w * 0.27, y0 + h * 0.78),
              (x0, y0 + h * 0.78), (x0, y0 + h * 0.45)], colour)
    pen.poly([(x0 + w * 0.08, y0 + h * 0.33), (x0 + w * 0.2, y0 + h * 0.33), (x0 + w * 0.2, y0 + h * 0.5),
              (x0 + w * 0.04, y0 + h * 0.5)], WHITE)
    for fx in (0.14, 0.62, 0.84):
        pen.circle((x0 + w * fx, y0 + h * 0.85), h * 0.17, colour)


# ---------------------------------------------------------------- danger symbols


def _sym(u: float, v: float) -> Point:
    """Local symbol frame of a warning triangle: u, v in [-1, 1] over the white field."""
    return 0.5 + 0.165 * u, 0.60 + 0.165 * v


def _s(pts: Sequence[Point]) -> list[Point]:
    return [_sym(u, v) for u, v in pts]


def _person(pen: _Pen, u: float, v: float, k: float, stride: float = 0.4, facing: int = 1) -> None:
    """Walking pictogram person with its head at (u, v) in symbol coordinates, k = height scale;
    ``facing`` -1 walks to the left."""
    W, f = 0.05 * k, facing
    pen.circle(_sym(u, v), 0.032 * k, BLACK)
    hip = (u - f * 0.05 * k, v + 1.0 * k)
    pen.line(_s([(u, v + 0.3 * k), hip]), W, BLACK)
    pen.line(_s([hip, (hip[0] - f * stride * k, v + 1.75 * k)]), W * 0.9, BLACK)
    pen.line(_s([hip, (hip[0] + f * 0.15 * k, v + 1.35 * k), (hip[0] + f * stride * k, v + 1.75 * k)]), W * 0.9, BLACK)
    pen.line(_s([(u - f * 0.35 * k, v + 0.95 * k), (u, v + 0.45 * k), (u + f * 0.4 * k, v + 0.85 * k)]), W * 0.7, BLACK)


def _danger_symbol(pen: _Pen, cid: int) -> None:
    if cid == 11:  # right of way (Z. 102): a broad upright, pointed at the top and flaring below, crossed by a bar
        pen.poly(_s([(0, -0.985), (0.288, -0.598), (0.198, -0.598), (0.198, -0.355), (0.63, -0.355), (0.738, -0.13),
                     (0.63, 0.095), (0.216, 0.095), (0.306, 0.968), (-0.306, 0.968), (-0.216, 0.095),
                     (-0.63, 0.095), (-0.738, -0.13), (-0.63, -0.355), (-0.198, -0.355), (-0.198, -0.598),
                     (-0.288, -0.598)]), BLACK)
    elif cid == 18:  # general caution
        pen.rounded_poly(_s([(-0.2, -1.05), (0.2, -1.05), (0.1, 0.4), (-0.1, 0.4)]), 0.005, BLACK)
        pen.circle(_sym(0, 0.78), 0.033, BLACK)
    elif cid == 19:  # curve left (Z. 103; 20 is the mirror image): a band bending left mid-field, its end flared
        path = [_sym(0.3, 1.0), *_s(_bezier((0.3, 0.25), (0.3, -0.3), (-0.2, -0.3)))]
        pen.line(path, 0.05, BLACK)
        pen.poly(_s([(-0.2, -0.58), (-0.72, -0.3), (-0.2, -0.02)]), BLACK)
    elif cid == 21:  # double curve, first to the left (Z. 105): a band jogging left in a smooth S, no arrow head
        jog = _bezier((0.3, 0.25), (0.3, 0.0), (0.0, 0.0))[:-1] + _bezier((0.0, 0.0), (-0.3, 0.0), (-0.3, -0.25))
        pen.line(_s([(0.3, 1.0), *jog, (-0.3, -1.0)]), 0.06, BLACK)
    elif cid == 22:  # bumpy road (Z. 112): two low humps on a thin strip of road
        us = np.linspace(-1.1, 1.1, 60)
        top = 0.85 - 0.5 * (np.exp(-((us + 0.5) ** 2) / 0.09) + np.exp(-((us - 0.5) ** 2) / 0.09))
        pen.poly(_s([*zip(us.tolist(), top.tolist()), (1.1, 1.0), (-1.1, 1.0)]), BLACK)
    elif cid == 23:  # slippery road (Z. 114): a car from behind, tilted as it skids, over two curling tracks
        _car_rear(pen, *_sym(0.05, -0.25), 0.206, BLACK, tilt=12)
        t = np.linspace(0, 1, 80)
        fade = np.clip(1.4 - 1.4 * t, 0, 1)  # the tracks curl under the car's rear and straighten out
        for dv in (0.0, 0.14):
            us = -0.7 + 1.4 * t + 0.1 * np.sin(4 * math.pi * t) * fade
            vs = 0.8 + dv - 0.08 * np.cos(4 * math.pi * t) * fade
            pen.line(_s(list(zip(us.tolist(), vs.tolist()))), 0.02, BLACK)
    elif cid == 24:  # road narrows on the right
        pen.line(_s([(-0.55, 1.05), (-0.55, -1.0)]), 0.05, BLACK)
        pen.line(_s([(0.6, 1.05), (0.6, 0.25), (0.1, -0.25), (0.1, -1.0)]), 0.05, BLACK)
    elif cid == 25:  # road work (Z. 123): a worker bent far over a shovel, digging into a low heap on the right
        pen.circle(_sym(0.5, -0.85), 0.032, BLACK)
        pen.line(_s([(0.4, -0.55), (-0.3, 0.15)]), 0.048, BLACK)  # body, bent toward the heap
        pen.line(_s([(-0.3, 0.15), (-0.65, 0.55), (-0.7, 1.0)]), 0.032, BLACK)  # rear leg
        pen.line(_s([(-0.3, 0.15), (0.0, 0.55), (-0.05, 1.0)]), 0.032, BLACK)  # front leg
        pen.line(_s([(0.35, -0.4), (0.2, -0.15), (0.35, 0.2)]), 0.026, BLACK)  # arms to the shaft
        pen.line(_s([(0.1, -0.45), (0.5, 0.6)]), 0.02, BLACK)  # shovel shaft
        pen.poly(_s([(0.4, 0.5), (0.64, 0.55), (0.54, 0.78)]), BLACK)  # blade
        pen.poly(_s([(0.15, 1.1), (0.45, 0.55), (0.75, 0.5), (1.2, 1.1)]), BLACK)  # heap
    elif cid == 26:  # traffic signals
        pen.rounded_poly(_s([(-0.36, -1.05), (0.36, -1.05), (0.36, 1.05), (-0.36, 1.05)]), 0.015, BLACK)
        for v, col in ((-0.66, LAMP_RED), (0.0, LAMP_YELLOW), (0.66, LAMP_GREEN)):
            pen.circle(_sym(0, v), 0.05, col)
    elif cid == 27:  # pedestrian
        _person(pen, 0.0, -0.95, 1.05)
    elif cid == 28:  # children (Z. 136): a small and a tall runner heading left, the small one ahead
        _person(pen, 0.4, -1.0, 1.05, 0.45, facing=-1)
        _person(pen, -0.5, -0.2, 0.62, 0.45, facing=-1)
    elif cid == 29:  # bicycle (Z. 138): low in the field, thin wheels nearly touching the side borders
        v, d, top = 1.05, 0.8, 0.2  # wheel hubs, their half spacing, saddle and head tube height
        for u in (-d, d):
            pen.circle(_sym(u, v), 0.078, BLACK, width=0.015)
        pen.line(_s([(-d, v), (-0.3, top), (0.0, v), (-d, v)]), 0.017, BLACK)
        pen.line(_s([(0.0, v), (0.45, top), (-0.3, top)]), 0.017, BLACK)
        pen.line(_s([(d, v), (0.45, top), (0.38, top - 0.3), (0.15, top - 0.32)]), 0.017, BLACK)
        pen.line(_s([(-0.3, top), (-0.33, top - 0.2)]), 0.015, BLACK)
        pen.line(_s([(-0.5, top - 0.22), (-0.15, top - 0.22)]), 0.024, BLACK)
    elif cid == 30:  # ice/snow: snowflake
        for a in (90, 30, 150):
            ca, sa = math.cos(math.radians(a)), math.sin(math.radians(a))
            pen.line(_s([(-0.95 * ca, -0.95 * sa), (0.95 * ca, 0.95 * sa)]), 0.028, BLACK)
            for end in (-1, 1):
                tip = (end * 0.6 * ca, end * 0.6 * sa)
                for b in (-45, 45):
                    rb = math.radians(a + b + (0 if end > 0 else 180))
                    pen.line(_s([tip, (tip[0] + 0.35 * math.cos(rb), tip[1] + 0.35 * math.sin(rb))]), 0.02, BLACK)
    elif cid == 31:  # wild animals (Z. 142): a deer leaping up to the left, hind legs stretched back
        pen.ellipse(_sym(0.0, 0.12), (0.09, 0.045), 40, BLACK)  # body, rising steeply to the left
        pen.line(_s([(-0.38, -0.05), (-0.58, -0.45)]), 0.04, BLACK)  # neck
        pen.ellipse(_sym(-0.68, -0.5), (0.032, 0.02), -25, BLACK)  # head
        pen.line(_s([(-0.55, -0.6), (-0.48, -0.95)]), 0.014, BLACK)  # antlers
        pen.line(_s([(-0.52, -0.8), (-0.35, -0.88)]), 0.012, BLACK)
        pen.line(_s([(-0.38, 0.05), (-0.72, 0.2), (-0.95, 0.05)]), 0.024, BLACK)  # forelegs
        pen.line(_s([(-0.3, 0.12), (-0.55, 0.45)]), 0.024, BLACK)
        pen.line(_s([(0.42, 0.3), (0.72, 0.65), (0.98, 0.85)]), 0.026, BLACK)  # hind legs
        pen.line(_s([(0.35, 0.36), (0.48, 0.75), (0.68, 0.95)]), 0.024, BLACK)
    else:
        raise ValueError(f"class {cid} is not a warning sign")


# ---------------------------------------------------------------- mandatory arrows

_AW, _HL, _HW = 0.085, 0.16, 0.135  # shaft width, head length, head half width


def _mandatory_symbol(pen: _Pen, cid: int) -> None:
    if cid == 35:
        pen.arrow([(0.5, 0.82), (0.5, 0.18)], _AW, _HL, _HW, WHITE)
    elif cid == 33:  # turn right ahead (34 mirrored)
        pts = [(0.40, 0.82), *_arc((0.60, 0.55), 0.20, 180, 270, 16), (0.82, 0.35)]
        pen.arrow(pts, _AW, _HL, _HW, WHITE)
    elif cid == 36:  # straight or right (37 mirrored)
        pen.arrow([(0.43, 0.84), (0.43, 0.16)], _AW * 0.9, _HL * 0.85, _HW * 0.85, WHITE)
        pts = [*_arc((0.63, 0.72), 0.20, 180, 270, 16), (0.84, 0.52)]
        pen.arrow(pts, _AW * 0.9, _HL * 0.85, _HW * 0.85, WHITE)
    elif cid == 38:  # keep right: points down and right (39 mirrored)
        pen.arrow([(0.3, 0.3), (0.73, 0.73)], _AW, _HL, _HW, WHITE)
    elif cid == 40:  # roundabout: three arrows circling anticlockwise (as seen on the plate)
        for k in range(3):
            a0 = 90 + 120 * k
            pts = _arc((0.5, 0.5), 0.24, -a0, -a0 - 92, 16)
            pen.arrow(pts, 0.065, 0.1, 0.09, WHITE)
    else:
        raise ValueError(f"class {cid} is not a mandatory sign")


# ---------------------------------------------------------------- the catalogue

_DANGER = frozenset({11, *range(18, 32)})
_MANDATORY = frozenset(range(33, 41))
_MIRRORED = {20: 19, 34: 33, 37: 36, 39: 38}
DIN_STROKE = 0.11  # the digits' weight on speed-limit signs (``_Pen.text``)
_SPEED_TEXT = {0: "20", 1: "30", 2: "50", 3: "60", 4: "70", 5: "80", 7: "100", 8: "120"}


def _draw(pen: _Pen, cid: int) -> None:
    if cid in _SPEED_TEXT:
        _disc_plate(pen, RED, WHITE)
        text = _SPEED_TEXT[cid]
        # two digits stand tall (0.44 of the plate); three are set smaller and condensed, as on the real signs
        box = (0.25, 0.28, 0.75, 0.72) if len(text) == 2 else (0.22, 0.33, 0.78, 0.67)
        pen.text(text, box, BLACK, stroke=DIN_STROKE)
    elif cid in (6, 32, 41, 42):  # end of restriction: white, grey, black only
        pen.circle((0.5, 0.5), 0.49, 255, target=pen.alpha)
        pen.circle((0.5, 0.5), 0.49, END_WHITE)
        # GTSRB photographs show a distinct dark rim: it also parts the plate from a pale sky behind it
        pen.circle((0.5, 0.5), 0.468, BLACK, width=0.04)
        if cid == 6:
            pen.text("80", (0.25, 0.31, 0.75, 0.69), GREY, stroke=DIN_STROKE)
        elif cid == 41:
            _car_rear(pen, 0.3, 0.5, 0.24, GREY)
            _car_rear(pen, 0.7, 0.5, 0.24, DARK_GREY)
        elif cid == 42:
            _truck_rear(pen, 0.3, 0.52, 0.22, GREY)
            _car_rear(pen, 0.7, 0.52, 0.24, DARK_GREY)
        _stripes(pen, BLACK if cid == 32 else DARK_GREY, n=5 if cid == 32 else 4)
    elif cid in (9, 10):
        _disc_plate(pen, RED, WHITE)
        if cid == 9:
            _car_rear(pen, 0.31, 0.52, 0.25, RED)
        else:
            _truck_rear(pen, 0.31, 0.52, 0.22, RED)
        _car_rear(pen, 0.69, 0.52, 0.25, BLACK)
    elif cid == 15:
        _disc_plate(pen, RED, WHITE, ring=0.12)
    elif cid == 16:
        _disc_plate(pen, RED, WHITE)
        _truck_side(pen, 0.5, 0.52, 0.54, BLACK)
    elif cid == 17:
        _disc_plate(pen, None, RED)
        pen.poly([(0.18, 0.42), (0.82, 0.42), (0.82, 0.58), (0.18, 0.58)], WHITE)
    elif cid in _DANGER:
        _triangle_plate(pen, True, 0.085)
        _danger_symbol(pen, cid)
    elif cid == 12:  # priority road
        diamond = [(0.5, 0.01), (0.99, 0.5), (0.5, 0.99), (0.01, 0.5)]
        pen.rounded_poly(diamond, 0.015, 255, target=pen.alpha)
        pen.rounded_poly(diamond, 0.015, WHITE)
        pen.line(_inset(np.array(diamond), 0.02).tolist(), 0.01, BLACK, closed=True)
        pen.poly([(0.5, 0.2), (0.8, 0.5), (0.5, 0.8), (0.2, 0.5)], YELLOW)
        pen.line([(0.5, 0.2), (0.8, 0.5), (0.5, 0.8), (0.2, 0.5)], 0.008, BLACK, closed=True)
    elif cid == 13:  # yield
        _triangle_plate(pen, False, 0.13)
    elif cid == 14:  # stop
        r = 0.49 / math.cos(math.radians(22.5))
        octa = [(0.5 + r * math.cos(math.radians(22.5 + 45 * k)), 0.5 + r * math.sin(math.radians(22.5 + 45 * k)))
                for k in range(8)]
        pen.poly(octa, 255, target=pen.alpha)
        pen.poly(octa, WHITE)
        pen.poly(_inset(np.array(octa), 0.025).tolist(), RED)
        pen.text("STOP", (0.16, 0.39, 0.84, 0.61), WHITE, 0.14)
    elif cid in _MANDATORY:
        _disc_plate(pen, None, BLUE)
        _mandatory_symbol(pen, cid)
    else:
        raise ValueError(f"unknown class id {cid}")


def _finish(pen: _Pen, size: int) -> np.ndarray:
    """Shrink the supersampled canvas to ``size`` with premultiplied alpha, so edges are not darkened."""
    a = pen.alpha.astype(np.float32) / 255
    premul = pen.img.astype(np.float32) * a[..., None]
    small = cv2.resize(premul, (size, size), interpolation=cv2.INTER_AREA)
    sa = cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA)
    alpha = np.clip(sa * 255 + 0.5, 0, 255).astype(np.uint8)
    alpha[alpha < _ALPHA_FLOOR] = 0
    bgr = np.clip(small / np.maximum(sa, 1e-6)[..., None] + 0.5, 0, 255).astype(np.uint8)
    bgr[alpha == 0] = 0
    return np.dstack([bgr, alpha])


def _supersample(size: int) -> int:
    return 4 if size <= 160 else (2 if size <= 512 else 1)


def _render(draw: Callable[[_Pen], None], size: int, mirror: bool = False) -> np.ndarray:
    if size < 4:
        raise ValueError(f"sign size {size} is too small")
    pen = _Pen(size * _supersample(size))
    draw(pen)
    if mirror:
        pen.img, pen.alpha = pen.img[:, ::-1].copy(), pen.alpha[:, ::-1].copy()
    return _finish(pen, size)


@functools.lru_cache(maxsize=512)
def _cached_sign(class_id: int, size: int) -> np.ndarray:
    base = _MIRRORED.get(class_id, class_id)
    out = _render(lambda pen: _draw(pen, base), size, mirror=class_id in _MIRRORED)
    out.flags.writeable = False
    return out


def draw_sign(class_id: int, size: int) -> np.ndarray:
    """BGRA uint8 image (size x size) of GTSRB class ``class_id``; alpha is the plate mask."""
    if not 0 <= class_id < NUM_CLASSES:
        raise ValueError(f"class id {class_id} outside 0..{NUM_CLASSES - 1}")
    return _cached_sign(int(class_id), int(size)).copy()


# ---------------------------------------------------------------- unlisted look-alikes


def _draw_distractor(pen: _Pen, kind: str) -> None:
    if kind in ("parking", "crossing"):
        sq = [(0.03, 0.03), (0.97, 0.03), (0.97, 0.97), (0.03, 0.97)]
        pen.rounded_poly(sq, 0.05, 255, target=pen.alpha)
        pen.rounded_poly(sq, 0.05, WHITE)
        pen.rounded_poly(_inset(np.array(sq), 0.03).tolist(), 0.035, BLUE)
        if kind == "parking":
            pen.text("P", (0.3, 0.2, 0.72, 0.8), WHITE, 0.2)
        else:
            pen.poly([(0.5, 0.1), (0.9, 0.85), (0.1, 0.85)], WHITE)
            pen.circle((0.53, 0.36), 0.045, BLACK)
            pen.line([(0.5, 0.44), (0.45, 0.62)], 0.05, BLACK)
            pen.line([(0.45, 0.62), (0.35, 0.78)], 0.04, BLACK)
            pen.line([(0.45, 0.62), (0.56, 0.7), (0.6, 0.8)], 0.04, BLACK)
            pen.line([(0.38, 0.58), (0.48, 0.48), (0.6, 0.57)], 0.03, BLACK)
            for x in (0.25, 0.4, 0.55, 0.7):
                pen.line([(x, 0.82), (x + 0.1, 0.82)], 0.025, BLACK)
    elif kind in ("direction", "green"):
        rect = [(0.02, 0.3), (0.98, 0.3), (0.98, 0.7), (0.02, 0.7)]
        fill, ink = (WHITE, BLACK) if kind == "direction" else (GREEN_SIGN, WHITE)
        pen.rounded_poly(rect, 0.02, 255, target=pen.alpha)
        pen.rounded_poly(rect, 0.02, ink if kind == "direction" else WHITE)
        pen.rounded_poly(_inset(np.array(rect), 0.02).tolist(), 0.015, fill)
        if kind == "direction":
            pen.text("ULM 12", (0.1, 0.4, 0.7, 0.6), ink, 0.12)
            pen.arrow([(0.74, 0.5), (0.93, 0.5)], 0.05, 0.08, 0.07, ink)
        else:
            pen.text("A7 KASSEL", (0.08, 0.4, 0.92, 0.6), ink, 0.12)
    else:
        raise ValueError(f"unknown distractor kind {kind!r}; one of {DISTRACTOR_KINDS}")


@functools.lru_cache(maxsize=64)
def _cached_distractor(kind: str, size: int) -> np.ndarray:
    out = _render(lambda pen: _draw_distractor(pen, kind), size)
    out.flags.writeable = False
    return out


def draw_distractor_sign(kind: str, size: int) -> np.ndarray:
    """BGRA image of a sign that is *not* one of the 43 classes (parking, crossing, direction, green)."""
    return _cached_distractor(kind, int(size)).copy()


def tight_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of the non-zero alpha pixels, x2/y2 exclusive; (0, 0, 0, 0) when empty."""
    cols = np.flatnonzero(alpha.any(axis=0))
    if cols.size == 0:
        return 0, 0, 0, 0
    rows = np.flatnonzero(alpha.any(axis=1))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def contact_sheet(size: int = 64, cols: int = 11, background: tuple[int, int, int] = (110, 140, 110),
                  distractors: bool = True) -> np.ndarray:
    """All pictograms on one BGR sheet with their class ids: for looking at them."""
    items: list[tuple[str, np.ndarray]] = [(str(c), draw_sign(c, size)) for c in range(NUM_CLASSES)]
    if distractors:
        items += [(k[:4], draw_distractor_sign(k, size)) for k in DISTRACTOR_KINDS]
    rows = (len(items) + cols - 1) // cols
    cell = size + 18
    sheet = np.full((rows * cell, cols * cell, 3), background, np.uint8)
    for i, (label, img) in enumerate(items):
        y, x = (i // cols) * cell, (i % cols) * cell
        a = img[..., 3:].astype(np.float32) / 255
        roi = sheet[y + 2:y + 2 + size, x + 9:x + 9 + size].astype(np.float32)
        sheet[y + 2:y + 2 + size, x + 9:x + 9 + size] = (roi * (1 - a) + img[..., :3] * a + 0.5).astype(np.uint8)
        cv2.putText(sheet, label, (x + 9, y + size + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet
