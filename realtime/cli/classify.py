"""``classify PATH... --csv OUT.csv``: label image files in batches through LiteRT and write the
official GTSRB submission format (``Filename;ClassId``, then extras)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from realtime.annotations import Sample, find_annotations, scale_roi
from realtime.cli.args import positive_int

IMAGE_EXTS = {".ppm", ".pgm", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


HELP = "label sign images into a GTSRB-format CSV"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help="image files and/or folders (searched recursively)")
    p.add_argument("--csv", required=True, metavar="FILE.csv",
                   help="output CSV (semicolon-separated, header row); '-' writes to standard output")
    p.add_argument("--model", default=None, help="recognizer model (.tflite/.keras/.json) (default: the shipped one)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="crops per batched call (default: 256)")
    p.add_argument("--no-roi", action="store_true",
                   help="ignore ROI columns of GT-*.csv / Test.csv found beside the images")


def iter_images(paths: list[str]) -> tuple[list[Path], int, list[str]]:
    """(image files, non-image files skipped, missing paths)."""
    files: list[Path] = []
    others = 0
    missing: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                if f.suffix.lower() in IMAGE_EXTS:
                    files.append(f)
                elif f.suffix.lower() != ".csv":
                    others += 1
        elif p.is_file():
            files.append(p)
        else:
            missing.append(raw)
    return files, others, missing


def roi_table(paths: list[str]) -> dict[Path, Sample]:
    """ROIs from every GTSRB annotation CSV under the folders given (official or Kaggle layout,
    labelled or not: the official test folder's ``GT-final_test.test.csv`` has ROIs and no classes)."""
    table = {}
    for raw in paths:
        if not Path(raw).is_dir():
            continue
        try:
            samples = find_annotations(raw)
        except (KeyError, ValueError, OSError):
            continue
        table.update({s.path.resolve(): s for s in samples})
    return table


def _batches(files: list[Path], n: int) -> Iterator[list[Path]]:
    for i in range(0, len(files), n):
        yield files[i:i + n]


def main(args: argparse.Namespace) -> int:
    from realtime.card import ModelError
    from realtime.classifier import Classifier
    from realtime.preprocess import crop
    from realtime.source import truncated_jpeg

    files, others, missing = iter_images(args.paths)
    for m in missing:
        print(f"warning: not found, skipped: {m}", file=sys.stderr)
    if not files:
        print(f"error: no image files in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    from realtime.video import OutputError, check_writable

    to_stdout = args.csv == "-"
    out = Path(args.csv)
    try:  # checked first (fails in a second), but opened only once the model loads: a bad model
        if not to_stdout:
            check_writable(out, "CSV")  # must not truncate the CSV of an earlier run
        clf = Classifier(args.model)
        fh = contextlib.nullcontext(sys.stdout) if to_stdout else out.open("w", newline="")
    except (OutputError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    rois = {} if args.no_roi else roi_table(args.paths)
    names = clf.card.names
    unreadable = done = 0
    t0 = time.perf_counter()
    with fh as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\n")
        writer.writerow(["Filename", "ClassId", "Score", "Label", "Path"])
        for chunk in _batches(files, args.batch_size):
            crops, kept = [], []
            for f in chunk:
                img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
                if img is None or img.size == 0:
                    print(f"warning: unreadable image, skipped: {f}", file=sys.stderr)
                    unreadable += 1
                    continue
                if truncated_jpeg(f):
                    print(f"warning: truncated image, classified the part that decodes: {f}", file=sys.stderr)
                sample = rois.get(f.resolve())
                if sample is not None:  # frame the sign exactly as in training
                    img = crop(img, scale_roi(sample.roi, sample.size, img.shape[1], img.shape[0]),
                               clf.pre.margin)
                crops.append(img)
                kept.append(f)
            if not crops:
                continue
            ids, scores, _ = clf.classify(crops)
            for f, cid, s in zip(kept, ids, scores):
                writer.writerow([f.name, int(cid), f"{float(s):.4f}", names[int(np.argmax(clf.class_ids == cid))],
                                 str(f)])
            fh.flush()
            done += len(kept)
    dt = time.perf_counter() - t0
    print(f"classified {done} images in {dt:.1f}s ({done / max(dt, 1e-9):.0f} images/s) -> "
          f"{'standard output' if to_stdout else out}; "
          f"{unreadable} unreadable, {others} non-image files skipped, {len(missing)} missing paths",
          file=sys.stderr if to_stdout else sys.stdout)
    return 0 if done else 2
