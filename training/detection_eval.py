"""``python -m training eval-detection``: the whole system on GTSDB scenes, scored with the benchmark protocol.

Each scene is run on its own (no tracking), so figures compare with the published per-image
results. Rejection thresholds are chosen by k-fold cross-validation over the scenes: thresholds
for a fold are picked on the other folds only, and the held-out results of all folds are pooled
into the headline figures. Detector-only recall is reported too: it needs no model and bounds
what the full system can reach.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from realtime.boxes import dedupe, iou, rescale
from realtime.cascade import Cascade
from realtime.classes import CATEGORIES, NAMES, category_of
from realtime.config import CONSISTENCY, Config
from realtime.detect import Detector
from realtime.events import detection_record
from realtime.gate import to_classify
from realtime.profile import Profiler
from realtime.reject import Reject, consistent
from realtime.types import Detection
from realtime.versions import library_versions, one_line
from training.detmetrics import IOU_THRESHOLD, ImageBoxes, candidate_recall, evaluate, match, pool, pr_curve
from training.metrics import LIMIT_CLASSES, confusions, limit_report

log = logging.getLogger(__name__)  # progress and figures; the command line prints them

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp")
# min_score grid searched by CV: coarse up to 0.95, then ever closer to 1 (softmax scores crowd there)
THRESHOLDS = np.unique(np.round(np.concatenate([np.arange(0.30, 0.95, 0.05),
                                                1 - np.logspace(np.log10(0.05), -4, 22)]), 6))
FOLDS = 5
# gate_min values the cross-validation chooses from (the scenes are classified once, at the lowest):
# a speed setting too, so a tie goes to the higher value, which classifies fewer crops
GATE_GRID = (0.05, 0.1, 0.2, 0.3)


def read_gt(path: Path | str) -> dict[str, ImageBoxes]:
    """GTSDB ``gt.txt`` (``file;x1;y1;x2;y2;class``) as boxes per image file name."""
    rows: dict[str, list[list[float]]] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(";")
        if len(parts) != 6:
            raise ValueError(f"{path}:{n}: expected 'file;x1;y1;x2;y2;class', got {line!r}")
        rows.setdefault(parts[0], []).append([float(v) for v in parts[1:]])
    return {k: ImageBoxes(np.array(v)[:, :4], np.array(v)[:, 4]) for k, v in rows.items()}


def list_scenes(folder: Path | str) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"scene folder not found: {folder}")
    scenes = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not scenes:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return scenes


def fold_of(names: Sequence[str], k: int = FOLDS) -> dict[str, int]:
    """Scene -> fold: contiguous blocks of the sorted names.

    GTSDB scenes are in recording order and neighbours often show the same street, the same
    parked red car: interleaved folds would let a learned part (the gate) see on one fold the
    very clutter it is scored on in the next.
    """
    order = sorted(names)
    return {n: i * k // len(order) for i, n in enumerate(order)}


def to_boxes(dets: Sequence[Detection], candidates: bool = False) -> ImageBoxes:
    score = (lambda d: d.candidate_score) if candidates else (lambda d: d.score)
    return ImageBoxes(np.array([d.box for d in dets], np.float64).reshape(-1, 4),
                      [-1 if candidates else d.class_id for d in dets], [score(d) for d in dets])


def rejection_pool(classified: Mapping[str, list[Detection]], mode: str, cfg: Config
                   ) -> dict[str, list[Detection]]:
    """Consistent detections per scene, de-duplicated, not yet thresholded.

    Thresholding keeps a score prefix of this list, so one matching serves every threshold.
    """
    r = cfg.reject
    return {n: dedupe([d for d in ds if consistent(d, d.class_id, mode, r.shape_min_width)], r.dedupe_iou,
                      r.dedupe_centre) for n, ds in classified.items()}


def estimate_box_scale(classified: Mapping[str, list[Detection]], gts: Mapping[str, ImageBoxes],
                       min_iou: float = 0.5) -> tuple[float, float]:
    """Median (width, height) of ground-truth boxes over the detections of their class that overlap
    them by ``min_iou`` or more: what scales the box head's boxes to the annotation's (1, 1 if none)."""
    ratios = []
    for n, dets in classified.items():
        gt = gts.get(n)
        if gt is None:
            continue
        for d in dets:
            overlap, g = max(((iou(g, d.box), g) for g, c in zip(gt.boxes, gt.classes) if c == d.class_id),
                             key=lambda t: t[0], default=(0.0, None))
            if overlap >= min_iou:
                ratios.append(((g[2] - g[0]) / max(d.width, 1e-6), (g[3] - g[1]) / max(d.height, 1e-6)))
    if not ratios:
        return 1.0, 1.0
    sx, sy = np.median(np.array(ratios), axis=0)
    return round(float(sx), 3), round(float(sy), 3)


def with_box_scale(classified: Mapping[str, list[Detection]], scale: Sequence[float]) -> dict[str, list[Detection]]:
    """Every detection's box scaled as the classify stage does with ``box_scale``."""
    return {n: [replace(d, box=rescale(d.box, scale)) for d in ds] for n, ds in classified.items()}


