"""The gate's training data from rendered drive-bys: in every fold's training, in no held-out figure."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")


def test_rendered_crops_are_labelled_by_their_boxes_and_never_held_out() -> None:
    from training.gate import (
        GATE_PRE,
        NEGATIVE_IOU,
        POSITIVE_IOU,
        Mined,
        joined,
        mine_rendered,
        recall_at,
    )

    r = mine_rendered(1)
    assert r.x.shape[1:] == GATE_PRE.input_shape and r.x.dtype == np.uint8
    assert len(r.x) == len(r.iou) == len(r.fold) == len(r.kind)
    assert (r.fold == -1).all()
    # every mined frame: the detector's candidates (kind 0), then jittered copies of the signs (kind 1),
    # which overlap a sign; the candidates are mostly clutter
    assert (r.kind == 1).any() and (r.iou[r.kind == 1] > 0).all()
    assert (r.iou[r.kind == 0] < NEGATIVE_IOU).sum() > (r.iou[r.kind == 0] >= POSITIVE_IOU).sum()

    scenes = Mined(np.zeros((4, *GATE_PRE.input_shape), np.uint8), np.array([0.9, 0.0, 0.8, 0.1], np.float32),
                   np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), np.zeros(4, np.int8), ["a.jpg", "b.jpg"])
    both = joined(scenes, r)
    assert len(both.x) == 4 + len(r.x) and both.names == ["a.jpg", "b.jpg"]
    assert (both.fold[:4] == scenes.fold).all()
    # a fold gate trains on ``fold != k`` (the rendered crops included) and is scored on ``fold == k``
    assert (both.fold != 0)[4:].all() and not (both.fold == 0)[4:].any()
    # the pooled held-out figures count the scenes' crops alone: scoring every rendered crop 1.0
    # changes nothing there
    s = np.r_[np.array([0.9, 0.0, 0.0, 0.0], np.float32), np.ones(len(r.x), np.float32)]
    pooled = recall_at(both, s, both.fold >= 0, (0.5,))[0]
    assert pooled == {"threshold": 0.5, "kept_per_scene": 0.5, "positives_kept": 0.5}
