"""The one configuration object: saved with the models, overridable, printable, strict."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from realtime.config import DEFAULT_CONFIG, Config, ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_file_holds_every_setting_and_equals_the_defaults() -> None:
    """``models/config.json`` is complete (every section and key) and the dataclass defaults are its
    values, so a ``Config()`` made in code behaves as the product does."""
    saved = json.loads(DEFAULT_CONFIG.read_text())
    assert saved == json.loads(Config().to_json())
    assert Config.shipped() == Config()


def test_round_trip_keeps_tuples_and_none(tmp_path: Path) -> None:
    cfg = Config().with_overrides(["gate.pre_nms=null", "classify.box_scale=[1.0, 0.9]", "track.k=2"])
    assert cfg.gate.pre_nms is None and cfg.classify.box_scale == (1.0, 0.9) and cfg.track.k == 2
    path = tmp_path / "c.json"
    cfg.save(path)
    assert Config.load(path) == cfg


def test_overrides_parse_json_and_reject_unknown_or_invalid_settings() -> None:
    cfg = Config().with_overrides(["reject.min_score=0.6", "reject.route_min_score={}", "closer_look.enabled=false"])
    assert cfg.reject.min_score == 0.6 and cfg.reject.threshold("learned") == 0.6 and not cfg.closer_look.enabled
    assert Config().with_overrides(["reject.consistency=shape"]).reject.consistency == "shape"  # text stays text
    for bad, words in (("reject.min_scor=0.6", "unknown setting"), ("rejekt.min_score=0.6", "unknown section"),
                       ("min_score=0.6", "section.key=value"), ("gate.threshold=2", "out of range"),
                       ("reject.consistency=colours", "unknown consistency"), ("track.k=9", "k <= n")):
        with pytest.raises(ConfigError, match=words):
            Config().with_overrides([bad])


def test_a_bad_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{"detect": {"min_size": 14}, "colour": {}}')
    with pytest.raises(ConfigError, match="unknown configuration sections"):
        Config.load(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Config.load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        Config.load(tmp_path / "missing.json")


def test_show_config_prints_the_settings_in_force() -> None:
    r = subprocess.run([sys.executable, "-m", "realtime", "run", "0", "--show-config", "--min-score", "0.5",
                        "--no-locate", "--set", "track.max_age=4"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["reject"]["min_score"] == 0.5 and shown["reject"]["route_min_score"] == {}
    assert shown["locate"]["enabled"] is False and shown["track"]["max_age"] == 4
    assert Config.from_dict(shown).detect == Config().detect
    r = subprocess.run([sys.executable, "-m", "realtime", "run", "0", "--set", "track.maxage=4"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr


def test_the_runtime_never_imports_training() -> None:
    """``realtime`` is what users install and run; the training side depends on it, not the reverse."""
    for path in (ROOT / "realtime").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "training" or n.startswith("training.") for n in names), path


def test_library_modules_neither_print_nor_parse_arguments() -> None:
    """Printing and argument parsing belong to ``realtime/cli``."""
    for path in (ROOT / "realtime").glob("*.py"):
        tree = ast.parse(path.read_text())
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "print" not in calls and "argparse" not in imports, path
