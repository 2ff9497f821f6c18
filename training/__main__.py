"""`python -m training COMMAND`: the offline side (training, evaluation, rendering, benchmarks)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_DESCRIPTION = ("train, export and evaluate the models (recognizer, gate, localizer, verifier), render and score "
                "drive-by videos, benchmark preprocessing and soak-test the loop")


def _command(sub, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` opens with the line the command list shows."""
    return sub.add_parser(name, help=text, description=text)


def _renamed(p, flag: str, old: str, *, dest: str, required: bool = False, **kw) -> None:
    """``flag`` is the documented name (the runtime's); ``old`` still works but is not shown.

    Both sit in one mutually exclusive group, so argparse itself enforces ``required`` whichever
    spelling is given (and refuses both at once)."""
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument(flag, dest=dest, **kw)
    g.add_argument(old, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _gtsrb(p, *, dest: str = "data", required: bool = True, text: str = "GTSRB folder (official or Kaggle layout)"):
    _renamed(p, "--gtsrb", "--data", dest=dest, required=required, metavar="DIR", help=text)


def _output(p, text: str, *, metavar: str = "DIR") -> None:
    _renamed(p, "--output", "--out", dest="out", required=True, metavar=metavar, help=text)


def _add_explore(sub) -> None:
    e = _command(sub, "explore", "class distribution chart and a per-class sample grid")
    _gtsrb(e)
    _output(e, "folder for the PNG files")


def _add_train(sub) -> None:
    t = _command(sub, "train", "train the recognizer; writes .keras, .tflite and the model card")
    _gtsrb(t)
    _output(t, "folder for NAME.keras, NAME.tflite, NAME.json and the training history")
    t.add_argument("--epochs", type=int, default=40, help="length of the learning-rate schedule (default: %(default)s)")
    t.add_argument("--batch-size", type=int, default=128, help="images per step (default: %(default)s)")
    t.add_argument("--seed", type=int, default=0,
                   help="seed of the weights, augmentation and split (default: %(default)s)")
    t.add_argument("--split-seed", type=int, default=None,
                   help="seed of the validation split; keep it to compare runs from other starts (default: --seed)")
    t.add_argument("--val-fraction", type=float, default=0.15,
                   help="share of the tracks held out for validation; 0 trains on every track (with --patience 0: "
                        "nothing to validate on) (default: %(default)s)")
    t.add_argument("--folds", type=int, default=None, metavar="K",
                   help="k-fold split instead: each class's tracks dealt into K folds with the split seed; "
                        "needs --fold (default: none, the --val-fraction split)")
    t.add_argument("--fold", type=int, default=None, metavar="I",
                   help="with --folds: fold I (0..K-1) is the validation set, the others the training set")
    t.add_argument("--color", choices=("rgb", "gray"), default="rgb", help="input colour (default: %(default)s)")
    t.add_argument("--contrast", choices=("clahe", "equalize", "none"), default="clahe",
                   help="contrast normalisation of each crop (default: %(default)s)")
    t.add_argument("--width", type=int, default=32, help="filters in the first block (default: %(default)s)")
    t.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default: %(default)s)")
    t.add_argument("--weight-power", type=float, default=1.0,
                   help="class weights (n/count)^p; 0 disables (default: %(default)s)")
    t.add_argument("--patience", type=int, default=10,
                   help="stop after this many epochs without a better validation score and keep the best epoch; "
                        "0: no early stopping, the whole schedule runs and the last epoch is kept "
                        "(default: %(default)s)")
    t.add_argument("--label-smoothing", type=float, default=0.0, metavar="E",
                   help="smooth the class targets: (1 - E) * one-hot + E / classes, e.g. 0.1 (default: %(default)s)")
    t.add_argument("--no-augment", action="store_true", help="train on the images as they are")
    t.add_argument("--limit-per-class", type=int, default=None, metavar="N",
                   help="use at most N images per class, for a smoke run (default: all)")
    t.add_argument("--train-stride", type=int, default=1, metavar="N",
                   help="keep every Nth training image, for quick comparisons (default: %(default)s)")
    t.add_argument("--name", default="gtsrb_cnn", help="file name of the model, without suffix (default: %(default)s)")
    t.add_argument("--warmup-epochs", type=int, default=1,
                   help="epochs of learning-rate warm-up (default: %(default)s)")
    t.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="end after N epochs of the --epochs schedule (default: the whole schedule)")
    t.add_argument("--init-from", default=None, metavar="MODEL.keras",
                   help="start from this model, for a fine-tuning stage (default: fresh weights)")
    t.add_argument("--clahe-grid", type=int, default=2, help="CLAHE tiles per side of the crop (default: %(default)s)")
    t.add_argument("--clahe-clip", type=float, default=8.0, help="CLAHE clip limit (default: %(default)s)")
    t.add_argument("--no-box-head", action="store_true", help="classes only, no box regression output")
    t.add_argument("--box-weight", type=float, default=10.0,
                   help="weight of the box loss against the class loss (default: %(default)s)")
    t.add_argument("--ema", type=float, default=None, metavar="MOMENTUM",
                   help="validate and ship a moving average of the weights, e.g. 0.999 (default: none)")
    t.add_argument("--soup", type=float, default=None, metavar="WEIGHT",
                   help="with --init-from: ship WEIGHT * start + (1 - WEIGHT) * fine-tuned weights, e.g. 0.5 "
                        "(default: the fine-tuned weights)")
    t.add_argument("--augment", action="append", default=None, metavar="NAME=VALUE",
                   help="change one augmentation setting, e.g. occluders=3 (repeatable; a wrong NAME lists them)")
    t.add_argument("--quantize", choices=("none", "dynamic"), default="dynamic",
                   help="LiteRT export: int8 weights (dynamic; ~3.6x faster on CPU, same accuracy) or float "
                        "(default: %(default)s)")


