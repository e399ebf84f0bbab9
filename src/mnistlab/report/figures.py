"""The report's figures as PNG files beside the page: per-digit accuracy, confusion matrices, both
losses on one axis and galleries of mistakes, every label in the report's language."""

from __future__ import annotations

from pathlib import Path

from mnistlab.plots import RUNNING_AVERAGE, localize_ticks, plot_loss, running_average, save_figure  # Agg backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from mnistlab.data import IMAGE_SIDE  # noqa: E402
from mnistlab.i18n import Texts  # noqa: E402
from mnistlab.nets.inside import layer_outputs, layer_weight  # noqa: E402
from mnistlab.nets.models import MODELS  # noqa: E402
from mnistlab.report.analysis import Network  # noqa: E402
from mnistlab.report.sections import GALLERY  # noqa: E402

FEATURE_MAP_DIGIT = 0  # the test image whose feature maps the CNN section shows (a 7)


def plot_per_digit(networks: list[Network], path: Path, t: Texts) -> Path:
    """Grouped bars: per-digit test accuracy of each network side by side (error bars: std over seeds)."""
    _ = t.gettext
    digits = np.arange(10)
    width = 0.8 / len(networks)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, net in enumerate(networks):
        mean, std = np.asarray(net.digit_accuracy) * 100, np.asarray(net.digit_spread) * 100
        ax.bar(digits + (i - (len(networks) - 1) / 2) * width, mean, width, label=net.display,
               color=MODELS[net.name].color, yerr=std if std.any() else None, capsize=3)
    # The interesting differences are a few points wide: start the axis just below the lowest bar.
    low = min(min(net.digit_accuracy) for net in networks) * 100
    bottom = max(0.0, np.floor((low - 2) / 5) * 5)
    ax.set_ylim(bottom, 100)
    ax.set_xticks(digits)
    ax.set_xlabel(_("digit"))
    ax.set_ylabel(_("test accuracy (%)"))
    ax.set_title(_("Per-digit test accuracy (the axis starts at {bottom})").format(bottom=t.percent(bottom / 100, 0)))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=len(networks), frameon=False)
    localize_ticks(ax, t)
    return save_figure(fig, path)


def plot_confusion(confusion, title: str, path: Path, t: Texts) -> Path:
    """Annotated 10×10 heatmap, rows true digit, columns prediction; a log colour scale so that
    the few off-diagonal mistakes show next to the ~1,000 correct answers per digit."""
    _ = t.gettext
    counts = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    image = ax.imshow(np.maximum(counts, 0.5), cmap="Blues", norm=LogNorm(vmin=0.5, vmax=max(counts.max(), 1)))
    for true in range(10):
        for predicted in range(10):
            if counts[true, predicted]:
                dark = counts[true, predicted] > np.sqrt(max(counts.max(), 1))
                ax.text(predicted, true, str(counts[true, predicted]), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black", fontweight="bold" if true == predicted else "normal")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel(_("predicted digit"))
    ax.set_ylabel(_("true digit"))
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=_("test images (log scale)"), shrink=0.85)
    return save_figure(fig, path)


