"""``python -m realtime detect-bench FOLDER``: the proposers' time per still, and bad input in one line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.cli import main
from realtime.locate import DEFAULT_LOCATOR


def test_the_detector_benchmark_times_the_localizer_too(tmp_path: Path, capsys):
    """A line for the colour detector and, where the model is shipped, one for the learned localizer
    and one for the two together as the cascade runs them (one reduction), each on one core."""
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((80, 136, 3), 90 + 40 * i, np.uint8))
    assert main(["detect-bench", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("detect: 2 frames of 136x80")
    assert ("\nlocate: 2 frames" in out) == DEFAULT_LOCATOR.is_file()
    assert ("detect + locate (one reduction): 2 frames" in out) == DEFAULT_LOCATOR.is_file()
    assert main(["detect-bench", str(tmp_path), "--images", "1"]) == 0  # about one image spread over the folder
    assert "detect: 1 frames of 136x80" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:  # no folder: a usage error
        main(["detect-bench"])
    assert exc.value.code == 2


def test_the_detector_benchmark_refuses_bad_input_in_one_line(tmp_path: Path, capsys):
    """A missing folder and a folder with no readable image each get one line and exit 2; a bad N is
    a usage error (exit 2) that names it."""
    assert main(["detect-bench", str(tmp_path / "missing")]) == 2
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    assert main(["detect-bench", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert "missing is not a folder" in err[0] and "no readable" in err[1]
    for bad, says in (("many", "'many'"), ("0", "at least 1")):
        with pytest.raises(SystemExit) as exc:
            main(["detect-bench", str(tmp_path), "--images", bad])
        assert exc.value.code == 2
        assert says in capsys.readouterr().err