def _add_export(sub) -> None:
    x = _command(sub, "export", "re-export a trained model's LiteRT file (and update its card)")
    x.add_argument("model", help="the model card, .keras or .tflite")
    x.add_argument("--quantize", choices=("none", "dynamic"), default="dynamic",
                   help="int8 weights (dynamic) or float (default: %(default)s)")
    _gtsrb(x, required=False, text="GTSRB folder: also measure the export on the validation tracks (default: none)")


def _add_evaluate(sub) -> None:
    v = _command(sub, "evaluate", "KPIs of a model on a labelled set")
    _gtsrb(v)
    v.add_argument("--model", required=True, action="append",
                   help="the recognizer, .keras or .tflite (its .json card beside it); given several times, the "
                        "ensemble that averages their class probabilities")
    _output(v, "folder for metrics.json, the confusion matrix and the worst mistakes")
    v.add_argument("--split", choices=("val", "all", "test"), default="all",
                   help="val: the card's track-wise validation split of --gtsrb; all: every image; "
                        "test: Test.csv of a Kaggle layout (default: %(default)s)")
    v.add_argument("--framing", choices=("roi", "whole"), default="roi",
                   help="roi: each sign framed from its annotated box plus the model's margin, as the detector "
                        "frames it; whole: the whole image as it is, as `realtime classify --no-roi` reads an image "
                        "file (default: %(default)s)")


def _add_fold_summary(sub) -> None:
    f = _command(sub, "fold-summary", "mean and spread over folds of `evaluate --split val` reports")
    f.add_argument("reports", nargs="+", metavar="DIR", help="evaluate output folders (or their metrics.json), "
                   "one per fold's model, all with one framing")
    f.add_argument("--output", dest="out", default=None, metavar="FILE.json", help="also write the summary here")


def _add_preprocessing(sub) -> None:
    b = _command(sub, "bench-preprocess", "milliseconds per crop of the preprocessing path")
    b.add_argument("--crops", type=int, default=256, help="random crops to time (default: %(default)s)")
    b.add_argument("--json", default=None, metavar="OUT", help="write the figures as JSON (default: none)")

    c = _command(sub, "compare-preprocessing", "colour/contrast settings compared on the validation tracks")
    _gtsrb(c)
    c.add_argument("--seed", type=int, default=0, help="seed of the validation split (default: %(default)s)")
    c.add_argument("--json", default=None, metavar="OUT", help="write the comparison as JSON (default: none)")


def _add_scenes_video(sub) -> None:
    s = _command(sub, "scenes-video", "a benchmark video from still scenes (write it outside the repo)")
    s.add_argument("--scenes", required=True, metavar="DIR", help="GTSDB-style scene images")
    _output(s, "the video to write (.mp4)", metavar="FILE.mp4")
    s.add_argument("--hold", type=int, default=5, help="frames per scene (default: %(default)s)")


