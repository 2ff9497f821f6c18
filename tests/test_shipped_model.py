"""The model in ``models/`` is what users get: check it loads, agrees across backends, matches
its card, and still recognises the fixed track-wise validation tracks of the shared data."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.card import ModelCard, sha256
from realtime.classes import NAMES
from realtime.classifier import DEFAULT_MODEL, Classifier
from realtime.preprocess import to_input
from training import augment, datasets

CARD = DEFAULT_MODEL.with_suffix(".json")


def test_shipped_model_files_match_their_card():
    card = ModelCard.load(CARD)
    assert card.names == list(NAMES)
    for kind in ("keras", "tflite"):
        assert sha256(CARD.parent / card.files[kind]) == card.sha256[kind], f"{kind} file changed without its card"
    assert card.training["split"]["by"] == "track"
    assert card.training["params"] < 1_000_000


# how far the LiteRT export may stray from the Keras model, per output: a float export computes the
# same thing (rounding apart); int8 weights move probabilities by up to ~0.04 and boxes by ~0.006 of
# the crop (measured on the validation crops with the shipped recognizer)
TOLERANCE = {"none": {"box": 1e-4, "features": 1e-4, "probs": 1e-4},
             "dynamic": {"box": 0.02, "features": 0.15, "probs": 0.08}}


def _quantization() -> str:
    return ModelCard.load(CARD).extra.get("litert", {}).get("quantization", "none")


def test_shipped_litert_agrees_with_keras():
    lite, ref = Classifier(DEFAULT_MODEL, "litert"), Classifier(DEFAULT_MODEL, "tf-function")
    x = np.random.default_rng(0).random((33, *lite.pre.input_shape), dtype=np.float32)
    a, b = lite.predict(x), ref.predict(x)
    assert a.keys() == b.keys() == {"box", "features", "probs"}
    tol = TOLERANCE[_quantization()]
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=tol[name], err_msg=name)


def test_shipped_card_records_its_litert_export():
    """The card says how the LiteRT file was exported, for the file it ships, and what it scores."""
    card = ModelCard.load(CARD)
    lite = card.extra["litert"]
    assert lite["quantization"] in TOLERANCE and lite["sha256"] == card.sha256["tflite"]
    assert lite["validation"]["n"] == card.validation["n"]
    assert abs(lite["validation"]["accuracy"] - card.validation["accuracy"]) < 0.002


@pytest.mark.parametrize("backend", ["litert", "tf-function"])
def test_shipped_model_classifies_no_boxes(backend):
    """A frame without candidates: empty outputs of the right widths, and the verifier reads them."""
    clf = Classifier(DEFAULT_MODEL, backend)
    out = clf.predict(np.zeros((0, *clf.pre.input_shape), np.float32))
    assert {k: v.shape for k, v in out.items()} == {"box": (0, 4), "features": (0, 256), "probs": (0, 43)}
    r = clf.classify_boxes(np.zeros((40, 60, 3), np.uint8), [])
    assert len(r.ids) == len(r.scores) == len(r.sign) == 0 and r.boxes.shape == (0, 4)


def test_shipped_gate_and_verifier_match_their_cards():
    """The gate's card lists its files' hashes and fold models; the recognizer's card holds its verifiers."""
    from realtime.classifier import DEFAULT_GATE

    card = ModelCard.load(DEFAULT_GATE.with_suffix(".json"))
    assert card.extra.get("role") == "gate" and card.class_ids == [-1, 1]
    for kind in ("keras", "tflite"):
        assert sha256(DEFAULT_GATE.parent / card.files[kind]) == card.sha256[kind]
    folds = card.training["folds"]
    for k in range(folds):
        fold = ModelCard.load(DEFAULT_GATE.parent / "folds" / f"gate_fold{k}.json")
        assert fold.training["fold"] == k and k not in fold.training["trained_on_folds"]
    rec = ModelCard.load(CARD)
    assert len(rec.extra["verifier"]["w"]) == 256
    assert sorted(h["fold"] for h in rec.extra["verifier_folds"]) == list(range(folds))
    assert Classifier(DEFAULT_MODEL).verifier is not None
    # fitted on the learned localizer's candidates too (what that route proposes must be among its
    # negatives): refit with `make fit-verifier` whenever the localizer changes
    from realtime.locate import DEFAULT_LOCATOR

    assert rec.extra["verifier"].get("locator") == DEFAULT_LOCATOR.name