ROUTES = ("red", "blue", "yellow", "achromatic")


@dataclass
class _Ranked:
    """Consistent detections of some scenes, matched once (class must match); thresholds only select."""

    scores: np.ndarray
    tp: np.ndarray
    routes: np.ndarray
    n_gt: int

    @classmethod
    def build(cls, dets: Mapping[str, list[Detection]], gts: Mapping[str, ImageBoxes]) -> _Ranked:
        p = pool({n: to_boxes(d) for n, d in dets.items()}, gts, same_class=True)
        routes = [d.colour for n in sorted(set(dets) | set(gts)) for d in dets.get(n, [])]
        return cls(p.scores, p.tp, np.array(routes, dtype=object), len(p.gt_hit))

    def f1(self, thr: Mapping[str, float], default: float) -> float:
        t = np.array([thr.get(r, default) for r in self.routes], np.float64)
        keep = self.scores >= t
        n_det = int(keep.sum())
        return 2 * int(self.tp[keep].sum()) / (n_det + self.n_gt) if n_det + self.n_gt else 0.0


def choose_thresholds(ranked: _Ranked) -> tuple[float, dict[str, float], float]:
    """A common threshold from the grid, then one pass of per-route refinements, all by end-to-end F1.

    Matching is done once for the whole ranked list (greedy by score), so a candidate threshold
    costs a vector comparison; the held-out figures are re-matched exactly.
    """
    common = max(THRESHOLDS, key=lambda t: (ranked.f1({}, t), -t))
    per: dict[str, float] = {}
    best = ranked.f1(per, common)
    for route in (*ROUTES, "learned"):
        if not np.any(ranked.routes == route):
            continue
        for t in THRESHOLDS:
            f = ranked.f1({**per, route: float(t)}, common)
            if f > best + 1e-9:
                best, per[route] = f, float(t)
    return float(common), per, best


def cross_validate(classified: Mapping[str, list[Detection]], gts: Mapping[str, ImageBoxes],
                   base: Config, k: int = FOLDS, gates: Mapping[str, np.ndarray] | None = None,
                   ) -> tuple[dict[str, list[Detection]], list[dict]]:
    """Choose box scale, consistency mode and thresholds on k-1 folds, apply them to the held-out fold,
    for every fold. ``classified`` holds the box head's boxes unscaled.

    ``gates``, where given, holds the gate's P(sign) of each classified detection (aligned with
    ``classified``), which were classified at the lowest ``GATE_GRID`` value or lower: each fold
    then chooses ``gate_min`` too. Keeping the detections gated at ``g`` or more is exactly what
    classifying at ``gate_min = g`` gives: each crop is judged on its own, and ``pre_nms`` keeps
    a crop by the better-gated crops alone.

    Returns the held-out accepted detections of all scenes and what each fold chose and scored.
    """
    folds = fold_of(list(classified), k)
    grid = [base.gate.threshold] if gates is None else list(GATE_GRID)
    at = {g: classified if gates is None else gated(classified, gates, g) for g in grid}
    accepted: dict[str, list[Detection]] = {}
    per_fold = []
    for f in range(k):
        train = {n for n, g in folds.items() if g != f}
        test = [n for n, g in folds.items() if g == f]
        gtr = {n: g for n, g in gts.items() if n in train}
        options = []
        for g in grid:
            scale = estimate_box_scale({n: d for n, d in at[g].items() if n in train}, gtr)
            pools = {m: rejection_pool(with_box_scale(at[g], scale), m, base) for m in CONSISTENCY}
            for m in CONSISTENCY:
                common, per, f1 = choose_thresholds(_Ranked.build({n: d for n, d in pools[m].items() if n in train},
                                                                  gtr))
                options.append((f1, m, common, per, g, scale, pools[m]))
        # a tie goes to the stricter check, as in ``recommend`` (it guards precision on other footage),
        # then to the higher gate_min (fewer crops to classify)
        f1, mode, common, per, gate_min, scale, chosen = max(
            options, key=lambda o: (round(o[0], 9), CONSISTENCY.index(o[1]), o[4]))
        cfg = base.replace(reject=dict(consistency=mode, min_score=common, route_min_score=per),
                           gate=dict(threshold=gate_min))
        held = {n: [d for d in chosen[n] if d.score >= cfg.reject.threshold(d.colour)] for n in test}
        accepted.update(held)
        r = evaluate({n: to_boxes(d) for n, d in held.items()}, {n: gts[n] for n in test if n in gts})
        per_fold.append({"fold": f, "scenes": len(test), "box_scale": list(scale), "consistency": mode,
                         "gate_min": gate_min, "min_score": common,
                         "route_min_score": per, "train_f1_end_to_end": round(f1, 4), "held_out": _brief(r)})
    return accepted, per_fold