def plot_loss_comparison(networks: list[Network], path: Path, t: Texts) -> Path:
    """Both networks' training loss on one axis: raw per step (faint) and running average N=60."""
    _ = t.gettext
    fig, ax = plt.subplots(figsize=(9, 5))
    for net in networks:
        color = MODELS[net.name].color
        epochs = np.arange(len(net.loss)) / net.steps_per_epoch
        ax.plot(epochs, net.loss, color=color, alpha=0.15, linewidth=0.6)
        smooth = running_average(net.loss)
        # centre each average on the steps it covers, so both curves line up in epochs
        ax.plot(epochs[RUNNING_AVERAGE // 2: RUNNING_AVERAGE // 2 + len(smooth)], smooth, color=color,
                label=_("{network} (running average, N={window})").format(network=net.display, window=RUNNING_AVERAGE))
    ax.set_yscale("log")
    ax.set_xlabel(_("epoch"))
    ax.set_ylabel(_("cross-entropy loss (log scale)"))
    ax.set_title(_("Training loss of both networks"))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    localize_ticks(ax, t)
    return save_figure(fig, path)


def plot_misclassified(images, labels, predictions, confidences, title: str, path: Path, t: Texts,
                       columns: int = 8) -> Path:
    """A gallery of test images with 'true → predicted (confidence)' above each, drawn as one
    mosaic on one axis (24 separate axes take seconds to render)."""
    count = len(images)
    rows = max(1, int(np.ceil(count / columns)))
    # a digit with room for its label above it; wide enough that Spanish labels ("7 → 2 (98 %)", with a
    # space before the sign) keep clear of their neighbours
    tile_w, tile_h = IMAGE_SIDE + 14, IMAGE_SIDE + 18
    mosaic = np.zeros((rows * tile_h, columns * tile_w))
    fig, ax = plt.subplots(figsize=(columns * 1.45, rows * 1.6 + 0.4))
    for i in range(count):
        top, left = (i // columns) * tile_h + 14, (i % columns) * tile_w + 7
        mosaic[top: top + IMAGE_SIDE, left: left + IMAGE_SIDE] = np.asarray(images[i]).reshape(IMAGE_SIDE, IMAGE_SIDE)
        ax.text(left + IMAGE_SIDE // 2, top - 3,
                f"{int(labels[i])} → {int(predictions[i])} ({t.percent(float(confidences[i]), 0)})",
                ha="center", va="bottom", fontsize=8.5)
    ax.imshow(mosaic, cmap=plt.get_cmap("gray_r"), vmin=0, vmax=1)
    ax.axis("off")
    ax.set_title(title if count else t.gettext("{title}: none").format(title=title))
    return save_figure(fig, path)


def plot_feature_maps(model, image, label: int, path: Path, t: Texts) -> Path:
    """Deliverable 4 as a picture: one test digit, the 6 learned 5×5 filters of conv1, the 6 feature
    maps conv1 makes of the digit (28×28, after ReLU) and the 16 of conv2 (10×10), from the trained CNN."""
    _ = t.gettext
    maps = {layer.name: layer.values for layer in layer_outputs(model, image)}
    filters = layer_weight(model, "conv1")[:, 0]  # (6, 5, 5)
    fig = plt.figure(figsize=(10, 6.2))
    grid = fig.add_gridspec(4, 8, hspace=0.35, wspace=0.12)

    def show(cell, values, title, row_label=None, cmap="magma", symmetric=False):
        ax = fig.add_subplot(cell)
        if symmetric:  # a filter: red positive, blue negative, around zero
            limit = float(np.abs(values).max()) or 1.0
            ax.imshow(values, cmap="bwr", vmin=-limit, vmax=limit)
        else:
            ax.imshow(values, cmap=cmap, vmin=0)
        ax.set_title(title, fontsize=8, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
        if row_label:
            ax.set_ylabel(row_label, fontsize=9)

    show(grid[0, 0], np.asarray(image).reshape(IMAGE_SIDE, IMAGE_SIDE), _("test digit ({digit})").format(digit=label),
         cmap="gray")
    for i in range(6):
        show(grid[0, i + 2], filters[i], str(i + 1), _("conv1 filters") if i == 0 else None, symmetric=True)
        show(grid[1, i + 2], maps["conv1"][i], str(i + 1), _("conv1 maps") if i == 0 else None)
    for i in range(16):
        show(grid[2 + i // 8, i % 8], maps["conv2"][i], str(i + 1), _("conv2 maps") if i % 8 == 0 else None)
    fig.suptitle(_("Inside the CNN: conv1 makes 6 feature maps of 28×28, conv2 makes 16 of 10×10"), fontsize=11)
    return save_figure(fig, path)


def plot_robustness(curves, path: Path, t: Texts) -> Path:
    """Two panels: test accuracy against the move (px) and against the rotation (degrees), one line
    per network (`curves`: why.Entry with their robustness; the lesson's two first)."""
    _ = t.gettext
    fig, (moved, rotated) = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for i, entry in enumerate(curves):
        lesson = MODELS[entry.name].lesson  # the small MLP is drawn dashed beside the lesson's two
        style = dict(color=MODELS[entry.name].color, marker="o" if lesson else "s", linestyle="-" if lesson else "--")
        for ax, levels in ((moved, entry.robustness.shift), (rotated, entry.robustness.rotation)):
            ax.plot([float(k) for k in levels], [v * 100 for v in levels.values()], label=entry.display, **style)
    moved.set_xlabel(_("move (pixels, mean of the four directions)"))
    rotated.set_xlabel(_("rotation (degrees, mean of both directions)"))
    moved.set_ylabel(_("test accuracy (%)"))
    moved.set_title(_("Moved test digits"))
    rotated.set_title(_("Rotated test digits"))
    for ax in (moved, rotated):
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        localize_ticks(ax, t)
    rotated.set_xticks([float(k) for k in curves[0].robustness.rotation])
    moved.legend(loc="best")  # where the curves are not: low at the right for trained networks
    return save_figure(fig, path)


def write_figures(networks: list[Network], folder: Path, test_images, test_labels, t: Texts) -> None:
    """Every PNG the sections refer to, into `folder`."""
    _ = t.gettext
    plot_per_digit(networks, folder / "per_digit.png", t)
    if all(net.loss for net in networks):
        plot_loss_comparison(networks, folder / "loss_comparison.png", t)
    for net in networks:
        title = (_("{network} (seed {seed})").format(network=net.display, seed=net.runs[0].config.seed) if net.runs
                 else f"{net.display} ({Path(net.file).name})")
        plot_confusion(net.confusion, title, folder / f"confusion_{net.name}.png", t)
        if net.loss:
            plot_loss(net.loss, _("Training loss ({network})").format(network=net.display), folder / f"loss_{net.name}.png", t)
        ev = net.evaluation
        wrong = (ev.predictions != test_labels).nonzero().flatten()
        pick = wrong[ev.confidences[wrong].argsort(descending=True)][:GALLERY]
        plot_misclassified(test_images[pick], test_labels[pick], ev.predictions[pick], ev.confidences[pick],
                           _("{network}: most confident mistakes").format(network=net.display),
                           folder / f"misclassified_{net.name}.png", t)
    cnn = next(net for net in networks if net.convolutional)
    plot_feature_maps(cnn.model, test_images[FEATURE_MAP_DIGIT, 0], int(test_labels[FEATURE_MAP_DIGIT]),
                      folder / "feature_maps.png", t)
