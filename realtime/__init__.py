"""Real-time traffic sign detection and recognition: everything that runs per frame.

``Reader`` is the Python API (``read(image)``, ``stream(source)``; ``realtime.api``); ``python -m
realtime`` (or the ``traffic-signs`` command) is the command line; docs/ARCHITECTURE.md shows the
stages behind both.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("traffic-signs")
except _metadata.PackageNotFoundError:  # a clone run without installing it
    __version__ = "0.2.0+unknown"

del _metadata

__all__ = ["Reader", "to_supervision", "__version__"]


def __getattr__(name: str):
    # the API on first use: ``import realtime`` (and ``--help``) stays light
    if name in ("Reader", "to_supervision"):
        from realtime import api

        return getattr(api, name)
    raise AttributeError(f"module 'realtime' has no attribute {name!r}")
