"""The one place where a sign crop becomes a network input, for training and inference alike.

The settings travel inside the model card (``Preprocessing.to_dict``), so a model is never
fed images prepared differently from the ones it was trained on.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import cv2
import numpy as np

COLOURS = ("rgb", "gray")
CONTRASTS = ("clahe", "equalize", "stretch", "none")
LUMAS = ("ycrcb", "lab")  # which luminance channel contrast normalisation works on (colour mode)


@dataclass(frozen=True)
class Preprocessing:
    """How a crop is framed, normalised and scaled before it reaches the CNN."""

    size: int = 32  # network input is size x size
    color: str = "rgb"  # "rgb" keeps colour (inputs are RGB order), "gray" keeps luminance
    contrast: str = "clahe"  # "clahe", "equalize" (global histogram) or "none"
    clahe_clip: float = 2.0
    clahe_grid: int = 4
    margin: float = 0.1  # border kept around the sign box, as a fraction of its width/height
    # Y of YCrCb is a linear mix of B, G, R: converting there and back costs ~0.003 ms a crop, LAB's
    # L ~0.022 ms (docs/BENCHMARKS.md). Cards without this setting were trained on "lab".
    luma: str = "ycrcb"

    def __post_init__(self) -> None:
        # Settings come from a model card (user input): check them all here, where a bad card is one
        # clear error, not a cv2.error at the first frame (or a SIGFPE inside CLAHE for a grid of 0).
        if self.color not in COLOURS:
            raise ValueError(f"unknown colour mode {self.color!r}; expected one of {COLOURS}")
        if self.contrast not in CONTRASTS:
            raise ValueError(f"unknown contrast method {self.contrast!r}; expected one of {CONTRASTS}")
        if self.luma not in LUMAS:
            raise ValueError(f"unknown luma channel {self.luma!r}; expected one of {LUMAS}")
        if not _is_int(self.size) or not 8 <= self.size <= 512:
            raise ValueError(f"input size {self.size!r} is not a whole number in 8..512")
        if not _is_number(self.margin) or not 0.0 <= self.margin <= 1.0:
            raise ValueError(f"margin {self.margin!r} out of range 0..1")
        if not _is_int(self.clahe_grid) or not 1 <= self.clahe_grid <= self.size:
            raise ValueError(f"clahe_grid {self.clahe_grid!r} is not a whole number in 1..{self.size}")
        if not _is_number(self.clahe_clip) or not 0.0 < self.clahe_clip < 1000.0:
            raise ValueError(f"clahe_clip {self.clahe_clip!r} out of range (0, 1000)")

    @property
    def channels(self) -> int:
        return 3 if self.color == "rgb" else 1

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, self.channels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        """Build from a model card; unknown keys or values are an error, not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown preprocessing settings: {sorted(unknown)}")
        return cls(**{"luma": "lab", **data})  # cards older than the setting were trained on LAB


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and bool(np.isfinite(v))


def as_bgr8(image: np.ndarray) -> np.ndarray:
    """Any image OpenCV can hand us (gray, BGRA, 16-bit, float) as 3-channel uint8 BGR."""
    img = np.asarray(image)
    if img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
        return img  # the common case, kept cheap for the per-crop path
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"not an image: array of shape {img.shape}")
    if img.size == 0:  # cv2 colour conversions reject empty arrays with a cv2.error
        return np.zeros((*img.shape[:2], 3), np.uint8)
    if img.dtype != np.uint8:
        if img.dtype == np.bool_:
            img = img.astype(np.uint8) * 255
        elif np.issubdtype(img.dtype, np.floating):
            img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
            scale = 255.0 if img.size and float(img.max()) <= 1.0 else 1.0
            img = (np.clip(img, 0.0, 255.0 / scale) * scale).astype(np.uint8)  # clipped first: no overflow
        elif img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        else:
            img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img


