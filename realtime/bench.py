"""Honest speed figures, measured the way the product runs (``python -m realtime bench``).

Three passes over the same first N frames of a source, in one process: decode only (the ceiling
set by the video decoder), the full pipeline without encoding, and the full pipeline writing the
annotated video. Then the classifier alone, per backend, at batch sizes 1, 8 and 32 on random
crops, so the choice of backend is a measured one.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from realtime.pipeline import RunOptions, run
from realtime.profile import STAGES, Profiler
from realtime.source import open_source
from realtime.stages import Recognize
from realtime.versions import library_versions

BATCHES = (1, 8, 32)


def decode_pass(spec: str, frames: int) -> tuple[float, float, int, float]:
    """(frames per second, ms per frame in the capture thread, frames read, CPU ms per frame) reading only."""
    src = open_source(spec)
    n, decode_ms = 0, 0.0
    c0 = time.process_time()
    t0 = time.perf_counter()
    try:
        for f in src:
            decode_ms += f.decode_ms
            n += 1
            if n >= frames:
                break
    finally:
        src.close()
    dt = time.perf_counter() - t0
    cpu = (time.process_time() - c0) * 1000.0 / max(n, 1)
    return n / max(dt, 1e-9), decode_ms / max(n, 1), n, cpu


def pipeline_pass(spec: str, frames: int, recognize, profiler: Profiler, output: str | None) -> dict:
    """The product loop on the first ``frames`` frames; adds ``cpu_ms`` (all threads) per frame."""
    opts = RunOptions(output=output, draw=True, max_frames=frames)
    c0 = time.process_time()
    summary = run(open_source(spec), recognize, opts, profiler=profiler)
    summary["cpu_ms"] = round((time.process_time() - c0) * 1000.0 / max(summary["frames"], 1), 2)
    return summary


def backend_table(model: str | None, backends: list[str], seed: int = 0, gate: str | None = None) -> dict[str, dict]:
    """ms per batched call (preprocessing of a frame's boxes included) per backend and batch size;
    the gate's LiteRT model as one more row; errors as text."""
    from realtime.card import ModelError
    from realtime.classifier import Classifier, resolve_gate

    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (800, 1360, 3), dtype=np.uint8)
    side = rng.integers(16, 120, 32)
    x, y = rng.integers(0, 1360 - 120, 32), rng.integers(0, 800 - 120, 32)
    boxes = np.stack([x, y, x + side, y + side], axis=1).astype(np.float32)
    rows = [(b, model, b) for b in backends]
    gate_path = resolve_gate(gate)
    if gate_path is not None:
        rows.append(("gate (LiteRT)", gate_path, "litert"))
    table: dict[str, dict] = {}
    for name, path, backend in rows:
        try:
            clf = Classifier(path, backend=backend)
        except (ModelError, ImportError) as exc:
            table[name] = {"error": str(exc)}
            continue
        row = {}
        reps = 5 if backend == "keras-predict" else 40
        for b in BATCHES:
            batch = boxes[:b]
            for _ in range(3):
                clf.classify_boxes(frame, batch)
            runs = []
            for _ in range(reps):
                t0 = time.perf_counter()
                clf.classify_boxes(frame, batch)
                runs.append((time.perf_counter() - t0) * 1000.0)
            row[f"batch_{b}_ms"] = round(statistics.median(runs), 3)
        table[name] = row
    return table


def bench(spec: str, recognize: Recognize, profiler: Profiler, frames: int = 300, model: str | None = None,
          backends: list[str] | None = None) -> dict:
    """Run all passes and return the figures. ``recognize`` (the cascade) books its stages into
    ``profiler``; ``model`` and ``backends`` choose what the classifier table times."""
    backends = list(backends if backends is not None else ("litert", "tf-function", "keras-predict"))
    src = open_source(spec)
    size = src.size
    src.close()
    warm = open_source(spec)  # first calls build interpreters and caches: keep them out of the figures
    for i, f in enumerate(warm):
        recognize(f.image)
        if i >= 5:
            break
    warm.close()

    decode_fps, decode_ms, n, decode_cpu = decode_pass(spec, frames)
    profiler.reset()
    plain = pipeline_pass(spec, frames, recognize, profiler, None)
    stages = dict(plain["stages_ms"], decode=round(decode_ms, 3))
    with tempfile.TemporaryDirectory() as tmp:
        profiler.reset()
        encoded = pipeline_pass(spec, frames, recognize, profiler, str(Path(tmp) / "bench.mp4"))
    stages["write"] = encoded["stages_ms"].get("write", 0.0)
    return {
        "source": str(spec), "size": list(size) if size else None, "frames": plain["frames"],
        "fps": plain["fps"], "fps_encoding": encoded["fps"], "decode_fps": round(decode_fps, 2),
        "pipeline_vs_decode": round(plain["fps"] / max(decode_fps, 1e-9), 3),
        "stages_ms": {k: stages[k] for k in STAGES if k in stages},
        # CPU time of all threads per frame: on a loaded machine this, not wall time, shows the cost
        "cpu_ms_per_frame": {"decode_only": round(decode_cpu, 2), "pipeline": plain["cpu_ms"],
                             "pipeline_encoding": encoded["cpu_ms"]},
        "classifier_ms": backend_table(model, backends),
        "cpu_count": _cpus(), "loadavg_1min": round(os.getloadavg()[0], 2),
        "versions": library_versions(),
    }


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
