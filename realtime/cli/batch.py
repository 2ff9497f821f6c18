"""``batch SOURCES... --output DIR``: many video files on Ray, one task a video, resumable."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from realtime.cli.args import add_pipeline_options, config_from_args, positive_int

HELP = "many video files on Ray (local cores or a cluster): event logs, signs.csv, summary.json; resumable"
NO_RAY = "error: the batch mode needs Ray: pip install 'traffic-signs[fleet]'"


def add_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="video files, folders of them (searched recursively), or .txt files listing paths")
    out = b.add_mutually_exclusive_group(required=True)
    out.add_argument("--output", dest="out", metavar="DIR",
                     help="output folder: <stem>.events.jsonl per video, signs.csv, summary.json")
    out.add_argument("--out", dest="out", help=argparse.SUPPRESS)
    b.add_argument("--workers", type=positive_int, default=None,
                   help=f"videos at once on the local Ray this command starts (default: the cores, {os.cpu_count()})")
    b.add_argument("--address", default=None, metavar="ADDR",
                   help="join a running Ray cluster instead (default: $RAY_ADDRESS if set)")
    b.add_argument("--save-video", action="store_true", help="also write <stem>.annotated.mp4 per video")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_pipeline_options(b)
    b.add_argument("--recognizer", default=None, metavar="MODULE:FUNCTION", help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.show_config:
        print(cfg.to_json())
        return 0
    try:
        import ray  # noqa: F401  (the [fleet] extra)
    except ImportError:
        print(NO_RAY, file=sys.stderr)
        return 2
    from realtime import batch as lib
    from realtime import batch_task as tasks

    try:
        jobs = lib.assign_stems(lib.find_videos(args.sources))
        if not jobs:
            raise lib.BatchError(f"no video files in {' '.join(args.sources)}")
        out = lib.check_out(args.out)
    except lib.BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.address and args.workers:
        print("note: --workers applies to a local Ray; a cluster runs as many videos as it has CPUs", file=sys.stderr)
    settings = lib.Settings(config=cfg, model=args.model, gate=args.gate, backend=args.backend,
                            recognizer=args.recognizer, save_video=args.save_video)
    plan = lib.plan(jobs, out, settings)
    if plan.skipped:
        redo = f"; redoing {plan.unfinished} unfinished" if plan.unfinished else ""
        print(f"skipped {len(plan.skipped)} finished videos{redo}", file=sys.stderr)
    elif plan.unfinished:
        print(f"redoing {plan.unfinished} unfinished videos", file=sys.stderr)
    results = list(plan.skipped)
    failed = []
    todo = {j.path: j for j in plan.todo}
    bar = _progress(plan.todo, args)  # before Ray starts: it may wrap sys.stderr
    started = tasks.start_ray(args.workers, args.address) if todo else False
    try:
        for r in tasks.run_batch(plan.todo, settings, out, on_frames=bar.frames if bar else None):
            todo.pop(r.video, None)
            results.append(r)
            if r.status == "failed":
                failed.append(r)
            if bar is not None:
                bar.video_done(r)
            for w in r.warnings:
                _write(bar, f"warning: {Path(r.video).name}: {w}")
    finally:
        if bar is not None:
            bar.close()
        order = {j.path: i for i, j in enumerate(jobs)}
        lib.write_reports(out, sorted(results, key=lambda r: order[r.video]), todo.values())
        if started:
            import ray

            ray.shutdown()
    for r in failed:
        print(f"error: {r.video}: {r.error}", file=sys.stderr)
    done = [r for r in results if r.status != "failed"]
    frames = sum(r.frames for r in done if r.status == "done")
    print(f"{len(done)} of {len(jobs)} videos done ({len(plan.skipped)} from an earlier batch), "
          f"{frames} frames processed now, {sum(r.signs for r in done)} signs; "
          f"{out / 'signs.csv'}, {out / 'summary.json'}")
    return 1 if failed else 0


def _write(bar, line: str) -> None:
    if bar is not None:
        bar.write(line)
    else:
        print(line, file=sys.stderr)


class _Bar:
    """One bar over the batch's frames (ETA from them), the videos done beside it."""

    def __init__(self, jobs, frame_counts: dict[str, int]) -> None:
        from tqdm import tqdm

        self.counts = frame_counts
        self.videos, self.total_videos, self.n = 0, len(jobs), 0
        self.seen: dict[str, int] = {}
        self.tqdm = tqdm(total=sum(frame_counts.values()) or None, unit="frame", dynamic_ncols=True,
                         file=sys.stderr, disable=None, leave=False)
        self._postfix()

    def _postfix(self) -> None:
        self.tqdm.set_postfix_str(f"videos {self.videos}/{self.total_videos}", refresh=True)

    def frames(self, n: int) -> None:
        total = self.tqdm.total
        n = min(n, total - self.n) if total else n  # a retried video counts its frames again
        if n > 0:
            self.n += n
            self.tqdm.update(n)

    def video_done(self, r) -> None:
        self.videos += 1
        # a failed video will deliver no more frames: take its estimate off the total
        if r.status == "failed" and self.tqdm.total:
            self.tqdm.total = max(self.n, self.tqdm.total - self.counts.get(r.video, 0))
        self._postfix()

    def write(self, line: str) -> None:
        self.tqdm.write(line, file=sys.stderr)

    def close(self) -> None:
        self.tqdm.close()


def _progress(jobs, args: argparse.Namespace):
    if args.no_progress or not jobs or not sys.stderr.isatty():
        return None
    return _Bar(jobs, {j.path: _frame_count(j.path) for j in jobs})


def _frame_count(path: str) -> int:
    """The frame count a video's header states (0 when it does not open), for the bar's total."""
    import cv2

    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)) if cap.isOpened() else 0
    finally:
        cap.release()
