"""The digits and letters of German signs, drawn from the project's own strokes, not OpenCV's fonts.

OpenCV's font engine changes between releases: 5.1 draws its digits differently from 5.0 (a
rendered 40 px "60 km/h" sign was then read as 80), so a renderer that used it gave different
pictures, and different test results, with each OpenCV a user happened to install. These strokes
are polylines, which OpenCV rasterizes the same way in every release measured: with them, 5.0 and
5.1 draw all 43 pictograms bit for bit alike. The shapes follow DIN 1451, the typeface of German
signs: condensed, an open-topped 6 and 9, a flat-topped 3 and 5, a 0 with straight sides and no
slash. (OpenCV's 6 curls into an 8-like loop at small sizes.)

Each glyph is a list of centre-line paths in a box 1 high and ``WIDTH`` wide (y downwards), inset
by half the stroke so the ink fills the box.
"""

from __future__ import annotations

import cv2
import numpy as np

WIDTH = 0.6  # DIN 1451 Mittelschrift digits are about 0.55-0.6 as wide as high
GAP = 0.12  # between digits, in glyph heights
_IN = 0.055  # half the stroke at the design weight: the centre lines' inset from the box
L, R, T, B = _IN, WIDTH - _IN, _IN, 1 - _IN
MID = WIDTH / 2
RX = MID - _IN


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> list[tuple[float, float]]:
    """Points on an ellipse from angle a0 to a1 (degrees; y down, so increasing angles turn clockwise)."""
    a = np.radians(np.linspace(a0, a1, n))
    return list(zip((cx + rx * np.cos(a)).tolist(), (cy + ry * np.sin(a)).tolist()))


def _bowl(cy: float, ry: float) -> list[tuple[float, float]]:
    """A closed ellipse the full glyph width wide, centred at height ``cy``."""
    return _arc(MID, cy, RX, ry, 0, 360, 40)


_LOW_Y, _LOW_R = 0.675, B - 0.675  # the lower bowl of 3, 5, 6 and 8

GLYPHS: dict[str, list[list[tuple[float, float]]]] = {
    # straight sides between two half-round ends
    "0": [_arc(MID, T + RX, RX, RX, 180, 360) + _arc(MID, B - RX, RX, RX, 0, 180) + [(L, T + RX)]],
    "1": [[(0.14, 0.27), (0.38, T), (0.38, B)]],
    "2": [_arc(MID, T + 0.21, RX, 0.21, 190, 380) + [(L, B), (R + 0.01, B)]],
    "3": [[(L + 0.01, T), (R - 0.01, T)] + _arc(MID, _LOW_Y, RX, _LOW_R, -100, 155)],
    "4": [[(0.42, B), (0.42, T), (L - 0.01, 0.68), (R + 0.02, 0.68)]],
    "5": [[(R, T), (L + 0.035, T), (L + 0.02, 0.47)] + _arc(MID, _LOW_Y, RX, _LOW_R, -145, 150)],
    # the stem sweeps up from the bowl's left side in a wide arc that ends short of the top right, a
    # little under the cap height: the top stays open. (A hooked top like a 0's was read as 80 at
    # 32-64 px, a straight diagonal at 40-64; this arc taken to the full height was read right, but
    # less surely: the shipped recognizer's reading of a dozen drafts at six sizes from 24 to 64 px)
    "6": [_bowl(_LOW_Y, _LOW_R), _arc(MID + 0.2, _LOW_Y, RX + 0.2, (_LOW_Y - T - 0.03) / np.sin(np.radians(70)),
                                      180, 250)],
    "7": [[(L, T), (R, T), (0.2, B)]],
    "8": [_bowl(T + 0.195, 0.195 + 0.01), _bowl(_LOW_Y + 0.005, _LOW_R - 0.005)],
    # the letters of the stop sign (and of the parking look-alike): the renderer's every sign is then
    # drawn without OpenCV's fonts
    "S": [_arc(MID, T + (0.5 - T) / 2, RX, (0.5 - T) / 2, -25, -270)
          + _arc(MID, B - (B - 0.5) / 2, RX, (B - 0.5) / 2, -90, 155)],
    "T": [[(L - 0.03, T), (R + 0.03, T)], [(MID, T), (MID, B)]],
    "O": [_bowl(0.5, 0.5 - _IN)],
    "P": [[(L, B), (L, T), (R - 0.22, T)] + _arc(R - 0.22, T + 0.22, 0.22, 0.22, -90, 90) + [(L, T + 0.44)]],
}
GLYPHS["9"] = [[(WIDTH - x, 1 - y) for x, y in path] for path in GLYPHS["6"]]  # 6 turned half round


def drawable(text: str) -> bool:
    """Whether every character of ``text`` has a glyph here."""
    return bool(text) and all(ch in GLYPHS for ch in text)


def draw(text: str, height: int, weight: float) -> np.ndarray:
    """``text`` as white ink on black, ``height`` px tall, strokes ``weight`` x height thick (uint8)."""
    if not drawable(text):
        raise ValueError(f"no glyph for some of {text!r}")
    thick = max(1, int(round(weight * height)))
    pad = thick
    advance = (WIDTH + GAP) * height
    width = int(np.ceil(advance * len(text) - GAP * height)) + 2 * pad
    img = np.zeros((height + 2 * pad, width), np.uint8)
    shift = 4  # sub-pixel precision of the polylines
    for i, ch in enumerate(text):
        for path in GLYPHS[ch]:
            # laid out for a stroke of 2 x _IN: other weights move the outer edges a little, and the
            # pen crops the ink and stretches it into its box anyway
            pts = [(pad + i * advance + x * height, pad + y * height) for x, y in path]
            q = np.round(np.array(pts) * (1 << shift)).astype(np.int32)
            cv2.polylines(img, [q], False, 255, thick, cv2.LINE_AA, shift)
    return img
