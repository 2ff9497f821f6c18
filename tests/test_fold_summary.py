"""``fold-summary``: the mean and spread over folds of ``evaluate`` reports (issue 33)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.fold_summary import format_summary, summarise


def _report(d, acc: float, n: int = 1000, framing: str = "roi", limit: float | None = 0.99):
    d.mkdir(parents=True)
    m = {"n": n, "accuracy": acc, "macro_f1": acc - 0.001, "framing": framing, "split": "val",
         "model": str(d / "m.keras"),
         "speed_limits": {"images": 300, "accuracy": limit, "errors_within_group": 2} if limit else {"images": 0}}
    (d / "metrics.json").write_text(json.dumps(m))
    return d


def test_mean_sd_and_every_folds_value(tmp_path) -> None:
    accs = [0.996, 0.999, 0.993]
    dirs = [_report(tmp_path / f"e{i}", a) for i, a in enumerate(accs)]
    s = summarise(dirs)
    acc = s["measures"]["accuracy"]
    assert s["folds"] == 3 and s["images"] == 3000 and s["framing"] == "roi"
    assert acc["values"] == accs
    assert acc["mean"] == pytest.approx(np.mean(accs)) and acc["sd"] == pytest.approx(np.std(accs, ddof=1))
    assert s["measures"]["errors"]["values"] == [4.0, 1.0, 7.0]
    assert s["measures"]["limit_accuracy"]["mean"] == pytest.approx(0.99)
    text = format_summary(s)
    assert "99.60% +- 0.30%" in text and "(99.60%, 99.90%, 99.30%)" in text


def test_a_measure_missing_on_a_fold_is_left_out_and_mixed_reports_are_refused(tmp_path) -> None:
    a, b = _report(tmp_path / "a", 0.99), _report(tmp_path / "b", 0.98, limit=None)
    assert "limit_accuracy" not in summarise([a, b / "metrics.json"])["measures"]
    with pytest.raises(ValueError, match="mix framings"):
        summarise([a, _report(tmp_path / "w", 0.99, framing="whole")])
    with pytest.raises(ValueError, match="two reports"):
        summarise([a])


def test_the_cli_prints_writes_and_refuses_a_missing_report_in_one_line(tmp_path, capsys) -> None:
    from training.__main__ import main

    dirs = [str(_report(tmp_path / f"e{i}", a)) for i, a in enumerate((0.99, 0.98))]
    out = tmp_path / "s.json"
    assert main(["fold-summary", *dirs, "--output", str(out)]) == 0
    assert json.loads(out.read_text())["folds"] == 2 and "2 folds" in capsys.readouterr().out
    assert main(["fold-summary", dirs[0], str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "no metrics.json" in err and "Traceback" not in err
