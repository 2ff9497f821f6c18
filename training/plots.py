"""Matplotlib figures for exploration and evaluation (Agg backend: works on servers)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def class_distribution(counts: np.ndarray, names: list[str], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(14, 5))
    ax.bar(np.arange(len(counts)), counts, color="#3b6ea5")
    ax.set_xticks(np.arange(len(counts)))
    ax.set_xticklabels([str(i) for i in range(len(counts))], fontsize=7)
    ax.set_xlabel("class id")
    ax.set_ylabel("images")
    ax.set_title(title)
    lo, hi = int(np.argmin(counts)), int(np.argmax(counts))
    ax.annotate(f"rarest: {names[lo]} ({counts[lo]})", (lo, counts[lo]), xytext=(5, 40),
                textcoords="offset points", arrowprops={"arrowstyle": "->"}, fontsize=8)
    ax.annotate(f"most: {names[hi]} ({counts[hi]})", (hi, counts[hi]), xytext=(5, -5),
                textcoords="offset points", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def image_grid(tiles: list[np.ndarray], captions: list[str], path: Path, cols: int, title: str = "",
               cell: float = 1.6) -> None:
    """Tiles are RGB (or gray) uint8 images, drawn with a small caption each."""
    rows = max(1, int(np.ceil(len(tiles) / cols)))
    aspect = tiles[0].shape[0] / tiles[0].shape[1] if tiles else 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * (cell * aspect + 0.3)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, tile, cap in zip(axes.ravel(), tiles, captions):
        ax.imshow(tile if tile.ndim == 3 and tile.shape[2] == 3 else np.squeeze(tile), cmap="gray",
                  interpolation="nearest")
        ax.set_title(cap, fontsize=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_matrix(cm: np.ndarray, path: Path, title: str) -> None:
    """Row-normalised, log colour scale, so a handful of confusions stands out against 99% diagonals."""
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(10, 9))
    im = ax.imshow(np.log10(rates + 1e-4), cmap="viridis", vmin=-4, vmax=0)
    n = len(cm)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(range(n), fontsize=6)
    ax.set_yticklabels(range(n), fontsize=6)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i, j in zip(*np.nonzero((cm > 0) & ~np.eye(n, dtype=bool))):
        ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=5, color="white")
    fig.colorbar(im, ax=ax, label="log10(rate)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def training_curves(history: dict[str, list[float]], path: Path) -> bool:
    if not history.get("loss"):
        return False
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    ep = np.arange(1, len(history["loss"]) + 1)
    a1.plot(ep, history["loss"], label="train")
    if "val_loss" in history:
        a1.plot(ep, history["val_loss"], label="validation")
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.legend()
    a2.plot(ep, history.get("accuracy", []), label="train (augmented)")
    if "val_accuracy" in history:
        a2.plot(ep, history["val_accuracy"], label="validation (track-wise)")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy")
    a2.set_ylim(max(0.0, min(history.get("val_accuracy", [0.9]) + [0.9]) - 0.02), 1.0)
    a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
