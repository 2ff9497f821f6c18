"""Train the learned localizer (realtime/locate.py): GTSRB signs pasted into GTSDB scenes.

GTSDB's training scenes hold too few signs to learn a localizer from (79 danger signs in all),
and rendered pictograms do not look like fog or night. GTSRB does: 39,209 photographs of real
signs in every light. So each training crop is a piece of a GTSDB scene (at the detector's work
scale) with its own annotated signs, into which GTSRB signs are pasted, cut out along their
outline (triangle, circle, octagon, diamond) inside their annotated box, at the sizes GTSDB's
signs have, and shaded like the light around them. The scenes' unmarked signs (parking,
crossings, direction boards) and all their clutter are what the net learns to leave alone.

Cross-validation: ``--exclude-fold k`` trains without the scenes of GTSDB fold k (the folds of
``eval-detection``), as a gate fold is; the scenes it saw are listed in the card.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.boxes import iou_matrix
from realtime.classes import CLASSES
from realtime.locate import LocateConfig, Locator, decode, letterbox

log = logging.getLogger(__name__)  # progress and figures; the command line prints them

STRIDE = 4
INPUT = (688, 400)  # letterboxed width, height: 1360x800 at 0.5, padded to a multiple of 16

# -- outlines -------------------------------------------------------------------------------------
def outline(shape: str, w: float, h: float) -> np.ndarray:
    """The sign's outline in its box (w x h px) as a polygon (N, 2)."""
    if shape == "triangle":
        return np.array([[w / 2, 0], [w, h], [0, h]], np.float32)
    if shape == "inverted_triangle":
        return np.array([[0, 0], [w, 0], [w / 2, h]], np.float32)
    if shape == "diamond":
        return np.array([[w / 2, 0], [w, h / 2], [w / 2, h], [0, h / 2]], np.float32)
    n = 8 if shape == "octagon" else 32
    a = np.arange(n) * 2 * np.pi / n + (np.pi / 8 if n == 8 else 0)
    return np.stack([w / 2 + w / 2 * np.cos(a), h / 2 + h / 2 * np.sin(a)], axis=1).astype(np.float32)


def _alpha(shape: str, w: int, h: int) -> np.ndarray:
    """An anti-aliased mask of the outline, float32 0..1, drawn at 4x and reduced."""
    k = 4
    m = np.zeros((h * k, w * k), np.uint8)
    cv2.fillPoly(m, [np.round(outline(shape, w * k - 1, h * k - 1)).astype(np.int32)], 255)
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


# -- synthesis --------------------------------------------------------------------------------------
class Scenes:
    """Scenes as the localizer sees them (``letterbox``'s reduction, without its padding: 1360x800
    GTSDB scenes at 0.5), with their boxes there."""

    def __init__(self, scenes: list[Path], gts: dict, hard: dict[str, np.ndarray] | None = None) -> None:
        self.images, self.boxes, self.hard = [], [], []
        for p in scenes:
            img = cv2.imread(str(p))
            if img is None:
                continue
            small, scale = letterbox(img, *INPUT)
            self.images.append(small[:round(img.shape[0] * scale), :round(img.shape[1] * scale)])
            g = gts.get(p.name)
            boxes = np.asarray(g.boxes if g else [], np.float32).reshape(-1, 4)
            self.boxes.append(boxes * scale)
            self.hard.append(np.asarray((hard or {}).get(p.name, []), np.float32).reshape(-1, 4) * scale)


