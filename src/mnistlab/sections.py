"""The report's seven sections as blocks for render.py: setup, results, where they fail, training,
parameters (deliverable 3), CNN layer sizes (deliverable 4) and the analysis (deliverable 2)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from mnistlab import data, plots, recipes
from mnistlab.analysis import NetworkNumbers, analysis_sentences, percent_pm
from mnistlab.evaluate import Evaluation
from mnistlab.layers import cnn_size_rows, format_shape, measured_shapes, parameter_rows
from mnistlab.models import count_parameters, create_model
from mnistlab.runs import Run

TRAIN_IMAGES = 60000
GALLERY = 24  # misclassified test images shown per network, the most confident mistakes first


@dataclass
class Network:
    runs: list[Run]  # every seed, lowest first
    numbers: NetworkNumbers
    evaluation: Evaluation  # the shown run's weights evaluated again, for the gallery

    @property
    def shown(self) -> Run:
        return self.runs[0]


def steps_per_epoch(config) -> int:
    return math.ceil((config.train_size or TRAIN_IMAGES) / config.batch_size)


def _one_of(networks, key) -> str:
    return ", ".join(sorted({str(getattr(r.metrics, key)) for n in networks for r in n.runs}))


def setup_section(networks: list[Network]) -> list:
    shown = networks[0].shown
    md5s = {k: v for n in networks for r in n.runs for k, v in r.metrics.data_md5.items()}
    checks = [[name, md5s.get(name, "not recorded"), "yes" if md5s.get(name) == md5 else "NO"]
              for name, md5 in data.MNIST_MD5.items()]
    good = sum(row[2] == "yes" for row in checks)

    def per_network(describe) -> str:
        """One value when both networks agree, else each network's."""
        values = [describe(n) for n in networks]
        return values[0] if len(set(values)) == 1 else "; ".join(
            f"{n.numbers.display}: {v}" for n, v in zip(networks, values))

    def recipe_of(n: Network) -> str:
        recipe = recipes.RECIPES.get(n.shown.config.recipe)
        return n.shown.config.recipe + (f": {recipe.summary}" if recipe else "")

    def seeds_of(n: Network) -> str:
        return (", ".join(str(r.config.seed) for r in n.runs) +
                f" ({len(n.runs)} run{'s' * (len(n.runs) > 1)} per network)")
    rows = [
        ["Data", f"MNIST: {TRAIN_IMAGES:,} training and {sum(map(sum, shown.metrics.confusion_matrix)):,} test images"],
        ["Data source", ", ".join(data.SOURCE_NAMES.get(s, s) for s in _one_of(networks, "data_source").split(", "))],
        ["Checksums", f"{good} of {len(checks)} files match torchvision's published md5"],
        ["Device", _one_of(networks, "device")],
        ["PyTorch", _one_of(networks, "torch_version")],
        ["Recipe", per_network(recipe_of)],
        ["Settings", per_network(lambda n: f"{n.shown.config.epochs} epochs, learning rate "
                                           f"{n.shown.config.lr}, batch size {n.shown.config.batch_size}")],
        ["Seeds", per_network(seeds_of)],
    ]
    for n in networks:
        steps = n.shown.metrics.steps
        rows.append([f"{n.numbers.display} training", f"{steps:,} steps ({steps / n.numbers.steps_per_epoch:.2f} "
                     f"epochs) per run; run folders: " + ", ".join(f"`{r.path}`" for r in n.runs)])
    blocks = [("p", "This report compares the two networks of the MNIST practice, a multilayer perceptron "
                    "and a LeNet-5-style CNN, using only numbers measured in the runs below."),
              ("table", ["", "value"], rows), ("table", ["file", "md5", "matches"], checks)]
    capped = sorted({n.shown.config.max_steps for n in networks if n.shown.config.max_steps})
    if capped:
        blocks.insert(1, ("p", f"Note: these are quick runs capped at {' / '.join(map(str, capped))} training "
                               f"steps, not the practice's full training; the numbers below say so."))
    return blocks


def results_section(networks: list[Network]) -> list:
    names = [n.numbers.display for n in networks]
    rows = [["test accuracy"] + [percent_pm(n.numbers.accuracies) for n in networks],
            ["test error"] + [f"{(1 - n.numbers.accuracy):.2%}" for n in networks],
            ["misclassified (run shown)"] + [f"{n.numbers.errors():,}" for n in networks],
            ["training time (s)"] + [f"{statistics.fmean(n.numbers.train_seconds):,.1f}" for n in networks],
            ["training steps"] + [f"{n.shown.metrics.steps:,}" for n in networks],
            ["inference (images/s)"] + [f"{statistics.fmean(n.numbers.images_per_second):,.0f} on "
                                        f"{n.numbers.device}" for n in networks],
            ["parameters"] + [f"{n.numbers.parameters:,}" for n in networks]]
    blocks = [("table", [""] + names, rows)]
    seeds = max(len(n.runs) for n in networks)
    if seeds > 1:
        blocks.insert(0, ("p", "Mean ± standard deviation (in percentage points) over the seeds."))
        by_seed = [{r.config.seed: r.metrics.overall_accuracy for r in n.runs} for n in networks]
        per_seed = [[f"seed {seed}"] + [f"{accuracy[seed]:.2%}" if seed in accuracy else "" for accuracy in by_seed]
                    for seed in sorted(set().union(*by_seed))]
        blocks.append(("table", ["test accuracy per seed"] + names, per_seed))
    totals = [sum(row) for row in networks[0].numbers.confusion]
    digits = []
    for d in range(10):
        values = [n.numbers.digit_accuracy[d] for n in networks]
        spreads = [[seed[d] for seed in n.numbers.per_digit] for n in networks]
        digits.append([str(d), f"{totals[d]:,}"] + [percent_pm(s) for s in spreads] +
                      [f"{(values[1] - values[0]) * 100:+.2f}"])
    blocks += [("table", ["digit", "test images"] + names + [f"{names[1]} − {names[0]} (points)"], digits),
               ("fig", "per_digit.png", "Per-digit test accuracy of both networks"
                + (" (error bars: standard deviation over seeds)" if seeds > 1 else ""))]
    return blocks


