"""``bench SOURCE``: FPS end to end and milliseconds per stage on a video, and the recognizer backends."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from realtime.bench import BATCHES
from realtime.classifier import BACKENDS
from realtime.cli.args import add_pipeline_options, config_from_args, positive_int
from realtime.versions import one_line

HELP = "FPS end to end and per-stage milliseconds on a video"


def add_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("source", help="video file (or folder/camera)")
    b.add_argument("--frames", type=positive_int, default=300, help="frames to time in each pass (default: 300)")
    b.add_argument("--json", default=None, metavar="OUT", help="write the figures as JSON")
    add_pipeline_options(b)
    b.add_argument("--compare-backends", default=",".join(BACKENDS), metavar="LIST", dest="backends",
                   help="recognizer backends to time on random crops, comma-separated; '' skips the table "
                        f"(default: {','.join(BACKENDS)})")
    b.add_argument("--backends", dest="backends", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
    b.add_argument("--recognizer", default=None, metavar="MODULE:FUNCTION", help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    from realtime.bench import bench
    from realtime.cli.run import build
    from realtime.profile import Profiler
    from realtime.source import open_source
    from realtime.video import check_writable

    if args.show_config:
        print(config_from_args(args).to_json())
        return 0
    out_json = check_writable(args.json, "JSON report") if args.json else None
    src = open_source(args.source)
    print(f"bench: {src.describe()}; {args.frames} frames a pass", file=sys.stderr, flush=True)
    src.close()
    profiler = Profiler()
    recognize = build(args, profiler)
    backends = [b for b in args.backends.split(",") if b.strip()]
    result = bench(args.source, recognize, profiler, frames=args.frames, model=args.model, backends=backends)
    print(format_table(result))
    if out_json is not None:
        Path(out_json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def format_table(r: dict) -> str:
    size = "x".join(str(v) for v in r["size"]) if r["size"] else "?"
    lines = [f"{size}, {r['frames']} frames, {r['cpu_count']} CPUs, load average {r['loadavg_1min']}"]
    if r.get("versions"):
        lines.append(one_line(r["versions"]))
    lines += ["",
             f"{'pass':<28s}{'FPS':>9s}",
             f"{'decode only':<28s}{r['decode_fps']:>9.1f}",
             f"{'pipeline (no encoding)':<28s}{r['fps']:>9.1f}"
             f"   ({r['pipeline_vs_decode']:.0%} of decode-only)",
             f"{'pipeline + encoding':<28s}{r['fps_encoding']:>9.1f}",
             "", f"{'stage':<28s}{'ms/frame':>9s}"]
    lines += [f"{k:<28s}{v:>9.2f}" for k, v in r["stages_ms"].items()]
    lines += ["", f"{'CPU ms per frame (all threads)':<28s}"]
    lines += [f"  {k:<26s}{v:>9.2f}" for k, v in r["cpu_ms_per_frame"].items()]
    lines += ["", f"{'classifier backend':<28s}" + "".join(f"{'batch ' + str(b):>11s}" for b in BATCHES)]
    for name, row in r["classifier_ms"].items():
        if "error" in row:
            lines.append(f"{name:<28s}  unavailable: {row['error']}")
        else:
            lines.append(f"{name:<28s}" + "".join(f"{row[f'batch_{b}_ms']:>8.2f} ms" for b in BATCHES))
    return "\n".join(lines)
