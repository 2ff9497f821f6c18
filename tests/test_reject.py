"""The rejection rule: confident enough for the route that found the candidate, consistent with how
it was found, and one detection per place."""

from __future__ import annotations

import pytest

from realtime.boxes import iou
from realtime.config import RejectConfig
from realtime.reject import Reject, consistent
from realtime.types import Detection


def test_rejects_inconsistent_and_unsure_and_background():
    blue_disc = Detection(box=(0, 0, 40, 40), colour="blue", shape="circle")
    red_tri = Detection(box=(0, 0, 40, 40), colour="red", shape="triangle")
    small_red = Detection(box=(0, 0, 16, 16), colour="red", shape="triangle")
    assert not consistent(blue_disc, 18)  # a blue disc is not "general caution"
    assert consistent(blue_disc, 38)
    assert not consistent(red_tri, 2)  # triangle outline vs a round speed limit
    assert consistent(red_tri, 2, mode="colour")
    assert consistent(small_red, 2)  # too small for the outline to veto
    assert not consistent(red_tri, -1, mode="none")  # the background class is never a sign
    assert consistent(Detection(box=(0, 0, 40, 40), colour="yellow", shape="diamond"), 12)
    assert not consistent(Detection(box=(0, 0, 40, 40), colour="yellow", shape="diamond"), 14)
    assert consistent(Detection(box=(0, 0, 40, 40), colour="achromatic", shape="circle"), 41)
    assert consistent(Detection(box=(0, 0, 40, 40), colour="red", shape="octagon"), 14)
    # an orange priority-road core under warm light falls in the red hue range
    assert consistent(Detection(box=(0, 0, 40, 40), colour="red"), 12, mode="colour")
    assert not consistent(Detection(box=(0, 0, 40, 40), colour="blue"), 12, mode="colour")

    reject = Reject(RejectConfig(min_score=0.9, route_min_score={}, consistency="shape"))
    good = Detection(box=(0, 0, 40, 40), colour="blue", shape="circle", class_id=38, score=0.95)
    dup = Detection(box=(1, 1, 41, 41), colour="blue", shape="circle", class_id=38, score=0.93)
    unsure = Detection(box=(100, 0, 140, 40), colour="blue", shape="circle", class_id=38, score=0.6)
    wrong = Detection(box=(200, 0, 240, 40), colour="blue", shape="circle", class_id=14, score=0.99)
    assert reject([unsure, dup, wrong, good]) == [good]
    assert reject.accept(good) and not reject.accept(unsure) and not reject.accept(wrong)
    strict_blue = Reject(RejectConfig(min_score=0.9, route_min_score={"blue": 0.99}))
    assert strict_blue([good]) == []


def test_learned_candidates_fit_every_class():
    """The learned localizer knows no colour or outline: no class is inconsistent with it."""
    learned = Detection(box=(40, 40, 60, 60), colour="learned")
    assert consistent(learned, 11, "shape") and consistent(learned, 38, "shape")
    assert not consistent(learned, -1, "shape")  # but the background class is still no sign


def test_a_box_inside_a_found_sign_is_its_duplicate_but_a_neighbour_is_not():
    """A pictogram found inside its own sign by another route overlaps it by IoU < 0.5; with
    ``dedupe_centre`` (shipped) it is the same sign, and the better score stays. Signs stacked on
    one pole touch but hold neither centre: both stay."""
    sign = Detection(box=(100, 100, 140, 140), colour="blue", class_id=38, score=0.99)
    arrow = Detection(box=(112, 110, 130, 128), colour="achromatic", class_id=38, score=0.85)  # IoU 0.2
    below = Detection(box=(100, 141, 140, 181), colour="red", class_id=2, score=0.8)
    assert iou(sign.box, arrow.box) < 0.5
    assert RejectConfig().dedupe_centre
    reject = Reject(RejectConfig(min_score=0.5, route_min_score={}, consistency="none"))
    assert reject([arrow, below, sign]) == [sign, below]
    off = Reject(RejectConfig(min_score=0.5, route_min_score={}, consistency="none", dedupe_centre=False))
    assert off([arrow, below, sign]) == [sign, arrow, below]


def test_reject_config_validates_and_picks_the_route_threshold():
    with pytest.raises(ValueError):
        RejectConfig(consistency="colours")
    with pytest.raises(ValueError):
        RejectConfig(min_score=1.5)
    with pytest.raises(ValueError):
        RejectConfig(route_min_score={"red": -0.1})
    cfg = RejectConfig(min_score=0.7, route_min_score={"learned": 0.8})
    assert cfg.threshold("learned") == 0.8 and cfg.threshold("red") == 0.7
    assert Reject(cfg).floor == 0.7
    assert Reject(RejectConfig(min_score=0.7, route_min_score={"blue": 0.4})).floor == 0.4
