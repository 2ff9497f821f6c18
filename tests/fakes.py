"""Stand-ins for the cascade's learned stages, shared by the stage tests: a detector with fixed
candidates, a gate model, and two recognizers (no CNN, so the tests need no model and run fast)."""

from __future__ import annotations

import numpy as np

from realtime.classifier import Classified
from realtime.preprocess import Preprocessing
from realtime.types import Detection


class FakeDetector:
    """The detector's interface (``work`` and ``__call__(frame, work=None)``) with fixed candidates;
    records the work image each call was handed."""

    def __init__(self, candidates: list[Detection], work: object = None) -> None:
        self.candidates = list(candidates)
        self._work = work
        self.seen: list[object] = []

    def work(self, frame: np.ndarray) -> object:
        return self._work

    def __call__(self, frame: np.ndarray, work: object = None) -> list[Detection]:
        self.seen.append(work)
        return list(self.candidates)


class FakeClassifier:
    """Answers a fixed class per candidate colour; counts calls to prove batching. No box head."""

    def __init__(self, by_colour: dict[str, tuple[int, float]]):
        self.pre = Preprocessing()
        self.by_colour = by_colour
        self.calls = 0
        self.batch_sizes: list[int] = []

    def classify_boxes(self, frame, boxes, verifier=None):
        self.calls += 1
        self.batch_sizes.append(len(boxes))
        ids, scores = [], []
        for x1, y1, x2, y2 in boxes:
            c = frame[int(y1):int(y2) + 1, int(x1):int(x2) + 1]
            b, g, r = (float(v) for v in np.asarray(c, np.float32).reshape(-1, 3).mean(0))
            colour = "blue" if b > r + 20 else ("yellow" if g > b + 40 and r > b + 40 else "red")
            cid, s = self.by_colour.get(colour, (-1, 0.0))
            ids.append(cid)
            scores.append(s)
        n = len(ids)
        return Classified(np.array(ids, np.int64).reshape(n), np.array(scores, np.float32).reshape(n), None,
                          np.asarray(boxes, np.float32).reshape(n, 4), np.ones(n, np.float32))


class TwoLookClassifier:
    """Box head moves every box 10 px right; reads class 1 on a first (loose) crop, class 2 on a moved one."""

    class_ids = np.arange(43)

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []

    def classify_boxes(self, frame, boxes, verifier=None):
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.calls.append(b)
        second = len(self.calls) > 1
        probs = np.zeros((len(b), 43), np.float32)
        probs[:, 2 if second else 1] = 0.9
        probs[:, 1 if second else 2] = 0.1
        sign = np.full(len(b), 0.8 if second else 0.6, np.float32)
        return Classified(probs.argmax(1), probs.max(1), probs, b + np.float32([10, 0, 10, 0]), sign)


class RandomLookClassifier:
    """Random but repeatable probabilities and P(sign) for each box, some peaked, some flat, seeded by
    the box's coordinates on a 16 px grid; the box head moves every box 3 px right and down, so a
    second look sees the same draw or a new one."""

    class_ids = np.arange(43)

    def __init__(self) -> None:
        self.rows = 0

    def classify_boxes(self, frame, boxes, verifier=None):
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.rows += len(b)
        probs, sign = np.zeros((len(b), 43), np.float32), np.zeros(len(b), np.float32)
        for i, box in enumerate(b):
            rng = np.random.default_rng((box // 16).astype(np.int64))
            logits = rng.normal(0.0, rng.uniform(0.5, 12.0), 43)
            e = np.exp(logits - logits.max())
            probs[i] = e / e.sum()
            sign[i] = rng.uniform(0.4, 1.0)
        return Classified(probs.argmax(1), probs.max(1), probs, b + np.float32([3, 3, 3, 3]), sign)


class FakeGate:
    """P(sign) from the candidate's position: a stand-in for the gate CNN (a model for ``realtime.gate.Gate``)."""

    def __init__(self) -> None:
        self.pre = Preprocessing(size=20, contrast="stretch")
        self.class_ids = np.array([-1, 1])
        self.seen = 0

    def predict_proba(self, x):
        self.seen += len(x)
        p = np.linspace(0.02, 0.98, len(x), dtype=np.float32)
        return np.stack([1 - p, p], axis=1)
