"""``python -m training pictogram-legibility``: how well the recognizer reads the renderer's pictograms.

The recognizer learnt from GTSRB photographs only, so it is a fair judge of how close a rendered
pictogram is to the real design: each of the 43 signs is drawn clean on a plain background at a
few sizes, framed like a GTSRB image, and classified. Misreadings that repeat at every size point
at pictograms to redraw (and explain misses in rendered drive-bys that photographs would not cause).
A second, stressed reading (``stress_legibility``: noisy backgrounds, sizes from 20 px, framed the
way a detector frames) keeps separating good drawings from passable ones once the clean one is full.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from realtime.classes import NAMES, NUM_CLASSES

log = logging.getLogger(__name__)  # progress and figures; the command line prints them

SIZES = (24, 40, 64)
BACKGROUND = (110, 140, 110)  # BGR: a muted green, unlike every sign colour


def _sheet(size: int, background: Sequence[int], rng: np.random.Generator | None = None
           ) -> tuple[np.ndarray, list[list[int]]]:
    """The 43 signs at ``size`` px side by side (a sign's width apart) on ``background``, with sensor
    noise (sigma 6) when ``rng`` is given; and each sign's tight box in the sheet."""
    from training.render.pictograms import draw_sign, tight_box

    frame = np.empty((3 * size, 3 * size * NUM_CLASSES, 3), np.float32 if rng is not None else np.uint8)
    frame[:] = background
    if rng is not None:
        frame = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)
    boxes = []
    for cid in range(NUM_CLASSES):
        sign = draw_sign(cid, size)
        x0, y0 = (3 * cid + 1) * size, size
        a = sign[:, :, 3:4].astype(np.float32) / 255
        roi = frame[y0:y0 + size, x0:x0 + size]
        roi[:] = (sign[:, :, :3] * a + roi * (1 - a) + 0.5).astype(np.uint8)
        x1, y1, x2, y2 = tight_box(sign[:, :, 3])
        boxes.append([x0 + x1, y0 + y1, x0 + x2, y0 + y2])
    return frame, boxes


def legibility(classifier, sizes: Sequence[int] = SIZES) -> dict:
    """Per size, the classes read right; and every misreading as (size, class, read as, score)."""
    rows = []
    for size in sizes:
        frame, boxes = _sheet(size, BACKGROUND)
        res = classifier.classify_boxes(frame, boxes)
        rows += [(size, cid, int(i), float(s)) for cid, (i, s) in enumerate(zip(res.ids, res.scores))]
    right = {size: sum(1 for s, c, i, _ in rows if s == size and i == c) for size in sizes}
    wrong = [{"size": s, "class_id": c, "read_as": i, "score": round(p, 3)} for s, c, i, p in rows if i != c]
    return {"signs": NUM_CLASSES, "sizes": list(sizes), "right": right,
            "right_all": sum(right.values()), "total": NUM_CLASSES * len(sizes), "misread": wrong}


STRESS_SIZES = (20, 28, 36, 48, 64, 80)
STRESS_BACKGROUNDS = ((110, 140, 110), (90, 90, 90), (170, 170, 170), (200, 160, 120), (60, 80, 60))


def stress_legibility(classifier, sizes: Sequence[int] = STRESS_SIZES, backgrounds=STRESS_BACKGROUNDS,
                      framings: int = 4, seed: int = 0) -> dict:
    """The harder reading: every sign at more sizes, on grey, green, dark and sky-coloured
    backgrounds with sensor noise, framed exactly once and ``framings - 1`` times the way a
    detector frames it (side +-12 %, centre +-8 % of the side). The clean reading above tops out
    once every pictogram is roughly right; this one still separates a faithful drawing from one the
    recognizer only just accepts. Returns the share read right per class and over all."""
    rng = np.random.default_rng(seed)
    right = np.zeros(NUM_CLASSES)
    runs = 0
    for size in sizes:
        for bg in backgrounds:
            frame, tight = _sheet(size, bg, rng)
            boxes, ids = [], []
            for cid, (x1, y1, x2, y2) in enumerate(tight):
                w, h = x2 - x1, y2 - y1
                for j in range(framings):
                    s = 1 + rng.uniform(-0.12, 0.12) if j else 1.0
                    dx, dy = rng.uniform(-0.08, 0.08, 2) * w if j else (0.0, 0.0)
                    cx, cy = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy
                    boxes.append([cx - w * s / 2, cy - h * s / 2, cx + w * s / 2, cy + h * s / 2])
                    ids.append(cid)
            res = classifier.classify_boxes(frame, boxes)
            np.add.at(right, np.asarray(ids), np.asarray(res.ids) == np.asarray(ids))
            runs += framings
    per_class = right / runs
    return {"per_class": [round(float(v), 4) for v in per_class], "mean": round(float(per_class.mean()), 4),
            "crops_per_class": runs, "sizes": list(sizes), "backgrounds": len(backgrounds), "framings": framings}


def main(args) -> int:
    from realtime.classifier import Classifier

    classifier = Classifier(args.model)
    r = legibility(classifier)
    log.info(f"rendered pictograms read right: {r['right_all']} of {r['total']} "
             + "(" + ", ".join(f"{s} px: {n}/{r['signs']}" for s, n in r["right"].items()) + ")")
    by_class: dict[int, list[dict]] = {}
    for w in r["misread"]:
        by_class.setdefault(w["class_id"], []).append(w)
    for cid, ws in sorted(by_class.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        reads = ", ".join(f"{w['size']} px -> {w['read_as']} ({w['score']:.2f})" for w in ws)
        log.info(f"  {cid:>2} {NAMES[cid][:34]:<34} {reads}")
    st = stress_legibility(classifier)
    weak = sorted(range(NUM_CLASSES), key=lambda c: st["per_class"][c])[:6]
    log.info(f"under stress ({len(st['sizes'])} sizes x {st['backgrounds']} backgrounds x {st['framings']} framings): "
             f"{st['mean']:.3f} read right; weakest: "
             + ", ".join(f"{c} {NAMES[c][:20]} {st['per_class'][c]:.2f}" for c in weak))
    if args.json:
        Path(args.json).write_text(json.dumps({**r, "stress": st}, indent=1) + "\n")
    return 0