def _add_train_gate(sub) -> None:
    g = _command(sub, "train-gate", "the candidate gate: one per fold of the scenes, and the shipped one")
    g.add_argument("--scenes", required=True, metavar="DIR", help="GTSDB-style scene images")
    g.add_argument("--gt", required=True, metavar="GT.txt", help="their gt.txt")
    _gtsrb(g, dest="gtsrb", text="GTSRB training set (positives)")
    _output(g, "folder for gate.* and folds/gate_fold*.*")
    g.add_argument("--folds", type=int, default=5, help="cross-validation folds of the scenes (default: %(default)s)")
    g.add_argument("--epochs", type=int, default=10, help="training epochs of each gate (default: %(default)s)")
    g.add_argument("--gtsrb-copies", type=int, default=2,
                   help="augmented copies of each GTSRB image (default: %(default)s)")
    g.add_argument("--seed", type=int, default=0,
                   help="0 is the shipped gates' seed; others measure the spread (default: %(default)s)")
    g.add_argument("--rendered", type=int, default=0, metavar="N",
                   help="also learn from the candidates on N rendered drive-bys, in every fold (default: none)")


def _add_train_locator(sub) -> None:
    lo = _command(sub, "train-locator", "the learned localizer: GTSRB signs pasted into GTSDB scenes")
    lo.add_argument("--scenes", required=True, metavar="DIR", help="GTSDB-style scene images")
    lo.add_argument("--gt", required=True, metavar="GT.txt", help="their gt.txt")
    _gtsrb(lo, text="GTSRB training set (the signs to paste)")
    _output(lo, "model path without suffix (writes .keras, .tflite, .json)", metavar="PATH")
    lo.add_argument("--exclude-fold", type=int, default=None, metavar="K",
                    help="leave out the scenes of this fold, 0-4 (default: train on every scene)")
    lo.add_argument("--crops", type=int, default=12000, help="training crops (default: %(default)s)")
    lo.add_argument("--epochs", type=int, default=12, help="training epochs (default: %(default)s)")
    lo.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default: %(default)s)")
    lo.add_argument("--seed", type=int, default=0, help="seed of the crops and weights (default: %(default)s)")
    lo.add_argument("--quantize", choices=("none", "dynamic", "int8"), default="none",
                    help="the LiteRT file's weights (dynamic) or weights and activations (int8) in 8 bits "
                         "(default: %(default)s)")
    lo.add_argument("--hard-negatives", default=None, metavar="LOCATOR", help="a trained localizer (.tflite): a "
                    "quarter of the crops are cut around its false alarms on the training scenes (default: none)")
    lo.add_argument("--reexport", action="store_true", help="no training: write the LiteRT file of the trained "
                    "model at --output again, at --quantize (int8 calibrates on its training scenes)")


def _add_fit_verifier(sub) -> None:
    v2 = _command(sub, "fit-verifier", "the sign-or-clutter head on the recognizer's features, per fold and "
                  "for users, written into the recognizer's card")
    v2.add_argument("--scenes", required=True, metavar="DIR", help="GTSDB-style scene images")
    v2.add_argument("--gt", required=True, metavar="GT.txt", help="their gt.txt")
    _gtsrb(v2, dest="gtsrb", text="GTSRB training set (positives)")
    v2.add_argument("--model", default=None, help="the recognizer (default: the shipped one)")
    v2.add_argument("--gate", default=None, help="the gate (default: the shipped one; its fold gates beside it)")
    v2.add_argument("--folds", type=int, default=5, help="cross-validation folds of the scenes (default: %(default)s)")
    v2.add_argument("--locator", default=None, help="the learned localizer whose candidates join the colour "
                    "routes' (default: the shipped one; its fold localizers beside it)")
    v2.add_argument("--no-locate", action="store_true", help="fit on the colour routes' candidates alone")


def _add_driveby(sub, unit_float) -> None:
    from realtime.cli.args import add_config_options

    r = _command(sub, "eval-driveby", "the whole system on a rendered drive-by, scored per sign track")
    r.add_argument("--video", default="samples/driveby.mp4", metavar="FILE.mp4",
                   help="the rendered video (default: %(default)s)")
    r.add_argument("--gt", default="samples/driveby_gt.jsonl", metavar="FILE.jsonl",
                   help="the renderer's ground truth, JSON lines (default: %(default)s)")
    r.add_argument("--model", default=None, help="the recognizer (default: the shipped one)")
    r.add_argument("--min-score", type=unit_float, default=None, metavar="S",
                   help="as `realtime run --min-score` (default: the configured thresholds)")
    r.add_argument("--no-closer-look", action="store_true", help="as `realtime run --no-closer-look`")
    r.add_argument("--no-refine", dest="no_closer_look", action="store_true", help=argparse.SUPPRESS)
    r.add_argument("--no-locate", action="store_true", help="as `realtime run --no-locate`")
    add_config_options(r)
    r.add_argument("--events", default=None, metavar="FILE.jsonl", help="keep the run's event log here (default: none)")
    r.add_argument("--json", default=None, metavar="OUT", help="write the scores as JSON (default: none)")

    rd = _command(sub, "render-driveby", "render a drive-by video with exact ground truth (JSON lines); "
                  "`make sample` renders the bundled one")
    _output(rd, "the video to write (.mp4)", metavar="FILE.mp4")
    rd.add_argument("--gt", required=True, metavar="FILE.jsonl", help="the ground truth to write, JSON lines")
    rd.add_argument("--seed", type=int, default=0, help="seed of the scene, signs and drive (default: %(default)s)")
    rd.add_argument("--frames", type=int, default=200, help="frames to render (default: %(default)s)")
    rd.add_argument("--width", type=int, default=1280, help="frame width in pixels (default: %(default)s)")
    rd.add_argument("--height", type=int, default=720, help="frame height in pixels (default: %(default)s)")
    rd.add_argument("--signs", type=int, default=8, help="signs along the road (default: %(default)s)")


