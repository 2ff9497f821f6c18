"""The recognizer network: all crops of a frame classified in one batched call.

LiteRT is the default backend (~0.1 ms per small batch here, against ~39 ms for
``model.predict``); a ``tf.function`` around the Keras model is the fallback and the
reference the tests compare against.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from realtime.card import ModelCard, ModelError, card_path_for
from realtime.config import MODELS
from realtime.preprocess import prepare_batch, prepare_boxes

DEFAULT_MODEL = MODELS / "gtsrb_cnn.tflite"
DEFAULT_GATE = DEFAULT_MODEL.with_name("gate.tflite")
BACKENDS = ("litert", "tf-function", "keras-predict")
# Batch sizes with a ready interpreter. A batch of another size runs as a few of these (after
# ``warm_up``, the split its measured costs make cheapest) or, before, padded up to the next one.
# 48 sits where GTSDB frames land most (35-40 candidates); more sizes cost ~10 MB each at warm-up.
_BUCKETS = (1, 2, 4, 8, 16, 32, 48, 64)


def resolve(model: Path | str | None, backend: str) -> tuple[Path, ModelCard]:
    """Model file for the backend, and its card; one clear ModelError when anything is off."""
    path = Path(model) if model else DEFAULT_MODEL
    if not path.exists():  # name the file the user gave, not the card derived from it
        raise ModelError(f"model not found: {path}" + ("" if model else " (the shipped model is missing; "
                                                           "train one or pass --model)"))
    if path.is_dir():
        cards = sorted(path.glob("*.json"))
        if len(cards) != 1:
            raise ModelError(f"{path}: expected exactly one model card (*.json), found {len(cards)}")
        path = cards[0]
    card = ModelCard.load(card_path_for(path))
    want = "tflite" if backend == "litert" else "keras"
    if path.suffix == ".json" or path.suffix != f".{want}":
        name = card.files.get(want)
        if not name:
            raise ModelError(f"model card {card_path_for(path)} names no {want} file")
        path = card_path_for(path).parent / name
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return path, card


def resolve_gate(gate: str | Path | None) -> Path | None:
    """The gate model to use: ``gate`` itself, else the shipped one where it exists; None for "none"."""
    if gate == "none":
        return None
    if gate is not None:
        return Path(gate)
    return DEFAULT_GATE if DEFAULT_GATE.is_file() else None


@dataclass(frozen=True)
class Verifier:
    """Logistic "sign or clutter" head on the recognizer's 256 features: P(sign) = sigmoid(f . w + b).

    Fitted on GTSDB candidates per fold (``python -m training fit-verifier``) and kept in the
    recognizer's card, since it only means something for the features of that very model.
    """

    w: np.ndarray
    b: float

    @classmethod
    def from_dict(cls, d: dict) -> Verifier:
        return cls(np.asarray(d["w"], np.float32), float(d["b"]))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        z = np.asarray(features, np.float32) @ self.w + np.float32(self.b)
        return (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))).astype(np.float32)


class Classifier:
    """Crops in, (class id, score, probabilities) out, preprocessing read from the model card.

    Models may have more outputs than the class probabilities (the card's ``outputs``): ``box``,
    the sign's box in the crop as fractions, and ``features``, what the card's ``verifier`` reads.
    """

    def __init__(self, model: Path | str | None = None, backend: str = "litert", threads: int = 2) -> None:
        if backend not in BACKENDS:
            raise ModelError(f"unknown backend {backend!r}; choose from {BACKENDS}")
        self.path, self.card = resolve(model, backend)
        self.pre = self.card.preprocessing
        self.backend = backend
        self.threads = threads
        self.class_ids = np.asarray(self.card.class_ids, np.int64)
        verifier = self.card.extra.get("verifier")
        self.verifier = Verifier.from_dict(verifier) if verifier and "features" in self.card.outputs else None
        self._interp: dict[int, object] = {}
        self._outputs: dict[str, int] = {}  # LiteRT output index of each named output
        self._widths: dict[str, int] = {}  # values per row of each named output (for empty batches)
        self._fn = None
        self._plans: dict[int, tuple[int, ...]] = {}  # rows -> bucket sizes to run them in (after warm_up)
        # a video loop gates the colour routes' candidates on its worker thread and the learned
        # localizer's on the main one: a LiteRT interpreter must not run in two threads at once
        self._lock = threading.Lock()
        if backend == "litert":
            self._check_shapes(self._interpreter(1))
        else:
            self._load_keras()

    def warm_up(self) -> None:
        """Build the interpreter of every batch bucket now, before the first frame.

        Each LiteRT bucket costs 8-25 MB and 25-260 ms when first used (measured with the 0.82M
        net): left lazy, a long run grows in steps and stalls a frame whenever a scene first
        holds more candidates than ever before. Then each bucket is timed (~0.5 s for the
        recognizer) so that a batch of another size runs as the cheapest split into buckets
        (``plan_batches``; ~5% off the recognizer's time on GTSDB frames, docs/BENCHMARKS.md). The
        real-time loop calls this once at start.
        """
        if self.backend == "litert":
            for b in _BUCKETS:
                self._interpreter(b)
            self._plans = plan_batches(self._bucket_costs())

    def _bucket_costs(self, repeats: int = 3) -> dict[int, float]:
        """Seconds per invoke of each bucket, on zeros: what ``plan_batches`` weighs.

        A call is timed as ``predict`` makes it (input in, invoke, every output out). The first invoke
        of an interpreter packs its weights and is not counted; then the best of ``repeats``, so a
        busy neighbour inflates no bucket.
        """
        costs = {}
        for b, it in self._interp.items():
            x = np.zeros((b, *self.pre.input_shape), np.float32)
            index = it.get_input_details()[0]["index"]
            it.set_tensor(index, x)
            it.invoke()
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                it.set_tensor(index, x)
                it.invoke()
                for idx in self._outputs.values():
                    it.get_tensor(idx)
                best = min(best, time.perf_counter() - t0)
            costs[b] = best
        return costs

    # -- backends ---------------------------------------------------------------------------
    def _interpreter(self, batch: int):
        if batch not in self._interp:
            from ai_edge_litert.interpreter import Interpreter

            try:
                it = Interpreter(model_path=str(self.path), num_threads=self.threads)
                inp = it.get_input_details()[0]
                if batch != int(inp["shape"][0]):
                    it.resize_tensor_input(inp["index"], [batch, *inp["shape"][1:]], strict=False)
                it.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"cannot load LiteRT model {self.path}: {exc}") from None
            self._interp[batch] = it
        return self._interp[batch]

    def _check_shapes(self, it) -> None:
        in_shape = tuple(int(v) for v in it.get_input_details()[0]["shape"][1:])
        outs = it.get_output_details()
        names = self.card.outputs
        if len(outs) != len(names):
            raise ModelError(f"{self.path}: model has {len(outs)} outputs, its card describes {len(names)} ({names})")
        # Keras exports a dict of outputs in key order, named "...:0", "...:1", ...
        outs = sorted(outs, key=lambda d: int(d["name"].rsplit(":", 1)[-1]) if ":" in d["name"] else 0)
        self._outputs = {name: d["index"] for name, d in zip(names, outs)}
        self._widths = {name: int(d["shape"][-1]) for name, d in zip(names, outs)}
        self._verify_outputs(in_shape)

    def _verify_outputs(self, in_shape: tuple[int, ...]) -> None:
        if self._widths.get("box", 4) != 4:
            raise ModelError(f"{self.path}: the box output has {self._widths['box']} values, not 4")
        self._verify(in_shape, self._widths["probs"])

    def _verify(self, in_shape: tuple[int, ...], out_dim: int) -> None:
        if in_shape != self.pre.input_shape:
            raise ModelError(f"{self.path}: model input {in_shape} does not match its card "
                             f"{self.pre.input_shape}")
        if out_dim != self.card.num_outputs:
            raise ModelError(f"{self.path}: model has {out_dim} outputs but its card lists "
                             f"{self.card.num_outputs} classes")

    def _load_keras(self) -> None:
        import keras
        import tensorflow as tf

        try:
            self.keras_model = keras.saving.load_model(self.path, compile=False)
        except Exception as exc:  # Keras raises many types for a bad file
            raise ModelError(f"cannot load Keras model {self.path}: {str(exc).splitlines()[0]}") from None
        outputs = self.keras_model.output
        names = sorted(outputs) if isinstance(outputs, dict) else ["probs"]
        if names != self.card.outputs:
            raise ModelError(f"{self.path}: outputs {names}, but its card describes {self.card.outputs}")
        tensors = outputs if isinstance(outputs, dict) else {"probs": outputs}
        self._widths = {name: int(t.shape[-1]) for name, t in tensors.items()}
        self._verify_outputs(tuple(self.keras_model.input_shape[1:]))
        self._fn = tf.function(lambda x: self.keras_model(x, training=False), reduce_retracing=True)

    # -- inference --------------------------------------------------------------------------
    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of the model (``probs``, and ``box``/``features`` where it has them) for a
        preprocessed float32 batch (N, H, W, C)."""
        n = len(x)
        if n == 0:
            return {name: np.zeros((0, self._widths[name]), np.float32) for name in self.card.outputs}
        if self.backend != "litert":
            out = self.keras_model.predict(x, verbose=0) if self.backend == "keras-predict" else self._fn(x)
            return ({k: np.asarray(v) for k, v in out.items()} if isinstance(out, dict)
                    else {"probs": np.asarray(out)})
        with self._lock:
            return self._predict_litert(x)

    def _predict_litert(self, x: np.ndarray) -> dict[str, np.ndarray]:
        n = len(x)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self._outputs}
        start = 0
        for b in self._plan(n):
            chunk = x[start:start + b]
            it = self._interpreter(b)
            if b != len(chunk):
                chunk = np.concatenate([chunk, np.zeros((b - len(chunk), *chunk.shape[1:]), np.float32)])
            it.set_tensor(it.get_input_details()[0]["index"], np.ascontiguousarray(chunk, np.float32))
            it.invoke()
            keep = min(n - start, b)
            for name, idx in self._outputs.items():
                parts[name].append(it.get_tensor(idx)[:keep])
            start += b
        return {name: np.concatenate(p) for name, p in parts.items()}

    def _plan(self, n: int) -> list[int]:
        """Bucket sizes to run ``n`` rows in: full largest buckets, then the rest as planned."""
        full, rest = divmod(n, _BUCKETS[-1])
        if rest == 0:
            return [_BUCKETS[-1]] * full
        tail = self._plans.get(rest) or (next(b for b in _BUCKETS if b >= rest),)
        return [_BUCKETS[-1]] * full + list(tail)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for a preprocessed float32 batch (N, H, W, C)."""
        return self.predict(x)["probs"]

    def classify(self, crops: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(class ids, scores, probabilities) for raw BGR crops (image files), in one batched call."""
        return self._decide(self.predict_proba(prepare_batch(crops, self.pre)))

    def classify_boxes(self, frame: np.ndarray, boxes: Sequence[Sequence[float]],
                       verifier: Verifier | None = None) -> Classified:
        """Class ids, scores, probabilities, boxes and P(sign) for sign boxes of one frame, in one batched call.

        The boxes come back re-framed by the box head, in frame pixels (unchanged without one);
        P(sign) comes from ``verifier`` (default: the card's; ones without any).
        """
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        out = self.predict(prepare_boxes(frame, b, self.pre))
        ids, scores, probs = self._decide(out["probs"])
        verifier = verifier or self.verifier
        sign = verifier(out["features"]) if verifier is not None and "features" in out else np.ones(len(b), np.float32)
        frac = out.get("box")
        if frac is not None and len(b):
            m = self.pre.margin
            wh = (b[:, 2:] - b[:, :2]) * (1 + 2 * m)
            origin = b[:, :2] - m * (b[:, 2:] - b[:, :2])
            b = np.concatenate([origin + frac[:, :2] * wh, origin + frac[:, 2:] * wh], axis=1)
        return Classified(ids, scores, probs, b, sign)

    def _decide(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        best = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
        scores = probs[np.arange(len(best)), best] if len(probs) else np.zeros(0, np.float32)
        return self.class_ids[best], scores.astype(np.float32), probs


def plan_batches(costs: dict[int, float]) -> dict[int, tuple[int, ...]]:
    """For every row count up to the largest bucket, the buckets that hold it at the least cost.

    Padding 17 crops to a batch of 32 makes the recognizer do 15 crops of work for nothing (~0.6 ms
    each), where a batch of 16 and one of 1 cost one call's overhead more; for the gate, whose
    crops are cheap, the overhead of a call dominates and padding wins. The measured costs are
    fitted as overhead + rows x per-row cost (so a noisy bucket cannot skew a plan), then dynamic
    programming picks the buckets (padding allowed, fewer calls on ties, largest first).
    """
    sizes = sorted(costs)
    if len(sizes) > 1:
        per_row, overhead = np.polyfit(sizes, [costs[b] for b in sizes], 1)
        per_row, overhead = max(float(per_row), 1e-9), max(float(overhead), 0.0)
    else:
        per_row, overhead = 1.0, 0.0
    best: list[tuple[float, int, tuple[int, ...]]] = [(0.0, 0, ())]  # (cost, calls, buckets)
    for n in range(1, sizes[-1] + 1):
        options = []
        for b in sizes:
            plan = tuple(sorted((b, *best[max(0, n - b)][2]), reverse=True))
            # from the plan's call and row counts, not summed step by step: equal plans cost exactly
            # the same, so the tie goes to fewer calls
            options.append((overhead * len(plan) + per_row * sum(plan), len(plan), plan))
        best.append(min(options))
    return {n: plan for n, (_, _, plan) in enumerate(best) if n}


class Classified(NamedTuple):
    """What ``classify_boxes`` returns, one row per box."""

    ids: np.ndarray  # GTSRB class ids (-1: background)
    scores: np.ndarray  # confidence in that class
    probs: np.ndarray  # all class probabilities
    boxes: np.ndarray  # (N, 4) re-framed boxes, frame pixels
    sign: np.ndarray  # P(sign) from the verifier (ones without one)
