"""Shared fixtures. Data-dependent tests find the shared data through ``TSR_DATA``; they skip
with a reason on a user's fresh clone, and fail in CI (``TSR_REQUIRE_DATA=1``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent


def _data_dir(sub: str) -> Path:
    base = os.environ.get("TSR_DATA")
    required = os.environ.get("TSR_REQUIRE_DATA") == "1"
    reason = None
    if not base:
        reason = "TSR_DATA is not set (point it at a folder holding GTSRB/ and GTSDB/)"
    elif not (Path(base) / sub).is_dir():
        reason = f"{Path(base) / sub} does not exist"
    if reason:
        if required:
            pytest.fail(f"shared data required in CI: {reason}")
        pytest.skip(reason)
    return Path(base) / sub


@pytest.fixture(scope="session")
def gtsrb_dir() -> Path:
    return _data_dir("GTSRB")


@pytest.fixture(scope="session")
def gtsdb_dir() -> Path:
    return _data_dir("GTSDB")
