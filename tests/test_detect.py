"""Detector and recognizer: synthetic signs drawn with OpenCV, odd frames, and a GTSDB regression floor."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.classes import NAMES
from realtime.classifier import Classified
from realtime.detect import Detector, DetectorConfig, _cc, _holes
from realtime.preprocess import Preprocessing
from realtime.recognize import Recognizer, RecognizerConfig, consistent, detection_record
from realtime.types import Detection, iou

RED, BLUE, YELLOW, WHITE, BLACK, GREY = (30, 30, 200), (170, 80, 20), (0, 190, 240), (235, 235, 235), (20, 20, 20), (
    120, 120, 120)


def _background(h: int = 800, w: int = 1360, seed: int = 0) -> np.ndarray:
    """Grey-green textured clutter: blurred noise, like road, walls and foliage at a distance."""
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 140, (h // 8, w // 8, 3), dtype=np.uint8)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR)
    img = cv2.GaussianBlur(img, (0, 0), 3)
    img[:, :, 1] = cv2.add(img[:, :, 1], 10)  # a little green, never sign-saturated
    return img


def _poly(img, pts, colour):
    cv2.fillPoly(img, [np.array(pts, np.int32)], colour, cv2.LINE_AA)


def draw_ring(img, cx, cy, r):
    cv2.circle(img, (cx, cy), r, RED, -1, cv2.LINE_AA)
    cv2.circle(img, (cx, cy), int(r * 0.78), WHITE, -1, cv2.LINE_AA)
    cv2.putText(img, "50", (cx - r // 2, cy + r // 4), cv2.FONT_HERSHEY_SIMPLEX, r / 40, BLACK, max(1, r // 12))
    return cx - r, cy - r, cx + r + 1, cy + r + 1


def draw_triangle(img, cx, cy, s, inverted=False):
    h = s * 0.866
    sign = -1 if inverted else 1
    outer = [(cx - s / 2, cy + sign * h / 2), (cx + s / 2, cy + sign * h / 2), (cx, cy - sign * h / 2)]
    _poly(img, outer, RED)
    k = 0.62
    c0 = (cx, cy + sign * h / 6)  # incentre
    inner = [(c0[0] + (x - c0[0]) * k, c0[1] + (y - c0[1]) * k) for x, y in outer]
    _poly(img, inner, WHITE)
    if not inverted:
        cv2.rectangle(img, (int(cx - 2), int(cy - h / 8)), (int(cx + 2), int(cy + h / 6)), BLACK, -1)
    return cx - s / 2, cy - h / 2, cx + s / 2 + 1, cy + h / 2 + 1


def draw_blue_disc(img, cx, cy, r):
    cv2.circle(img, (cx, cy), r, BLUE, -1, cv2.LINE_AA)
    _poly(img, [(cx - r * 0.15, cy + r * 0.6), (cx + r * 0.15, cy + r * 0.6), (cx + r * 0.15, cy - r * 0.1),
                (cx + r * 0.4, cy - r * 0.1), (cx, cy - r * 0.6), (cx - r * 0.4, cy - r * 0.1),
                (cx - r * 0.15, cy - r * 0.1)], WHITE)
    return cx - r, cy - r, cx + r + 1, cy + r + 1


def draw_diamond(img, cx, cy, r):
    _poly(img, [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], BLACK)
    r1 = r - 2
    _poly(img, [(cx, cy - r1), (cx + r1, cy), (cx, cy + r1), (cx - r1, cy)], WHITE)
    r2 = r * 0.55
    _poly(img, [(cx, cy - r2), (cx + r2, cy), (cx, cy + r2), (cx - r2, cy)], YELLOW)
    return cx - r, cy - r, cx + r + 1, cy + r + 1


def draw_octagon(img, cx, cy, r):
    ang = np.deg2rad(22.5 + 45 * np.arange(8))
    R = r / np.cos(np.deg2rad(22.5))
    pts = np.stack([cx + R * np.cos(ang), cy + R * np.sin(ang)], 1)
    _poly(img, pts, RED)
    cv2.putText(img, "STOP", (cx - int(r * 0.8), cy + r // 5), cv2.FONT_HERSHEY_SIMPLEX, r / 45, WHITE, max(1, r // 14))
    return pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max() + 1, pts[:, 1].max() + 1


def draw_end_of_limit(img, cx, cy, r):
    cv2.circle(img, (cx, cy), r, GREY, -1, cv2.LINE_AA)
    cv2.circle(img, (cx, cy), r - max(2, r // 12), WHITE, -1, cv2.LINE_AA)
    d = int(r * 0.6)
    cv2.line(img, (cx - d, cy + d), (cx + d, cy - d), (70, 70, 70), max(2, r // 8), cv2.LINE_AA)
    return cx - r, cy - r, cx + r + 1, cy + r + 1


def synthetic_scene(seed: int = 0):
    img = _background(seed=seed)
    gt = {
        "ring": draw_ring(img, 200, 300, 30),
        "triangle": draw_triangle(img, 420, 300, 64),
        "blue": draw_blue_disc(img, 640, 300, 28),
        "diamond": draw_diamond(img, 860, 300, 34),
        "octagon": draw_octagon(img, 1080, 300, 30),
        "yield": draw_triangle(img, 1250, 300, 60, inverted=True),
        "end": draw_end_of_limit(img, 300, 560, 30),
    }
    return img, gt


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene()


@pytest.mark.parametrize("name", ["ring", "triangle", "blue", "diamond", "octagon", "yield"])
def test_synthetic_signs_are_found(scene, name):
    img, gt = scene
    dets = Detector()(img)
    best = max((iou(d.box, gt[name]) for d in dets), default=0.0)
    assert best >= 0.6, f"{name}: best IoU {best:.2f} among {len(dets)} candidates"


def test_achromatic_route_finds_end_of_limit_disc(scene):
    img, gt = scene
    dets = [d for d in Detector()(img) if d.colour == "achromatic"]
    assert max((iou(d.box, gt["end"]) for d in dets), default=0.0) >= 0.6
    assert not [d for d in Detector(DetectorConfig(achromatic=False))(img) if d.colour == "achromatic"]


def test_achromatic_parts_are_also_proposed_grown():
    """An end-of sign often stands out only in part (stripes and pictograms cut its white disc, a
    shaded rim blends into the background): the bright part is proposed as it is and grown about
    its centre, which frames the whole sign."""
    img = _background(seed=3)
    r = 36
    cv2.circle(img, (600, 400), r, (105, 105, 105), -1, cv2.LINE_AA)  # a rim no brighter than its surroundings
    cv2.circle(img, (600, 400), int(r * 0.62), WHITE, -1, cv2.LINE_AA)
    sign = (600 - r, 400 - r, 600 + r + 1, 400 + r + 1)

    def best(cfg):
        return max((iou(d.box, sign) for d in Detector(cfg)(img) if d.colour == "achromatic"), default=0.0)

    assert best(DetectorConfig(achromatic_grow=1.0)) < 0.5
    assert DetectorConfig().achromatic_grow > 1.0 and best(DetectorConfig()) >= 0.6
    # the size limit holds for grown boxes too: with max_size under the grown sign, nothing that large
    limited = DetectorConfig(max_size=60)
    assert all(max(d.width, d.height) <= limited.max_size + 1 for d in Detector(limited)(img))


def test_colours_and_kinds_are_reported(scene):
    img, gt = scene
    dets = Detector()(img)

    def at(name):
        return max(dets, key=lambda d: iou(d.box, gt[name]))

    assert at("blue").colour == "blue"
    for name in ("ring", "triangle", "yield", "octagon"):
        assert at(name).colour == "red", name
    assert at("diamond").colour == "yellow" and at("diamond").shape == "diamond"
    for d in dets:
        assert d.class_id == -1 and 0.0 <= d.candidate_score <= 1.0


def test_stacked_signs_get_a_candidate_each():
    """Two rings touching on one pole make one tall blob: each end becomes a candidate of its own."""
    img = _background(seed=11)
    top = draw_ring(img, 400, 300, 24)
    cv2.rectangle(img, (390, 322), (410, 330), RED, -1)  # the rims touch
    bottom = draw_ring(img, 400, 350, 24)
    dets = Detector()(img)
    for box in (top, bottom):
        assert max(iou(d.box, box) for d in dets) >= 0.6


def test_ring_inside_frames_a_sign_merged_with_red_surroundings():
    """A ring touching a red facade: its white inside, grown to the rim, still frames it."""
    img = _background(seed=12)
    cv2.rectangle(img, (200, 100), (700, 276), (40, 40, 170), -1)  # red brick above the sign
    box = draw_ring(img, 400, 300, 28)
    dets = Detector()(img)
    assert max(iou(d.box, box) for d in dets) >= 0.6


@pytest.mark.parametrize("shape", [(200, 340), (191, 340), (60, 91), (7, 5)])
@pytest.mark.parametrize("seed", range(3))
def test_components_labelled_in_their_box_are_those_of_the_whole_grid(shape, seed):
    """``_cc`` labels only the even-aligned box around the mask's pixels: the same rows, in the same
    order, as labelling the whole grid, for grids of odd and even sides and pixels anywhere in them."""
    rng = np.random.default_rng(seed)
    H, W = shape
    mask = np.zeros(shape, np.uint8)
    y0, x0 = rng.integers(0, H), rng.integers(0, W)
    y1, x1 = rng.integers(y0, H) + 1, rng.integers(x0, W) + 1
    mask[y0:y1, x0:x1] = np.where(rng.random((y1 - y0, x1 - x0)) < 0.4, 255, 0)
    n, _, stats, cent = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_BBDT)
    whole = np.concatenate([stats[1:], cent[1:]], axis=1).astype(np.float32)
    np.testing.assert_array_equal(_cc(mask), whole)
    assert _cc(np.zeros(shape, np.uint8)).shape == (0, 7)


@pytest.mark.parametrize("seed", range(4))
def test_holes_are_the_complement_components_touching_no_edge(seed):
    """The flood-filled shortcut gives exactly the rows the plain labelling would keep."""
    rng = np.random.default_rng(seed)
    mask = np.where(rng.random((60, 90)) < 0.45, 255, 0).astype(np.uint8)
    cv2.circle(mask, (45, 30), 12, 255, 2)  # at least one ring with an inside
    st = _cc(cv2.bitwise_not(mask))
    H, W = mask.shape
    inner = st[(st[:, 0] > 0) & (st[:, 1] > 0) & (st[:, 0] + st[:, 2] < W) & (st[:, 1] + st[:, 3] < H)]
    holes = _holes(mask)
    assert len(holes) == len(inner) > 0
    key = np.lexsort(inner.T[::-1])
    np.testing.assert_allclose(holes[np.lexsort(holes.T[::-1])], inner[key], atol=1e-4)


@pytest.mark.parametrize("inverted", [False, True])
@pytest.mark.parametrize("side", [96, 192])
def test_ring_inside_frames_a_triangle_merged_with_red_surroundings(side, inverted):
    """A danger (or yield) triangle whose side touches a red facade: the red blob runs into the facade,
    and the triangle's white inside, grown about its incentre, must still frame it. A triangle's inside
    is half its width at mid-height, so its rim is looked for a quarter in from each side of the box
    (at the box's sides, as for a ring, it was looked for outside the triangle: no candidate at 192 px)."""
    img = _background(seed=13)
    h = int(side * 0.866)
    cv2.rectangle(img, (0, 300 - h // 6), (680 - side // 4, 799), (40, 40, 170), -1)  # red brick, left
    box = draw_triangle(img, 680, 300, side, inverted)
    red = [d for d in Detector()(img) if d.colour == "red"]
    assert max(iou(d.box, box) for d in red) >= 0.6


@pytest.mark.parametrize(("side", "cx"), [(32, 402.0), (36, 403.0), (40, 400.0), (48, 401.0)])
def test_small_triangle_merged_with_a_red_roof_is_framed_from_its_inside(side, cx):
    """A small danger sign whose lower half stands in front of a red roof (the renderer's drive-bys
    have many): only its white inside frames it. Max-pooling the red score shrinks an inside, a
    triangle's most (its apex goes), so it is padded before growing: without that the best red
    candidate had IoU 0.49-0.55 here."""
    img = _background(seed=30)
    cv2.rectangle(img, (int(cx) - 120, 300 + side // 6), (int(cx) + 120, 799), (40, 40, 170), -1)
    box = draw_triangle(img, cx, 300, side)
    red = [d for d in Detector()(img) if d.colour == "red"]
    assert max(iou(d.box, box) for d in red) >= 0.6


@pytest.mark.parametrize("side", [24, 28, 32, 36, 44])
def test_small_priority_signs_are_framed_from_the_true_core_size(side):
    """The yellow score is min-pooled, which erodes a core by one work pixel: grown from the eroded
    size, the box of a small priority sign was too small (32 px: IoU 0.48, 44 px: 0.71). Grown from
    the true size it frames the sign (0.65, 0.86). At 36 px the single border sample a side, at a
    fixed fraction of the eroded core, fell on the black edge: no candidate (0.82 with two samples)."""
    img = _background(seed=21)
    box = draw_diamond(img, 700, 300, side // 2)
    yellow = [d for d in Detector()(img) if d.colour == "yellow"]
    assert max(iou(d.box, box) for d in yellow) >= 0.6


def test_yellow_without_a_white_border_is_not_a_priority_sign():
    img = _background(seed=13)
    # a bare yellow diamond in clutter (a leaf, a lamp): a priority sign's core with no border. Without
    # the border check (white_min_sides=0) it is proposed, grown to IoU 0.26 with itself
    blob = np.array([[300, 270], [330, 300], [300, 330], [270, 300]])
    cv2.fillPoly(img, [blob], YELLOW)
    box = draw_diamond(img, 700, 300, 34)
    yellow = [d for d in Detector()(img) if d.colour == "yellow"]
    assert max(iou(d.box, box) for d in yellow) >= 0.6
    assert all(iou(d.box, (270, 270, 330, 330)) < 0.1 for d in yellow)  # nothing at the bare core


@pytest.mark.parametrize("frame", [
    np.zeros((800, 1360, 3), np.uint8),
    np.full((800, 1360, 3), 255, np.uint8),
    np.full((720, 1280, 3), (40, 40, 200), np.uint8),  # a frame filled with red: one blob, too big
    np.random.default_rng(1).integers(0, 256, (800, 1360, 3), dtype=np.uint8),
])
def test_blank_and_noise_frames_give_no_candidates(frame):
    assert Detector()(frame) == []


@pytest.mark.parametrize("frame", [
    np.random.default_rng(2).integers(0, 256, (480, 640), dtype=np.uint8),  # grayscale
    np.dstack([synthetic_scene(3)[0], np.full((800, 1360), 255, np.uint8)]),  # BGRA
    (synthetic_scene(4)[0].astype(np.uint16) * 257),  # 16-bit
    np.zeros((10, 10, 3), np.uint8),
    np.zeros((1, 1, 3), np.uint8),
    synthetic_scene(5)[0][:31, :29],
    np.ones((31, 4000, 3), np.uint8) * 128,
])
def test_odd_frames_do_not_crash(frame):
    dets = Detector()(frame)
    h, w = frame.shape[:2]
    for d in dets:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


def test_16bit_and_bgra_find_the_same_signs():
    img, gt = synthetic_scene(6)
    det = Detector()
    ref = det(img)
    for odd in (img.astype(np.uint16) * 257, cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)):
        got = det(odd)
        assert [d.box for d in got] == [d.box for d in ref]


def test_8k_frame_boxes_inside_and_scaled():
    img, gt = synthetic_scene(7)
    big = cv2.resize(img, (7680, 4320), interpolation=cv2.INTER_LINEAR)
    dets = Detector(DetectorConfig(max_size=2000, min_size=40))(big)
    for d in dets:
        assert 0 <= d.box[0] < d.box[2] <= 7680 and 0 <= d.box[1] < d.box[3] <= 4320
    sx, sy = 7680 / 1360, 4320 / 800
    blue = tuple(v * (sx if i % 2 == 0 else sy) for i, v in enumerate(gt["blue"]))
    assert max((iou(d.box, blue) for d in dets), default=0) >= 0.6


def test_candidate_count_is_bounded():
    img = _background()
    rng = np.random.default_rng(0)
    for _ in range(120):  # many red rings: more than the cap
        draw_ring(img, int(rng.integers(30, 1330)), int(rng.integers(30, 770)), int(rng.integers(10, 20)))
    dets = Detector(DetectorConfig(max_candidates=10))(img)
    assert len(dets) == 10
    scores = [d.candidate_score for d in dets]
    assert scores == sorted(scores, reverse=True)


def test_detector_speed_is_reported_not_asserted_tightly(scene):
    """The 5 ms target is measured by eval-detection; here only a gross regression guard."""
    import time

    img, _ = scene
    det = Detector()
    det(img)
    t = time.process_time()
    for _ in range(5):
        det(img)
    assert (time.process_time() - t) / 5 < 0.5


# -- recognizer with a stand-in classifier --------------------------------------------------------
class FakeClassifier:
    """Answers a fixed class per candidate colour; counts calls to prove batching. No box head."""

    def __init__(self, by_colour: dict[str, tuple[int, float]]):
        self.pre = Preprocessing()
        self.by_colour = by_colour
        self.calls = 0
        self.batch_sizes: list[int] = []

    def classify_boxes(self, frame, boxes, verifier=None):
        self.calls += 1
        self.batch_sizes.append(len(boxes))
        ids, scores = [], []
        for x1, y1, x2, y2 in boxes:
            c = frame[int(y1):int(y2) + 1, int(x1):int(x2) + 1]
            b, g, r = (float(v) for v in np.asarray(c, np.float32).reshape(-1, 3).mean(0))
            colour = "blue" if b > r + 20 else ("yellow" if g > b + 40 and r > b + 40 else "red")
            cid, s = self.by_colour.get(colour, (-1, 0.0))
            ids.append(cid)
            scores.append(s)
        n = len(ids)
        return Classified(np.array(ids, np.int64).reshape(n), np.array(scores, np.float32).reshape(n), None,
                          np.asarray(boxes, np.float32).reshape(n, 4), np.ones(n, np.float32))


def test_recognizer_classifies_in_one_batch_and_fills_classes(scene):
    img, gt = scene
    fake = FakeClassifier({"blue": (38, 0.99), "red": (2, 0.95), "yellow": (12, 0.97)})
    rec = Recognizer(Detector(), fake, RecognizerConfig(min_score=0.5, route_min_score={}, consistency="colour",
                                                          second_look=None))
    out = rec(img)
    assert fake.calls == 1 and fake.batch_sizes[0] >= 6
    assert all(d.class_id >= 0 and d.score >= 0.5 for d in out)
    blue = max(out, key=lambda d: iou(d.box, gt["blue"]))
    assert blue.class_id == 38 and iou(blue.box, gt["blue"]) >= 0.6


def test_recognizer_rejects_inconsistent_and_unsure_and_background():
    blue_disc = Detection(box=(0, 0, 40, 40), colour="blue", shape="circle")
    red_tri = Detection(box=(0, 0, 40, 40), colour="red", shape="triangle")
    small_red = Detection(box=(0, 0, 16, 16), colour="red", shape="triangle")
    assert not consistent(blue_disc, 18)  # a blue disc is not "general caution"
    assert consistent(blue_disc, 38)
    assert not consistent(red_tri, 2)  # triangle outline vs a round speed limit
    assert consistent(red_tri, 2, mode="colour")
    assert consistent(small_red, 2)  # too small for the outline to veto
    assert not consistent(red_tri, -1, mode="none")  # the background class is never a sign
    assert consistent(Detection(box=(0, 0, 40, 40), colour="yellow", shape="diamond"), 12)
    assert not consistent(Detection(box=(0, 0, 40, 40), colour="yellow", shape="diamond"), 14)
    assert consistent(Detection(box=(0, 0, 40, 40), colour="achromatic", shape="circle"), 41)
    assert consistent(Detection(box=(0, 0, 40, 40), colour="red", shape="octagon"), 14)
    # an orange priority-road core under warm light falls in the red hue range
    assert consistent(Detection(box=(0, 0, 40, 40), colour="red"), 12, mode="colour")
    assert not consistent(Detection(box=(0, 0, 40, 40), colour="blue"), 12, mode="colour")

    rec = Recognizer(None, None, RecognizerConfig(min_score=0.9, route_min_score={}, consistency="shape"))
    good = Detection(box=(0, 0, 40, 40), colour="blue", shape="circle", class_id=38, score=0.95)
    dup = Detection(box=(1, 1, 41, 41), colour="blue", shape="circle", class_id=38, score=0.93)
    unsure = Detection(box=(100, 0, 140, 40), colour="blue", shape="circle", class_id=38, score=0.6)
    wrong = Detection(box=(200, 0, 240, 40), colour="blue", shape="circle", class_id=14, score=0.99)
    assert rec.filter([unsure, dup, wrong, good]) == [good]
    strict_blue = Recognizer(None, None, RecognizerConfig(min_score=0.9, route_min_score={"blue": 0.99}))
    assert strict_blue.filter([good]) == []


def test_recognizer_on_empty_and_noise_frames_accepts_nothing():
    fake = FakeClassifier({"blue": (38, 0.99), "red": (2, 0.99), "yellow": (12, 0.99)})
    rec = Recognizer(Detector(), fake)
    assert rec(np.zeros((800, 1360, 3), np.uint8)) == []
    assert rec(np.random.default_rng(3).integers(0, 256, (800, 1360, 3), dtype=np.uint8)) == []
    assert fake.calls == 0  # no candidates: no classifier call at all


def test_no_entry_design_check():
    from realtime.recognize import DESIGN_CHECKS

    img = _background()
    cv2.circle(img, (200, 200), 40, RED, -1, cv2.LINE_AA)
    cv2.rectangle(img, (170, 192), (230, 208), WHITE, -1)  # the white bar
    cv2.circle(img, (500, 200), 40, RED, -1, cv2.LINE_AA)  # a plain red disc: a lamp, a ball
    check = DESIGN_CHECKS[17]
    assert check(img, (160, 160, 241, 241))
    assert not check(img, (460, 160, 541, 241))
    assert not check(img, (0, 0, 0, 0))
    # the box head's box is often a few pixels off: a box shifted down and too tall still shows
    # red above and below the bar (the fixed windows of the first version missed this one)
    assert check(img, (160, 168, 241, 256)) and check(img, (155, 170, 245, 262))
    assert not check(img, (460, 170, 541, 256))
    # a blurred bar under a warm cast turns pink (saturation ~100, over the white limit) but stays far
    # less saturated than the red: rendered drive-by seed 18 lost two no-entry signs to this
    cv2.circle(img, (800, 200), 40, RED, -1, cv2.LINE_AA)
    cv2.rectangle(img, (770, 193), (830, 207), (150, 140, 235), -1)
    assert check(img, (760, 160, 841, 241))
    # a stop sign's letters are pale in the middle too, but with red between them
    img2 = _background()
    draw_octagon(img2, 200, 200, 40)
    assert not check(img2, (155, 155, 246, 246))


def test_mandatory_signs_must_not_sit_on_a_blue_board():
    """An arrow printed on a blue direction board reads as "ahead only" (00522.jpg, proposed by the
    learned localizer); a blue disc standing free passes, in front of a grey facade or a blue sky."""
    from realtime.recognize import DESIGN_CHECKS, _not_on_a_board

    img = _background()
    cv2.circle(img, (200, 200), 40, BLUE, -1, cv2.LINE_AA)  # a free-standing disc
    cv2.rectangle(img, (400, 100), (800, 400), BLUE, -1)  # a board ...
    cv2.arrowedLine(img, (600, 320), (600, 180), WHITE, 12)  # ... with an arrow on it
    for c in range(33, 41):
        check = DESIGN_CHECKS[c]
        assert check(img, (160, 160, 241, 241))
        assert not check(img, (560, 170, 641, 331))
    sky = np.full((400, 400, 3), (200, 150, 110), np.uint8)  # a clear sky: blue hue, saturation ~115
    cv2.circle(sky, (200, 200), 40, BLUE, -1, cv2.LINE_AA)
    assert cv2.inRange(cv2.cvtColor(sky, cv2.COLOR_BGR2HSV), (96, 80, 40), (130, 255, 255)).mean() > 0.9 * 255
    assert DESIGN_CHECKS[35](sky, (160, 160, 241, 241))  # paler than sign blue: not a board
    assert DESIGN_CHECKS[35](img, (0, 0, 0, 0))
    assert _not_on_a_board(img, (0, 0, 1359, 799))  # no surroundings to judge by


def _pasted(img: np.ndarray, bgra: np.ndarray, x: int, y: int) -> tuple[float, float, float, float]:
    """``bgra`` blended onto ``img`` at (x, y); the box a box head gives it: GTSRB's ~10% margin."""
    h, w = bgra.shape[:2]
    a = bgra[:, :, 3:4].astype(np.float32) / 255
    roi = img[y:y + h, x:x + w]
    roi[:] = (a * bgra[:, :, :3] + (1 - a) * roi).astype(np.uint8)
    return x - 0.1 * w, y - 0.1 * h, x + 1.1 * w, y + 1.1 * h


@pytest.mark.parametrize("size", [20, 32, 64])
def test_mandatory_signs_must_be_discs_not_squares(size):
    """Square blue signs with white arrows or symbols (one-way, parking, detours: none of the 43)
    read as "ahead only" to the CNN (00272.jpg, 0.94); the renderer's eight mandatory discs pass."""
    from realtime.recognize import DESIGN_CHECKS, _not_square
    from training.render.pictograms import draw_distractor_sign, draw_sign

    img = _background()
    for i, c in enumerate(range(33, 41)):
        box = _pasted(img, draw_sign(c, size), 60 + 150 * i, 200)
        assert DESIGN_CHECKS[c](img, box), c
    # at 20-24 px the crossing sign's white triangle cuts its blue apart: the largest part is no square
    for i, kind in enumerate(("parking", "crossing") if size >= 32 else ("parking",)):
        box = _pasted(img, draw_distractor_sign(kind, size), 200 + 300 * i, 500)
        assert not _not_square(img, box), kind
        assert not DESIGN_CHECKS[35](img, box), kind
    # a disc's box that is mostly sky or has no blue at all is not this check's to reject
    assert _not_square(img, (0, 0, 4, 4)) and _not_square(_background(), (100, 100, 160, 160))


def test_stop_design_check():
    """A red octagon with white letters passes; a red lamp of the same size (a brake light the CNN
    read as "stop" in a rendered drive-by) does not, nor does an over-exposed plain red blob."""
    from realtime.recognize import DESIGN_CHECKS

    img = _background()
    octagon = np.array([[200 + 40 * np.cos(a), 200 + 40 * np.sin(a)] for a in np.arange(8) * np.pi / 4 + np.pi / 8],
                       np.int32)
    cv2.fillConvexPoly(img, octagon, RED, cv2.LINE_AA)
    cv2.putText(img, "STOP", (168, 210), cv2.FONT_HERSHEY_SIMPLEX, 0.8, WHITE, 2, cv2.LINE_AA)
    cv2.fillConvexPoly(img, octagon + [300, 0], RED, cv2.LINE_AA)
    cv2.rectangle(img, (100, 400), (125, 421), (60, 60, 255), -1)  # a bright red tail light
    cv2.rectangle(img, (600, 380), (700, 460), (200, 200, 205), -1)  # a white car ...
    cv2.ellipse(img, (650, 420), (9, 5), 0, 0, 360, (40, 40, 250), -1)  # ... and its tail light
    check = DESIGN_CHECKS[14]
    assert check(img, (160, 160, 241, 241)) and check(img, (154, 164, 244, 246))
    assert not check(img, (460, 160, 541, 241))
    assert not check(img, (100, 400, 126, 422))
    # a box that takes in the white around the light: pale, but outside the red, not inside it
    assert not check(img, (634, 408, 666, 432))  # the pale-share test before the enclosure passed it
    assert not check(img, (0, 0, 0, 0))


def test_failed_design_check_rejects_the_class(scene):
    img, gt = scene
    fake = FakeClassifier({"blue": (17, 0.999), "red": (17, 0.999), "yellow": (17, 0.999)})
    rec = Recognizer(Detector(), fake, RecognizerConfig(min_score=0.5, route_min_score={}, consistency="none",
                                                          second_look=None))
    dets = rec.classify_all(img)
    assert dets and all(d.class_id == -1 for d in dets)  # nothing in the scene is a no-entry sign
    assert rec.filter(dets) == []


def test_detection_record_format():
    d = Detection(box=(10.04, 20.0, 50.26, 60.0), class_id=14, score=0.987654)
    rec = detection_record("00012.jpg", 0, d, NAMES[14])
    assert rec == {"source": "00012.jpg", "frame": 0, "box": [10.0, 20.0, 50.3, 60.0], "class_id": 14,
                   "label": "Stop", "score": 0.9877}


def test_recognizer_config_validates():
    with pytest.raises(ValueError):
        RecognizerConfig(consistency="colours")
    with pytest.raises(ValueError):
        RecognizerConfig(min_score=1.5)


# -- GTSDB regression -----------------------------------------------------------------------------
# measured 0.678 (61 of 90 signs) on the first 60 scenes, at IoU >= 0.6 before the box head re-frames
CANDIDATE_RECALL_FLOOR_60 = 0.62


@pytest.mark.data
def test_candidate_recall_on_first_60_gtsdb_scenes(gtsdb_dir: Path):
    from training.detection_eval import read_gt, to_boxes
    from training.detmetrics import candidate_recall

    scenes = sorted((gtsdb_dir / "images").glob("*.jpg"))[:60]
    gts = {n: g for n, g in read_gt(gtsdb_dir / "gt.txt").items() if n in {p.name for p in scenes}}
    det = Detector()
    cands = {p.name: to_boxes(det(cv2.imread(str(p))), candidates=True) for p in scenes}
    r = candidate_recall(cands, gts)
    assert r["all"]["recall"] >= CANDIDATE_RECALL_FLOOR_60, r["all"]
    assert r["candidates_per_image"] <= DetectorConfig().max_candidates


class FakeGate:
    """P(sign) from the candidate's position: a stand-in for the gate CNN."""

    def __init__(self) -> None:
        self.pre = Preprocessing(size=20, contrast="stretch")
        self.class_ids = np.array([-1, 1])
        self.seen = 0

    def predict_proba(self, x):
        self.seen += len(x)
        p = np.linspace(0.02, 0.98, len(x), dtype=np.float32)
        return np.stack([1 - p, p], axis=1)


def test_gate_decides_what_is_classified_and_scores_without_a_verifier(scene):
    """Only candidates the gate scores >= gate_min reach the classifier, in one batch; without a
    verifier a detection's score is P(sign) from the gate times the class confidence."""
    img, _ = scene
    cfg = RecognizerConfig(min_score=0.0, route_min_score={}, consistency="none", gate_min=0.6, second_look=None)
    fake, gate = FakeClassifier({"blue": (38, 0.99), "red": (2, 0.95), "yellow": (12, 0.97)}), FakeGate()
    rec = Recognizer(Detector(), fake, cfg, gate=gate)
    cands, g, _ = rec.propose(img)
    assert np.array_equal(g, rec.gate_scores(img, cands))
    out = rec.classify_candidates(img, cands, gate=g)
    assert fake.calls == 1 and fake.batch_sizes == [int((g >= 0.6).sum())] and len(out) == (g >= 0.6).sum()
    for d, gs in zip(out, g[g >= 0.6]):
        assert d.score == pytest.approx(gs * {38: 0.99, 2: 0.95, 12: 0.97}[d.class_id], rel=1e-6)


def test_greedy_suppression_keeps_what_no_kept_item_covers():
    """``greedy_keep``, the rule of both ``_suppress`` and ``dedupe``: a chain A-B-C where only
    neighbours are "the same" keeps A and C (B falls to A; C is not tied to A, and B is not kept).
    Ties in score go to the earlier item."""
    from realtime.recognize import greedy_keep

    same = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], bool)
    assert greedy_keep(same, np.array([0.9, 0.8, 0.7])) == [0, 2]
    assert greedy_keep(same, np.array([0.7, 0.9, 0.8])) == [1]  # B first: it covers both
    assert greedy_keep(same, np.array([0.5, 0.5, 0.5])) == [0, 2]
    assert greedy_keep(np.zeros((0, 0), bool), np.zeros(0)) == []


def test_near_duplicate_candidates_are_classified_once():
    """``pre_nms``: a candidate overlapping a better-gated one by IoU >= 0.7 is not classified.
    Hand-computed: (0,0,40,40) and (2,2,42,42) overlap 38 x 38 = 1444 of 1600 + 1600 - 1444 = 1756
    pixels (IoU 0.82); (100,0,140,40) overlaps neither."""
    from realtime.recognize import _suppress

    img = np.zeros((100, 300, 3), np.uint8)
    boxes = [(2, 2, 42, 42), (0, 0, 40, 40), (100, 0, 140, 40)]
    cands = [Detection(box=b, colour="red") for b in boxes]
    gate = np.array([0.8, 0.9, 0.5], np.float32)
    assert _suppress(boxes, gate, 0.7, np.arange(3)).tolist() == [1, 2]  # the better-gated copy stays
    assert _suppress(boxes, gate, 0.9, np.arange(3)).tolist() == [0, 1, 2]  # 0.82 < 0.9: both stay
    for pre_nms, rows in ((0.7, [[0, 0, 40, 40], [100, 0, 140, 40]]), (None, [list(b) for b in boxes])):
        fake = FakeClassifier({"red": (2, 0.95)})
        cfg = RecognizerConfig(min_score=0.0, route_min_score={}, consistency="none", second_look=None,
                               pre_nms=pre_nms, box_scale=(1.0, 1.0))
        out = Recognizer(None, fake, cfg).classify_candidates(img, cands, gate=gate)
        assert fake.batch_sizes == [len(rows)] and len(out) == len(rows)
        assert sorted(list(d.box) for d in out) == sorted(rows)


class TwoLookClassifier:
    """Box head moves every box 10 px right; reads class 1 on a first (loose) crop, class 2 on a moved one."""

    class_ids = np.arange(43)

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []

    def classify_boxes(self, frame, boxes, verifier=None):
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.calls.append(b)
        second = len(self.calls) > 1
        probs = np.zeros((len(b), 43), np.float32)
        probs[:, 2 if second else 1] = 0.9
        probs[:, 1 if second else 2] = 0.1
        sign = np.full(len(b), 0.8 if second else 0.6, np.float32)
        return Classified(probs.argmax(1), probs.max(1), probs, b + np.float32([10, 0, 10, 0]), sign)


def test_second_look_reclassifies_promising_crops_at_the_box_head_box_and_averages():
    img = np.zeros((100, 300, 3), np.uint8)
    cands = [Detection(box=(0, 0, 40, 40), colour="red"), Detection(box=(100, 0, 140, 40), colour="red")]
    gate = np.array([1.0, 1.0], np.float32)
    clf = TwoLookClassifier()
    rec = Recognizer(None, clf, RecognizerConfig(second_look=0.5, consistency="none", box_scale=(1.0, 1.0)))
    out = rec.classify_candidates(img, cands, gate=gate, verifier=lambda f: None)
    assert len(clf.calls) == 2
    np.testing.assert_allclose(clf.calls[1], clf.calls[0] + np.float32([10, 0, 10, 0]))  # re-cut at the head's box
    # pass 1: class 1 at 0.9 x 0.6 = 0.54; pass 2: class 2 at 0.9 x 0.8 = 0.72; averaged: class 2 at
    # (0.1 x 0.6 + 0.72) / 2 = 0.39 beats class 1 at (0.54 + 0.08) / 2 = 0.31
    assert [d.class_id for d in out] == [2, 2]
    assert out[0].score == pytest.approx(0.39, abs=1e-6)
    # the two passes' boxes averaged: the first pass re-framed (10, 0, 50, 40), the second (20, 0, 60, 40)
    assert out[0].box == (15.0, 0.0, 55.0, 40.0)
    first_only = Recognizer(None, TwoLookClassifier(), RecognizerConfig(second_look=0.5, second_box=0.0,
                                                                       consistency="none", box_scale=(1.0, 1.0)))
    kept = first_only.classify_candidates(img, cands, gate=gate, verifier=lambda f: None)
    assert kept[0].box == (10.0, 0.0, 50.0, 40.0)  # second_box 0: the first pass's box
    # crops scoring under second_look keep their single look, and no second call is made
    clf2 = TwoLookClassifier()
    out2 = Recognizer(None, clf2, RecognizerConfig(second_look=0.6, consistency="none")).classify_candidates(
        img, cands, gate=gate, verifier=lambda f: None)
    assert len(clf2.calls) == 1 and [d.class_id for d in out2] == [1, 1]
    assert out2[0].score == pytest.approx(0.54, abs=1e-6)


def test_a_box_inside_a_found_sign_is_its_duplicate_but_a_neighbour_is_not():
    """A pictogram found inside its own sign by another route overlaps it by IoU < 0.5; with
    ``dedupe_centre`` (shipped) it is the same sign, and the better score stays. Signs stacked on
    one pole touch but hold neither centre: both stay."""
    sign = Detection(box=(100, 100, 140, 140), colour="blue", class_id=38, score=0.99)
    arrow = Detection(box=(112, 110, 130, 128), colour="achromatic", class_id=38, score=0.85)  # IoU 0.2
    below = Detection(box=(100, 141, 140, 181), colour="red", class_id=2, score=0.8)
    assert iou(sign.box, arrow.box) < 0.5
    assert RecognizerConfig().dedupe_centre
    rec = Recognizer(None, None, RecognizerConfig(min_score=0.5, route_min_score={}, consistency="none"))
    assert rec.filter([arrow, below, sign]) == [sign, below]
    off = Recognizer(None, None, RecognizerConfig(min_score=0.5, route_min_score={}, consistency="none",
                                                  dedupe_centre=False))
    assert off.filter([arrow, below, sign]) == [sign, arrow, below]


# measured 0.987 / 0.822 (74 of 90 signs, 1 false alarm) with the shipped models and settings. These scenes are
# in the shipped gate's and verifier's training folds: a regression guard, not a performance figure
# (eval-detection's cross-validated figures are those, docs/DETECTOR.md).
SYSTEM_PRECISION_FLOOR_60, SYSTEM_RECALL_FLOOR_60 = 0.93, 0.75


@pytest.mark.data
def test_shipped_system_on_first_60_gtsdb_scenes(gtsdb_dir: Path):
    from realtime.pipeline import build_recognizer
    from training.detection_eval import read_gt, to_boxes
    from training.detmetrics import evaluate

    scenes = sorted((gtsdb_dir / "images").glob("*.jpg"))[:60]
    gts = {n: g for n, g in read_gt(gtsdb_dir / "gt.txt").items() if n in {p.name for p in scenes}}
    rec = build_recognizer()
    r = evaluate({p.name: to_boxes(rec(cv2.imread(str(p)))) for p in scenes}, gts)["end_to_end"]
    assert r["precision"] >= SYSTEM_PRECISION_FLOOR_60 and r["recall"] >= SYSTEM_RECALL_FLOOR_60, r


def test_box_scale_shrinks_reported_boxes_about_their_centre_after_the_design_check(monkeypatch):
    """The box head learnt GTSRB's looser boxes; ``box_scale`` maps them to GTSDB's tight ones. The
    design check still sees the box head's box (the framing it was written for)."""
    import realtime.recognize as recognize_mod

    seen = []
    monkeypatch.setitem(recognize_mod.DESIGN_CHECKS, 2, lambda im, box: seen.append(box) or True)
    rec = Recognizer(None, TwoLookClassifier(), RecognizerConfig(second_look=0.5, consistency="none",
                                                                  box_scale=(0.5, 0.75)))
    out = rec.classify_candidates(np.zeros((100, 300, 3), np.uint8), [Detection(box=(0, 0, 40, 40), colour="red")],
                                  gate=np.ones(1, np.float32), verifier=lambda f: None)
    assert seen == [(15.0, 0.0, 55.0, 40.0)]  # unscaled (the two passes' heads moved it 10 and 20 px right)
    assert out[0].box == pytest.approx((25.0, 5.0, 45.0, 35.0))  # centre (35, 20), 20 x 30
    with pytest.raises(ValueError):
        RecognizerConfig(box_scale=(0.0, 1.0))
    with pytest.raises(ValueError):
        RecognizerConfig(second_box=1.5)
