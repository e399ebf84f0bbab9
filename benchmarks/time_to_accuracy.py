"""Time to accuracy: issue 13's three targets for the tuned recipe, against the practice recipe and
pytorch/examples' MNIST recipe, in one process. The clock counts training only; the test set is
scored after every epoch (outside the clock), only to see when each run first reaches an accuracy.

    python benchmarks/time_to_accuracy.py [--seeds 3] [--only profile,fast,long,mlp,practice,examples]
                                          [--quick] [--update-readme]

The tuned recipe's settings were chosen on the validation split (first 50,000 training images to
train, last 10,000 to score), never on the test set; here every run trains on all 60,000.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Imported first: mnistlab picks OpenMP's waiting policy (docs/performance.md) before torch loads it, so
# these numbers are those of `mnistlab train` on the same machine.
import mnistlab  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mnistlab import data, plots  # noqa: E402
from mnistlab.inference.evaluate import evaluate  # noqa: E402
from mnistlab.nets.layers import describe  # noqa: E402
from mnistlab.nets.models import MODELS, create_model  # noqa: E402
from mnistlab.report.analysis import lecun_references  # noqa: E402
from mnistlab.training.recipes import RECIPES  # noqa: E402
from mnistlab.training.train import TrainConfig, fit, resolve_device  # noqa: E402

TABLE_FILE = Path(__file__).resolve().parents[1] / "docs" / "tuned-recipe.md"  # where the table lives
TABLE_START, TABLE_END = "<!-- time_to_accuracy: start -->", "<!-- time_to_accuracy: end -->"


@dataclass(frozen=True)
class Bench:
    key: str  # what --only selects
    label: str
    model: str
    recipe: str  # practice, tuned or examples (pytorch/examples' recipe, defined below)
    epochs: int | None  # None: the recipe's own
    batch_size: int | None = None  # None: the recipe's own
    seeds: int | None = None  # None: --seeds
    target: tuple[str, float, float] | None = None  # (kind, accuracy, seconds); kind: first or final


BENCHES = [
    Bench("fast", "CNN, tuned, `--epochs 1`", "cnn", "tuned", 1, target=("first", 0.99, 5)),
    Bench("long", "CNN, tuned, `--epochs 10 --batch-size 128`", "cnn", "tuned", 10, batch_size=128,
          target=("final", 0.995, 60)),
    Bench("mlp", "MLP, tuned", "mlp", "tuned", None, target=("first", 0.99, 15)),
    Bench("practice", "CNN, practice", "cnn", "practice", None, seeds=1),
    Bench("practice", "MLP, practice", "mlp", "practice", None, seeds=1),
    Bench("examples", "pytorch/examples' CNN and recipe", "examples", "examples", 2, seeds=1),
]
# The best test accuracy LeCun et al. 1998 report for each kind of network (the report cites the same table).
LECUN_1998 = {name: 1 - min(error for _, error in lecun_references(
    any(row.role == "conv" for row in describe(create_model(name))))) / 100 for name in MODELS}
KEYS = ["profile", *dict.fromkeys(b.key for b in BENCHES)]  # profile: phase shares of one tuned epoch
THRESHOLDS = (0.98, 0.99, 0.995)


class ExamplesNet(nn.Module):
    """pytorch/examples' MNIST network (1,199,882 parameters), as its mnist/main.py describes it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(64 * 12 * 12, 128)  # 9216: 64 maps of 12×12 after two 3×3 convs and a pool
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))  # (B, 32, 26, 26)
        x = F.relu(self.conv2(x))  # (B, 64, 24, 24)
        x = self.dropout1(F.max_pool2d(x, 2))  # (B, 64, 12, 12)
        x = F.relu(self.fc1(torch.flatten(x, 1)))  # (B, 128)
        return F.log_softmax(self.fc2(self.dropout2(x)), dim=1)  # (B, 10)


def examples_curve(seed, train, test, epochs):
    """pytorch/examples' recipe: Adadelta lr 1.0, StepLR γ 0.7 per epoch, batch 64, nll loss, inputs
    normalised with (0.1307, 0.3081); data from memory, as mnistlab's loop feeds its own."""
    normalise = lambda images: (images - 0.1307) / 0.3081  # noqa: E731
    torch.manual_seed(seed)
    model = ExamplesNet()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    images, labels = normalise(train[0]), train[1]
    points, seconds = [], 0.0
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        for indices in torch.utils.data.DataLoader(range(len(images)), batch_size=64, shuffle=True):
            optimizer.zero_grad()
            loss = F.nll_loss(model(images[indices]), labels[indices])
            loss.backward()
            optimizer.step()
        schedule.step()
        seconds += time.perf_counter() - started
        points.append((seconds, evaluate(model, normalise(test[0]), test[1]).overall_accuracy))
    return points


