"""What the driver sees: boxes and labels, an HUD with speed figures, and an alert panel.

Only cv2 primitives on the frame in place (no copies, no alpha blending of the full frame), so
drawing costs well under a millisecond per frame.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import cv2
import numpy as np

from realtime.classes import CLASSES, DANGER, END_OF_LIMIT, MANDATORY, NAMES, PROHIBITORY, SPEED_LIMITS
from realtime.config import AlertsConfig
from realtime.types import Detection

FONT = cv2.FONT_HERSHEY_SIMPLEX
CATEGORY_BGR: dict[str, tuple[int, int, int]] = {
    PROHIBITORY: (40, 40, 230),
    DANGER: (0, 170, 255),
    MANDATORY: (230, 120, 20),
}
OTHER_BGR = (40, 200, 40)
UNCONFIRMED_BGR = (170, 170, 170)
UNKNOWN_BGR = (120, 120, 120)


def colour_of(class_id: int) -> tuple[int, int, int]:
    if not 0 <= class_id < len(CLASSES):
        return UNKNOWN_BGR
    return CATEGORY_BGR.get(CLASSES[class_id].category, OTHER_BGR)


def text_on(bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``bgr`` (by its luminance)."""
    b, g, r = bgr
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)


def label_of(class_id: int, names: tuple[str, ...] | list[str] = NAMES) -> str:
    return names[class_id] if 0 <= class_id < len(names) else "?"


@dataclass
class DriverAlerts:
    """What the alert panel shows: the speed limit in force and the latest danger warnings.

    A speed-limit sign sets the limit, classes 6 and 32 clear it. Only confirmed detections count,
    so a one-frame misread cannot change the limit on screen, and only those whose track agrees on
    its class (``AlertsConfig.limit_agreement`` of its vote weight), so a sign read now as 60, now
    as 80 changes nothing. One sign (one track) is one warning: if its voted class changes, its
    warning changes with it rather than a second one appearing.
    """

    hold_s: float = AlertsConfig.hold_s  # how long a warning stays on screen
    max_warnings: int = AlertsConfig.max_warnings
    limit_agreement: float = AlertsConfig.limit_agreement
    speed_limit: int | None = None
    warnings: collections.deque = field(default_factory=collections.deque)  # (t, class_id, track_id)
    _seen: dict = field(default_factory=dict)  # track id -> the class it warned as

    @classmethod
    def from_config(cls, config: AlertsConfig) -> DriverAlerts:
        return cls(hold_s=config.hold_s, max_warnings=config.max_warnings, limit_agreement=config.limit_agreement)

    def update(self, detections: list[Detection], t: float) -> None:
        for d in detections:
            if not d.confirmed or d.class_id < 0:
                continue
            settled = d.agreement >= self.limit_agreement
            if d.class_id in SPEED_LIMITS and settled:
                self.speed_limit = SPEED_LIMITS[d.class_id]
            elif d.class_id in END_OF_LIMIT and settled:
                self.speed_limit = None
            if 0 <= d.class_id < len(CLASSES) and CLASSES[d.class_id].category == DANGER:
                self._warn(d, t)
        while len(self.warnings) > self.max_warnings:
            self.warnings.popleft()
        while self.warnings and t - self.warnings[0][0] > self.hold_s:
            self.warnings.popleft()
        if len(self._seen) > 1000:
            self._seen.clear()

    def _warn(self, d: Detection, t: float) -> None:
        tid = d.track_id
        if tid is not None and self._seen.get(tid) == d.class_id:
            return  # this sign already warned, as this class
        relabelled = tid is not None and tid in self._seen
        if tid is not None:
            self._seen[tid] = d.class_id
        kept = [w for w in self.warnings if w[1] != d.class_id and (tid is None or w[2] != tid)]
        if relabelled:  # the same sign, read anew: it keeps its place and its time on screen
            old = next((w for w in self.warnings if w[2] == tid), None)
            if old is not None:
                self.warnings = collections.deque(sorted([*kept, (old[0], d.class_id, tid)], key=lambda w: w[0]))
                return
        self.warnings = collections.deque([*kept, (t, d.class_id, tid)])


HUDS = ("full", "fps", "none")  # the timing box: FPS and per-stage ms, FPS alone, or nothing