def frame_box(
    box: Sequence[float], margin: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """Grow a sign box by ``margin`` on each side (GTSRB framing) and clip it to the image.

    Used on GTSRB ROIs in training and on detector boxes at run time, so both hand the
    network the same framing. Always returns a non-empty box inside the image.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
    ix1 = int(np.clip(np.floor(x1 - mw), 0, max(width - 1, 0)))
    iy1 = int(np.clip(np.floor(y1 - mh), 0, max(height - 1, 0)))
    ix2 = int(np.clip(np.ceil(x2 + mw), ix1 + 1, width))
    iy2 = int(np.clip(np.ceil(y2 + mh), iy1 + 1, height))
    return ix1, iy1, ix2, iy2


def crop(image: np.ndarray, box: Sequence[float], margin: float) -> np.ndarray:
    """The framed crop of one sign box (a view into ``image``)."""
    x1, y1, x2, y2 = frame_box(box, margin, image.shape[1], image.shape[0])
    return image[y1:y2, x1:x2]


_local = threading.local()


def _clahe(clip: float, grid: int) -> cv2.CLAHE:
    """CLAHE objects are costly to build and not thread-safe: one per thread and setting."""
    cache = getattr(_local, "clahe", None)
    if cache is None:
        cache = _local.clahe = {}
    key = (clip, grid)
    if key not in cache:
        cache[key] = cv2.createCLAHE(clipLimit=clip, tileGridSize=(grid, grid))
    return cache[key]


def reduce(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``img`` shrunk to ``size`` (width, height) by area averaging, fast for any ratio.

    OpenCV's INTER_AREA is fast only when the sizes differ by a whole factor: a 1280x720 frame
    reduced to 680 px wide takes ~5.4 ms against ~0.25 for 1360x800 to 680 (one thread). So:

    - a whole factor is INTER_AREA's own result;
    - from 3x on, the frame is first halved by exact 2x2 averaging (~2.1 ms for 3840x2160), as often
      as it takes to come under 3x;
    - then it is resized bilinearly to a whole multiple of ``size`` and averaged by that factor. Below
      2x the multiple is the next one up (1360x766 for a 1280x720 frame: 1.2 ms, within 0.1 grey
      levels of INTER_AREA on average); from 2x on the next one down, so the bilinear step shrinks by
      less than 1.5x (where it still reads every pixel) instead of enlarging the frame: 1920x1080 to
      680 px takes ~1.5 ms instead of ~4.9, within 0.17 grey levels of INTER_AREA.

    Enlarging is bilinear.
    """
    H, W = img.shape[:2]
    w, h = max(1, int(size[0])), max(1, int(size[1]))
    if (w, h) == (W, H):
        return img
    if w > W or h > H:
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    k = int(np.ceil(max(W / w, H / h) - 1e-9))
    if (k * w, k * h) == (W, H):
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    while min(W / w, H / h) >= 3:
        W, H = W // 2, H // 2
        img = cv2.resize(img[:2 * H, :2 * W], (W, H), interpolation=cv2.INTER_AREA)
    k = int(np.ceil(max(W / w, H / h) - 1e-9))
    if k >= 3:
        k -= 1
    if (k * w, k * h) != (W, H):
        img = cv2.resize(img, (k * w, k * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


class Work(NamedTuple):
    """A frame reduced once for the stages that look at the whole of it at about the same size (the
    detector's colour routes, the learned localizer): a 1280x720 frame's reduction costs ~1.4 ms,
    a 1920x1080 one's ~5, and each stage took its own."""

    image: np.ndarray  # BGR uint8, the frame by ``reduce`` (as it is, when not reduced)
    scale: float  # work px per frame px (1.0: the frame itself)


def work_scale(frame_width: int, width: int, whole_min: float = 1.0) -> float:
    """Work px per frame px for a frame ``frame_width`` wide: ``width`` px wide, or a whole factor of
    the frame (1/2, 1/3, ...) where that keeps at least ``whole_min`` of ``width``. A whole factor is
    an exact, cheap average (~0.5 against ~5 ms from 1920 to 680 px); 1 for narrower frames."""
    if frame_width <= width or frame_width <= 0:
        return 1.0
    k = -(-frame_width // width)  # the smallest whole factor that fits ``width``
    if frame_width / k >= whole_min * width:
        return 1.0 / k
    return width / frame_width


def work_image(frame: np.ndarray, width: int, whole_min: float = 1.0) -> Work:
    """``frame`` reduced to the width ``work_scale`` gives, keeping its aspect; a narrower frame as it is."""
    H, W = frame.shape[:2]
    scale = work_scale(W, width, whole_min)
    if scale >= 1.0:
        return Work(frame, 1.0)
    return Work(reduce(frame, (round(W * scale), round(H * scale))), scale)


def _resize_into(img: np.ndarray, dst: np.ndarray) -> None:
    """Resize one crop into ``dst``: area averaging beyond 2x shrink, bilinear otherwise.

    Bilinear is 4x cheaper here and, up to a 2x shrink, samples the same 2x2 neighbourhood area
    averaging would; past that it aliases, so large crops pay for INTER_AREA.
    """
    size = dst.shape[0]
    if img.shape[0] == size and img.shape[1] == size:
        dst[...] = img
        return
    far = img.shape[0] > 2 * size or img.shape[1] > 2 * size
    cv2.resize(img, (size, size), dst=dst, interpolation=cv2.INTER_AREA if far else cv2.INTER_LINEAR)


def normalise_batch(crops: Sequence[np.ndarray], cfg: Preprocessing) -> np.ndarray:
    """Resize, contrast-normalise and colour-convert crops: uint8 ``(N, *cfg.input_shape)``.

    For crops that are already cut out (image files, augmented training crops); detector boxes on a
    frame take ``sample_boxes`` instead. Both end in ``normalise_stack``.
    """
    size, n = cfg.size, len(crops)
    if n == 0:  # cv2 colour conversions reject the empty stack
        return np.zeros((0, *cfg.input_shape), np.uint8)
    stack = np.empty((n * size, size, 3), np.uint8)
    for i, c in enumerate(crops):
        img = as_bgr8(c)
        if img.size == 0:
            raise ValueError(f"empty crop of shape {np.shape(c)}")
        _resize_into(img, stack[i * size:(i + 1) * size])
    return normalise_stack(stack, cfg)


def _remap(img: np.ndarray, x0: np.ndarray, y0: np.ndarray, sx: np.ndarray, sy: np.ndarray,
           size: int) -> np.ndarray:
    """Bilinear samples of N boxes on a size x size grid each, in one call: (N*size, size, 3)."""
    n = len(x0)
    grid = np.arange(size, dtype=np.float32) + np.float32(0.5)
    mapx = np.broadcast_to((x0[:, None] + grid[None, :] * sx[:, None] - 0.5)[:, None, :], (n, size, size))
    mapy = np.broadcast_to((y0[:, None] + grid[None, :] * sy[:, None] - 0.5)[:, :, None], (n, size, size))
    return cv2.remap(img, np.ascontiguousarray(mapx).reshape(n * size, size),
                     np.ascontiguousarray(mapy).reshape(n * size, size), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def sample_boxes(image: np.ndarray, boxes: Sequence[Sequence[float]], size: int, margin: float) -> np.ndarray:
    """The framed crops of sign boxes in one image, resampled to ``size`` x ``size``: BGR uint8 ``(N*size, size, 3)``.

    All boxes are sampled in one ``cv2.remap`` call (slicing and resizing crop by crop costs ~3x
    more, mostly in per-call overhead). Boxes keep their sub-pixel position; framing that reaches
    past the image edge repeats the edge pixels, as the training augmentation does. Boxes that
    shrink more than 2x would alias under bilinear sampling: they are sampled on a twice finer
    grid and averaged 2x2 (one more remap and one resize for all of them).
    """
    img = as_bgr8(image)
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(b)
    if n == 0:
        return np.empty((0, size, 3), np.uint8)
    if img.size == 0:
        raise ValueError("cannot sample boxes from an empty image")
    w = np.maximum(b[:, 2] - b[:, 0], np.float32(1e-3))
    h = np.maximum(b[:, 3] - b[:, 1], np.float32(1e-3))
    m = np.float32(margin)
    x0, y0 = b[:, 0] - m * w, b[:, 1] - m * h
    sx, sy = w * (1 + 2 * m) / size, h * (1 + 2 * m) / size
    far = np.maximum(sx, sy) > 2
    if not far.any():
        return _remap(img, x0, y0, sx, sy, size)
    out = np.empty((n, size, size, 3), np.uint8)
    near = ~far
    if near.any():
        out[near] = _remap(img, x0[near], y0[near], sx[near], sy[near], size).reshape(-1, size, size, 3)
    fine = _remap(img, x0[far], y0[far], sx[far] / 2, sy[far] / 2, 2 * size)
    k = int(far.sum())
    out[far] = cv2.resize(fine, (size, k * size), interpolation=cv2.INTER_AREA).reshape(k, size, size, 3)
    return out.reshape(n * size, size, 3)


def normalise_stack(stack: np.ndarray, cfg: Preprocessing) -> np.ndarray:
    """Contrast-normalise and colour-convert a tall stack of ``size`` x ``size`` BGR crops.

    Each colour conversion is one OpenCV call for the whole batch; CLAHE/equalisation still runs
    per crop (tiles must not straddle two). Training and inference both end here.
    """
    size = cfg.size
    n = stack.shape[0] // size
    if n == 0:
        return np.zeros((0, *cfg.input_shape), np.uint8)
    if cfg.contrast == "stretch":  # vectorised over the batch: the cheap option for the gate's many crops
        if cfg.color == "gray":
            return stretch(cv2.cvtColor(stack, cv2.COLOR_BGR2GRAY).reshape(n, size, size, 1))
        return stretch(cv2.cvtColor(stack, cv2.COLOR_BGR2RGB).reshape(n, size, size, 3))
    if cfg.color == "gray":
        lum = cv2.cvtColor(stack, cv2.COLOR_BGR2GRAY)
        _contrast(lum, cfg)
        return lum.reshape(n, size, size, 1)
    if cfg.contrast == "none":
        return cv2.cvtColor(stack, cv2.COLOR_BGR2RGB).reshape(n, size, size, 3)
    to, back = ((cv2.COLOR_BGR2YCrCb, cv2.COLOR_YCrCb2RGB) if cfg.luma == "ycrcb"
                else (cv2.COLOR_BGR2LAB, cv2.COLOR_LAB2RGB))
    planes = cv2.cvtColor(stack, to)
    lum = np.ascontiguousarray(planes[:, :, 0])
    _contrast(lum, cfg)
    planes[:, :, 0] = lum
    return cv2.cvtColor(planes, back).reshape(n, size, size, 3)


def stretch(batch_u8: np.ndarray) -> np.ndarray:
    """Each crop's darkest value to 0 and brightest to 255 (all channels alike, so hues keep).

    In place on one float copy: ~4x cheaper than the same arithmetic with temporaries.
    """
    flat = batch_u8.reshape(len(batch_u8), -1)
    lo = flat.min(axis=1, keepdims=True)
    hi = flat.max(axis=1, keepdims=True)
    gain = np.float32(255.0) / np.maximum(hi.astype(np.float32) - lo, np.float32(16.0))  # flat crops stay flat
    f = flat.astype(np.float32)
    f -= lo
    f *= gain
    f += np.float32(0.5)
    np.minimum(f, 255.0, out=f)
    return f.astype(np.uint8).reshape(batch_u8.shape)


def _contrast(lum: np.ndarray, cfg: Preprocessing) -> None:
    """Per-crop contrast normalisation, in place, on a tall stack of ``size``-row crops."""
    if cfg.contrast == "none":
        return
    size = cfg.size
    clahe = _clahe(cfg.clahe_clip, cfg.clahe_grid) if cfg.contrast == "clahe" else None
    for i in range(0, lum.shape[0], size):
        view = lum[i:i + size]  # rows of a C-contiguous array: contiguous, so dst= works
        if clahe is not None:
            clahe.apply(view, dst=view)
        else:
            cv2.equalizeHist(view, dst=view)


def normalise(crop_bgr: np.ndarray, cfg: Preprocessing) -> np.ndarray:
    """One crop through ``normalise_batch``: uint8, shape ``cfg.input_shape``."""
    return normalise_batch([crop_bgr], cfg)[0]


def to_input(batch_u8: np.ndarray) -> np.ndarray:
    """Scale a uint8 batch (N, H, W, C) to the float32 [0, 1] the network takes."""
    return np.asarray(batch_u8, dtype=np.float32) * np.float32(1.0 / 255.0)


def prepare_batch(crops: Sequence[np.ndarray], cfg: Preprocessing) -> np.ndarray:
    """Crops of any size -> one float32 network batch (image files, already cut out)."""
    if len(crops) == 0:
        return np.zeros((0, *cfg.input_shape), np.float32)
    return to_input(normalise_batch(crops, cfg))


def prepare_boxes(image: np.ndarray, boxes: Sequence[Sequence[float]], cfg: Preprocessing) -> np.ndarray:
    """Sign boxes of one frame -> one float32 network batch, framed by ``cfg.margin``. The per-frame path."""
    return to_input(normalise_stack(sample_boxes(image, boxes, cfg.size, cfg.margin), cfg))
