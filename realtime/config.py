"""Every setting of the pipeline in one object: a section per stage, saved with the models.

``Config`` composes the stage configs in the pipeline's order (detect, locate, closer_look, gate,
classify, design, reject, track). The shipped values live in ``models/config.json`` beside the
models they were chosen for (the score thresholds follow a model's calibration); ``Config.shipped()``
reads it, ``with_overrides`` applies ``section.key=value`` pairs from the command line, and
``to_json`` prints it (``--show-config``). Every dataclass default equals the shipped value, so a
``Config()`` made in code behaves as the product does.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

# The shipped models: the copy an installed package carries (realtime/_models, built from models/ by
# setup.cfg) when there is one, else the checkout's models/ (a clone, an editable install). The
# installed copy is looked for first: a site-packages/models beside this package may be another's.
_HERE = Path(__file__).resolve().parent
MODELS = _HERE / "_models" if (_HERE / "_models" / "config.json").is_file() else _HERE.parent / "models"
DEFAULT_CONFIG = MODELS / "config.json"
# what must agree between how a candidate was found and its class, loosest first
CONSISTENCY = ("none", "colour", "shape")
DESIGN_CHECKS = ("stop", "no_entry", "mandatory")  # the printed-design checks of realtime.design


class ConfigError(ValueError):
    """A configuration file or override that cannot be applied; one line for the user."""


@dataclass(frozen=True)
class DetectorConfig:
    """The colour/shape detector (``realtime.detect``): how colour is judged and what a candidate is."""

    work_width: int = 680  # colour is judged at about this width; wider frames are reduced
    # ... by a whole factor (1920 -> 640, 1280 -> 640) where that keeps at least this share of
    # work_width: an exact average costs a tenth of a resampling (1 = always exactly work_width)
    whole_factor_min: float = 1.0
    pool: int = 2  # blobs are found on score images pooled this much further
    min_size: int = 14  # longer side of a candidate box, frame pixels
    max_size: int = 250
    # OpenCV HSV: H 0..180, S and V 0..255. Dusk and shade tint red rims magenta (H 150-165).
    red_hue: tuple[int, int] = (10, 150)  # red if H <= first or H >= second
    blue_hue: tuple[int, int] = (96, 130)
    yellow_hue: tuple[int, int] = (10, 34)  # GTSDB's priority-road cores range from orange to yellow
    red_levels: tuple[int, ...] = (35, 70, 120)  # minimum saturation of each mask level
    blue_levels: tuple[int, ...] = (60, 110)
    yellow_levels: tuple[int, ...] = (50, 100)
    min_value: int = 15  # darker pixels have no reliable hue
    white_balance: float = 0.5  # exponent of the grey-world gains (0 = off)
    white_gain_range: tuple[float, float] = (0.6, 1.7)  # no channel is scaled beyond these
    max_noise: float = 16.0  # mean |V - 3x3 mean| above which a frame is smoothed and loose levels skipped
    # fill = blob pixels / bounding-box pixels: a ring ~0.35-0.6, a blue disc with its symbol ~0.5-0.8,
    # a diamond core 0.5; blobs under measurable_px pooled pixels (24 frame px at 1360 wide) are too
    # coarse to measure: pooling fills a small no-entry sign's bar (fill 0.96 at 20 px). 6 rather than
    # 5 gains cross-validated end-to-end recall with no more false alarms (docs/DETECTOR.md)
    red_fill: tuple[float, float] = (0.1, 0.95)
    blue_fill: tuple[float, float] = (0.35, 0.95)
    yellow_fill: tuple[float, float] = (0.35, 0.75)
    measurable_px: int = 6
    max_aspect: float = 1.6  # long / short side of a single sign's blob
    max_stack: float = 3.2  # longer blobs up to this become a square at each end
    split_aspect: float = 1.3  # blobs longer than this (up to max_stack) also give the two end squares
    hole_grow: float = 1.55  # inside of a ring or bordered triangle -> outer rim
    # pooled px added to an inside's width and height before growing: max-pooling the red score
    # shrinks every inside by about half a pooled pixel, and a triangle's by more (its apex goes).
    # With the pooling's half-pixel shift, 1 raises candidate recall at IoU 0.6 by 0.04 over 0 (a
    # plateau from 0.75 to 1.25; docs/DETECTOR.md)
    hole_pad: float = 1.0
    ring_levels: int = 2  # the loosest red levels also searched for ring insides
    hole_min_fill: float = 0.35
    hole_max_aspect: float = 1.8  # long / short side of a ring's inside
    triangle_fill: float = 0.65  # insides filling less of their box than this are triangles
    yellow_grow: float = 1.9  # yellow core -> white-bordered diamond
    white_max_saturation: int = 70  # the border around a yellow core
    white_min_brightness: float = 0.75  # relative to the core
    # of the four border samples, how many must be white: backlit or shaded signs show two (2 rather
    # than 3 gains cross-validated end-to-end recall with no more false alarms)
    white_min_sides: int = 2
    achromatic: bool = True  # end-of-restriction signs: bright grey-white discs
    achromatic_block: int = 21  # local-mean window, pooled px (~84 frame px at 1360 wide)
    achromatic_offset: int = 20  # brighter than the local mean by this much
    achromatic_max_saturation: int = 70
    achromatic_fill: float = 0.5
    achromatic_max_aspect: float = 1.4  # long / short side of an end-of sign's disc blob
    # end-of signs' diagonal stripes cut the white disc into parts: each part is also proposed grown by this
    achromatic_grow: float = 1.5
    max_candidates: int = 250
    # share of max_candidates reserved for each colour, so red clutter cannot crowd out a blue sign
    route_share: dict = field(default_factory=lambda: {"red": 0.5, "blue": 0.2, "yellow": 0.1, "achromatic": 0.1})

    def __post_init__(self) -> None:
        if self.pool < 1 or self.work_width < 8:
            raise ValueError("pool must be >= 1 and work_width >= 8")
        if not 0 < self.min_size <= self.max_size:
            raise ValueError(f"need 0 < min_size <= max_size, got {self.min_size}, {self.max_size}")


@dataclass(frozen=True)
class LocateConfig:
    """The learned localizer (``realtime.locate``): how heat-map peaks become candidates. Its size
    limits are the detector's (``detect.min_size``, ``detect.max_size``)."""

    enabled: bool = True  # off: colour/shape candidates only (faster, fewer signs without a coloured rim)
    # in video, run on every n-th frame only, staggered against the closer look (stills: always).
    # With track.search, 2 finds as many signs on fresh drive-bys at ~0.77 of the CPU a frame
    # (docs/BENCHMARKS.md, "Video: work per sign")
    every: int = 2
    min_heat: float = 0.1  # a peak's heat (sigmoid) must reach this ...
    max_candidates: int = 12  # ... and the best this many peaks a frame are kept
    # the detector's reduced frame is fed as it is when its scale is at least this share of the
    # letterbox's own: 680 px is 1.2% under the letterbox's 688 at 1280x720 and 1920x1080
    shared_min: float = 0.97

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"locate.every must be at least 1, got {self.every}")


