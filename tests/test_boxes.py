"""Box arithmetic every stage shares: greedy suppression (the one rule behind ``suppress`` and
``dedupe``), rescaling, clipping and growing, by hand."""

from __future__ import annotations

import numpy as np

from realtime.boxes import around, clip_box, greedy_keep, rescale


def test_greedy_suppression_keeps_what_no_kept_item_covers():
    """``greedy_keep``, the rule of both ``suppress`` and ``dedupe``: a chain A-B-C where only
    neighbours are "the same" keeps A and C (B falls to A; C is not tied to A, and B is not kept).
    Ties in score go to the earlier item."""
    same = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], bool)
    assert greedy_keep(same, np.array([0.9, 0.8, 0.7])) == [0, 2]
    assert greedy_keep(same, np.array([0.7, 0.9, 0.8])) == [1]  # B first: it covers both
    assert greedy_keep(same, np.array([0.5, 0.5, 0.5])) == [0, 2]
    assert greedy_keep(np.zeros((0, 0), bool), np.zeros(0)) == []


def test_rescale_clip_and_around_by_hand():
    # (10, 20, 50, 60): centre (30, 40), 40 x 40; halved in width, three quarters in height
    assert rescale((10, 20, 50, 60), (0.5, 0.75)) == (20.0, 25.0, 40.0, 55.0)
    assert rescale((10, 20, 50, 60), (1.0, 1.0)) == (10.0, 20.0, 50.0, 60.0)
    # a box head overshooting the frame's corner is clipped into it, and kept at least a pixel wide
    assert clip_box((-5, -3, 120, 90), 100, 80) == (0.0, 0.0, 100.0, 80.0)
    assert clip_box((120, 10, 130, 10), 100, 80) == (99.0, 10.0, 100.0, 11.0)
    # grown by half its size on every side, in whole pixels, clipped to the frame
    assert around((10, 20, 50, 60), 0.5, 100, 70) == (0, 0, 70, 70)
    assert around((40, 30, 60, 40), 0.5, 200, 100) == (30, 25, 70, 45)
