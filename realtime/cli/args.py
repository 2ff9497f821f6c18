"""Argument types and the configuration options every command shares."""

from __future__ import annotations

import argparse
import logging
import sys

from realtime.classifier import BACKENDS
from realtime.config import Config


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (a typo or 0 gives a usage error, not a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def unit_float(text: str) -> float:
    """argparse type: a number from 0 to 1 (a score threshold)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text}")
    return v


def add_pipeline_options(p: argparse.ArgumentParser) -> None:
    """The options that choose the models and the settings of the cascade."""
    p.add_argument("--model", default=None, help="recognizer model (.tflite/.keras/.json) (default: the shipped one)")
    p.add_argument("--gate", default=None, help="candidate gate model; 'none' classifies every candidate "
                   "(slower) (default: the shipped one)")
    p.add_argument("--backend", default="litert", choices=BACKENDS, help="how the recognizer runs (default: litert)")
    p.add_argument("--min-score", type=unit_float, default=None, metavar="S",
                   help="one acceptance threshold (0..1) for every route instead of the ones chosen on GTSDB "
                        f"({_thresholds()}): lower finds more signs and more false alarms")
    p.add_argument("--no-closer-look", action="store_true",
                   help="skip the closer look around promising candidates: faster, fewer small signs found")
    p.add_argument("--no-refine", action="store_true", dest="no_closer_look", help=argparse.SUPPRESS)
    p.add_argument("--no-locate", action="store_true",
                   help="skip the learned localizer: faster, fewer signs whose rim shows no colour (fog, dusk)")
    add_config_options(p)


def add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, metavar="FILE.json",
                   help="settings file (default: the one saved with the shipped models)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", dest="overrides",
                   help="change one setting, e.g. --set reject.min_score=0.6 (repeatable; --show-config lists them)")
    p.add_argument("--show-config", action="store_true", help="print the settings in effect and exit")


def config_from_args(args: argparse.Namespace) -> Config:
    """The configuration a command runs with: the file, the flags that stand for settings, then ``--set``."""
    cfg = Config.load(args.config) if getattr(args, "config", None) else Config.shipped()
    pairs: list[str] = []
    if getattr(args, "min_score", None) is not None:
        pairs += [f"reject.min_score={args.min_score}", "reject.route_min_score={}"]
    if getattr(args, "no_closer_look", False):
        pairs.append("closer_look.enabled=false")
    if getattr(args, "no_locate", False):
        pairs.append("locate.enabled=false")
    if getattr(args, "gate", None) == "none":
        pairs.append("gate.enabled=false")
    return cfg.with_overrides(pairs + list(getattr(args, "overrides", [])))


def _thresholds() -> str:
    """The shipped acceptance thresholds, as the help text states them (read, not restated)."""
    c = Config.shipped().reject
    return ", ".join([f"{c.min_score:g}", *(f"{r} {v:g}" for r, v in c.route_min_score.items())])


class _Stderr(logging.Handler):
    """Library warnings as ``warning: ...`` lines on the stderr of the moment (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def log_to_stderr() -> None:
    """Show the library's warnings (damaged files, reconnects) to the user, once per process."""
    root = logging.getLogger("realtime")
    if not any(isinstance(h, _Stderr) for h in root.handlers):
        root.addHandler(_Stderr(logging.WARNING))
        root.propagate = False
