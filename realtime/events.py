"""Stage 5b: what was seen, for people and programs. A JSONL event log and an end-of-run summary.

Each line is flushed as it is written, so a run that is interrupted (Ctrl-C, SIGTERM, a crash)
still leaves a complete log up to the last processed frame.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import json
from pathlib import Path
from typing import IO

from realtime.classes import NAMES
from realtime.types import Detection
from realtime.video import write_atomic

# the sign-track table (``--tracks``, and the batch's signs.csv after its "video" column)
TRACK_COLUMNS = ("track_id", "class_id", "label", "first_frame", "last_frame", "first_t", "last_t", "frames_seen",
                 "best_score")
EVENT_KEYS = ("source", "frame", "t", "box", "class_id", "label", "score", "track_id", "confirmed", "found",
              "agreement")


def event_record(source: str, frame: int, t: float, det: Detection,
                 names: tuple[str, ...] | list[str] = NAMES) -> dict:
    """One detection as a JSON-ready dict with the keys of ``EVENT_KEYS``."""
    cid = int(det.class_id)
    return {
        "source": source,
        "frame": int(frame),
        "t": round(float(t), 4),
        "box": [round(float(v), 1) for v in det.box],
        "class_id": cid,
        "label": names[cid] if 0 <= cid < len(names) else "",
        "score": round(float(det.score), 4),
        "track_id": det.track_id,
        "confirmed": bool(det.confirmed),
        "found": det.found,  # "detector" on this frame, or "track": where its track's box should be
        "agreement": round(float(det.agreement), 3),  # share of its track's vote behind class_id (1 untracked)
    }


def detection_record(source: str, frame: int, det: Detection, label: str) -> dict:
    """One detection of a still (the evaluation's ``detections.jsonl``): the event keys a scorer reads."""
    return {"source": str(source), "frame": int(frame), "box": [round(float(v), 1) for v in det.box],
            "class_id": int(det.class_id), "label": str(label), "score": round(float(det.score), 4)}


class EventLogError(Exception):
    """The event log cannot be written any more (disk full, drive removed); one line for the user."""


class EventWriter:
    """Append detections as JSON lines; ``path=None`` writes nothing (so callers need no branches)."""

    def __init__(self, path: str | Path | None, names: tuple[str, ...] | list[str] = NAMES) -> None:
        self.path = Path(path) if path else None
        self.names = names
        self.lines = 0
        self._fh: IO[str] | None = None
        if self.path is not None:
            self._fh = self.path.open("w", encoding="utf-8")

    def write(self, source: str, frame: int, t: float, detections: list[Detection]) -> None:
        if self._fh is None or not detections:
            return
        text = "".join(json.dumps(event_record(source, frame, t, d, self.names)) + "\n" for d in detections)
        try:
            self._fh.write(text)
            self._fh.flush()
        except OSError as exc:
            self._abandon()
            raise EventLogError(f"cannot write event log {self.path}: {exc.strerror or exc}; "
                                f"{self.lines} lines were written before") from None
        self.lines += len(detections)

    def _abandon(self) -> None:
        """Drop the file after a failed write: closing would retry the flush and fail again."""
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError as exc:
                self._fh = None
                raise EventLogError(f"cannot write event log {self.path}: {exc.strerror or exc}") from None
            self._fh = None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Summary:
    """Frames, speed and the signs seen per class (first and last time), over a whole run.

    Only confirmed detections count as signs. With tracking, a physical sign is one track, counted
    once, under the class it was confirmed as most often (the first such class on a tie): a track
    whose voted label changed for a few frames is still one sign, and the row of the passing label
    shows its detections with 0 signs. For unrelated stills every confirmed detection is its own sign.
    """

    def __init__(self, names: tuple[str, ...] | list[str] = NAMES) -> None:
        self.names = names
        self.frames = 0
        self.detections = 0
        self.elapsed_s = 0.0
        self.per_class: dict[int, dict] = {}
        self._untracked: collections.Counter = collections.Counter()  # class -> confirmed detections
        self._tracks: dict[int, collections.Counter] = {}  # track id -> class -> confirmed detections
        self._spans: dict[int, dict] = {}  # track id -> first/last frame and time, best score

    def add(self, frame: int, t: float, detections: list[Detection]) -> None:
        self.frames += 1
        for d in detections:
            if not d.confirmed or d.class_id < 0:
                continue
            self.detections += 1
            cid = int(d.class_id)
            row = self.per_class.get(cid)
            if row is None:
                label = self.names[cid] if cid < len(self.names) else ""
                row = self.per_class[cid] = {"class_id": cid, "label": label, "detections": 0,
                                             "first_t": t, "last_t": t,
                                             "first_frame": frame, "last_frame": frame}
            row["detections"] += 1
            row["first_t"], row["last_t"] = min(row["first_t"], t), max(row["last_t"], t)
            row["first_frame"] = min(row["first_frame"], frame)
            row["last_frame"] = max(row["last_frame"], frame)
            if d.track_id is None:
                self._untracked[cid] += 1
            else:
                self._tracks.setdefault(d.track_id, collections.Counter())[cid] += 1
                span = self._spans.setdefault(d.track_id, {"first_frame": frame, "first_t": t, "best_score": 0.0})
                span.update(last_frame=frame, last_t=t, best_score=max(span["best_score"], float(d.score)))

    def signs_per_class(self) -> dict[int, int]:
        """Physical signs per class: each track under its most frequent confirmed class."""
        signs = collections.Counter(self._untracked)
        for votes in self._tracks.values():
            signs[votes.most_common(1)[0][0]] += 1  # most_common keeps first-seen order on ties
        return dict(signs)

    def tracks(self) -> list[dict]:
        """One row per confirmed track (a physical sign): its class (the one it was confirmed as most
        often), label, first and last frame and time, confirmed frames and best score."""
        rows = []
        for tid, votes in self._tracks.items():
            cid = votes.most_common(1)[0][0]
            span = self._spans[tid]
            rows.append({"track_id": tid, "class_id": cid, "label": self.names[cid] if cid < len(self.names) else "",
                         "first_frame": span["first_frame"], "last_frame": span["last_frame"],
                         "first_t": round(span["first_t"], 3), "last_t": round(span["last_t"], 3),
                         "frames_seen": sum(votes.values()), "best_score": round(span["best_score"], 4)})
        return rows

    def write_tracks(self, path: Path) -> None:
        """``tracks()`` as CSV, written whole or not at all."""
        write_atomic(path, tracks_csv(self.tracks()))

    def as_dict(self, extra: dict | None = None) -> dict:
        fps = self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0
        signs = self.signs_per_class()
        out = {"frames": self.frames, "elapsed_s": round(self.elapsed_s, 3), "fps": round(fps, 2),
               "signs": sum(signs.values()), "detections": self.detections,
               "classes": [dict(r, signs=signs.get(cid, 0), first_t=round(r["first_t"], 3),
                                last_t=round(r["last_t"], 3))
                           for cid, r in sorted(self.per_class.items())]}
        if extra:
            out.update(extra)
        return out



def tracks_csv(rows: list[dict], columns: tuple[str, ...] = TRACK_COLUMNS) -> str:
    """Sign-track rows (``Summary.tracks``, with more columns in front where given) as CSV text."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def format_summary(s: dict) -> str:
    """A summary (``Summary.as_dict``) as text: frames and speed, then the signs per class."""
    lines = [f"{s['frames']} frames in {s['elapsed_s']:.1f} s ({s['fps']:.1f} FPS); "
             f"{s['signs']} signs, {s['detections']} confirmed detections"]
    for r in s["classes"]:
        lines.append(f"  {r['class_id']:>2d} {r['label']:<42s} {r['signs']:>4d} signs "
                     f"{r['detections']:>5d} det.  first {r['first_t']:8.2f} s  last {r['last_t']:.2f} s")
    if any(r["signs"] == 0 for r in s["classes"]):
        lines.append("  (0 signs: frames in which a sign counted under another class was read as this one)")
    return "\n".join(lines)