@dataclass(frozen=True)
class CloserLookConfig:
    """The closer look (``realtime.closer_look``): where it looks and how fine its grid is."""

    enabled: bool = True  # off: faster, fewer small signs found
    every: int = 2  # in video, look closer on every n-th frame only (stills: always); see locate.every
    # patch pixels per frame pixel. With the detector's 2x2 pooling one cell is then 1 frame px
    # (4 on the coarse pass at 1360 wide). 1.5 finds 2-5 GTSDB signs fewer than 2
    scale: float = 2.0
    margin: float = 1.0  # a patch is the seed's box grown by this many box sizes on every side
    min_gate: float = 0.3  # seeds: candidates the gate scores at least this ...
    max_width: float = 100.0  # ... at most this wide (frame px): larger signs span enough coarse cells
    # seeds longer than this (either side) are enlarged less (scale x this / length, at least 1x) and
    # grown by wide_margin only: such a seed is mostly a sign merged with a panel beside it
    full_width: float = 64.0
    wide_margin: float = 0.25
    seed_iou: float = 0.3  # a seed overlapping a better-gated one this much adds no patch of its own
    max_seeds: int = 12  # a bound on the cost (GTSDB scenes average ~6 seeds) ...
    # ... and the mosaic's pixels: seeds, best-gated first, get a patch while the patches' total stays
    # under this (1.5x the coarse pass's work image at 1360 wide); close-up footage, where every seed
    # is large, would otherwise cost 2-3 times the detector
    max_area: int = 400_000
    size_range: tuple[float, float] = (0.5, 2.0)  # a fine candidate's width relative to its seed's
    row_width: int = 640  # mosaic rows are packed up to this width (patch px)
    # each patch is framed by this many of its own edge pixels, repeated: a black frame would make the
    # patch brighter than its surroundings, and the achromatic route would propose the patch itself
    pad: int = 6
    separator: int = 4  # black between framed patches, wider than the 2x2 pooling reaches: no blob spans two
    white_balance_step: int = 8  # the frame's white balance is measured on every this-many-th pixel

    def __post_init__(self) -> None:
        if not 1.0 <= self.scale <= 8.0 or min(self.margin, self.wide_margin) < 0 or self.full_width <= 0 \
                or self.max_seeds < 0 or self.pad < 0 or self.separator < 4 or self.max_area < 0 or self.every < 1:
            raise ValueError("closer_look needs 1 <= scale <= 8, margins >= 0, full_width > 0, max_seeds >= 0, "
                             "pad >= 0, separator >= 4, max_area >= 0 and every >= 1")