def mine_hard(model: Path, scenes: list[Path], gts: dict, min_heat: float = 0.4) -> dict[str, np.ndarray]:
    """A localizer's false alarms on ``scenes`` (frame px): its candidates with heat ``min_heat`` or
    more that overlap no annotated sign (IoU < 0.1). Car wheels, vents, round lamps: what it
    proposes although it learnt from those very scenes, because random crops rarely show them.
    (At 0.4 the fold-3 localizer gives 580 on its 240 training scenes; at 0.2, 2,500: nearly every
    one of its 12 peaks a scene.)"""
    loc = Locator(model)
    out = {}
    for p in scenes:
        img = cv2.imread(str(p))
        if img is None:
            continue
        dets = [d for d in loc(img) if d.candidate_score >= min_heat]
        boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        g = gts.get(p.name)
        if g is not None and len(g.boxes) and len(boxes):
            boxes = boxes[iou_matrix(boxes, np.asarray(g.boxes, np.float32)).max(axis=1) < 0.1]
        out[p.name] = boxes
    return out


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light of the whole crop: gain, gamma, haze, per-channel cast, noise, blur."""
    x = img.astype(np.float32) / 255.0
    x = x ** rng.uniform(0.7, 1.5)
    x = x * rng.uniform(0.35, 1.3) * rng.uniform(0.85, 1.15, 3)
    if rng.random() < 0.2:  # haze: toward a light grey
        a = rng.uniform(0.2, 0.6)
        x = x * (1 - a) + a * rng.uniform(0.5, 0.9)
    x = np.clip(x * 255 + rng.normal(0, rng.uniform(0, 6), x.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.25:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.1))
    return x


def _paste(crop: np.ndarray, sign: np.ndarray, roi: np.ndarray, shape: str, box: np.ndarray,
           rng: np.random.Generator) -> None:
    """Paste the GTSRB image's sign (its ``roi``) into ``box`` of ``crop``, cut along its outline and
    shaded toward the light around it."""
    x1, y1, x2, y2 = np.round(box).astype(int)
    w, h = x2 - x1, y2 - y1
    if w < 3 or h < 3:
        return
    r = roi
    # the ROI's pixels, resampled straight into the box
    src = np.float32([[r[0], r[1]], [r[2], r[1]], [r[0], r[3]]])
    dst = np.float32([[0, 0], [w, 0], [0, h]])
    patch = cv2.warpAffine(sign, cv2.getAffineTransform(src, dst), (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    region = crop[y1:y2, x1:x2].astype(np.float32)
    bg = region.reshape(-1, 3).mean(axis=0)
    # the sign takes part of its surroundings' light: dusk, shade, a cast, fog
    patch = patch * rng.uniform(0.5, 1.15) * rng.uniform(0.9, 1.1, 3)
    a = rng.uniform(0.0, 0.45)
    patch = patch * (1 - a) + a * bg
    alpha = _alpha(shape, w, h)[..., None]
    crop[y1:y2, x1:x2] = np.clip(region * (1 - alpha) + patch * alpha, 0, 255).astype(np.uint8)


def synthesize(scenes: Scenes, gtsrb, n: int, size: int = 160, seed: int = 0,
               danger_share: float = 0.5, hard_share: float = 0.0) -> tuple[np.ndarray, list[np.ndarray]]:
    """``n`` crops (``size`` px square, uint8 BGR) of scenes with GTSRB signs pasted, and each crop's
    sign boxes (its real ones and the pasted). About ``hard_share`` of the crops of scenes with hard
    negatives (``Scenes.hard``) are cut around one of them, and no sign is pasted over those."""
    rng = np.random.default_rng(seed)
    labels = gtsrb.labels
    shapes = np.array([CLASSES[int(c)].shape for c in labels])
    danger = np.flatnonzero(shapes == "triangle")
    other = np.flatnonzero(shapes != "triangle")
    X = np.zeros((n, size, size, 3), np.uint8)
    Y: list[np.ndarray] = []
    for i in range(n):
        s = int(rng.integers(len(scenes.images)))
        img, real, hard = scenes.images[s], scenes.boxes[s], scenes.hard[s]
        H, W = img.shape[:2]
        if hard_share and len(hard) and rng.random() < hard_share:  # around something it mistook for a sign
            b = hard[rng.integers(len(hard))]
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            x0 = int(np.clip(cx - rng.uniform(0.2, 0.8) * size, 0, W - size))
            y0 = int(np.clip(cy - rng.uniform(0.2, 0.8) * size, 0, H - size))
        elif len(real) and rng.random() < 0.5:  # around one of its own signs
            b = real[rng.integers(len(real))]
            cx, cy = rng.uniform(b[0], b[2]), rng.uniform(b[1], b[3])
            x0 = int(np.clip(cx - rng.uniform(0.1, 0.9) * size, 0, W - size))
            y0 = int(np.clip(cy - rng.uniform(0.1, 0.9) * size, 0, H - size))
        else:
            x0, y0 = int(rng.integers(0, W - size + 1)), int(rng.integers(0, H - size + 1))
        crop = img[y0:y0 + size, x0:x0 + size].copy()
        boxes = real - [x0, y0, x0, y0]
        inside = boxes.copy()
        inside[:, :2] = np.maximum(inside[:, :2], 0)
        inside[:, 2:] = np.minimum(inside[:, 2:], size)
        area = lambda b: np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)  # noqa: E731
        boxes = inside[area(inside) >= 0.6 * np.maximum(area(boxes), 1e-6)]
        keep_clear = np.concatenate([boxes, hard - [x0, y0, x0, y0]]) if len(hard) else boxes
        for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
            k = int(rng.choice(danger) if rng.random() < danger_share else rng.choice(other))
            w = float(np.exp(rng.uniform(np.log(8), np.log(64))))
            h = w * rng.uniform(0.88, 1.1)
            bx, by = rng.uniform(0, size - w), rng.uniform(0, size - h)
            new = np.array([[bx, by, bx + w, by + h]], np.float32)
            if len(keep_clear) and iou_matrix(new, keep_clear).max() > 0.0:
                continue
            _paste(crop, gtsrb.images[k], gtsrb.rois[k], CLASSES[int(labels[k])].shape, new[0], rng)
            boxes = np.concatenate([boxes, np.round(new)])
            keep_clear = np.concatenate([keep_clear, np.round(new)])
        crop = _photometric(crop, rng)
        if rng.random() < 0.5:  # the localizer ignores the sign's class: mirror images are signs too
            crop = crop[:, ::-1].copy()
            boxes = np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], axis=1)
        X[i] = crop
        Y.append(boxes.astype(np.float32).reshape(-1, 4))
    return X, Y


def targets(boxes: list[np.ndarray], size: int, stride: int = STRIDE) -> np.ndarray:
    """Per crop a (size/stride, size/stride, 6) target: Gaussian heat, log w, log h, offset x, y,
    and 1 at the centre cells (where the box values count)."""
    g = size // stride
    T = np.zeros((len(boxes), g, g, 6), np.float32)
    yy, xx = np.mgrid[0:g, 0:g].astype(np.float32)
    for i, bs in enumerate(boxes):
        for x1, y1, x2, y2 in bs:
            w, h = x2 - x1, y2 - y1
            if w < 2 or h < 2:
                continue
            cx, cy = (x1 + x2) / 2 / stride, (y1 + y2) / 2 / stride
            ix, iy = min(int(cx), g - 1), min(int(cy), g - 1)
            sigma = max(0.6, w / stride / 6)
            heat = np.exp(-((xx - ix) ** 2 + (yy - iy) ** 2) / (2 * sigma ** 2))
            T[i, :, :, 0] = np.maximum(T[i, :, :, 0], heat)
            T[i, iy, ix, 0] = 1.0
            T[i, iy, ix, 1:6] = [np.log(w), np.log(h), cx - ix, cy - iy, 1.0]
    return T


# -- the net --------------------------------------------------------------------------------------------
def build(widths: tuple[int, ...] = (8, 16, 24, 32, 48)):
    """A fully convolutional encoder to a 1/16 grid and back to 1/4, with skips: ~14k parameters."""
    import keras
    from keras import layers as L

    def sep(x, c, s=1):
        x = L.SeparableConv2D(c, 3, strides=s, padding="same", use_bias=False)(x)
        return L.ReLU()(L.BatchNormalization()(x))

    inp = keras.Input((None, None, 3))
    x = L.Rescaling(1 / 255.0)(inp)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(widths[0], 3, strides=2, padding="same", use_bias=False)(x)))
    x = sep(x, widths[1], 2)
    f4 = sep(x, widths[2])
    x = sep(f4, widths[3], 2)
    f8 = sep(x, widths[3])
    x = sep(f8, widths[4], 2)
    x = sep(x, widths[4])
    x = sep(L.Concatenate()([L.UpSampling2D(2)(x), f8]), widths[3])
    x = sep(L.Concatenate()([L.UpSampling2D(2)(x), f4]), widths[2])
    out = L.Conv2D(5, 1, bias_initializer=keras.initializers.Constant([-4.0, 3.0, 3.0, 0.5, 0.5]))(x)
    return keras.Model(inp, out)


def loss(y_true, y_pred):
    """CenterNet's focal loss on the heat, L1 on size (x0.5) and offset at the centre cells."""
    from keras import ops

    t, logit = y_true[..., 0], y_pred[..., 0]
    p = ops.clip(ops.sigmoid(logit), 1e-4, 1 - 1e-4)
    pos = ops.cast(ops.equal(t, 1.0), "float32")
    n = ops.maximum(ops.sum(pos), 1.0)
    focal = -ops.sum(pos * (1 - p) ** 2 * ops.log(p) + (1 - pos) * (1 - t) ** 4 * p ** 2 * ops.log(1 - p)) / n
    m = y_true[..., 5]
    size = ops.sum(m[..., None] * ops.abs(y_true[..., 1:3] - y_pred[..., 1:3])) / n
    off = ops.sum(m[..., None] * ops.abs(y_true[..., 3:5] - y_pred[..., 3:5])) / n
    return focal + 0.5 * size + off


