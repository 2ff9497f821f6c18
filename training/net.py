"""The recognizer CNN. Design notes and the reasons for each choice: docs/MODEL.md."""

from __future__ import annotations

import keras
from keras import layers


def build(input_shape: tuple[int, int, int], num_classes: int, width: int = 32,
          dense: int = 256, seed: int = 0) -> keras.Model:
    """Three VGG-style blocks (two 3x3 convs + BatchNorm each), then a small dense head.

    ~0.82M parameters at width 32: small enough for ~0.1 ms/crop in LiteRT, wide enough
    for the fine distinctions GTSRB needs (30 vs 80 km/h, left vs right arrows).
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
    x = layers.ReLU(name="relu_fc")(x)
    x = layers.Dropout(0.5, seed=seed, name="drop_fc")(x)
    out = layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="tsr_cnn")
