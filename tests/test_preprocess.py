from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.card import ModelCard, ModelError
from realtime.preprocess import (
    Preprocessing,
    as_bgr8,
    crop,
    frame_box,
    normalise,
    prepare_boxes,
    sample_boxes,
    to_input,
)
from tests.fixtures import make_official
from training import augment, datasets


@pytest.mark.parametrize("color,contrast", [("rgb", "clahe"), ("rgb", "equalize"), ("rgb", "none"),
                                            ("gray", "clahe"), ("gray", "equalize")])
def test_normalise_shape_and_dtype(color, contrast):
    cfg = Preprocessing(color=color, contrast=contrast)
    out = normalise(np.random.default_rng(0).integers(0, 255, (57, 41, 3), dtype=np.uint8), cfg)
    assert out.shape == cfg.input_shape and out.dtype == np.uint8


def test_contrast_normalisation_stretches_a_dark_crop():
    dark = np.random.default_rng(0).integers(10, 40, (32, 32, 3), dtype=np.uint8)
    for contrast in ("clahe", "equalize"):
        out = normalise(dark, Preprocessing(contrast=contrast))
        assert np.ptp(out) > 2 * np.ptp(normalise(dark, Preprocessing(contrast="none")))


def test_rgb_order_is_kept_consistent():
    """Inputs are BGR (OpenCV); the network sees RGB: a pure red crop has its energy in channel 0."""
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 2] = 200
    out = normalise(red, Preprocessing(contrast="none"))
    assert out[..., 0].mean() > 150 and out[..., 2].mean() < 50


@pytest.mark.parametrize("image", [
    np.zeros((20, 30), np.uint8),
    np.zeros((20, 30, 1), np.uint8),
    np.zeros((20, 30, 4), np.uint8),
    np.full((20, 30, 3), 65535, np.uint16),
    np.ones((20, 30, 3), np.float32),
    np.zeros((20, 30), bool),
])
def test_odd_images_become_bgr8(image):
    out = as_bgr8(image)
    assert out.dtype == np.uint8 and out.shape == (20, 30, 3)


def test_frame_box_adds_margin_and_stays_inside():
    assert frame_box((10, 10, 30, 30), 0.1, 100, 100) == (8, 8, 32, 32)
    x1, y1, x2, y2 = frame_box((-5, 90, 3, 140), 0.1, 100, 100)
    assert 0 <= x1 < x2 <= 100 and 0 <= y1 < y2 <= 100
    assert crop(np.zeros((5, 5, 3), np.uint8), (4.9, 4.9, 5, 5), 0.1).size > 0


def test_training_and_inference_paths_give_identical_inputs(tmp_path):
    """The plain training batch is exactly what the classifier computes from detector crops."""
    make_official(tmp_path, [0, 13], tracks=1, frames=3, sizes=(32, 64))
    ds = datasets.load(tmp_path)
    for cfg in (Preprocessing(), Preprocessing(color="gray", contrast="equalize")):
        train_x = to_input(augment.batch(ds.images, ds.rois, cfg, None))
        infer_x = np.concatenate([prepare_boxes(im, [roi], cfg) for im, roi in zip(ds.images, ds.rois)])
        assert train_x.dtype == np.float32 and train_x.min() >= 0.0 and train_x.max() <= 1.0
        np.testing.assert_array_equal(train_x, infer_x)


def test_augmentation_is_seeded_and_keeps_shape(tmp_path):
    make_official(tmp_path, [1], tracks=1, frames=3)
    ds = datasets.load(tmp_path)
    cfg = Preprocessing()
    a = augment.batch(ds.images, ds.rois, cfg, augment.AugmentConfig(), np.random.default_rng(7))
    b = augment.batch(ds.images, ds.rois, cfg, augment.AugmentConfig(), np.random.default_rng(7))
    c = augment.batch(ds.images, ds.rois, cfg, augment.AugmentConfig(), np.random.default_rng(8))
    assert a.shape == (3, *cfg.input_shape)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_colour_cast_tints_without_changing_brightness():
    """A cast moves the channels apart (a tinted light), not the crop's overall level."""
    rng = np.random.default_rng(0)
    grey = np.full((64, 32, 32, 3), 128, np.uint8)
    plain = augment.AugmentConfig(brightness=0, contrast=0, dark_p=0, fade_p=0, noise_p=0)
    cast = augment.AugmentConfig(**{**plain.__dict__, "cast_p": 1.0, "cast": 0.2})
    assert np.array_equal(augment._relight(grey.copy(), plain, rng), grey)
    out = augment._relight(grey.copy(), cast, rng).astype(np.float32)
    means = out.mean(axis=(1, 2))  # (N, 3) per-channel levels
    assert np.abs(means.mean(axis=1) - 128).max() < 1.0  # same brightness
    assert (means.max(axis=1) - means.min(axis=1)).mean() > 10  # but tinted
    assert (means.max(axis=1) - means.min(axis=1)).max() <= 2 * 0.2 * 128 * 1.34 + 1  # within +-cast


