"""Per-track error counts of ``evaluate``: what tells a few hard physical signs from errors spread thin."""

import numpy as np

from training.evaluate import track_errors


def test_track_errors_counts_per_physical_sign_most_first():
    labels = np.array([1, 1, 1, 2, 2, 3])
    tracks = np.array(["1:0", "1:0", "1:1", "2:0", "2:0", "3:0"])
    wrong = np.array([True, False, True, True, True, False])
    rows = track_errors(labels, tracks, wrong)
    assert rows == [
        {"track": "2:0", "class_id": 2, "errors": 2, "images": 2},
        {"track": "1:0", "class_id": 1, "errors": 1, "images": 2},
        {"track": "1:1", "class_id": 1, "errors": 1, "images": 1},
    ]
    assert track_errors(labels, tracks, np.zeros(6, bool)) == []
