"""``python -m training pictogram-legibility``: how well the recognizer reads the renderer's pictograms.

The recognizer learnt from GTSRB photographs only, so it is a fair judge of how close a rendered
pictogram is to the real design: each of the 43 signs is drawn clean on a plain background at a
few sizes, framed like a GTSRB image, and classified. Misreadings that repeat at every size point
at pictograms to redraw (and explain misses in rendered drive-bys that photographs would not cause).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from realtime.classes import NAMES, NUM_CLASSES

SIZES = (24, 40, 64)
BACKGROUND = (110, 140, 110)  # BGR: a muted green, unlike every sign colour


def legibility(classifier, sizes: Sequence[int] = SIZES) -> dict:
    """Per size, the classes read right; and every misreading as (size, class, read as, score)."""
    from training.render.pictograms import draw_sign, tight_box

    rows = []
    for size in sizes:
        frame = np.zeros((3 * size, 3 * size * NUM_CLASSES, 3), np.uint8)
        frame[:] = BACKGROUND
        boxes = []
        for cid in range(NUM_CLASSES):
            sign = draw_sign(cid, size)
            x0, y0 = (3 * cid + 1) * size, size
            a = sign[:, :, 3:4].astype(np.float32) / 255
            roi = frame[y0:y0 + size, x0:x0 + size]
            roi[:] = (sign[:, :, :3] * a + roi * (1 - a) + 0.5).astype(np.uint8)
            x1, y1, x2, y2 = tight_box(sign[:, :, 3])
            boxes.append([x0 + x1, y0 + y1, x0 + x2, y0 + y2])
        res = classifier.classify_boxes(frame, boxes)
        rows += [(size, cid, int(i), float(s)) for cid, (i, s) in enumerate(zip(res.ids, res.scores))]
    right = {size: sum(1 for s, c, i, _ in rows if s == size and i == c) for size in sizes}
    wrong = [{"size": s, "class_id": c, "read_as": i, "score": round(p, 3)} for s, c, i, p in rows if i != c]
    return {"signs": NUM_CLASSES, "sizes": list(sizes), "right": right,
            "right_all": sum(right.values()), "total": NUM_CLASSES * len(sizes), "misread": wrong}


def main(args) -> int:
    from realtime.classifier import Classifier

    r = legibility(Classifier(args.model))
    print(f"rendered pictograms read right: {r['right_all']} of {r['total']} "
          + "(" + ", ".join(f"{s} px: {n}/{r['signs']}" for s, n in r["right"].items()) + ")")
    by_class: dict[int, list[dict]] = {}
    for w in r["misread"]:
        by_class.setdefault(w["class_id"], []).append(w)
    for cid, ws in sorted(by_class.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        reads = ", ".join(f"{w['size']} px -> {w['read_as']} ({w['score']:.2f})" for w in ws)
        print(f"  {cid:>2} {NAMES[cid][:34]:<34} {reads}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1) + "\n")
    return 0
