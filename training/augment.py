"""Augmentation that imitates what the detector hands over: imperfect framing, tilt,
perspective, lighting, faded colour, occlusion, blur and noise. Never flips: a mirrored
"keep left" is "keep right".

One perspective warp per image does the crop, the framing jitter and the geometry at once,
so augmented and plain crops come from the same source pixels, and the sign's box in the
augmented crop is known exactly (the target of the network's box head).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from realtime.preprocess import Preprocessing, normalise_stack, sample_boxes


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 12.0
    scale: float = 0.12  # framing scale jitter (+-), a detector box that is a little off
    shift: float = 0.10  # framing shift as a fraction of the sign size (+-)
    perspective: float = 0.08  # corner jitter as a fraction of the sign size
    # a share of crops framed the way a coarse colour blob frames a sign: the box head learns to fix them
    loose_p: float = 0.35
    loose_scale: tuple[float, float] = (-0.2, 0.3)  # zoom in / out
    loose_shift: float = 0.2
    loose_aspect: float = 0.15
    brightness: float = 0.35  # multiplicative (+-)
    dark_p: float = 0.15  # dusk and shade: gain down to dark_gain, with a gamma lift
    dark_gain: float = 0.25
    contrast: float = 0.35
    fade_p: float = 0.25  # washed-out colour: saturation scaled down to fade_min
    fade_min: float = 0.25
    occlude_p: float = 0.2  # a sticker, a branch or a pole across the sign
    occlude_max: float = 0.3  # largest occluder side as a fraction of the crop
    occluders: int = 1  # up to this many on one crop
    blur_p: float = 0.3
    noise_p: float = 0.3
    noise_sigma: float = 8.0
    # colour casts of the light (dusk, sodium lamps, a tunnel lit blue): per-channel gains +-cast
    cast_p: float = 0.0
    cast: float = 0.0
    # glare: the crop exposed so that its brightest (100 - glare_q) % clip; a sunlit sign's red ring
    # then turns pale pink while its dark pictogram stays (a washed-out "no trucks" is not an end-of sign)
    glare_p: float = 0.0
    glare_q: tuple[float, float] = (50.0, 85.0)
    # stickers and graffiti: several small light or dark blobs on the sign's face
    sticker_p: float = 0.0
    stickers: int = 6  # up to this many on one crop
    # small, far signs: the crop is cut from a sign only lowres_min..1 of the crop's size and
    # scaled up, as the detector's 16-25 px GTSDB signs are
    lowres_p: float = 0.0
    lowres_min: float = 0.45
    # whole-image framing: a share of crops start from the image's four corners instead of the ROI
    # plus margin (then get the same jitter), the way a user's cut-out crop or `classify --no-roi` comes
    whole_p: float = 0.0


def framed_corners(roi: np.ndarray, margin: float) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in roi)
    mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
    return np.array([[x1 - mw, y1 - mh], [x2 + mw, y1 - mh], [x2 + mw, y2 + mh], [x1 - mw, y2 + mh]],
                    np.float32)


def whole_corners(shape: tuple[int, ...]) -> np.ndarray:
    """The four corners of a whole image of ``shape`` (H, W, ...), in the order of ``framed_corners``."""
    h, w = float(shape[0]), float(shape[1])
    return np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]], np.float32)


def _sampling_window(roi: np.ndarray, cfg: Preprocessing, aug: AugmentConfig,
                     rng: np.random.Generator, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Four source points that map to the crop's corners: the framed ROI (or, for a share
    ``whole_p`` of crops, the whole image of ``shape``), jittered."""
    # whole_p off: no draw, so older recipes replay exactly
    whole = aug.whole_p > 0 and shape is not None and rng.random() < aug.whole_p
    src = whole_corners(shape) if whole else framed_corners(roi, cfg.margin)
    centre = src.mean(axis=0)
    side = float(np.mean(src[2] - src[0]))
    if rng.random() < aug.loose_p:
        s = 1.0 + rng.uniform(*aug.loose_scale)
        shift = rng.uniform(-aug.loose_shift, aug.loose_shift, 2) * side
        stretch = 1.0 + rng.uniform(-aug.loose_aspect, aug.loose_aspect)
        scale = np.array([s * stretch, s / stretch], np.float32)
    else:
        scale = np.float32(1.0 + rng.uniform(-aug.scale, aug.scale))
        shift = rng.uniform(-aug.shift, aug.shift, 2) * side
    # rotating the sampling window rotates the sign the other way inside the crop
    a = np.deg2rad(rng.uniform(-aug.rotate_deg, aug.rotate_deg))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    pts = ((src - centre) * scale) @ rot.T + centre + shift
    return pts + rng.uniform(-aug.perspective, aug.perspective, (4, 2)).astype(np.float32) * side


