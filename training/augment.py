"""Augmentation that imitates what the detector hands over: imperfect framing, tilt,
perspective, lighting, blur and noise. Never flips: a mirrored "keep left" is "keep right".

One perspective warp per image does the crop, the framing jitter and the geometry at once,
so augmented and plain crops come from the same source pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from realtime.preprocess import Preprocessing, crop, normalise_batch


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 12.0
    scale: float = 0.12  # framing scale jitter (+-)
    shift: float = 0.10  # framing shift as a fraction of the sign size (+-)
    perspective: float = 0.08  # corner jitter as a fraction of the sign size
    brightness: float = 0.35  # multiplicative (+-)
    contrast: float = 0.35
    blur_p: float = 0.3
    noise_p: float = 0.3
    noise_sigma: float = 8.0


def framed_corners(roi: np.ndarray, margin: float) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in roi)
    mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
    return np.array([[x1 - mw, y1 - mh], [x2 + mw, y1 - mh], [x2 + mw, y2 + mh], [x1 - mw, y2 + mh]],
                    np.float32)


def _warp(image: np.ndarray, roi: np.ndarray, cfg: Preprocessing, aug: AugmentConfig,
          rng: np.random.Generator) -> np.ndarray:
    """Re-frame one sign: scale, shift, rotation and perspective in a single warp."""
    size = cfg.size
    src = framed_corners(roi, cfg.margin)
    centre = src.mean(axis=0)
    side = float(np.mean(src[2] - src[0]))
    s = 1.0 + rng.uniform(-aug.scale, aug.scale)
    shift = rng.uniform(-aug.shift, aug.shift, 2) * side
    # rotating the sampling window rotates the sign the other way inside the crop
    a = np.deg2rad(rng.uniform(-aug.rotate_deg, aug.rotate_deg))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    pts = (src - centre) * s @ rot.T + centre + shift
    pts += rng.uniform(-aug.perspective, aug.perspective, (4, 2)).astype(np.float32) * side
    dst = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float32)
    m = cv2.getPerspectiveTransform(pts.astype(np.float32), dst)
    out = cv2.warpPerspective(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
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
    return out


def _relight(batch_u8: np.ndarray, aug: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and sensor noise for a whole batch at once (vectorised)."""
    n = len(batch_u8)
    f = batch_u8.astype(np.float32)
    mean = f.mean(axis=(1, 2, 3), keepdims=True)
    gain = 1.0 + rng.uniform(-aug.brightness, aug.brightness, (n, 1, 1, 1)).astype(np.float32)
    con = 1.0 + rng.uniform(-aug.contrast, aug.contrast, (n, 1, 1, 1)).astype(np.float32)
    f = (f - mean) * con + mean * gain
    sigma = aug.noise_sigma * rng.random((n, 1, 1, 1)).astype(np.float32)
    sigma *= rng.random((n, 1, 1, 1)) < aug.noise_p
    f += rng.standard_normal(f.shape, dtype=np.float32) * sigma
    return np.clip(f, 0, 255).astype(np.uint8)


def batch(images: list[np.ndarray], rois: np.ndarray, cfg: Preprocessing, aug: AugmentConfig | None,
          rng: np.random.Generator | None = None) -> np.ndarray:
    """uint8 batch (N, H, W, C), augmented when ``aug`` is given."""
    if aug is None:  # exactly the inference path: frame the box, then normalise
        return normalise_batch([crop(im, r, cfg.margin) for im, r in zip(images, rois)], cfg)
    rng = rng or np.random.default_rng()
    raw = _relight(np.stack([_warp(im, r, cfg, aug, rng) for im, r in zip(images, rois)]), aug, rng)
    return normalise_batch(list(raw), cfg)
