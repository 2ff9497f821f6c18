"""Detection metrics against small cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.boxes import iou
from training.detmetrics import (
    ImageBoxes,
    average_precision,
    candidate_recall,
    evaluate,
    iou_matrix,
    match,
    pr_curve,
    recall_by_size,
    size_bin,
)


def boxes(*rows, classes=None, scores=None) -> ImageBoxes:
    n = len(rows)
    return ImageBoxes(np.array(rows, float).reshape(-1, 4), classes if classes is not None else [-1] * n, scores)


def test_iou_values_by_hand():
    a = [0, 0, 10, 10]
    m = iou_matrix(np.array([a]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 5, 5], [20, 20, 30, 30],
                                            [10, 0, 20, 10]]))
    # identical 1; half overlap 50/150; nested quarter 25/100; disjoint 0; touching edges 0
    np.testing.assert_allclose(m[0], [1.0, 1 / 3, 0.25, 0.0, 0.0])
    assert m[0, 1] == pytest.approx(iou(a, (5, 0, 15, 10)))


def test_iou_degenerate_boxes_are_zero_not_nan():
    m = iou_matrix(np.array([[0, 0, 0, 0]]), np.array([[0, 0, 0, 0], [0, 0, 4, 4]]))
    assert np.all(m == 0)


def test_ap_three_detections_by_hand():
    # scores 0.9 TP, 0.8 FP, 0.7 TP with 2 GT: recall .5 .5 1, precision 1 .5 .667
    # interpolated: 0.5 * 1 + 0.5 * 2/3
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1], bool), 2) == pytest.approx(5 / 6)
    # FP first, then two TP, 3 GT: recall 0 1/3 2/3, interpolated precision 2/3 on both steps
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([0, 1, 1], bool), 3) == pytest.approx(4 / 9)
    # order is by score, not by list position
    assert average_precision(np.array([0.7, 0.8, 0.9]), np.array([1, 0, 1], bool), 2) == pytest.approx(5 / 6)


def test_ap_edge_cases():
    assert average_precision(np.zeros(0), np.zeros(0, bool), 3) == 0.0
    assert average_precision(np.array([0.5]), np.array([True]), 1) == 1.0
    assert np.isnan(average_precision(np.array([0.5]), np.array([False]), 0))


def test_pr_curve_by_hand():
    r, p = pr_curve(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1], bool), 2)
    np.testing.assert_allclose(r, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(p, [1.0, 0.5, 2 / 3])


def test_duplicates_are_false_positives_and_best_score_wins():
    gt = boxes([0, 0, 20, 20], classes=[1])
    det = boxes([1, 1, 20, 20], [0, 0, 20, 20], [0, 0, 19, 21], classes=[1, 1, 1], scores=[0.5, 0.9, 0.7])
    tp, hit = match(det, gt)
    assert tp.tolist() == [False, True, False]
    assert hit.tolist() == [True]
    s = evaluate({"a": det}, {"a": gt})["overall"]
    assert (s["tp"], s["fp"], s["fn"]) == (1, 2, 0)
    assert s["precision"] == pytest.approx(1 / 3)
    assert s["recall"] == 1.0


def test_iou_threshold_is_inclusive_and_point_six():
    gt = boxes([0, 0, 10, 10])
    # 6x10 inside 10x10 -> IoU exactly 0.6
    assert match(boxes([0, 0, 6, 10], scores=[1]), gt)[0].tolist() == [True]
    assert match(boxes([0, 0, 5, 10], scores=[1]), gt)[0].tolist() == [False]


def test_one_detection_per_gt_with_two_close_signs():
    gt = boxes([0, 0, 10, 10], [2, 0, 12, 10])
    det = boxes([1, 0, 11, 10], scores=[1.0])
    tp, hit = match(det, gt)
    assert tp.tolist() == [True] and hit.sum() == 1


def test_categories_and_end_to_end():
    # scene a: a 50 km/h sign (prohibitory) found and right; a danger sign found but called 50 km/h
    gts = {"a": boxes([0, 0, 40, 40], [100, 0, 120, 20], classes=[2, 18]),
           "b": boxes([0, 0, 70, 70], classes=[38])}  # mandatory, missed
    dets = {"a": boxes([0, 0, 40, 40], [100, 0, 120, 20], classes=[2, 2], scores=[0.9, 0.8]),
            "c": boxes([5, 5, 30, 30], classes=[38], scores=[0.3])}  # false alarm in a scene without signs
    r = evaluate(dets, gts)
    pro, dan, man = (r["categories"][c] for c in ("prohibitory", "danger", "mandatory"))
    assert (pro["tp"], pro["fp"], pro["fn"]) == (1, 1, 0)  # the mislabelled danger sign is a prohibitory FP
    assert (dan["tp"], dan["fn"], dan["n_det"]) == (0, 1, 0)
    assert dan["precision"] is None and dan["recall"] == 0.0
    assert (man["tp"], man["fp"], man["fn"]) == (0, 1, 1)
    assert r["overall"]["tp"] == 2 and r["overall"]["fp"] == 1
    assert r["end_to_end"]["tp"] == 1 and r["end_to_end"]["recall"] == pytest.approx(1 / 3)
    assert r["end_to_end"]["precision"] == pytest.approx(1 / 3)
    assert r["categories"]["other"]["n_gt"] == 0 and r["categories"]["other"]["ap"] is None


def test_size_bins():
    assert [size_bin(w) for w in (16, 31.9, 32, 63, 64, 128)] == ["<32", "<32", "32-64", "32-64", ">=64", ">=64"]
    r = recall_by_size(np.array([20, 40, 50, 100]), np.array([1, 0, 1, 1], bool))
    assert r == {"<32": {"n": 1, "recall": 1.0}, "32-64": {"n": 2, "recall": 0.5}, ">=64": {"n": 1, "recall": 1.0}}


def test_candidate_recall_needs_no_classes():
    gts = {"a": boxes([0, 0, 40, 40], [100, 0, 120, 20], classes=[2, 18])}
    cands = {"a": boxes([1, 1, 40, 40], [200, 0, 220, 20], scores=[0.5, 0.4])}
    r = candidate_recall(cands, gts)
    assert r["all"]["recall"] == 0.5
    assert r["prohibitory"]["recall"] == 1.0 and r["danger"]["recall"] == 0.0
    assert r["candidates_per_image"] == 2.0


def test_limit_report_separates_a_wrong_limit_from_other_errors() -> None:
    from training.metrics import limit_report

    true = np.array([3, 3, 3, 5, 32, 14, 14])
    pred = np.array([3, 5, 5, 5, 14, 3, 14])  # 60 read as 80 twice, end-of read as stop; a stop read as 60
    r = limit_report(true, pred, [*range(9), 32, 41, 42])
    assert r["images"] == 5 and r["accuracy"] == 2 / 5
    assert r["errors_within_group"] == 2 and r["errors_out_of_group"] == 1
    assert r["confusions"][0] == {"true": 3, "pred": 5, "count": 2, "within_group": True}