def gated(classified: Mapping[str, list[Detection]], gates: Mapping[str, np.ndarray], gate_min: float
          ) -> dict[str, list[Detection]]:
    """The classified detections whose gate P(sign) is ``gate_min`` or more (``gates`` aligned with them)."""
    return {n: [d for d, g in zip(ds, gates[n], strict=True) if g >= gate_min] for n, ds in classified.items()}


def recommend(per_fold: Sequence[dict]) -> dict:
    """The settings to ship: the per-fold choices' median (thresholds) and majority (mode).

    A tie between modes goes to the stricter check: it costs little recall and guards precision.
    """
    modes = [f["consistency"] for f in per_fold]
    routes = sorted({r for f in per_fold for r in f["route_min_score"]})
    out = {"box_scale": [float(v) for v in np.median([f.get("box_scale", (1.0, 1.0)) for f in per_fold], axis=0)],
           "consistency": max(sorted(set(modes)), key=lambda m: (modes.count(m), CONSISTENCY.index(m))),
           "min_score": float(np.median([f["min_score"] for f in per_fold])),
           "route_min_score": {r: float(np.median([f["route_min_score"].get(r, f["min_score"]) for f in per_fold]))
                               for r in routes}}
    out["gate_min"] = float(sorted(f["gate_min"] for f in per_fold)[(len(per_fold) - 1) // 2])  # a grid value
    return out


def _brief(r: dict) -> dict:
    keys = ("precision", "recall", "ap", "n_gt", "tp", "fp", "fn")
    out = {c: {k: r["categories"][c][k] for k in keys} for c in CATEGORIES}
    out["overall"] = {k: r["overall"][k] for k in keys}
    out["end_to_end"] = {k: r["end_to_end"][k] for k in keys}
    return out


def _round(x):
    if isinstance(x, float):
        return None if np.isnan(x) else round(x, 4)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_round(v) for v in x]
    return x


# -- figures ------------------------------------------------------------------------------------
def plot_pr(ranked: Mapping[str, list[Detection]], gts: Mapping[str, ImageBoxes], path: Path,
            marks: Mapping[str, dict] | None = None) -> None:
    """Precision/recall curves per category and end to end, over the consistent, un-thresholded list."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boxes = {n: to_boxes(d) for n, d in ranked.items()}
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for cat in CATEGORIES:
        def keep(c, cat=cat):
            return (c >= 0 and category_of(c) == cat)
        p = pool(boxes, gts, keep, keep)
        if len(p.gt_hit):
            r, pr = pr_curve(p.scores, p.tp, len(p.gt_hit))
            ax.plot(r, pr, label=f"{cat} ({len(p.gt_hit)} signs)")
    p = pool(boxes, gts, same_class=True)
    if len(p.gt_hit):
        r, pr = pr_curve(p.scores, p.tp, len(p.gt_hit))
        ax.plot(r, pr, "k--", label="end to end (class must match)")
    for name, m in (marks or {}).items():
        if m.get("recall") is not None and m.get("precision") is not None:
            ax.plot([m["recall"]], [m["precision"]], "o", label=name)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.01),
           title="GTSDB, IoU >= 0.6 (ranked by CNN confidence)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_scene(image: np.ndarray, dets: Sequence[Detection], gt: ImageBoxes | None) -> np.ndarray:
    """Hits green, missed signs red, false alarms yellow, each labelled."""
    out = image.copy()
    gt = gt if gt is not None else ImageBoxes(np.zeros((0, 4)), np.zeros(0))
    from training.detmetrics import match

    tp, hit = match(to_boxes(dets), gt, same_class=True)
    for d, ok in zip(dets, tp):
        x1, y1, x2, y2 = (int(round(v)) for v in d.box)
        colour = (0, 200, 0) if ok else (0, 230, 255)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(out, f"{d.class_id} {d.score:.2f}", (x1, max(10, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colour, 1, cv2.LINE_AA)
    for b, c, h in zip(gt.boxes, gt.classes, hit):
        if not h:
            x1, y1, x2, y2 = (int(round(v)) for v in b)
            cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 255), 2)
            cv2.putText(out, f"miss {int(c)}", (x1, y2 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 255), 1,
                        cv2.LINE_AA)
    return out


# -- the command --------------------------------------------------------------------------------
def run_scenes(cascade: Cascade | None, detector: Detector, scenes: Sequence[Path],
               gates: Mapping[str, object] | None = None, verifiers: Mapping[str, object] | None = None,
               locators: Mapping[str, object] | None = None):
    """Classified candidates (or bare candidates without a model) per scene, and stage timings in ms.

    Each scene runs through ``cascade.trace``: the stage order of ``realtime run`` itself. ``gates``,
    ``verifiers`` and ``locators`` map a scene name to the gate model, the verifier and the learned
    localizer that score it (those of the fold that never saw it); the cascade's own where they are
    not given. A scene's candidates are the detector's (the fifth return value: how many), then the
    closer look's, then the localizer's (route "learned"), in the order of their gate scores.
    """
    from realtime.gate import Gate

    classified: dict[str, list[Detection]] = {}
    cands: dict[str, list[Detection]] = {}
    coarse: dict[str, int] = {}
    gate_scores: dict[str, np.ndarray] = {}
    times: dict[str, list[float]] = {}
    profiler = Profiler()
    folds: dict[tuple, Cascade] = {}  # one cascade per fold's models, built once
    for path in scenes:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"cannot read image {path}")
        profiler.reset()
        t0 = time.perf_counter()
        if cascade is None:
            with profiler.stage("detect"):
                c = detector(img)
            coarse[path.name] = len(c)
        else:
            models = tuple((m or {}).get(path.name) for m in (gates, locators, verifiers))
            key = tuple(id(m) for m in models)
            if key not in folds:
                g, loc, v = models
                folds[key] = cascade.with_models(
                    **({} if g is None else {"gate": Gate(g)}), **({} if loc is None else {"locator": loc}),
                    **({} if v is None else {"verifier": v}), profiler=profiler)
            trace = folds[key].trace(img)
            c, gate_scores[path.name] = trace.proposal.candidates, trace.proposal.gate
            coarse[path.name], classified[path.name] = trace.detector_count, trace.classified
        cands[path.name] = c
        profiler.add("total", (time.perf_counter() - t0) * 1e3)
        for stage, ms in profiler.total.items():
            times.setdefault(stage, []).append(ms)
    return classified, cands, gate_scores, times, coarse


def recognizer_at_gt(recognizer, scenes: Sequence[Path], gts: Mapping[str, ImageBoxes]) -> dict:
    """The recognizer alone on every annotated sign of the scenes, each framed from its annotated box
    as the detector's boxes are: real-scene crops that no model trained on (the scenes are not
    GTSRB), so a check of recognition on unseen data apart from detection. Accuracy overall and per
    category, the speed-limit group's report, and every confusion (true, predicted, count)."""
    truth, pred = [], []
    for path in scenes:
        g = gts.get(path.name)
        if g is None or not len(g.boxes):
            continue
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot read image {path}")
        truth.extend(int(c) for c in g.classes)
        pred.extend(int(c) for c in recognizer.classify_boxes(img, g.boxes).ids)
    t, p = np.array(truth, np.int64), np.array(pred, np.int64)
    cats = np.array([category_of(int(c)) for c in t.tolist()])
    return {"signs": len(t), "accuracy": float((t == p).mean()) if len(t) else None,
            "categories": {c: {"signs": int((cats == c).sum()),
                               "accuracy": float((t[cats == c] == p[cats == c]).mean()) if (cats == c).any() else None}
                           for c in CATEGORIES},
            "speed_limits": limit_report(t, p, LIMIT_CLASSES),
            "confusions": confusions(t, p)}


