"""Accuracy against training time: the practice recipe and the tuned recipe, for both networks, in one
run. The test set is scored after every epoch; the clock counts training only (scoring is left out).

    python benchmarks/time_to_accuracy.py [--seeds 3] [--quick] [--out benchmarks/time_to_accuracy.png]

The tuned recipe's hyperparameters were chosen on a validation split (training on the first 50,000
training images, scoring on the last 10,000), never on the test set; here both recipes train on all
60,000 and are scored on the 10,000 test images once per epoch, only to draw the curve.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from mnistlab import data, plots  # noqa: E402
from mnistlab.report.analysis import LECUN_FOR  # noqa: E402
from mnistlab.evaluate import evaluate  # noqa: E402
from mnistlab.models import DISPLAY_NAMES  # noqa: E402
from mnistlab.train import TrainConfig, fit, resolve_device  # noqa: E402

THRESHOLDS = (0.98, 0.99, 0.993)
# (recipe, epochs or None for the recipe's own, [(accuracy, seconds to reach it in)]) for each network.
# The CNN's tuned default is the short run (99% within 15 s); 99.3% needs the longer one with --epochs.
RUNS = {
    "cnn": [("practice", None, []), ("tuned", None, [(0.99, 15)]), ("tuned", 12, [(0.993, 60)])],
    "mlp": [("practice", None, []), ("tuned", None, [(0.985, 90)])],
}
# The best test accuracy LeCun et al. 1998 report for each kind of network (the report cites the same table).
LECUN_1998 = {model: 1 - min(error for _, error in references) / 100 for model, references in LECUN_FOR.items()}


def curve(model: str, recipe: str, seed: int, train, test, epochs: int | None, device: str):
    """[(cumulative training seconds, test accuracy)] after each epoch of one run."""
    points = []

    def score(epoch, result):
        points.append((result.train_seconds, evaluate(result.model, *test, device).overall_accuracy))

    config = TrainConfig(model=model, recipe=recipe, seed=seed, epochs=epochs, device=device)
    fit(config, *train, log=lambda _: None, on_epoch=score)
    return points


def first_reached(points, threshold):
    return next((seconds for seconds, accuracy in points if accuracy >= threshold), None)


def mean_curve(curves):
    """Epoch by epoch mean of several seeds' (seconds, accuracy) curves."""
    return [(statistics.mean(p[0] for p in column), statistics.mean(p[1] for p in column))
            for column in zip(*curves)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per tuned run (default 3)")
    parser.add_argument("--practice-seeds", type=int, default=1, help="seeds per practice run (default 1)")
    parser.add_argument("--quick", action="store_true", help="2 epochs per run, 1 seed: checks the script works")
    parser.add_argument("--models", default="cnn,mlp", help="comma-separated (default cnn,mlp)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (default auto)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/time_to_accuracy.png"))
    args = parser.parse_args()
    epochs = 2 if args.quick else None
    tuned_seeds = 1 if args.quick else args.seeds
    practice_seeds = 1 if args.quick else args.practice_seeds

    status = data.ensure_mnist(args.data_dir)
    device = str(resolve_device(args.device))
    train = data.load_split(status.root, "train", device)
    test = data.load_split(status.root, "test", device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {device}")
    print("The tuned recipe's settings were chosen on a validation split (first 50,000 training images to "
          "train, last 10,000 to score), never on the test set. Below: trained on all 60,000, scored on the "
          "test set after each epoch; times are training only.\n")

    models = args.models.split(",")
    if not set(models) <= set(RUNS):
        parser.error(f"--models: choose from {', '.join(RUNS)}")
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.5), squeeze=False)
    for model, ax in zip(models, axes[0]):
        lowest = 100.0
        for recipe, run_epochs, targets in RUNS[model]:
            if args.quick and run_epochs is not None:
                continue  # the quick check runs each recipe once, for 2 epochs
            seeds = practice_seeds if recipe == "practice" else tuned_seeds
            run_epochs = epochs or run_epochs
            curves = [curve(model, recipe, seed, train, test, run_epochs, device) for seed in range(seeds)]
            mean = mean_curve(curves)
            name = recipe if run_epochs is None or args.quick else f"{recipe}, --epochs {run_epochs}"
            print(f"{DISPLAY_NAMES[model]}, {name} (mean of {seeds} seed{'s' if seeds > 1 else ''})")
            print("  epoch  seconds  test accuracy" + ("  per seed" if seeds > 1 else ""))
            for epoch, (seconds, accuracy) in enumerate(mean, 1):
                per_seed = "  ".join(f"{c[epoch - 1][1]:.2%}" for c in curves) if seeds > 1 else ""
                print(f"  {epoch:5d}  {seconds:7.1f}  {accuracy:13.2%}  {per_seed}")
            reached = "  ".join(f"{t:.1%}: " + (f"{s:.1f}s" if (s := first_reached(mean, t)) else "not reached")
                                for t in THRESHOLDS)
            print(f"  first reached (mean curve)  {reached}")
            for accuracy, budget in [] if args.quick else targets:
                seconds = first_reached(mean, accuracy)
                verdict = "met" if seconds is not None and seconds <= budget else "MISSED"
                print(f"  target {accuracy:.1%} within {budget} s: {verdict}"
                      f" ({'not reached' if seconds is None else f'{seconds:.1f} s'})")
            print()
            ax.plot([s for s, _ in mean], [a * 100 for _, a in mean], marker="o",
                    label=f"{name} ({seeds} seed{'s' if seeds > 1 else ''})")
            lowest = min(lowest, *(a * 100 for _, a in mean))
        ax.axhline(LECUN_1998[model] * 100, color="gray", linestyle="--",
                   label=f"LeCun et al. 1998 ({LECUN_1998[model]:.2%})")
        ax.set(title=DISPLAY_NAMES[model], xlabel="training seconds", ylabel="test accuracy (%)",
               ylim=(max(80, int(lowest) - 1), 100))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    plots.save_figure(fig, args.out)
    print(f"curve written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
