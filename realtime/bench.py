"""``python -m realtime bench``: honest speed figures, measured the way the product runs.

Three passes over the same first N frames of a source, in one process: decode only (the ceiling
set by the video decoder), the full pipeline without encoding, and the full pipeline writing the
annotated video. Then the classifier alone, per backend, at batch sizes 1, 8 and 32 on random
crops, so the choice of backend is a measured one.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from realtime.pipeline import Recognize, RunOptions, StageTimes, build_recognizer, run
from realtime.source import open_source
from realtime.versions import library_versions, one_line

BATCHES = (1, 8, 32)
STAGES = ("decode", "detect", "locate", "gate", "refine", "classify", "recognize", "track", "draw", "encode")


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


def pipeline_pass(spec: str, frames: int, recognize, times: StageTimes, output: str | None) -> dict:
    """The product loop on the first ``frames`` frames; adds ``cpu_ms`` (all threads) per frame."""
    opts = RunOptions(output=output, display=False, draw=True, max_frames=frames, progress=False, quiet=True)
    c0 = time.process_time()
    summary = run(open_source(spec), recognize, opts, times=times)
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


def bench(spec: str, frames: int = 300, json_path: str | None = None, model: str | None = None,
          backends: list[str] | None = None, factory: str | None = None, recognize: Recognize | None = None,
          times: StageTimes | None = None, refine: bool = True, locate: bool = True) -> dict:
    """Run all passes, print a table and return (and optionally write) the figures.

    ``recognize`` (with the ``times`` its timed detector/classifier book into) replaces the shipped
    recognizer, e.g. to time a candidate detector.
    """
    backends = list(backends if backends is not None else ("litert", "tf-function", "keras-predict"))
    out_json = Path(json_path) if json_path else None
    if out_json is not None:
        from realtime.pipeline import check_writable

        check_writable(out_json, "JSON report")
    src = open_source(spec)
    desc = src.describe()
    size = src.size
    src.close()
    print(f"bench: {desc}; {frames} frames a pass", file=sys.stderr, flush=True)
    if recognize is None:
        times = StageTimes()
        recognize = build_recognizer(model, "litert", factory, times, refine=refine, locate=locate)
    times = times if times is not None else StageTimes()
    warm = open_source(spec)  # first calls build interpreters and caches: keep them out of the figures
    for i, f in enumerate(warm):
        recognize(f.image)
        if i >= 5:
            break
    warm.close()

    decode_fps, decode_ms, n, decode_cpu = decode_pass(spec, frames)
    times.reset()  # the timed detector/classifier book into this object: clear the warm-up
    plain = pipeline_pass(spec, frames, recognize, times, None)
    measured = dict(plain["stages_ms"], decode=round(decode_ms, 3))
    with tempfile.TemporaryDirectory() as tmp:
        times.reset()
        encoded = pipeline_pass(spec, frames, recognize, times, str(Path(tmp) / "bench.mp4"))
    measured["encode"] = encoded["stages_ms"].get("encode", 0.0)
    stages = {k: measured[k] for k in STAGES if k in measured}
    result = {
        "source": str(spec), "size": list(size) if size else None, "frames": plain["frames"],
        "fps": plain["fps"], "fps_encoding": encoded["fps"], "decode_fps": round(decode_fps, 2),
        "pipeline_vs_decode": round(plain["fps"] / max(decode_fps, 1e-9), 3),
        "stages_ms": stages,
        # CPU time of all threads per frame: on a loaded machine this, not wall time, shows the cost
        "cpu_ms_per_frame": {"decode_only": round(decode_cpu, 2), "pipeline": plain["cpu_ms"],
                             "pipeline_encoding": encoded["cpu_ms"]},
        "classifier_ms": backend_table(model, backends),
        "cpu_count": _cpus(), "loadavg_1min": round(os.getloadavg()[0], 2),
        "versions": library_versions(),
    }
    print(format_table(result))
    if out_json is not None:
        out_json.write_text(json.dumps(result, indent=1) + "\n")
    return result


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def format_table(r: dict) -> str:
    size = "x".join(str(v) for v in r["size"]) if r["size"] else "?"
    lines = [f"{size}, {r['frames']} frames, {r['cpu_count']} CPUs, load average {r['loadavg_1min']}"]
    if r.get("versions"):
        lines.append(one_line(r["versions"]))
    lines += ["",
             f"{'pass':<28s}{'FPS':>9s}",
             f"{'decode only':<28s}{r['decode_fps']:>9.1f}",
             f"{'pipeline (no encoding)':<28s}{r['fps']:>9.1f}"
             f"   ({r['pipeline_vs_decode']:.0%} of decode-only)",
             f"{'pipeline + encoding':<28s}{r['fps_encoding']:>9.1f}",
             "", f"{'stage':<28s}{'ms/frame':>9s}"]
    lines += [f"{k:<28s}{v:>9.2f}" for k, v in r["stages_ms"].items()]
    lines += ["", f"{'CPU ms per frame (all threads)':<28s}"]
    lines += [f"  {k:<26s}{v:>9.2f}" for k, v in r["cpu_ms_per_frame"].items()]
    lines += ["", f"{'classifier backend':<28s}" + "".join(f"{'batch ' + str(b):>11s}" for b in BATCHES)]
    for name, row in r["classifier_ms"].items():
        if "error" in row:
            lines.append(f"{name:<28s}  unavailable: {row['error']}")
        else:
            lines.append(f"{name:<28s}" + "".join(f"{row[f'batch_{b}_ms']:>8.2f} ms" for b in BATCHES))
    return "\n".join(lines)
