"""GTSRB annotation files, in the two layouts people have: what ``classify`` reads beside the images
it labels, and what the training side loads datasets with.

Official layout: ``Final_Training/Images/000NN/GT-000NN.csv`` (``;``-separated, PPM files).
Kaggle layout: ``Train.csv`` / ``Test.csv`` (``,``-separated, ``Path`` column, PNG files).
ROIs in both CSVs describe the image at its original size; ``scale_roi`` rescales them to the size
the file actually has, so 32x32 copies and full-size downloads read alike.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TRACK_RE = re.compile(r"^(\d+)_(\d+)(?:_(\d+))?$")


class DatasetError(Exception):
    """The folder given is not a GTSRB dataset we can read (one clear message for the user)."""


@dataclass
class Sample:
    path: Path
    class_id: int
    track: str  # samples sharing a track show one physical sign
    roi: tuple[float, float, float, float]  # in the CSV's (original) pixel frame
    size: tuple[int, int]  # (width, height) the CSV declares


def _track_of(stem: str, class_id: int) -> str:
    """Track key from a file name: ``TTTTT_FFFFF`` (official) or ``CCCCC_TTTTT_FFFFF`` (Kaggle).

    Files with no track in their name (test sets) count as a track of their own.
    """
    m = _TRACK_RE.match(stem)
    if not m:
        return f"{class_id}:{stem}"
    if m.group(3) is not None:  # Kaggle: class_track_frame
        return f"{int(m.group(1))}:{m.group(2)}"
    return f"{class_id}:{m.group(1)}"


def _row_sample(row: dict[str, str], path: Path) -> Sample:
    cid = int(row["ClassId"]) if row.get("ClassId") not in (None, "") else -1  # -1: an unlabelled test row
    roi = tuple(float(row[k]) for k in ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2"))
    size = (int(row["Width"]), int(row["Height"]))
    return Sample(path, cid, _track_of(path.stem, cid), roi, size)  # type: ignore[arg-type]


def _read_official(csv_path: Path, unlabelled: bool = False) -> list[Sample]:
    """The rows of a ``GT-*.csv``; an unlabelled one (the test set's ``GT-final_test.test.csv``) only
    with ``unlabelled``. Images are beside the CSV, or (the test set's labels come as a separate
    download) in a ``Final_Test/Images`` folder near it."""
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    if rows and "ClassId" not in rows[0] and not unlabelled:
        return []
    folder = _image_folder(csv_path, rows[0]["Filename"]) if rows else csv_path.parent
    return [_row_sample(r, folder / r["Filename"]) for r in rows]


def _image_folder(csv_path: Path, first: str) -> Path:
    """Where the images a CSV names are: beside it, else in a ``Final_Test/Images`` at or below its
    folder or its parent's."""
    if (csv_path.parent / first).exists():
        return csv_path.parent
    for base in (csv_path.parent, csv_path.parent.parent):
        for images in sorted(base.glob("**/Final_Test/Images")):
            if (images / first).exists():
                return images
    return csv_path.parent


def _read_kaggle(csv_path: Path, unlabelled: bool = False) -> list[Sample]:
    root = csv_path.parent
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=","))
    return [_row_sample(r, root / r["Path"]) for r in rows if "ClassId" in r or unlabelled]


def _is_test_csv(path: Path) -> bool:
    return "final_test" in path.name.lower()


def find_samples(data: Path | str, split: str = "train") -> list[Sample]:
    """All labelled samples of ``split`` ("train" or "test") under ``data``, whichever layout it has.

    ``data`` may be the dataset root or any folder above the CSVs (``../shared/data`` works). The
    Kaggle layout's split is ``Train.csv`` or ``Test.csv``; the official one's the per-class
    ``GT-000NN.csv`` files or the test set's ``GT-final_test.csv`` (with its ``ClassId`` column).
    """
    root = Path(data)
    if not root.exists():
        raise DatasetError(f"data folder not found: {root}")
    kaggle = sorted(root.rglob("Train.csv" if split == "train" else "Test.csv"))
    if kaggle:
        samples = [s for p in kaggle for s in _read_kaggle(p)]
    else:
        csvs = [p for p in sorted(root.rglob("GT-*.csv")) if _is_test_csv(p) == (split == "test")]
        samples = [s for p in csvs for s in _read_official(p)]
    if not samples:
        raise DatasetError(
            f"no GTSRB annotations under {root} (looked for GT-*.csv and Train.csv/Test.csv)"
        )
    return samples


def scale_roi(roi: tuple[float, ...], declared: tuple[int, int], width: int, height: int) -> np.ndarray:
    """A CSV ROI (inclusive pixel indices at the declared size) as an exclusive box in actual pixels."""
    sx, sy = width / max(declared[0], 1), height / max(declared[1], 1)
    x1, y1, x2, y2 = roi
    box = np.array([x1 * sx, y1 * sy, (x2 + 1) * sx, (y2 + 1) * sy], np.float32)
    return np.clip(box, 0, [width, height, width, height]).astype(np.float32)


def find_annotations(folder: Path | str) -> list[Sample]:
    """Every annotated image under ``folder``, labelled or not: the rows of any ``GT-*.csv`` (the
    official test set's unlabelled ``GT-final_test.test.csv`` too), ``Train.csv`` and ``Test.csv``.
    What ``classify`` frames the signs of the images it is given by."""
    root = Path(folder)
    samples = [s for p in sorted(root.rglob("GT-*.csv")) for s in _read_official(p, unlabelled=True)]
    for name in ("Train.csv", "Test.csv"):
        samples += [s for p in sorted(root.rglob(name)) for s in _read_kaggle(p, unlabelled=True)]
    return samples
