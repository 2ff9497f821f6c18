from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures import make_kaggle, make_official
from training import datasets


def test_official_layout_reads_all_images_with_scaled_rois(tmp_path):
    make_official(tmp_path, [0, 1, 14], tracks=2, frames=3, sizes=(32, 45))
    ds = datasets.load(tmp_path)
    assert len(ds) == 18
    assert sorted(set(ds.labels.tolist())) == [0, 1, 14]
    for img, roi in zip(ds.images, ds.rois):
        h, w = img.shape[:2]
        b = max(1, w // 10)
        # inclusive CSV ROI (b .. w-1-b) becomes the exclusive box (b .. w-b) in actual pixels
        np.testing.assert_allclose(roi, [b, b, w - b, h - b], atol=1e-4)


def test_rois_are_rescaled_when_files_are_smaller_than_declared(tmp_path):
    """The shared data has 32x32 copies whose CSV still describes the original size."""
    make_official(tmp_path, [3], tracks=1, frames=1, sizes=(64,))
    csv = next(tmp_path.rglob("GT-*.csv"))
    img_path = next(tmp_path.rglob("*.ppm"))
    import cv2

    cv2.imwrite(str(img_path), cv2.resize(cv2.imread(str(img_path)), (32, 32)))
    ds = datasets.load(tmp_path)
    b = 64 // 10
    np.testing.assert_allclose(ds.rois[0], [b / 2, b / 2, (64 - b) / 2, (64 - b) / 2], atol=1e-4)
    assert csv.exists()


def test_kaggle_layout_train_and_test(tmp_path):
    make_kaggle(tmp_path, [2, 5, 40], tracks=2, frames=2)
    train = datasets.load(tmp_path, split="train")
    test = datasets.load(tmp_path, split="test")
    assert len(train) == 12 and len(test) == 3
    assert set(train.tracks.tolist()) == {f"{c}:{t:05d}" for c in (2, 5, 40) for t in range(2)}
    assert len(set(test.tracks.tolist())) == 3  # no track in test names: each image its own


def test_unreadable_images_are_skipped_and_listed(tmp_path):
    make_official(tmp_path, [0], tracks=1, frames=3)
    bad = sorted(tmp_path.rglob("*.ppm"))[0]
    bad.write_bytes(b"")
    ds = datasets.load(tmp_path)
    assert len(ds) == 2 and ds.skipped == [str(bad)]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(datasets.DatasetError, match="not found"):
        datasets.load(tmp_path / "nope")
    with pytest.raises(datasets.DatasetError, match="no GTSRB annotations"):
        datasets.load(tmp_path)


def test_track_split_never_shares_a_track_and_is_reproducible():
    rng = np.random.default_rng(0)
    labels = np.repeat(rng.integers(0, 43, 300), 30)
    tracks = np.repeat([f"{c}:{i:05d}" for i, c in enumerate(labels[::30])], 30)
    tr, va = datasets.split_by_track(labels, tracks, 0.2, seed=3)
    assert set(tracks[tr]).isdisjoint(tracks[va])
    assert len(tr) + len(va) == len(labels)
    assert 0.1 < len(va) / len(labels) < 0.3
    tr2, va2 = datasets.split_by_track(labels, tracks, 0.2, seed=3)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    _, va3 = datasets.split_by_track(labels, tracks, 0.2, seed=4)
    assert not np.array_equal(va, va3)
    # every class with at least two tracks is on both sides
    for c in np.unique(labels):
        if len(set(tracks[labels == c])) >= 2:
            assert c in set(labels[va]) and c in set(labels[tr])


def test_shared_data_split_is_track_disjoint(gtsrb_dir):
    samples = datasets.find_samples(gtsrb_dir)
    assert len(samples) == 39209
    labels = np.array([s.class_id for s in samples])
    tracks = np.array([s.track for s in samples])
    assert len(set(tracks.tolist())) == 1307
    tr, va = datasets.split_by_track(labels, tracks, 0.15, seed=0)
    assert set(tracks[tr]).isdisjoint(tracks[va])
