"""``python -m training train``: fit the recognizer and write model, LiteRT export and card."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from realtime.card import ModelCard, sha256
from realtime.classes import NAMES, NUM_CLASSES
from realtime.preprocess import Preprocessing, to_input
from training import augment, datasets, metrics

log = logging.getLogger(__name__)  # progress and figures; the command line prints them


def class_weights(labels: np.ndarray, n: int, power: float = 1.0) -> np.ndarray:
    """Inverse-frequency weights (``power`` 1 = fully balanced), scaled to average 1 per sample."""
    counts = np.bincount(labels, minlength=n).astype(np.float64)
    w = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1) / n) ** power, 0.0)
    return (w / (w[labels].mean() if len(labels) else 1.0)).astype(np.float32)


def make_sequence(ds: datasets.Dataset, cfg: Preprocessing, aug: augment.AugmentConfig | None,
                  batch_size: int, weights: np.ndarray, seed: int, boxes: bool = False):
    """Training batches; with ``boxes`` the targets are ``{"probs": labels, "box": sign boxes}``."""
    import keras

    class Batches(keras.utils.PyDataset):
        """Re-augments every epoch in worker threads (OpenCV releases the GIL)."""

        def __init__(self) -> None:
            super().__init__(workers=2, use_multiprocessing=False, max_queue_size=16)
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(ds))
            self.epoch = 0

        def __len__(self) -> int:
            return math.ceil(len(ds) / batch_size)

        def __getitem__(self, i: int):
            idx = self.order[i * batch_size:(i + 1) * batch_size]
            rng = np.random.default_rng((seed, self.epoch, i))
            x, box = augment.batch([ds.images[j] for j in idx], ds.rois[idx], cfg, aug, rng, with_boxes=True)
            y = ds.labels[idx]
            if not boxes:
                return to_input(x), y, weights[y]
            # class weights balance the classes; every box counts the same
            return to_input(x), {"probs": y, "box": box}, {"probs": weights[y], "box": np.ones(len(y), np.float32)}

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = self.rng.permutation(len(ds))

    return Batches()


def predict_scores(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Offline batched inference for evaluation (not the per-frame path)."""
    import tensorflow as tf

    fn = tf.function(lambda t: probs_of(model(t, training=False)), reduce_retracing=True)
    out = [fn(tf.constant(x[i:i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, int(probs_of(model.output).shape[-1])), np.float32)


def probs_of(outputs):
    """The class probabilities of a model's output (a tensor, or a dict with a box head)."""
    return outputs["probs"] if isinstance(outputs, dict) else outputs


# LiteRT export of the recognizer: "dynamic" stores the weights as int8 (activations stay float), so
# XNNPACK runs the convolutions in int8. On this 2-core machine: 3.6 ms instead of 13.2 for a batch of
# 32 crops, 0.2 instead of 0.8 ms for one, and the same validation accuracy (docs/BENCHMARKS.md)
QUANTIZE = ("none", "dynamic")


def export_tflite(model, path: Path, quantize: str = "none", representative=None) -> None:
    """The model as a LiteRT flatbuffer; ``quantize`` "dynamic" for int8 weights (dynamic range), or
    "int8" for int8 weights and activations (float input and output), calibrated on
    ``representative``: a callable that yields input batches, each a list of one array."""
    if quantize not in (*QUANTIZE, "int8"):
        raise ValueError(f"unknown quantization {quantize!r}; expected one of {(*QUANTIZE, 'int8')}")
    if quantize == "int8" and representative is None:
        raise ValueError("int8 quantization needs representative inputs to calibrate the activations")
    if quantize == "none":
        model.export(str(path), format="litert", verbose=False)
        return
    import contextlib
    import io

    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]  # with no representative data: dynamic range
    if quantize == "int8":
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints the traced signature
        flat = conv.convert()
    Path(path).write_bytes(flat)


def litert_record(tflite: Path, quantize: str) -> dict:
    """The card's ``litert`` entry: how its LiteRT file was exported, and which file that was."""
    return {"quantization": quantize, "sha256": sha256(tflite)}


def litert_validation(tflite: Path, x_val: np.ndarray, labels: np.ndarray, quantize: str) -> dict:
    """``litert_record`` plus what the pipeline's runtime scores on the validation crops: the card
    records it beside the Keras model's figures, since a quantized export is not the model that was
    validated. Reads the card beside ``tflite``, which must be one of the 43 GTSRB classes."""
    from realtime.card import ModelError
    from realtime.classifier import Classifier
    from training.evaluate import probabilities

    clf = Classifier(tflite, backend="litert")
    if list(clf.class_ids) != list(range(NUM_CLASSES)):
        raise ModelError(f"{tflite}: validation accuracy is measured for recognizers of the {NUM_CLASSES} "
                         "GTSRB classes")
    summ = metrics.summary(labels, probabilities(clf, x_val), list(NAMES))
    return {**litert_record(tflite, quantize), "validation": {k: summ[k] for k in ("n", "accuracy", "macro_f1")}}


def _stop_after_callback(n: int):
    import keras

    class StopAfter(keras.callbacks.Callback):
        """End a run after ``n`` epochs without shortening its learning-rate schedule."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 >= n:
                self.model.stop_training = True

    return StopAfter()


def _recalibrate_bn_callback(seq, batches: int = 8):
    """Before each validation (after the EMA weights are swapped in): BatchNorm's moving statistics
    re-estimated for the weights being validated, from ``batches`` training batches in one forward
    pass. BatchNorm tracks the statistics of the raw weights; the average of the weights has its
    own (the SWA recipe). Training uses batch statistics, so this does not touch the training."""
    import keras

    class RecalibrateBN(keras.callbacks.Callback):
        calls = 0

        def on_test_begin(self, logs=None):
            bns = [layer for layer in self.model.layers if isinstance(layer, keras.layers.BatchNormalization)]
            self.calls += 1
            idx = np.random.default_rng(self.calls).choice(len(seq), min(batches, len(seq)), replace=False)
            x = np.concatenate([seq[int(i)][0] for i in idx])
            saved = [layer.momentum for layer in bns]
            for layer in bns:
                layer.momentum = 0.0  # the moving statistics become this batch's
            try:
                self.model(x, training=True)
            finally:
                for layer, m in zip(bns, saved):
                    layer.momentum = m

    return RecalibrateBN()


def _prepare(data: str, seed: int, val_fraction: float, cfg: Preprocessing,
             limit_per_class: int | None, train_stride: int, folds: int | None = None, fold: int | None = None):
    t0 = time.time()
    ds = datasets.load(data, limit_per_class=limit_per_class)
    tr_idx, va_idx = datasets.split_by_track(ds.labels, ds.tracks, val_fraction, seed, folds, fold)
    train_ds, val_ds = ds.subset(tr_idx[::train_stride]), ds.subset(va_idx)
    log.info(f"loaded {len(ds)} images in {time.time() - t0:.1f}s: {len(train_ds)} train / {len(val_ds)} val "
             f"({len(set(train_ds.tracks))} / {len(set(val_ds.tracks))} tracks)")
    x_val = (to_input(augment.batch(val_ds.images, val_ds.rois, cfg, None)) if len(val_ds)
             else np.zeros((0, *cfg.input_shape), np.float32))
    meta = {
        "data": str(data), "images": len(ds), "train_images": len(train_ds), "val_images": len(val_ds),
        "train_tracks": len(set(train_ds.tracks)), "val_tracks": len(set(val_ds.tracks)),
        "split": ({"by": "track", "seed": seed, "val_fraction": val_fraction, "train_stride": train_stride}
                  if folds is None else
                  {"by": "track", "seed": seed, "folds": folds, "fold": fold, "train_stride": train_stride}),
        "class_counts_train": train_ds.counts(NUM_CLASSES).tolist(),
    }
    return cfg, train_ds, val_ds, x_val, meta


def _start_model(cfg: Preprocessing, init_from: str | None, soup: float | None, width: int, seed: int,
                 box_head: bool):
    """The model to fit and the weights it started from (for ``soup``; None for fresh weights):
    a saved ``.keras`` model to fine-tune, checked against ``cfg`` and ``box_head``, or a new one."""
    import keras

    from training import net

    if init_from:
        model = net.without_features(keras.saving.load_model(init_from, compile=False))
        if tuple(model.input_shape[1:]) != cfg.input_shape:
            raise ValueError(f"{init_from} takes {model.input_shape[1:]}, preprocessing gives {cfg.input_shape}")
        if isinstance(model.output, dict) != box_head:
            raise ValueError(f"{init_from} {'has' if isinstance(model.output, dict) else 'lacks'} a box head; "
                             "train with the same --box-head setting")
        return model, model.get_weights()
    if soup is not None:
        raise ValueError("soup averages with the starting model: it needs init_from")
    plain = tuple(float(v) for v in augment.plain_boxes(1, cfg.margin)[0])
    return net.build(cfg.input_shape, NUM_CLASSES, width=width, seed=seed, box_head=plain if box_head else None), None


def class_loss(label_smoothing: float = 0.0):
    """The class head's loss: sparse cross-entropy on integer labels; with ``label_smoothing`` e
    (0 < e < 1) the target is the one-hot label mixed with the uniform distribution,
    (1 - e) * onehot + e / K, as ``CategoricalCrossentropy(label_smoothing=e)`` takes it (Keras 3's
    sparse cross-entropy has no such option). 0 is the plain sparse loss, unchanged."""
    import keras

    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label smoothing is a share of the target, 0 <= e < 1; got {label_smoothing}")
    if not label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy()

    class SmoothedSparseCrossentropy(keras.losses.Loss):
        def __init__(self, label_smoothing: float, name: str = "smoothed_sparse_crossentropy", **kw) -> None:
            super().__init__(name=name, **kw)
            self.label_smoothing = float(label_smoothing)

        def call(self, y_true, y_pred):
            ops = keras.ops
            labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
            onehot = ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
            return keras.losses.categorical_crossentropy(onehot, y_pred, label_smoothing=self.label_smoothing)

        def get_config(self) -> dict:
            return {**super().get_config(), "label_smoothing": self.label_smoothing}

    return SmoothedSparseCrossentropy(label_smoothing)


def _compile(model, steps_per_epoch: int, epochs: int, warmup_epochs: int, lr: float, ema: float | None,
             box_head: bool, box_weight: float, val_ds: datasets.Dataset, cfg: Preprocessing,
             label_smoothing: float = 0.0):
    """AdamW on a cosine schedule (after a linear warm-up of ``warmup_epochs``), one loss per
    output; returns the validation targets and the metric that picks the best epoch."""
    import keras

    warm = warmup_epochs * steps_per_epoch
    decay = max(epochs * steps_per_epoch - warm, 1)
    schedule = (keras.optimizers.schedules.CosineDecay(lr * 0.1, decay_steps=decay, warmup_target=lr,
                                                       warmup_steps=warm)
                if warm else keras.optimizers.schedules.CosineDecay(lr, decay_steps=decay))
    accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=1e-4, use_ema=ema is not None,
                                       ema_momentum=ema if ema is not None else 0.99)
    if box_head:  # Huber: most boxes are off by a few hundredths; a few badly warped ones should not dominate
        model.compile(optimizer=optimizer,
                      loss={"probs": class_loss(label_smoothing), "box": keras.losses.Huber(0.1)},
                      loss_weights={"probs": 1.0, "box": box_weight}, metrics={"probs": [accuracy]})
        return {"probs": val_ds.labels, "box": augment.plain_boxes(len(val_ds), cfg.margin)}, "val_probs_accuracy"
    model.compile(optimizer=optimizer, loss=class_loss(label_smoothing), metrics=[accuracy])
    return val_ds.labels, "val_accuracy"


def _callbacks(seq, out_dir: Path, ckpt: Path, monitor: str, patience: int, ema: float | None,
               stop_after: int | None) -> list:
    """Best checkpoint, early stopping, the CSV history, and the EMA and ``stop_after`` helpers.

    ``patience`` 0 is a fixed schedule: no early stopping and no selection on validation; the
    checkpoint is rewritten every epoch, so it holds the last epoch's weights (the averaged ones
    with EMA, which ``_final_weights`` reloads), and without EMA the weights fit ends with are kept."""
    import keras

    # with EMA, the swap callback comes first so that validation and the checkpoint see the averaged
    # weights; the best checkpoint is then reloaded explicitly (EarlyStopping's restore and Keras'
    # end-of-fit EMA finalisation would each put the raw weights back in some stop orders)
    callbacks = ([keras.callbacks.SwapEMAWeights(swap_on_epoch=True), _recalibrate_bn_callback(seq)]
                 if ema is not None else [])
    callbacks.append(keras.callbacks.ModelCheckpoint(str(ckpt), monitor=monitor, mode="max",
                                                     save_best_only=patience > 0))
    if patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=patience,
                                                       restore_best_weights=ema is None))
    callbacks.append(keras.callbacks.CSVLogger(str(out_dir / "history.csv")))
    if stop_after:
        callbacks.append(_stop_after_callback(stop_after))
    return callbacks


def _final_weights(model, ckpt: Path, ema: float | None, soup: float | None, start_weights) -> None:
    """The weights to ship: with EMA the best checkpoint's; with ``soup`` averaged with the start."""
    if ema is not None and ckpt.exists():
        model.load_weights(ckpt)
    if soup is not None:
        model.set_weights([soup * a + (1.0 - soup) * b for a, b in zip(start_weights, model.get_weights())])


