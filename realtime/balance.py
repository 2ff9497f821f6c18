"""Which half of the video loop runs the movable stage (the learned localizer): whichever gives the
shorter frame time, measured while the loop runs.

The loop proposes for the next frames on a worker thread while the main thread finishes this one,
so frames come out about as fast as the longer half allows. The learned localizer may run with
either (its candidates join after the closer look's and before the track search's on both), so
where it runs changes the speed and never the detections. Which place is faster depends on the
footage (at 1080p the finishing half classifies ~70 crops a frame, at 720p a dozen) and on more
than the halves' own times: the closer look and the localizer run on alternate frames, the halves
share the gate's interpreter, and the capture and encoder threads want the same cores. So
``Balance`` does not model it; it measures: short blocks of frames alternate the two places, so both
see the same stretch of footage, and the faster place is used until the next such probe
(docs/PIPELINE.md, "Two halves").
"""

from __future__ import annotations

PLACES = ("auto", "propose", "finish")


class Balance:
    """Where each frame's movable stage runs: ``early()`` True for the proposing half.

    ``early()`` is asked once a frame, as it is proposed; ``frame_done(ms)`` is told each frame's
    wall time on the main thread, in order. With ``place`` "auto", frames go in blocks of ``block``:
    the first block warms up (the finishing half; not timed), then ``probe_blocks`` blocks alternate
    the finishing and the proposing half, and the place with the lower mean ms a frame runs until
    the next probe, ``every_blocks`` blocks after this one began. A block's first frame is not
    timed: it still carries the previous block's place. "propose" or "finish" fixes the place (tests,
    comparisons).
    """

    def __init__(self, place: str = "auto", block: int = 6, probe_blocks: int = 10, every_blocks: int = 50) -> None:
        if place not in PLACES:
            raise ValueError(f"place must be one of {', '.join(PLACES)}, got {place!r}")
        if block < 2 or probe_blocks < 2 or probe_blocks % 2 or every_blocks <= probe_blocks:
            raise ValueError("need block >= 2, an even probe_blocks >= 2 and every_blocks > probe_blocks")
        self.place, self.block, self.probe_blocks, self.every_blocks = place, block, probe_blocks, every_blocks
        self.best = False  # the faster place found by the last probe (False: the finishing half)
        self.ms: dict[bool, float] = {}  # the last probe's mean ms a frame, by place
        self._sums: dict[bool, list[float]] = {False: [], True: []}
        self._done = 0  # frames timed
        self.decided = self.moved = 0  # frames decided, and of them those given to the proposing half

    def _probing(self, b: int) -> bool:
        return b >= 1 and (b - 1) % self.every_blocks < self.probe_blocks

    def _place(self, frame: int) -> bool:
        b = frame // self.block
        if b == 0:
            return False
        return b % 2 == 1 if self._probing(b) else self.best

    def early(self) -> bool:
        """Whether the next frame's movable stage runs with the proposing half."""
        move = self._place(self.decided) if self.place == "auto" else self.place == "propose"
        self.decided += 1
        self.moved += move
        return move

    def frame_done(self, ms: float) -> None:
        frame, self._done = self._done, self._done + 1
        if self.place != "auto":
            return
        b = frame // self.block
        if not self._probing(b):
            return
        if frame % self.block:
            self._sums[b % 2 == 1].append(ms)
        if (b - 1) % self.every_blocks == self.probe_blocks - 1 and frame % self.block == self.block - 1:
            self.ms = {k: sum(v) / len(v) for k, v in self._sums.items()}  # the probe's last frame
            self.best = self.ms[True] < self.ms[False]
            self._sums = {False: [], True: []}
