"""Re-export a trained model's LiteRT file (the recognizer or a gate) from its ``.keras`` model and
update its card.

``make train`` exports as it trains; this is for a model already trained: a new quantization
without the 45 minutes of training. With ``--data`` (the recognizer only) the card also gets the new
file's accuracy on the model's own track-wise validation split, the figure ``evaluate --split val``
prints.
"""

from __future__ import annotations

import logging

from realtime.card import ModelCard, ModelError, card_path_for, sha256
from training.train import QUANTIZE, export_tflite, litert_record, litert_validation

log = logging.getLogger(__name__)  # progress and figures; the command line prints them


def export(model: str, quantize: str = "dynamic", data: str | None = None) -> dict:
    """Rewrite the LiteRT file named by ``model``'s card; returns the card's "litert" record."""
    import keras

    card_path = card_path_for(model)
    card = ModelCard.load(card_path)
    if quantize not in QUANTIZE:
        raise ModelError(f"unknown quantization {quantize!r}; expected one of {QUANTIZE}")
    keras_path = card_path.parent / card.files.get("keras", "")
    if not card.files.get("keras") or not keras_path.is_file():
        raise ModelError(f"{card_path}: no Keras model to export from ({keras_path})")
    tfl_path = card_path.parent / card.files.get("tflite", card_path.with_suffix(".tflite").name)
    try:
        net = keras.saving.load_model(keras_path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file
        raise ModelError(f"cannot load Keras model {keras_path}: {str(exc).splitlines()[0]}") from None
    export_tflite(net, tfl_path, quantize)
    card.files["tflite"] = tfl_path.name
    card.sha256["tflite"] = sha256(tfl_path)
    card.extra["litert"] = litert_record(tfl_path, quantize)
    card.save(card_path)  # the classifier of litert_validation reads the card
    if data is not None:  # the same figures `train` records, on the card's own validation tracks
        from realtime.preprocess import to_input
        from training import augment
        from training.evaluate import load_split

        val = load_split(data, card, "val")
        x_val = to_input(augment.batch(val.images, val.rois, card.preprocessing, None))
        card.extra["litert"] = litert_validation(tfl_path, x_val, val.labels, quantize)
        card.save(card_path)
    log.info(f"wrote {tfl_path} ({quantize} quantization, {tfl_path.stat().st_size / 1e6:.2f} MB) and {card_path}")
    return card.extra["litert"]


def main(args) -> int:
    export(args.model, args.quantize, args.data)
    return 0


if __name__ == "__main__":
    raise SystemExit("use: python -m training export MODEL")