def test_glare_clips_the_brightest_pixels_and_keeps_the_dark_ones():
    """Over-exposure: the brightest (100 - q) % of a crop clip to white, dark pixels stay dark."""
    rng = np.random.default_rng(3)
    crops = np.repeat(rng.integers(0, 200, (32, 32, 32, 1), dtype=np.uint8), 3, axis=3)  # grey levels
    crops[:, 12:20, 12:20] = 10  # a dark pictogram
    plain = dict(brightness=0, contrast=0, dark_p=0, fade_p=0, noise_p=0)
    out = augment._relight(crops.copy(), augment.AugmentConfig(**plain, glare_p=1.0, glare_q=(60.0, 60.0)), rng)
    white = (out == 255).all(axis=3).mean(axis=(1, 2))
    assert np.all((white > 0.3) & (white < 0.45))  # ~40 % of the pixels
    assert out[:, 12:20, 12:20].max() < 40
    assert np.array_equal(augment._relight(crops.copy(), augment.AugmentConfig(**plain), rng), crops)


def test_stickers_mark_the_sign_face_only():
    """Stickers land on the middle of the crop (the sign's face), hardly ever on its framing border."""
    rng = np.random.default_rng(1)
    batch = np.full((200, 32, 32, 3), 128, np.uint8)
    augment._stickers(batch, augment.AugmentConfig(sticker_p=1.0, stickers=6), rng)
    hits = (batch != 128).any(axis=3).mean(axis=0)  # per pixel: the share of crops it was marked in
    border = np.ones((32, 32), bool)
    border[2:-2, 2:-2] = False
    assert hits[10:22, 10:22].mean() > 0.15
    assert hits[border].mean() < 0.1 * hits[10:22, 10:22].mean()
    assert (batch != 128).any(axis=(1, 2, 3)).all()  # every crop got at least one


def test_low_resolution_warp_loses_detail_like_a_far_sign(tmp_path):
    """lowres_p resamples the crop from a smaller one: fine detail (pixel-to-pixel change) drops."""
    make_official(tmp_path, [1, 14], tracks=2, frames=3, sizes=(64,))
    ds = datasets.load(tmp_path)
    cfg = Preprocessing(contrast="none")
    still = dict(rotate_deg=0, scale=0, shift=0, perspective=0, loose_p=0, blur_p=0)
    sharp, _ = zip(*[augment._warp(im, r, cfg, augment.AugmentConfig(**still), np.random.default_rng(2))
                     for im, r in zip(ds.images, ds.rois)])
    soft, _ = zip(*[augment._warp(im, r, cfg, augment.AugmentConfig(**still, lowres_p=1.0, lowres_min=0.4),
                                  np.random.default_rng(2)) for im, r in zip(ds.images, ds.rois)])

    def detail(ims):
        return float(np.mean([np.abs(np.diff(i.astype(np.float32), axis=1)).mean() for i in ims]))

    assert detail(soft) < 0.9 * detail(sharp)


def test_preprocessing_round_trips_through_a_card_and_rejects_unknowns(tmp_path):
    cfg = Preprocessing(color="gray", contrast="equalize", size=40)
    card = ModelCard([{"id": i, "name": str(i)} for i in range(3)], cfg)
    card.save(tmp_path / "m.json")
    assert ModelCard.load(tmp_path / "m.json").preprocessing == cfg
    bad = card.to_json()
    bad["preprocessing"]["contrast"] = "retinex"
    (tmp_path / "bad.json").write_text(__import__("json").dumps(bad))
    with pytest.raises(ModelError, match="unknown contrast"):
        ModelCard.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="unknown preprocessing settings"):
        Preprocessing.from_dict({"size": 32, "sharpen": True})