class Painter:
    """Draw detections, the HUD and the alert panel onto a BGR frame, in place.

    Sizes follow the frame's height: labels are about 2.2% of it (16 px at 720p, 24 at 1080p).
    """

    def __init__(self, names: tuple[str, ...] | list[str] = NAMES, hud: str = "full") -> None:
        if hud not in HUDS:
            raise ValueError(f"unknown hud {hud!r}; expected one of {HUDS}")
        self.names = names
        self.hud_mode = hud

    def __call__(self, frame: np.ndarray, detections: list[Detection], *, fps: float | None = None,
                 stages_ms: dict[str, float] | None = None, alerts: DriverAlerts | None = None) -> np.ndarray:
        scale = max(0.4, frame.shape[0] / 1000.0)
        taken: list[tuple[int, int, int, int]] = []  # label boxes drawn so far: later labels avoid them
        for d in sorted(detections, key=lambda d: not d.confirmed):  # confirmed labels get the first choice
            self.detection(frame, d, scale, taken)
        if self.hud_mode != "none" and (fps is not None or stages_ms):
            self.hud(frame, fps, (stages_ms or {}) if self.hud_mode == "full" else {}, scale)
        if alerts is not None:
            self.alerts(frame, alerts, scale)
        return frame

    def detection(self, frame: np.ndarray, d: Detection, scale: float,
                  taken: list[tuple[int, int, int, int]] | None = None) -> None:
        x1, y1, x2, y2 = (int(round(v)) for v in d.box)
        confirmed = d.confirmed
        colour = colour_of(d.class_id) if confirmed else UNCONFIRMED_BGR
        thick = max(2, int(round(2 * scale))) if confirmed else 1
        cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), colour, thick, cv2.LINE_8)
        text = f"{label_of(d.class_id, self.names)} {d.score:.2f}"
        if d.track_id is not None:
            text = f"#{d.track_id} {text}"
        fs = 0.8 * scale
        weight = max(1, int(round(1.5 * scale)))
        (tw, th), base = cv2.getTextSize(text, FONT, fs, weight)
        tx = min(max(0, x1), max(0, frame.shape[1] - tw - 2))
        ty = _free_row(taken if taken is not None else [], tx, tw, th + base + 3, y1 - 4, y2 + th + 4,
                       frame.shape[0])
        if taken is not None:
            taken.append((tx, ty - th - 3, tx + tw + 2, ty + base - 1))
        if confirmed:
            cv2.rectangle(frame, (tx, ty - th - 3), (tx + tw + 2, ty + base - 1), colour, -1)
            cv2.putText(frame, text, (tx + 1, ty - 1), FONT, fs, text_on(colour), weight, cv2.LINE_AA)
        else:
            cv2.putText(frame, text, (tx + 1, ty - 1), FONT, fs, UNCONFIRMED_BGR, weight, cv2.LINE_AA)

    def hud(self, frame: np.ndarray, fps: float | None, stages_ms: dict[str, float], scale: float) -> None:
        fs = 0.5 * scale
        lines = [f"{fps:5.1f} FPS" if fps is not None else "-- FPS"]
        lines += [f"{k:>9s} {v:5.1f} ms" for k, v in stages_ms.items()]
        (_, th), _ = cv2.getTextSize("Ag", FONT, fs, 1)
        step = th + int(8 * scale)
        width = int(190 * scale)
        cv2.rectangle(frame, (0, 0), (width, step * len(lines) + int(8 * scale)), (0, 0, 0), -1)
        for i, line in enumerate(lines):
            org = (int(6 * scale), step * (i + 1))
            cv2.putText(frame, line, org, FONT, fs, (255, 255, 255), 1, cv2.LINE_AA)

    def alerts(self, frame: np.ndarray, state: DriverAlerts, scale: float) -> None:
        h, w = frame.shape[:2]
        r = int(42 * scale)
        pad = int(10 * scale)
        cx, cy = w - r - pad, r + pad
        if state.speed_limit is not None:
            cv2.circle(frame, (cx, cy), r, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(frame, (cx, cy), r, (30, 30, 220), max(2, int(r * 0.18)), cv2.LINE_AA)
            text = str(state.speed_limit)
            fs = (0.9 if len(text) < 3 else 0.7) * scale * 1.2
            (tw, th), _ = cv2.getTextSize(text, FONT, fs, 2)
            cv2.putText(frame, text, (cx - tw // 2, cy + th // 2), FONT, fs, (0, 0, 0), 2, cv2.LINE_AA)
        else:
            cv2.circle(frame, (cx, cy), r, (90, 90, 90), 2, cv2.LINE_AA)
            fs = 0.8 * scale
            (tw, th), _ = cv2.getTextSize("--", FONT, fs, 2)
            cv2.putText(frame, "--", (cx - tw // 2, cy + th // 2), FONT, fs, (200, 200, 200), 2, cv2.LINE_AA)
        fs = 0.5 * scale
        y = cy + r + pad
        for _, cid, _ in reversed(state.warnings):
            text = f"! {label_of(cid, self.names)}"
            (tw, th), base = cv2.getTextSize(text, FONT, fs, 1)
            x = w - tw - pad - 4
            cv2.rectangle(frame, (x - 4, y), (w - pad, y + th + base + 6), CATEGORY_BGR[DANGER], -1)
            cv2.putText(frame, text, (x, y + th + 3), FONT, fs, (0, 0, 0), 1, cv2.LINE_AA)
            y += th + base + 10


def _free_row(taken: list[tuple[int, int, int, int]], x: int, w: int, h: int, above: int, below: int,
              height: int) -> int:
    """The text baseline for a label ``w`` x ``h`` at ``x``: above its box if that is free of other
    labels and inside the frame, else below it, else stacked above the labels in the way."""
    def free(y: int) -> bool:
        return y - h >= 0 and y <= height and not any(
            x < r[2] and r[0] < x + w and y - h < r[3] and r[1] < y for r in taken)

    for y in (above, below):
        if free(y):
            return y
    y = above
    while y - h >= 0 and not free(y):
        y -= 2
    return y if y - h >= 0 else (above if above - h >= 0 else below)
