"""python -m realtime {run,bench,soak,classify}: traffic sign detection and recognition, live or on files.

  run SOURCE       webcam index (0), video file, image folder, image, or rtsp/http stream
  bench SOURCE     frames per second end to end and milliseconds per stage
  soak             long run on rendered frames: memory growth and steady FPS
  classify PATH..  label sign crops (image files/folders) into a GTSRB-format CSV
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# OpenCV and FFmpeg print their own warnings for every source that fails to open; we raise one clear
# SourceError instead. Set these variables yourself to see their logs.
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from realtime import classify_files  # noqa: E402  (after the log settings: it imports OpenCV)
from realtime.classify_files import positive_int, unit_float  # noqa: E402


def _thresholds() -> str:
    """The shipped acceptance thresholds, as the help text states them (read, not restated)."""
    from realtime.recognize import RecognizerConfig

    c = RecognizerConfig()
    return ", ".join([f"{c.min_score:g}", *(f"{r} {v:g}" for r, v in c.route_min_score.items())])


NO_REFINE = ("skip the closer look around promising candidates (realtime/refine.py): faster (~7 ms less a "
             "1360x800 frame), fewer small signs found")
NO_LOCATE = ("skip the learned localizer (realtime/locate.py): faster (~4 ms less a frame), fewer signs "
             "whose rim shows no colour (fog, dusk, night)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m realtime", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="detect, recognise and track signs on a camera, video, folder or stream")
    r.add_argument("source", help="camera index (0), video file, image folder, image file or stream URL")
    r.add_argument("--model", default=None, help="model (.tflite/.keras/.json); default: the shipped one")
    r.add_argument("--gate", default=None, help="candidate gate model; default: the shipped one; 'none' "
                   "classifies every candidate (slower)")
    r.add_argument("--backend", default="litert", choices=("litert", "tf-function", "keras-predict"))
    r.add_argument("--min-score", type=unit_float, default=None, metavar="S",
                   help="one acceptance threshold (0..1) for every colour route instead of the ones chosen on "
                        f"GTSDB ({_thresholds()}): lower finds more signs and more false alarms")
    r.add_argument("--no-refine", action="store_true", help=NO_REFINE)
    r.add_argument("--no-locate", action="store_true", help=NO_LOCATE)
    r.add_argument("--output", default=None, metavar="FILE.mp4", help="annotated video (same size and fps)")
    r.add_argument("--events", default=None, metavar="FILE.jsonl", help="one JSON line per detection")
    r.add_argument("--snapshot", default=None, metavar="FILE.png",
                   help="annotated frame with the most confirmed signs")
    r.add_argument("--stride", type=positive_int, default=1, help="files: process every Nth frame/image")
    r.add_argument("--no-display", action="store_true", help="no window (automatic without a display)")
    r.add_argument("--max-frames", type=positive_int, default=None, help="stop after N processed frames")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--recognizer", default=None, metavar="MODULE:FUNCTION",
                   help="plug in another recognizer: a factory called with model=... returning "
                        "a callable frame -> list[Detection]")

    b = sub.add_parser("bench", help="FPS end to end and per-stage milliseconds on a video")
    b.add_argument("source", help="video file (or folder/camera)")
    b.add_argument("--frames", type=positive_int, default=300, help="frames to time in each pass")
    b.add_argument("--json", default=None, metavar="OUT", help="write the figures as JSON")
    b.add_argument("--model", default=None)
    b.add_argument("--no-refine", action="store_true", help=NO_REFINE)
    b.add_argument("--no-locate", action="store_true", help=NO_LOCATE)
    b.add_argument("--backends", default="litert,tf-function,keras-predict",
                   help="classifier backends to time on random crops (comma-separated; '' skips)")
    b.add_argument("--recognizer", default=None, metavar="MODULE:FUNCTION", help=argparse.SUPPRESS)

    s = sub.add_parser("soak", help="long run on rendered drive-by frames: RSS growth and FPS per window")
    s.add_argument("--frames", type=positive_int, default=20000, help="rendered frames to process")
    s.add_argument("--width", type=positive_int, default=640)
    s.add_argument("--height", type=positive_int, default=360)
    s.add_argument("--window", type=positive_int, default=500, help="frames per FPS/RSS sample")
    s.add_argument("--warmup", type=positive_int, default=None, help="frames before the memory baseline "
                   "(default: one window)")
    s.add_argument("--max-seconds", type=float, default=None, help="stop after this much wall time")
    s.add_argument("--max-growth-mb", type=float, default=50.0, help="fail above this RSS growth")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", default=None, metavar="OUT", help="write the report as JSON")
    s.add_argument("--model", default=None)
    s.add_argument("--backend", default="litert", choices=("litert", "tf-function", "keras-predict"))
    s.add_argument("--recognizer", default=None, metavar="MODULE:FUNCTION", help=argparse.SUPPRESS)

    c = sub.add_parser("classify", help="label sign images into a GTSRB-format CSV")
    classify_files.add_arguments(c)
    return p


def _run(args: argparse.Namespace) -> int:
    from realtime.pipeline import RunOptions, StageTimes, build_recognizer, check_writable, run
    from realtime.source import open_source

    opts = RunOptions(output=args.output, events=args.events, snapshot=args.snapshot,
                      display=False if args.no_display else None, max_frames=args.max_frames,
                      progress=not args.no_progress)
    outputs = ((args.output, "output video"), (args.events, "event log"), (args.snapshot, "snapshot"))
    for path, what in outputs:
        check_writable(path, what)  # before the model loads: fail in a second, not after
    source = open_source(args.source, stride=args.stride)
    if source.live and args.stride > 1:
        print("note: --stride is ignored for live sources (they skip stale frames by themselves)",
              file=sys.stderr)
    try:
        times = StageTimes()
        if args.min_score is not None and args.recognizer:
            print("note: --min-score applies to the shipped recognizer, not to --recognizer", file=sys.stderr)
        recognize = build_recognizer(args.model, args.backend, args.recognizer, times, gate=args.gate,
                                     min_score=args.min_score, refine=not args.no_refine, locate=not args.no_locate)
    except BaseException:
        source.close()
        raise
    print(f"source: {source.describe()}", file=sys.stderr)
    run(source, recognize, opts, times=times)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from realtime.bench import bench

    backends = [b for b in args.backends.split(",") if b.strip()]
    bench(args.source, frames=args.frames, json_path=args.json, model=args.model, backends=backends,
          factory=args.recognizer, refine=not args.no_refine, locate=not args.no_locate)
    return 0


def _soak(args: argparse.Namespace) -> int:
    from realtime.pipeline import check_writable
    from realtime.soak import format_report, soak

    check_writable(args.json, "soak report")
    report = soak(args.frames, args.width, args.height, window=args.window, warmup=args.warmup, model=args.model,
                  backend=args.backend, factory=args.recognizer, seed=args.seed, max_seconds=args.max_seconds,
                  max_growth_mb=args.max_growth_mb, json_path=args.json)
    print(format_report(report))
    return 0 if report["passed"] else 1


def _classify(args: argparse.Namespace) -> int:
    return int(classify_files.main(args))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from realtime.card import ModelError
    from realtime.events import EventLogError
    from realtime.pipeline import OutputError
    from realtime.source import SourceError

    try:
        return {"run": _run, "bench": _bench, "soak": _soak, "classify": _classify}[args.cmd](args)
    except (SourceError, ModelError, OutputError, EventLogError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk or a vanished drive mid-run: say so, not a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"error: a part of the system is missing ({exc})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