@pytest.mark.parametrize("color,contrast", [("rgb", "clahe"), ("gray", "equalize"), ("rgb", "none")])
def test_batched_normalisation_equals_one_crop_at_a_time(color, contrast):
    """Crops share one stacked image for speed; nothing may leak between neighbours."""
    from realtime.preprocess import normalise_batch

    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 255, (int(s), int(s) + 3, 3), dtype=np.uint8) for s in (9, 32, 80, 31)]
    cfg = Preprocessing(color=color, contrast=contrast)
    np.testing.assert_array_equal(normalise_batch(crops, cfg), np.stack([normalise(c, cfg) for c in crops]))


def test_sampling_boxes_in_one_call_equals_one_at_a_time_and_matches_a_resized_crop():
    """Small and large boxes (the large ones take the 2x supersampled path) of one frame."""
    rng = np.random.default_rng(3)
    frame = cv2.GaussianBlur(rng.integers(0, 255, (400, 600, 3), dtype=np.uint8), (0, 0), 2)
    boxes = [(10.5, 20.2, 40.1, 52.0), (100, 100, 260, 250), (550, 350, 640, 420), (300, 30, 317, 47)]
    together = sample_boxes(frame, boxes, 32, 0.1)
    alone = np.concatenate([sample_boxes(frame, [b], 32, 0.1) for b in boxes])
    np.testing.assert_array_equal(together, alone)
    x1, y1, x2, y2 = frame_box(boxes[1], 0.1, 600, 400)
    ref = cv2.resize(frame[y1:y2, x1:x2], (32, 32), interpolation=cv2.INTER_AREA)
    assert np.abs(together[32:64].astype(int) - ref).mean() < 3  # area-averaged, like INTER_AREA
    assert sample_boxes(frame, np.zeros((0, 4)), 32, 0.1).shape == (0, 32, 3)


def test_stretch_contrast_spans_the_range_and_keeps_flat_crops_flat():
    rng = np.random.default_rng(4)
    dark = rng.integers(10, 40, (24, 24, 3), dtype=np.uint8)
    cfg = Preprocessing(size=20, contrast="stretch")
    out = normalise(dark, cfg)
    assert out.shape == (20, 20, 3) and out.max() >= 240 and out.min() <= 15
    flat = normalise(np.full((20, 20, 3), 128, np.uint8), cfg)
    assert np.ptp(flat) == 0


def test_cards_without_a_luma_setting_mean_lab():
    """Models trained before the setting existed were fed LAB luminance; their cards must keep meaning that."""
    assert Preprocessing.from_dict({"size": 32}).luma == "lab"
    assert Preprocessing().luma == "ycrcb"
    with pytest.raises(ValueError, match="luma"):
        Preprocessing(luma="hsv")


def test_reduce_is_area_averaging_by_whole_factors_and_close_to_it_otherwise():
    """``reduce`` gives INTER_AREA's own result for whole factors (a 1360x800 frame to 680x400) and,
    for the slow non-whole ones (1280x720 to 680 wide), an image of the asked size close to it."""
    import cv2

    from realtime.preprocess import reduce

    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (800, 1360, 3), dtype=np.uint8), (0, 0), 2)
    assert np.array_equal(reduce(frame, (680, 400)), cv2.resize(frame, (680, 400), interpolation=cv2.INTER_AREA))
    hd = frame[:720, :1280]
    out = reduce(hd, (680, 383))
    ref = cv2.resize(hd, (680, 383), interpolation=cv2.INTER_AREA)
    assert out.shape == ref.shape
    assert np.abs(out.astype(int) - ref.astype(int)).mean() < 2
    odd = reduce(frame[:799, :1359], (339, 199))  # just over 4x: halved, then bilinear to 2x and averaged
    assert odd.shape == (199, 339, 3)
    # from 2x on the bilinear step shrinks (1080p) and from 3x the frame is halved first (4K)
    for size in ((1920, 1080), (3840, 2160), (3841, 2161)):
        big = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        h = round(size[1] * 680 / size[0])
        out, ref = reduce(big, (680, h)), cv2.resize(big, (680, h), interpolation=cv2.INTER_AREA)
        assert out.shape == ref.shape
        assert np.abs(out.astype(int) - ref.astype(int)).mean() < 1
    assert reduce(frame, (1360, 800)) is frame
    assert reduce(frame[:2, :3], (5, 4)).shape == (4, 5, 3)  # enlarging: bilinear, no whole factor