@dataclass(frozen=True)
class GateConfig:
    """The gate (``realtime.gate``): which candidates are worth classifying."""

    enabled: bool = True  # off: every candidate is classified (slower; the thresholds carry all rejection)
    # candidates the gate scores below this are not classified: recall against classifier time,
    # chosen by the folds with the score thresholds
    threshold: float = 0.1
    # gated candidates overlapping a better-gated one by at least this IoU are not classified (None:
    # all are): the detector proposes one sign several times, and the box head re-frames
    # near-duplicates alike. A speed setting: 20% fewer crops on GTSDB scenes, the same detections
    pre_nms: float | None = 0.75

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"gate threshold {self.threshold} out of range 0..1")
        if self.pre_nms is not None and not 0.0 < self.pre_nms <= 1.0:
            raise ValueError(f"pre_nms {self.pre_nms} must be an IoU in (0, 1] or None")


@dataclass(frozen=True)
class ClassifyConfig:
    """The classify stage (``realtime.classify``): second look, box scale and design checks."""

    # classified crops scoring at least this get a second look: re-cropped at the box head's box and
    # classified again, the two passes' P(sign) x probabilities averaged (None: one pass only)
    second_look: float | None = 0.3
    # weight of the second look's box in the box reported for a crop that had one (0: the first
    # pass's box, 0.5: the two averaged, like the probabilities)
    second_box: float = 0.5
    # the box head learnt GTSRB's looser ROI boxes: reported boxes are scaled by (width, height) about
    # their centre to GTSDB's tight ones (chosen by the folds; 1, 1 leaves them as they are)
    box_scale: tuple[float, float] = (0.91, 0.857)
    design_checks: bool = True  # verify the classes that have one with a check of their printed design

    def __post_init__(self) -> None:
        if self.second_look is not None and not 0.0 <= self.second_look <= 1.0:
            raise ValueError(f"second_look {self.second_look} out of range 0..1")
        if not 0.0 <= self.second_box <= 1.0:
            raise ValueError(f"second_box {self.second_box} must be a weight from 0 to 1")
        if len(self.box_scale) != 2 or not all(0.0 < v <= 2.0 for v in self.box_scale):
            raise ValueError(f"box_scale {self.box_scale} must be two factors in (0, 2]")


