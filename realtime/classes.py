"""The one catalogue of the 43 GTSRB classes, used by training, detection, drawing and evaluation.

Categories follow the GTSDB benchmark protocol so detection reports can be grouped the
same way as the published results.
"""

from __future__ import annotations

from dataclasses import dataclass

PROHIBITORY = "prohibitory"
DANGER = "danger"
MANDATORY = "mandatory"
OTHER = "other"
CATEGORIES: tuple[str, ...] = (PROHIBITORY, DANGER, MANDATORY, OTHER)


@dataclass(frozen=True)
class SignClass:
    """One sign type: what it is called, how it is scored and what the detector looks for."""

    id: int
    name: str
    category: str
    shape: str  # circle, triangle, inverted_triangle, octagon, diamond
    colours: tuple[str, ...]  # dominant colours, border first

    @property
    def achromatic(self) -> bool:
        """End-of-restriction signs carry no red, blue or yellow: the detector needs another route."""
        return not ({"red", "blue", "yellow"} & set(self.colours))


_RW = ("red", "white", "black")
_TRI = ("red", "white", "black")
_BLUE = ("blue", "white")
_END = ("white", "black", "grey")

_ROWS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("Speed limit (20km/h)", PROHIBITORY, "circle", _RW),
    ("Speed limit (30km/h)", PROHIBITORY, "circle", _RW),
    ("Speed limit (50km/h)", PROHIBITORY, "circle", _RW),
    ("Speed limit (60km/h)", PROHIBITORY, "circle", _RW),
    ("Speed limit (70km/h)", PROHIBITORY, "circle", _RW),
    ("Speed limit (80km/h)", PROHIBITORY, "circle", _RW),
    ("End of speed limit (80km/h)", OTHER, "circle", _END),
    ("Speed limit (100km/h)", PROHIBITORY, "circle", _RW),
    ("Speed limit (120km/h)", PROHIBITORY, "circle", _RW),
    ("No passing", PROHIBITORY, "circle", ("red", "white", "black")),
    ("No passing for vehicles over 3.5 t", PROHIBITORY, "circle", ("red", "white", "black")),
    ("Right-of-way at the next intersection", DANGER, "triangle", _TRI),
    ("Priority road", OTHER, "diamond", ("yellow", "white")),
    ("Yield", OTHER, "inverted_triangle", ("red", "white")),
    ("Stop", OTHER, "octagon", ("red", "white")),
    ("No vehicles", PROHIBITORY, "circle", ("red", "white")),
    ("Vehicles over 3.5 t prohibited", PROHIBITORY, "circle", _RW),
    ("No entry", OTHER, "circle", ("red", "white")),
    ("General caution", DANGER, "triangle", _TRI),
    ("Dangerous curve to the left", DANGER, "triangle", _TRI),
    ("Dangerous curve to the right", DANGER, "triangle", _TRI),
    ("Double curve", DANGER, "triangle", _TRI),
    ("Bumpy road", DANGER, "triangle", _TRI),
    ("Slippery road", DANGER, "triangle", _TRI),
    ("Road narrows on the right", DANGER, "triangle", _TRI),
    ("Road work", DANGER, "triangle", _TRI),
    ("Traffic signals", DANGER, "triangle", ("red", "white", "black", "yellow", "green")),
    ("Pedestrians", DANGER, "triangle", _TRI),
    ("Children crossing", DANGER, "triangle", _TRI),
    ("Bicycles crossing", DANGER, "triangle", _TRI),
    ("Beware of ice/snow", DANGER, "triangle", _TRI),
    ("Wild animals crossing", DANGER, "triangle", _TRI),
    ("End of all speed and passing limits", OTHER, "circle", _END),
    ("Turn right ahead", MANDATORY, "circle", _BLUE),
    ("Turn left ahead", MANDATORY, "circle", _BLUE),
    ("Ahead only", MANDATORY, "circle", _BLUE),
    ("Go straight or right", MANDATORY, "circle", _BLUE),
    ("Go straight or left", MANDATORY, "circle", _BLUE),
    ("Keep right", MANDATORY, "circle", _BLUE),
    ("Keep left", MANDATORY, "circle", _BLUE),
    ("Roundabout mandatory", MANDATORY, "circle", _BLUE),
    ("End of no passing", OTHER, "circle", _END),
    ("End of no passing by vehicles over 3.5 t", OTHER, "circle", _END),
]

CLASSES: tuple[SignClass, ...] = tuple(
    SignClass(i, name, cat, shape, colours) for i, (name, cat, shape, colours) in enumerate(_ROWS)
)
NUM_CLASSES = len(CLASSES)  # 43
NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)

# Speed limits in km/h, for the driver-alert panel; 6 and 32 end a limit.
SPEED_LIMITS: dict[int, int] = {0: 20, 1: 30, 2: 50, 3: 60, 4: 70, 5: 80, 7: 100, 8: 120}
END_OF_LIMIT: frozenset[int] = frozenset({6, 32})


def category_of(class_id: int) -> str:
    """GTSDB category of a class id."""
    return CLASSES[class_id].category


def ids_in(category: str) -> list[int]:
    """All class ids of one GTSDB category."""
    return [c.id for c in CLASSES if c.category == category]
