"""The learned localizer: letterboxing, decoding a heat map by hand, the model file's checks, its
training data (pasted signs land where their boxes say), and, on GTSDB, a recall floor for the
fold localizer on the scenes it never saw."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from realtime.boxes import iou_matrix
from realtime.card import ModelError
from realtime.config import DetectorConfig, LocateConfig
from realtime.locate import DEFAULT_LOCATOR, SIZES, Locator, decode, letterbox


def test_letterbox_reduces_to_fit_and_pads_right_and_below():
    frame = np.full((800, 1360, 3), 200, np.uint8)
    img, scale = letterbox(frame, 688, 400)
    assert img.shape == (400, 688, 3) and scale == 0.5
    assert (img[:, :680] == 200).all() and (img[:, 680:] == 0).all()
    small, s = letterbox(np.full((100, 120, 3), 50, np.uint8), 688, 400)  # never enlarged
    assert s == 1.0 and (small[:100, :120] == 50).all() and (small[100:] == 0).all() and (small[:, 120:] == 0).all()
    tall, s = letterbox(np.zeros((1600, 900, 3), np.uint8), 688, 400)
    assert s == 0.25 and tall.shape == (400, 688, 3)


def test_letterbox_into_a_reused_float_buffer_matches_a_fresh_one():
    """The ``Locator`` letterboxes straight into its interpreter's float input, which keeps the last
    frame's pixels: a smaller frame after a bigger one must leave no trace of it in the padding."""
    buf = np.full((400, 688, 3), -1.0, np.float32)
    letterbox(np.full((800, 1360, 3), 200, np.uint8), 688, 400, out=buf)
    for frame in (np.full((100, 120, 3), 50, np.uint8), np.arange(300 * 500 * 3, dtype=np.uint8).reshape(300, 500, 3)):
        into, scale = letterbox(frame, 688, 400, out=buf)
        fresh, s = letterbox(frame, 688, 400)
        assert into is buf and scale == s == 1.0 and np.array_equal(buf, fresh.astype(np.float32))


def _map(h: int = 10, w: int = 12) -> np.ndarray:
    out = np.zeros((h, w, 5), np.float32)
    out[..., 0] = -8.0  # heat ~0 everywhere
    return out


def test_letterbox_takes_the_detectors_work_image_only_where_it_fits_at_about_its_own_scale():
    """The detector's reduced frame saves reducing it again; a 1280x720 frame's (680x382 at
    0.53125, against the letterbox's own 688x387 at 0.5375) is fed as it is, padded."""
    from realtime.detect import Detector
    from realtime.preprocess import Work

    rng = np.random.default_rng(3)
    frame = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    work = Detector().work(frame)
    assert work.image.shape == (382, 680, 3) and work.scale == 680 / 1280
    img, scale = letterbox(frame, 688, 400, work=work)
    assert scale == work.scale and np.array_equal(img[:382, :680], work.image) and not img[382:].any()
    assert not img[:, 680:].any()
    own, s = letterbox(frame, 688, 400)
    assert s == 688 / 1280 and own.shape == img.shape
    # too small a work image (a detector configured narrower), or one that does not fit: reduced anew
    narrow = Work(cv2.resize(frame, (340, 191), interpolation=cv2.INTER_AREA), 340 / 1280)
    wide = Work(cv2.resize(frame, (700, 394), interpolation=cv2.INTER_AREA), 700 / 1280)
    for other in (narrow, wide):
        again, s = letterbox(frame, 688, 400, work=other)
        assert s == 688 / 1280 and np.array_equal(again, own)


def test_the_localizer_finds_the_same_on_1360x800_frames_with_the_detectors_work_image():
    from realtime.detect import Detector

    frame = np.random.default_rng(4).integers(0, 255, (800, 1360, 3), dtype=np.uint8)
    cv2.circle(frame, (700, 300), 30, (40, 40, 220), 6)
    loc, det = Locator(), Detector()
    assert loc(frame, work=det.work(frame)) == loc(frame)
    assert det(frame, work=det.work(frame)) == det(frame)


def test_decode_turns_a_peak_into_its_box_by_hand():
    out = _map()
    out[4, 6] = [3.0, np.log(20.0), np.log(18.0), 0.5, 0.25]
    out[4, 7, 0] = 2.0  # a neighbour, lower: not a peak of its own
    out[1, 1] = [-3.0, np.log(20.0), np.log(20.0), 0.0, 0.0]  # heat 0.047: under min_heat 0.1
    boxes, heat = decode(out, 4, LocateConfig(), sizes=(1.0, 250.0))
    # centre ((6 + 0.5) * 4, (4 + 0.25) * 4) = (26, 17), 20 x 18, in input px; frame px at scale 0.5
    assert boxes[0].tolist() == pytest.approx([16.0, 8.0, 36.0, 26.0]) and len(boxes) == 1
    assert heat == pytest.approx([1 / (1 + np.exp(-3.0))])
    boxes, _ = decode(out, 4, LocateConfig(), scale=0.5, sizes=(1.0, 250.0))
    assert boxes[0].tolist() == pytest.approx([32.0, 16.0, 72.0, 52.0]) and len(boxes) == 1


