"""The recognizer CNN. Design notes and the reasons for each choice: docs/MODEL.md."""

from __future__ import annotations

import keras
from keras import layers


def build(input_shape: tuple[int, int, int], num_classes: int, width: int = 32,
          dense: int = 256, seed: int = 0,
          box_head: tuple[float, float, float, float] | None = None) -> keras.Model:
    """Three VGG-style blocks (two 3x3 convs + BatchNorm each), then a small dense head.

    ~0.82M parameters at width 32: small enough to classify the few crops a frame keeps after
    the gate, wide enough for the fine distinctions GTSRB needs (30 vs 80 km/h, left vs right
    arrows). With ``box_head`` (the box of an unjittered crop) a second output regresses the sign's box in the crop
    ((x1, y1, x2, y2) as fractions of the crop side): colour blobs frame small signs a few
    pixels off, and IoU >= 0.6 leaves no room for that.
    """
    init = keras.initializers.HeNormal(seed=seed)
    x = inp = keras.Input(input_shape, name="crop")
    for i, (mult, drop) in enumerate(((1, 0.1), (2, 0.2), (4, 0.3))):
        for j in range(2):
            x = layers.Conv2D(width * mult, 3, padding="same", use_bias=False,
                              kernel_initializer=init, name=f"conv{i}_{j}")(x)
            x = layers.BatchNormalization(name=f"bn{i}_{j}")(x)
            x = layers.ReLU(name=f"relu{i}_{j}")(x)
        x = layers.MaxPooling2D(name=f"pool{i}")(x)
        x = layers.Dropout(drop, seed=seed, name=f"drop{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense, use_bias=False, kernel_initializer=init, name="fc")(x)
    x = layers.BatchNormalization(name="bn_fc")(x)
    feat = layers.ReLU(name="relu_fc")(x)
    x = layers.Dropout(0.5, seed=seed, name="drop_fc")(feat)
    out = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    if box_head is None:
        return keras.Model(inp, out, name="tsr_cnn")
    # starts at the plain framing (the sign inside the margin) and learns the corrections
    box = layers.Dense(4, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(box_head),
                       name="box")(feat)
    return keras.Model(inp, {"probs": out, "box": box}, name="tsr_cnn")


def with_features(model: keras.Model) -> keras.Model:
    """The model users get: its trained outputs plus "features", the 256 values of the dense layer,
    which the verifier (a logistic sign-or-clutter head, ``training/verifier.py``) reads."""
    outs = dict(model.output) if isinstance(model.output, dict) else {"probs": model.output}
    outs["features"] = model.get_layer("relu_fc").output
    return keras.Model(model.input, outs, name=model.name)


def without_features(model: keras.Model) -> keras.Model:
    """The outputs that have a training loss (a shipped model, loaded to fine-tune, has "features" too)."""
    if isinstance(model.output, dict) and "features" in model.output:
        outs = {k: v for k, v in model.output.items() if k != "features"}
        return keras.Model(model.input, outs if len(outs) > 1 else outs["probs"], name=model.name)
    return model


def build_gate(input_shape: tuple[int, int, int], seed: int = 0) -> keras.Model:
    """The gate: sign or not, from a 20x20 crop, in ~0.05 ms in a batch of 32 (docs/BENCHMARKS.md).

    Three 3x3 conv + 2x2 pool steps (8/16/32 filters, ~0.3M multiply-adds) are enough to tell a
    sign's outline and colour layout from clutter; deciding which sign is the recognizer's job.
    """
    init = keras.initializers.HeNormal(seed=seed)
    x = inp = keras.Input(input_shape, name="crop")
    for i, w in enumerate((8, 16, 32)):
        x = layers.Conv2D(w, 3, padding="same", use_bias=False, kernel_initializer=init, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        x = layers.MaxPooling2D(name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(32, activation="relu", kernel_initializer=init, name="fc")(x)
    x = layers.Dropout(0.2, seed=seed, name="drop_fc")(x)
    out = layers.Dense(2, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="tsr_gate")