# -- evaluation on whole scenes ---------------------------------------------------------------------------
def scene_recall(net, scenes: list[Path], gts: dict, config: LocateConfig | None = None) -> dict:
    """Candidate recall (IoU >= 0.6 and 0.4) by category on whole scenes, through the Keras net or a
    ``Locator`` (its LiteRT file: what runs)."""
    from training.detmetrics import CATEGORIES, category_of

    config = config or LocateConfig()
    hits = {c: [0, 0, 0] for c in (*CATEGORIES, "all")}
    count = 0
    for p in scenes:
        if hasattr(net, "heat_map"):
            out, scale = net.heat_map(cv2.imread(str(p)))
        else:
            img, scale = letterbox(cv2.imread(str(p)), *INPUT)
            out = np.asarray(net(img[None].astype(np.float32), training=False))[0]
        boxes, _ = decode(out, STRIDE, config, scale)
        count += len(boxes)
        g = gts.get(p.name)
        if g is None:
            continue
        u = iou_matrix(np.asarray(g.boxes, np.float32).reshape(-1, 4), boxes) if len(boxes) else None
        for j, c in enumerate(g.classes):
            best = 0.0 if u is None else float(u[j].max())
            for cat in (category_of(int(c)), "all"):
                hits[cat][0] += 1
                hits[cat][1] += best >= 0.6
                hits[cat][2] += best >= 0.4
    return {"candidates_per_scene": round(count / max(1, len(scenes)), 2),
            **{c: {"signs": s, "recall": round(a / max(1, s), 3), "recall_iou_0.4": round(b / max(1, s), 3)}
               for c, (s, a, b) in hits.items()}}


