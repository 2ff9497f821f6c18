"""Design checks: a class the CNN names is kept only where the sign's printed design is on the frame.

Clutter that a 32x32 crop makes look like a sign is rejected by what the crop loses: no entry needs
its white bar, stop its white letters enclosed by red, a mandatory sign a free-standing blue disc.
Each check takes the frame and the re-framed box and returns whether the design is there; the
thresholds live in ``config.DesignConfig`` and every one is measured on GTSRB's and GTSDB's signs
(the figures are in each check's docstring). ``DesignChecks`` maps class ids to checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from realtime.boxes import around
from realtime.config import DesignConfig, DetectorConfig

Check = Callable[[np.ndarray, Sequence[float]], bool]
# the checks judge a crop resized to this side; their bands and windows are laid out on that grid
SIDE = 32
MIDDLE = slice(8, 24)  # the middle half of the crop, where a no-entry bar lies
RED_BAND, BAR_BAND = 7, 4  # rows of the reddest band of each half, and of the bar (4-5 of 32)
LETTERS = (slice(10, 22), slice(6, 26))  # where a stop sign's letters lie
STOP, NO_ENTRY = 14, 17
MANDATORY = tuple(range(33, 41))


class DesignChecks:
    """Class id -> the check of its printed design; a class without a check always passes."""

    def __init__(self, config: DesignConfig | None = None, detect: DetectorConfig | None = None) -> None:
        self.c = config or DesignConfig()
        d = detect or DetectorConfig()
        self.blue_hue = d.blue_hue
        by_name: dict[str, dict[int, Check]] = {"stop": {STOP: self.stop}, "no_entry": {NO_ENTRY: self.no_entry},
                                                "mandatory": {c: self.mandatory for c in MANDATORY}}
        self.checks: dict[int, Check] = {cid: check for name in self.c.checks for cid, check in by_name[name].items()}

    def __getitem__(self, class_id: int) -> Check:
        return self.checks[class_id]

    def get(self, class_id: int) -> Check | None:
        return self.checks.get(class_id)

    def passes(self, img: np.ndarray, class_id: int, box: Sequence[float]) -> bool:
        check = self.checks.get(class_id)
        return check is None or bool(check(img, box))

    # -- the checks ---------------------------------------------------------------------------------
    def _hsv(self, img: np.ndarray, box: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The box's pixels resized to SIDE x SIDE: saturation, value (float) and the red mask, or None
        for an empty box. The shared first step of the red checks."""
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        roi = img[max(0, y1):max(y1 + 1, y2), max(0, x1):max(x1 + 1, x2)]
        if roi.size == 0:
            return None
        hsv = cv2.cvtColor(cv2.resize(roi, (SIDE, SIDE), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2HSV)
        h, s, v = (hsv[:, :, k].astype(np.float32) for k in range(3))
        lo, hi = self.c.red_hue
        return s, v, ((h <= lo) | (h >= hi)) & (s >= self.c.red_saturation)

    def no_entry(self, img: np.ndarray, box: Sequence[float]) -> bool:
        """No entry (17) is a red disc crossed by a white bar: red above and below, pale in the middle.

        Red clutter the CNN calls "no entry" (brick, tail lights, painted walls) rarely has all three.
        The box is the box head's, often a few pixels off the sign, so each part is looked for where it
        is: the reddest 7-row band of each half, the least saturated 4-row band of the middle. The bar
        is pale across the whole middle: its most saturated column must be white or far less saturated
        than the red (a blurred bar under a warm cast turns pink, and is then counted as red too); a
        stop sign's letters leave red columns between them. Margins are wide: on the 18 no-entry signs
        of the even GTSDB scenes the red shares are >= 0.81 and >= 0.89 and the bar's mean saturation
        <= 87. At their annotated boxes 1,075 of the 1,110 GTSRB no-entry signs pass and 77 of the 780
        stop signs.
        """
        parts = self._hsv(img, box)
        if parts is None:
            return False
        c = self.c
        s, v, red = parts
        rows = red[:, MIDDLE].mean(axis=1)
        top, bottom = _band(rows[:SIDE // 2], RED_BAND).max(), _band(rows[SIDE // 2:], RED_BAND).max()
        at = MIDDLE.start + int(_band(s[MIDDLE, MIDDLE].mean(axis=1), BAR_BAND).argmin())  # the palest band
        bar_s, bar_v = s[at:at + BAR_BAND, MIDDLE].mean(axis=0).max(), v[at:at + BAR_BAND, MIDDLE].mean()
        ring_s, ring_v = (s[red].mean(), v[red].mean()) if red.any() else (0.0, 255.0)
        return (top >= c.no_entry_red and bottom >= c.no_entry_red
                and (bar_s <= c.white_saturation or bar_s <= c.pale_vs_ring * ring_s)
                and bar_v >= c.brighter_than_ring * ring_v)

    def stop(self, img: np.ndarray, box: Sequence[float]) -> bool:
        """Stop (14) is a red octagon with white letters: its middle holds pale pixels enclosed by red.

        A brake light or a red lamp the CNN calls "stop" is red through and through, and where its box
        takes in the white car around it, that white is outside the red, not inside. Pale is white
        (brighter than the red, or near white where the red itself is over-exposed) or far less
        saturated than the red (blurred letters); enclosed is red on both sides in its row and above and
        below in its column. Share of such pixels in the letters' area: >= 0.21 on the 13 stop signs of
        the even GTSDB scenes, >= 0.042 on all 780 GTSRB ones, <= 0.004 on the box head's boxes of two
        rendered brake lights read as "stop" at 0.76-0.89. What is not at least a fifth red is no stop
        sign either (red shares >= 0.50 on GTSDB's, >= 0.30 on GTSRB's).
        """
        parts = self._hsv(img, box)
        if parts is None:
            return False
        c = self.c
        s, v, red = parts
        if red.mean() < c.stop_min_red:
            return False
        ring_s, ring_v = s[red].mean(), v[red].mean()
        pale = (((s <= c.white_saturation) & (v >= min(c.brighter_than_ring * ring_v, c.stop_white_cap)))
                | (s <= c.pale_vs_ring * ring_s))
        enclosed = (_after_any(red) & _after_any(red[::-1])[::-1]
                    & _after_any(red.T).T & _after_any(red.T[::-1])[::-1].T)
        return float((pale & enclosed)[LETTERS].mean()) >= c.stop_min_enclosed

    def mandatory(self, img: np.ndarray, box: Sequence[float]) -> bool:
        """A mandatory sign (33-40) is a blue disc that stands free and is no square."""
        return self.not_on_a_board(img, box) and self.not_square(img, box)

    def not_on_a_board(self, img: np.ndarray, box: Sequence[float]) -> bool:
        """A mandatory sign stands free: what lies around it is not its blue.

        The white arrows printed on blue direction boards look like "ahead only" or "keep right" to the
        CNN, and the learned localizer proposes them (00522.jpg: an arrow on a motorway board, read as
        ahead only at 0.89). Around the box, in a frame of half its size on every side, a board shows
        the sign's own blue: a blue hue at the saturation and brightness of the box's blue pixels. A
        blue sky is lighter and paler than sign blue, and does not count. Share of such pixels around
        the 60 mandatory signs of the even GTSDB scenes: at most 0.26; around the arrow of 00522.jpg
        0.84. Rejected at 0.7.
        """
        c = self.c
        x1, y1, x2, y2 = box
        X1, Y1, X2, Y2 = around(box, c.board_grow, img.shape[1], img.shape[0])
        if X2 - X1 < 2 or Y2 - Y1 < 2:
            return True
        hsv = cv2.cvtColor(img[Y1:Y2, X1:X2], cv2.COLOR_BGR2HSV)
        inside = np.zeros(hsv.shape[:2], bool)
        inside[max(0, int(y1) - Y1):max(0, int(y2) - Y1), max(0, int(x1) - X1):max(0, int(x2) - X1)] = True
        blue = self._blue(hsv, c.blue_value)
        if not (blue & inside).any() or inside.all():
            return True
        return float(_own_blue(hsv, blue, inside, c.board_tolerance)[~inside].mean()) < c.board_max_share

    def not_square(self, img: np.ndarray, box: Sequence[float]) -> bool:
        """A mandatory sign is a disc: its blue does not fill a square.

        Square blue signs with white arrows (one-way streets, detours, lane signs: none of the 43) read
        as "ahead only" or "go straight or left" to the CNN, which learnt from 32x32 crops where little
        tells a disc from a square. Around the box (a fifth of its size more on every side, resized to
        64 px), the largest patch of the box's own blue is filled out to its convex hull; a disc fills
        ~0.79 of the smallest rectangle around it, a square ~1. The mandatory signs of the even GTSDB
        scenes: at most 0.88; the U28 detour sign of 00272.jpg (ahead only at 0.94) 0.97; of GTSRB's
        5,639 mandatory signs at their ROI, 6 reach 0.93 (very dark ones, merged with a dark
        background). Rejected at 0.93.
        """
        c = self.c
        X1, Y1, X2, Y2 = around(box, c.square_grow, img.shape[1], img.shape[0])
        if X2 - X1 < 6 or Y2 - Y1 < 6:
            return True
        roi = img[Y1:Y2, X1:X2]
        f = c.square_side / max(roi.shape[:2])
        hsv = cv2.cvtColor(cv2.resize(roi, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2HSV)
        hh, ww = hsv.shape[:2]
        yy, xx = np.mgrid[0:hh, 0:ww]
        middle = np.hypot((xx + 0.5 - ww / 2) / (ww / 2), (yy + 0.5 - hh / 2) / (hh / 2)) < c.square_middle
        blue = self._blue(hsv, c.blue_value_square)
        if (blue & middle).sum() < 3:
            return True  # no blue to judge by (a dark or washed-out sign): not this check's to reject
        own = _own_blue(hsv, blue, middle, c.square_tolerance).astype(np.uint8)
        contours, _ = cv2.findContours(own, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return True
        hull = cv2.convexHull(max(contours, key=cv2.contourArea))
        (_, _), (rw, rh), _ = cv2.minAreaRect(hull)
        return cv2.contourArea(hull) < c.square_max_fill * max(rw * rh, 1e-6)

    def _blue(self, hsv: np.ndarray, min_value: int) -> np.ndarray:
        lo, hi = self.blue_hue
        return cv2.inRange(hsv, (lo, self.c.blue_saturation, min_value), (hi, 255, 255)) > 0


def _after_any(mask: np.ndarray) -> np.ndarray:
    """True where some earlier row (strictly above, same column) of ``mask`` is True."""
    return np.vstack([np.zeros_like(mask[:1]), np.logical_or.accumulate(mask, axis=0)[:-1]])


def _band(rows: np.ndarray, k: int) -> np.ndarray:
    """Mean of every run of ``k`` consecutive values."""
    c = np.concatenate([[0.0], np.cumsum(rows)])
    return (c[k:] - c[:-k]) / k


def _own_blue(hsv: np.ndarray, blue: np.ndarray, where: np.ndarray, tol: int) -> np.ndarray:
    """The pixels of ``blue`` (a blue-hue mask) within ``tol`` levels of the saturation and the
    brightness of the blue pixels in ``where`` (their medians): the sign's own blue, not a paler sky."""
    s, v = hsv[..., 1].astype(np.int16), hsv[..., 2].astype(np.int16)
    ref = blue & where
    return blue & (np.abs(s - np.median(s[ref])) <= tol) & (np.abs(v - np.median(v[ref])) <= tol)
