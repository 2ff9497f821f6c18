"""``python -m training train-gate``: the small CNN that decides which detector candidates are signs.

The detector proposes ~200 candidates a frame to keep its recall; classifying each with the
recognizer (~1 ms a crop) would cost more than the whole frame budget. The gate looks at a
20x20 crop of each candidate (~0.05 ms in a batch of 32) and passes the few that may be signs on.

It learns what a sign is from GTSRB (every class, framed loosely the way the detector frames)
and what clutter is from the detector's own candidates on GTSDB scenes that overlap no sign: red
cars, brake lights, brick, foliage, sky, and the signs outside the 43 classes. Because those
scenes are also what the system is scored on, one gate is trained per fold of the scenes
(contiguous blocks of the sorted names; neighbouring scenes often show the same street), each
without its own fold's scenes; ``eval-detection`` scores every fold with the gate that never
saw it. The gate shipped for users is trained on all scenes.

``--rendered N`` adds the detector's candidates on frames of N rendered drive-bys (seeds from
``RENDERED_SEED``, none of them a benchmark clip's) to every gate's training, positives and
negatives alike; they are never held out, so the held-out figures stay GTSDB's. GTSDB never shows
the gate a tinted, noisy road surface like the renderer's, and a gate trained on it alone passes
the red route's ~50 candidates a 1080p drive-by frame on the asphalt, most of the recognizer's
work there. The shipped gates are trained without them: they cost precision on the real scenes
(docs/BENCHMARKS.md).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.boxes import iou_matrix
from realtime.card import ModelCard, sha256
from realtime.detect import Detector
from realtime.preprocess import Preprocessing, normalise_stack, sample_boxes, to_input
from training import augment, datasets
from training.detection_eval import FOLDS, fold_of, list_scenes, read_gt

log = logging.getLogger(__name__)  # progress and figures; the command line prints them

GATE_PRE = Preprocessing(size=20, contrast="stretch")
GATE_CLASSES = [{"id": -1, "name": "background"}, {"id": 1, "name": "sign"}]
POSITIVE_IOU = 0.5  # a candidate the recognizer's box head can re-frame to IoU >= 0.6
NEGATIVE_IOU = 0.25  # clearly not framing a sign; candidates in between teach nothing clear
JITTERS = 6  # extra positives per ground-truth sign: its box, framed a little off
RENDERED_SEED = 1000  # first seed of the rendered training drive-bys; benchmark clips use seeds under 100
RENDERED_EVERY = 20  # frames between two mined frames of a rendered drive-by (200 frames: 10 a clip)


@dataclass
class Mined:
    """Gate inputs from scenes: normalised crops, best IoU with a sign, and the scene's fold."""

    x: np.ndarray  # (N, S, S, C) uint8, as the gate sees them
    iou: np.ndarray  # (N,) float32
    fold: np.ndarray  # (N,) int
    scene: np.ndarray  # (N,) int, index into names
    kind: np.ndarray  # (N,) 0 = detector candidate, 1 = jittered ground truth
    names: list[str]