def failures_section(networks: list[Network]) -> list:
    pairs = [n.numbers.confused_pairs(5) for n in networks]
    rows = [[str(i + 1)] + [f"{p[i][0]} → {p[i][1]} ({p[i][2]} times)" if i < len(p) else "" for p in pairs]
            for i in range(max(map(len, pairs)))]
    blocks = [("p", f"Confusion matrices of the run shown (seed {networks[0].shown.config.seed}): rows are "
                    "the true digit, columns the prediction; the diagonal counts the correct answers."),
              ("figs", [(f"confusion_{n.numbers.name}.png", f"{n.numbers.display} confusion matrix") for n in networks]),
              ("table", ["most confused (true → predicted)"] + [n.numbers.display for n in networks], rows)]
    for n in networks:
        again, saved = n.evaluation.overall_accuracy, n.shown.metrics.overall_accuracy
        note = "" if round(again, 4) == round(saved, 4) else (
            f" Evaluating its weights again here gives {again:.2%} (metrics.json: {saved:.2%}): "
            f"the arithmetic of the device differs slightly.")
        blocks.append(("fig", f"misclassified_{n.numbers.name}.png",
                       f"{n.numbers.display}: its {GALLERY} most confident mistakes, as true → predicted "
                       f"(softmax confidence).{note}"))
    return blocks


def training_section(networks: list[Network]) -> list:
    rows = [[str(e + 1)] + [f"{n.numbers.epoch_loss[e]:.4f}" if e < len(n.numbers.epoch_loss) else ""
                            for n in networks] for e in range(max(len(n.numbers.epoch_loss) for n in networks))]
    return [("figs", [(f"loss_{n.numbers.name}.png", f"{n.numbers.display}: loss per step and its running "
                       f"average over {plots.RUNNING_AVERAGE} steps") for n in networks]),
            ("fig", "loss_comparison.png", "Both networks on one axis, in epochs (log scale)"),
            ("table", ["epoch", *(f"{n.numbers.display} mean loss" for n in networks)], rows)]


def parameters_section(networks: list[Network]) -> list:
    rows, totals = [], {}
    for n in networks:
        model = create_model(n.numbers.name)
        layers = parameter_rows(model)
        totals[n.numbers.display] = count_parameters(model)
        rows += [[n.numbers.display, r.name, r.kind, format_shape(r.weight_shape), f"{r.weights:,}",
                  f"{r.biases:,}", f"{r.total:,}"] for r in layers]
        rows.append([n.numbers.display, "total", "", "", f"{sum(r.weights for r in layers):,}",
                     f"{sum(r.biases for r in layers):,}", f"{totals[n.numbers.display]:,}"])
    (big, b), (small, s) = sorted(totals.items(), key=lambda t: -t[1])
    efficiency = [[n.numbers.display, f"{n.numbers.parameters:,}", f"{n.numbers.accuracy:.2%}",
                   f"{n.numbers.accuracy * 100 / (n.numbers.parameters / 1000):.3f}"] for n in networks]
    return [("p", "A Linear layer has inputs × outputs weights and one bias per output; a Conv2d layer has "
                  "out_channels × in_channels × kernel × kernel weights and one bias per output channel. "
                  "Pooling, ReLU and flattening have no parameters."),
            ("table", ["network", "layer", "type", "weight shape", "weights", "biases", "total"], rows),
            ("p", f"Totals: {big} {b:,} parameters, {small} {s:,}; the {big} has {b / s:.1f}× as many "
                  f"({b:,} / {s:,} = {b / s:.2f})."),
            ("table", ["network", "parameters", "test accuracy", "accuracy points per 1,000 parameters"],
             efficiency)]


def sizes_section() -> list:
    model = create_model("cnn")
    rows, measured = cnn_size_rows(model), measured_shapes(model)  # cnn_size_rows raises on a mismatch
    table, previous = [], None
    for row in rows:
        hooked = measured.get(row.layer, (None, None))[1]
        if row.layer == "flatten":
            hooked = measured["fc1"][0]  # the view has no module: fc1's input is what it produced
        table.append([row.layer, row.kind, format_shape(previous) if previous else "",
                      format_shape(row.shape), str(row.feature_maps or ""), str(row.kernel or ""),
                      str(row.stride or ""), "" if row.padding is None else str(row.padding), row.working,
                      f"{format_shape(hooked)} ✓" if hooked else "(the image)"])
        previous = row.shape
    return [("p", "Output size of a convolution or pooling layer: O = (W − F + 2P) / S + 1, with W the input "
                  "width, F the kernel size, P the padding and S the stride. Every row below is worked out with "
                  "this formula and checked against the shape measured with forward hooks on the network."),
            ("table", ["layer", "type", "input", "output (C × H × W)", "feature maps", "kernel", "stride",
                       "padding", "working", "measured"], table)]


SECTIONS = ["Setup", "Results", "Where they fail", "Training", "Parameters", "CNN layer sizes", "Analysis"]


def all_sections(networks: list[Network]) -> list[tuple[str, list]]:
    a, b = (n.numbers for n in networks)
    bodies = [setup_section(networks), results_section(networks), failures_section(networks),
              training_section(networks), parameters_section(networks), sizes_section(),
              [("p", sentence) for sentence in analysis_sentences(a, b)]]
    return list(zip(SECTIONS, bodies))
