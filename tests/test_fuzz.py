"""Property-based tests: whatever array, box or sequence reaches a stage, it returns a well-formed
result or raises a clean ``ValueError``, never a cv2.error, IndexError or a box outside the frame.

Sized to run in well under a minute on a busy two-core machine (``max_examples`` per test below).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from realtime.boxes import iou
from realtime.preprocess import Preprocessing, as_bgr8, normalise_batch, prepare_batch
from realtime.track import Tracker
from realtime.types import Detection

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DTYPES = st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.bool_])


def elements(dtype) -> st.SearchStrategy:
    """Values of ``dtype``, floats including nan and +-inf (a broken sensor or a bad division)."""
    if np.dtype(dtype) == np.float32:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    return hnp.from_dtype(np.dtype(dtype))


@st.composite
def arrays(draw, max_side: int = 12) -> np.ndarray:
    """Any array 0-4 dims with 0- and 1-sized dims, of any of the dtypes cameras and files give."""
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=max_side))
    return draw(hnp.arrays(dtype, shape, elements=elements(dtype)))


@st.composite
def images(draw, max_side: int = 40) -> np.ndarray:
    """Image-like arrays: H x W, or H x W x C with C in 1..4."""
    dtype = draw(DTYPES)
    h, w = draw(st.integers(0, max_side)), draw(st.integers(0, max_side))
    channels = draw(st.sampled_from([None, 1, 2, 3, 4]))
    shape = (h, w) if channels is None else (h, w, channels)
    return draw(hnp.arrays(dtype, shape, elements=elements(dtype)))


def is_image(a: np.ndarray) -> bool:
    return a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3, 4))


PRE = st.builds(Preprocessing, size=st.integers(8, 48), color=st.sampled_from(["rgb", "gray"]),
                contrast=st.sampled_from(["clahe", "equalize", "none"]), clahe_clip=st.floats(0.5, 8.0),
                clahe_grid=st.integers(1, 8), margin=st.floats(0.0, 1.0))


# -- preprocessing -----------------------------------------------------------------------------
@FAST
@given(arrays())
def test_as_bgr8_any_array(a: np.ndarray) -> None:
    try:
        out = as_bgr8(a)
    except ValueError:
        assert not is_image(a) or a.size == 0, a.shape
        return
    assert is_image(a)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape == (*a.shape[:2], 3)


@FAST
@given(st.lists(images(), min_size=0, max_size=4), PRE)
def test_normalise_and_prepare_batch(crops: list[np.ndarray], cfg: Preprocessing) -> None:
    try:
        u8 = normalise_batch(crops, cfg)
        x = prepare_batch(crops, cfg)
    except ValueError:
        assert any(not is_image(c) or c.size == 0 for c in crops)
        return
    n = len(crops)
    assert u8.dtype == np.uint8 and u8.shape == (n, *cfg.input_shape)
    assert x.dtype == np.float32 and x.shape == (n, *cfg.input_shape)
    assert np.isfinite(x).all() and (x >= 0).all() and (x <= 1).all()


@FAST
@given(st.fixed_dictionaries({}, optional={
    "size": st.one_of(st.integers(-5, 600), st.text(max_size=3), st.none(), st.floats(allow_nan=True)),
    "color": st.sampled_from(["rgb", "gray", "bgr", ""]),
    "contrast": st.sampled_from(["clahe", "equalize", "none", "retinex"]),
    "clahe_clip": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3), st.text(max_size=2)),
    "clahe_grid": st.one_of(st.integers(-3, 70), st.floats(allow_nan=True), st.none()),
    "margin": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=2)),
}))
def test_preprocessing_settings_from_a_card(data: dict) -> None:
    """A model card is user input: bad settings fail when it loads, not at the first frame."""
    try:
        cfg = Preprocessing.from_dict(data)
    except (ValueError, TypeError):
        return
    crops = [np.full((20, 30, 3), 128, np.uint8), np.zeros((5, 3), np.uint16)]
    x = prepare_batch(crops, cfg)
    assert x.shape == (2, *cfg.input_shape) and np.isfinite(x).all()


# -- detector ----------------------------------------------------------------------------------
@st.composite
def scenes(draw) -> np.ndarray:
    """Random frames: noise or flat backgrounds with random coloured discs, triangles and boxes,
    in any size (down to a few pixels), dtype and channel count the pipeline may be handed."""
    import cv2

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # sizes from the seed, not shrunk by hypothesis towards 1x1: most frames hold something to find
    h, w = {"tiny": lambda: rng.integers(1, 24, 2), "normal": lambda: (rng.integers(60, 260), rng.integers(80, 360)),
            "wide": lambda: (rng.integers(200, 500), rng.integers(681, 1400)),  # reduced, then refined
            }[draw(st.sampled_from(["normal", "normal", "wide", "tiny"]))]()
    h, w = int(h), int(w)
    img = (rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if draw(st.booleans())
           else np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8))
    for _ in range(int(rng.integers(0, 7))):
        if rng.random() < 0.7:  # sign colours (red, blue, yellow) give the detector something to find
            base = np.array([(30, 30, 210), (200, 90, 20), (0, 200, 240)][rng.integers(0, 3)])
            colour = tuple(int(v) for v in np.clip(base + rng.integers(-25, 26, 3), 0, 255))
        else:
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(4, 60))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.circle(img, (cx, cy), r, colour, -1)
            cv2.circle(img, (cx, cy), max(1, r * 2 // 3), (255, 255, 255), -1)
        elif kind == 1:
            pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
            cv2.fillPoly(img, [pts], colour)
        else:
            cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), colour, -1)
    form = draw(st.sampled_from(["bgr", "bgr", "bgr", "gray", "gray1", "bgra", "uint16", "float32", "float-nan",
                                 "bool"]))
    if form == "gray":
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if form == "gray1":
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
    if form == "bgra":
        return cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    if form == "uint16":
        return img.astype(np.uint16) * 257
    if form == "float32":
        return img.astype(np.float32) / 255.0
    if form == "float-nan":
        f = img.astype(np.float32) / 255.0
        f[rng.random(f.shape) < 0.01] = np.nan
        f[rng.random(f.shape) < 0.01] = np.inf
        return f
    if form == "bool":
        return img > 127
    return img


@pytest.fixture(scope="module")
def detector():
    from realtime.detect import Detector

    return Detector()


@SLOW
@given(frame=scenes())
def test_detector_on_random_frames(detector, frame: np.ndarray) -> None:
    h, w = frame.shape[:2]
    dets = detector(frame)
    event(f"candidates: {min(len(dets), 3)}{'+' if len(dets) >= 3 else ''}")
    assert isinstance(dets, list) and len(dets) <= detector.config.max_candidates
    for d in dets:
        x1, y1, x2, y2 = d.box
        assert all(np.isfinite(d.box))
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, (d.box, frame.shape)
        assert 0.0 <= d.candidate_score <= 1.0
        assert d.class_id == -1


@SLOW
@given(frame=arrays(max_side=40))
def test_detector_on_arbitrary_arrays(detector, frame: np.ndarray) -> None:
    """Not images at all (1-D, 4-D, 2 channels, empty): a clean ValueError, or no candidates."""
    try:
        dets = detector(frame)
    except ValueError:
        assert not is_image(frame) or frame.size == 0
        return
    for d in dets:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= frame.shape[1] and 0 <= y1 < y2 <= frame.shape[0]


# -- tracker -----------------------------------------------------------------------------------
COORD = st.floats(0, 2000, allow_nan=False)


@st.composite
def box(draw) -> tuple[float, float, float, float]:
    x1, y1 = draw(COORD), draw(COORD)
    return (x1, y1, x1 + draw(st.floats(0, 300)), y1 + draw(st.floats(0, 300)))  # zero-size boxes too


DETS = st.lists(st.builds(Detection, box(), score=st.floats(0, 1), class_id=st.integers(-1, 42)), max_size=8)


@FAST
@given(st.lists(DETS, max_size=25), st.integers(1, 4), st.integers(0, 3), st.integers(0, 4))
def test_tracker_on_random_sequences(frames: list[list[Detection]], k: int, extra: int, max_age: int) -> None:
    tracker = Tracker(k=k, n=k + extra, max_age=max_age)
    seen: dict[int, int] = {}  # track id -> updates it appeared in
    classes: dict[int, set[int]] = {}  # track id -> class ids fed to it
    confirmed: set[int] = set()
    last_step: dict[int, int] = {}
    for step, dets in enumerate(frames):
        out = tracker.update(dets, frame_index=10 * step)
        assert len(out) == len(dets)
        ids = [d.track_id for d in out]
        assert all(isinstance(i, int) and i >= 1 for i in ids) and len(set(ids)) == len(ids)
        for d_in, d in zip(dets, out):
            assert d.box == d_in.box  # boxes pass through untouched, in input order
            tid = d.track_id
            seen[tid] = seen.get(tid, 0) + 1
            classes.setdefault(tid, set()).add(d_in.class_id)
            assert d.class_id in classes[tid]  # the voted label is one this track was given
            assert 0.0 <= d.score <= 1.0
            if d.confirmed:
                assert seen[tid] >= k  # confirmed only after k sightings
                confirmed.add(tid)
            else:
                assert tid not in confirmed  # and it stays confirmed while alive
            if tid in last_step:
                assert step - last_step[tid] <= max_age + 1  # a dead track's id is never revived
            last_step[tid] = step
    assert all(tracker._step - t.last_step <= max_age for t in tracker.tracks)  # the dead are dropped


# -- iou ---------------------------------------------------------------------------------------
ANY_BOX = st.tuples(*[st.floats(-1e4, 1e4, allow_nan=False)] * 4)


@FAST
@given(ANY_BOX, ANY_BOX)
def test_iou_symmetric_and_bounded(a, b) -> None:
    v = iou(a, b)
    assert v == iou(b, a)
    assert 0.0 <= v <= 1.0


@FAST
@given(box())
def test_iou_of_a_box_with_itself(a) -> None:
    assume(a[2] - a[0] > 1e-3 and a[3] - a[1] > 1e-3)
    assert iou(a, a) == pytest.approx(1.0)
