"""The command line of the training side: help for every option, one flag name per concept."""

from __future__ import annotations

import argparse

import pytest


def _commands() -> dict[str, argparse.ArgumentParser]:
    from training.__main__ import _parser

    return dict(_parser()._subparsers._group_actions[0].choices)


def _shown_options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if a.help != argparse.SUPPRESS]


def test_every_option_of_every_command_has_help_without_source_file_names() -> None:
    from training.__main__ import _parser

    top = _parser()
    assert top.description and "`" not in top.description and ".py" not in top.description
    commands = _commands()
    assert {"train", "evaluate", "render-driveby", "eval-detection", "train-gate"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description, name
        for action in _shown_options(parser):
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert isinstance(action.help, str) and action.help.strip(), f"{label}: no help"
            assert ".py" not in action.help, f"{label}: source file named in its help"
        assert ".py" not in parser.format_help(), name


def test_the_documented_flag_names_are_the_runtimes() -> None:
    """`--output` for what a command writes, `--gtsrb` for the GTSRB folder; `--out`/`--data` are hidden."""
    for name, parser in _commands().items():
        shown = {s for a in _shown_options(parser) for s in a.option_strings}
        assert not shown & {"--out", "--data"}, name


def test_render_driveby_needs_an_output_and_writes_nothing_without_one(tmp_path, monkeypatch) -> None:
    """No default output: the bundled samples/ are only re-rendered when asked (`make sample`)."""
    from training.__main__ import main

    monkeypatch.chdir(tmp_path)
    for argv in (["render-driveby", "--gt", "g.jsonl", "--frames", "2"],
                 ["render-driveby", "--output", "v.mp4", "--frames", "2"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_old_and_new_spellings_give_the_same_arguments(tmp_path) -> None:
    from training.__main__ import _parser

    det = ["eval-detection", "--scenes", "s", "--gt", "g.txt"]
    assert _parser().parse_args([*det, "--out", "o"]) == _parser().parse_args([*det, "--output", "o"])
    assert _parser().parse_args([*det, "--output", "o"]).out == "o"
    gate = ["train-gate", "--scenes", "s", "--gt", "g.txt", "--output", "o"]
    assert _parser().parse_args([*gate, "--data", "d"]) == _parser().parse_args([*gate, "--gtsrb", "d"])
    assert _parser().parse_args([*gate, "--gtsrb", "d"]).gtsrb == "d"
    train = ["train", "--output", "o"]
    assert _parser().parse_args([*train, "--data", "d"]).data == _parser().parse_args([*train, "--gtsrb", "d"]).data
    assert _parser().parse_args(["export", "m.json"]).data is None  # optional there, default kept


@pytest.mark.parametrize("argv", [["eval-detection", "--scenes", "s", "--gt", "g.txt"],
                                  ["train-gate", "--scenes", "s", "--gt", "g.txt", "--output", "o"],
                                  ["eval-detection", "--scenes", "s", "--gt", "g.txt", "--out", "a", "--output", "b"]])
def test_a_required_renamed_option_is_still_required_and_one_spelling_at_a_time(argv, capsys) -> None:
    from training.__main__ import _parser

    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--output" in err or "--gtsrb" in err


def test_the_evaluations_take_the_settings_and_show_them_without_running(tmp_path, capsys) -> None:
    """eval-detection and eval-driveby take --config/--set like `realtime run`; --show-config prints
    the settings in force and runs nothing (no scenes or video are read)."""
    import json

    from training.__main__ import main

    missing = str(tmp_path / "nothing")
    assert main(["eval-detection", "--scenes", missing, "--gt", missing, "--output", missing,
                 "--set", 'design.checks=["stop"]', "--show-config"]) == 0
    assert json.loads(capsys.readouterr().out)["design"]["checks"] == ["stop"]
    assert main(["eval-driveby", "--video", missing, "--gt", missing, "--set", "track.k=2", "--show-config"]) == 0
    assert json.loads(capsys.readouterr().out)["track"]["k"] == 2
    assert not (tmp_path / "nothing").exists()


def test_library_modules_print_nothing_and_parse_no_arguments() -> None:
    """Only the command-line layers (``realtime/cli``, ``training/__main__``) print or build parsers;
    the modules log, and the command line decides what the user sees."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in sorted([*root.glob("realtime/**/*.py"), *root.glob("training/**/*.py")]):
        rel = path.relative_to(root)
        if rel.parts[:2] == ("realtime", "cli") or rel.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in ("print", "ArgumentParser"):
                    offenders.append(f"{rel}:{node.lineno} {name}")
    assert not offenders, offenders


def test_training_messages_reach_the_user_through_the_command_line_only(tmp_path, capsys) -> None:
    import subprocess
    import sys
    from pathlib import Path

    import cv2
    import numpy as np

    from training.__main__ import main

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for i in range(2):
        cv2.imwrite(str(scenes / f"{i:05d}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    (scenes / "00002.png").write_bytes(b"not an image")
    # called as a library (a fresh process: logging set up by a command earlier in this one would show it)
    lib = subprocess.run([sys.executable, "-c", "import sys; from training.scenes_video import make_video; "
                          "assert make_video(sys.argv[1], sys.argv[2], hold=1) == 2", str(scenes),
                          str(tmp_path / "lib.mp4")], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert lib.returncode == 0, lib.stderr
    # no figures or progress; a warning goes where Python's logging sends it unconfigured (stderr)
    assert lib.stdout == "" and "wrote" not in lib.stderr
    assert main(["scenes-video", "--scenes", str(scenes), "--output", str(tmp_path / "cli.mp4"), "--hold", "1"]) == 0
    out, err = capsys.readouterr()
    assert "wrote" in out and "2 frames" in out
    assert err.strip() == f"warning: unreadable image, skipped: {scenes / '00002.png'}"
