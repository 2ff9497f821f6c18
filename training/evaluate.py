"""``python -m training evaluate``: KPIs of a shipped model on any labelled GTSRB-style set.

Inference goes through ``realtime.classifier.Classifier``, the same code the product runs,
so the figures describe what users get (LiteRT for ``.tflite``, tf.function for ``.keras``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from realtime.classifier import Classifier
from realtime.preprocess import prepare_batch, to_input
from training import augment, datasets, metrics, plots

log = logging.getLogger(__name__)  # progress and figures; the command line prints them


def _backend_for(model: str) -> str:
    return "tf-function" if Path(model).suffix == ".keras" else "litert"


def probabilities(clf: Classifier, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """``clf``'s class probabilities for a whole preprocessed set, in batches that bound memory."""
    return np.concatenate([clf.predict_proba(x[i:i + batch]) for i in range(0, len(x), batch)])


def load_split(data: str, card, split: str = "all") -> datasets.Dataset:
    """The images ``split`` names: "test" (the official test set), "all" (the training set) or
    "val" (the tracks the card's model was validated on, never trained on)."""
    ds = datasets.load(data, split="test" if split == "test" else "train")
    if split == "val":
        sp = card.training.get("split", {})
        if sp.get("by") != "track":
            raise ValueError("the model card records no track-wise split; use --split all")
        _, va = datasets.split_from_record(ds.labels, ds.tracks, sp)  # a val_fraction or a k-fold split
        if not len(va):
            raise ValueError("the model was trained on every track, so it has no validation split; its recipe's "
                             "cross-validated figures are in docs/MODEL.md (use --split all, or a fold's model)")
        ds = ds.subset(va)
    return ds


FRAMINGS = ("roi", "whole")


def inputs(ds: datasets.Dataset, pre, framing: str = "roi") -> np.ndarray:
    """The network inputs of a set: "roi" frames each sign from its annotated box plus the model's
    margin (as the detector's boxes are framed, and training's plain crops); "whole" takes each image
    as it is, the way `realtime classify --no-roi` reads an image file a user cut out."""
    if framing == "roi":
        return to_input(augment.batch(ds.images, ds.rois, pre, None))
    if framing == "whole":
        return prepare_batch(ds.images, pre)
    raise ValueError(f"unknown framing {framing!r}; expected one of {FRAMINGS}")


def ensemble(models: Sequence[str], same_split: bool = False) -> list[Classifier]:
    """The classifiers of ``models``, checked to agree on what averaging their probabilities needs:
    the same classes in the same order and, with ``same_split`` (scoring their validation split), the
    same split recorded in their cards."""
    clfs = [Classifier(m, backend=_backend_for(m)) for m in models]
    first = clfs[0]
    for clf in clfs[1:]:
        if list(clf.class_ids) != list(first.class_ids):
            raise ValueError(f"{clf.path.name} and {first.path.name} have different classes: they cannot be averaged")
        if same_split and clf.card.training.get("split") != first.card.training.get("split"):
            raise ValueError(f"{clf.path.name} and {first.path.name} were validated on different splits")
    return clfs


