"""Model cards: the JSON file beside a model that says what it recognises and how its
inputs must be prepared. Inference reads preprocessing from here and nowhere else."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from realtime.preprocess import Preprocessing

CARD_FORMAT = "tsr-model-card/1"
BACKGROUND = "background"  # name of the optional non-sign class


class ModelError(Exception):
    """A model or card that cannot be used (missing, corrupt, mismatched)."""


@dataclass
class ModelCard:
    classes: list[dict]  # [{"id": 0, "name": "..."}], in output order
    preprocessing: Preprocessing
    files: dict[str, str] = field(default_factory=dict)  # {"keras": name, "tflite": name}
    sha256: dict[str, str] = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def num_outputs(self) -> int:
        return len(self.classes)

    @property
    def box_head(self) -> bool:
        """Whether the model also regresses the sign's box in the crop (an output named "box")."""
        return "box" in self.outputs

    @property
    def outputs(self) -> list[str]:
        """The model's outputs in export order: "probs", and "box" and "features" where it has them.

        Cards that predate the list say only whether there is a box head.
        """
        if "outputs" in self.extra:
            return sorted(str(o) for o in self.extra["outputs"])
        return ["box", "probs"] if self.extra.get("box_head") else ["probs"]

    @property
    def class_ids(self) -> list[int]:
        """GTSRB id for each output (-1 for the background class)."""
        return [int(c["id"]) for c in self.classes]

    @property
    def names(self) -> list[str]:
        return [str(c["name"]) for c in self.classes]

    def to_json(self) -> dict:
        return {"format": CARD_FORMAT, "classes": self.classes,
                "preprocessing": self.preprocessing.to_dict(), "input_shape": list(self.preprocessing.input_shape),
                "files": self.files, "sha256": self.sha256, "training": self.training,
                "validation": self.validation, **self.extra}

    def save(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path | str) -> ModelCard:
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model card not found: {path}")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"model card {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != CARD_FORMAT:
            raise ModelError(f"{path} is not a model card (format must be {CARD_FORMAT!r})")
        try:
            pre = Preprocessing.from_dict(data["preprocessing"])
            classes = [{"id": int(c["id"]), "name": str(c["name"])} for c in data["classes"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model card {path}: {exc}") from None
        known = {"format", "classes", "preprocessing", "input_shape", "files", "sha256", "training", "validation"}
        return cls(classes, pre, data.get("files", {}), data.get("sha256", {}), data.get("training", {}),
                   data.get("validation", {}), {k: v for k, v in data.items() if k not in known})


def card_path_for(model_path: Path | str) -> Path:
    """``models/x.tflite`` and ``models/x.keras`` share ``models/x.json``."""
    p = Path(model_path)
    return p if p.suffix == ".json" else p.with_suffix(".json")


def sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