def scene_boxes(scenes: Sequence[Path], gt_path: str, detector: Detector | None = None, seed: int = 0
                ) -> Iterator[tuple[Path, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per scene: its path, image, detector candidate boxes, ground-truth boxes and ``JITTERS``
    jittered copies of each (the extra positives both the gate and the verifier learn from)."""
    detector = detector or Detector()
    gts = read_gt(gt_path)
    rng = np.random.default_rng(seed)
    for path in scenes:
        img = cv2.imread(str(path))
        if img is None:
            raise ValueError(f"cannot read image {path}")
        boxes = np.array([d.box for d in detector(img)], np.float32).reshape(-1, 4)
        gt = gts.get(path.name)
        gt_boxes = gt.boxes if gt is not None else np.zeros((0, 4))
        yield path, img, boxes, gt_boxes, _jitter(gt_boxes, JITTERS, rng)


def mine(scenes_dir: str, gt_path: str, detector: Detector | None = None, pre: Preprocessing = GATE_PRE,
         folds: int = FOLDS, seed: int = 0) -> Mined:
    """Every detector candidate of every scene, plus jittered ground-truth boxes, as gate inputs."""
    scenes = list_scenes(scenes_dir)
    fold = fold_of([p.name for p in scenes], folds)
    parts = [_crops(img, boxes, gt_boxes, jit, pre, fold[path.name], i)
             for i, (path, img, boxes, gt_boxes, jit) in enumerate(scene_boxes(scenes, gt_path, detector, seed))]
    return _stacked(parts, pre, [p.name for p in scenes])


def mine_rendered(clips: int, detector: Detector | None = None, pre: Preprocessing = GATE_PRE,
                  seed: int = 0) -> Mined:
    """Detector candidates and jittered ground truth on rendered drive-bys, as gate inputs.

    ``clips`` drive-bys of 200 frames and 8 signs, alternately 1920x1080 and 1280x720, every
    ``RENDERED_EVERY``-th frame. Their fold is -1: in every gate's training, in no held-out figure.
    """
    from training.render.video import DriveBy

    detector = detector or Detector()
    rng = np.random.default_rng(seed)
    parts = []
    for j in range(clips):
        size = (1920, 1080) if j % 2 == 0 else (1280, 720)
        clip = DriveBy(RENDERED_SEED + j, 200, *size, 25, 8)
        for i in range(RENDERED_EVERY // 4, 200, RENDERED_EVERY):
            img, gt = clip.frame(i)
            boxes = np.array([d.box for d in detector(img)], np.float32).reshape(-1, 4)
            gt_boxes = np.array([g["box"] for g in gt], np.float32).reshape(-1, 4)
            parts.append(_crops(img, boxes, gt_boxes, _jitter(gt_boxes, JITTERS, rng), pre, -1, -1))
    return _stacked(parts, pre, [])


def _crops(img: np.ndarray, boxes: np.ndarray, gt_boxes: np.ndarray, jit: np.ndarray, pre: Preprocessing,
           fold: int, scene: int) -> tuple[np.ndarray, ...]:
    """One image's gate inputs: its candidates, then the jittered signs, with best IoU, fold, scene, kind."""
    both = np.concatenate([boxes, jit])
    best = iou_matrix(both, gt_boxes).max(axis=1) if len(gt_boxes) else np.zeros(len(both))
    return (normalise_stack(sample_boxes(img, both, pre.size, pre.margin), pre), best.astype(np.float32),
            np.full(len(both), fold, np.int64), np.full(len(both), scene, np.int64),
            np.r_[np.zeros(len(boxes), np.int8), np.ones(len(jit), np.int8)])


def _stacked(parts: list[tuple[np.ndarray, ...]], pre: Preprocessing, names: list[str]) -> Mined:
    """``_crops`` of many images as one ``Mined`` (empty arrays of the right shape for none)."""
    empty = (np.zeros((0, *pre.input_shape), np.uint8), np.zeros(0, np.float32), np.zeros(0, np.int64),
             np.zeros(0, np.int64), np.zeros(0, np.int8))
    return Mined(*(np.concatenate([e, *(p[k] for p in parts)]) for k, e in enumerate(empty)), names)


def joined(a: Mined, b: Mined) -> Mined:
    """``a``'s crops, then ``b``'s (``b``'s scene indices and names are not ``a``'s: keep them -1)."""
    return Mined(np.concatenate([a.x, b.x]), np.concatenate([a.iou, b.iou]), np.concatenate([a.fold, b.fold]),
                 np.concatenate([a.scene, b.scene]), np.concatenate([a.kind, b.kind]), a.names)


def _jitter(boxes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` copies of each box, rescaled (0.85-1.25) and shifted (+-15% of its size)."""
    if not len(boxes) or k == 0:
        return np.zeros((0, 4), np.float32)
    b = np.repeat(np.asarray(boxes, np.float32), k, axis=0)
    wh = b[:, 2:] - b[:, :2]
    c = (b[:, :2] + b[:, 2:]) / 2 + rng.uniform(-0.15, 0.15, (len(b), 2)).astype(np.float32) * wh
    half = wh * rng.uniform(0.85, 1.25, (len(b), 1)).astype(np.float32) / 2
    return np.concatenate([c - half, c + half], axis=1)


def gtsrb_positives(data: str, pre: Preprocessing = GATE_PRE, copies: int = 1, seed: int = 0) -> np.ndarray:
    """GTSRB signs framed the way detector candidates are (the augmentation's loose framing)."""
    ds = datasets.load(data)
    rng = np.random.default_rng(seed)
    aug = augment.AugmentConfig(loose_p=0.6, occlude_p=0.1)
    out = [augment.batch(ds.images, ds.rois, pre, aug, rng) for _ in range(copies)]
    return np.concatenate(out)


def train_one(pos_extra: np.ndarray, mined: Mined, train_mask: np.ndarray, epochs: int = 6, seed: int = 0,
              verbose: int = 0):
    """A gate fitted on GTSRB positives and the mined crops selected by ``train_mask``."""
    import keras

    from training import net

    keras.utils.set_random_seed(seed)
    pos = train_mask & (mined.iou >= POSITIVE_IOU)
    neg = train_mask & (mined.iou < NEGATIVE_IOU)
    x = np.concatenate([pos_extra, mined.x[pos], mined.x[neg]])
    y = np.r_[np.ones(len(pos_extra) + int(pos.sum()), np.int64), np.zeros(int(neg.sum()), np.int64)]
    # both classes weigh the same in the loss, whatever their counts
    w = np.where(y == 1, len(y) / (2.0 * max(1, int(y.sum()))), len(y) / (2.0 * max(1, int((1 - y).sum()))))
    model = net.build_gate(GATE_PRE.input_shape, seed=seed)
    steps = epochs * int(np.ceil(len(y) / 256))
    model.compile(optimizer=keras.optimizers.AdamW(keras.optimizers.schedules.CosineDecay(3e-3, steps),
                                                   weight_decay=1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    model.fit(to_input(x), y, sample_weight=w.astype(np.float32), batch_size=256, epochs=epochs, shuffle=True,
              verbose=verbose)
    return model


def scores(model, x: np.ndarray) -> np.ndarray:
    """P(sign) for gate inputs (offline, batched)."""
    from training.train import predict_scores

    return predict_scores(model, to_input(x), batch_size=2048)[:, 1] if len(x) else np.zeros(0, np.float32)


def save(model, out_dir: Path, name: str, meta: dict) -> Path:
    """``name.keras``, ``name.tflite`` and the card; returns the card's path."""
    import keras
    import tensorflow as tf

    from training.train import export_tflite, litert_record

    out_dir.mkdir(parents=True, exist_ok=True)
    kp, tp = out_dir / f"{name}.keras", out_dir / f"{name}.tflite"
    model.save(kp)
    # int8 weights, as the recognizer's: the shipped gates scored the same cross-validated GTSDB figures
    # as their float exports, and infer ~1.5x faster (docs/BENCHMARKS.md)
    export_tflite(model, tp, "dynamic")
    card = ModelCard(classes=GATE_CLASSES, preprocessing=GATE_PRE, files={"keras": kp.name, "tflite": tp.name},
                     sha256={"keras": sha256(kp), "tflite": sha256(tp)},
                     training={**meta, "params": int(model.count_params()), "keras": keras.__version__,
                               "tensorflow": tf.__version__},
                     extra={"role": "gate", "litert": litert_record(tp, "dynamic")})
    card.save(out_dir / f"{name}.json")
    return out_dir / f"{name}.json"


def recall_at(mined: Mined, s: np.ndarray, mask: np.ndarray, thresholds) -> list[dict]:
    """For held-out scenes: share of signs with a candidate at IoU >= 0.5 kept by the gate, and
    candidates kept per scene, at each threshold (detector candidates only, no jittered boxes)."""
    cand = mask & (mined.kind == 0)
    n_scenes = len(np.unique(mined.scene[mask])) or 1
    out = []
    for t in thresholds:
        kept = cand & (s >= t)
        out.append({"threshold": float(t), "kept_per_scene": round(float(kept.sum()) / n_scenes, 2),
                    "positives_kept": round(float((kept & (mined.iou >= POSITIVE_IOU)).sum())
                                            / max(1, int((cand & (mined.iou >= POSITIVE_IOU)).sum())), 4)})
    return out


def main(args) -> int:
    """Fold gates (for honest evaluation) and the shipped gate, with held-out figures in their cards."""
    t0 = time.time()
    out = Path(args.out)
    seed = getattr(args, "seed", 0)  # 0 is the shipped gates' seed; others measure run-to-run spread
    mined = mine(args.scenes, args.gt, folds=args.folds, seed=seed)
    log.info(f"mined {len(mined.iou)} crops from {len(mined.names)} scenes in {time.time() - t0:.0f}s "
             f"({int((mined.iou >= POSITIVE_IOU).sum())} positive, {int((mined.iou < NEGATIVE_IOU).sum())} negative)")
    rendered = getattr(args, "rendered", 0)
    if rendered:
        r = mine_rendered(rendered, seed=seed)
        log.info(f"mined {len(r.iou)} crops from {rendered} rendered drive-bys "
                 f"({int((r.iou >= POSITIVE_IOU).sum())} positive, {int((r.iou < NEGATIVE_IOU).sum())} negative)")
        mined = joined(mined, r)
    extra = gtsrb_positives(args.gtsrb, copies=args.gtsrb_copies, seed=seed)
    log.info(f"{len(extra)} GTSRB positives")
    base = {"scenes": str(args.scenes), "gtsrb": str(args.gtsrb), "folds": args.folds,
            "fold_scheme": "contiguous blocks of the sorted scene names", "epochs": args.epochs,
            "positive_iou": POSITIVE_IOU, "negative_iou": NEGATIVE_IOU, "jitters": JITTERS,
            "gtsrb_positives": int(len(extra)), "detector": asdict(Detector().config), "seed": seed,
            "rendered_driveby": ({"clips": rendered, "first_seed": RENDERED_SEED, "every": RENDERED_EVERY}
                                 if rendered else None)}
    thresholds = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
    held = np.zeros(len(mined.iou), np.float32)
    for k in range(args.folds):
        test = mined.fold == k
        model = train_one(extra, mined, ~test, args.epochs, seed=k + seed * (args.folds + 1))
        held[test] = scores(model, mined.x[test])
        r = recall_at(mined, held, test, thresholds)
        save(model, out / "folds", f"gate_fold{k}", {**base, "fold": k, "trained_on_folds": [
            j for j in range(args.folds) if j != k], "held_out": r})
        log.info(f"fold {k}: " + ", ".join(f"t={x['threshold']}: keeps {x['kept_per_scene']}/scene, "
                                           f"{x['positives_kept']:.3f} of positives" for x in r))
    pooled = recall_at(mined, held, mined.fold >= 0, thresholds)  # GTSDB's scenes only
    everything = np.ones(len(mined.iou), bool)
    model = train_one(extra, mined, everything, args.epochs, seed=args.folds + seed * (args.folds + 1))
    card = save(model, out, "gate", {**base, "trained_on_folds": list(range(args.folds)),
                                     "cross_validated": pooled})
    log.info("pooled held-out: " + json.dumps(pooled))
    log.info(f"wrote {card} and {args.folds} fold gates in {out / 'folds'} ({time.time() - t0:.0f}s)")
    return 0