def _add_legibility(sub) -> None:
    lg = _command(sub, "pictogram-legibility", "the recognizer reads the renderer's 43 clean pictograms "
                  "at a few sizes, then under stress: how close the drawings are to the real designs")
    lg.add_argument("--model", default=None, help="the recognizer (default: the shipped one)")
    lg.add_argument("--json", default=None, metavar="OUT", help="write the report as JSON (default: none)")


def _add_eval_detection(sub, unit_float) -> None:
    from realtime.cli.args import add_config_options

    d = _command(sub, "eval-detection", "GTSDB protocol on scenes with gt.txt")
    d.add_argument("--scenes", required=True, metavar="DIR", help="GTSDB-style scene images")
    d.add_argument("--gt", required=True, metavar="GT.txt", help="their gt.txt")
    _output(d, "folder for report.json, detections.jsonl and the plots")
    d.add_argument("--model", default=None, help="the recognizer (default: the shipped one)")
    d.add_argument("--gate", default=None, help="gate model ('none': no gate); fold gates are read from folds/ "
                   "beside it (default: the shipped one)")
    d.add_argument("--min-score", type=unit_float, default=None, metavar="S",
                   help="score the configured system with one threshold for every route (as `realtime run "
                        "--min-score`); cross-validation still chooses its own (default: the configured thresholds)")
    d.add_argument("--no-locate", action="store_true",
                   help="without the learned localizer: the colour routes' candidates only")
    d.add_argument("--no-closer-look", dest="no_closer_look", action="store_true",
                   help="the detector's own candidates only, without the closer look around the gated ones")
    d.add_argument("--no-refine", dest="no_closer_look", action="store_true", help=argparse.SUPPRESS)  # old name
    add_config_options(d)
    d.add_argument("--detections", default=None, metavar="FILE.jsonl",
                   help="score this JSON-lines file instead of running the system: the event log of `realtime "
                        "run SCENES --events FILE`, this command's detections.jsonl, or any detector's output "
                        "(default: run the system)")


def _add_soak(sub, positive_int) -> None:
    k = _command(sub, "soak", "long run on rendered drive-by frames: memory growth and steady FPS")
    k.add_argument("--frames", type=positive_int, default=20000,
                   help="rendered frames to process (default: %(default)s)")
    k.add_argument("--width", type=positive_int, default=640, help="frame width in pixels (default: %(default)s)")
    k.add_argument("--height", type=positive_int, default=360,
                   help="frame height in pixels (default: %(default)s)")
    k.add_argument("--window", type=positive_int, default=500,
                   help="frames per FPS/memory sample (default: %(default)s)")
    k.add_argument("--warmup", type=positive_int, default=None,
                   help="frames before the memory baseline (default: one window)")
    k.add_argument("--max-seconds", type=float, default=None,
                   help="stop after this much wall time (default: no limit)")
    k.add_argument("--max-growth-mb", type=float, default=50.0,
                   help="fail above this growth of resident memory (default: %(default)s)")
    k.add_argument("--seed", type=int, default=0, help="seed of the rendered drive-by (default: %(default)s)")
    k.add_argument("--json", default=None, metavar="OUT", help="write the report as JSON (default: none)")
    k.add_argument("--model", default=None, help="the recognizer (default: the shipped one)")
    k.add_argument("--recognizer", default=None, metavar="MODULE:FUNCTION", help=argparse.SUPPRESS)


