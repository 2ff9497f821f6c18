"""``python -m training fit-verifier``: a logistic sign-or-clutter head on the recognizer's features.

The gate (10k parameters) passes ~16 candidates a frame; among them are crops that fool both it
and the 43-class recognizer, which must name a class for anything: branches against the sky read
as "roundabout", red-white barriers as "yield", direction signs outside the 43 classes as
"turn right". The recognizer's 256 features tell these apart far better than a 20x20 crop can,
so a logistic regression on them, fitted on the same GTSDB candidates the recognizer sees
(positives: IoU >= 0.5 with a sign, and loosely framed GTSRB signs; negatives: IoU < 0.25),
gives P(sign). A detection's score becomes P(sign) x the class confidence.

Cost at run time: one 256-value dot product per classified crop. Fitting takes seconds, so one
head is fitted per fold of the scenes (contiguous blocks, as for the gate) for honest evaluation,
and one on all scenes for users; all live in the recognizer's card (they mean something only for
that model's features, so refit whenever the recognizer changes: ``make fit-verifier``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from realtime.boxes import iou_matrix
from realtime.card import ModelCard, card_path_for
from realtime.classifier import DEFAULT_GATE, Classifier
from realtime.config import Config
from realtime.gate import Gate
from realtime.preprocess import prepare_boxes, to_input
from training import augment, datasets
from training.detection_eval import FOLDS, fold_gates, fold_locators, fold_of, list_scenes
from training.gate import NEGATIVE_IOU, POSITIVE_IOU, scene_boxes

log = logging.getLogger(__name__)  # progress and figures; the command line prints them

LAMBDA = 1e-2  # L2 on standardised features: a light prior for ~4,400 candidates of 256 features each


def fit_logistic(pos: np.ndarray, neg: np.ndarray, lam: float = LAMBDA) -> dict:
    """Class-balanced, L2-regularised logistic regression; the standardisation is folded into ``w, b``."""
    from scipy.optimize import minimize

    x = np.concatenate([pos, neg]).astype(np.float64)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    weight = np.where(y == 1, len(y) / (2.0 * len(pos)), len(y) / (2.0 * len(neg)))
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-3
    z = np.c_[(x - mu) / sd, np.ones(len(x))]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -60, 60)))
        ll = -(weight * (y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9))).sum() / len(y)
        grad = z.T @ (weight * (p - y)) / len(y)
        grad[:-1] += 2 * lam * w[:-1]
        return ll + lam * float(w[:-1] @ w[:-1]), grad

    w = minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 1000}).x
    return {"w": [round(float(v), 7) for v in w[:-1] / sd], "b": round(float(w[-1] - (w[:-1] / sd) @ mu), 7)}


def collect(scenes_dir: str, gt_path: str, clf: Classifier, gate_dir: Path, gate_min: float,
            folds: int = FOLDS, seed: int = 0, locator: Path | None = None) -> dict[str, np.ndarray]:
    """Recognizer features of the candidates each scene's fold gate passes, plus jittered ground truth.

    With ``locator`` (a learned localizer with fold localizers beside it) a scene's candidates
    include those of the fold localizer that never saw it: what that route proposes at run time
    (car wheels, vents: round and dark, unlike anything the colour routes propose) is then among
    the negatives too.
    """
    scenes = list_scenes(scenes_dir)
    names = [p.name for p in scenes]
    gates = fold_gates(gate_dir, names, folds)
    if gates is None:
        raise FileNotFoundError(f"no fold gates in {gate_dir / 'folds'}: run `python -m training train-gate` first")
    locators = None
    if locator is not None:
        locators = fold_locators(Path(locator), names, folds)
        if locators is None:
            raise FileNotFoundError(f"no fold localizers in {Path(locator).parent / 'folds'}: run "
                                    "`make train-locator` first, or fit with --no-locate")
    fold = fold_of(names, folds)
    feats, ious, fs, kinds = [], [], [], []
    for path, img, boxes, gt_boxes, jit in scene_boxes(scenes, gt_path, seed=seed):
        if locators is not None:
            learned = np.array([d.box for d in locators[path.name](img)], np.float32).reshape(-1, 4)
            boxes = np.concatenate([boxes, learned])
        boxes = boxes[Gate(gates[path.name]).scores(img, boxes) >= gate_min]
        both = np.concatenate([boxes, jit])
        if not len(both):
            continue
        feats.append(clf.predict(prepare_boxes(img, both, clf.pre))["features"])
        ious.append(iou_matrix(both, gt_boxes).max(axis=1) if len(gt_boxes) else np.zeros(len(both)))
        fs.append(np.full(len(both), fold[path.name]))
        kinds.append(np.r_[np.zeros(len(boxes), np.int8), np.ones(len(both) - len(boxes), np.int8)])
    return {"features": np.concatenate(feats), "iou": np.concatenate(ious), "fold": np.concatenate(fs),
            "kind": np.concatenate(kinds)}


def gtsrb_features(data: str, clf: Classifier, stride: int = 4, seed: int = 0) -> np.ndarray:
    """Features of every ``stride``-th image of the card's GTSRB training split, framed loosely."""
    ds = datasets.load(data)
    sp = clf.card.training.get("split", {})
    tr, _ = datasets.split_from_record(ds.labels, ds.tracks, {"by": "track", "val_fraction": 0.15, "seed": 0, **sp})
    idx = tr[::stride]
    x = augment.batch([ds.images[i] for i in idx], ds.rois[idx], clf.pre, augment.AugmentConfig(loose_p=0.6),
                      np.random.default_rng(seed))
    return np.concatenate([clf.predict(to_input(x[i:i + 1024]))["features"] for i in range(0, len(x), 1024)])


