"""``run SOURCE``: detect, recognise and track signs on a camera, video, folder or stream."""

from __future__ import annotations

import argparse
import sys
import threading

from realtime.cli.args import add_pipeline_options, config_from_args, positive_int

HELP = "detect, recognise and track signs on a camera, video, folder or stream"


def add_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("source", help="camera index (0), video file, image folder, image file or stream URL")
    add_pipeline_options(r)
    r.add_argument("--output", default=None, metavar="PATH",
                   help="annotated output: a video file (.mp4, H.264 where PyAV is installed) for video; an image "
                        "file for an image; a folder for a folder of images")
    r.add_argument("--events", default=None, metavar="FILE.jsonl", help="one JSON line per detection")
    r.add_argument("--snapshot", default=None, metavar="FILE.png",
                   help="annotated frame with the most confirmed signs")
    r.add_argument("--summary", default=None, metavar="FILE.json", help="the run's summary as JSON")
    r.add_argument("--tracks", default=None, metavar="FILE.csv",
                   help="one row per confirmed sign track: class, label, first and last frame and time, best score")
    r.add_argument("--hud", default="full", choices=("full", "fps", "none"),
                   help="timing box on the annotated frames: FPS and per-stage ms, FPS only, or none "
                        "(default: full)")
    r.add_argument("--stride", type=positive_int, default=1, help="files: process every Nth frame/image (default: 1)")
    r.add_argument("--no-display", action="store_true", help="no window (automatic without a display)")
    r.add_argument("--max-frames", type=positive_int, default=None,
                   help="stop after N processed frames (default: the whole source)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--recognizer", default=None, metavar="MODULE:FUNCTION",
                   help="plug in another recognizer: a factory called with model=... returning "
                        "a callable frame -> list[Detection]")


def build(args: argparse.Namespace, profiler):
    """The recognizer a command runs: the cascade with the configuration in effect, or a factory's."""
    from realtime.pipeline import load_recognizer

    if getattr(args, "recognizer", None):
        if getattr(args, "min_score", None) is not None:
            print("note: --min-score applies to the shipped recognizer, not to --recognizer", file=sys.stderr)
        return load_recognizer(args.recognizer, getattr(args, "model", None))
    from realtime.cascade import Cascade

    return Cascade.build(config_from_args(args), model=getattr(args, "model", None), gate=getattr(args, "gate", None),
                         backend=getattr(args, "backend", "litert"), profiler=profiler)


def main(args: argparse.Namespace) -> int:
    from realtime.cli.display import Viewer, display_available
    from realtime.draw import Painter
    from realtime.pipeline import RunOptions, check_outputs, run
    from realtime.profile import Profiler
    from realtime.source import open_source

    cfg = config_from_args(args)
    if args.show_config:
        print(cfg.to_json())
        return 0
    source = open_source(args.source, stride=args.stride)
    opts = RunOptions(output=args.output, events=args.events, snapshot=args.snapshot, summary=args.summary,
                      tracks=args.tracks, max_frames=args.max_frames, track=cfg.track, alerts=cfg.alerts)
    try:
        check_outputs(source, opts)  # before the model loads: fail in a second, not after
    except BaseException:
        source.close()
        raise
    if source.live and args.stride > 1:
        print("note: --stride is ignored for live sources (they skip stale frames by themselves)", file=sys.stderr)
    profiler = Profiler()
    try:
        recognize = build(args, profiler)
    except BaseException:
        source.close()
        raise
    print(f"source: {source.describe()}", file=sys.stderr)
    show = not args.no_display and display_available(probe=True)
    if not args.no_display and not show:
        print("note: no display; running headless (--no-display silences this)", file=sys.stderr)
    stop = threading.Event()
    viewer = Viewer(stop) if show else None
    bar = _progress(source, args)
    opts.draw = True if show else None

    def on_frame(result) -> bool:
        if bar is not None:
            bar.update(1)
        return viewer.show(result.image) if viewer is not None else True

    try:
        summary = run(source, recognize, opts, painter=Painter(hud=args.hud), profiler=profiler, stop=stop,
                      on_frame=on_frame)
    finally:
        if bar is not None:
            bar.close()
        if viewer is not None:
            viewer.close()
    print(format_summary(summary))
    return 0


def _progress(source, args: argparse.Namespace):
    """A progress bar on a terminal for sources of known length (none in logs)."""
    total = source.expected_frames
    if args.max_frames is not None:
        total = min(total, args.max_frames) if total is not None else None
    if args.no_progress or total is None or total <= 1:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", dynamic_ncols=True, leave=False, file=sys.stderr, disable=None)


def format_summary(s: dict) -> str:
    """The run's summary as the user reads it: signs per class, then speed and what was skipped."""
    from realtime.events import format_summary as signs

    lines = [signs(s), "  ms/frame: " + ", ".join(f"{k} {v:.2f}" for k, v in s["stages_ms"].items())
             + f"; stopped: {s['stopped']}"]
    if s["unreadable_files"] or s["skipped_files"]:
        lines.append(f"  skipped {s['skipped_files']} non-image files, {s['unreadable_files']} unreadable images")
    if s["dropped_frames"]:
        lines.append(f"  dropped {s['dropped_frames']} stale live frames (processing slower than the camera)")
    if s.get("video_note"):
        lines.append(f"note: {s['video_note']}")
    if s.get("snapshot") and not s.get("snapshot_written"):
        lines.append(f"warning: could not write the snapshot {s['snapshot']}")
    return "\n".join(lines)
