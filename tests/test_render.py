"""The synthetic renderer: every class drawable and recognisable by colour, boxes exact, output deterministic.

Detector, pipeline and soak tests trust these frames as ground truth, so a wrong box here
would show up as a detector bug there.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from realtime.classes import CLASSES, NUM_CLASSES
from training.render.pictograms import DISTRACTOR_KINDS, draw_distractor_sign, draw_sign, tight_box
from training.render.scene import render_scene
from training.render.video import DriveBy, render_driveby, write_driveby


def _colour_fractions(bgra: np.ndarray) -> dict[str, float]:
    """Share of the opaque plate pixels that are saturated red, blue or yellow."""
    opaque = bgra[..., 3] == 255
    hsv = cv2.cvtColor(np.ascontiguousarray(bgra[..., :3]), cv2.COLOR_BGR2HSV)[opaque]
    h, s, v = hsv[:, 0].astype(int), hsv[:, 1].astype(int), hsv[:, 2].astype(int)
    sat = (s > 110) & (v > 70)
    n = max(int(opaque.sum()), 1)
    return {
        "red": float(np.sum(sat & ((h <= 8) | (h >= 170)))) / n,
        "blue": float(np.sum(sat & (h >= 100) & (h <= 130))) / n,
        "yellow": float(np.sum(sat & (h >= 18) & (h <= 35))) / n,
        "any": float(np.sum((s > 60) & (v > 50))) / n,
    }


@pytest.mark.parametrize("class_id", range(NUM_CLASSES))
def test_every_class_renders_with_its_colours(class_id: int) -> None:
    img = draw_sign(class_id, 64)
    assert img.shape == (64, 64, 4) and img.dtype == np.uint8
    alpha = img[..., 3]
    assert (alpha > 0).sum() > 0.3 * 64 * 64
    assert alpha[0, 0] == 0 and alpha[-1, -1] == 0  # transparent outside the plate
    frac = _colour_fractions(img)
    if CLASSES[class_id].achromatic:
        assert frac["any"] < 0.005, frac
        return
    listed = [c for c in CLASSES[class_id].colours if c in ("red", "blue", "yellow")]
    assert frac[listed[0]] > 0.1, (listed[0], frac)  # the dominant (border or field) colour
    for colour in listed[1:]:  # e.g. the lamps of "traffic signals"
        assert frac[colour] > 0.005, (colour, frac)
    for colour in {"red", "blue", "yellow"} - set(listed):
        assert frac[colour] < 0.02, (colour, frac)


def test_classes_look_different() -> None:
    """No two classes share a drawing: the smallest pairwise difference at 32 px is clearly visible."""
    imgs = [draw_sign(c, 32).astype(np.float32) for c in range(NUM_CLASSES)]
    worst = min(float(np.abs(imgs[a] - imgs[b]).mean())
                for a in range(NUM_CLASSES) for b in range(a + 1, NUM_CLASSES))
    assert worst > 2.0


def test_sign_sizes_and_caching_are_independent() -> None:
    a = draw_sign(1, 48)
    a[:] = 0  # callers may scribble on their copy
    assert draw_sign(1, 48)[..., 3].any()
    for size in (16, 20, 120, 200):
        assert draw_sign(35, size).shape == (size, size, 4)
    with pytest.raises(ValueError):
        draw_sign(43, 32)


@pytest.mark.parametrize("kind", DISTRACTOR_KINDS)
def test_distractor_signs_render(kind: str) -> None:
    img = draw_distractor_sign(kind, 64)
    assert img.shape == (64, 64, 4) and (img[..., 3] > 0).sum() > 500


def test_tight_box() -> None:
    a = np.zeros((10, 12), np.uint8)
    assert tight_box(a) == (0, 0, 0, 0)
    a[2:5, 3:9] = 7
    assert tight_box(a) == (3, 2, 9, 5)


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_scene_boxes_are_where_the_sign_pixels_are(seed: int) -> None:
    kw = {"n_signs": (3, 5), "noise": False, "blur": False, "occlusion": False, "lighting": False}
    with_signs, gt = render_scene(seed, **kw)
    without, gt0 = render_scene(seed, paste_signs=False, **kw)
    assert gt == gt0 and gt
    changed = np.any(with_signs != without, axis=2)
    covered = np.zeros_like(changed)
    for item in gt:
        x1, y1, x2, y2 = item["box"]
        assert 0 <= x1 < x2 <= with_signs.shape[1] and 0 <= y1 < y2 <= with_signs.shape[0]
        m = 3
        region = changed[max(y1 - m, 0):y2 + m, max(x1 - m, 0):x2 + m]
        bx1, by1, bx2, by2 = tight_box(region)
        got = (bx1 + max(x1 - m, 0), by1 + max(y1 - m, 0), bx2 + max(x1 - m, 0), by2 + max(y1 - m, 0))
        assert np.abs(np.subtract(got, item["box"])).max() <= 1, (got, item)
        covered[y1:y2, x1:x2] = True
    assert not (changed & ~covered).any()  # nothing but the plates differs


def test_scene_options() -> None:
    frame, gt = render_scene(3, width=640, height=400, n_signs=4, classes=[14, 33], sizes=(24, 40))
    assert frame.shape == (400, 640, 3) and frame.dtype == np.uint8
    assert {g["class_id"] for g in gt} <= {14, 33} and 1 <= len(gt) <= 4
    json.dumps(gt)  # plain Python types, ready for JSONL
    for g in gt:
        x1, y1, x2, y2 = g["box"]
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 400 and isinstance(g["occluded"], bool)


def test_scene_is_deterministic() -> None:
    a, ga = render_scene(11)
    b, gb = render_scene(11)
    c, gc = render_scene(12)
    assert np.array_equal(a, b) and ga == gb
    assert not np.array_equal(a, c)


def test_occlusion_is_marked() -> None:
    marked = [g for s in range(12) for g in render_scene(s, n_signs=4, noise=False)[1] if g["occluded"]]
    assert marked


def _tracks(clip: DriveBy) -> dict[int, list[tuple[int, dict]]]:
    tracks: dict[int, list[tuple[int, dict]]] = {}
    for i, (_, gt) in enumerate(clip):
        for g in gt:
            tracks.setdefault(g["sign_id"], []).append((i, g))
    return tracks


@pytest.mark.parametrize("seed", [0, 5])
def test_driveby_boxes_grow_and_stay_inside(seed: int) -> None:
    clip = DriveBy(seed, n_frames=120, n_signs=3)
    tracks = _tracks(clip)
    assert len(tracks) == 3
    for entries in tracks.values():
        assert len({g["class_id"] for _, g in entries}) == 1
        frames = [i for i, _ in entries]
        assert frames == list(range(frames[0], frames[0] + len(frames)))  # one unbroken track
        full = [g["box"] for _, g in entries if not g["truncated"]]
        heights = [b[3] - b[1] for b in full]
        widths = [b[2] - b[0] for b in full]
        assert 14 <= max(heights[0], widths[0]) <= 22, (heights[0], widths[0])  # starts far and small
        assert all(b >= a for a, b in zip(heights, heights[1:])), heights
        assert all(b >= a - 1 for a, b in zip(widths, widths[1:])), widths
        assert heights[-1] > 2.5 * heights[0]
        for _, g in entries:
            x1, y1, x2, y2 = g["box"]
            assert 0 <= x1 < x2 <= 1360 and 0 <= y1 < y2 <= 800
        # moves outwards from the vanishing point
        cx = [(b[0] + b[2]) / 2 for b in full]
        assert abs(cx[-1] - clip.cx) > abs(cx[0] - clip.cx)


def test_driveby_is_deterministic_and_random_access() -> None:
    a = list(render_driveby(4, n_frames=30, width=640, height=376))
    b = DriveBy(4, n_frames=30, width=640, height=376)
    assert all(np.array_equal(fa, b.frame(i)[0]) and ga == b.frame(i)[1] for i, (fa, ga) in enumerate(a))
    assert not np.array_equal(a[10][0], a[11][0])  # the road moves
    c = DriveBy(5, n_frames=30, width=640, height=376)
    assert not np.array_equal(a[10][0], c.frame(10)[0])


def test_write_driveby_reads_back(tmp_path) -> None:
    mp4, jsonl = tmp_path / "clip.mp4", tmp_path / "gt.jsonl"
    summary = write_driveby(mp4, jsonl, seed=1, n_frames=24, width=640, height=376, fps=25, n_signs=2)
    assert summary["frames"] == 24
    cap = cv2.VideoCapture(str(mp4))
    assert cap.isOpened()
    n, shape = 0, None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n, shape = n + 1, frame.shape
    cap.release()
    assert n == 24 and shape == (376, 640, 3)
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(24))
    assert lines[5]["t"] == pytest.approx(5 / 25)
    assert all({"box", "class_id", "sign_id"} <= set(s) for r in lines for s in r["signs"])


def test_render_driveby_cli_writes_video_and_ground_truth(tmp_path, capsys) -> None:
    """`python -m training render-driveby` (how the bundled sample is made) writes what `write_driveby` does."""
    from training.__main__ import main

    mp4, gt = tmp_path / "d.mp4", tmp_path / "d.jsonl"
    args = ["render-driveby", "--out", str(mp4), "--gt", str(gt), "--seed", "2", "--frames", "12",
            "--width", "320", "--height", "192", "--signs", "1"]
    assert main(args) == 0
    assert "12 frames, 1 signs" in capsys.readouterr().out
    lines = [json.loads(line) for line in gt.read_text().splitlines()]
    assert len(lines) == 12 and cv2.VideoCapture(str(mp4)).get(cv2.CAP_PROP_FRAME_COUNT) == 12
    again = tmp_path / "again.jsonl"
    assert main([*args[:3], "--gt", str(again), *args[5:]]) == 0
    assert again.read_text() == gt.read_text()  # deterministic from the seed


def test_render_driveby_cli_refuses_an_unwritable_output_in_one_line(tmp_path, capsys) -> None:
    """An output path that cannot be written (here under a plain file) is a user's error: one line, exit 2."""
    from training.__main__ import main

    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "d.mp4"
    assert main(["render-driveby", "--out", str(out), "--gt", str(tmp_path / "d.jsonl"), "--frames", "2",
                 "--width", "320", "--height", "192", "--signs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "file" in err[0]


def test_render_driveby_cli_refuses_a_frame_too_small_for_a_road(tmp_path, capsys) -> None:
    """Below 128x72 the scene has no room for its road; say so instead of failing deep in the renderer."""
    from training.__main__ import main

    assert main(["render-driveby", "--out", str(tmp_path / "d.mp4"), "--gt", str(tmp_path / "d.jsonl"),
                 "--width", "96", "--height", "64"]) == 2
    assert "at least 128x72 pixels" in capsys.readouterr().err
    assert not (tmp_path / "d.mp4").exists()


def test_no_sign_uses_opencvs_fonts(monkeypatch) -> None:
    """OpenCV's font engine changed between 5.0 and 5.1 (a rendered 60 was then read as 80): digits and
    the stop sign's letters are the renderer's own strokes, so every sign is the same whatever OpenCV
    draws text with."""
    from training.render import pictograms

    def no_fonts(*args, **kwargs):
        raise AssertionError("a sign's text drawn with an OpenCV font")

    monkeypatch.setattr(pictograms.cv2, "putText", no_fonts)
    pictograms._cached_sign.cache_clear()
    try:
        for cid in range(NUM_CLASSES):
            assert draw_sign(cid, 48)[..., 3].any()
    finally:
        pictograms._cached_sign.cache_clear()  # nothing drawn under the patch is kept


def test_digit_glyphs_fill_their_box_and_keep_six_and_nine_open() -> None:
    """Each digit's ink spans its glyph box (a 1 is narrower); a 6 is open at the top right and a 9 at the bottom left,
    where an 8 is closed (the shapes that tell 60 from 80 on a small sign)."""
    from training.render import glyphs

    h, weight = 200, 0.11
    for ch in "0123456789":
        ink = glyphs.draw(ch, h, weight) > 127
        ys, xs = np.nonzero(ink)
        assert ys.max() - ys.min() + 1 == pytest.approx(h, rel=0.04), ch  # a 6's stem ends 3% short
        width = xs.max() - xs.min() + 1
        assert width == pytest.approx(glyphs.WIDTH * h, rel=0.1) if ch != "1" else width < glyphs.WIDTH * h, ch
    pad = max(1, round(weight * h))

    def ink_at(ch: str, y: float, x0: float, x1: float) -> bool:  # any ink on a row, between two widths
        img = glyphs.draw(ch, h, weight) > 127
        row = img[pad + int(y * h)]
        return bool(row[pad + int(x0 * h): pad + int(x1 * h)].any())

    right, left = (glyphs.MID + 0.05, glyphs.WIDTH), (0.0, glyphs.MID - 0.05)
    assert ink_at("8", 0.25, *right) and not ink_at("6", 0.25, *right)
    assert ink_at("8", 0.75, *left) and not ink_at("9", 0.75, *left)
    with pytest.raises(ValueError):
        glyphs.draw("6a", h, weight)  # no glyph for "a": the pen falls back to OpenCV's font
