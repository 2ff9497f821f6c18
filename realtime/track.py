"""The tracker: follow signs across frames so labels stop flickering and one-frame false alarms stay hidden.

A plain IoU tracker with a centre-distance fallback (signs grow and slide outwards as the car
approaches, so consecutive boxes of a small sign may not overlap much). Association is greedy on a
similarity matrix; a track is *confirmed* after it was seen in ``k`` of the last ``n`` updates; its
label is the score-weighted vote over its recent classifications.

Counting is in ``update`` calls, not source frame numbers: a live source that drops frames or a
file read with a stride still needs ``k`` sightings to confirm a sign.
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass, field

import numpy as np

from realtime.boxes import iou_matrix
from realtime.config import TrackConfig
from realtime.types import Detection


@dataclass
class Track:
    """One physical sign followed over time."""

    id: int
    box: np.ndarray  # last observed (x1, y1, x2, y2)
    velocity: np.ndarray  # smoothed box change per update
    last_step: int
    first_frame: int
    last_frame: int
    hits: collections.deque = field(default_factory=collections.deque)  # update steps it was seen at
    votes: collections.deque = field(default_factory=collections.deque)  # (class_id, score) history
    confirmed: bool = False
    shown: int | None = None  # the class the track is reported as once confirmed

    def predicted(self, step: int) -> np.ndarray:
        return self.box + self.velocity * float(step - self.last_step)

    def label(self, switch_margin: float = 1.0) -> tuple[int, float, float]:
        """Score-weighted vote: (class id, mean score of that class's votes, its share of the vote weight).

        The class already shown stays until another outweighs it ``switch_margin`` times over: a
        sign read as a neighbouring class for a few frames keeps its label (and its warning).
        """
        weight: dict[int, float] = collections.defaultdict(float)
        count: dict[int, int] = collections.defaultdict(int)
        for cid, score in self.votes:
            weight[cid] += max(score, 1e-3)
            count[cid] += 1
        best = max(weight, key=lambda c: (weight[c], c >= 0))
        shown = self.shown
        if shown is not None and best != shown and count[shown] and weight[best] < switch_margin * weight[shown]:
            best = shown
        return best, weight[best] / count[best], weight[best] / sum(weight.values())


class Tracker:
    """Greedy IoU + centre-distance tracker. ``update`` once per frame, ``reset`` between unrelated stills."""

    def __init__(self, config: TrackConfig | None = None, **overrides) -> None:
        """``config`` (default: the shipped settings), with single settings overridden by keyword."""
        c = dataclasses.replace(config or TrackConfig(), **overrides)
        self.config = c
        self.k, self.n, self.max_age = c.k, c.n, c.max_age
        self.iou_threshold = c.iou_threshold
        self.max_distance = c.max_distance  # centre distance, in units of the mean box side
        self.vote_window = c.vote_window
        self.alpha = c.velocity_smoothing
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (a new, unrelated image or video)."""
        self.tracks: list[Track] = []
        self._step = 0
        self._next_id = 1

    def cut(self) -> None:
        """End every track (a scene cut: nothing on the new shot continues a sign of the old one);
        track ids keep counting, so ids stay unique within the video."""
        self.tracks = []

    def update(self, detections: list[Detection], frame_index: int) -> list[Detection]:
        """Associate this frame's detections; return copies with track id, voted label and ``confirmed``."""
        self._step += 1
        step = self._step
        boxes = np.array([d.box for d in detections], np.float64).reshape(-1, 4)
        pairs = self._associate(boxes, step)
        matched_det = {d for _, d in pairs}
        for ti, di in pairs:
            self._hit(self.tracks[ti], boxes[di], detections[di], step, frame_index)
        for di, det in enumerate(detections):
            if di not in matched_det:
                tr = Track(self._next_id, boxes[di].copy(), np.zeros(4), step, frame_index, frame_index)
                self._next_id += 1
                self.tracks.append(tr)
                pairs.append((len(self.tracks) - 1, di))
                self._hit(tr, boxes[di], det, step, frame_index, new=True)
        out: list[Detection | None] = [None] * len(detections)
        for ti, di in pairs:
            tr = self.tracks[ti]
            cid, score, share = tr.label(self.config.switch_margin)
            if tr.confirmed:
                tr.shown = cid
            out[di] = dataclasses.replace(detections[di], track_id=tr.id, class_id=int(cid),
                                          score=float(score), confirmed=tr.confirmed, agreement=float(share))
        self.tracks = [t for t in self.tracks if step - t.last_step <= self.max_age]
        return [d for d in out if d is not None]

    def predictions(self, max_gap: int = 2) -> list[np.ndarray]:
        """Where the tracks seen in the last ``max_gap`` updates should be at the next one: boxes the
        cascade can look at (``track.search``) so a sign it has seen keeps being classified on the
        frames a scheduled stage skips."""
        step = self._step + 1
        return [t.predicted(step) for t in self.tracks if step - t.last_step <= max_gap]

    # -- internals ------------------------------------------------------------------------------
    def _associate(self, boxes: np.ndarray, step: int) -> list[tuple[int, int]]:
        if not self.tracks or not len(boxes):
            return []
        pred = np.stack([t.predicted(step) for t in self.tracks])
        sim = similarity(pred, boxes, self.iou_threshold, self.max_distance)
        pairs: list[tuple[int, int]] = []
        if not np.any(sim > 0):
            return pairs
        order = np.argsort(-sim, axis=None, kind="stable")
        used_t: set[int] = set()
        used_d: set[int] = set()
        for flat in order:
            ti, di = divmod(int(flat), sim.shape[1])
            if sim[ti, di] <= 0:
                break
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            pairs.append((ti, di))
        return pairs

    def _hit(self, tr: Track, box: np.ndarray, det: Detection, step: int, frame_index: int,
             new: bool = False) -> None:
        if not new:
            gap = max(1, step - tr.last_step)
            tr.velocity = self.alpha * (box - tr.box) / gap + (1 - self.alpha) * tr.velocity
        tr.box = box.copy()
        tr.last_step = step
        tr.last_frame = frame_index
        tr.hits.append(step)
        while tr.hits and tr.hits[0] <= step - self.n:
            tr.hits.popleft()
        tr.votes.append((int(det.class_id), float(det.score)))
        while len(tr.votes) > self.vote_window:
            tr.votes.popleft()
        if len(tr.hits) >= self.k:
            tr.confirmed = True  # stays confirmed while alive: no on/off flicker


def similarity(a: np.ndarray, b: np.ndarray, iou_threshold: float, max_distance: float) -> np.ndarray:
    """Pairwise match strength (0 = no match) of boxes ``a`` (T, 4) and ``b`` (D, 4).

    IoU above the threshold counts as is (in (threshold, 1]); otherwise boxes whose centres are
    within ``max_distance`` mean box sides and whose sizes are within 2x of each other get a weaker
    score below the threshold, so overlap always wins over mere proximity.
    """
    iou = iou_matrix(a, b)
    ca = (a[:, :2] + a[:, 2:]) / 2
    cb = (b[:, :2] + b[:, 2:]) / 2
    side_a = ((a[:, 2] - a[:, 0]) + (a[:, 3] - a[:, 1])) / 2
    side_b = ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1])) / 2
    side = np.maximum((side_a[:, None] + side_b[None, :]) / 2, 1e-6)
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2) / side
    small = np.maximum(np.minimum(side_a[:, None], side_b[None, :]), 1e-6)
    ratio = np.maximum(side_a[:, None], side_b[None, :]) / small
    near = (dist < max_distance) & (ratio <= 2.0)
    fallback = np.where(near, iou_threshold * (1.0 - dist / max_distance) * 0.999, 0.0)
    return np.where(iou >= iou_threshold, iou, np.maximum(fallback, 0.0))
