"""The classify stage with stand-in recognizers: what the gate passes is classified in one batch,
near-duplicates once, promising crops twice; scores, boxes and the design checks' veto."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.boxes import suppress
from realtime.cascade import Cascade
from realtime.classify import Classify, second_look_from
from realtime.config import ClassifyConfig, GateConfig, RejectConfig
from realtime.design import DesignChecks
from realtime.detect import Detector
from realtime.gate import Gate, to_classify
from realtime.reject import Reject
from realtime.types import Detection
from tests.fakes import FakeClassifier, FakeGate, RandomLookClassifier, TwoLookClassifier
from tests.test_detect import synthetic_scene


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene()


def test_gate_decides_what_is_classified_and_scores_without_a_verifier(scene):
    """Only candidates the gate scores >= its threshold reach the classifier, in one batch; without a
    verifier a detection's score is P(sign) from the gate times the class confidence."""
    img, _ = scene
    fake, gate = FakeClassifier({"blue": (38, 0.99), "red": (2, 0.95), "yellow": (12, 0.97)}), FakeGate()
    classify = Classify(fake, ClassifyConfig(second_look=None), GateConfig(threshold=0.6))
    assert classify.verifier is None  # the stand-in has no verifier of its own
    cascade = Cascade(Detector(), classify, Reject(RejectConfig(min_score=0.0, route_min_score={})), gate=Gate(gate))
    cands, g, *_ = cascade.propose(img)
    assert np.array_equal(g, Gate(gate)(img, cands))
    assert np.array_equal(g, Gate(gate).scores(img, [d.box for d in cands]))
    out = classify(img, cands, g)
    assert fake.calls == 1 and fake.batch_sizes == [int((g >= 0.6).sum())] and len(out) == (g >= 0.6).sum()
    for d, gs in zip(out, g[g >= 0.6]):
        assert d.score == pytest.approx(gs * {38: 0.99, 2: 0.95, 12: 0.97}[d.class_id], rel=1e-6)
    # nothing to gate, nothing gated enough: no classifier call
    assert Gate(gate).scores(img, []).shape == (0,) and classify(img, [], np.zeros(0)) == []
    assert classify(img, cands, np.zeros(len(cands), np.float32)) == [] and fake.calls == 1


def test_near_duplicate_candidates_are_classified_once():
    """``pre_nms``: a candidate overlapping a better-gated one by IoU >= 0.7 is not classified.
    Hand-computed: (0,0,40,40) and (2,2,42,42) overlap 38 x 38 = 1444 of 1600 + 1600 - 1444 = 1756
    pixels (IoU 0.82); (100,0,140,40) overlaps neither."""
    img = np.zeros((100, 300, 3), np.uint8)
    boxes = [(2, 2, 42, 42), (0, 0, 40, 40), (100, 0, 140, 40)]
    cands = [Detection(box=b, colour="red") for b in boxes]
    gate = np.array([0.8, 0.9, 0.5], np.float32)
    assert suppress(boxes, gate, 0.7, np.arange(3)).tolist() == [1, 2]  # the better-gated copy stays
    assert suppress(boxes, gate, 0.9, np.arange(3)).tolist() == [0, 1, 2]  # 0.82 < 0.9: both stay
    assert to_classify(cands, gate, GateConfig(pre_nms=0.7)).tolist() == [1, 2]
    assert to_classify(cands, gate, GateConfig(threshold=0.6, pre_nms=None)).tolist() == [0, 1]
    for pre_nms, rows in ((0.7, [[0, 0, 40, 40], [100, 0, 140, 40]]), (None, [list(b) for b in boxes])):
        fake = FakeClassifier({"red": (2, 0.95)})
        classify = Classify(fake, ClassifyConfig(second_look=None, box_scale=(1.0, 1.0)), GateConfig(pre_nms=pre_nms))
        out = classify(img, cands, gate)
        assert fake.batch_sizes == [len(rows)] and len(out) == len(rows)
        assert sorted(list(d.box) for d in out) == sorted(rows)


def test_second_look_reclassifies_promising_crops_at_the_box_head_box_and_averages():
    img = np.zeros((100, 300, 3), np.uint8)
    cands = [Detection(box=(0, 0, 40, 40), colour="red"), Detection(box=(100, 0, 140, 40), colour="red")]
    gate = np.array([1.0, 1.0], np.float32)
    clf = TwoLookClassifier()
    classify = Classify(clf, ClassifyConfig(second_look=0.5, box_scale=(1.0, 1.0)), verifier=lambda f: None)
    out = classify(img, cands, gate)
    assert len(clf.calls) == 2
    np.testing.assert_allclose(clf.calls[1], clf.calls[0] + np.float32([10, 0, 10, 0]))  # re-cut at the head's box
    # pass 1: class 1 at 0.9 x 0.6 = 0.54; pass 2: class 2 at 0.9 x 0.8 = 0.72; averaged: class 2 at
    # (0.1 x 0.6 + 0.72) / 2 = 0.39 beats class 1 at (0.54 + 0.08) / 2 = 0.31
    assert [d.class_id for d in out] == [2, 2]
    assert out[0].score == pytest.approx(0.39, abs=1e-6)
    # the two passes' boxes averaged: the first pass re-framed (10, 0, 50, 40), the second (20, 0, 60, 40)
    assert out[0].box == (15.0, 0.0, 55.0, 40.0)
    first_only = Classify(TwoLookClassifier(), ClassifyConfig(second_look=0.5, second_box=0.0, box_scale=(1.0, 1.0)))
    kept = first_only.with_verifier(lambda f: None)(img, cands, gate)
    assert kept[0].box == (10.0, 0.0, 50.0, 40.0)  # second_box 0: the first pass's box
    # crops scoring under second_look keep their single look, and no second call is made
    clf2 = TwoLookClassifier()
    out2 = Classify(clf2, ClassifyConfig(second_look=0.6), verifier=lambda f: None)(img, cands, gate)
    assert len(clf2.calls) == 1 and [d.class_id for d in out2] == [1, 1]
    assert out2[0].score == pytest.approx(0.54, abs=1e-6)


