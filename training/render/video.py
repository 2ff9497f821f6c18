"""Drive-by clips: a car approaches roadside signs, with per-frame ground truth tracks.

The tracker, the demo and the soak benchmark need video where each physical sign keeps one
id from far (16-20 px near the vanishing point) to near (leaving the frame), growing as
1/distance like through a real lens. The static background, the noise bank and each sign's
pictogram are drawn once; a frame is then one copy, a few dashes, a resize and paste per
sign, so thousands of frames render in seconds.

``python -m training render-driveby`` writes one to files (``write_driveby``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from realtime.classes import NUM_CLASSES
from training.render.pictograms import DISTRACTOR_KINDS, draw_distractor_sign, draw_sign, tight_box
from training.render.scene import (
    Road,
    draw_distractors,
    draw_lane_marks,
    motion_kernel,
    paste,
    premultiply,
    render_background,
)

CAMERA_HEIGHT = 1.4  # m
ROAD_HALF_WIDTH = 3.5  # m
HFOV_DEG = 55.0
MASTER_SIZE = 160  # px: pictograms are drawn once at this size and shrunk per frame


@dataclass
class SignTrack:
    """One physical sign (or unlisted look-alike when ``class_id`` is None) beside the road."""

    sign_id: int
    class_id: int | None
    spawn: int  # first frame in which it is visible
    lateral: float  # m from the camera axis, + right
    height: float  # m of the plate centre above the camera
    plate: float  # m, plate width
    z0: float  # m, distance at ``spawn``
    master: np.ndarray  # premultiplied float BGRA, MASTER_SIZE square
    master_box: tuple[int, int, int, int]


class DriveBy:
    """A deterministic drive-by clip; iterate for ``(frame_bgr, gt)`` or fetch any frame with ``frame(i)``.

    ``n_signs`` is the number of physical signs over the whole clip, their first appearances spread
    so that each completes its pass (for a long soak use about ``n_frames // 25``). GT entries are
    ``{"box", "class_id", "sign_id", "truncated", "occluded"}``: the plate's tight box (before
    motion blur) clipped to the frame; ``truncated`` when part of it is outside the frame.
    """

    def __init__(self, seed: int, n_frames: int = 120, width: int = 1360, height: int = 800, fps: float = 25,
                 n_signs: int = 3, classes: Sequence[int] | None = None, *, noise: bool = True,
                 blur: bool = True, distractors: bool = True, lighting: bool = True,
                 foreshorten: bool = True) -> None:
        if width < 128 or height < 72 or n_frames < 1 or fps <= 0:  # smaller scenes leave no room for a road
            raise ValueError(f"a drive-by needs at least 128x72 pixels, 1 frame and a positive frame rate "
                             f"(got {width}x{height}, {n_frames} frames at {fps} fps)")
        self.n_frames, self.width, self.height, self.fps = int(n_frames), int(width), int(height), float(fps)
        self.blur, self.foreshorten = blur, foreshorten
        ss = np.random.SeedSequence(int(seed))
        bg_rng, sign_rng, dis_rng, fx_rng = (np.random.default_rng(s) for s in ss.spawn(4))

        self.f = (width / 2) / math.tan(math.radians(HFOV_DEG / 2))
        horizon = height * bg_rng.uniform(0.4, 0.47)
        self.cx, self.horizon = width * bg_rng.uniform(0.45, 0.55), horizon
        self.z_bottom = self.f * CAMERA_HEIGHT / (height - horizon)  # distance of the bottom row's ground
        self.road = Road(width, height, horizon, self.cx, self.f * ROAD_HALF_WIDTH / self.z_bottom)
        self.speed = float(sign_rng.uniform(40, 70)) / 3.6 / self.fps  # m per frame

        bg, _ = render_background(bg_rng, width, height, distractors, road=self.road, lane_marks=False)
        # Cars ahead stand on the road: remember where they cover the centre line, so the moving
        # dashes drawn per frame can be put back behind them (only a narrow column band is touched).
        half = self.road.half_width * 0.02 + 3
        self.band = slice(max(int(self.cx - half), 0), min(int(self.cx + half) + 1, width))
        self.car_mask: np.ndarray | None = None
        if distractors:
            plain = bg.copy()
            draw_distractors(bg, dis_rng, self.road, [], moving_world=False)
            mask = np.any(bg[:, self.band] != plain[:, self.band], axis=2)
            self.car_mask = mask[..., None] if mask.any() else None
        self.gain = np.ones(3, np.float32)
        if lighting:  # linear gain and cast: commutes with alpha compositing, so apply it once up front
            kind = str(fx_rng.choice(["normal", "dark", "bright", "dusk"], p=[0.55, 0.15, 0.15, 0.15]))
            g = {"normal": 1.0, "dark": fx_rng.uniform(0.4, 0.6), "bright": fx_rng.uniform(1.15, 1.3),
                 "dusk": fx_rng.uniform(0.55, 0.7)}[kind]
            cast = 1.0 + fx_rng.uniform(-0.06, 0.06, 3)
            if kind == "dusk":
                cast *= np.array([0.8, 0.92, 1.12])
            self.gain = (g * cast).astype(np.float32)
            bg = np.clip(bg * self.gain, 0, 255).astype(np.uint8)
        self.background = bg
        # Sensor noise: a small bank of noise fields, baked into copies of the static background once;
        # per frame only the pasted plates get the same field added, which keeps a frame to ~2 ms.
        self.noise_bank: list[np.ndarray] = []
        self.noisy_backgrounds: list[np.ndarray] = [bg]
        if noise:
            sigma = fx_rng.uniform(2, 6)
            self.noise_bank = [np.round(fx_rng.standard_normal(bg.shape, dtype=np.float32) * sigma).astype(np.int16)
                               for _ in range(4)]
            self.noisy_backgrounds = [np.clip(bg + n, 0, 255).astype(np.uint8) for n in self.noise_bank]

        pool = list(range(NUM_CLASSES)) if classes is None else [int(c) for c in classes]
        self.signs = self._plan(sign_rng, int(n_signs), pool, distractors)

    # ------------------------------------------------------------ layout

    def _pass_frames(self, z0: float, lateral: float) -> int:
        """Frames until a sign at distance z0 has left the frame sideways (roughly)."""
        room = max(self.width - self.cx, self.cx)
        z_exit = abs(lateral) * self.f / room
        return int(math.ceil(max(z0 - z_exit, 0) / self.speed)) + 1

    def _plan(self, rng: np.random.Generator, n_signs: int, pool: list[int], distractors: bool) -> list[SignTrack]:
        n_fake = int(rng.integers(0, max(1, n_signs // 3) + 1)) if distractors else 0
        items: list[int | None] = [int(rng.choice(pool)) for _ in range(n_signs)] + [None] * n_fake
        items = [items[i] for i in rng.permutation(len(items))]
        typical = self._pass_frames(self.f * 0.7 / 18, 5.0)
        span = max(1, self.n_frames - typical)
        gap = span / max(len(items), 1)
        tracks = []
        last = {1.0: -10**9, -1.0: -10**9}  # latest spawn per road side
        min_gap = 22  # frames between signs on one side: closer ones overlap near the vanishing point
        for k, cid in enumerate(items):
            spawn = int(min(span - 1, max(0, k * gap + rng.uniform(0, gap * 0.5))))
            side = 1.0 if rng.random() < 0.75 else -1.0
            if spawn - last[side] < min_gap:
                side = -side if spawn - last[-side] >= min_gap else side
                spawn = max(spawn, last[side] + min_gap)
            last[side] = spawn
            plate = float(rng.uniform(0.6, 0.75))
            start_px = float(rng.uniform(16, 20))
            if cid is None:
                kind = str(rng.choice(DISTRACTOR_KINDS))
                bgra, plate = draw_distractor_sign(kind, MASTER_SIZE), plate * 1.3
            else:
                bgra = draw_sign(cid, MASTER_SIZE)
            tracks.append(SignTrack(
                sign_id=k, class_id=cid, spawn=spawn, lateral=side * float(rng.uniform(4.6, 5.6)),
                height=float(rng.uniform(2.0, 2.6)) - CAMERA_HEIGHT, plate=plate,
                z0=self.f * plate / start_px, master=(premultiply(bgra) * np.append(self.gain, 1.0)).astype(np.float32),
                master_box=tight_box(bgra[..., 3])))
        return tracks

    # ------------------------------------------------------------ frames

    def __len__(self) -> int:
        return self.n_frames

    def __iter__(self) -> Iterator[tuple[np.ndarray, list[dict[str, Any]]]]:
        for i in range(self.n_frames):
            yield self.frame(i)

    def _project(self, s: SignTrack, z: float) -> tuple[float, float, float]:
        """Plate centre x, y and width in pixels at distance z."""
        return (self.cx + self.f * s.lateral / z, self.horizon - self.f * s.height / z, self.f * s.plate / z)

    def frame(self, i: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Frame ``i`` (BGR uint8) and its ground truth; independent of which frames came before."""
        img = self.noisy_backgrounds[i % len(self.noisy_backgrounds)].copy()
        noise = self.noise_bank[i % len(self.noise_bank)] if self.noise_bank else None
        travelled = i * self.speed
        draw_lane_marks(img, self.road, travelled / self.z_bottom, dash=3.0 / self.z_bottom,
                        gap=6.0 / self.z_bottom, depth_max=90.0 / self.z_bottom)
        if self.car_mask is not None:
            np.copyto(img[:, self.band], self.noisy_backgrounds[i % len(self.noisy_backgrounds)][:, self.band],
                      where=self.car_mask)
        live = []
        for s in self.signs:
            if i < s.spawn:
                continue
            z = s.z0 - (i - s.spawn) * self.speed
            if z < 1.0:
                continue
            x, y, size = self._project(s, z)
            if x - size > self.width or x + size < 0 or y + size < 0:
                continue
            live.append((z, s, x, y, size))
        live.sort(key=lambda t: -t[0])  # far to near: nearer plates cover farther ones
        gt: list[dict[str, Any]] = []
        boxes: list[tuple[SignTrack, tuple[int, int, int, int], float]] = []
        shade = int(round(130 * float(self.gain.mean())))
        for z, s, x, y, size in live:
            side = max(4, int(round(size)))
            wdt = side
            if self.foreshorten:  # the plate faces the traffic, so it is seen increasingly from the side
                wdt = max(3, int(round(side * math.cos(math.atan2(abs(s.lateral), z)))))
            plate = cv2.resize(s.master, (wdt, side), interpolation=cv2.INTER_AREA)
            plate[plate[..., 3] < 6 / 255.0] = 0
            px, py = int(round(x - wdt / 2)), int(round(y - side / 2))
            # pole from under the plate to the ground at this distance
            ground = self.horizon + self.f * CAMERA_HEIGHT / z
            pw = max(1, int(round(self.f * 0.06 / z)))
            cv2.rectangle(img, (int(round(x - pw / 2)), py + side - 1),
                          (int(round(x + pw / 2)), int(min(ground, self.height))), (shade, shade, shade + 4), -1)
            bx1, by1, bx2, by2 = tight_box(plate[..., 3] > 0)
            if bx2 == 0:
                continue
            full = (px + bx1, py + by1, px + bx2, py + by2)
            if self.blur:
                blur_len = self._blur_len(s, i)
                if blur_len >= 1.5:
                    k = motion_kernel(blur_len, math.degrees(math.atan2(y - self.horizon, x - self.cx)))
                    pad = k.shape[0] // 2
                    plate = cv2.filter2D(cv2.copyMakeBorder(plate, pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                                            value=0), -1, k, borderType=cv2.BORDER_CONSTANT)
                    px, py = px - pad, py - pad
            if paste(img, plate, px, py) is not None and noise is not None:
                _renoise(img, noise, plate[..., 3], px, py)
            if s.class_id is None:
                continue
            clipped = (max(full[0], 0), max(full[1], 0), min(full[2], self.width), min(full[3], self.height))
            if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
                continue
            boxes.append((s, full, z))
            gt.append({"box": list(clipped), "class_id": s.class_id, "sign_id": s.sign_id,
                       "truncated": clipped != full, "occluded": False})
        others = boxes + self._fake_boxes(live)
        for item, (s, full, z) in zip(gt, boxes):  # a nearer plate overlapping this one hides part of it
            item["occluded"] = any(z2 < z and _overlap(full, f2) for s2, f2, z2 in others if s2 is not s)
        return img, gt

    def _fake_boxes(self, live: list) -> list[tuple[SignTrack, tuple[int, int, int, int], float]]:
        out = []
        for z, s, x, y, size in live:
            if s.class_id is None:
                out.append((s, (int(x - size / 2), int(y - size / 2), int(x + size / 2), int(y + size / 2)), z))
        return out

    def _blur_len(self, s: SignTrack, i: int) -> float:
        """Half the image motion of the plate centre during one frame: the exposure smears it."""
        z1 = s.z0 - (i - s.spawn) * self.speed
        z0 = z1 + self.speed
        (x0, y0, _), (x1, y1, _) = self._project(s, z0), self._project(s, z1)
        return 0.5 * math.hypot(x1 - x0, y1 - y0)


