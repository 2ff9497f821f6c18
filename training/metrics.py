"""Classification KPIs computed from labels and scores with plain numpy (no hidden averaging)."""

from __future__ import annotations

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """Rows are true classes, columns predicted."""
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def top_k_accuracy(y_true: np.ndarray, scores: np.ndarray, k: int) -> float:
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean(np.any(top == np.asarray(y_true)[:, None], axis=1)))


def summary(y_true: np.ndarray, scores: np.ndarray, names: list[str], rare: int = 5,
            rarity: np.ndarray | None = None) -> dict:
    """Everything ``metrics.json`` holds. Macro averages run over classes present in ``y_true``.

    ``rarity`` (e.g. the training counts) ranks the rarest classes; default: support here.
    """
    n = scores.shape[1]
    y_pred = scores.argmax(axis=1)
    cm = confusion(y_true, y_pred, n)
    pc = per_class(cm)
    present = pc["support"] > 0
    rank = pc["support"] if rarity is None else np.asarray(rarity)[:n]
    order = np.argsort(np.where(present, rank, np.iinfo(np.int64).max), kind="stable")
    rarest = [int(i) for i in order[:rare] if present[i]]
    return {
        "n": int(len(y_true)),
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else 0.0,
        "macro_precision": float(pc["precision"][present].mean()) if present.any() else 0.0,
        "macro_recall": float(pc["recall"][present].mean()) if present.any() else 0.0,
        "macro_f1": float(pc["f1"][present].mean()) if present.any() else 0.0,
        "top_k": {f"top{k}": top_k_accuracy(y_true, scores, k) for k in (1, 3, 5)},
        "per_class": [
            {"id": i, "name": names[i], "precision": float(pc["precision"][i]), "recall": float(pc["recall"][i]),
             "f1": float(pc["f1"][i]), "support": int(pc["support"][i])}
            for i in range(n)
        ],
        "rarest_classes_recall": {names[i]: float(pc["recall"][i]) for i in rarest},
        "confusion_matrix": cm.tolist(),
    }


# the speed limits (0-5, 7, 8) and the end-of signs a driver reads beside them (6, 32, 41, 42)
LIMIT_CLASSES = [*range(9), 32, 41, 42]


def confusions(y_true_ids: np.ndarray, y_pred_ids: np.ndarray) -> list[dict]:
    """Every confusion, most frequent first: {"true", "pred", "count"} for each (true id, predicted
    id) pair that differ, ties in id order."""
    pairs: dict[tuple[int, int], int] = {}
    for a, b in zip(np.asarray(y_true_ids).tolist(), np.asarray(y_pred_ids).tolist()):
        if a != b:
            pairs[(a, b)] = pairs.get((a, b), 0) + 1
    return [{"true": a, "pred": b, "count": n} for (a, b), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))]


def limit_report(y_true_ids: np.ndarray, y_pred_ids: np.ndarray, limits: list[int]) -> dict:
    """The errors a driver-alert tool minds most: on images of the speed-limit and end-of-limit classes
    (``limits``), accuracy, and every confusion (true id -> predicted id, count), within the group
    (a wrong limit on the panel) and out of it."""
    t, p = np.asarray(y_true_ids), np.asarray(y_pred_ids)
    on = np.isin(t, limits)
    rows = [{**r, "within_group": r["pred"] in limits} for r in confusions(t[on], p[on])]
    n = int(on.sum())
    return {"classes": sorted(limits), "images": n,
            "accuracy": float((t[on] == p[on]).mean()) if n else None,
            "errors_within_group": sum(r["count"] for r in rows if r["within_group"]),
            "errors_out_of_group": sum(r["count"] for r in rows if not r["within_group"]),
            "confusions": rows}
