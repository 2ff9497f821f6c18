"""``python -m training {explore,train,evaluate,eval-detection}``: the offline side."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _add_explore(sub) -> None:
    e = sub.add_parser("explore", help="class distribution chart and a per-class sample grid")
    e.add_argument("--data", required=True, help="GTSRB folder (official or Kaggle layout)")
    e.add_argument("--out", required=True, help="folder for the PNG files")


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train the recognizer; writes .keras, .tflite and the model card")
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--split-seed", type=int, default=None,
                   help="seed of the validation split (default: --seed); keep it to compare runs from other starts")
    t.add_argument("--val-fraction", type=float, default=0.15)
    t.add_argument("--color", choices=("rgb", "gray"), default="rgb")
    t.add_argument("--contrast", choices=("clahe", "equalize", "none"), default="clahe")
    t.add_argument("--width", type=int, default=32, help="filters in the first block")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--weight-power", type=float, default=1.0, help="class weights (n/count)^p; 0 disables")
    t.add_argument("--patience", type=int, default=10)
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--limit-per-class", type=int, default=None, help="use at most N images per class (smoke)")
    t.add_argument("--train-stride", type=int, default=1, help="keep every Nth training image (quick comparisons)")
    t.add_argument("--name", default="gtsrb_cnn")
    t.add_argument("--warmup-epochs", type=int, default=1)
    t.add_argument("--stop-after", type=int, default=None, help="end after N epochs of the --epochs schedule")
    t.add_argument("--init-from", default=None, help="start from this .keras model (fine-tuning stage)")
    t.add_argument("--clahe-grid", type=int, default=2, help="CLAHE tiles per side of the crop")
    t.add_argument("--clahe-clip", type=float, default=8.0, help="CLAHE clip limit")
    t.add_argument("--no-box-head", action="store_true", help="classes only, no box regression output")
    t.add_argument("--box-weight", type=float, default=10.0, help="weight of the box loss against the class loss")
    t.add_argument("--ema", type=float, default=None, metavar="MOMENTUM",
                   help="validate and ship a moving average of the weights (e.g. 0.999)")
    t.add_argument("--soup", type=float, default=None, metavar="WEIGHT",
                   help="with --init-from: ship WEIGHT * start + (1 - WEIGHT) * fine-tuned weights (e.g. 0.5)")
    t.add_argument("--augment", action="append", default=None, metavar="NAME=VALUE",
                   help="override an augmentation setting (training/augment.py AugmentConfig), repeatable")
    t.add_argument("--quantize", choices=("none", "dynamic"), default="dynamic",
                   help="LiteRT export: int8 weights (dynamic; ~3.6x faster on CPU, same accuracy) or float")


def _add_export(sub) -> None:
    x = sub.add_parser("export", help="re-export a trained model's LiteRT file (and update its card)")
    x.add_argument("model", help="the model card, .keras or .tflite")
    x.add_argument("--quantize", choices=("none", "dynamic"), default="dynamic")
    x.add_argument("--data", default=None, help="GTSRB folder: also measure the export on the validation tracks")


def _add_evaluate(sub) -> None:
    v = sub.add_parser("evaluate", help="KPIs of a model on a labelled set")
    v.add_argument("--data", required=True)
    v.add_argument("--model", required=True, help=".keras/.tflite model (its .json card beside it)")
    v.add_argument("--out", required=True)
    v.add_argument("--split", choices=("val", "all", "test"), default="all",
                   help="val: the card's track-wise validation split of --data; all: every image; "
                        "test: Test.csv of a Kaggle layout")


def _add_preprocessing(sub) -> None:
    b = sub.add_parser("bench-preprocess", help="milliseconds per crop of the preprocessing path")
    b.add_argument("--crops", type=int, default=256)
    b.add_argument("--json", default=None)

    c = sub.add_parser("compare-preprocessing", help="colour/contrast settings compared on the validation tracks")
    c.add_argument("--data", required=True)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", default=None)


def _add_scenes_video(sub) -> None:
    s = sub.add_parser("scenes-video", help="a benchmark video from still scenes (write it outside the repo)")
    s.add_argument("--scenes", required=True)
    s.add_argument("--out", required=True, help="output .mp4")
    s.add_argument("--hold", type=int, default=5, help="frames per scene")


def _add_train_gate(sub) -> None:
    g = sub.add_parser("train-gate", help="the candidate gate: one per fold of the scenes, and the shipped one")
    g.add_argument("--scenes", required=True, help="GTSDB-style scene images")
    g.add_argument("--gt", required=True, help="their gt.txt")
    g.add_argument("--gtsrb", required=True, help="GTSRB training set (positives)")
    g.add_argument("--out", required=True, help="folder for gate.* and folds/gate_fold*.*")
    g.add_argument("--folds", type=int, default=5)
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("--gtsrb-copies", type=int, default=2, help="augmented copies of each GTSRB image")
    g.add_argument("--seed", type=int, default=0, help="0 is the shipped gates' seed; others measure the spread")


def _add_train_locator(sub) -> None:
    lo = sub.add_parser("train-locator", help="the learned localizer: GTSRB signs pasted into GTSDB scenes")
    lo.add_argument("--scenes", required=True, help="GTSDB-style scene images")
    lo.add_argument("--gt", required=True, help="their gt.txt")
    lo.add_argument("--data", required=True, help="GTSRB training set (the signs to paste)")
    lo.add_argument("--out", required=True, help="model path without suffix (writes .keras, .tflite, .json)")
    lo.add_argument("--exclude-fold", type=int, default=None, help="leave out the scenes of this fold (0-4)")
    lo.add_argument("--crops", type=int, default=12000)
    lo.add_argument("--epochs", type=int, default=12)
    lo.add_argument("--lr", type=float, default=3e-3)
    lo.add_argument("--seed", type=int, default=0)
    lo.add_argument("--quantize", choices=("none", "dynamic", "int8"), default="none",
                    help="the LiteRT file's weights (dynamic) or weights and activations (int8) in 8 bits")
    lo.add_argument("--hard-negatives", default=None, metavar="LOCATOR", help="a trained localizer (.tflite): a "
                    "quarter of the crops are cut around its false alarms on the training scenes")
    lo.add_argument("--reexport", action="store_true", help="no training: write the LiteRT file of the trained "
                    "model at --out again, at --quantize (int8 calibrates on its training scenes)")


def _add_fit_verifier(sub) -> None:
    v2 = sub.add_parser("fit-verifier", help="the sign-or-clutter head on the recognizer's features, per fold and "
                        "for users, written into the recognizer's card")
    v2.add_argument("--scenes", required=True)
    v2.add_argument("--gt", required=True)
    v2.add_argument("--gtsrb", required=True, help="GTSRB training set (positives)")
    v2.add_argument("--model", default=None, help="the recognizer (default: the shipped one)")
    v2.add_argument("--gate", default=None, help="the gate (default: the shipped one; its fold gates beside it)")
    v2.add_argument("--folds", type=int, default=5)
    v2.add_argument("--locator", default=None, help="the learned localizer whose candidates join the colour "
                    "routes' (default: the shipped one; its fold localizers beside it)")
    v2.add_argument("--no-locate", action="store_true", help="fit on the colour routes' candidates alone")


def _add_driveby(sub, unit_float) -> None:
    from realtime.cli.args import add_config_options

    r = sub.add_parser("eval-driveby", help="the whole system on a rendered drive-by, scored per sign track")
    r.add_argument("--video", default="samples/driveby.mp4")
    r.add_argument("--gt", default="samples/driveby_gt.jsonl", help="the renderer's ground truth (JSON lines)")
    r.add_argument("--model", default=None)
    r.add_argument("--min-score", type=unit_float, default=None, help="as `realtime run --min-score`")
    r.add_argument("--no-closer-look", action="store_true", help="as `realtime run --no-closer-look`")
    r.add_argument("--no-refine", dest="no_closer_look", action="store_true", help=argparse.SUPPRESS)
    r.add_argument("--no-locate", action="store_true", help="as `realtime run --no-locate`")
    add_config_options(r)
    r.add_argument("--events", default=None, help="keep the run's event log here")
    r.add_argument("--json", default=None)

    rd = sub.add_parser("render-driveby", help="render a drive-by video with exact ground truth (JSON lines); "
                        "the bundled sample is `--seed 0` with the defaults")
    rd.add_argument("--out", default="samples/driveby.mp4")
    rd.add_argument("--gt", default="samples/driveby_gt.jsonl")
    rd.add_argument("--seed", type=int, default=0)
    rd.add_argument("--frames", type=int, default=200)
    rd.add_argument("--width", type=int, default=1280)
    rd.add_argument("--height", type=int, default=720)
    rd.add_argument("--signs", type=int, default=8)


def _add_legibility(sub) -> None:
    lg = sub.add_parser("pictogram-legibility", help="the recognizer reads the renderer's 43 clean pictograms "
                        "at a few sizes, then under stress: how close the drawings are to the real designs")
    lg.add_argument("--model", default=None)
    lg.add_argument("--json", default=None)


def _add_eval_detection(sub, unit_float) -> None:
    d = sub.add_parser("eval-detection", help="GTSDB protocol on scenes with gt.txt")
    d.add_argument("--scenes", required=True)
    d.add_argument("--gt", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--model", default=None)
    d.add_argument("--gate", default=None, help="gate model (default: the shipped one; 'none': no gate); fold "
                   "gates are read from folds/ beside it")
    d.add_argument("--min-score", type=unit_float, default=None,
                   help="score the configured system with one threshold for every route (as `realtime run "
                        "--min-score`); cross-validation still chooses its own")
    d.add_argument("--no-locate", action="store_true",
                   help="without the learned localizer (realtime/locate.py): the colour routes' candidates only")
    d.add_argument("--no-closer-look", dest="no_closer_look", action="store_true",
                   help="the detector's own candidates only, without the closer look around the gated ones")
    d.add_argument("--no-refine", dest="no_closer_look", action="store_true", help=argparse.SUPPRESS)  # old name
    d.add_argument("--detections", default=None,
                   help="score this JSON-lines file instead of running the system: the event log of `realtime "
                        "run SCENES --events FILE`, this command's detections.jsonl, or any detector's output")


def _add_soak(sub, positive_int) -> None:
    k = sub.add_parser("soak", help="long run on rendered drive-by frames: memory growth and steady FPS")
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


def _parser() -> argparse.ArgumentParser:
    from realtime.cli.args import positive_int, unit_float

    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    _add_explore(sub)
    _add_train(sub)
    _add_export(sub)
    _add_evaluate(sub)
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
          ema=args.ema, soup=args.soup, quantize=args.quantize)
    return 0


def _export(args) -> int:
    from training.export import main as export_main

    return export_main(args)


def _evaluate(args) -> int:
    from training.evaluate import evaluate

    evaluate(args.data, args.model, args.out, split=args.split)
    return 0


def _bench_preprocess(args) -> int:
    from training.bench_preprocess import main as bench_main

    return bench_main(args)


def _compare_preprocessing(args) -> int:
    from training.compare import main as compare_main

    return compare_main(args)


def _scenes_video(args) -> int:
    from training.scenes_video import make_video

    make_video(args.scenes, args.out, hold=args.hold)
    return 0


def _train_gate(args) -> int:
    from training.gate import main as gate_main

    return gate_main(args)


def _train_locator(args) -> int:
    from training.locator import main as locator_main

    return locator_main(args)


def _fit_verifier(args) -> int:
    from training.verifier import main as verifier_main

    return verifier_main(args)


def _eval_driveby(args) -> int:
    from training.track_eval import main as driveby_main

    return driveby_main(args)


def _render_driveby(args) -> int:
    from training.render.video import write_driveby

    r = write_driveby(args.out, args.gt, seed=args.seed, n_frames=args.frames, width=args.width,
                      height=args.height, n_signs=args.signs)
    print(f"{args.out}: {r['frames']} frames, {r['signs']} signs ({r['boxes']} boxes) in {r['seconds']:.1f} s; "
          f"ground truth {args.gt}")
    return 0


def _pictogram_legibility(args) -> int:
    from training.legibility import main as legibility_main

    return legibility_main(args)


def _eval_detection(args) -> int:
    from training.detection_eval import main as det_main

    return det_main(args)


def _soak(args) -> int:
    from training.soak import main as soak_main

    return soak_main(args)


HANDLERS = {
    "explore": _explore, "train": _train, "export": _export, "evaluate": _evaluate,
    "bench-preprocess": _bench_preprocess, "compare-preprocessing": _compare_preprocessing,
    "scenes-video": _scenes_video, "train-gate": _train_gate, "train-locator": _train_locator,
    "fit-verifier": _fit_verifier, "eval-driveby": _eval_driveby, "render-driveby": _render_driveby,
    "pictogram-legibility": _pictogram_legibility, "eval-detection": _eval_detection, "soak": _soak,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from realtime.card import ModelError
    from realtime.cli.args import log_to_stderr
    from realtime.source import SourceError
    from realtime.video import OutputError
    from training.datasets import DatasetError

    log_to_stderr()
    try:
        return HANDLERS[args.cmd](args)
    except (DatasetError, ModelError, SourceError, OutputError, OSError, ValueError) as exc:  # bad input
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