@pytest.mark.data
def test_shipped_model_accuracy_on_validation_tracks(gtsrb_dir):
    """The card's track-wise validation split (tracks never trained on)."""
    clf = Classifier(DEFAULT_MODEL)
    sp = clf.card.training["split"]
    ds = datasets.load(gtsrb_dir)
    _, va = datasets.split_by_track(ds.labels, ds.tracks, sp["val_fraction"], sp["seed"])
    val = ds.subset(va)
    assert len(val) == clf.card.training["val_images"]
    x = to_input(augment.batch(val.images, val.rois, clf.pre, None))
    pred = np.concatenate([clf.predict_proba(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)])
    acc = float(np.mean(clf.class_ids[pred] == val.labels))
    # The shipped LiteRT export (int8 weights) measures 99.57% here, the Keras model 99.54%
    # (docs/BENCHMARKS.md); the floor for this test is 99%.
    assert acc >= 0.99, f"validation accuracy {acc:.4%} below the 99% floor"
    # and the export reads these crops as the Keras model does (2 of 5,850 differ as shipped)
    ref = Classifier(DEFAULT_MODEL, "tf-function")
    pred_ref = np.concatenate([ref.predict_proba(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)])
    assert np.mean(pred == pred_ref) >= 0.998


@pytest.mark.data
def test_shipped_model_reads_the_gtsdb_signs_it_never_saw(gtsdb_dir):
    """The recognizer alone on the 852 annotated signs of the 600 GTSDB scenes (real road scenes,
    none in its training data), framed from their boxes as the detector frames a sign. The shipped
    model reads 99.41% of them (5 wrong, no limit as another limit; docs/BENCHMARKS.md); the floor
    is 99%."""
    from training.detection_eval import list_scenes, read_gt, recognizer_at_gt

    r = recognizer_at_gt(Classifier(DEFAULT_MODEL), list_scenes(gtsdb_dir / "images"), read_gt(gtsdb_dir / "gt.txt"))
    assert r["signs"] == 852
    assert r["accuracy"] >= 0.99, f"{r['accuracy']:.2%} of the GTSDB signs, under the 99% floor: {r['confusions']}"
    assert r["speed_limits"]["errors_within_group"] <= 1  # a wrong limit on the panel is the worst error


@pytest.mark.data
def test_fit_verifier_on_the_even_scenes_gives_the_shipped_verifier(gtsdb_dir, gtsrb_dir, tmp_path):
    """``make fit-verifier`` (on the 300 even-numbered scenes, ``TRAIN_SCENES``) reproduces the
    shipped verifier heads: the fit is deterministic, so only float rounding may differ."""
    import shutil

    from training.__main__ import main

    even = tmp_path / "even"
    even.mkdir()
    for p in sorted((gtsdb_dir / "images").iterdir()):
        if p.stem.isdigit() and int(p.stem) % 2 == 0:
            (even / p.name).symlink_to(p)
    assert len(list(even.iterdir())) == 300
    copy = tmp_path / "model"
    copy.mkdir()
    for suffix in (".keras", ".tflite", ".json"):
        shutil.copy(DEFAULT_MODEL.with_suffix(suffix), copy / DEFAULT_MODEL.with_suffix(suffix).name)
    model = copy / DEFAULT_MODEL.name
    assert main(["fit-verifier", "--scenes", str(even), "--gt", str(gtsdb_dir / "gt.txt"), "--gtsrb", str(gtsrb_dir),
                 "--model", str(model)]) == 0
    shipped, refit = ModelCard.load(CARD).extra, ModelCard.load(model.with_suffix(".json")).extra
    np.testing.assert_allclose(refit["verifier"]["w"], shipped["verifier"]["w"], atol=1e-3)
    assert refit["verifier"]["b"] == pytest.approx(shipped["verifier"]["b"], abs=1e-3)
    assert refit["verifier"]["cross_validated"] == shipped["verifier"]["cross_validated"]
    for mine, theirs in zip(refit["verifier_folds"], shipped["verifier_folds"]):
        np.testing.assert_allclose(mine["w"], theirs["w"], atol=1e-3)