def evaluate(data: str, model: str | Sequence[str], out: str, split: str = "all", worst: int = 40,
             framing: str = "roi") -> dict:
    """KPIs of ``model`` on ``split`` of ``data``, written to ``out``. Several models are scored as an
    ensemble: the mean of their class probabilities, each model fed with its own preprocessing."""
    if framing not in FRAMINGS:
        raise ValueError(f"unknown framing {framing!r}; expected one of {FRAMINGS}")
    models = [model] if isinstance(model, (str, Path)) else list(model)
    clfs = ensemble(models, same_split=split == "val")
    clf = clfs[0]
    card = clf.card
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = load_split(data, card, split)
    t0 = time.perf_counter()
    probs = sum(probabilities(c, inputs(ds, c.pre, framing)) for c in clfs) / len(clfs)
    secs = time.perf_counter() - t0
    # outputs -> GTSRB ids (a background output, if any, maps to -1 and counts as wrong)
    n_out = probs.shape[1]
    ids = clf.class_ids
    names = card.names
    label_to_out = {int(c): i for i, c in enumerate(ids)}
    unknown = sorted(set(ds.labels.tolist()) - set(label_to_out))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the model's classes")
    y = np.array([label_to_out[int(v)] for v in ds.labels])
    rarity = card.training.get("class_counts_train")
    summ = metrics.summary(y, probs, names, rarity=np.asarray(rarity) if rarity else None)
    summ.update({"model": str(clf.path) if len(clfs) == 1 else [str(c.path) for c in clfs],
                 "data": str(data), "split": split, "framing": framing,
                 "backend": clf.backend,
                 "seconds": round(secs, 2), "ms_per_image": 1000 * secs / max(len(y), 1),
                 "skipped_unreadable": ds.skipped,
                 "tracks_with_errors": track_errors(ds.labels, ds.tracks, probs.argmax(1) != y),
                 # speed limits and end-of-limit signs: a wrong limit on the panel is the worst error
                 "speed_limits": metrics.limit_report(ds.labels, ids[probs.argmax(1)], metrics.LIMIT_CLASSES)})
    (out_dir / "metrics.json").write_text(json.dumps(summ, indent=1) + "\n")

    cm = np.asarray(summ["confusion_matrix"])
    plots.confusion_matrix(cm, out_dir / "confusion_matrix.png",
                           f"{' + '.join(c.path.name for c in clfs)} on {split}, {framing} framing ({len(y)} images): "
                           f"accuracy {summ['accuracy']:.4%}")
    if not plots.training_curves(card.training.get("history", {}), out_dir / "training_curves.png"):
        log.info("note: the model card holds no training history; training_curves.png not written")
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:worst]
    tiles = [cv2.cvtColor(cv2.resize(ds.images[i], (64, 64)), cv2.COLOR_BGR2RGB) for i in wrong]
    caps = [f"true {ids[y[i]]} / pred {ids[pred[i]]}\np={probs[i, pred[i]]:.2f} {Path(ds.paths[i]).name}"
            for i in wrong]
    plots.image_grid(tiles or [np.full((64, 64, 3), 255, np.uint8)], caps or ["no mistakes"],
                     out_dir / "worst_mistakes.png", cols=8,
                     title=f"Most confident mistakes ({len(np.flatnonzero(pred != y))} in all)")
    _log_summary(summ, n_out)
    log.info(f"wrote metrics.json, confusion_matrix.png, training_curves.png, worst_mistakes.png to {out_dir}")
    return summ


def track_errors(labels: np.ndarray, tracks: np.ndarray, wrong: np.ndarray) -> list[dict]:
    """Errors per physical sign (class, track), most first: a few hard tracks vs errors spread thin."""
    n: dict[tuple[int, str], int] = {}
    bad: dict[tuple[int, str], int] = {}
    for key, w in zip(zip(labels.tolist(), tracks.tolist()), np.asarray(wrong, bool).tolist()):
        n[key] = n.get(key, 0) + 1
        bad[key] = bad.get(key, 0) + int(w)
    rows = [{"track": str(t), "class_id": int(c), "errors": bad[(c, t)], "images": n[(c, t)]}
            for c, t in n if bad[(c, t)]]
    return sorted(rows, key=lambda r: (-r["errors"], r["track"]))


def _log_summary(summ: dict, n_out: int) -> None:
    log.info(f"images {summ['n']} ({summ.get('framing', 'roi')} framing)  accuracy {summ['accuracy']:.4%}  "
             f"top3 {summ['top_k']['top3']:.4%}  "
             f"macro P/R/F1 {summ['macro_precision']:.4f}/{summ['macro_recall']:.4f}/{summ['macro_f1']:.4f}  "
             f"({summ['ms_per_image']:.3f} ms/image, {summ['backend']})")
    rows = sorted((r for r in summ["per_class"] if r["support"] > 0), key=lambda r: r["f1"])
    log.info(f"{'id':>3} {'class':<42}{'prec':>8}{'recall':>8}{'F1':>8}{'support':>9}")
    for r in rows:
        log.info(f"{r['id']:>3} {r['name'][:41]:<42}{r['precision']:>8.4f}{r['recall']:>8.4f}{r['f1']:>8.4f}"
                 f"{r['support']:>9}")
    log.info("rarest classes, recall: " + ", ".join(f"{k}: {v:.4f}" for k, v in summ["rarest_classes_recall"].items()))
    lim = summ.get("speed_limits")
    if lim and lim["images"]:
        most = ", ".join(f"{r['true']}->{r['pred']} {r['count']}" for r in lim["confusions"][:6]) or "none"
        log.info(f"speed limits and end-of-limit ({lim['images']} images): accuracy {lim['accuracy']:.4%}, "
                 f"{lim['errors_within_group']} read as another limit, {lim['errors_out_of_group']} as something else; "
                 f"most: {most}")
    bad = summ.get("tracks_with_errors", [])
    if bad:
        errors = sum(r["errors"] for r in bad)
        log.info(f"{errors} errors on {len(bad)} tracks; most: "
                 + ", ".join(f"{r['track']} {r['errors']}/{r['images']}" for r in bad[:5]))