MISS_REASONS = ("no candidate within IoU 0.3", "the gate scores it under gate_min",
                "the box head's box misses IoU 0.6", "wrong class", "route inconsistent with the class",
                "score under the route's threshold", "lost to another detection (de-duplication)")


def miss_reasons(accepted: Mapping[str, list[Detection]], cands: Mapping[str, list[Detection]],
                 gate_scores: Mapping[str, np.ndarray], classified: Mapping[str, list[Detection]],
                 gts: Mapping[str, ImageBoxes], cfg: Config) -> dict[str, dict]:
    """Why each sign that ``accepted`` misses (matched as the benchmark does: IoU >= 0.6, the right
    class, one detection a sign) is missed: the first stage, in pipeline order, where none of the
    candidates near it (IoU >= 0.3) got through.

    ``classified`` holds, per scene, what the classify stage returns: one detection
    for each candidate ``to_classify`` picks, in candidate order, with its box as reported.
    Per reason: how many signs, how many of them under 32 px, and the list of them (``missed``).
    """
    out: dict[str, dict] = {r: {"signs": 0, "under_32px": 0, "missed": []} for r in MISS_REASONS}
    for n, gt in gts.items():
        scene_cands = cands.get(n, [])
        passed = to_classify(scene_cands, gate_scores.get(n, np.ones(len(scene_cands))), cfg.gate)
        classified_of = dict(zip(passed.tolist(), classified.get(n, []), strict=True))
        _, hit = match(to_boxes(accepted.get(n, [])), gt, same_class=True)
        for b, c, found in zip(gt.boxes, gt.classes, hit):
            if found:
                continue
            overlap = [iou(b, d.box) for d in scene_cands]
            near = [i for i, u in enumerate(overlap) if u >= 0.3]
            dets = [classified_of[i] for i in near if i in classified_of]
            framed = [d for d in dets if iou(b, d.box) >= IOU_THRESHOLD]
            right = [d for d in framed if d.class_id == c]
            fits = [d for d in right if consistent(d, d.class_id, cfg.reject.consistency, cfg.reject.shape_min_width)]
            steps = (near, dets, framed, right, fits, [d for d in fits if d.score >= cfg.reject.threshold(d.colour)])
            reason = next((r for r, got in zip(MISS_REASONS, steps) if not got), MISS_REASONS[-1])
            out[reason]["signs"] += 1
            out[reason]["under_32px"] += int(b[2] - b[0] < 32)
            # each sign, so a reader can go and look at it: scene, box, class, and how close the
            # detector came (the best IoU of any candidate)
            out[reason]["missed"].append({"scene": n, "box": [round(float(v), 1) for v in b], "class_id": int(c),
                                          "best_candidate_iou": round(max(overlap, default=0.0), 3)})
    return out


