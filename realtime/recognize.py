"""Stages 1 + 2 together: detector candidates, the gate, one batched recognizer call, and rejection.

The detector proposes ~200 candidates a frame. The gate (a tiny CNN, one batched call over all of
them) keeps the few that may be signs; the recognizer (one batched call over those) names the
class and re-frames the box with its box head; promising crops get a second look at that box. A
detection's score is P(sign) from the verifier (or the gate) times the recognizer's confidence in
its class. Then rejection: a threshold per detector route, optionally consistency between how
the detector found the candidate (colour route, outline) and what the catalogue says the class
looks like (a blue disc cannot be a red triangle; ``consistency``, off as shipped: the folds choose
"none"), and design checks of single classes on the frame (no entry needs its white bar).
Thresholds are chosen by cross-validation over GTSDB scenes (see docs/DETECTOR.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import cv2
import numpy as np

from realtime.classes import CLASSES, NUM_CLASSES
from realtime.preprocess import Work, as_bgr8, prepare_boxes
from realtime.types import Detection, iou_matrix

# what must agree, loosest first (ties between modes go to the later, stricter one); "shape" checks
# colour and outline
CONSISTENCY = ("none", "colour", "shape")
_SAME_OUTLINE = {"octagon": "circle"}  # at sign sizes an octagon and a circle are one outline


@dataclass(frozen=True)
class RecognizerConfig:
    """Rejection settings; defaults are the values chosen by 5-fold CV on GTSDB (docs/DETECTOR.md).

    Thresholds follow a model's calibration: these were chosen for the shipped
    ``models/gtsrb_cnn.tflite`` and must be re-chosen (``eval-detection`` prints ``recommended``)
    whenever the shipped model changes.
    """

    # P(sign) x class confidence needed to report a sign. With the closer look (realtime/refine.py)
    # the folds chose 0.8, red 0.9 and achromatic 0.85 in four of five; red 0.9 cost 2 of 80 signs on
    # the drive-bys (seeds 11-14) and the folds' F1 barely moves: one threshold for every route,
    # between the two (docs/DETECTOR.md)
    min_score: float = 0.75
    # stricter or looser thresholds for single detector routes (red, blue, yellow, achromatic)
    # (the learned localizer's route: 0.8, the folds' median with the verifier that learnt from its
    # candidates, 2026-12-02 ~15:45; 0.85 before it did; docs/DETECTOR.md)
    route_min_score: dict[str, float] = field(default_factory=lambda: {"learned": 0.8})
    consistency: str = "none"
    shape_min_width: float = 24.0  # below this width (px) outlines are too coarse to veto a class
    design_checks: bool = True  # verify classes with a cheap design test (DESIGN_CHECKS)
    # candidates the gate scores below this are not classified at all: recall against classifier time,
    # chosen by the folds with the thresholds (~14 of ~210 candidates a GTSDB scene at 0.1, 11 at 0.2)
    gate_min: float = 0.1
    # classified crops scoring at least this get a second look: re-cropped at the box head's box and
    # classified again, the two passes' P(sign) x probabilities averaged (None: one pass only)
    second_look: float | None = 0.3
    # weight of the second look's box in the box reported for a crop that had one (0: the first
    # pass's box, 0.5: the two averaged, like the probabilities). 0 -> 0.5: cross-validated GTSDB
    # end to end 0.964/0.843 -> 0.982/0.855 (P/R), mostly fewer boxes just under IoU 0.6
    second_box: float = 0.5
    # the box head learnt GTSRB's looser ROI boxes: reported boxes are scaled by (width, height) about
    # their centre to GTSDB's tight ones (chosen by CV like the thresholds; 1, 1 leaves them as they are)
    box_scale: tuple[float, float] = (0.91, 0.857)
    dedupe_iou: float = 0.5  # two accepted boxes overlapping this much are one sign
    # ... and so are two boxes of which one holds the other's centre: a second, smaller box inside a
    # sign (its pictogram, another route's blob) is a duplicate. On: the folds can take lower
    # thresholds without those duplicates as false alarms (CV 0.982/0.855 -> 0.968/0.875)
    dedupe_centre: bool = True
    # gated candidates overlapping a better-gated one by at least this IoU are not classified (None: all
    # are): the detector proposes one sign several times (levels, rings, ends), and the box head
    # re-frames near-duplicates alike. A speed setting: at 0.75 the recognizer classifies 20% fewer
    # rows on GTSDB scenes (10.1 a scene instead of 12.6, second looks included) with the same
    # detections in every category, held out and configured; at 0.7 (shipped until 2026-12-01) the
    # folds' box scales shift and one prohibitory sign is lost (docs/BENCHMARKS.md)
    pre_nms: float | None = 0.75

    def __post_init__(self) -> None:
        if self.consistency not in CONSISTENCY:
            raise ValueError(f"unknown consistency mode {self.consistency!r}; expected one of {CONSISTENCY}")
        for v in (self.min_score, self.gate_min, *self.route_min_score.values(),
                  *([] if self.second_look is None else [self.second_look])):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"score threshold {v} out of range 0..1")
        if self.pre_nms is not None and not 0.0 < self.pre_nms <= 1.0:
            raise ValueError(f"pre_nms {self.pre_nms} must be an IoU in (0, 1] or None")
        if not 0.0 <= self.second_box <= 1.0:
            raise ValueError(f"second_box {self.second_box} must be a weight from 0 to 1")
        if len(self.box_scale) != 2 or not all(0.0 < v <= 2.0 for v in self.box_scale):
            raise ValueError(f"box_scale {self.box_scale} must be two factors in (0, 2]")

    def threshold(self, route: str) -> float:
        return self.route_min_score.get(route, self.min_score)


def consistent(det: Detection, class_id: int, mode: str = "shape", shape_min_width: float = 24.0) -> bool:
    """Whether the detector's evidence (colour route, outline) fits the catalogue entry of a class."""
    if not 0 <= class_id < NUM_CLASSES:
        return False  # the background class, or an id the catalogue does not know
    if mode == "none" or not det.colour or det.colour == "learned":  # the learned localizer knows no colour
        return True
    sign = CLASSES[class_id]
    if det.colour == "achromatic":  # the end-of signs, and priority road by its broad white border
        ok = sign.achromatic or sign.id == 12
    else:
        # priority road's core is yellow, or falls in the red hue range when orange under warm light
        ok = det.colour in sign.colours[:1] or (det.colour in ("yellow", "red") and sign.id == 12)
    if not ok or mode == "colour" or not det.shape or det.width < shape_min_width:
        return ok
    return _SAME_OUTLINE.get(det.shape, det.shape) == _SAME_OUTLINE.get(sign.shape, sign.shape)