def _held_out(v: np.ndarray, iou: np.ndarray) -> dict:
    pos, neg = iou >= POSITIVE_IOU, iou < NEGATIVE_IOU
    return {"positives": int(pos.sum()), "negatives": int(neg.sum()),
            "positives_kept_at_0.5": round(float((v[pos] >= 0.5).mean()), 4) if pos.any() else None,
            "negatives_kept_at_0.5": round(float((v[neg] >= 0.5).mean()), 4) if neg.any() else None}


def main(args) -> int:
    from realtime.classifier import Verifier
    from realtime.locate import DEFAULT_LOCATOR

    t0 = time.time()
    clf = Classifier(args.model)
    if "features" not in clf.card.outputs:
        raise ValueError(f"{clf.path} has no features output (retrain it with this version of `train`)")
    gate_path = Path(args.gate or DEFAULT_GATE)
    gate_min = Config.shipped().gate.threshold
    locator = None if getattr(args, "no_locate", False) else Path(getattr(args, "locator", None) or DEFAULT_LOCATOR)
    if locator is not None and not locator.is_file():
        log.info(f"note: no learned localizer at {locator}: fitting on the colour routes' candidates alone")
        locator = None
    data = collect(args.scenes, args.gt, clf, gate_path.parent, gate_min, args.folds, locator=locator)
    extra = gtsrb_features(args.gtsrb, clf)
    log.info(f"{len(data['iou'])} GTSDB crops ({int((data['iou'] >= POSITIVE_IOU).sum())} positive), "
             f"{len(extra)} GTSRB positives, {time.time() - t0:.0f}s")
    f, iou, fold = data["features"], data["iou"], data["fold"]
    heads, held = [], np.zeros(len(iou), np.float32)
    for k in range(args.folds):
        train = fold != k
        head = fit_logistic(np.concatenate([f[train & (iou >= POSITIVE_IOU)], extra]),
                            f[train & (iou < NEGATIVE_IOU)])
        test = (fold == k) & (data["kind"] == 0)
        held[test] = Verifier.from_dict(head)(f[test])
        heads.append({"fold": k, "folds": args.folds, **head, "held_out": _held_out(held[test], iou[test])})
        log.info(f"fold {k}: {heads[-1]['held_out']}")
    cand = data["kind"] == 0
    pooled = _held_out(held[cand], iou[cand])
    main_head = fit_logistic(np.concatenate([f[iou >= POSITIVE_IOU], extra]), f[iou < NEGATIVE_IOU])
    card_file = card_path_for(clf.path)
    card = ModelCard.load(card_file)
    card.extra["verifier"] = {**main_head, "lambda": LAMBDA, "gate": str(gate_path.name), "gate_min": gate_min,
                              "locator": None if locator is None else str(locator.name),
                              "scenes": str(args.scenes), "trained_on_folds": list(range(args.folds)),
                              "cross_validated": pooled}
    card.extra["verifier_folds"] = heads
    card.save(card_file)
    log.info(f"pooled held-out: {pooled}")
    log.info(f"wrote the verifier and {args.folds} fold verifiers into {card_file} ({time.time() - t0:.0f}s)")
    return 0
