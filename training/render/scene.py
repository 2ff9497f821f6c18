"""Synthetic road scenes with signs on poles and exact ground truth.

The detector and pipeline tests need frames where the answer is known to the pixel, with
the things that fool a colour detector (red cars and brake lights, blue sky and cars, red
roofs, orange cones, signs that are not among the 43 classes) present but never in the
ground truth. Everything is drawn from ``np.random.default_rng`` streams derived from the
seed, one stream per stage, so switching an effect off leaves the layout unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from realtime.classes import NUM_CLASSES
from training.render.pictograms import DISTRACTOR_KINDS, draw_distractor_sign, draw_sign, tight_box

Box = tuple[int, int, int, int]
Colour = tuple[int, int, int]

LIGHTING = ("normal", "dark", "bright", "dusk")


# ---------------------------------------------------------------- compositing


def premultiply(bgra: np.ndarray) -> np.ndarray:
    """Float32 BGRA with colour multiplied by alpha (alpha in 0..1): warps and resizes then keep edges clean."""
    out = bgra.astype(np.float32)
    out[..., 3] /= 255.0
    out[..., :3] *= out[..., 3:4]
    return out


def paste(frame: np.ndarray, sign: np.ndarray, x: int, y: int) -> Box | None:
    """Composite a premultiplied float BGRA patch with its top-left at (x, y), clipped to the frame.

    Returns the tight box of the pasted plate's non-zero alpha in frame coordinates (x2/y2
    exclusive), or None when nothing of it lands in the frame.
    """
    h, w = frame.shape[:2]
    ph, pw = sign.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + pw, w), min(y + ph, h)
    if x1 >= x2 or y1 >= y2:
        return None
    patch = sign[y1 - y:y2 - y, x1 - x:x2 - x]
    a = patch[..., 3:4]
    roi = frame[y1:y2, x1:x2]
    roi[:] = np.clip(roi * (1.0 - a) + patch[..., :3] + 0.5, 0, 255).astype(np.uint8)
    bx1, by1, bx2, by2 = tight_box(a[..., 0] > 0)
    if bx2 == 0:
        return None
    return x1 + bx1, y1 + by1, x1 + bx2, y1 + by2


def warp_plate(bgra: np.ndarray, yaw_deg: float, roll_deg: float) -> np.ndarray:
    """Premultiplied plate turned about its vertical axis (yaw) and tilted (roll), on a patch that fits it."""
    s = bgra.shape[0]
    f = 3.0 * s  # a camera a few plate widths away: mild but visible foreshortening
    yaw, roll = math.radians(yaw_deg), math.radians(roll_deg)
    src = np.array([[0, 0], [s, 0], [s, s], [0, s]], np.float32)
    pts = []
    for cx, cy in src - s / 2:
        xr, zr = cx * math.cos(yaw), cx * math.sin(yaw)
        px, py = f * xr / (f + zr), f * cy / (f + zr)
        pts.append((px * math.cos(roll) - py * math.sin(roll), px * math.sin(roll) + py * math.cos(roll)))
    dst = np.array(pts, np.float32)
    dst -= dst.min(axis=0)
    size = np.ceil(dst.max(axis=0)).astype(int) + 1
    m = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(premultiply(bgra), m, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out[out[..., 3] < 6 / 255.0] = 0  # like the pictograms: drop invisible fringe that would widen the box
    return out


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Normalised line kernel: a camera or object moving during the exposure."""
    k = max(1, int(math.ceil(length)))
    size = 2 * k + 1
    ker = np.zeros((size, size), np.float32)
    dx, dy = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    half = length / 2
    cv2.line(ker, (int(round((k - dx * half) * 16)), int(round((k - dy * half) * 16))),
             (int(round((k + dx * half) * 16)), int(round((k + dy * half) * 16))), 1.0, 1, cv2.LINE_AA, 4)
    return ker / max(float(ker.sum()), 1e-6)


