"""The command line: ``python -m realtime {run,bench,classify,detect-bench}``.

Library modules neither print nor parse arguments; this package does both, and turns every
error a user can cause into one line and exit status 2.
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

from realtime.cli import batch, bench, classify, detect_bench, run  # noqa: E402  (after the log settings)

DESCRIPTION = """traffic sign detection and recognition, live or on files.

  run SOURCE            webcam index (0), video file, image folder, image, or rtsp/http stream
  bench SOURCE          frames per second end to end and milliseconds per stage
  classify PATH...      label sign crops (image files/folders) into a GTSRB-format CSV
  detect-bench FOLDER   the proposers' time per still on one core
  batch SOURCES --output DIR  many video files on Ray (local cores or a cluster), resumable
"""
COMMANDS = {"run": run, "bench": bench, "classify": classify, "detect-bench": detect_bench, "batch": batch}


def parser() -> argparse.ArgumentParser:
    from realtime import __version__

    # the same parser serves `python -m realtime` and the installed `traffic-signs` command
    prog = "traffic-signs" if os.path.basename(sys.argv[0]) == "traffic-signs" else "python -m realtime"
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"traffic-signs {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, module in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from realtime.card import ModelError
    from realtime.cli.args import log_to_stderr
    from realtime.config import ConfigError
    from realtime.events import EventLogError
    from realtime.source import SourceError
    from realtime.video import OutputError

    log_to_stderr()
    try:
        return int(COMMANDS[args.cmd].main(args))
    except (SourceError, ModelError, OutputError, EventLogError, ConfigError) as exc:
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
