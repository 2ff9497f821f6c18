"""``bench SOURCE [SOURCE ...]``: FPS end to end against decode-only, milliseconds per stage, how often
each stage ran, scaling over cores and capture-to-overlay latency, per source and size; and the
recognizer backends."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from realtime.bench import BATCHES
from realtime.classifier import BACKENDS
from realtime.cli.args import add_pipeline_options, config_from_args, positive_int
from realtime.profile import STAGES
from realtime.versions import one_line

HELP = "FPS end to end and per-stage milliseconds on videos, across sizes and cores"


def sizes_arg(text: str) -> list[tuple[int, int]]:
    """argparse type: ``WxH[,WxH...]``, e.g. ``1280x720,1920x1080``."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        w, sep, h = part.lower().partition("x")
        try:
            size = (int(w), int(h))
        except ValueError:
            size = (0, 0)
        if not sep or min(size) < 16 or max(size) > 16384:
            raise argparse.ArgumentTypeError(f"expected WxH (16 to 16384 pixels a side), got {part!r}")
        out.append(size)
    if not out:
        raise argparse.ArgumentTypeError("expected at least one WxH")
    return list(dict.fromkeys(out))


def cores_arg(text: str) -> list[int]:
    """argparse type: core counts, ``1,2``."""
    try:
        return [positive_int(p.strip()) for p in text.split(",") if p.strip()] or [positive_int("")]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"expected core counts such as 1,2: {exc}") from None


