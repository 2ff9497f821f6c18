"""k-fold validation by track (issue 33): ``train --folds K --fold I`` validates on fold I of each
class's tracks and trains on the rest; the card records it and ``evaluate --split val`` re-creates
it. Without --folds the split is today's seeded share of each class's tracks, unchanged."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from realtime.card import ModelCard
from tests.fixtures import make_official
from training import datasets


def _tracks(n_tracks: int = 300, frames: int = 5, seed: int = 0):
    """Labels and track ids of a made-up set: classes with 1 to ~15 tracks, ``frames`` images each."""
    rng = np.random.default_rng(seed)
    per_track = np.concatenate([np.arange(43), rng.integers(0, 43, n_tracks - 43)])  # rare and common classes
    labels = np.repeat(per_track, frames)
    tracks = np.repeat([f"{c:05d}/{i:05d}" for i, c in enumerate(per_track)], frames)
    return labels, tracks


# the validation indices ``split_by_track`` gave before --folds existed (code of bfbc965) for
# ``_tracks()``: (val_fraction, seed) -> (how many, the first 16 hex digits of their int64 SHA-256)
LEGACY = {(0.15, 0): (240, "a711690f334fdd0e"), (0.2, 3): (310, "fb4dd7e5d049a73c"),
          (0.34, 1): (505, "e4e8f5b68c23e6d7")}


def _digest(idx: np.ndarray) -> tuple[int, str]:
    return len(idx), hashlib.sha256(np.asarray(idx, np.int64).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("k", [2, 5, 7])
def test_folds_are_disjoint_cover_every_track_and_hold_every_class_with_k_tracks(k) -> None:
    labels, tracks = _tracks()
    fold_of = datasets.track_folds(labels, tracks, k, seed=0)
    assert set(fold_of) == set(tracks.tolist())  # every track in exactly one fold
    assert set(fold_of.values()) == set(range(k))
    sizes = np.bincount(list(fold_of.values()), minlength=k)
    assert sizes.max() - sizes.min() <= 1  # as even as possible
    vals = []
    for i in range(k):
        tr, va = datasets.split_by_track(labels, tracks, seed=0, folds=k, fold=i)
        assert set(tracks[tr]).isdisjoint(tracks[va])  # no track on both sides
        assert len(tr) + len(va) == len(labels)
        assert set(tracks[va].tolist()) == {t for t, f in fold_of.items() if f == i}
        vals.append(set(va.tolist()))
        for c in np.unique(labels):
            n = len(set(tracks[labels == c].tolist()))
            in_fold = len(set(tracks[va][labels[va] == c].tolist()))
            # each class is dealt evenly: n // k or n // k + 1 of its tracks in each fold
            assert n // k <= in_fold <= n // k + 1
            if n >= k:
                assert c in set(labels[va]) and c in set(labels[tr])
    for i in range(k):  # the validation folds partition the images
        for j in range(i + 1, k):
            assert vals[i].isdisjoint(vals[j])
    assert set().union(*vals) == set(range(len(labels)))


def test_folds_are_reproducible_and_drawn_with_the_split_seed() -> None:
    labels, tracks = _tracks()
    a = datasets.split_by_track(labels, tracks, seed=3, folds=5, fold=2)
    b = datasets.split_by_track(labels, tracks, 0.5, seed=3, folds=5, fold=2)  # val_fraction is unused
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = datasets.split_by_track(labels, tracks, seed=4, folds=5, fold=2)
    assert not np.array_equal(a[1], c[1])


def test_the_default_split_is_unchanged() -> None:
    labels, tracks = _tracks()
    for (frac, seed), expected in LEGACY.items():
        train, val = datasets.split_by_track(labels, tracks, frac, seed)
        assert _digest(val) == expected
        assert len(train) + len(val) == len(labels) and not set(train) & set(val)
        rec = datasets.split_from_record(labels, tracks, {"by": "track", "seed": seed, "val_fraction": frac,
                                                          "train_stride": 1})
        assert all(np.array_equal(x, y) for x, y in zip((train, val), rec))


def test_bad_folds_are_refused() -> None:
    labels, tracks = _tracks()
    for folds, fold in ((5, None), (None, 0), (1, 0), (5, 5), (5, -1)):
        with pytest.raises(ValueError, match="fold"):
            datasets.split_by_track(labels, tracks, folds=folds, fold=fold)
    with pytest.raises(ValueError, match="no track-wise split"):
        datasets.split_from_record(labels, tracks, {})


def test_the_cli_takes_folds_and_defaults_to_todays_split() -> None:
    from training.__main__ import _parser, main

    base = ["train", "--gtsrb", "d", "--output", "o"]
    a = _parser().parse_args(base)
    assert (a.folds, a.fold, a.val_fraction, a.split_seed) == (None, None, 0.15, None)
    b = _parser().parse_args([*base, "--folds", "5", "--fold", "2", "--split-seed", "0"])
    assert (b.folds, b.fold, b.split_seed) == (5, 2, 0)
    assert main([*base, "--folds", "5"]) != 0  # --folds without --fold: an error, before any data is read


def test_the_card_records_the_fold_and_evaluate_re_creates_it(tmp_path) -> None:
    from training.__main__ import main
    from training.evaluate import load_split

    split_seed = 7  # not the weights' seed: the card must keep the split seed
    data = make_official(tmp_path / "data", [0, 1, 2, 14], tracks=4, frames=2)
    out = tmp_path / "fold1"
    assert main(["train", "--gtsrb", str(data), "--output", str(out), "--name", "tiny", "--folds", "3", "--fold", "1",
                 "--seed", "0", "--split-seed", str(split_seed), "--epochs", "1", "--batch-size", "8", "--width", "4",
                 "--patience", "0", "--warmup-epochs", "0", "--quantize", "none"]) == 0
    card = ModelCard.load(out / "tiny.json")
    assert card.training["split"] == {"by": "track", "seed": split_seed, "folds": 3, "fold": 1, "train_stride": 1}
    ds = datasets.load(data)
    tr, va = datasets.split_by_track(ds.labels, ds.tracks, seed=split_seed, folds=3, fold=1)
    assert card.training["val_images"] == len(va) and card.training["train_images"] == len(tr)
    assert card.training["val_tracks"] == len(set(ds.tracks[va].tolist()))
    val = load_split(str(data), card, "val")
    assert sorted(val.paths) == sorted(ds.paths[i] for i in va)  # exactly that fold's images
    _, default_va = datasets.split_by_track(ds.labels, ds.tracks, 0.15, split_seed)
    assert sorted(val.paths) != sorted(ds.paths[i] for i in default_va)
    assert main(["evaluate", "--gtsrb", str(data), "--model", str(out / "tiny.keras"), "--split", "val",
                 "--output", str(tmp_path / "ev")]) == 0
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert ev["n"] == len(va)
    assert ev["accuracy"] == pytest.approx(card.validation["accuracy"], abs=1e-6)


def test_val_fraction_0_trains_on_every_track_and_the_record_recreates_it() -> None:
    labels, tracks = _tracks()
    train, val = datasets.split_by_track(labels, tracks, 0.0, seed=0)
    assert len(val) == 0 and np.array_equal(train, np.arange(len(labels)))
    rec = datasets.split_from_record(labels, tracks, {"by": "track", "seed": 0, "val_fraction": 0.0})
    assert len(rec[1]) == 0 and np.array_equal(rec[0], train)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="share of the tracks"):
            datasets.split_by_track(labels, tracks, bad, seed=0)