def train(data: str, out: str, epochs: int = 40, batch_size: int = 128, seed: int = 0,
          val_fraction: float = 0.15, color: str = "rgb", contrast: str = "clahe", width: int = 32,
          lr: float = 2e-3, weight_power: float = 1.0, patience: int = 10, augmentation: bool = True,
          limit_per_class: int | None = None, train_stride: int = 1, name: str = "gtsrb_cnn",
          verbose: int = 1, warmup_epochs: int = 1, stop_after: int | None = None,
          init_from: str | None = None, clahe_grid: int = 2, clahe_clip: float = 8.0, box_head: bool = True,
          box_weight: float = 10.0, augment_overrides: dict | None = None, split_seed: int | None = None,
          ema: float | None = None, soup: float | None = None, quantize: str = "dynamic",
          label_smoothing: float = 0.0, folds: int | None = None, fold: int | None = None) -> dict:
    """Fit and write the model, its LiteRT export (``quantize``: see ``export_tflite``) and its card.

    ``stop_after`` ends the run after that many epochs of an ``epochs``-long schedule (the
    best checkpoint is kept); ``init_from`` starts from a saved ``.keras`` model instead of
    fresh weights: together they make the two-stage recipe of ``make train``. ``split_seed`` (default
    ``seed``) draws the validation tracks, so runs from other starts can be compared on one split.
    ``ema`` (a momentum such as 0.999) validates, keeps and ships an exponential moving average of
    the weights: the epoch-to-epoch swings of a few validation tracks at a high learning rate are
    then averaged out instead of being picked from. ``soup`` (with ``init_from``) ships
    ``soup * start + (1 - soup) * fine-tuned`` weights, BatchNorm statistics included: a fine-tuning
    stage fixes some hard tracks and unlearns others, and the average of the two ends of the same
    basin keeps most of both (a "model soup"); validation figures are measured on the average.
    ``patience`` 0 trains the whole schedule and keeps the last epoch (no early stopping, no pick
    by validation); ``label_smoothing`` (e.g. 0.1) smooths the class targets (``class_loss``).
    ``folds`` K and ``fold`` I validate on fold I of a k-fold split of each class's tracks
    (``datasets.track_folds``, drawn with the split seed) and train on the other folds, instead
    of a ``val_fraction`` of the tracks; the card records them for ``evaluate --split val``.
    """
    import keras

    if soup is not None and not 0.0 <= soup <= 1.0:
        raise ValueError(f"soup is the starting model's weight in the average, 0..1; got {soup}")
    if patience < 0:
        raise ValueError(f"patience is a number of epochs, 0 for none (keep the last epoch); got {patience}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label smoothing is a share of the target, 0 <= e < 1; got {label_smoothing}")
    datasets.check_folds(folds, fold)
    if folds is None and val_fraction == 0.0 and patience:
        raise ValueError("training on every track (val_fraction 0) leaves nothing to stop early on: use patience 0")
    keras.utils.set_random_seed(seed)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    # load data
    cfg = Preprocessing(color=color, contrast=contrast, clahe_grid=clahe_grid, clahe_clip=clahe_clip)
    cfg, train_ds, val_ds, x_val, meta = _prepare(data, seed if split_seed is None else split_seed, val_fraction, cfg,
                                                     limit_per_class, train_stride, folds, fold)
    weights = class_weights(train_ds.labels, NUM_CLASSES, weight_power)
    aug = augment.AugmentConfig(**(augment_overrides or {})) if augmentation else None
    seq = make_sequence(train_ds, cfg, aug, batch_size, weights, seed, boxes=box_head)
    # build
    model, start_weights = _start_model(cfg, init_from, soup, width, seed, box_head)
    val_y, monitor = _compile(model, len(seq), epochs, warmup_epochs, lr, ema, box_head, box_weight, val_ds, cfg,
                              label_smoothing)
    # fit
    ckpt = out_dir / "checkpoint.keras"
    hist = model.fit(seq, validation_data=(x_val, val_y) if len(x_val) else None, epochs=epochs,
                     callbacks=_callbacks(seq, out_dir, ckpt, monitor, patience, ema, stop_after), verbose=verbose)
    _final_weights(model, ckpt, ema, soup, start_weights)
    # export and card
    meta.update({"seed": seed, "class_weight_power": weight_power, "box_weight": box_weight if box_head else None,
                 "epochs_max": epochs, "batch_size": batch_size, "lr": lr,
                 "warmup_epochs": warmup_epochs, "stop_after": stop_after, "init_from": init_from,
                 "width": width, "ema": ema, "soup": soup, "augment": asdict(aug) if aug is not None else None,
                 "patience": patience, "kept": "last epoch" if patience == 0 else "best validation epoch",
                 "label_smoothing": label_smoothing,
                 "seconds": round(time.time() - t0, 1)})
    # one naming for the card and the curves, with or without a box head
    names = {"probs_accuracy": "accuracy", "val_probs_accuracy": "val_accuracy"}
    history = {names.get(k, k): [float(v) for v in vals] for k, vals in hist.history.items()}
    summ = write_outputs(model, history, meta, cfg, val_ds, x_val, out_dir, name, quantize)
    ckpt.unlink(missing_ok=True)
    return summ