def curve(bench: Bench, seed: int, train, test, epochs, device):
    """[(cumulative training seconds, test accuracy)] after each epoch of one run."""
    if bench.recipe == "examples":
        return examples_curve(seed, train, test, epochs)
    points = []

    def score(epoch, result):
        points.append((result.train_seconds, evaluate(result.model, *test, device).overall_accuracy))

    config = TrainConfig(model=bench.model, recipe=bench.recipe, seed=seed, epochs=epochs,
                         batch_size=bench.batch_size, device=device)
    fit(config, *train, log=lambda _: None, on_epoch=score)
    return points


def profile_epoch(model_name, train, device):
    """Seconds spent in each phase of one epoch of the tuned recipe (with its own batch size)."""
    recipe = RECIPES["tuned"]
    _, lr, batch_size = recipe.defaults(model_name)
    torch.manual_seed(0)
    batches = torch.utils.data.DataLoader(range(len(train[0])), batch_size=batch_size, shuffle=True)
    plan = recipe.plan(model_name, create_model(model_name).to(device), len(batches) * 2, lr, device)
    model, optimizer, schedule = plan.model, plan.optimizer, plan.schedule
    augment, autocast, criterion = plan.augment, plan.autocast, plan.criterion
    phases = dict.fromkeys(["batch", "augmentation", "forward", "backward", "optimizer"], 0.0)
    clock = time.perf_counter()

    def lap(phase):
        nonlocal clock
        now = time.perf_counter()
        phases[phase] += now - clock
        clock = now

    for indices in batches:
        inputs, targets = train[0][indices], train[1][indices]
        lap("batch")
        inputs = augment(inputs) if augment is not None else inputs
        lap("augmentation")
        optimizer.zero_grad()
        with autocast():
            outputs = model(inputs)
        loss = criterion(outputs.float(), targets)
        lap("forward")
        loss.backward()
        lap("backward")
        optimizer.step()
        schedule.step()
        lap("optimizer")
    total = sum(phases.values())
    shares = ", ".join(f"{name} {seconds / total:.0%}" for name, seconds in phases.items())
    return f"{model_name}: one epoch, batch {batch_size}, {total:.1f} s ({len(train[0]) / total:,.0f} img/s): {shares}"


def first_reached(points, threshold):
    return next((seconds for seconds, accuracy in points if accuracy >= threshold), None)


def mean_curve(curves):
    """Epoch by epoch mean of several seeds' (seconds, accuracy) curves."""
    return [(statistics.mean(p[0] for p in column), statistics.mean(p[1] for p in column))
            for column in zip(*curves)]


def verdict(bench: Bench, mean) -> str:
    kind, accuracy, budget = bench.target
    if kind == "first":
        seconds = first_reached(mean, accuracy)
        met = seconds is not None and seconds <= budget
        figure = f"{seconds:.1f} s" if seconds is not None else "not reached"
        return f"first reaches {accuracy:.1%} within {budget} s: {'met' if met else 'MISSED'} ({figure})"
    seconds, final = mean[-1]
    met = final >= accuracy and seconds <= budget
    return (f"≥ {accuracy:.1%} within {budget} s: {'met' if met else 'MISSED'} "
            f"({final:.2%} after {seconds:.1f} s)")


def markdown_row(bench: Bench, seeds: int, curves, mean) -> str:
    seconds, accuracy = mean[-1]
    spread = f" ({min(c[-1][1] for c in curves):.2%}–{max(c[-1][1] for c in curves):.2%})" if seeds > 1 else ""
    cells = [f"{bench.label} ({seeds} seed{'s' if seeds > 1 else ''})",
             f"{accuracy:.2%}{spread} after {len(mean)} epoch{'s' if len(mean) > 1 else ''}, {seconds:.1f} s"]
    cells += [f"{s:.1f} s" if (s := first_reached(mean, t)) is not None else "–" for t in THRESHOLDS]
    return "| " + " | ".join(cells) + " |"


