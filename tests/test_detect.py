"""The colour/shape detector: synthetic signs drawn with OpenCV, odd frames, and a GTSDB candidate-recall
floor. ``synthetic_scene`` and the drawing helpers are shared with the other stages' tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.boxes import iou
from realtime.config import DetectorConfig
from realtime.detect import Detector, _cc, _holes

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