def lighting_lut(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Per-channel 256-entry LUT (256x1x3) for a global lighting condition with a small colour cast."""
    gain = {"normal": 1.0, "dark": rng.uniform(0.35, 0.6), "bright": rng.uniform(1.2, 1.45),
            "dusk": rng.uniform(0.5, 0.7)}[kind]
    gamma = {"normal": 1.0, "dark": rng.uniform(1.1, 1.4), "bright": rng.uniform(0.75, 0.9),
             "dusk": 1.15}[kind]
    cast = 1.0 + rng.uniform(-0.08, 0.08, 3)
    if kind == "dusk":
        cast *= np.array([0.8, 0.92, 1.12])  # orange evening light
    x = np.arange(256, dtype=np.float32) / 255.0
    lut = np.stack([np.clip(255.0 * gain * c * x**gamma, 0, 255) for c in cast], axis=-1)
    return lut.astype(np.uint8).reshape(256, 1, 3)


# ---------------------------------------------------------------- background


class Road:
    """Ground-plane geometry of a straight road: where a point at lateral offset/ distance lands."""

    def __init__(self, width: int, height: int, horizon: float, vp_x: float, half_width: float) -> None:
        self.w, self.h, self.horizon, self.vp_x = width, height, horizon, vp_x
        self.half_width = half_width  # road half width in pixels at the bottom row

    def point(self, lateral: float, depth: float) -> tuple[float, float]:
        """Lateral in road half widths (0 = centre), depth >= 1 (1 = bottom row, larger = farther)."""
        t = 1.0 / depth
        return self.vp_x + lateral * self.half_width * t, self.horizon + (self.h - self.horizon) * t

    def quad(self, l0: float, l1: float, d0: float, d1: float) -> np.ndarray:
        return np.array([self.point(l0, d0), self.point(l1, d0), self.point(l1, d1), self.point(l0, d1)],
                        np.float32)


def _fill(img: np.ndarray, pts: np.ndarray | Sequence[Sequence[float]], colour: Colour) -> None:
    arr = (np.asarray(pts, np.float64) * 16).round().astype(np.int32)
    cv2.fillPoly(img, [arr], colour, cv2.LINE_AA, 4)


def _jitter(rng: np.random.Generator, colour: Sequence[float], amount: float = 15) -> Colour:
    c = np.clip(np.asarray(colour, np.float64) + rng.uniform(-amount, amount, 3), 0, 255)
    return int(c[0]), int(c[1]), int(c[2])


def draw_sky(img: np.ndarray, rng: np.random.Generator, horizon: int) -> None:
    """Vertical gradient: clear blue, hazy or overcast, so blue is only sometimes there."""
    kind = rng.choice(["blue", "hazy", "overcast"], p=[0.45, 0.3, 0.25])
    top, low = {"blue": ((200, 140, 70), (235, 205, 170)), "hazy": ((215, 190, 160), (235, 225, 215)),
                "overcast": ((190, 185, 180), (220, 218, 215))}[str(kind)]
    t = np.linspace(0, 1, max(horizon, 1), dtype=np.float32)[:, None, None]
    grad = np.asarray(_jitter(rng, top), np.float32) * (1 - t) + np.asarray(_jitter(rng, low), np.float32) * t
    img[:horizon] = grad.astype(np.uint8)
    for _ in range(int(rng.integers(0, 6))):  # clouds: soft white ellipses
        c = (int(rng.uniform(0, img.shape[1])), int(rng.uniform(0, horizon * 0.8)))
        ax = (int(rng.uniform(40, 200)), int(rng.uniform(12, 40)))
        shade = int(rng.uniform(225, 250))
        cv2.ellipse(img, c, ax, 0, 0, 360, (shade, shade, shade), -1, cv2.LINE_AA)


def draw_ground(img: np.ndarray, rng: np.random.Generator, road: Road) -> None:
    h, w = img.shape[:2]
    hz = int(road.horizon)
    grass = np.asarray(_jitter(rng, (60, 120, 90), 20), np.float32)
    t = np.linspace(0.75, 1.1, h - hz, dtype=np.float32)[:, None, None]
    img[hz:] = np.clip(grass * t, 0, 255).astype(np.uint8)
    _fill(img, road.quad(-1.0, 1.0, 1.0, 400.0), _jitter(rng, (95, 95, 98), 12))
    edge = (225, 225, 225)
    for side in (-1, 1):
        _fill(img, road.quad(side * 0.96, side * 0.92, 1.0, 400.0), edge)


def draw_lane_marks(img: np.ndarray, road: Road, phase: float, dash: float = 3.0, gap: float = 6.0,
                    depth_max: float = 60.0) -> None:
    """Dashed centre line; ``phase`` (in road units) moves the dashes towards the camera when driving."""
    period = dash + gap
    k = 0
    while True:
        d0 = 1.0 + (k * period - phase % period)
        k += 1
        d1 = d0 + dash
        if d0 > depth_max:
            break
        if d1 <= 1.0:
            continue
        _fill(img, road.quad(-0.015, 0.015, max(d0, 1.0), d1), (230, 230, 230))


def draw_skyline(img: np.ndarray, rng: np.random.Generator, road: Road, red_roofs: bool) -> None:
    """Buildings and trees along the horizon; some buildings get red roofs (a red-detector trap)."""
    h, w = img.shape[:2]
    hz = int(road.horizon)
    x = -int(rng.uniform(0, 60))
    while x < w:
        bw = int(rng.uniform(40, 180))
        gap_road = abs(x + bw / 2 - road.vp_x) < 60
        if not gap_road:
            if rng.random() < 0.55:
                bh = int(rng.uniform(30, 160))
                base = hz + int(rng.uniform(2, 12))
                col = _jitter(rng, [(170, 180, 190), (120, 140, 170), (200, 200, 200), (90, 100, 130)][
                    int(rng.integers(4))], 20)
                cv2.rectangle(img, (x, base - bh), (x + bw, base), col, -1)
                win = _jitter(rng, (70, 60, 50), 15)
                for wy in range(base - bh + 8, base - 12, 22):
                    for wx in range(x + 6, x + bw - 12, 20):
                        cv2.rectangle(img, (wx, wy), (wx + 9, wy + 11), win, -1)
                if red_roofs and rng.random() < 0.6:
                    rh = int(rng.uniform(15, 50))
                    roof = _jitter(rng, (40, 50, 170), 20)
                    if rng.random() < 0.5:
                        _fill(img, [(x - 4, base - bh), (x + bw + 4, base - bh), (x + bw / 2, base - bh - rh)], roof)
                    else:
                        _fill(img, [(x - 4, base - bh), (x + bw + 4, base - bh), (x + bw - 15, base - bh - rh),
                                    (x + 15, base - bh - rh)], roof)
            else:
                for _ in range(int(rng.integers(1, 4))):
                    tx = x + int(rng.uniform(0, bw))
                    th = int(rng.uniform(40, 140))
                    cv2.rectangle(img, (tx - 3, hz - th // 3), (tx + 3, hz + 8), (40, 60, 80), -1)
                    green = _jitter(rng, (40, 90, 50), 15)
                    for _ in range(4):
                        c = (tx + int(rng.uniform(-th / 4, th / 4)), hz - th // 3 - int(rng.uniform(0, th / 2)))
                        cv2.circle(img, c, int(th * rng.uniform(0.15, 0.3)), green, -1, cv2.LINE_AA)
        x += bw + int(rng.uniform(0, 40))


def add_texture(img: np.ndarray, rng: np.random.Generator, amplitude: float = 6.0) -> None:
    """Low-frequency blotches: flat synthetic regions are too easy for a colour segmenter."""
    h, w = img.shape[:2]
    small = rng.standard_normal((h // 24 + 2, w // 24 + 2), dtype=np.float32) * amplitude
    blot = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[..., None]
    img[:] = np.clip(img + blot, 0, 255).astype(np.uint8)


def render_background(rng: np.random.Generator, width: int, height: int, distractors: bool = True,
                      road: Road | None = None, lane_marks: bool = True) -> tuple[np.ndarray, Road]:
    """Sky, skyline, grass, road with edge lines, texture; returns the image and its road geometry.

    The drive-by passes its own camera-consistent ``road`` and draws the moving lane marks per frame.
    """
    img = np.zeros((height, width, 3), np.uint8)
    if road is None:
        horizon = height * rng.uniform(0.38, 0.5)
        road = Road(width, height, horizon, width * rng.uniform(0.4, 0.6), width * rng.uniform(0.45, 0.7))
    draw_sky(img, rng, int(road.horizon))
    draw_ground(img, rng, road)
    draw_skyline(img, rng, road, red_roofs=distractors)
    if lane_marks:
        draw_lane_marks(img, road, float(rng.uniform(0, 2)), dash=0.6, gap=1.3, depth_max=25.0)
    add_texture(img, rng)
    return img, road


# ---------------------------------------------------------------- distractors


def draw_car(img: np.ndarray, cx: float, bottom: float, w: float, colour: Colour, brake: bool = True) -> None:
    """A car seen from behind: body, dark rear window, bright tail lamps (red blobs that are not signs)."""
    h = w * 0.75
    x0, y0 = cx - w / 2, bottom - h
    cv2.rectangle(img, (int(x0 + w * 0.05), int(bottom - h * 0.12)), (int(x0 + w * 0.25), int(bottom)),
                  (20, 20, 20), -1)
    cv2.rectangle(img, (int(x0 + w * 0.75), int(bottom - h * 0.12)), (int(x0 + w * 0.95), int(bottom)),
                  (20, 20, 20), -1)
    _fill(img, [(x0, y0 + h * 0.42), (x0 + w, y0 + h * 0.42), (x0 + w, bottom - h * 0.08),
                (x0, bottom - h * 0.08)], colour)
    _fill(img, [(x0 + w * 0.15, y0), (x0 + w * 0.85, y0), (x0 + w * 0.95, y0 + h * 0.45),
                (x0 + w * 0.05, y0 + h * 0.45)], colour)
    _fill(img, [(x0 + w * 0.2, y0 + h * 0.07), (x0 + w * 0.8, y0 + h * 0.07), (x0 + w * 0.87, y0 + h * 0.4),
                (x0 + w * 0.13, y0 + h * 0.4)], (50, 45, 40))
    lamp = (40, 40, 255) if brake else (40, 40, 170)
    for lx in (x0 + w * 0.12, x0 + w * 0.88):
        cv2.ellipse(img, (int(lx), int(y0 + h * 0.58)), (max(2, int(w * 0.08)), max(1, int(h * 0.07))), 0, 0,
                    360, lamp, -1, cv2.LINE_AA)
    cv2.rectangle(img, (int(cx - w * 0.12), int(y0 + h * 0.66)), (int(cx + w * 0.12), int(y0 + h * 0.76)),
                  (230, 230, 230), -1)


def draw_cone(img: np.ndarray, cx: float, bottom: float, h: float) -> None:
    """Orange traffic cone with a white band."""
    orange = (20, 110, 250)
    _fill(img, [(cx - h * 0.3, bottom), (cx + h * 0.3, bottom), (cx + h * 0.06, bottom - h),
                (cx - h * 0.06, bottom - h)], orange)
    _fill(img, [(cx - h * 0.2, bottom - h * 0.45), (cx + h * 0.2, bottom - h * 0.45),
                (cx + h * 0.15, bottom - h * 0.62), (cx - h * 0.15, bottom - h * 0.62)], (235, 235, 235))


def draw_barrier(img: np.ndarray, x: float, bottom: float, w: float) -> None:
    """Red/white or yellow/black striped construction barrier."""
    h = w * 0.25
    colours = [((30, 30, 210), (240, 240, 240)), ((20, 190, 240), (30, 30, 30))][int(x) % 2]
    y0 = bottom - h * 2.2
    for k in range(8):
        _fill(img, [(x + k * w / 8, y0), (x + (k + 1) * w / 8, y0), (x + (k + 1) * w / 8, y0 + h),
                    (x + k * w / 8, y0 + h)], colours[k % 2])
    for lx in (x + w * 0.1, x + w * 0.9):
        cv2.line(img, (int(lx), int(y0 + h)), (int(lx), int(bottom)), (60, 60, 60), max(1, int(w * 0.03)))


def draw_distractors(img: np.ndarray, rng: np.random.Generator, road: Road, taken: list[Box],
                     moving_world: bool = True) -> None:
    """Colourful non-signs: cars (red with brake lights, blue), blue sky patch or billboard, cones,
    barriers, yellow box van, and unlisted sign types on poles (never ground truth).

    ``moving_world=False`` keeps only what may stay put in a drive-by background (sky, billboards,
    cars driving ahead at our speed); roadside objects would otherwise look frozen.
    """
    h, w = img.shape[:2]
    hz = road.horizon
    if rng.random() < 0.5:  # a patch of deep blue sky or a blue billboard
        cx, cy = rng.uniform(0, w), rng.uniform(0, hz * 0.7)
        ax = (int(rng.uniform(40, 160)), int(rng.uniform(20, 70)))
        cv2.ellipse(img, (int(cx), int(cy)), ax, float(rng.uniform(-20, 20)), 0, 360,
                    _jitter(rng, (190, 110, 30), 20), -1, cv2.LINE_AA)
    if rng.random() < 0.35:
        bx, by = int(rng.uniform(0, w - 120)), int(hz - rng.uniform(40, 120))
        cv2.rectangle(img, (bx, by), (bx + int(rng.uniform(50, 120)), by + int(rng.uniform(25, 60))),
                      _jitter(rng, (170, 80, 10), 15), -1)
    cars = []
    for _ in range(int(rng.integers(1, 4))):  # cars on the road
        depth = rng.uniform(1.3, 12.0)
        lateral = rng.uniform(-0.6, 0.6)
        colour = [(30, 30, 190), (40, 25, 140), (160, 80, 20), (170, 110, 40), (200, 200, 200), (40, 40, 40),
                  (20, 170, 230)][int(rng.integers(7))]
        cars.append((depth, lateral, _jitter(rng, colour, 12), bool(rng.random() < 0.7)))
    for depth, lateral, colour, brake in sorted(cars, key=lambda c: -c[0]):  # far ones first
        cx, bottom = road.point(lateral, depth)
        draw_car(img, cx, bottom, road.half_width * 0.55 / depth, colour, brake=brake)
    if not moving_world:
        return
    for _ in range(int(rng.integers(0, 4))):
        depth = rng.uniform(1.2, 8.0)
        cx, bottom = road.point(rng.choice([-1.0, 1.0]) * rng.uniform(0.9, 1.3), depth)
        draw_cone(img, cx, bottom, 80.0 / depth)
    if rng.random() < 0.4:
        depth = rng.uniform(1.5, 6.0)
        cx, bottom = road.point(rng.choice([-1.0, 1.0]) * rng.uniform(1.05, 1.5), depth)
        draw_barrier(img, cx, bottom, 220.0 / depth)
    if rng.random() < 0.3:  # a yellow box van by the road
        depth = rng.uniform(2.0, 8.0)
        cx, bottom = road.point(rng.choice([-1.0, 1.0]) * 1.4, depth)
        vw = road.half_width * 0.7 / depth
        cv2.rectangle(img, (int(cx - vw / 2), int(bottom - vw)), (int(cx + vw / 2), int(bottom)),
                      _jitter(rng, (20, 200, 245), 10), -1)
    for _ in range(int(rng.integers(0, 3))):  # unlisted sign types on poles
        kind = str(rng.choice(DISTRACTOR_KINDS))
        size = int(rng.uniform(30, 110))
        spot = _free_spot(rng, w, h, hz, size, taken, road)
        if spot is None:
            continue
        x, y = spot
        bgra = draw_distractor_sign(kind, size)
        bx1, by1, bx2, by2 = tight_box(bgra[..., 3])
        _pole(img, x + size / 2, y + by2, size, rng, hz)
        paste(img, premultiply(bgra), x, y)
        taken.append((x + bx1, y + by1, x + bx2, y + by2))


def _pole(img: np.ndarray, cx: float, top: float, size: int, rng: np.random.Generator, horizon: float) -> None:
    """Grey post from under the plate down to the ground (below the horizon), so plates do not float."""
    length = max(size * rng.uniform(1.2, 3.0), horizon + size * 0.4 - top)
    pw = max(2, int(round(size * 0.07)))
    shade = int(rng.uniform(110, 160))
    cv2.rectangle(img, (int(cx - pw / 2), int(top - 2)), (int(cx + pw / 2), int(min(top + length, img.shape[0]))),
                  (shade, shade, shade + 5), -1)


def _free_spot(rng: np.random.Generator, w: int, h: int, horizon: float, size: int, taken: list[Box],
               road: Road | None = None, tries: int = 30) -> tuple[int, int] | None:
    """Top-left corner for a size x size plate in the sign band above/around the horizon, clear of others
    and, where the plate hangs below the horizon, not standing in the road."""
    margin = 6
    for _ in range(tries):
        x = int(rng.uniform(2, w - size - 2))
        y_lo, y_hi = h * 0.06, min(h - size - 2, horizon + h * 0.12)
        y = int(rng.uniform(y_lo, max(y_lo + 1, y_hi)))
        if x < 0 or y < 0 or x + size > w or y + size > h:  # plates stay whole inside the frame
            continue
        if road is not None and y + size > road.horizon:
            half = road.half_width * (y + size - road.horizon) / (h - road.horizon) * 1.1
            if abs(x + size / 2 - road.vp_x) < half + size / 2:
                continue
        if all(x + size + margin <= bx1 or bx2 + margin <= x or y + size + margin <= by1 or by2 + margin <= y
               for bx1, by1, bx2, by2 in taken):
            return x, y
    return None


# ---------------------------------------------------------------- the scene


def _count(n: int | tuple[int, int], rng: np.random.Generator) -> int:
    if isinstance(n, int):
        return n
    return int(rng.integers(n[0], n[1] + 1))


def render_scene(seed: int, width: int = 1360, height: int = 800, n_signs: int | tuple[int, int] = (1, 4),
                 classes: Sequence[int] | None = None, distractors: bool = True,
                 sizes: tuple[int, int] = (20, 120), *, noise: bool = True, blur: bool = True,
                 occlusion: bool = True, lighting: bool = True, perspective: bool = True,
                 paste_signs: bool = True) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One BGR road scene and its ground truth ``[{"box": [x1, y1, x2, y2], "class_id", "occluded"}]``.

    Boxes are the tight box of the plate's visible (alpha > 0) pixels, x2/y2 exclusive. Each
    effect only has a chance of being applied when enabled. ``paste_signs=False`` renders the
    same frame without the sign plates (poles and everything else stay), for checking boxes.
    """
    ss = np.random.SeedSequence(int(seed))
    bg_rng, sign_rng, dis_rng, occ_rng, fx_rng = (np.random.default_rng(s) for s in ss.spawn(5))
    frame, road = render_background(bg_rng, width, height, distractors)
    pool = list(range(NUM_CLASSES)) if classes is None else [int(c) for c in classes]

    # Sign layout first, so distractors stay clear of the plates.
    plans = []
    taken: list[Box] = []
    for _ in range(_count(n_signs, sign_rng)):
        cid = int(sign_rng.choice(pool))
        size = int(round(math.exp(sign_rng.uniform(math.log(sizes[0]), math.log(sizes[1])))))
        yaw = float(sign_rng.uniform(-35, 35)) if sign_rng.random() < 0.5 else 0.0
        roll = float(sign_rng.uniform(-6, 6)) if sign_rng.random() < 0.3 else 0.0
        plate = premultiply(draw_sign(cid, size)) if not (perspective and (yaw or roll)) else \
            warp_plate(draw_sign(cid, size), yaw, roll)
        ph, pw = plate.shape[:2]
        spot = _free_spot(sign_rng, width, height, road.horizon, max(ph, pw), taken, road)
        if spot is None:
            continue
        x, y = spot
        bx1, by1, bx2, by2 = tight_box(plate[..., 3] > 0)
        taken.append((x + bx1, y + by1, x + bx2, y + by2))
        plans.append((cid, plate, x, y))
    if distractors:
        draw_distractors(frame, dis_rng, road, list(taken))

    gt: list[dict[str, Any]] = []
    for _cid, plate, x, y in plans:
        bx1, by1, bx2, by2 = tight_box(plate[..., 3] > 0)
        _pole(frame, x + (bx1 + bx2) / 2, y + by2, bx2 - bx1, sign_rng, road.horizon)
    for cid, plate, x, y in plans:
        bx1, by1, bx2, by2 = tight_box(plate[..., 3] > 0)
        box = (x + bx1, y + by1, x + bx2, y + by2)
        if paste_signs:
            paste(frame, plate, x, y)  # fully inside the frame, so its box is ``box``
        gt.append({"box": list(box), "class_id": cid, "occluded": False})

    for item in gt:  # a branch or a pole in front of up to ~25 % of the plate
        if not (occlusion and occ_rng.random() < 0.2):
            continue
        x1, y1, x2, y2 = item["box"]
        bw, bh = x2 - x1, y2 - y1
        frac = occ_rng.uniform(0.1, 0.25)
        if occ_rng.random() < 0.5:  # vertical pole from one side
            ow = max(1, int(bw * frac))
            ox = x1 if occ_rng.random() < 0.5 else x2 - ow
            cv2.rectangle(frame, (ox, y1 - bh), (ox + ow - 1, min(y2 + 2 * bh, height - 1)),
                          _jitter(occ_rng, (90, 95, 100), 20), -1)
        else:  # leafy branch from the top
            oh = max(1, int(bh * frac))
            cv2.rectangle(frame, (x1 - bw // 2, y1), (x2 + bw // 2, y1 + oh - 1),
                          _jitter(occ_rng, (40, 90, 50), 15), -1)
        item["occluded"] = True

    if lighting:
        kind = str(fx_rng.choice(LIGHTING, p=[0.55, 0.15, 0.15, 0.15]))
        if kind != "normal":
            frame = cv2.LUT(frame, lighting_lut(kind, fx_rng))
    if blur and fx_rng.random() < 0.3:
        frame = cv2.filter2D(frame, -1, motion_kernel(fx_rng.uniform(2, 8), fx_rng.uniform(0, 180)))
    if noise and fx_rng.random() < 0.7:
        frame = add_noise(frame, fx_rng, fx_rng.uniform(2, 8))
    return frame, gt


def add_noise(frame: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Gaussian sensor noise. A quarter-frame field is mirrored into the four quadrants: four
    times fewer samples to draw, and the repetition is invisible."""
    h, w = frame.shape[:2]
    qh, qw = (h + 1) // 2, (w + 1) // 2
    q = np.round(rng.standard_normal((qh, qw, frame.shape[2]), dtype=np.float32) * sigma).astype(np.int16)
    field = np.concatenate([np.concatenate([q, q[:, ::-1]], axis=1),
                            np.concatenate([q[::-1], q[::-1, ::-1]], axis=1)], axis=0)
    return np.clip(frame + field[:h, :w], 0, 255).astype(np.uint8)