def draw(curves_by_model, out):
    """Mean test accuracy against training seconds, one panel per network, LeCun 1998 as a line."""
    fig, axes = plt.subplots(1, len(curves_by_model), figsize=(6 * len(curves_by_model), 4.5), squeeze=False)
    for ax, (model, lines) in zip(axes[0], curves_by_model.items()):
        for label, mean in lines:
            ax.plot([s for s, _ in mean], [a * 100 for _, a in mean], marker="o", label=label)
        if model.lower() in LECUN_1998:
            ax.axhline(LECUN_1998[model.lower()] * 100, color="gray", linestyle="--",
                       label=f"LeCun et al. 1998 ({LECUN_1998[model.lower()]:.2%})")
        lowest = min(a * 100 for _, mean in lines for _, a in mean)
        ax.set(title=model, xlabel="training seconds", ylabel="test accuracy (%)", ylim=(max(90, int(lowest) - 1), 100))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    plots.save_figure(fig, out)
    print(f"curves written to {out}")


def update_table(rows, header):
    text = TABLE_FILE.read_text()
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(text):
        print(f"{TABLE_FILE.name} has no {TABLE_START} ... {TABLE_END} block; paste the rows above by hand")
        return
    TABLE_FILE.write_text(pattern.sub(lambda _: "\n".join([TABLE_START, *header, *rows, TABLE_END]), text))
    print(f"{TABLE_FILE.name} table updated")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per tuned run (default 3)")
    parser.add_argument("--only", default=",".join(KEYS),
                        help=f"comma-separated subset of: {', '.join(KEYS)} (default all)")
    parser.add_argument("--quick", action="store_true", help="1 seed and 1 epoch per run: checks the script")
    parser.add_argument("--update-readme", action="store_true", help="rewrite the time-to-accuracy table in docs/tuned-recipe.md")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/time_to_accuracy.png"))
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (default auto)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    chosen = args.only.split(",")
    if unknown := set(chosen) - set(KEYS):
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}; choose from {', '.join(KEYS)}")

    status = data.ensure_mnist(args.data_dir)
    device = str(resolve_device(args.device))
    train = data.load_split(status.root, "train", device)
    test = data.load_split(status.root, "test", device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"OpenMP: {mnistlab.WAIT_POLICY}; clock: training only; accuracy: test set\n")

    if "profile" in chosen:
        for model_name in ("cnn", "mlp"):
            print("profile " + profile_epoch(model_name, train, device))
        print()
    rows, verdicts, curves_by_model = [], [], {}
    for bench in (b for b in BENCHES if b.key in chosen):
        seeds = 1 if args.quick else bench.seeds or args.seeds
        epochs = 1 if args.quick else bench.epochs
        curves = [curve(bench, seed, train, test, epochs, device) for seed in range(seeds)]
        mean = mean_curve(curves)
        print(f"{bench.label}, mean of {seeds} seed{'s' if seeds > 1 else ''} "
              f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        print("  epoch  seconds  test accuracy" + ("  per seed" if seeds > 1 else ""))
        for epoch, (seconds, accuracy) in enumerate(mean, 1):
            per_seed = "  ".join(f"{c[epoch - 1][1]:.2%}" for c in curves) if seeds > 1 else ""
            print(f"  {epoch:5d}  {seconds:7.1f}  {accuracy:13.2%}  {per_seed}")
        if bench.target and not args.quick:
            verdicts.append(f"{bench.label}: {verdict(bench, mean)}")
            print(f"  target: {verdicts[-1]}")
        rows.append(markdown_row(bench, seeds, curves, mean))
        curves_by_model.setdefault("CNN" if bench.model != "mlp" else "MLP", []).append((bench.label, mean))
        print()

    if verdicts:
        print("Targets (issue 13; mean of the seeds, training clock only):")
        print("\n".join(f"  {line}" for line in verdicts))
    header = ["| run (test accuracy: mean of the seeds, range) | at the end | 98% at | 99% at | 99.5% at |",
              "|---|---|---|---|---|"]
    print("\nMarkdown rows for docs/tuned-recipe.md:\n" + "\n".join(header + rows))
    if curves_by_model:
        draw(curves_by_model, args.out)
    if args.update_readme and not args.quick:
        update_table(rows, header)


if __name__ == "__main__":
    sys.exit(main())
