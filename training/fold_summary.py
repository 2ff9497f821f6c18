"""Mean and spread over folds of ``evaluate`` reports: the figure a recipe is judged by.

Each fold's model is scored on the tracks it never trained on (``evaluate --split val``); this
reads their ``metrics.json`` files and reports, per measure, the mean, the sample standard
deviation and every fold's value, so no single fold (or the best of several runs) stands for the
recipe.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from training.datasets import DatasetError

log = logging.getLogger(__name__)  # progress and figures; the command line prints them


def _measures(m: dict) -> dict[str, float]:
    lim = m.get("speed_limits") or {}
    out = {"accuracy": float(m["accuracy"]), "macro_f1": float(m["macro_f1"]),
           "errors": float(round(m["n"] * (1.0 - m["accuracy"])))}
    if lim.get("images"):
        out.update({"limit_accuracy": float(lim["accuracy"]),
                    "limit_read_as_another_limit": float(lim["errors_within_group"])})
    return out


def summarise(reports: list[str | Path]) -> dict:
    """{"folds", "framing", "images", "measures": {name: {"mean", "sd", "values"}}} over the
    ``metrics.json`` files in (or at) ``reports``, which must share one framing and split."""
    rows = []
    for r in reports:
        path = Path(r) / "metrics.json" if Path(r).is_dir() else Path(r)
        if not path.is_file():
            raise DatasetError(f"{r}: no metrics.json (run `python -m training evaluate --split val` first)")
        rows.append(json.loads(path.read_text()))
    if len(rows) < 2:
        raise ValueError("a spread over folds needs at least two reports")
    framings, splits = {m.get("framing", "roi") for m in rows}, {m.get("split") for m in rows}
    if len(framings) > 1 or len(splits) > 1:
        raise ValueError(f"the reports mix framings {sorted(framings)} or splits {sorted(map(str, splits))}")
    per = [_measures(m) for m in rows]
    names = [k for k in per[0] if all(k in p for p in per)]
    measures = {}
    for k in names:
        v = np.array([p[k] for p in per])
        measures[k] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)), "values": v.tolist()}
    return {"folds": len(rows), "framing": framings.pop(), "split": splits.pop(),
            "images": int(sum(m["n"] for m in rows)), "models": [m.get("model") for m in rows],
            "measures": measures}


def format_summary(s: dict) -> str:
    lines = [f"{s['folds']} folds, {s['images']} images in all ({s['framing']} framing, split {s['split']}): "
             "mean +- sd over folds (each fold's value)"]
    for k, m in s["measures"].items():
        pct = k.endswith("accuracy") or k == "macro_f1"
        f = (lambda x: f"{100 * x:.2f}%") if pct else (lambda x: f"{x:.1f}")
        lines.append(f"  {k:28s} {f(m['mean'])} +- {f(m['sd'])}  (" + ", ".join(f(x) for x in m["values"]) + ")")
    return "\n".join(lines)


def main(args) -> int:
    s = summarise(args.reports)
    log.info(format_summary(s))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(s, indent=1) + "\n")
        log.info(f"wrote {args.out}")
    return 0