def add_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("source", nargs="+", help="video files (or a folder/camera); one row each")
    b.add_argument("--frames", type=positive_int, default=300, help="frames to time in each pass (default: 300)")
    b.add_argument("--sizes", type=sizes_arg, default=None, metavar="WxH[,WxH...]",
                   help="resolution sweep: every source's frames resized on the fly to each size, one row each "
                        "(e.g. 1280x720,1920x1080,3840x2160). The resize runs in the capture thread and is part "
                        "of the decode-only pass too, so the ratio to decode-only compares like with like "
                        "(default: each source as decoded)")
    b.add_argument("--cores", type=cores_arg, default=None, metavar="N[,N...]",
                   help="run the pipeline pinned to the first N cores for each N, for the speed-up over the "
                        "fewest (Linux; elsewhere every pass uses all cores) (default: 1 and all cores)")
    b.add_argument("--no-encode", dest="encode", action="store_false",
                   help="skip the pass that writes the annotated video")
    b.add_argument("--json", default=None, metavar="OUT", help="write the figures as JSON: one row per (source, size)")
    add_pipeline_options(b)
    b.add_argument("--compare-backends", default=",".join(BACKENDS), metavar="LIST", dest="backends",
                   help="recognizer backends to time on random crops, comma-separated; '' skips the table "
                        f"(default: {','.join(BACKENDS)})")
    b.add_argument("--backends", dest="backends", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
    b.add_argument("--recognizer", default=None, metavar="MODULE:FUNCTION", help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    from realtime.bench import bench, core_counts, pinning_supported
    from realtime.cli.run import build
    from realtime.profile import Profiler
    from realtime.source import open_source
    from realtime.video import check_writable

    if args.show_config:
        print(config_from_args(args).to_json())
        return 0
    out_json = check_writable(args.json, "JSON report") if args.json else None
    for spec in args.source:  # every source opens before the model loads: fail in a second, not after
        src = open_source(spec)
        print(f"bench: {src.describe()}", file=sys.stderr, flush=True)
        src.close()
    counts = core_counts(args.cores)
    sizes = ", ".join(f"{w}x{h}" for w, h in args.sizes) if args.sizes else "as decoded"
    print(f"bench: {args.frames} frames a pass; sizes {sizes}; pipeline on {', '.join(map(str, counts))} core(s)",
          file=sys.stderr, flush=True)
    if args.cores and not pinning_supported():
        print("note: --cores needs sched_setaffinity (Linux); every pass runs on all cores", file=sys.stderr)
    elif args.cores and max(args.cores) > max(counts):
        print(f"note: only {max(counts)} cores available to this process", file=sys.stderr)
    profiler = Profiler()
    recognize = build(args, profiler)
    backends = [b for b in args.backends.split(",") if b.strip()]
    result = bench(args.source, recognize, profiler, frames=args.frames, model=args.model, backends=backends,
                   sizes=args.sizes, cores=args.cores, encode=args.encode, track=config_from_args(args).track,
                   on_row=lambda r: print(f"bench: {_size(r)} {Path(r['source']).name}: {r['fps']:.1f} FPS",
                                          file=sys.stderr, flush=True))
    print(format_table(result))
    if out_json is not None:
        Path(out_json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _size(r: dict) -> str:
    return "x".join(str(v) for v in r["size"]) if r["size"] else "?"


def _f(v, fmt: str, width: int) -> str:
    return f"{'-':>{width}s}" if v is None else f"{v:>{width}{fmt}}"


def format_table(r: dict) -> str:
    rows = r["rows"]
    lines = [f"{r['cpu_count']} CPUs, load average {r['loadavg_1min']}, {rows[0]['frames'] if rows else 0} frames "
             f"a pass; pipeline rows on {max(r['core_counts'])} core(s)"]
    if r.get("versions"):
        lines.append(one_line(r["versions"]))
    lines += ["", "pipeline / decode only: the ratio of the two FPS (decode only includes the resize of a sweep)", "",
              f"{'ratio':>6s} {'size':>10s} {'FPS':>7s} {'decode only':>12s} {'+encoding':>10s} "
              f"{'latency p50/p95 ms':>19s}  source"]
    for row in rows:
        lat = row["latency_ms"]
        latency = "-" if not lat or lat["p50"] is None else f"{lat['p50']:.0f} / {lat['p95']:.0f}"
        lines.append(f"{row['pipeline_vs_decode']:>6.1%} {_size(row):>10s} {row['fps']:>7.1f} "
                     f"{row['decode_fps']:>12.1f} {_f(row['fps_encoding'], '.1f', 10)} {latency:>19s}  "
                     f"{Path(row['source']).name}")
    stages = [s for s in STAGES if any(s in row["stages_ms"] for row in rows)]
    lines += ["", "ms per frame (how often the stage ran)", f"{'size':>10s} " + "".join(f"{s:>17s}" for s in stages)]
    for row in rows:
        cells = []
        for s in stages:
            ms, ran = row["stages_ms"].get(s), row["stages_ran"].get(s)
            cells.append(f"{'-':>17s}" if ms is None else
                         f"{ms:>8.2f}" + (f" ({ran:>4.0%})" if ran is not None else " " * 7) + "  ")
        lines.append(f"{_size(row):>10s} " + "".join(cells) + Path(row["source"]).name)
    moved = [row for row in rows if row.get("locate_with_proposing") is not None]
    if moved:
        lines += ["", "where the learned localizer ran: share of frames with the proposing half (the rest with "
                  "the finishing half; docs/PIPELINE.md, \"Two halves\")"]
        lines += [f"{_size(row):>10s} {row['locate_with_proposing']:>6.0%}  {Path(row['source']).name}"
                  for row in moved]
    counts = r["core_counts"]
    lines += ["", "FPS by cores (speed-up over the fewest; CPU-seconds per second, at most the cores)",
              f"{'size':>10s} " + "".join(f"{str(c) + ' core' + ('s' if c > 1 else ''):>24s}" for c in counts)]
    for row in rows:
        by = {c["cores"]: c for c in row["cores"]}
        lines.append(f"{_size(row):>10s} " + "".join(
            f"{by[c]['fps']:>8.1f} (x{by[c]['speedup']:.2f}, {by[c]['cores_busy']:.2f})".rjust(24) for c in counts)
            + "  " + Path(row["source"]).name)
    lines += ["", "CPU ms per frame (all threads)",
              f"{'size':>10s} {'decode only':>12s} {'pipeline':>10s} {'+encoding':>10s}"]
    for row in rows:
        c = row["cpu_ms_per_frame"]
        lines.append(f"{_size(row):>10s} {c['decode_only']:>12.2f} {c['pipeline']:>10.2f} "
                     f"{_f(c['pipeline_encoding'], '.2f', 10)}  {Path(row['source']).name}")
    if r["classifier_ms"]:
        lines += ["", f"{'classifier backend':<28s}" + "".join(f"{'batch ' + str(b):>11s}" for b in BATCHES)]
        for name, row in r["classifier_ms"].items():
            if "error" in row:
                lines.append(f"{name:<28s}  unavailable: {row['error']}")
            else:
                lines.append(f"{name:<28s}" + "".join(f"{row[f'batch_{b}_ms']:>8.2f} ms" for b in BATCHES))
    return "\n".join(lines)
