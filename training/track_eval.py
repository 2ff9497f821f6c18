"""``python -m training eval-driveby``: the whole product on a rendered drive-by, scored per sign track.

A driver cares about signs, not frames: was each sign the car passed reported, with the right
class, and was anything reported that was not there? So the unit here is the track:

* a ground-truth sign (one ``sign_id`` of the renderer) is **found** when a confirmed output track
  overlaps it (IoU >= 0.5 in at least one frame) and the class that track shows most often while
  confirmed is the sign's class;
* a confirmed output track is **false** when it overlaps no ground-truth sign in any frame.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from realtime.boxes import iou

log = logging.getLogger(__name__)  # progress and figures; the command line prints them

MATCH_IOU = 0.5


def read_jsonl(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def score_tracks(events: Iterable[dict], truth: Sequence[dict], match_iou: float = MATCH_IOU) -> dict:
    """Sign-level recall with the right class, and confirmed false tracks.

    ``events`` are the run's JSON lines (``frame``, ``box``, ``class_id``, ``track_id``,
    ``confirmed``); ``truth`` the renderer's lines (``frame``, ``signs``: ``box``, ``class_id``,
    ``sign_id``).
    """
    gt_boxes: dict[int, list[tuple[int, tuple, int]]] = defaultdict(list)  # frame -> (sign, box, class)
    gt_class: dict[int, int] = {}
    first_seen: dict[int, int] = {}  # sign -> the first frame it is in the ground truth
    for line in truth:
        for s in line["signs"]:
            gt_boxes[int(line["frame"])].append((int(s["sign_id"]), tuple(s["box"]), int(s["class_id"])))
            gt_class[int(s["sign_id"])] = int(s["class_id"])
            first_seen.setdefault(int(s["sign_id"]), int(line["frame"]))
    first_right: dict[int, int] = {}  # sign -> the first frame a confirmed track shows it with its class
    shown: dict[int, Counter] = defaultdict(Counter)  # track -> classes shown while confirmed
    hits: dict[int, set[int]] = defaultdict(set)  # track -> signs it overlapped while confirmed
    for e in events:
        if not e.get("confirmed") or e.get("track_id") is None:
            continue
        t = int(e["track_id"])
        shown[t][int(e["class_id"])] += 1
        for sign, box, cls in gt_boxes.get(int(e["frame"]), []):
            if iou(tuple(e["box"]), box) >= match_iou:
                hits[t].add(sign)
                if int(e["class_id"]) == cls and sign not in first_right:
                    first_right[sign] = int(e["frame"])
    found: dict[int, bool] = {s: False for s in gt_class}
    for t, signs in hits.items():
        label = shown[t].most_common(1)[0][0]
        for s in signs:
            found[s] |= label == gt_class[s]
    false_tracks = sorted(t for t in shown if not hits[t])
    n = len(gt_class)
    # frames from a sign's first appearance to its first confirmed, right-class box (found signs only)
    delays = [first_right[s] - first_seen[s] for s, ok in found.items() if ok and s in first_right]
    return {"signs": n, "found_right_class": int(sum(found.values())),
            "confirm_frames_mean": round(sum(delays) / len(delays), 2) if delays else None,
            "confirm_frames": {s: first_right[s] - first_seen[s] for s, ok in found.items() if ok and s in first_right},
            "recall": (sum(found.values()) / n) if n else None,
            "missed": sorted(s for s, ok in found.items() if not ok),
            "confirmed_tracks": len(shown), "false_tracks": len(false_tracks),
            "false_track_ids": false_tracks,
            "false_track_classes": {t: shown[t].most_common(1)[0][0] for t in false_tracks}}


def run_and_score(video: str | Path, gt: str | Path, model: str | None = None, config=None,
                  events: str | Path | None = None) -> dict:
    """Run the system (the shipped one unless ``model``; ``config``, a ``realtime.config.Config``,
    default the shipped settings) over ``video`` headless, then score its events against the
    renderer's ground truth ``gt`` (``score_tracks``); ``events`` keeps the run's log."""
    from realtime.cascade import Cascade
    from realtime.config import Config
    from realtime.pipeline import RunOptions, run
    from realtime.profile import Profiler
    from realtime.source import open_source

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(events) if events else Path(tmp) / "events.jsonl"
        profiler = Profiler()
        run(open_source(video), Cascade.build(config, model=model, profiler=profiler),
            RunOptions(events=log, track=(config or Config.shipped()).track),
            profiler=profiler)
        return score_tracks(read_jsonl(log), read_jsonl(gt))


def main(args) -> int:
    """Run the shipped system over ``args.video`` (no display), then score its events against ``args.gt``."""
    from realtime.cli.args import config_from_args

    r = run_and_score(args.video, args.gt, args.model, config_from_args(args), args.events)
    log.info(f"{args.video}: {r['found_right_class']} of {r['signs']} signs found with the right class "
             f"({r['recall']:.1%}); {r['false_tracks']} confirmed false tracks of {r['confirmed_tracks']}; first "
             f"confirmed {r['confirm_frames_mean']} frames after a sign appears, on average")
    if r["missed"]:
        log.info(f"  missed sign ids: {r['missed']}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1) + "\n")
    return 0
