"""``python -m realtime batch``: many videos on Ray (local, 2 workers), resumable, faults reported.

The command runs in this process (``realtime.cli.main``) on one Ray started for the module, so the
tests pay Ray's start once. The clips are tiny and most runs use the fake recognizer of
test_pipeline.py; one compares the shipped cascade with ``realtime run`` when the models are there.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest

import realtime.cli
from realtime.batch import Job, assign_stems, find_videos
from tests.test_pipeline import drive_video

FAKE = ["--recognizer", "tests.test_pipeline:make_fake"]


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Three short clips, one of them in a subfolder under a stem the others share."""
    d = tmp_path_factory.mktemp("clips")
    drive_video(d / "a.mp4", n=30)
    drive_video(d / "b.mp4", n=40, false_alarm_at=None)
    (d / "sub").mkdir()
    drive_video(d / "sub" / "a.mp4", n=25, fps=20.0)
    return d


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = realtime.cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def run_events(capsys, clip: Path, events: Path, *extra: str) -> bytes:
    rc, _, err = cli(capsys, "run", str(clip), "--events", str(events), "--no-display", *extra)
    assert rc == 0, err
    return events.read_bytes()


def test_events_are_those_of_single_runs_and_the_tables_sum_them_up(ray_local, clips, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    rc, stdout, err = cli(capsys, "batch", str(clips), "--output", str(out), "--workers", "2", *FAKE)
    assert rc == 0, err
    assert "3 of 3 videos done" in stdout and "Traceback" not in err
    videos = sorted(clips.rglob("*.mp4"))
    jobs = {Path(j.path): j.stem for j in assign_stems(videos)}
    assert sorted(jobs.values())[2] == "b" and all(s.startswith("a-") for s in sorted(jobs.values())[:2])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"] == {"videos": 3, "done": 3, "failed": 0, "not_run": 0, "frames": 95, "signs": 3}
    rows = list(csv.DictReader((out / "signs.csv").open()))
    for clip in videos:
        table = tmp_path / f"{jobs[clip]}.single.csv"
        single = run_events(capsys, clip, tmp_path / f"{jobs[clip]}.single.jsonl", "--tracks", str(table), *FAKE)
        assert single  # the clips have signs
        assert (out / f"{jobs[clip]}.events.jsonl").read_bytes() == single  # byte for byte, `source` too
        entry = next(e for e in summary["videos"] if e["video"] == str(clip.resolve()))
        assert entry["status"] == "done" and entry["error"] is None and entry["signs"] == 1
        mine = [r for r in rows if r["video"] == str(clip.resolve())]
        expect = list(csv.DictReader(table.open()))  # `realtime run --tracks`: the same table, one video
        assert [{k: v for k, v in r.items() if k != "video"} for r in mine] == expect and len(expect) == 1
        assert mine[0]["class_id"] == "1" and mine[0]["label"] == "Speed limit (30km/h)"
        assert int(mine[0]["frames_seen"]) > 20
    assert not list(out.glob("*.part*"))


def test_the_shipped_cascade_gives_the_events_of_realtime_run(ray_local, tmp_path, capsys) -> None:
    from realtime.classifier import DEFAULT_MODEL

    video_mod = pytest.importorskip("training.render.video")
    if not DEFAULT_MODEL.exists():
        pytest.skip(f"no trained model at {DEFAULT_MODEL}")
    src = tmp_path / "src"
    src.mkdir()
    for seed in (3, 4):
        video_mod.write_driveby(src / f"m{seed}.mp4", tmp_path / f"m{seed}.jsonl", seed=seed, n_frames=40,
                                width=480, height=272, n_signs=3)
    out = tmp_path / "out"
    rc, _, err = cli(capsys, "batch", str(src), "--output", str(out), "--workers", "2", "--set", "track.k=2")
    assert rc == 0, err
    for seed in (3, 4):
        single = run_events(capsys, src / f"m{seed}.mp4", tmp_path / f"m{seed}.jsonl.single", "--set",
                            "track.k=2")
        assert single and (out / f"m{seed}.events.jsonl").read_bytes() == single


def test_a_corrupt_file_fails_with_its_reason_while_the_others_finish(ray_local, clips, tmp_path, capsys) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.mp4").write_bytes((clips / "a.mp4").read_bytes())
    (src / "broken.mp4").write_bytes(os.urandom(4096))
    (src / "notes.md").write_text("not a video: ignored in a folder")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my drives\nsrc/good.mp4\nsrc/broken.mp4\n{src / 'gone.mp4'}\n")
    out = tmp_path / "out"
    rc, _, err = cli(capsys, "batch", str(listing), str(src), "--output", str(out), *FAKE)
    assert rc == 1
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, err
    assert any(f"{src / 'broken.mp4'}: not a video" in e for e in errors)
    assert any("gone.mp4: source not found" in e for e in errors)
    summary = json.loads((out / "summary.json").read_text())
    status = {Path(e["video"]).name: (e["status"], e["error"]) for e in summary["videos"]}
    assert status["good.mp4"] == ("done", None) and status["broken.mp4"][0] == "failed"
    assert "not a video" in status["broken.mp4"][1] and len(status) == 3  # listed and found: one video
    assert summary["totals"]["failed"] == 2 and (out / "good.events.jsonl").is_file()
    assert not (out / "broken.events.jsonl").exists() and not (out / "broken.done.json").exists()


def test_a_second_run_skips_finished_videos_and_redoes_unfinished_ones(ray_local, clips, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    args = ["batch", str(clips / "a.mp4"), str(clips / "b.mp4"), str(clips / "sub"), "--output", str(out), *FAKE]
    assert cli(capsys, *args)[0] == 0
    jobs = {Path(j.path).relative_to(clips).as_posix(): j.stem
            for j in assign_stems(find_videos([clips / "a.mp4", clips / "b.mp4", clips / "sub"]))}
    first = {s: (out / f"{s}.events.jsonl").stat().st_mtime_ns for s in jobs.values()}
    # an interrupted batch: b was being written (its .part is there, no marker), sub/a never started
    b = jobs["b.mp4"]
    (out / f"{b}.events.jsonl").replace(out / f"{b}.events.jsonl.part")
    (out / f"{b}.done.json").unlink()
    (out / f"{jobs['sub/a.mp4']}.done.json").unlink()
    (out / f"{jobs['sub/a.mp4']}.events.jsonl").unlink()
    rc, stdout, err = cli(capsys, *args)
    assert rc == 0, err
    assert "skipped 1 finished videos; redoing 1 unfinished" in err
    assert "3 of 3 videos done (1 from an earlier batch)" in stdout
    a = jobs["a.mp4"]
    assert (out / f"{a}.events.jsonl").stat().st_mtime_ns == first[a]  # not redone
    assert not (out / f"{b}.events.jsonl.part").exists() and (out / f"{b}.events.jsonl").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["done"] == 3 and summary["totals"]["signs"] == 3
    assert len(list(csv.DictReader((out / "signs.csv").open()))) == 3  # the skipped video's sign too
    # a third run: everything finished; a changed source file or other settings are redone
    os.utime(clips / "b.mp4")
    rc, _, err = cli(capsys, *args)
    assert rc == 0 and "skipped 2 finished videos; redoing 1 unfinished" in err
    rc, _, err = cli(capsys, *args, "--set", "track.k=2")
    assert rc == 0 and "redoing 3 unfinished videos" in err


def crash_once(model: str | None = None):
    """A recognizer factory whose worker dies the first time (``model`` names a flag file)."""
    from tests.test_pipeline import make_fake

    flag = Path(model)
    if not flag.exists():
        flag.write_text("crashed once")
        os._exit(1)
    return make_fake()


def test_a_worker_that_dies_is_retried(ray_local, clips, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    rc, _, err = cli(capsys, "batch", str(clips / "a.mp4"), "--output", str(out), "--recognizer",
                     "tests.test_batch:crash_once", "--model", str(tmp_path / "crashed"))
    assert rc == 0, err
    assert (tmp_path / "crashed").is_file()
    assert json.loads((out / "summary.json").read_text())["totals"]["done"] == 1


def test_without_ray_the_command_says_how_to_install_it(clips, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if the extra were absent
    rc, out, err = cli(capsys, "batch", str(clips), "--out", str(tmp_path / "out"), *FAKE)
    assert rc == 2 and out == ""
    assert err.strip() == "error: the batch mode needs Ray: pip install 'traffic-signs[fleet]'"


def test_bad_arguments_are_one_line_errors(clips, tmp_path, capsys) -> None:
    pytest.importorskip("ray")
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv, words in (([str(empty), "--out", str(tmp_path / "o")], "no video files"),
                        ([str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")], "source not found"),
                        ([str(clips / "a.mp4"), "--out", str(clips / "a.mp4")], "cannot write to the output")):
        rc, _, err = cli(capsys, "batch", *argv, *FAKE)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error:") and words in err, err


def test_sources_stems_and_the_track_table(tmp_path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    for p in ("x/d1.mp4", "x/y/d1.MOV", "x/y/skip.txt.bak", "x/d2.avi"):
        (tmp_path / p).write_bytes(b"")
    (tmp_path / "l.txt").write_text("x/d2.avi\n\n  # comment\nx/y\n")
    found = find_videos([tmp_path / "x", tmp_path / "l.txt"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["x/d1.mp4", "x/d2.avi", "x/y/d1.MOV"]
    stems = [j.stem for j in assign_stems(found)]
    assert stems[1] == "d2" and stems[0] != stems[2] and stems[0].startswith("d1-") and len(stems[0]) == 11
    assert assign_stems(found) == [Job(str(p.resolve()), s) for p, s in zip(found, stems, strict=True)]

    from realtime.events import Summary
    from realtime.types import Detection

    summary = Summary(names=[f"c{i}" for i in range(43)])
    for frame, cid, tid, score, confirmed in ((0, 1, 7, 0.9, False), (1, 1, 7, 0.9, True), (2, 2, 7, 0.95, True),
                                              (3, 2, 7, 0.9, True), (3, 4, 8, 0.9, True), (4, 1, 7, 0.5, True),
                                              (5, -1, 9, 0.9, True)):
        summary.add(frame, frame / 10, [Detection((0, 0, 9, 9), score, cid, track_id=tid, confirmed=confirmed)])
    assert summary.tracks() == [
        {"track_id": 7, "class_id": 1, "label": "c1", "first_frame": 1, "last_frame": 4, "first_t": 0.1,
         "last_t": 0.4, "frames_seen": 4, "best_score": 0.95},  # 1 and 2 tie: the first confirmed wins
        {"track_id": 8, "class_id": 4, "label": "c4", "first_frame": 3, "last_frame": 3, "first_t": 0.3,
         "last_t": 0.3, "frames_seen": 1, "best_score": 0.9}]


def test_the_command_starts_its_own_ray_and_prints_only_its_own_lines(clips, tmp_path) -> None:
    pytest.importorskip("ray")
    import subprocess

    root = Path(__file__).resolve().parent.parent
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(2048))
    env = dict(os.environ, PYTHONPATH=str(root))
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([sys.executable, "-m", "realtime", "batch", str(clips / "b.mp4"), str(bad), "--out",
                        str(tmp_path / "out"), "--workers", "2", *FAKE], cwd=root, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [f"error: {bad}: not a video OpenCV can read: {bad}"], r.stderr
    assert "1 of 2 videos done" in r.stdout