def write_outputs(model, history: dict, meta: dict, cfg: Preprocessing, val_ds: datasets.Dataset,
                  x_val: np.ndarray, out_dir: Path, name: str, quantize: str = "none") -> dict:
    """The .keras model, its LiteRT export and the card, with validation figures measured here
    (the Keras model's, and the LiteRT export's under "litert")."""
    import keras
    import tensorflow as tf

    from training import net

    validated = len(x_val) > 0  # a model trained on every track has no validation set
    summ = (metrics.summary(val_ds.labels, predict_scores(model, x_val), list(NAMES),
                            rarity=np.asarray(meta["class_counts_train"])) if validated else None)

    keras_path, tfl_path = out_dir / f"{name}.keras", out_dir / f"{name}.tflite"
    shipped = net.with_features(model) if isinstance(model.output, dict) else model
    shipped.save(keras_path)
    export_tflite(shipped, tfl_path, quantize)
    card = ModelCard(
        classes=[{"id": i, "name": n} for i, n in enumerate(NAMES)],
        preprocessing=cfg,
        files={"keras": keras_path.name, "tflite": tfl_path.name},
        sha256={"keras": sha256(keras_path), "tflite": sha256(tfl_path)},
        training={**meta, "epochs_run": len(history.get("loss", [])), "params": int(model.count_params()),
                  "keras": keras.__version__, "tensorflow": tf.__version__, "history": history},
        validation=({k: summ[k] for k in ("n", "accuracy", "macro_precision", "macro_recall", "macro_f1",
                                          "top_k", "rarest_classes_recall")} if validated
                    else {"n": 0, "note": "trained on every track: see its recipe's cross-validated figures"}),
        extra={"outputs": sorted(shipped.output) if isinstance(shipped.output, dict) else ["probs"]},
    )
    card.save(out_dir / f"{name}.json")
    card.extra["litert"] = (litert_validation(tfl_path, x_val, val_ds.labels, quantize)  # reads the card just saved
                            if validated else litert_record(tfl_path, quantize))
    card.save(out_dir / f"{name}.json")
    if not validated:
        log.info(f"trained on every track ({meta['train_images']} images): no validation figures")
        log.info(f"wrote {keras_path}, {tfl_path}, {out_dir / (name + '.json')}")
        return {"n": 0}
    (out_dir / "val_metrics.json").write_text(json.dumps(summ, indent=1))
    log.info(f"validation accuracy {summ['accuracy']:.4%}, macro F1 {summ['macro_f1']:.4f}; rarest classes recall: "
             + ", ".join(f"{k}: {v:.3f}" for k, v in summ["rarest_classes_recall"].items()))
    lite = card.extra["litert"]["validation"]
    log.info(f"LiteRT export ({quantize} quantization): validation accuracy {lite['accuracy']:.4%}, "
             f"macro F1 {lite['macro_f1']:.4f}")
    log.info(f"wrote {keras_path}, {tfl_path}, {out_dir / (name + '.json')}")
    return summ
