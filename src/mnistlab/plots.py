"""The practice's figures as PNG files: sample digits and the loss curve with its running average."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mnistlab.data import IMAGE_SIDE  # noqa: E402
from mnistlab.files import atomic_write  # noqa: E402

RUNNING_AVERAGE = 60  # the practice's N


def running_average(values, n: int = RUNNING_AVERAGE) -> np.ndarray:
    """The practice's smoothing: np.convolve(values, np.ones(n)/n, mode="valid")."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < n:
        return np.empty(0)
    return np.convolve(values, np.ones((n,)) / n, mode="valid")


def save_figure(fig, path: Path) -> Path:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)
    return Path(path)


def plot_samples(images, path: Path, count: int = 16) -> Path:
    """The first `count` training images in a square grid, gray_r, axes off."""
    side = int(np.ceil(np.sqrt(count)))
    fig = plt.figure(figsize=(6, 6))
    for i in range(count):
        ax = fig.add_subplot(side, side, i + 1)
        ax.imshow(np.asarray(images[i]).reshape(IMAGE_SIDE, IMAGE_SIDE), cmap=plt.get_cmap("gray_r"))
        ax.axis("off")
    return save_figure(fig, path)


def plot_loss(loss, title: str, path: Path) -> Path:
    """Raw per-iteration loss (alpha 0.3) and its running average over 60 iterations (red)."""
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.plot(loss, alpha=0.3, label="loss per iteration")
    smooth = running_average(loss)
    # "valid" convolution drops N-1 points; aligning it at x=0 keeps the practice's picture
    ax.plot(smooth, color="red", label=f"running average (N={RUNNING_AVERAGE})")
    ax.set_title(title)
    ax.set_xlabel("iteration")
    ax.set_ylabel("cross-entropy loss")
    ax.legend()
    return save_figure(fig, path)


# --- the report's figures ---------------------------------------------------------------------

NETWORK_COLORS = ("tab:blue", "tab:orange")


def plot_per_digit(names, means, stds, path: Path) -> Path:
    """Grouped bars: per-digit test accuracy of each network side by side (error bars: std over seeds)."""
    digits = np.arange(10)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, (name, mean, std) in enumerate(zip(names, means, stds)):
        mean, std = np.asarray(mean) * 100, np.asarray(std) * 100
        ax.bar(digits + (i - (len(names) - 1) / 2) * width, mean, width, label=name,
               color=NETWORK_COLORS[i % 2], yerr=std if std.any() else None, capsize=3)
    # The interesting differences are a few points wide: start the axis just below the lowest bar.
    low = min(float(np.min(m)) for m in means) * 100
    bottom = max(0.0, np.floor((low - 2) / 5) * 5)
    ax.set_ylim(bottom, 100)
    ax.set_xticks(digits)
    ax.set_xlabel("digit")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Per-digit test accuracy (the axis starts at {bottom:.0f}%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=len(names), frameon=False)
    return save_figure(fig, path)


def plot_confusion(confusion, title: str, path: Path) -> Path:
    """Annotated 10×10 heatmap, rows true digit, columns prediction; a log colour scale so that
    the few off-diagonal mistakes show next to the ~1,000 correct answers per digit."""
    from matplotlib.colors import LogNorm

    counts = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    image = ax.imshow(np.maximum(counts, 0.5), cmap="Blues", norm=LogNorm(vmin=0.5, vmax=max(counts.max(), 1)))
    for t in range(10):
        for p in range(10):
            if counts[t, p]:
                dark = counts[t, p] > np.sqrt(max(counts.max(), 1))
                ax.text(p, t, str(counts[t, p]), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black", fontweight="bold" if t == p else "normal")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="test images (log scale)", shrink=0.85)
    return save_figure(fig, path)


def plot_loss_comparison(names, losses, steps_per_epoch, path: Path) -> Path:
    """Both networks' training loss on one axis: raw per step (faint) and running average N=60."""
    fig, ax = plt.subplots(figsize=(9, 5))
    for i, (name, loss, per_epoch) in enumerate(zip(names, losses, steps_per_epoch)):
        color = NETWORK_COLORS[i % 2]
        epochs = np.arange(len(loss)) / per_epoch
        ax.plot(epochs, loss, color=color, alpha=0.15, linewidth=0.6)
        smooth = running_average(loss)
        # centre each average on the steps it covers, so both curves line up in epochs
        ax.plot(epochs[RUNNING_AVERAGE // 2: RUNNING_AVERAGE // 2 + len(smooth)], smooth, color=color,
                label=f"{name} (running average, N={RUNNING_AVERAGE})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss (log scale)")
    ax.set_title("Training loss of both networks")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save_figure(fig, path)


def plot_misclassified(images, labels, predictions, confidences, title: str, path: Path,
                       columns: int = 8) -> Path:
    """A gallery of test images with 'true → predicted (confidence)' above each, drawn as one
    mosaic on one axis (24 separate axes take seconds to render)."""
    count = len(images)
    rows = max(1, int(np.ceil(count / columns)))
    tile_w, tile_h = 36, 46  # a 28×28 digit with room for its label above it
    mosaic = np.zeros((rows * tile_h, columns * tile_w))
    fig, ax = plt.subplots(figsize=(columns * 1.25, rows * 1.6 + 0.4))
    for i in range(count):
        top, left = (i // columns) * tile_h + 14, (i % columns) * tile_w + 4
        mosaic[top: top + 28, left: left + 28] = np.asarray(images[i]).reshape(IMAGE_SIDE, IMAGE_SIDE)
        ax.text(left + 14, top - 3, f"{int(labels[i])} → {int(predictions[i])} ({float(confidences[i]):.0%})",
                ha="center", va="bottom", fontsize=9)
    ax.imshow(mosaic, cmap=plt.get_cmap("gray_r"), vmin=0, vmax=1)
    ax.axis("off")
    ax.set_title(title if count else f"{title}: none")
    return save_figure(fig, path)