@dataclass(frozen=True)
class DesignConfig:
    """The design checks (``realtime.design``): thresholds measured on GTSRB and GTSDB signs
    (the reasons and the margins are in each check's docstring)."""

    # red: H <= first or H >= second, at least red_saturation. Narrower than the detector's range,
    # which reaches magenta dusk tints; the checks' figures were measured with this one. (Their
    # blue is the detector's hue range.)
    red_hue: tuple[int, int] = (10, 160)
    red_saturation: int = 60
    white_saturation: int = 100  # pale: at most this saturated ...
    pale_vs_ring: float = 0.6  # ... or this share of the red ring's saturation (blurred white)
    brighter_than_ring: float = 1.05  # pale parts are brighter than the red by this factor
    no_entry_red: float = 0.7  # red share of the reddest band in each half of a no-entry sign
    stop_min_red: float = 0.2  # a stop sign's crop is at least this share red
    stop_white_cap: float = 230.0  # pale needs at most this brightness where the red is over-exposed
    stop_min_enclosed: float = 0.02  # share of the middle that is pale and enclosed by red
    blue_saturation: int = 80  # a mandatory sign's blue: at least this saturated ...
    blue_value: int = 40  # ... and this bright (board check)
    blue_value_square: int = 30  # ... (square check, which sees darker signs)
    board_grow: float = 0.5  # the frame around a mandatory sign's box, in box sizes
    board_tolerance: int = 60  # the sign's own blue: within this many levels of its saturation and value
    board_max_share: float = 0.7  # more of the frame in the sign's own blue than this: a board
    square_grow: float = 0.2
    square_side: int = 64  # px the square check resizes to
    square_middle: float = 0.45  # radius of the middle the reference blue is taken from (of the half side)
    square_tolerance: int = 50
    square_max_fill: float = 0.93  # convex hull over its smallest rectangle: a disc ~0.79, a square ~1
    # which checks run (of DESIGN_CHECKS); each is kept by its cross-validated GTSDB figures
    # (docs/DETECTOR.md, "Design checks on the folds")
    checks: tuple[str, ...] = ("stop", "no_entry", "mandatory")

    def __post_init__(self) -> None:
        unknown = sorted(set(self.checks) - set(DESIGN_CHECKS))
        if unknown:
            raise ValueError(f"unknown design checks {unknown}; expected some of {DESIGN_CHECKS}")


@dataclass(frozen=True)
class RejectConfig:
    """The rejection rule (``realtime.reject``): score thresholds chosen by 5-fold cross-validation on
    GTSDB scenes for the shipped models (``eval-detection`` prints ``recommended``; re-choose them
    whenever a model changes), consistency and de-duplication."""

    # P(sign) x class confidence needed to report a sign, on every route ...
    min_score: float = 0.75
    # ... but these for single routes (red, blue, yellow, achromatic, learned)
    route_min_score: dict[str, float] = field(default_factory=lambda: {"learned": 0.8})
    consistency: str = "none"  # what must agree between route/outline and class: none, colour, shape
    shape_min_width: float = 24.0  # below this width (px) outlines are too coarse to veto a class
    dedupe_iou: float = 0.5  # two accepted boxes overlapping this much are one sign
    # ... and so are two boxes of which one holds the other's centre (a pictogram inside its sign)
    dedupe_centre: bool = True

    def __post_init__(self) -> None:
        if self.consistency not in CONSISTENCY:
            raise ValueError(f"unknown consistency mode {self.consistency!r}; expected one of {CONSISTENCY}")
        for v in (self.min_score, *self.route_min_score.values()):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"score threshold {v} out of range 0..1")

    def threshold(self, route: str) -> float:
        return self.route_min_score.get(route, self.min_score)


@dataclass(frozen=True)
class TrackConfig:
    """The tracker (``realtime.track``)."""

    k: int = 3  # a track is confirmed once seen in k ...
    n: int = 5  # ... of the last n updates
    # the recognizer may reject a small sign for several frames in a row; at 5 the demo's 60 km/h
    # sign comes back as a second track
    max_age: int = 10
    iou_threshold: float = 0.2  # least IoU with a track's predicted box to match it ...
    max_distance: float = 1.0  # ... else a centre within this many mean box sides
    vote_window: int = 15  # classifications a track's label is voted over
    # video: every live track's predicted box is also classified on each frame, so a sign keeps its
    # detections on the frames the scheduled stages (closer_look.every, locate.every) skip
    search: bool = True
    # a confirmed track's label changes only when another class outweighs it this many times over
    # in the vote (1: the plain vote)
    switch_margin: float = 2.0
    velocity_smoothing: float = 0.5
    # a frame whose colours differ from the previous frame's by more than this (``realtime.scenecut``:
    # median over a 3x3 grid of histogram distances) starts a new shot and ends every track. GTSDB
    # scene cuts score >= 0.149, frames within a panned scene <= 0.106, drive-bys <= 0.08 (None: off)
    scene_cut: float | None = 0.13

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"need 1 <= k <= n, got k={self.k}, n={self.n}")
        if self.scene_cut is not None and not 0.0 < self.scene_cut < 1.0:
            raise ValueError(f"scene_cut {self.scene_cut} out of range (0, 1)")


