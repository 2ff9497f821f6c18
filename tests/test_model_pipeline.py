"""Training smoke run on a tiny fixture, then the files it writes: LiteRT vs Keras agreement,
card checks, ``evaluate`` and ``classify``. One training run serves the whole module."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime.card import ModelCard, ModelError, sha256
from realtime.classifier import Classifier
from tests.fixtures import make_kaggle, make_official

CLASSES = [0, 1, 2, 13, 14, 33]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from training.train import train

    root = tmp_path_factory.mktemp("model")
    data = make_official(root / "data", CLASSES, tracks=3, frames=4)
    out = root / "out"
    # another start, the default split: runs from other seeds compare on the same validation tracks;
    # with the moving average of the weights, as `make train` ships it
    summ = train(str(data), str(out), epochs=3, batch_size=16, width=4, val_fraction=0.34, patience=5,
                 name="tiny", verbose=0, seed=3, split_seed=0, ema=0.9,
                 quantize="none")  # a float export: the backends are compared to 1e-4 below
    return data, out, summ


def test_training_writes_model_export_and_card(trained):
    _, out, summ = trained
    for name in ("tiny.keras", "tiny.tflite", "tiny.json", "history.csv", "val_metrics.json"):
        assert (out / name).is_file(), name
    card = ModelCard.load(out / "tiny.json")
    assert card.num_outputs == 43 and card.names[14] == "Stop"
    assert card.preprocessing.input_shape == (32, 32, 3)
    assert card.training["split"] == {"by": "track", "seed": 0, "val_fraction": 0.34, "train_stride": 1}
    assert card.training["seed"] == 3
    assert card.training["train_tracks"] + card.training["val_tracks"] == 3 * len(CLASSES)
    assert 0.0 <= card.validation["accuracy"] <= 1.0
    assert len(card.training["history"]["loss"]) == 3
    assert summ["n"] == card.training["val_images"]
    # the card also says how the LiteRT file was exported and what that file scores (a float export
    # here: it reads the validation crops exactly as the Keras model does)
    lite = card.extra["litert"]
    assert lite["quantization"] == "none" and lite["sha256"] == card.sha256["tflite"]
    assert lite["validation"]["n"] == summ["n"]
    assert abs(lite["validation"]["accuracy"] - card.validation["accuracy"]) < 1e-6


def test_training_ships_the_best_validated_average_of_the_weights(trained):
    """With EMA, what is written is the averaged weights of the best epoch, BatchNorm statistics
    re-estimated for them: the card's accuracy (measured on the written model) is that epoch's."""
    _, out, summ = trained
    card = ModelCard.load(out / "tiny.json")
    assert card.training["ema"] == 0.9
    hist = card.training["history"]["val_accuracy"]
    assert summ["accuracy"] == pytest.approx(max(hist), abs=1e-6)
    # and the LiteRT file gives the same figure
    from realtime.preprocess import to_input
    from training import augment, datasets

    ds = datasets.load(out.parent / "data")
    _, va = datasets.split_by_track(ds.labels, ds.tracks, 0.34, 0)
    val = ds.subset(va)
    clf = Classifier(out / "tiny.tflite")
    pred = clf.class_ids[clf.predict_proba(to_input(augment.batch(val.images, val.rois, clf.pre, None))).argmax(1)]
    assert float(np.mean(pred == val.labels)) == pytest.approx(summ["accuracy"], abs=1e-6)


def test_soup_averages_the_fine_tuned_weights_with_the_start(trained, tmp_path):
    """``soup`` ships ``w * start + (1 - w) * fine-tuned``: at 1 the start comes back unchanged
    although fine-tuning (``soup=0``) moved it; and it needs a start to average with."""
    import keras

    from training.train import train

    data, out, _ = trained
    start = keras.saving.load_model(out / "tiny.keras", compile=False)
    x = np.random.default_rng(1).random((8, 32, 32, 3), dtype=np.float32)
    ref = start(x)["probs"].numpy()
    kw = dict(epochs=1, batch_size=16, val_fraction=0.34, patience=5, verbose=0, seed=4, split_seed=0,
              warmup_epochs=0, lr=5e-2, init_from=str(out / "tiny.keras"))
    for weight, same in ((0.0, False), (1.0, True)):
        train(str(data), str(tmp_path / str(weight)), name="soup", soup=weight, **kw)
        model = keras.saving.load_model(tmp_path / str(weight) / "soup.keras", compile=False)
        assert np.allclose(model(x)["probs"].numpy(), ref, atol=1e-5) == same, weight
        assert ModelCard.load(tmp_path / str(weight) / "soup.json").training["soup"] == weight
    with pytest.raises(ValueError, match="init_from"):
        train(str(data), str(tmp_path / "none"), soup=0.5, **{**kw, "init_from": None})
    with pytest.raises(ValueError, match="0..1"):
        train(str(data), str(tmp_path / "big"), soup=1.5, **kw)


def test_litert_and_keras_agree(trained):
    _, out, _ = trained
    lite = Classifier(out / "tiny.tflite", backend="litert")
    ref = Classifier(out / "tiny.keras", backend="tf-function")
    x = np.random.default_rng(0).random((37, 32, 32, 3), dtype=np.float32)  # crosses batch buckets
    a, b = lite.predict_proba(x), ref.predict_proba(x)
    assert a.shape == b.shape == (37, 43)
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(lite.predict_proba(x[:1]), a[:1], atol=1e-6)  # padding does not leak
    ids, scores, probs = lite.classify([np.zeros((50, 40, 3), np.uint8), np.zeros((9, 9), np.uint8)])
    assert ids.shape == (2,) and np.all((scores >= 0) & (scores <= 1)) and probs.shape == (2, 43)
    assert lite.classify([])[0].shape == (0,)


def test_export_quantizes_and_records_it_in_the_card(trained, tmp_path):
    """`training export` rewrites the LiteRT file from the .keras model (int8 weights here) and the
    card's hash and record of it; the export still loads and reads like the Keras model; without
    the .keras model there is nothing to export from: one error, exit code 2."""
    from training.__main__ import main

    data, out, _ = trained
    for name in ("tiny.keras", "tiny.tflite", "tiny.json"):
        shutil.copy(out / name, tmp_path / name)
    float_size = (tmp_path / "tiny.tflite").stat().st_size
    assert main(["export", str(tmp_path / "tiny.json"), "--quantize", "dynamic", "--data", str(data)]) == 0
    card = ModelCard.load(tmp_path / "tiny.json")
    assert card.sha256["tflite"] == sha256(tmp_path / "tiny.tflite") == card.extra["litert"]["sha256"]
    assert card.extra["litert"]["quantization"] == "dynamic"
    assert card.extra["litert"]["validation"]["n"] == card.validation["n"]
    assert (tmp_path / "tiny.tflite").stat().st_size < float_size  # the large kernels went to int8
    lite = Classifier(tmp_path / "tiny.tflite", backend="litert")
    ref = Classifier(tmp_path / "tiny.keras", backend="tf-function")
    x = np.random.default_rng(0).random((16, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(lite.predict_proba(x), ref.predict_proba(x), atol=0.1)
    (tmp_path / "tiny.keras").unlink()
    assert main(["export", str(tmp_path / "tiny.json")]) == 2  # nothing to export from: one error line


def test_planned_batches_give_the_same_outputs_as_single_crops(trained):
    """After warm_up a batch runs as a split of bucket sizes; no row may depend on the split."""
    _, out, _ = trained
    lite = Classifier(out / "tiny.tflite", backend="litert")
    lite.warm_up()
    assert set(lite._plans) == set(range(1, 65))
    x = np.random.default_rng(1).random((70, 32, 32, 3), dtype=np.float32)
    whole = lite.predict_proba(x)
    single = np.concatenate([lite.predict_proba(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(whole, single, atol=1e-6)
    for n in (1, 17, 63, 64, 65, 130):
        assert lite.predict_proba(x[:1].repeat(n, axis=0)).shape == (n, 43)


def test_batch_plans_weigh_call_overhead_against_padding():
    """Hand-computed plans: costly rows are split exactly; cheap rows with a costly call are padded."""
    from realtime.classifier import plan_batches

    buckets = (1, 2, 4, 8, 16, 32, 48, 64)
    rows = plan_batches({b: 0.6 * b for b in buckets})  # the recognizer: ~0.6 ms a crop, no overhead
    assert rows[17] == (16, 1) and rows[7] == (4, 2, 1) and rows[40] == (32, 8) and rows[64] == (64,)
    calls = plan_batches({b: 0.2 + 0.001 * b for b in buckets})  # a call costs 200 rows
    assert calls[17] == (32,) and calls[3] == (4,) and calls[49] == (64,)
    for plans in (rows, calls):
        assert all(sum(plan) >= n and all(b in buckets for b in plan) for n, plan in plans.items())


def test_box_head_agrees_across_backends_and_maps_back_to_the_frame(trained):
    """The second output: the sign's box in the crop, as fractions, mapped back to frame pixels."""
    _, out, _ = trained
    lite = Classifier(out / "tiny.tflite", backend="litert")
    ref = Classifier(out / "tiny.keras", backend="tf-function")
    assert lite.card.box_head and ref.card.box_head and lite.card.outputs == ["box", "features", "probs"]
    x = np.random.default_rng(1).random((9, 32, 32, 3), dtype=np.float32)
    a, b = lite.predict(x), ref.predict(x)
    assert a.keys() == b.keys() == {"box", "features", "probs"} and a["features"].shape == (9, 256)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-4)
    frame = np.random.default_rng(2).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    boxes = [(10, 20, 50, 60), (100, 30, 130, 62)]
    res = lite.classify_boxes(frame, boxes)
    assert res.ids.shape == (2,) and res.boxes.shape == (2, 4)
    np.testing.assert_array_equal(res.sign, 1.0)  # no verifier fitted yet
    # a barely trained head stays near its start, the plain framing: near the boxes it was given
    np.testing.assert_allclose(res.boxes, np.asarray(boxes, np.float32), atol=12)
    assert lite.classify_boxes(frame, []).boxes.shape == (0, 4)