def _warp(image: np.ndarray, roi: np.ndarray, cfg: Preprocessing, aug: AugmentConfig,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Re-frame one sign (scale, shift, rotation, perspective in a single warp), then blur it.

    Returns the crop and the sign's box in it, (x1, y1, x2, y2) as fractions of the crop side.
    """
    size = cfg.size
    pts = _sampling_window(roi, cfg, aug, rng, image.shape)
    dst = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float32)
    m = cv2.getPerspectiveTransform(pts.astype(np.float32), dst)
    out = cv2.warpPerspective(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    x1, y1, x2, y2 = (float(v) for v in roi)
    corners = cv2.perspectiveTransform(np.array([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]], np.float32), m)[0]
    box = np.concatenate([corners.min(axis=0), corners.max(axis=0)]) / size
    if aug.lowres_p > 0 and rng.random() < aug.lowres_p:  # off: no draw, so older recipes replay exactly
        small = max(4, int(round(size * rng.uniform(aug.lowres_min, 1.0))))
        out = cv2.resize(cv2.resize(out, (small, small), interpolation=cv2.INTER_AREA), (size, size),
                         interpolation=cv2.INTER_LINEAR)
    if rng.random() < aug.blur_p:
        k = int(rng.choice([3, 5]))
        if rng.random() < 0.5:
            out = cv2.GaussianBlur(out, (k, k), 0)
        else:  # motion blur along a random direction
            kern = np.zeros((k, k), np.float32)
            kern[k // 2, :] = 1.0 / k
            rm = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
            kern = cv2.warpAffine(kern, rm, (k, k))
            out = cv2.filter2D(out, -1, kern / max(float(kern.sum()), 1e-6))
    return out, box.astype(np.float32)


def _occlude(batch_u8: np.ndarray, aug: AugmentConfig, rng: np.random.Generator) -> None:
    """In place: solid rectangles of random colour over some crops (stickers, branches, poles)."""
    n, size = batch_u8.shape[0], batch_u8.shape[1]
    for i in np.flatnonzero(rng.random(n) < aug.occlude_p):
        for _ in range(int(rng.integers(1, aug.occluders + 1)) if aug.occluders > 1 else 1):
            w, h = (max(2, int(v)) for v in rng.uniform(0.08, aug.occlude_max, 2) * size)
            x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
            batch_u8[i, y:y + h, x:x + w] = rng.integers(0, 256, 3, dtype=np.uint8)


def _stickers(batch_u8: np.ndarray, aug: AugmentConfig, rng: np.random.Generator) -> None:
    """In place: a few small filled ellipses on the sign's face (the middle 70% of the crop), light
    or dark, like the stickers that cover real signs; unlike ``_occlude``'s one rectangle they
    break up the pictogram without hiding it."""
    n, size = batch_u8.shape[0], batch_u8.shape[1]
    for i in np.flatnonzero(rng.random(n) < aug.sticker_p):
        shade = int(rng.choice([rng.integers(170, 256), rng.integers(0, 70)]))
        tint = np.clip(shade + rng.integers(-25, 26, 3), 0, 255)
        colour = tuple(int(v) for v in tint)
        for _ in range(int(rng.integers(1, aug.stickers + 1))):
            cx, cy = (float(v) for v in rng.uniform(0.15, 0.85, 2) * size)
            ax, ay = (max(1.0, float(v)) for v in rng.uniform(0.03, 0.1, 2) * size)
            # cv2 draws on a contiguous image: sub-pixel centres via the shift argument
            cv2.ellipse(batch_u8[i], (int(cx * 16), int(cy * 16)), (int(ax * 16), int(ay * 16)),
                        float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA, 4)


def parse_overrides(items: list[str] | None) -> dict:
    """``["fade_min=0", "occluders=3"]`` -> typed ``AugmentConfig`` overrides (a bad key or value raises)."""
    from dataclasses import fields

    types = {f.name: f.type for f in fields(AugmentConfig)}
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in types:
            raise ValueError(f"augmentation setting {item!r}: expected NAME=VALUE with NAME one of {sorted(types)}")
        kind = types[key] if isinstance(types[key], str) else types[key].__name__
        if kind.startswith("tuple"):
            out[key] = tuple(float(v) for v in value.split(","))
        else:
            out[key] = int(value) if kind == "int" else float(value)
    return out


def _relight(batch_u8: np.ndarray, aug: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness (incl. dusk), contrast, faded colour and sensor noise for a whole batch (vectorised)."""
    n = len(batch_u8)
    f = batch_u8.astype(np.float32)
    if aug.glare_p > 0:  # over-exposure happens at the sensor, before colour fades or casts
        q = rng.uniform(*aug.glare_q, n)
        level = np.array([np.percentile(x, p) for x, p in zip(f.mean(axis=3).reshape(n, -1), q)], np.float32)
        gain = np.where(rng.random(n) < aug.glare_p, 255.0 / np.maximum(level, 16.0), 1.0).astype(np.float32)
        f = np.minimum(f * np.maximum(gain, 1.0)[:, None, None, None], 255.0)
    grey = f.mean(axis=3, keepdims=True)
    fade = np.where(rng.random((n, 1, 1, 1)) < aug.fade_p, rng.uniform(aug.fade_min, 1.0, (n, 1, 1, 1)), 1.0)
    f = grey + (f - grey) * fade.astype(np.float32)
    mean = f.mean(axis=(1, 2, 3), keepdims=True)
    gain = 1.0 + rng.uniform(-aug.brightness, aug.brightness, (n, 1, 1, 1))
    dark = rng.random((n, 1, 1, 1)) < aug.dark_p
    gain = np.where(dark, rng.uniform(aug.dark_gain, 0.6, (n, 1, 1, 1)), gain).astype(np.float32)
    con = (1.0 + rng.uniform(-aug.contrast, aug.contrast, (n, 1, 1, 1))).astype(np.float32)
    f = (f - mean) * con + mean * gain
    if aug.cast_p > 0:  # per-channel gains, mean 1, so a cast tints without brightening
        cast = rng.uniform(-aug.cast, aug.cast, (n, 1, 1, 3)) * (rng.random((n, 1, 1, 1)) < aug.cast_p)
        f *= (1.0 + cast - cast.mean(axis=3, keepdims=True)).astype(np.float32)
    sigma = aug.noise_sigma * rng.random((n, 1, 1, 1)).astype(np.float32)
    sigma *= rng.random((n, 1, 1, 1)) < aug.noise_p
    f += rng.standard_normal(f.shape, dtype=np.float32) * sigma
    return np.clip(f, 0, 255).astype(np.uint8)


def plain_boxes(n: int, margin: float) -> np.ndarray:
    """Box-head targets of unaugmented crops: the sign fills the crop but for the framing margin."""
    lo, hi = margin / (1 + 2 * margin), (1 + margin) / (1 + 2 * margin)
    return np.tile(np.array([lo, lo, hi, hi], np.float32), (n, 1))


def batch(images: list[np.ndarray], rois: np.ndarray, cfg: Preprocessing, aug: AugmentConfig | None,
          rng: np.random.Generator | None = None, with_boxes: bool = False):
    """uint8 batch (N, H, W, C), augmented when ``aug`` is given; with ``with_boxes`` also the
    (N, 4) sign boxes in crop fractions."""
    if aug is None:  # exactly the inference path: sample the framed box, then normalise
        stack = (np.concatenate([sample_boxes(im, [r], cfg.size, cfg.margin) for im, r in zip(images, rois)])
                 if len(images) else np.empty((0, cfg.size, 3), np.uint8))
        x = normalise_stack(stack, cfg)
        return (x, plain_boxes(len(x), cfg.margin)) if with_boxes else x
    rng = rng or np.random.default_rng()
    warped = [_warp(im, r, cfg, aug, rng) for im, r in zip(images, rois)]
    raw = np.stack([w for w, _ in warped])
    _occlude(raw, aug, rng)
    if aug.sticker_p > 0:
        _stickers(raw, aug, rng)
    raw = _relight(raw, aug, rng)
    x = normalise_stack(raw.reshape(-1, cfg.size, 3), cfg)
    return (x, np.stack([b for _, b in warped])) if with_boxes else x