def test_decode_keeps_the_best_peaks_within_the_size_limits():
    out = _map(20, 20)
    for i, (y, x) in enumerate([(2, 2), (2, 10), (10, 2), (10, 10), (17, 17)]):
        out[y, x] = [1.0 + i, np.log(20.0), np.log(20.0), 0.5, 0.5]
    out[17, 17, 1:3] = np.log(400.0)  # a 400 px box: over max_size
    boxes, heat = decode(out, 4, LocateConfig(max_candidates=3), sizes=(14.0, 250.0))
    assert len(boxes) == 3 and list(heat) == sorted(heat, reverse=True)
    assert (boxes[:, 2] - boxes[:, 0] <= 250).all()
    assert decode(_map(), 4, LocateConfig())[0].shape == (0, 4)
    # the size limits default to the detector's: the 400 px box is left out, the 20 px ones kept
    assert (float(DetectorConfig().min_size), float(DetectorConfig().max_size)) == SIZES
    boxes, _ = decode(out, 4, LocateConfig(max_candidates=12))
    assert len(boxes) == 4 and (boxes[:, 2] - boxes[:, 0] <= 250).all()
    assert len(decode(out, 4, LocateConfig(max_candidates=12), sizes=(14.0, 500.0))[0]) == 5


def test_a_missing_or_foreign_model_is_one_clear_error(tmp_path: Path):
    with pytest.raises(ModelError, match="not found"):
        Locator(tmp_path / "none.tflite")
    model = tmp_path / "gate.tflite"
    model.write_bytes(b"x")
    (tmp_path / "gate.json").write_text(json.dumps({"classes": []}))
    with pytest.raises(ModelError, match="no locator"):
        Locator(model)
    (tmp_path / "gate.json").write_text("{")
    with pytest.raises(ModelError, match="cannot read"):
        Locator(model)