def test_model_errors_are_clear(trained, tmp_path):
    _, out, _ = trained
    with pytest.raises(ModelError, match="not found"):
        Classifier(tmp_path / "missing.tflite")
    for name in ("tiny.tflite", "tiny.keras", "tiny.json"):
        shutil.copy(out / name, tmp_path / name)
    (tmp_path / "tiny.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelError, match="cannot load LiteRT"):
        Classifier(tmp_path / "tiny.tflite")
    shutil.copy(out / "tiny.tflite", tmp_path / "tiny.tflite")
    card = json.loads((out / "tiny.json").read_text())
    card["classes"] = card["classes"][:10]
    (tmp_path / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="43 outputs but its card lists 10"):
        Classifier(tmp_path / "tiny.tflite")
    card = json.loads((out / "tiny.json").read_text())
    card["preprocessing"]["color"] = "gray"
    (tmp_path / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="does not match its card"):
        Classifier(tmp_path / "tiny.tflite")


def test_evaluate_writes_all_files_on_both_layouts(trained, tmp_path):
    from training.evaluate import evaluate

    data, out, _ = trained
    summ = evaluate(str(data), str(out / "tiny.tflite"), str(tmp_path / "ev"), split="val")
    for name in ("metrics.json", "confusion_matrix.png", "training_curves.png", "worst_mistakes.png"):
        assert (tmp_path / "ev" / name).stat().st_size > 0, name
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["n"] == summ["n"] and {"accuracy", "macro_f1", "per_class", "top_k"} <= set(m)
    assert sum(r["support"] for r in m["per_class"]) == m["n"]
    kaggle = make_kaggle(tmp_path / "kaggle", CLASSES)
    summ2 = evaluate(str(kaggle), str(out / "tiny.keras"), str(tmp_path / "ev2"), split="test")
    assert summ2["n"] == len(CLASSES) and summ2["backend"] == "tf-function"


def test_classify_cli_writes_submission_csv(trained, tmp_path):
    data, out, _ = trained
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, p in enumerate(sorted(Path(data).rglob("*.ppm"))[:5]):
        shutil.copy(p, folder / f"{i:05d}.ppm")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "notes.txt").write_text("not an image")
    csv_out = tmp_path / "res" / "pred.csv"
    r = subprocess.run([sys.executable, "-m", "realtime", "classify", str(folder), "--csv", str(csv_out),
                        "--model", str(out / "tiny.tflite")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(csv_out.open(), delimiter=";"))
    assert rows[0][:2] == ["Filename", "ClassId"]
    assert sorted(r[0] for r in rows[1:]) == [f"{i:05d}.ppm" for i in range(5)]
    assert all(0 <= int(r[1]) < 43 and 0.0 <= float(r[2]) <= 1.0 for r in rows[1:])
    assert "broken.png" in r.stderr and "Traceback" not in r.stderr
    assert "1 unreadable, 1 non-image files skipped" in r.stdout


def test_gate_trains_saves_and_loads_as_a_two_class_model(tmp_path):
    """The gate's own smoke run: mined-like crops in, a LiteRT model with its card out."""
    from training.gate import GATE_PRE, Mined, save, scores, train_one

    rng = np.random.default_rng(0)
    n = 64
    x = rng.integers(0, 255, (n, *GATE_PRE.input_shape), dtype=np.uint8)
    x[: n // 2, 5:15, 5:15, 0] = 255  # "signs": a red patch in the middle
    mined = Mined(x, np.r_[np.full(n // 2, 0.8), np.full(n // 2, 0.0)].astype(np.float32), np.zeros(n, np.int64),
                  np.arange(n), np.zeros(n, np.int8), [f"{i}.jpg" for i in range(n)])
    model = train_one(x[:8], mined, np.ones(n, bool), epochs=1)
    card_path = save(model, tmp_path, "gate", {"folds": 1, "fold": None})
    gate = Classifier(card_path)
    assert gate.card.extra.get("role") == "gate" and list(gate.class_ids) == [-1, 1]
    probs = gate.predict_proba(x[:5].astype(np.float32) / 255)
    assert probs.shape == (5, 2)
    assert gate.card.extra["litert"] == {"quantization": "dynamic", "sha256": gate.card.sha256["tflite"]}
    np.testing.assert_allclose(probs[:, 1], scores(model, x[:5]), atol=0.02)  # int8 weights: ~0.004 apart


def test_features_output_is_added_for_users_and_removed_for_training():
    from training import net

    model = net.build((32, 32, 3), 43, width=4, dense=16, box_head=(0.1, 0.1, 0.9, 0.9))
    shipped = net.with_features(model)
    assert sorted(shipped.output) == ["box", "features", "probs"] and shipped.output["features"].shape[-1] == 16
    assert sorted(net.without_features(shipped).output) == ["box", "probs"]
    plain = net.build((32, 32, 3), 43, width=4, dense=16)
    assert net.without_features(net.with_features(plain)).output.shape[-1] == 43