class _Console(logging.Handler):
    """What the training modules log, for the user: figures and progress on the stdout of the
    moment (tests swap it), warnings as ``warning: ...`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr, flush=True)
        else:
            print(record.getMessage(), flush=True)


def _console() -> None:
    """Show the training modules' messages (they log, and print nothing themselves), once per process."""
    logger = logging.getLogger("training")
    if not any(isinstance(h, _Console) for h in logger.handlers):
        logger.addHandler(_Console(logging.INFO))
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _parser() -> argparse.ArgumentParser:
    from realtime import __version__
    from realtime.cli.args import positive_int, unit_float

    prog = "traffic-signs-train" if os.path.basename(sys.argv[0]) == "traffic-signs-train" else "python -m training"
    p = argparse.ArgumentParser(prog=prog, description=_DESCRIPTION)
    p.add_argument("--version", action="version", version=f"traffic-signs {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    _add_explore(sub)
    _add_train(sub)
    _add_export(sub)
    _add_evaluate(sub)
    _add_fold_summary(sub)
    _add_preprocessing(sub)
    _add_scenes_video(sub)
    _add_train_gate(sub)
    _add_train_locator(sub)
    _add_fit_verifier(sub)
    _add_driveby(sub, unit_float)
    _add_legibility(sub)
    _add_eval_detection(sub, unit_float)
    _add_soak(sub, positive_int)
    return p


def _explore(args) -> int:
    from training.explore import explore

    explore(args.data, args.out)
    return 0


def _train(args) -> int:
    from training.augment import parse_overrides
    from training.train import train

    train(args.data, args.out, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
          val_fraction=args.val_fraction, color=args.color, contrast=args.contrast, width=args.width,
          lr=args.lr, weight_power=args.weight_power, patience=args.patience,
          augmentation=not args.no_augment, limit_per_class=args.limit_per_class,
          train_stride=args.train_stride, name=args.name, warmup_epochs=args.warmup_epochs,
          stop_after=args.stop_after, init_from=args.init_from, clahe_grid=args.clahe_grid,
          clahe_clip=args.clahe_clip, box_head=not args.no_box_head, box_weight=args.box_weight,
          augment_overrides=parse_overrides(args.augment), split_seed=args.split_seed,
          ema=args.ema, soup=args.soup, quantize=args.quantize, label_smoothing=args.label_smoothing,
          folds=args.folds, fold=args.fold)
    return 0


def _evaluate(args) -> int:
    from training.evaluate import evaluate

    evaluate(args.data, args.model, args.out, split=args.split, framing=args.framing)
    return 0


def _scenes_video(args) -> int:
    from training.scenes_video import make_video

    make_video(args.scenes, args.out, hold=args.hold)
    return 0


def _render_driveby(args) -> int:
    from training.render.video import write_driveby

    r = write_driveby(args.out, args.gt, seed=args.seed, n_frames=args.frames, width=args.width,
                      height=args.height, n_signs=args.signs)
    print(f"{args.out}: {r['frames']} frames, {r['signs']} signs ({r['boxes']} boxes) in {r['seconds']:.1f} s; "
          f"ground truth {args.gt}")
    return 0


# subcommands with their own code here; every other one is ``main(args)`` of its module in MAINS,
# imported only when it runs (the training stack loads for the command that needs it)
HANDLERS = {"explore": _explore, "train": _train, "evaluate": _evaluate, "scenes-video": _scenes_video,
            "render-driveby": _render_driveby}
MAINS = {"export": "export", "bench-preprocess": "bench_preprocess", "compare-preprocessing": "compare",
         "train-gate": "gate", "train-locator": "locator", "fit-verifier": "verifier", "eval-driveby": "track_eval",
         "pictogram-legibility": "legibility", "eval-detection": "detection_eval", "soak": "soak",
         "fold-summary": "fold_summary"}


def _handler(cmd: str):
    return HANDLERS.get(cmd) or importlib.import_module(f"training.{MAINS[cmd]}").main


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from realtime.card import ModelError
    from realtime.cli.args import log_to_stderr
    from realtime.source import SourceError
    from realtime.video import OutputError
    from training.datasets import DatasetError

    log_to_stderr()
    _console()
    try:
        if getattr(args, "show_config", False):  # the commands that run the cascade: print its settings
            from realtime.cli.args import config_from_args

            print(config_from_args(args).to_json())
            return 0
        return _handler(args.cmd)(args)
    except (DatasetError, ModelError, SourceError, OutputError, OSError, ValueError) as exc:  # bad input
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"error: {exc.name or exc} is missing: the training side needs pip install 'traffic-signs[train]'",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