@pytest.mark.skipif(not DEFAULT_LOCATOR.is_file(), reason="no shipped localizer in models/")
def test_odd_frames_give_no_candidates_and_leave_the_interpreter_usable():
    """Empty, tiny, grayscale and very tall frames: no error, and the next real frame still runs
    (the input buffer is written through a view, which LiteRT requires gone before it invokes)."""
    loc = Locator()
    for shape in [(0, 5, 3), (5, 0, 3), (1, 1), (2, 3, 3), (3000, 200, 3)]:
        assert loc(np.zeros(shape, np.uint8)) == []
    out, scale = loc.heat_map(np.full((800, 1360, 3), 90, np.uint8))
    assert out.shape == (loc.height // loc.stride, loc.width // loc.stride, 5) and scale == 0.5


def test_pasted_signs_land_in_their_boxes():
    from training.locator import Scenes, _alpha, synthesize, targets

    rng = np.random.default_rng(0)
    bg = rng.integers(60, 90, (400, 680, 3), dtype=np.uint8)
    scenes = Scenes([], {})
    scenes.images, scenes.boxes, scenes.hard = [bg], [np.zeros((0, 4), np.float32)], [np.zeros((0, 4), np.float32)]
    sign = np.zeros((32, 32, 3), np.uint8)
    sign[4:28, 4:28] = 255  # a white ROI: whatever the outline, it brightens the crop inside its box only
    gtsrb = SimpleNamespace(images=[sign] * 2, rois=np.array([[4, 4, 28, 28]] * 2, np.float32),
                            labels=np.array([11, 1]))  # a triangle and a circle
    X, B = synthesize(scenes, gtsrb, 40, size=160, seed=1)
    pasted = 0
    for x, boxes in zip(X, B):
        grey = x.mean(axis=2)
        bright = grey > 150
        inside = np.zeros_like(bright)
        for x1, y1, x2, y2 in boxes.astype(int):
            inside[max(0, y1 - 1):y2 + 1, max(0, x1 - 1):x2 + 1] = True
        assert not (bright & ~inside).any()  # nothing bright outside the boxes
        pasted += len(boxes)
    assert pasted >= 40
    T = targets(B, 160)
    assert T.shape == (40, 40, 40, 6)
    assert int(T[..., 5].sum()) == sum(len(b) for b in B if len(b))  # one centre cell a sign
    assert (T[..., 0][T[..., 5] == 1] == 1).all() and T[..., 0].max() <= 1
    a = _alpha("triangle", 40, 40)
    assert a[2, 20] > 0.5 and a[2, 2] < 0.1 and a[38, 2] > 0.5  # apex up: the top corners are empty


def test_hard_negative_crops_show_the_false_alarm_and_paste_no_sign_over_it():
    """With ``hard_share`` 1 every crop of a scene with a hard negative holds it whole (a dark disc
    here, like the wheels the localizer mistook for signs), and no pasted sign covers it."""
    from training.locator import Scenes, synthesize

    rng = np.random.default_rng(0)
    bg = rng.integers(60, 90, (400, 680, 3), dtype=np.uint8)
    cv2.circle(bg, (500, 300), 14, (10, 10, 10), -1)
    hard = np.array([[485, 285, 515, 315]], np.float32)
    scenes = Scenes([], {})
    scenes.images, scenes.boxes, scenes.hard = [bg], [np.zeros((0, 4), np.float32)], [hard]
    sign = np.zeros((32, 32, 3), np.uint8)
    sign[4:28, 4:28] = 255
    gtsrb = SimpleNamespace(images=[sign] * 2, rois=np.array([[4, 4, 28, 28]] * 2, np.float32),
                            labels=np.array([11, 1]))
    X, B = synthesize(scenes, gtsrb, 30, size=160, seed=2, hard_share=1.0)
    assert sum(len(b) for b in B) >= 20  # signs are still pasted, elsewhere
    for x, boxes in zip(X, B):
        # the disc, whole, whatever the crop's own light (gain, haze, noise; mirrored or not): the
        # darkest blob, against the darkest tenth of the rest
        grey = cv2.blur(x.mean(axis=2).astype(np.float32), (3, 3))
        dark = np.argwhere(grey < (grey.min() + np.percentile(grey, 10)) / 2)
        assert len(dark) >= 0.5 * np.pi * 14 ** 2
        y1, x1 = dark.min(axis=0)
        y2, x2 = dark.max(axis=0)
        assert y2 - y1 <= 32 and x2 - x1 <= 32  # one blob, the disc
        for bx1, by1, bx2, by2 in boxes:  # no sign pasted over it
            assert bx2 <= x1 or bx1 >= x2 + 1 or by2 <= y1 or by1 >= y2 + 1
    # without hard negatives (share 0) the crops are the same as before the option existed
    X0, _ = synthesize(scenes, gtsrb, 5, size=160, seed=2)
    scenes.hard = [np.zeros((0, 4), np.float32)]
    X1, _ = synthesize(scenes, gtsrb, 5, size=160, seed=2, hard_share=0.5)
    assert np.array_equal(X0, X1)


# the fold-0 localizer (trained without scenes 00000-00118) frames 13 of these 16 danger signs
# (0.812) and 21 of 23 prohibitory ones at IoU >= 0.6, alone, at 12 candidates a scene (measured)
LOCATOR_DANGER_FLOOR, LOCATOR_PROHIBITORY_FLOOR = 0.7, 0.8


@pytest.mark.data
def test_fold_localizer_frames_danger_signs_it_never_saw(gtsdb_dir: Path):
    import cv2

    from realtime.classes import category_of
    from training.detection_eval import fold_of, read_gt

    model = DEFAULT_LOCATOR.parent / "folds" / "locator_fold0.tflite"
    loc = Locator(model)
    assert loc.card["training"]["fold"] == 0
    names = sorted(p.name for p in (gtsdb_dir / "images").glob("*.jpg"))
    held = [n for n, f in fold_of(names).items() if f == 0]
    assert not set(held) & set(loc.card["training"]["scenes"])  # it never saw them
    gts = read_gt(gtsdb_dir / "gt.txt")
    found = {"danger": [], "prohibitory": []}
    for n in held:
        if n not in gts:
            continue
        boxes = np.array([d.box for d in loc(cv2.imread(str(gtsdb_dir / "images" / n)))], np.float32).reshape(-1, 4)
        for b, c in zip(gts[n].boxes, gts[n].classes):
            if category_of(int(c)) in found:
                best = iou_matrix(np.array([b], np.float32), boxes).max() if len(boxes) else 0.0
                found[category_of(int(c))].append(best >= 0.6)
    assert np.mean(found["danger"]) >= LOCATOR_DANGER_FLOOR, found
    assert np.mean(found["prohibitory"]) >= LOCATOR_PROHIBITORY_FLOOR, found


def test_fold_localizers_come_from_folds_beside_the_model_or_not_at_all(tmp_path: Path):
    import shutil

    from training.detection_eval import fold_locators

    shipped = DEFAULT_LOCATOR.parent / "folds"
    if not (shipped / "locator_fold0.tflite").is_file():
        pytest.skip("no shipped fold localizer to copy")
    (tmp_path / "folds").mkdir()
    names = [f"{i:05d}.jpg" for i in range(10)]
    for k in range(5):
        shutil.copy(shipped / "locator_fold0.tflite", tmp_path / "folds" / f"locator_fold{k}.tflite")
        card = json.loads((shipped / "locator_fold0.json").read_text())
        card["training"]["fold"] = k
        (tmp_path / "folds" / f"locator_fold{k}.json").write_text(json.dumps(card))
        if k == 3:
            assert fold_locators(tmp_path / "locator.tflite", names) is None  # fold 4 still missing
    locs = fold_locators(tmp_path / "locator.tflite", names)
    assert [locs[n].card["training"]["fold"] for n in names] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    card["training"]["fold"] = 0  # fold 4's file claims fold 0
    (tmp_path / "folds" / "locator_fold4.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="not trained for fold 4"):
        fold_locators(tmp_path / "locator.tflite", names)


def test_train_locator_writes_a_model_the_locator_runs(tmp_path: Path):
    """``train-locator`` end to end on a tiny GTSRB and ten scenes: the LiteRT file, its card (input
    size, grid, the scenes it saw, held-out figures for its fold), and a ``Locator`` that runs it."""
    import cv2

    from tests.fixtures import make_official
    from training.__main__ import main

    gtsrb = make_official(tmp_path / "gtsrb", classes=[1, 11], tracks=2, frames=3)
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(10):
        img = rng.integers(40, 120, (400, 680, 3), dtype=np.uint8)
        cv2.circle(img, (100 + 40 * i, 200), 20, (40, 40, 200), -1)
        cv2.imwrite(str(scenes / f"{i:05d}.jpg"), img)
        lines.append(f"{i:05d}.jpg;{80 + 40 * i};180;{121 + 40 * i};221;1")
    (tmp_path / "gt.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "loc"
    assert main(["train-locator", "--scenes", str(scenes), "--gt", str(tmp_path / "gt.txt"), "--data", str(gtsrb),
                 "--out", str(out), "--exclude-fold", "0", "--crops", "32", "--epochs", "1"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["locator"] == {"input_width": 688, "input_height": 400, "stride": 4,
                               "decode": {"min_heat": 0.1, "max_candidates": 12}}
    assert card["training"]["fold"] == 0 and card["training"]["folds"] == 5
    assert card["training"]["scenes"] == [f"{i:05d}.jpg" for i in range(2, 10)]  # fold 0 held out
    assert card["held_out"]["all"]["signs"] == 2
    loc = Locator(out.with_suffix(".tflite"))
    dets = loc(cv2.imread(str(scenes / "00000.jpg")))
    assert len(dets) <= 12 and all(d.colour == "learned" and 0 <= d.candidate_score <= 1 for d in dets)
    assert all(0 <= d.box[0] < d.box[2] <= 680 and 0 <= d.box[1] < d.box[3] <= 400 for d in dets)
    # the LiteRT file's own held-out figures: the float export scores as the Keras net does
    assert card["held_out_litert"] == card["held_out"]

    # --reexport: the same trained net, int8 activations calibrated on its own training scenes
    float_size = out.with_suffix(".tflite").stat().st_size
    args = ["train-locator", "--scenes", str(scenes), "--gt", str(tmp_path / "gt.txt"), "--data", str(gtsrb),
            "--out", str(out), "--reexport", "--quantize", "int8"]
    assert main(args) == 2  # the card says fold 0 was held out: another fold is refused, in one line
    assert main([*args, "--exclude-fold", "0"]) == 0
    card2 = json.loads(out.with_suffix(".json").read_text())
    assert card2["training"]["quantize"] == "int8" and card2["held_out"] == card["held_out"]
    assert card2["sha256"]["tflite"] != card["sha256"]["tflite"] and "held_out_litert" in card2
    assert out.with_suffix(".tflite").stat().st_size < float_size
    assert len(Locator(out.with_suffix(".tflite"))(cv2.imread(str(scenes / "00000.jpg")))) <= 12

    # --hard-negatives: a second round, its crops cut around the first model's false alarms
    out2 = tmp_path / "loc2"
    assert main(["train-locator", "--scenes", str(scenes), "--gt", str(tmp_path / "gt.txt"), "--data", str(gtsrb),
                 "--out", str(out2), "--exclude-fold", "0", "--crops", "32", "--epochs", "1",
                 "--hard-negatives", str(out.with_suffix(".tflite"))]) == 0
    hn = json.loads(out2.with_suffix(".json").read_text())["training"]["hard_negatives"]
    assert hn["model"] == "loc.tflite" and hn["share"] == 0.25 and "boxes" in hn
    assert card["training"]["hard_negatives"] is None
