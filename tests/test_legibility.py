"""The renderer's pictograms as the shipped recognizer (trained on photographs only) reads them."""

from __future__ import annotations

import json

from realtime.classifier import Classifier
from training.legibility import legibility, stress_legibility

# measured 119 of 129 (43 signs at 24, 40 and 64 px) with the shipped recognizer. The floors follow
# the judge: a recognizer that reads GTSRB's validation tracks and GTSDB's scenes better can still
# read thin-stroke danger pictograms (21, 23, 24, 25) worse, so the floors sit just under the shipped
# recognizer's readings, with a little slack for another platform's anti-aliasing. The misreadings
# are listed in docs/PIPELINE.md
LEGIBILITY_FLOOR = 117
# the stressed reading (6 sizes x 5 backgrounds x 4 framings): measured 0.940 with the renderer's own
# digits, on OpenCV 5.0 and 5.1 alike (0.936 with OpenCV's font); every class at least
# PER_CLASS_FLOOR (measured minimum 0.45, road work)
STRESS_FLOOR = 0.92
PER_CLASS_FLOOR = 0.4


def test_shipped_recognizer_reads_the_rendered_pictograms():
    r = legibility(Classifier())
    assert r["total"] == 129 and r["right_all"] == sum(r["right"].values())
    assert r["right_all"] >= LEGIBILITY_FLOOR, r["misread"]
    assert len(r["misread"]) == r["total"] - r["right_all"]
    speed = {0, 1, 2, 3, 4, 5, 7, 8}  # digits the recognizer must read (50 was read as 80 with bold digits)
    assert not [w for w in r["misread"] if w["class_id"] in speed and w["size"] >= 40], r["misread"]


def test_shipped_recognizer_reads_the_pictograms_under_stress():
    """Harder than the clean reading: noisy backgrounds, sizes from 20 px and detector-like framing.
    Every sign must be read right most of the time, not only on average."""
    r = stress_legibility(Classifier())
    assert r["crops_per_class"] == 6 * 5 * 4 and len(r["per_class"]) == 43
    assert r["mean"] >= STRESS_FLOOR, r
    assert min(r["per_class"]) >= PER_CLASS_FLOOR, {c: v for c, v in enumerate(r["per_class"]) if v < PER_CLASS_FLOOR}


def test_text_stroke_is_set_whatever_the_opencv_font_weight():
    """OpenCV 5 ignores the thickness of its fonts; the pen thins the drawn text to the stroke asked
    (measured the pen's way, after the text is stretched into its box: within 0.01 of it)."""
    import cv2
    import numpy as np

    from training.render.pictograms import _Pen

    measured = []
    for stroke in (0.07, 0.09, 0.11):
        pen = _Pen(400)
        pen.img[:] = 0
        pen.text("50", (0.2, 0.3, 0.8, 0.7), (255, 255, 255), stroke=stroke)
        ink = (pen.img[:, :, 0] > 127).astype(np.uint8)
        ys = np.nonzero(ink.any(axis=1))[0]
        dist = cv2.distanceTransform(ink, cv2.DIST_L2, 3)
        measured.append(2 * np.percentile(dist[dist > 0], 75) / (ys.max() - ys.min() + 1))
        assert abs(measured[-1] - stroke) < 0.01, (stroke, measured[-1])
    assert measured == sorted(measured)


def test_pictogram_legibility_cli_writes_json(tmp_path, capsys):
    from training.__main__ import main

    out = tmp_path / "l.json"
    assert main(["pictogram-legibility", "--json", str(out)]) == 0
    assert "rendered pictograms read right" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["signs"] == 43 and 0 <= report["stress"]["mean"] <= 1
