"""The practice's figures as PNG files: sample digits and the loss curve with its running average."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    # Files only, no windows, also from server threads. But a notebook that has already chosen its
    # backend (inline) and imports mnistlab (the solved notebook calls the report's analysis) keeps it.
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

from mnistlab.data import IMAGE_SIDE  # noqa: E402
from mnistlab.files import atomic_write  # noqa: E402
from mnistlab.i18n import Texts, texts  # noqa: E402

RUNNING_AVERAGE = 60  # the practice's N


def running_average(values, n: int = RUNNING_AVERAGE) -> np.ndarray:
    """The practice's smoothing: np.convolve(values, np.ones(n)/n, mode="valid")."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < n:
        return np.empty(0)
    return np.convolve(values, np.ones((n,)) / n, mode="valid")


class DecimalComma(ScalarFormatter):
    """Matplotlib's own tick labels (97.5, 0.25) with a decimal comma: 97,5, 0,25."""

    def __call__(self, value, pos=None):
        return super().__call__(value, pos).replace(".", ",")


def localize_ticks(ax, t: Texts) -> None:
    """Plain-number axes of `ax` written with `t`'s decimal sign (log axes only show powers of ten)."""
    if t.number(0.5, 1) == "0.5":
        return
    for axis in (ax.xaxis, ax.yaxis):
        if type(axis.get_major_formatter()) is ScalarFormatter:
            axis.set_major_formatter(DecimalComma())


PRINT_DPI = 200  # figures are deliverables: sharp when printed or zoomed


def save_figure(fig, path: Path) -> Path:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=PRINT_DPI, bbox_inches="tight"))
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


def plot_loss(loss, title: str, path: Path, t: Texts | None = None) -> Path:
    """Raw per-iteration loss (alpha 0.3) and its running average over 60 iterations (red); labels in
    the language of `t` (default English)."""
    t = t or texts("en")
    _ = t.gettext
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.plot(loss, alpha=0.3, label=_("loss per iteration"))
    smooth = running_average(loss)
    # "valid" convolution drops N-1 points; aligning it at x=0 keeps the practice's picture
    ax.plot(smooth, color="red", label=_("running average (N={window})").format(window=RUNNING_AVERAGE))
    ax.set_title(title)
    ax.set_xlabel(_("iteration"))
    ax.set_ylabel(_("cross-entropy loss"))
    localize_ticks(ax, t)
    ax.legend()
    return save_figure(fig, path)