@dataclass(frozen=True)
class AlertsConfig:
    """The driver-alert panel (``realtime.draw.DriverAlerts``)."""

    hold_s: float = 6.0  # seconds a danger warning stays on the panel
    max_warnings: int = 3  # warnings shown at once, the latest
    # a confirmed speed-limit (or end-of-limit) track changes the limit shown only while at least
    # this share of its recent vote weight is behind its class: a wrong limit on the panel is the
    # worst error a driver-alert tool makes, and a track torn between 60 and 80 is not evidence of
    # either. On the rendered drive-bys (seeds 41-48, the sample) every limit track reads 1.0 when
    # first confirmed, so the rule delays none of them (docs/PIPELINE.md, "Overlay")
    limit_agreement: float = 0.75

    def __post_init__(self) -> None:
        if self.hold_s < 0 or self.max_warnings < 0:
            raise ValueError("hold_s and max_warnings must not be negative")
        if not 0.0 <= self.limit_agreement <= 1.0:
            raise ValueError(f"limit_agreement {self.limit_agreement} out of range 0..1")


@dataclass(frozen=True)
class Config:
    """The whole pipeline's settings, one section per stage, in the pipeline's order."""

    detect: DetectorConfig = field(default_factory=DetectorConfig)
    locate: LocateConfig = field(default_factory=LocateConfig)
    closer_look: CloserLookConfig = field(default_factory=CloserLookConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    design: DesignConfig = field(default_factory=DesignConfig)
    reject: RejectConfig = field(default_factory=RejectConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)

    # -- reading and writing ------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> Config:
        """Sections and keys as ``to_dict`` writes them; missing ones keep their defaults, unknown
        ones are an error (a typo must not be ignored)."""
        if not isinstance(data, dict):
            raise ConfigError("a configuration is a JSON object of sections")
        sections = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ConfigError(f"unknown configuration sections {unknown}; expected {sorted(sections)}")
        made = {}
        for name, values in data.items():
            section_type = _section_type(cls, name)
            made[name] = _section(section_type, name, values)
        return cls(**made)

    @classmethod
    def load(cls, path: Path | str) -> Config:
        p = Path(path)
        try:
            return cls.from_dict(json.loads(p.read_text()))
        except OSError as exc:
            raise ConfigError(f"cannot read configuration {p}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"configuration {p} is not valid JSON: {exc}") from None
        except ConfigError as exc:
            raise ConfigError(f"configuration {p}: {exc}") from None

    @classmethod
    def shipped(cls) -> Config:
        """The settings saved with the shipped models (the defaults where no file is there)."""
        return cls.load(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else cls()

    def save(self, path: Path | str) -> None:
        Path(path).write_text(self.to_json() + "\n")

    def with_overrides(self, pairs: list[str] | tuple[str, ...]) -> Config:
        """This configuration with ``section.key=value`` pairs applied (values parsed as JSON where
        they are JSON: numbers, true/false, null, lists, objects; else taken as text)."""
        data = self.to_dict()
        for pair in pairs:
            key, sep, text = pair.partition("=")
            section, dot, name = key.strip().partition(".")
            if not sep or not dot:
                raise ConfigError(f"expected section.key=value, got {pair!r}")
            if section not in data:
                raise ConfigError(f"unknown section {section!r} in {pair!r}; expected one of {sorted(data)}")
            if name not in data[section]:
                raise ConfigError(f"unknown setting {key!r}; {section} has {sorted(data[section])}")
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = text
            data[section][name] = value
        return type(self).from_dict(data)

    def replace(self, **sections) -> Config:
        """A copy with whole sections replaced, or with ``section={key: value}`` changes applied."""
        made = {}
        for name, value in sections.items():
            made[name] = replace(getattr(self, name), **value) if isinstance(value, dict) else value
        return replace(self, **made)


def _section_type(cls: type, name: str) -> type:
    hints = typing.get_type_hints(cls)
    return hints[name]


def _section(section_type: type, name: str, values: object) -> object:
    """One section from a JSON object: lists become tuples where the setting is a tuple."""
    if not isinstance(values, dict):
        raise ConfigError(f"section {name!r} must be a JSON object")
    known = {f.name for f in fields(section_type)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown settings in {name!r}: {unknown}")
    hints = typing.get_type_hints(section_type)
    conv = {}
    for key, v in values.items():
        hint = hints[key]
        origin = typing.get_origin(hint)
        if isinstance(v, list) and (origin is tuple or (origin in (typing.Union, types.UnionType)
                                                        and any(typing.get_origin(a) is tuple
                                                                for a in typing.get_args(hint)))):
            v = tuple(v)
        conv[key] = v
    try:
        return section_type(**conv)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None