@pytest.mark.parametrize("keep_from", [0.5, 0.75, 0.8, 0.9])
def test_second_looks_that_cannot_reach_the_kept_scores_are_skipped_and_change_nothing_kept(keep_from):
    """A caller keeping scores >= ``keep_from`` (the cascade, with ``Reject.floor``) gets the same
    kept detections, box, class and score, with fewer second looks: a crop under 2 x keep_from - 1
    cannot average up to keep_from. Random stand-in probabilities, 400 crops."""
    img = np.zeros((600, 800, 3), np.uint8)
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 700, (400, 2))
    cands = [Detection(box=(x, y, x + s, y + s), colour="red") for (x, y), s in zip(xy, rng.uniform(14, 90, 400))]
    gate = np.ones(len(cands), np.float32)
    config = ClassifyConfig(second_look=0.3, design_checks=False)
    every, pruned = RandomLookClassifier(), RandomLookClassifier()
    gated = GateConfig(pre_nms=None)
    full = Classify(every, config, gated, verifier=lambda f: None)(img, cands, gate)
    fast = Classify(pruned, config, gated, verifier=lambda f: None)(img, cands, gate, check_from=keep_from)
    assert len(full) == len(fast) == len(cands)
    kept = [(d.box, d.class_id, d.score) for d in full if d.score >= keep_from]
    assert kept and kept == [(d.box, d.class_id, d.score) for d in fast if d.score >= keep_from]
    # the looks spared: crops scoring from second_look up to the bound on their first pass
    first = RandomLookClassifier().classify_boxes(img, [d.box for d in cands])
    s1 = first.scores * first.sign
    bound = second_look_from(0.3, keep_from)
    assert bound == pytest.approx(max(0.3, 2 * keep_from - 1), abs=2e-4)
    assert every.rows - pruned.rows == ((s1 >= 0.3) & (s1 < bound)).sum()
    assert keep_from == 0.5 or pruned.rows < every.rows
    assert second_look_from(0.3, 0.0) == 0.3  # a caller keeping everything spares none


def test_box_scale_shrinks_reported_boxes_about_their_centre_after_the_design_check(monkeypatch):
    """The box head learnt GTSRB's looser boxes; ``box_scale`` maps them to GTSDB's tight ones. The
    design check still sees the box head's box (the framing it was written for)."""
    seen = []
    design = DesignChecks()
    monkeypatch.setitem(design.checks, 2, lambda im, box: seen.append(box) or True)
    classify = Classify(TwoLookClassifier(), ClassifyConfig(second_look=0.5, box_scale=(0.5, 0.75)), design=design,
                        verifier=lambda f: None)
    out = classify(np.zeros((100, 300, 3), np.uint8), [Detection(box=(0, 0, 40, 40), colour="red")],
                   np.ones(1, np.float32))
    assert seen == [(15.0, 0.0, 55.0, 40.0)]  # unscaled (the two passes' heads moved it 10 and 20 px right)
    assert out[0].box == pytest.approx((25.0, 5.0, 45.0, 35.0))  # centre (35, 20), 20 x 30
    with pytest.raises(ValueError):
        ClassifyConfig(box_scale=(0.0, 1.0))
    with pytest.raises(ValueError):
        ClassifyConfig(second_box=1.5)


def test_failed_design_check_rejects_the_class(scene):
    img, gt = scene
    fake = FakeClassifier({"blue": (17, 0.999), "red": (17, 0.999), "yellow": (17, 0.999)})
    cands = Detector()(img)
    dets = Classify(fake, ClassifyConfig(second_look=None))(img, cands, np.ones(len(cands), np.float32))
    assert dets and all(d.class_id == -1 for d in dets)  # nothing in the scene is a no-entry sign
    assert Reject(RejectConfig(min_score=0.5, route_min_score={}, consistency="none"))(dets) == []
    # checked only from ``check_from`` on: below it the class stands, and the rejection rule drops
    # the detection anyway when ``check_from`` is its floor
    low = Classify(fake, ClassifyConfig(second_look=None))(img, cands, np.ones(len(cands), np.float32),
                                                           check_from=1.0)
    assert low and all(d.class_id == 17 for d in low)
    assert Reject(RejectConfig(min_score=1.0, route_min_score={}, consistency="none"))(low) == []
    # with the checks off the class stands
    unchecked = Classify(FakeClassifier({"red": (17, 0.999)}), ClassifyConfig(second_look=None, design_checks=False))
    assert any(d.class_id == 17 for d in unchecked(img, cands, np.ones(len(cands), np.float32)))


def test_classify_and_gate_configs_validate():
    """Each setting is validated by the section that holds it."""
    with pytest.raises(ValueError):
        ClassifyConfig(second_look=1.5)
    with pytest.raises(ValueError):
        GateConfig(threshold=1.5)
    with pytest.raises(ValueError):
        GateConfig(pre_nms=0.0)
    with pytest.raises(ValueError):
        GateConfig(pre_nms=1.5)
    assert ClassifyConfig(second_look=None).second_look is None and GateConfig(pre_nms=None).pre_nms is None