# share of the crops cut around a hard negative (``--hard-negatives``), in scenes that have one
HARD_SHARE = 0.25
# scenes the int8 export calibrates its activations on (of the model's own training scenes)
CALIBRATION_SCENES = 60


def export(net, out: Path, quantize: str, scenes: list[Path]) -> Path:
    """``net`` as ``out``.tflite at the run-time input size. "int8" calibrates the activations on up
    to ``CALIBRATION_SCENES`` of ``scenes`` (the model's training scenes: a fold's localizer never
    sees its held-out scenes, not even to calibrate), letterboxed as the ``Locator`` feeds them."""
    import keras

    from training.train import export_tflite

    inp = keras.Input((INPUT[1], INPUT[0], 3), batch_size=1)
    step = max(1, len(scenes) // CALIBRATION_SCENES)
    chosen = scenes[::step][:CALIBRATION_SCENES]

    def representative():
        for p in chosen:
            img = cv2.imread(str(p))
            if img is not None:
                yield [letterbox(img, *INPUT)[0][None].astype(np.float32)]

    tfl = out.with_suffix(".tflite")
    export_tflite(keras.Model(inp, net(inp)), tfl, quantize, representative if quantize == "int8" else None)
    return tfl


def _reexport(args, train_scenes: list[Path], held: list[Path], gts: dict) -> int:
    """``--reexport``: the LiteRT file of a trained localizer again, at ``--quantize``; its card updated."""
    import keras

    from realtime.card import sha256

    out = Path(args.out)
    card_path = out.with_suffix(".json")
    try:
        card = json.loads(card_path.read_text())
        net = keras.saving.load_model(out.with_suffix(".keras"), compile=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot re-export {out}: {exc}") from None
    if card.get("training", {}).get("fold") != args.exclude_fold:
        raise ValueError(f"{card_path} was trained without fold {card.get('training', {}).get('fold')}, "
                         f"not {args.exclude_fold}: give its --exclude-fold")
    tfl = export(net, out, args.quantize, train_scenes)
    card["sha256"]["tflite"] = sha256(tfl)
    card["training"]["quantize"] = args.quantize
    if held:
        card["held_out_litert"] = scene_recall(Locator(tfl), held, gts)
        log.info(json.dumps(card["held_out_litert"]))
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    log.info(f"wrote {tfl} ({args.quantize}, {tfl.stat().st_size / 1e3:.0f} kB) and {card_path}")
    return 0


def main(args) -> int:
    import keras

    from realtime.card import sha256
    from training import datasets
    from training.detection_eval import FOLDS, fold_of, list_scenes, read_gt

    t0 = time.time()
    keras.utils.set_random_seed(args.seed)
    all_scenes = list_scenes(args.scenes)
    gts = read_gt(args.gt)
    folds = fold_of([p.name for p in all_scenes])
    k = args.exclude_fold
    train_scenes = [p for p in all_scenes if k is None or folds[p.name] != k]
    held = [p for p in all_scenes if k is not None and folds[p.name] == k]
    if getattr(args, "reexport", False):
        return _reexport(args, train_scenes, held, gts)
    gtsrb = datasets.load(args.data)
    hard, hard_record = None, None
    if getattr(args, "hard_negatives", None):
        hn = Path(args.hard_negatives)
        hard = mine_hard(hn, train_scenes, gts)
        hard_record = {"model": hn.name, "sha256": sha256(hn), "share": HARD_SHARE,
                       "boxes": int(sum(len(b) for b in hard.values()))}
        log.info(f"{hard_record['boxes']} hard negatives from {hn} on the {len(train_scenes)} training scenes")
    share = HARD_SHARE if hard else 0.0
    scenes = Scenes(train_scenes, gts, hard)
    log.info(f"{len(scenes.images)} scenes, {len(gtsrb)} GTSRB signs to paste; synthesizing {args.crops} crops")
    X, B = synthesize(scenes, gtsrb, args.crops, seed=args.seed, hard_share=share)
    Y = targets(B, X.shape[1])
    Xv, Bv = synthesize(scenes, gtsrb, max(200, args.crops // 20), seed=args.seed + 1, hard_share=share)
    Yv = targets(Bv, Xv.shape[1])
    log.info(f"synthesized in {time.time() - t0:.0f} s; {np.mean([len(b) for b in B]):.2f} signs a crop")
    net = build()
    net.compile(optimizer=keras.optimizers.Adam(args.lr), loss=loss)
    sched = keras.callbacks.LearningRateScheduler(
        lambda e, lr: args.lr * (0.5 * (1 + np.cos(np.pi * e / args.epochs))))
    net.fit(X, Y, batch_size=32, epochs=args.epochs, validation_data=(Xv, Yv), callbacks=[sched], verbose=2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    keras_path = out.with_suffix(".keras")
    net.save(keras_path)
    tfl = export(net, out, args.quantize, train_scenes)
    record = {"input_width": INPUT[0], "input_height": INPUT[1], "stride": STRIDE,
              "decode": {"min_heat": LocateConfig().min_heat, "max_candidates": LocateConfig().max_candidates}}
    held_figs = scene_recall(net, held, gts) if held else None
    card = {"format": "tsr-locator/1", "files": {"keras": keras_path.name, "tflite": tfl.name},
            "sha256": {"keras": sha256(keras_path), "tflite": sha256(tfl)}, "locator": record,
            "training": {"scenes": sorted(p.name for p in train_scenes), "fold": k,
                         "folds": FOLDS if k is not None else None,
                         "crops": args.crops, "epochs": args.epochs, "seed": args.seed, "quantize": args.quantize,
                         "hard_negatives": hard_record, "seconds": round(time.time() - t0)},
            "held_out": held_figs}
    out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    if held:  # the LiteRT file's own figures: a quantized export is not the net that was scored
        card["held_out_litert"] = scene_recall(Locator(tfl), held, gts)
        out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    log.info(json.dumps(held_figs))
    log.info(f"wrote {tfl} and {out.with_suffix('.json')} in {time.time() - t0:.0f} s")
    return 0