def fold_verifiers(card, names: Sequence[str], k: int = FOLDS) -> dict[str, object] | None:
    """Scene -> the verifier fitted without that scene's fold, from the recognizer's card (None if absent)."""
    from realtime.classifier import Verifier

    heads = {h["fold"]: h for h in card.extra.get("verifier_folds", []) if h.get("folds") == k}
    if sorted(heads) != list(range(k)):
        return None
    return {n: Verifier.from_dict(heads[f]) for n, f in fold_of(list(names), k).items()}


def _by_fold(names: Sequence[str], k: int, load) -> dict[str, object] | None:
    """Scene -> ``load(f)`` for its fold ``f`` (the model trained without that fold); None when
    ``load`` finds no model for some fold."""
    models = {}
    for f in range(k):
        models[f] = load(f)
        if models[f] is None:
            return None
    return {n: models[f] for n, f in fold_of(list(names), k).items()}


def fold_gates(gate_dir: Path, names: Sequence[str], k: int = FOLDS) -> dict[str, object] | None:
    """Scene -> the gate trained without that scene's fold, from ``gate_dir/folds`` (None if absent)."""
    from realtime.card import ModelCard
    from realtime.classifier import Classifier

    def load(f: int):
        card_path = gate_dir / "folds" / f"gate_fold{f}.json"
        if not card_path.is_file():
            return None
        card = ModelCard.load(card_path)
        if card.training.get("fold") != f or card.training.get("folds") != k:
            raise ValueError(f"{card_path} was trained for fold {card.training.get('fold')} of "
                             f"{card.training.get('folds')}, not fold {f} of {k}")
        return Classifier(card_path)

    return _by_fold(names, k, load)


def _timing(times: dict[str, list[float]]) -> dict:
    return {k: {"mean_ms": float(np.mean(v)), "median_ms": float(np.median(v)), "p95_ms": float(np.percentile(v, 95))}
            for k, v in times.items() if v}


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else "-"


def _table(title: str, r: dict) -> str:
    rows = [f"{title}", f"{'':14s}{'signs':>6s}{'prec':>8s}{'recall':>8s}{'AP':>8s}{'TP':>5s}{'FP':>5s}{'FN':>5s}"]
    def fmt(v):
        return (f"{v:8.3f}" if isinstance(v, float) else f"{'-':>8s}")
    for name, s in [*((c, r["categories"][c]) for c in CATEGORIES), ("all (loc.)", r["overall"]),
                    ("end to end", r["end_to_end"])]:
        rows.append(f"{name:14s}{s['n_gt']:6d}{fmt(s['precision'])}{fmt(s['recall'])}{fmt(s['ap'])}"
                    f"{s['tp']:5d}{s['fp']:5d}{s['fn']:5d}")
    return "\n".join(rows)


