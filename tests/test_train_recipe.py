"""The options of a recipe robust to whole-image framing (issue 33): label smoothing, whole-image
framing in the augmentation, a fixed schedule that keeps its last epoch (``--patience 0``), and
``evaluate --framing whole``. Each is off by default, so ``make train`` is unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from realtime.card import ModelCard
from realtime.classifier import Classifier
from realtime.preprocess import Preprocessing, prepare_batch, to_input
from tests.fixtures import make_official
from training import augment

CLASSES = [0, 1, 2, 13, 14, 32]  # three speed limits and an end-of-limit sign: the limit report has rows


def test_label_smoothing_is_the_smoothed_one_hot_cross_entropy_on_integer_labels() -> None:
    import keras

    from training.train import class_loss

    y = np.array([0, 2, 1], np.int32)
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]], np.float32)
    eps, k = 0.1, 3
    target = (1 - eps) * np.eye(k)[y] + eps / k
    expected = float(np.mean(-(target * np.log(p)).sum(axis=1)))
    assert float(class_loss(eps)(y, p)) == pytest.approx(expected, rel=1e-5)
    plain = float(np.mean(-np.log(p[np.arange(3), y])))
    assert isinstance(class_loss(0.0), keras.losses.SparseCategoricalCrossentropy)  # the default: unchanged
    assert float(class_loss(0.0)(y, p)) == pytest.approx(plain, rel=1e-5)
    assert abs(expected - plain) > 1e-3
    w = np.array([1.0, 0.0, 2.0], np.float32)  # class weights reach it as sample weights
    per = -(target * np.log(p)).sum(axis=1)
    assert float(class_loss(eps)(y, p, sample_weight=w)) == pytest.approx(float((per * w).mean()), rel=1e-5)
    with pytest.raises(ValueError, match="smoothing"):
        class_loss(1.0)


def _still(**kw) -> augment.AugmentConfig:
    """No jitter and no relighting: only the framing decides the crop."""
    return augment.AugmentConfig(rotate_deg=0, scale=0, shift=0, perspective=0, loose_p=0, brightness=0, dark_p=0,
                                 contrast=0, fade_p=0, occlude_p=0, blur_p=0, noise_p=0, **kw)


def test_whole_p_frames_the_whole_image_and_the_box_target_is_still_the_roi_in_the_crop() -> None:
    cfg = Preprocessing()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(4)]
    rois = np.tile(np.array([[12, 10, 36, 30]], np.float32), (4, 1))
    _, whole = augment.batch(images, rois, cfg, _still(whole_p=1.0), np.random.default_rng(1), with_boxes=True)
    np.testing.assert_allclose(whole, np.tile([[12 / 48, 10 / 40, 36 / 48, 30 / 40]], (4, 1)), atol=1e-5)
    _, framed = augment.batch(images, rois, cfg, _still(), np.random.default_rng(1), with_boxes=True)
    np.testing.assert_allclose(framed, augment.plain_boxes(4, cfg.margin), atol=1e-5)  # whole_p 0: ROI + margin
    # a share of whole_p, and the usual jitter still applies on top of the whole-image framing
    many = [images[0]] * 400
    _, mixed = augment.batch(many, np.tile(rois[:1], (400, 1)), cfg, _still(whole_p=0.5),
                             np.random.default_rng(2), with_boxes=True)
    share = np.mean(np.abs(mixed - whole[:1]).max(axis=1) < 1e-4)
    assert 0.4 < share < 0.6
    _, jittered = augment.batch(images, rois, cfg, augment.AugmentConfig(whole_p=1.0), np.random.default_rng(3),
                                with_boxes=True)
    assert not np.allclose(jittered, whole, atol=1e-3)
    assert augment.parse_overrides(["whole_p=0.5"]) == {"whole_p": 0.5}
    assert augment.AugmentConfig().whole_p == 0.0


def test_patience_0_builds_no_early_stopping_and_a_checkpoint_of_every_epoch(tmp_path) -> None:
    import keras

    from training.train import _callbacks

    def kinds(patience, ema=None):
        cbs = _callbacks([], tmp_path, tmp_path / "c.keras", "val_accuracy", patience, ema, None)
        ckpt = next(c for c in cbs if isinstance(c, keras.callbacks.ModelCheckpoint))
        return ckpt.save_best_only, any(isinstance(c, keras.callbacks.EarlyStopping) for c in cbs)

    assert kinds(10) == (True, True)  # the default recipe: best epoch kept, early stopping
    assert kinds(0) == (False, False)
    assert kinds(0, ema=0.99) == (False, False)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """One tiny run of the recipe's options. The learning rate is ~0, so validation barely moves:
    early stopping at patience 0 would end the run as soon as an epoch fails to improve on it."""
    from training.train import train

    root = tmp_path_factory.mktemp("recipe")
    data = make_official(root / "data", CLASSES, tracks=3, frames=4)
    out = root / "out"
    summ = train(str(data), str(out), epochs=3, batch_size=16, width=4, val_fraction=0.34, patience=0,
                 name="tiny", verbose=0, warmup_epochs=0, lr=1e-9, label_smoothing=0.1,
                 augment_overrides={"whole_p": 0.5}, quantize="none")
    return data, out, summ


def test_the_recipe_runs_its_whole_schedule_and_the_card_records_its_options(recipe) -> None:
    _, out, summ = recipe
    card = ModelCard.load(out / "tiny.json")
    t = card.training
    assert t["epochs_run"] == 3 and len(t["history"]["val_accuracy"]) == 3
    assert t["patience"] == 0 and t["kept"] == "last epoch"
    assert t["label_smoothing"] == 0.1
    assert t["augment"]["whole_p"] == 0.5
    assert "accuracy" in t["history"]  # the accuracy metric still works with the smoothed loss
    # the model written is the last epoch's: it scores what the last validation did
    assert summ["accuracy"] == pytest.approx(t["history"]["val_accuracy"][-1], abs=1e-6)


def test_patience_0_keeps_the_last_epoch_with_ema_too(recipe, tmp_path) -> None:
    from training.train import train

    data, _, _ = recipe
    summ = train(str(data), str(tmp_path), epochs=3, batch_size=16, width=4, val_fraction=0.34, patience=0,
                 name="ema", verbose=0, lr=5e-2, warmup_epochs=0, ema=0.5, quantize="none")
    t = ModelCard.load(tmp_path / "ema.json").training
    assert t["epochs_run"] == 3
    assert summ["accuracy"] == pytest.approx(t["history"]["val_accuracy"][-1], abs=1e-6)
    with pytest.raises(ValueError, match="patience"):
        train(str(data), str(tmp_path / "neg"), epochs=1, patience=-1)


def test_evaluate_framing_whole_reads_the_images_as_classify_without_roi(recipe, tmp_path) -> None:
    from training.__main__ import main
    from training.evaluate import load_split

    data, out, _ = recipe
    model = out / "tiny.keras"
    for framing in ("roi", "whole"):
        argv = ["evaluate", "--gtsrb", str(data), "--model", str(model), "--split", "val",
                "--output", str(tmp_path / framing)]
        assert main([*argv, "--framing", framing] if framing == "whole" else argv) == 0
    roi = json.loads((tmp_path / "roi" / "metrics.json").read_text())
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert (roi["framing"], whole["framing"]) == ("roi", "whole")
    assert roi["speed_limits"]["images"] == whole["speed_limits"]["images"] > 0
    clf = Classifier(model, backend="tf-function")
    val = load_split(str(data), clf.card, "val")
    # whole: what `realtime classify --no-roi` does with each image file
    ids, _, _ = clf.classify(val.images)
    assert whole["accuracy"] == pytest.approx(float(np.mean(ids == val.labels)))
    ids_roi = clf.class_ids[clf.predict_proba(to_input(augment.batch(val.images, val.rois, clf.pre, None))).argmax(1)]
    assert roi["accuracy"] == pytest.approx(float(np.mean(ids_roi == val.labels)))
    with pytest.raises(SystemExit):
        main(["evaluate", "--gtsrb", str(data), "--model", str(model), "--output", str(tmp_path / "x"),
              "--framing", "tight"])


def test_the_cli_passes_the_options_and_their_defaults_keep_todays_recipe() -> None:
    from training.__main__ import _parser

    base = ["train", "--gtsrb", "d", "--output", "o"]
    a = _parser().parse_args(base)
    assert (a.label_smoothing, a.patience, a.augment) == (0.0, 10, None)
    b = _parser().parse_args([*base, "--label-smoothing", "0.1", "--patience", "0", "--augment", "whole_p=0.5"])
    assert (b.label_smoothing, b.patience, b.augment) == (0.1, 0, ["whole_p=0.5"])
    ev = ["evaluate", "--gtsrb", "d", "--model", "m.keras", "--output", "o"]
    assert _parser().parse_args(ev).framing == "roi"
    assert _parser().parse_args([*ev, "--framing", "whole"]).framing == "whole"


def test_a_model_trained_on_every_track_has_a_card_but_no_validation_figures(recipe, tmp_path) -> None:
    """The shipped recognizer's schedule is chosen on the folds, then trained on every track
    (``val_fraction`` 0): nothing is validated, picked or stopped early on."""
    from training.__main__ import main
    from training.train import train

    data, _, _ = recipe
    summ = train(str(data), str(tmp_path), epochs=2, batch_size=16, width=4, val_fraction=0.0, patience=0,
                 name="all", verbose=0, warmup_epochs=0, quantize="none")
    assert summ == {"n": 0}
    card = ModelCard.load(tmp_path / "all.json")
    t = card.training
    assert t["val_images"] == 0 and t["train_images"] == t["images"] and t["epochs_run"] == 2
    assert t["split"]["val_fraction"] == 0.0 and card.validation["n"] == 0
    assert "val_accuracy" not in t["history"] and "validation" not in card.extra["litert"]
    Classifier(tmp_path / "all.keras", backend="tf-function")  # it loads and runs like any other
    # evaluating "its validation split" is a user error with one clear line, not an empty report
    argv = ["evaluate", "--gtsrb", str(data), "--model", str(tmp_path / "all.keras"), "--split", "val",
            "--output", str(tmp_path / "ev")]
    assert main(argv) != 0
    with pytest.raises(ValueError, match="patience 0"):
        train(str(data), str(tmp_path / "p"), epochs=1, val_fraction=0.0, patience=3)


def test_evaluate_scores_several_models_as_the_mean_of_their_probabilities(recipe, tmp_path) -> None:
    from training.__main__ import main
    from training.evaluate import load_split
    from training.train import train

    data, out, _ = recipe
    # a second model of the same split from another start: near-random, so the two disagree
    train(str(data), str(tmp_path / "other"), epochs=1, batch_size=16, width=4, val_fraction=0.34, patience=0,
          name="tiny", verbose=0, warmup_epochs=0, lr=1e-9, seed=1, split_seed=0, quantize="none")
    a, b = out / "tiny.keras", tmp_path / "other" / "tiny.keras"
    argv = ["evaluate", "--gtsrb", str(data), "--split", "val", "--framing", "whole"]
    assert main([*argv, "--model", str(a), "--model", str(b), "--output", str(tmp_path / "pair")]) == 0
    pair = json.loads((tmp_path / "pair" / "metrics.json").read_text())
    assert pair["model"] == [str(a), str(b)]
    ca, cb = Classifier(a, backend="tf-function"), Classifier(b, backend="tf-function")
    val = load_split(str(data), ca.card, "val")
    pa, pb = (c.predict_proba(prepare_batch(val.images, c.pre)) for c in (ca, cb))
    mean = (pa + pb) / 2
    pred = mean.argmax(1)
    # the mean reads some image as neither model alone does, so matching it is not matching either
    assert not np.array_equal(pred, pa.argmax(1)) and not np.array_equal(pred, pb.argmax(1))
    y = np.array([list(ca.class_ids).index(v) for v in val.labels])
    cm = np.zeros((len(ca.class_ids),) * 2, np.int64)
    np.add.at(cm, (y, pred), 1)
    assert pair["confusion_matrix"] == cm.tolist()
    assert pair["accuracy"] == pytest.approx(float(np.mean(ca.class_ids[pred] == val.labels)))
    assert pair["top_k"]["top3"] == pytest.approx(
        float(np.mean([v in ca.class_ids[np.argsort(-m)[:3]] for v, m in zip(val.labels, mean)])))
    # models validated on other tracks cannot be scored together on "their" validation split
    train(str(data), str(tmp_path / "third"), epochs=1, batch_size=16, width=4, val_fraction=0.5, patience=0,
          name="tiny", verbose=0, warmup_epochs=0, lr=1e-9, quantize="none")
    third = tmp_path / "third" / "tiny.keras"
    assert main([*argv, "--model", str(a), "--model", str(third), "--output", str(tmp_path / "mixed")]) == 2
    # on every image (or a test set) their splits do not matter
    assert main(["evaluate", "--gtsrb", str(data), "--split", "all", "--model", str(a), "--model", str(third),
                 "--output", str(tmp_path / "all")]) == 0
