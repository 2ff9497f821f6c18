"""The closer look: signs the coarse grid merges or frames loosely, the mosaic's mapping back, seeds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.boxes import iou
from realtime.closer_look import CloserLook
from realtime.config import CloserLookConfig
from realtime.detect import Detector
from tests.test_detect import RED, _background, draw_blue_disc, draw_ring, draw_triangle


def best(box, dets) -> float:
    return max([iou(d.box, box) for d in dets] or [0.0])


def test_small_stacked_signs_merged_on_the_coarse_grid_are_framed_apart():
    """Two 17 px rings joined by a red bracket: at 4 frame px a cell the coarse pass frames neither
    at IoU 0.6; the closer look around the merged blob frames both."""
    img = _background(seed=5)
    top = draw_ring(img, 600, 300, 8)
    cv2.rectangle(img, (592, 307), (608, 311), RED, -1)
    bottom = draw_ring(img, 600, 320, 8)
    coarse = Detector()(img)
    assert best(top, coarse) < 0.6 and best(bottom, coarse) < 0.6  # what the look is for
    fine = CloserLook()(img, np.array([[top[0], top[1], bottom[2], bottom[3]]], np.float32))
    assert best(top, fine) >= 0.6 and best(bottom, fine) >= 0.6


@pytest.mark.parametrize("side", [18, 20])
def test_small_triangle_merged_with_a_red_roof_is_found_around_a_loose_seed(side):
    img = _background(seed=6)
    cv2.rectangle(img, (500, 200), (900, 300), (40, 40, 170), -1)  # red roof the sign's rim touches
    box = draw_triangle(img, 700, 300 + int(side * 0.433) + 1, side)
    assert best(box, Detector()(img)) < 0.6
    w = box[2] - box[0]
    loose = np.array([[box[0] - 0.2 * w, box[1] - 0.3 * w, box[2] + 0.2 * w, box[3]]], np.float32)
    assert best(box, CloserLook()(img, loose)) >= 0.6


def test_every_patch_of_a_multi_row_mosaic_maps_back_to_its_own_sign():
    """Twelve signs of 16-48 px, each seeded by a box a little off: packed into several mosaic rows,
    each sign is found where it is, and nothing is reported outside its seed's patch."""
    img = _background(seed=7)
    rng = np.random.default_rng(0)
    boxes = []
    for k in range(12):
        cx, cy, r = 120 + 100 * k, 200 + 300 * (k % 2), int(8 + 2 * k)
        boxes.append((draw_ring, draw_blue_disc, draw_triangle)[k % 3](img, cx, cy, r if k % 3 < 2 else 2 * r))
    boxes = np.array(boxes, np.float32)
    wh = boxes[:, 2:] - boxes[:, :2]
    seeds = boxes + np.concatenate([rng.uniform(-0.15, 0.15, (12, 2)) * wh] * 2, axis=1).astype(np.float32)
    look = CloserLook(config=CloserLookConfig(row_width=300, max_seeds=12, max_area=10 ** 7))
    fine = look(img, seeds)
    for b in boxes:
        assert best(tuple(b), fine) >= 0.75
    side = np.maximum(seeds[:, 2] - seeds[:, 0], seeds[:, 3] - seeds[:, 1])[:, None]
    patches = np.concatenate([seeds[:, :2] - side, seeds[:, 2:] + side], axis=1)
    for d in fine:
        cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
        assert ((patches[:, 0] <= cx) & (cx <= patches[:, 2]) & (patches[:, 1] <= cy) & (cy <= patches[:, 3])).any()