def read_detections(path: Path, names: set[str]) -> dict[str, list[Detection]]:
    """Accepted detections per scene from a JSON-lines file in the event format (``source``, ``box``,
    ``class_id``, ``score``; other fields ignored), as ``realtime run`` on a folder writes it."""
    dets: dict[str, list[Detection]] = {n: [] for n in names}
    with open(path) as fh:
        for k, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                name = Path(str(rec["source"])).name
                det = Detection(box=tuple(float(v) for v in rec["box"]), class_id=int(rec["class_id"]),
                                score=float(rec["score"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{k}: not a detection line ({exc.__class__.__name__}: {exc})") from None
            if len(det.box) != 4:
                raise ValueError(f"{path}:{k}: a box needs 4 numbers, got {len(det.box)}")
            if name not in dets:
                raise ValueError(f"{path}:{k}: {name} is not one of the scenes")
            dets[name].append(det)
    return dets


def score_file(path: Path, scenes: Sequence[Path], gts_all: Mapping[str, ImageBoxes], out: Path) -> int:
    """The benchmark protocol on a detections file: the same metrics, table and files as a run,
    so the output of ``realtime run`` and this command's own figures can be checked against each other."""
    if not path.is_file():
        raise FileNotFoundError(f"detections file not found: {path}")
    names = {p.name for p in scenes}
    dets = read_detections(path, names)
    gts = {n: g for n, g in gts_all.items() if n in names}
    scored = evaluate({n: to_boxes(d) for n, d in dets.items()}, gts)
    out.mkdir(parents=True, exist_ok=True)
    report = {"scenes": len(scenes), "signs": int(sum(len(g) for g in gts.values())), "detections_file": str(path),
              "detections": int(sum(len(d) for d in dets.values())), "scored": scored}
    log.info(_table(f"{path.name}: {report['detections']} detections on {len(scenes)} scenes", scored))
    plot_pr(dets, gts, out / "pr_curves.png", {path.name: scored["end_to_end"]})
    _draw_examples(scenes, dets, gts, out)
    (out / "report.json").write_text(json.dumps(_round(report), indent=1) + "\n")
    log.info(f"wrote {out / 'report.json'}, pr_curves.png, scene_*.png")
    return 0


def fold_locators(model: Path, names: Sequence[str], k: int = FOLDS) -> dict[str, object] | None:
    """Scene -> the learned localizer trained without that scene's fold, from ``folds/`` beside
    ``model`` (None if any is absent)."""
    from realtime.locate import Locator

    def load(f: int):
        path = model.parent / "folds" / f"{model.stem}_fold{f}.tflite"
        if not path.is_file():
            return None
        loc = Locator(path)
        if loc.card.get("training", {}).get("fold") != f or loc.card.get("training", {}).get("folds") != k:
            raise ValueError(f"{path} was not trained for fold {f} of {k}")
        return loc

    return _by_fold(names, k, load)


def main(args) -> int:
    """Run the system over ``args.scenes``, score it against ``args.gt``, write everything to ``args.out``."""
    cv2.setNumThreads(1)  # the detector is meant for one core; time it that way
    out = Path(args.out)
    scenes = list_scenes(args.scenes)
    if getattr(args, "detections", None):
        return score_file(Path(args.detections), scenes, read_gt(args.gt), out)
    out.mkdir(parents=True, exist_ok=True)
    names = {p.name for p in scenes}
    gts = {n: g for n, g in read_gt(args.gt).items() if n in names}
    shipped = _shipped_config(args)
    detector = Detector(shipped.detect)
    cascade, folds = _cascade(args, shipped, [p.name for p in scenes])
    classified, cands, gate_scores, times, coarse = run_scenes(cascade, detector, scenes, *folds)
    report = _stage1_report(scenes, gts, cands, coarse, times, detector, cascade, folds)
    if cascade is None:
        (out / "report.json").write_text(json.dumps(_round(report), indent=1) + "\n")
        return 0
    cfg = shipped
    report["model"] = str(cascade.classify.recognizer.path)
    rec = report["recognizer_at_gt_boxes"] = recognizer_at_gt(cascade.classify.recognizer, scenes, gts)
    if rec["signs"]:
        log.info(f"recognizer alone on the {rec['signs']} annotated signs: accuracy {rec['accuracy']:.2%}; "
                 + ", ".join(f"{c} {v['accuracy']:.2%}" for c, v in rec["categories"].items() if v["signs"])
                 + "; most confused: "
                 + (", ".join(f"{r['true']}->{r['pred']} {r['count']}" for r in rec["confusions"][:5]) or "none"))
    report["config"] = cfg.to_dict()
    # each classified detection's gate P(sign): the folds choose the gate threshold by it
    gate_of = {n: gate_scores[n][to_classify(cands[n], gate_scores[n], cascade.classify.gate)] for n in classified}
    report["crops_per_scene"] = {str(g): round(sum(int((a >= g).sum()) for a in gate_of.values())
                                               / max(1, len(scenes)), 2) for g in GATE_GRID}
    # the configured cascade, as `realtime run` reports
    reported = with_box_scale(gated(classified, gate_of, cfg.gate.threshold), cfg.classify.box_scale)
    accepted = {n: Reject(cfg.reject)(d) for n, d in reported.items()}
    _configured(report, accepted, cands, gate_scores, reported, gts, cfg, out)
    if len(scenes) >= 2 * FOLDS:
        # without a gate every candidate is classified: there is no gate threshold to choose
        _cross_validated(report, classified, gts, cfg, gate_of if cascade.gate is not None else None)
    ranked = rejection_pool(reported, cfg.reject.consistency, cfg)
    marks = {"configured": report["configured"]["end_to_end"]}
    if "cross_validated" in report:
        marks["cross-validated"] = report["cross_validated"]["pooled_held_out"]["end_to_end"]
    plot_pr(ranked, gts, out / "pr_curves.png", marks)
    _draw_examples(scenes, accepted, gts, out)
    (out / "report.json").write_text(json.dumps(_round(report), indent=1) + "\n")
    log.info(f"wrote {out / 'report.json'}, detections.jsonl, pr_curves.png, scene_*.png")
    return 0


def _shipped_config(args) -> Config:
    """The configuration ``realtime run`` would use with the same flags."""
    from realtime.cli.args import config_from_args

    return config_from_args(args)


def _cascade(args, shipped: Config, names: list[str]) -> tuple[Cascade | None, tuple]:
    """The cascade the scenes run through, and each scene's fold gate, verifier and localizer (the
    models that never saw it), with a note wherever a model saw the scenes it is scored on.

    Boxes are left unscaled and candidates classified at the lowest gate threshold the folds may
    choose: cross-validation chooses both per fold; "configured" applies the shipped ones.
    """
    from realtime.classifier import DEFAULT_MODEL, resolve_gate
    from realtime.locate import DEFAULT_LOCATOR

    model = getattr(args, "model", None)
    if model is None and not Path(DEFAULT_MODEL).is_file():
        log.info(f"note: no model at {DEFAULT_MODEL} and none given: detector-only figures")
        return None, (None, None, None)
    config = shipped.replace(classify=dict(box_scale=(1.0, 1.0)),
                             gate=dict(threshold=min(GATE_GRID[0], shipped.gate.threshold)))
    gate_path = resolve_gate(getattr(args, "gate", None)) if config.gate.enabled else None
    cascade = Cascade.build(config, model=model, gate=gate_path or "none")
    locators = None
    if cascade.locator is not None:
        locators = fold_locators(DEFAULT_LOCATOR, names)
        if locators is None:
            log.info(f"note: no fold localizers in {DEFAULT_LOCATOR.parent / 'folds'}: the shipped one saw these "
                     "scenes, so the figures below are optimistic")
    gates = fold_gates(gate_path.parent, names) if cascade.gate is not None else None
    verifiers = fold_verifiers(cascade.classify.recognizer.card, names)
    if cascade.classify.verifier is not None and verifiers is None:
        log.info("note: the recognizer's card holds no fold verifiers: its verifier saw these scenes, so the "
                 "figures below are optimistic")
    if cascade.gate is None:
        log.info("note: no gate: every candidate goes to the classifier")
    elif gates is None:
        log.info(f"note: no fold gates in {gate_path.parent / 'folds'}: the shipped gate saw these scenes, "
                 "so the figures below are optimistic")
    return cascade, (gates, verifiers, locators)


def _stage1_report(scenes, gts, cands, coarse, times, detector, cascade, folds) -> dict:
    """The report's first part: what the proposers find (recall at IoU 0.6 and 0.4), and the timings."""
    gates, verifiers, locators = folds
    # stage 1's own candidates: the detector's and the learned localizer's (the closer look's are not)
    own = {n: to_boxes(c[:coarse[n]] + [d for d in c[coarse[n]:] if d.colour == "learned"], True)
           for n, c in cands.items()}
    colour = {n: to_boxes(c[:coarse[n]], True) for n, c in cands.items()}
    report: dict = {"scenes": len(scenes), "signs": int(sum(len(g) for g in gts.values())),
                    "versions": library_versions(),
                    "detector_config": asdict(detector.config), "timing": _timing(times),
                    "gate": None if cascade is None or cascade.gate is None else str(cascade.gate.model.path),
                    "gate_cross_validated": gates is not None, "verifier_cross_validated": verifiers is not None,
                    "locator": None if cascade is None or cascade.locator is None else str(cascade.locator.path),
                    "locator_cross_validated": locators is not None,
                    "candidates": candidate_recall(own, gts),
                    # the box head re-frames loosely framed candidates: IoU 0.4 is about its reach
                    "candidates_iou_0.4": candidate_recall(own, gts, threshold=0.4),
                    "candidates_colour_routes": candidate_recall(colour, gts)}
    if cascade is not None and cascade.closer_look is not None:
        report["closer_look_config"] = asdict(cascade.closer_look.config)
        report["closer_look_candidates_per_scene"] = round(
            sum(sum(d.colour != "learned" for d in c[coarse[n]:]) for n, c in cands.items()) / max(1, len(scenes)), 2)
    timing = report["timing"]
    log.info(f"{len(scenes)} scenes, {report['signs']} signs; detect {timing['detect']['mean_ms']:.1f} ms/frame mean, "
             f"locate {timing.get('locate', {}).get('mean_ms', 0.0):.1f}; "
             f"{report['candidates']['candidates_per_image']:.1f} candidates/frame")
    log.info(one_line(report["versions"]))
    for key, thr, who in (("candidates", 0.6, "stage 1"), ("candidates_iou_0.4", 0.4, "stage 1"),
                          ("candidates_colour_routes", 0.6, "colour routes")):
        rec = report[key]
        log.info(f"{who} recall (any candidate at IoU >= {thr}): " + ", ".join(
            f"{c} {rec[c]['recall']:.3f}" for c in (*CATEGORIES, "all") if rec[c]["recall"] is not None))
    return report


def _configured(report: dict, accepted, cands, gate_scores, reported, gts, cfg: Config, out: Path) -> None:
    """The shipped settings scored on the scenes, the detections file, and where the misses go."""
    configured = evaluate({n: to_boxes(d) for n, d in accepted.items()}, gts)
    report["configured"] = configured
    with open(out / "detections.jsonl", "w") as fh:
        for n in sorted(accepted):
            for d in accepted[n]:
                fh.write(json.dumps(detection_record(n, 0, d, NAMES[d.class_id])) + "\n")
    r = cfg.reject
    log.info(_table(f"configured cascade (min_score {r.min_score}, per route {r.route_min_score}, "
                    f"consistency {r.consistency}, box scale {tuple(cfg.classify.box_scale)})", configured))
    log.info("crops classified a scene (first pass) by gate threshold: " + ", ".join(
        f"{g} {c}" for g, c in report["crops_per_scene"].items()))
    misses = miss_reasons(accepted, cands, gate_scores, reported, gts, cfg)
    report["configured_misses"] = misses
    log.info(f"  where its {sum(m['signs'] for m in misses.values())} misses go (signs, of them under 32 px):")
    for reason, m in misses.items():
        if m["signs"]:
            log.info(f"    {reason:<44} {m['signs']:>4} {m['under_32px']:>4}")


def _cross_validated(report: dict, classified, gts, cfg: Config, gate_of) -> None:
    """Thresholds, box scale and gate threshold chosen on k-1 folds, scored on the held-out one."""
    held, per_fold = cross_validate(classified, gts, cfg, gates=gate_of)
    cv = evaluate({n: to_boxes(d) for n, d in held.items()}, gts)
    rec = recommend(per_fold)
    report["cross_validated"] = {"folds": FOLDS, "objective": "end-to-end F1 on the other folds",
                                 "pooled_held_out": cv, "per_fold": per_fold, "recommended": rec}
    log.info(_table(f"{FOLDS}-fold cross-validated (held-out folds pooled)", cv))
    for f in per_fold:
        log.info(f"  fold {f['fold']}: box scale {tuple(f['box_scale'])}, {f['consistency']}, "
                 f"gate threshold {f['gate_min']}, min_score {f['min_score']:.4f}, per route "
                 f"{ {r: round(v, 4) for r, v in f['route_min_score'].items()} }, held-out end-to-end "
                 f"P {_fmt(f['held_out']['end_to_end']['precision'])} R {_fmt(f['held_out']['end_to_end']['recall'])}")
    log.info(f"  recommended: {rec}")


def _draw_examples(scenes: Sequence[Path], accepted: Mapping[str, list[Detection]],
                   gts: Mapping[str, ImageBoxes], out: Path, n: int = 6) -> None:
    """A few scenes with the most going on (signs, errors), drawn for a quick look."""
    def busy(p: Path) -> int:
        return len(gts.get(p.name, ())) + len(accepted.get(p.name, ()))

    for path in sorted(scenes, key=lambda p: (-busy(p), p.name))[:n]:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        from realtime.preprocess import as_bgr8

        cv2.imwrite(str(out / f"scene_{path.stem}.png"), draw_scene(as_bgr8(img), accepted.get(path.name, []),
                                                                    gts.get(path.name)))