def _renoise(img: np.ndarray, noise: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Give a freshly pasted plate the frame's noise, in proportion to how much of the pixel it covers."""
    h, w = img.shape[:2]
    x1, y1 = max(x, 0), max(y, 0)
    x2, y2 = min(x + alpha.shape[1], w), min(y + alpha.shape[0], h)
    if x1 >= x2 or y1 >= y2:
        return
    a = alpha[y1 - y:y2 - y, x1 - x:x2 - x, None]
    img[y1:y2, x1:x2] = np.clip(img[y1:y2, x1:x2] + noise[y1:y2, x1:x2] * a + 0.5, 0, 255).astype(np.uint8)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def render_driveby(seed: int, n_frames: int = 120, width: int = 1360, height: int = 800, fps: float = 25,
                   n_signs: int = 3, classes: Sequence[int] | None = None, **options: Any
                   ) -> Iterator[tuple[np.ndarray, list[dict[str, Any]]]]:
    """Frames and per-frame GT of one drive-by (see ``DriveBy`` for the options)."""
    return iter(DriveBy(seed, n_frames, width, height, fps, n_signs, classes, **options))


def write_driveby(path_mp4: str | Path, gt_jsonl_path: str | Path, seed: int, n_frames: int = 120,
                  width: int = 1360, height: int = 800, fps: float = 25, n_signs: int = 3,
                  classes: Sequence[int] | None = None, **options: Any) -> dict[str, Any]:
    """Write an mp4 (fourcc mp4v) and a JSONL with ``{"frame", "t", "signs"}`` per frame; returns a summary."""
    clip = DriveBy(seed, n_frames, width, height, fps, n_signs, classes, **options)
    Path(path_mp4).parent.mkdir(parents=True, exist_ok=True)
    Path(gt_jsonl_path).parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path_mp4), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path_mp4} with fourcc mp4v")
    n_boxes, t0 = 0, time.perf_counter()
    try:
        with open(gt_jsonl_path, "w", encoding="utf-8") as fh:
            for i, (img, gt) in enumerate(clip):
                writer.write(img)
                n_boxes += len(gt)
                fh.write(json.dumps({"frame": i, "t": round(i / fps, 6), "signs": gt}) + "\n")
    finally:
        writer.release()
    return {"frames": n_frames, "boxes": n_boxes, "signs": sum(s.class_id is not None for s in clip.signs),
            "seconds": round(time.perf_counter() - t0, 3)}