def test_a_sign_merged_with_a_panel_beside_it_is_found_in_the_wide_seed():
    """A 52 px blue disc touching a blue panel: one 88 px blob on the coarse grid. Seeds that wide
    get a smaller margin and enlargement, and the disc is still framed on its own."""
    img = _background(seed=4)
    disc = draw_blue_disc(img, 600, 300, 22)
    cv2.rectangle(img, (622, 286), (666, 330), (170, 80, 20), -1)
    assert best(disc, Detector()(img)) < 0.6
    seed = np.array([[disc[0], disc[1] - 2, 666, disc[3] + 8]], np.float32)
    assert 64 < seed[0, 2] - seed[0, 0] <= CloserLookConfig().max_width
    assert best(disc, CloserLook()(img, seed)) >= 0.6


def test_the_mosaic_stays_within_its_pixel_budget_best_seeds_first():
    """Seeds get patches in their order while the patches' pixels fit ``max_area``; one that does not
    fit is skipped, and a smaller one after it still gets its patch."""
    img = _background(seed=10)
    small1, big, small2 = draw_ring(img, 300, 300, 10), draw_ring(img, 700, 300, 30), draw_ring(img, 1000, 300, 10)
    seeds = np.array([small1, big, small2], np.float32)
    patch = (3 * 21 * 2 + 12) ** 2  # a 21 px seed grown by its size on each side, enlarged 2x, padded
    fine = CloserLook(config=CloserLookConfig(max_area=2 * patch + 100))(img, seeds)
    assert best(small1, fine) >= 0.6 and best(small2, fine) >= 0.6 and best(big, fine) == 0.0
    assert best(big, CloserLook()(img, seeds)) >= 0.6  # the default budget holds all three


def test_seeds_are_the_best_gated_small_candidates_one_per_place():
    boxes = np.array([[0, 0, 20, 20], [2, 2, 22, 22], [100, 0, 120, 20], [200, 0, 350, 150], [400, 0, 420, 20],
                      [500, 0, 520, 20]], np.float32)
    gate = np.array([0.5, 0.9, 0.4, 0.99, 0.1, 0.35], np.float32)
    look = CloserLook(config=CloserLookConfig(min_gate=0.3, max_width=100, seed_iou=0.3))
    # [1] beats its near-duplicate [0]; [3] is too wide; [4] gated too low; best-gated first
    assert look.seeds(boxes, gate).tolist() == boxes[[1, 2, 5]].tolist()
    capped = CloserLook(config=CloserLookConfig(max_seeds=2)).seeds(boxes, gate)
    assert capped.tolist() == boxes[[1, 2]].tolist()
    assert CloserLook().seeds(np.zeros((0, 4)), np.zeros(0)).shape == (0, 4)


@pytest.mark.parametrize("frame", [
    np.zeros((800, 1360, 3), np.uint8),
    np.full((480, 640), 128, np.uint8),  # grayscale
    np.zeros((6, 6, 3), np.uint8),
], ids=["black", "grey", "tiny"])
def test_odd_frames_and_seeds_give_no_candidates_and_no_errors(frame):
    look = CloserLook()
    h, w = frame.shape[:2]
    seeds = np.array([[-50, -50, 10, 10], [w - 5, h - 5, w + 40, h + 40], [3, 3, 3, 3], [w + 10, 0, w + 30, 20]],
                     np.float32)
    assert look(frame, seeds) == []
    assert look(frame, np.zeros((0, 4), np.float32)) == []


def test_candidates_near_the_frame_edge_stay_inside_it():
    img = _background(seed=8)
    box = draw_ring(img, 14, 14, 12)  # touching the top-left corner
    fine = CloserLook()(img, np.array([box], np.float32))
    assert best(box, fine) >= 0.6
    for d in fine:
        assert d.box[0] >= 0 and d.box[1] >= 0 and d.box[2] <= img.shape[1] and d.box[3] <= img.shape[0]


def test_closer_look_config_validates():
    with pytest.raises(ValueError):
        CloserLookConfig(scale=0.5)
    with pytest.raises(ValueError):
        CloserLookConfig(separator=2)
    with pytest.raises(ValueError):
        CloserLookConfig(wide_margin=-1)
    with pytest.raises(ValueError):
        CloserLookConfig(max_area=-1)