def _hsv32(img: np.ndarray, box: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The box's pixels resized to 32x32: saturation, value (float) and the red mask, or None for an
    empty box. The shared first step of the design checks."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    roi = img[max(0, y1):max(y1 + 1, y2), max(0, x1):max(x1 + 1, x2)]
    if roi.size == 0:
        return None
    hsv = cv2.cvtColor(cv2.resize(roi, (32, 32), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2HSV)
    h, s, v = (hsv[:, :, k].astype(np.float32) for k in range(3))
    return s, v, ((h <= 10) | (h >= 160)) & (s >= 60)


def _no_entry(img: np.ndarray, box: Sequence[float]) -> bool:
    """No entry (17) is a red disc crossed by a white bar: red above and below, pale in the middle.

    Red clutter the CNN calls "no entry" (brick, tail lights, painted walls) rarely has all three.
    The box is the box head's, often a few pixels off the sign, so each part is looked for where it
    is: the reddest 7-row band of each half, the least saturated 4-row band of the middle (the bar
    is 4-5 rows of 32). The bar is pale across the whole middle: its most saturated column must be
    white (saturation <= 100) or far less saturated than the red (a blurred bar under a warm cast
    turns pink, and is then counted as red too); a stop sign's letters leave red columns between
    them. Margins are wide: on the 18 GTSDB no-entry signs the red shares were >= 0.81 and >= 0.89
    and the bar's mean saturation <= 87. At their annotated boxes 1,075 of the 1,110 GTSRB
    no-entry signs pass and 77 of the 780 stop signs; 1,058 and 633 with the check before (a white
    6-row band, mean saturation, found as the least red band), which also missed rendered no-entry
    signs under a pink cast (drive-by seed 18).
    """
    parts = _hsv32(img, box)
    if parts is None:
        return False
    s, v, red = parts
    rows = red[:, 8:24].mean(axis=1)
    top, bottom = _band(rows[:16], 7).max(), _band(rows[16:], 7).max()
    at = 8 + int(_band(s[8:24, 8:24].mean(axis=1), 4).argmin())  # the bar: the palest band of the middle
    bar_s, bar_v = s[at:at + 4, 8:24].mean(axis=0).max(), v[at:at + 4, 8:24].mean()
    ring_s, ring_v = (s[red].mean(), v[red].mean()) if red.any() else (0.0, 255.0)
    return top >= 0.7 and bottom >= 0.7 and (bar_s <= 100 or bar_s <= 0.6 * ring_s) and bar_v >= 1.05 * ring_v


def _stop(img: np.ndarray, box: Sequence[float]) -> bool:
    """Stop (14) is a red octagon with white letters: its middle holds pale pixels enclosed by red.

    A brake light or a red lamp the CNN calls "stop" is red through and through, and where its box
    takes in the white car around it, that white is outside the red, not inside. Pale is white
    (saturation <= 100, brighter than the red, or near white where the red itself is over-exposed)
    or far less saturated than the red (blurred letters); enclosed is red on both sides in its row
    and above and below in its column. Share of such pixels in the middle (rows 10-21, columns
    6-25 of a 32x32 resize): >= 0.21 on the 13 GTSDB stop signs, >= 0.042 on all 780 GTSRB ones,
    <= 0.004 on the box head's boxes of two rendered brake lights read as "stop" at 0.76-0.89
    (0.08-0.28 pale without the enclosure). What is not at least a fifth red is no stop sign either
    (red shares >= 0.50 on GTSDB's, >= 0.30 on GTSRB's).
    """
    parts = _hsv32(img, box)
    if parts is None:
        return False
    s, v, red = parts
    if red.mean() < 0.2:
        return False
    ring_s, ring_v = s[red].mean(), v[red].mean()
    pale = ((s <= 100) & (v >= min(1.05 * ring_v, 230.0))) | (s <= 0.6 * ring_s)
    enclosed = (_after_any(red) & _after_any(red[::-1])[::-1]
                & _after_any(red.T).T & _after_any(red.T[::-1])[::-1].T)
    return float((pale & enclosed)[10:22, 6:26].mean()) >= 0.02


def _after_any(mask: np.ndarray) -> np.ndarray:
    """True where some earlier row (strictly above, same column) of ``mask`` is True."""
    return np.vstack([np.zeros_like(mask[:1]), np.logical_or.accumulate(mask, axis=0)[:-1]])


def _band(rows: np.ndarray, k: int) -> np.ndarray:
    """Mean of every run of ``k`` consecutive values."""
    c = np.concatenate([[0.0], np.cumsum(rows)])
    return (c[k:] - c[:-k]) / k


def _around(box: Sequence[float], grow: float, W: int, H: int) -> tuple[int, int, int, int]:
    """``box`` grown by ``grow`` of its size on every side, in whole pixels, clipped to the frame."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    return (max(0, int(round(x1 - grow * w))), max(0, int(round(y1 - grow * h))),
            min(W, int(round(x2 + grow * w))), min(H, int(round(y2 + grow * h))))


def _own_blue(hsv: np.ndarray, blue: np.ndarray, where: np.ndarray, tol: int) -> np.ndarray:
    """The pixels of ``blue`` (a blue-hue mask) within ``tol`` levels of the saturation and the
    brightness of the blue pixels in ``where`` (their medians): the sign's own blue, not a paler sky."""
    s, v = hsv[..., 1].astype(np.int16), hsv[..., 2].astype(np.int16)
    ref = blue & where
    return blue & (np.abs(s - np.median(s[ref])) <= tol) & (np.abs(v - np.median(v[ref])) <= tol)


def _not_on_a_board(img: np.ndarray, box: Sequence[float]) -> bool:
    """A mandatory sign (33-40) is a blue disc that stands free: what lies around it is not its blue.

    The white arrows printed on blue direction boards look like "ahead only" or "keep right" to the
    CNN, and the learned localizer proposes them (00522.jpg: an arrow on a motorway board, read as
    ahead only at 0.89). Around the box, in a frame of half its size on every side, a board shows
    the sign's own blue: a blue hue (96-130) at the saturation and brightness of the box's blue
    pixels (within 60 levels each). A blue sky is lighter and paler than sign blue, and does not
    count. Share of such pixels around GTSDB's 60 mandatory signs: at most 0.26; around the
    arrow of 00522.jpg 0.84. Rejected at 0.7.
    """
    x1, y1, x2, y2 = box
    X1, Y1, X2, Y2 = _around(box, 0.5, img.shape[1], img.shape[0])
    if X2 - X1 < 2 or Y2 - Y1 < 2:
        return True
    hsv = cv2.cvtColor(img[Y1:Y2, X1:X2], cv2.COLOR_BGR2HSV)
    inside = np.zeros(hsv.shape[:2], bool)
    inside[max(0, int(y1) - Y1):max(0, int(y2) - Y1), max(0, int(x1) - X1):max(0, int(x2) - X1)] = True
    blue = cv2.inRange(hsv, (96, 80, 40), (130, 255, 255)) > 0
    if not (blue & inside).any() or inside.all():
        return True
    return float(_own_blue(hsv, blue, inside, 60)[~inside].mean()) < 0.7


def _not_square(img: np.ndarray, box: Sequence[float]) -> bool:
    """A mandatory sign (33-40) is a disc: its blue does not fill a square.

    Square blue signs with white arrows (one-way streets, detours, lane signs: none of the 43) read
    as "ahead only" or "go straight or left" to the CNN, which learnt from 32x32 crops where little
    tells a disc from a square. Around the box (a fifth of its size more on every side, resized to
    64 px), the largest patch of the box's own blue (a blue hue within 50 levels of the saturation
    and brightness of the blue in the box's middle) is filled out to its convex hull; a disc fills
    ~0.79 of the smallest rectangle around it, a square ~1. GTSDB's mandatory signs: at most 0.88;
    the U28 detour sign of 00272.jpg (ahead only at 0.94) 0.97; of GTSRB's 5,639 mandatory signs
    at their ROI, 6 reach 0.93 (very dark ones, merged with a dark background). Rejected at 0.93.
    """
    X1, Y1, X2, Y2 = _around(box, 0.2, img.shape[1], img.shape[0])
    if X2 - X1 < 6 or Y2 - Y1 < 6:
        return True
    roi = img[Y1:Y2, X1:X2]
    f = 64 / max(roi.shape[:2])
    hsv = cv2.cvtColor(cv2.resize(roi, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2HSV)
    hh, ww = hsv.shape[:2]
    yy, xx = np.mgrid[0:hh, 0:ww]
    middle = np.hypot((xx + 0.5 - ww / 2) / (ww / 2), (yy + 0.5 - hh / 2) / (hh / 2)) < 0.45
    blue = cv2.inRange(hsv, (96, 80, 30), (130, 255, 255)) > 0
    if (blue & middle).sum() < 3:
        return True  # no blue to judge by (a dark or washed-out sign): not this check's to reject
    own = _own_blue(hsv, blue, middle, 50).astype(np.uint8)
    contours, _ = cv2.findContours(own, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return True
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    (_, _), (rw, rh), _ = cv2.minAreaRect(hull)
    return cv2.contourArea(hull) < 0.93 * max(rw * rh, 1e-6)


def _mandatory(img: np.ndarray, box: Sequence[float]) -> bool:
    """A blue disc that stands free (``_not_on_a_board``) and is no square (``_not_square``)."""
    return _not_on_a_board(img, box) and _not_square(img, box)


# class id -> check of the sign's printed design on the frame; failing it rejects that class
DESIGN_CHECKS = {14: _stop, 17: _no_entry, **{c: _mandatory for c in range(33, 41)}}


def detection_record(source: str, frame: int, det: Detection, label: str) -> dict:
    """One JSON-ready event line; the evaluation and the live runner write the same format."""
    return {"source": str(source), "frame": int(frame), "box": [round(float(v), 1) for v in det.box],
            "class_id": int(det.class_id), "label": str(label), "score": round(float(det.score), 4)}


class Recognizer:
    """Frame in, accepted sign detections out (class id, confidence and refined box filled in).

    ``gate`` is optional: without one every candidate goes to the classifier (slower, and the
    thresholds must then carry all of the rejection).
    """

    def __init__(self, detector, classifier, config: RecognizerConfig | None = None, gate=None,
                 refine=None, locator=None, **overrides) -> None:
        self.detector = detector
        self.locator = locator  # a ``realtime.locate.Locator``: learned candidates beside the detector's
        self.classifier = classifier
        self.gate = gate
        self.refine = refine  # a ``realtime.refine.FineLook``, or None for the coarse candidates only
        self.config = replace(config or RecognizerConfig(), **overrides)

    def classify_all(self, frame: np.ndarray) -> list[Detection]:
        """Every candidate the gate passes, with class, score and refined box, before any rejection."""
        img = as_bgr8(frame)
        cands, gate, _ = self.located(img, self.propose(img))
        return self.classify_candidates(img, cands, gate=gate)

    def propose(self, img: np.ndarray) -> Proposal:
        """The first half: the detector's candidates of a BGR frame, the closer look's around the
        best-gated ones (``refined``), and the gate's P(sign) for each.

        Split from ``finish`` so a video loop can propose for the next frame on one core while it
        classifies, tracks and draws this one on the other. The gate belongs here, not in
        ``finish``: the detector alone is the lighter half (~8 of ~30 ms of CPU a frame), and
        with the gate on this side the halves are closer to even (docs/PIPELINE.md). The learned
        localizer runs in ``finish``, for the same reason.
        """
        work = self.detector.work(img) if hasattr(self.detector, "work") else None
        cands = self.detector(img) if work is None else self.detector(img, work=work)
        return self.refined(img, cands, self.gate_scores(img, cands))._replace(work=work)

    def refined(self, img: np.ndarray, cands: list[Detection], gate: np.ndarray, gate_model=None) -> Proposal:
        """The candidates and their gate P(sign), plus the closer look's candidates around the
        best-gated ones (``realtime.refine``), gated by the same gate (``gate_model``, default the
        recognizer's). Without a refiner or a gate, the candidates as they are."""
        gate_model = gate_model if gate_model is not None else self.gate
        if self.refine is None or gate_model is None or not cands:
            return Proposal(cands, gate)
        extra = self.refine(img, self.refine.seeds([d.box for d in cands], gate))
        return self._joined(img, Proposal(cands, gate), extra, gate_model)

    def located(self, img: np.ndarray, proposal: Proposal, locator=None, gate_model=None) -> Proposal:
        """The proposal plus the learned localizer's candidates (``locator``, default the recognizer's
        own), gated by ``gate_model`` (default the recognizer's gate).

        They come after the closer look and seed none of it: as seeds they took seeds and mosaic
        pixels from the colour routes' candidates, and cross-validated on GTSDB one small blue sign
        was lost (419 signs found against 420; docs/BENCHMARKS.md). That also lets a video loop run
        the localizer on the core that classifies, not on the one that proposes.
        """
        locator = locator if locator is not None else self.locator
        if locator is None:
            return proposal
        extra = locator(img) if proposal.work is None else locator(img, work=proposal.work)
        return self._joined(img, proposal, extra, gate_model)

    def _joined(self, img: np.ndarray, proposal: Proposal, extra: list[Detection], gate_model=None) -> Proposal:
        """``proposal`` with ``extra`` candidates after its own, gated by ``gate_model`` (default the
        recognizer's gate); ``proposal`` itself when there are none."""
        if not extra:
            return proposal
        return proposal._replace(candidates=list(proposal.candidates) + extra,
                                 gate=np.concatenate([proposal.gate, self.gate_scores(img, extra, gate_model)]))

    def finish(self, img: np.ndarray, proposal: Proposal) -> list[Detection]:
        """The second half: the learned localizer's candidates (``located``), then classify what the
        gate passed and apply the rejection rule."""
        proposal = self.located(img, proposal)
        return self.filter(self.classify_candidates(img, proposal.candidates, gate=proposal.gate))

    def gate_scores(self, img: np.ndarray, cands: Sequence[Detection], gate=None) -> np.ndarray:
        """P(sign) of each candidate from ``gate`` (default: the recognizer's; ones without any)."""
        gate = gate if gate is not None else self.gate
        if gate is None:
            return np.ones(len(cands), np.float32)
        return gate_probability(gate, img, [d.box for d in cands])

    def classify_candidates(self, img: np.ndarray, cands: Sequence[Detection], gate: np.ndarray | None = None,
                            verifier=None) -> list[Detection]:
        """Gate, then classify the survivors of a BGR frame in one batched call (per-crop calls cost ~10x more).

        ``gate`` (P(sign) per candidate) skips the gate call when already known; candidates it scores
        below ``gate_min`` are not classified. A detection's score is P(sign) times the class
        confidence, P(sign) from the recognizer's verifier (``verifier`` overrides the card's), or from
        the gate when the recognizer has none. A class whose design check fails on the re-framed box
        (see ``DESIGN_CHECKS``) becomes -1. The box reported is the re-framed box scaled by
        ``box_scale``.
        """
        if not cands:
            return []
        g = self.gate_scores(img, cands) if gate is None else np.asarray(gate, np.float32)
        keep = to_classify(cands, g, self.config)
        if not len(keep):
            return []
        res = self.classifier.classify_boxes(img, [cands[i].box for i in keep], verifier=verifier)
        verified = verifier is not None or getattr(self.classifier, "verifier", None) is not None
        p_sign = res.sign if verified else g[keep]
        ids, scores = res.ids, res.scores * p_sign
        if self.config.second_look is not None:
            ids, scores, boxes = self._second_look(img, res, p_sign, ids, scores, verifier, verified)
        else:
            boxes = res.boxes
        H, W = img.shape[:2]
        out = []
        for i, c, s, b in zip(keep, ids, scores, boxes):
            c = int(c)
            box = _clip(b, W, H)
            check = DESIGN_CHECKS.get(c) if self.config.design_checks else None
            if check is not None and not check(img, box):
                c = -1
            out.append(replace(cands[i], box=rescale(box, self.config.box_scale), class_id=c, score=float(s)))
        return out

    def _second_look(self, img: np.ndarray, res, p_sign: np.ndarray, ids: np.ndarray, scores: np.ndarray,
                     verifier, verified: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Classify the promising crops again, cut at the box head's box, and average the two passes.

        The first crop is framed by a colour blob, often loosely; the second by the box head, like
        the GTSRB images the recognizer learnt from. Averaging P(sign) x probabilities over both
        raised cross-validated GTSDB precision and recall (docs/DETECTOR.md); so did blending the
        two passes' boxes (``second_box``): each head's box errs a little, and the second crop,
        framed closer, errs differently. Only crops scoring ``second_look`` or more get one, a few
        a frame, in one more batched call.
        """
        idx = np.flatnonzero(scores >= self.config.second_look)
        if not len(idx):
            return ids, scores, res.boxes
        res2 = self.classifier.classify_boxes(img, res.boxes[idx], verifier=verifier)
        p2 = res2.sign if verified else p_sign[idx]
        probs = (res.probs[idx] * p_sign[idx, None] + res2.probs * p2[:, None]) / 2
        best = probs.argmax(axis=1)
        ids, scores = np.array(ids, copy=True), np.array(scores, np.float32, copy=True)
        ids[idx] = np.asarray(self.classifier.class_ids)[best]
        scores[idx] = probs[np.arange(len(idx)), best]
        w = self.config.second_box
        boxes = np.array(res.boxes, np.float32, copy=True)
        boxes[idx] = (1 - w) * boxes[idx] + w * np.asarray(res2.boxes, np.float32)
        return ids, scores, boxes

    def accept(self, det: Detection) -> bool:
        """The rejection rule: confident enough, and the class fits how the candidate was found."""
        c = self.config
        return det.score >= c.threshold(det.colour) and consistent(det, det.class_id, c.consistency, c.shape_min_width)

    def filter(self, dets: Sequence[Detection]) -> list[Detection]:
        """Accepted detections, best first, one per place (two candidates of one sign keep the better)."""
        return dedupe([d for d in dets if self.accept(d)], self.config.dedupe_iou, self.config.dedupe_centre)

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        img = as_bgr8(frame)
        return self.finish(img, self.propose(img))


class Proposal(NamedTuple):
    """What ``Recognizer.propose`` hands to ``finish``: a frame's candidates and their gate P(sign),
    and the detector's reduced frame, which the learned localizer takes instead of reducing the
    frame again (``realtime.locate.letterbox``; None from a detector without ``work``)."""

    candidates: list[Detection]
    gate: np.ndarray
    work: Work | None = None


def gate_probability(gate, img: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """P(sign) from a gate model for boxes of one BGR frame, in one batched call."""
    if len(boxes) == 0:
        return np.zeros(0, np.float32)
    probs = gate.predict_proba(prepare_boxes(img, boxes, gate.pre))
    return probs[:, list(gate.class_ids).index(1)].astype(np.float32)


def to_classify(cands: Sequence[Detection], gate: np.ndarray, config: RecognizerConfig) -> np.ndarray:
    """Indices of the candidates ``classify_candidates`` classifies, in candidate order: gated at
    ``gate_min`` or more, and not a near-duplicate (``pre_nms``) of a better-gated one."""
    g = np.asarray(gate, np.float32)
    keep = np.flatnonzero(g >= config.gate_min)
    if config.pre_nms is not None and len(keep) > 1:
        keep = _suppress([cands[i].box for i in keep], g[keep], config.pre_nms, keep)
    return keep


def _suppress(boxes: Sequence[Sequence[float]], scores: np.ndarray, overlap: float, idx: np.ndarray) -> np.ndarray:
    """``idx`` (in its order) without the boxes that overlap a better-scored kept one by IoU >= ``overlap``."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return idx[np.sort(greedy_keep(iou_matrix(b, b) >= overlap, scores))]


def dedupe(dets: Sequence[Detection], overlap: float = 0.5, centre: bool = False) -> list[Detection]:
    """Best score first, one detection per place: a box overlapping a kept one by IoU >= ``overlap``
    (or, with ``centre``, holding its centre or having its centre held) is the same sign."""
    b = np.asarray([d.box for d in dets], np.float64).reshape(-1, 4)
    same = iou_matrix(b, b) >= overlap
    if centre:
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        holds = ((b[:, None, 0] <= cx) & (cx <= b[:, None, 2]) & (b[:, None, 1] <= cy) & (cy <= b[:, None, 3]))
        same |= holds | holds.T
    return [dets[i] for i in greedy_keep(same, np.array([d.score for d in dets], np.float64))]


def greedy_keep(same: np.ndarray, scores: np.ndarray) -> list[int]:
    """Greedy suppression, the one rule behind ``_suppress`` and ``dedupe``: in order of score (ties
    in input order), keep each item that ``same`` (N, N) does not tie to an item kept before it.
    Returns the kept indices, best first."""
    kept: list[int] = []
    for i in np.argsort(-np.asarray(scores), kind="stable").tolist():
        if not same[i, kept].any():
            kept.append(i)
    return kept


def rescale(box: Sequence[float], scale: Sequence[float]) -> tuple[float, float, float, float]:
    """``box`` scaled by (width, height) factors about its centre."""
    sx, sy = scale
    if sx == 1.0 and sy == 1.0:
        return tuple(float(v) for v in box)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * sx / 2, (box[3] - box[1]) * sy / 2
    return float(cx - hw), float(cy - hh), float(cx + hw), float(cy + hh)


def _clip(box: Sequence[float], W: int, H: int) -> tuple[float, float, float, float]:
    """A refined box inside the frame and at least a pixel wide (the box head may overshoot an edge)."""
    x1 = float(min(max(box[0], 0.0), W - 1))
    y1 = float(min(max(box[1], 0.0), H - 1))
    return x1, y1, float(min(max(box[2], x1 + 1), W)), float(min(max(box[3], y1 + 1), H))
