"""GTSRB annotation files: the official test layout (labels as a separate download, an unlabelled
CSV with ROIs beside the images) and what ``classify`` frames its crops by."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from realtime.annotations import find_annotations, find_samples

HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2"


def official(tmp_path: Path) -> Path:
    """A tiny official layout: two training images of class 1, two test images, the test set's
    unlabelled CSV beside them and its labelled CSV at the root (as the separate download unpacks)."""
    root = tmp_path / "GTSRB"
    train = root / "Final_Training" / "Images" / "00001"
    test = root / "Final_Test" / "Images"
    train.mkdir(parents=True)
    test.mkdir(parents=True)
    img = np.full((40, 40, 3), 120, np.uint8)
    for name in ("00000_00000.ppm", "00000_00001.ppm"):
        cv2.imwrite(str(train / name), img)
    (train / "GT-00001.csv").write_text(HEADER + ";ClassId\n" + "".join(
        f"{n};40;40;5;5;34;34;1\n" for n in ("00000_00000.ppm", "00000_00001.ppm")))
    for name in ("00000.ppm", "00001.ppm"):
        cv2.imwrite(str(test / name), img)
    (test / "GT-final_test.test.csv").write_text(HEADER + "\n00000.ppm;40;40;6;6;33;33\n00001.ppm;40;40;4;4;30;30\n")
    (tmp_path / "GT-final_test.csv").write_text(HEADER + ";ClassId\n00000.ppm;40;40;6;6;33;33;14\n"
                                                "00001.ppm;40;40;4;4;30;30;17\n")
    return tmp_path


def test_the_official_test_split_reads_its_labels_and_finds_its_images(tmp_path: Path) -> None:
    data = official(tmp_path)
    test = find_samples(data, "test")
    assert [(s.path.name, s.class_id) for s in test] == [("00000.ppm", 14), ("00001.ppm", 17)]
    assert all(s.path.is_file() and s.path.parent.name == "Images" for s in test)
    train = find_samples(data, "train")  # the test set is not training data
    assert [(s.path.name, s.class_id) for s in train] == [("00000_00000.ppm", 1), ("00000_00001.ppm", 1)]


def test_classify_finds_the_rois_of_the_unlabelled_test_csv(tmp_path: Path) -> None:
    from realtime.cli.classify import roi_table

    data = official(tmp_path)
    images = data / "GTSRB" / "Final_Test" / "Images"
    table = roi_table([str(images)])
    assert table[(images / "00001.ppm").resolve()].roi == (4.0, 4.0, 30.0, 30.0)
    assert {s.class_id for s in find_annotations(images)} == {-1}
