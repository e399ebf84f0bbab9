"""The report's seven sections as named blocks for the templates: setup, results, where they fail,
training, parameters (deliverable 3), CNN layer sizes (deliverable 4) and the analysis (deliverable 2),
every word in the report's language."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import ClassVar

import torch

from mnistlab import data, plots
from mnistlab.i18n import Texts
from mnistlab.nets.layers import LayerRow, format_shape, layer_kind
from mnistlab.report.analysis import Network, analysis_sentences, percent_pm, phrases, roles
from mnistlab.training import recipes

GALLERY = 24  # misclassified test images shown per network, the most confident mistakes first


@dataclass(frozen=True)
class Paragraph:
    kind: ClassVar[str] = "paragraph"
    text: str  # `code` spans in backticks


@dataclass(frozen=True)
class Table:
    kind: ClassVar[str] = "table"
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    kind: ClassVar[str] = "figure"
    file: str  # a PNG beside the page
    caption: str


@dataclass(frozen=True)
class Figures:
    """Figures side by side, one per network."""

    kind: ClassVar[str] = "figures"
    figures: list[Figure]


@dataclass(frozen=True)
class Section:
    anchor: str  # the same in every language, so links to a section keep working
    title: str
    blocks: list


def _one_of(values) -> str:
    return ", ".join(sorted({str(v) for v in values}))


def source_label(source: str, t: Texts) -> str:
    labels = {"local": t.gettext("files already on disk"), "torchvision": t.gettext("torchvision's official mirrors"),
              "pypi": t.gettext("the PyPI wheel {wheel}").format(wheel=data.WHEEL_REQUIREMENT)}
    return labels.get(source, source)


def recipe_label(name: str, t: Texts) -> str:
    """A recipe's name in the reader's language (the CLI value stays `practice` / `tuned`)."""
    return {"practice": t.pgettext("recipe", "practice"), "tuned": t.pgettext("recipe", "tuned")}.get(name, name)


def setup_section(networks: list[Network], t: Texts) -> list:
    _ = t.gettext
    every_run = [r for n in networks for r in n.runs]
    md5s = {k: v for r in every_run for k, v in r.metrics.data_md5.items()}
    from_files = [n for n in networks if n.file]
    if from_files:  # evaluated here, on the copy data.load_split has just verified
        md5s.update(data.MNIST_MD5)
    checks = [[name, md5s.get(name, _("not recorded")), _("yes") if md5s.get(name) == md5 else _("NO")]
              for name, md5 in data.MNIST_MD5.items()]
    good = sum(md5s.get(name) == md5 for name, md5 in data.MNIST_MD5.items())

    def per_network(describe) -> str:
        """One value when both networks agree, else each network's."""
        values = [describe(n) for n in networks]
        return values[0] if len(set(values)) == 1 else "; ".join(
            f"{n.display}: {v}" for n, v in zip(networks, values))

    def recipe_of(n: Network) -> str:
        if n.file:
            return _("unknown: a .pth file holds only the weights")
        name = n.runs[0].config.recipe
        recipe = recipes.RECIPES.get(name)
        return recipe_label(name, t) + (f": {_(recipe.summary)}" if recipe else "")

    def settings_of(n: Network) -> str:
        if n.file:
            return _("unknown")
        config = n.runs[0].config
        return t.ngettext("{epochs} epoch, learning rate {lr}, batch size {batch_size}",
                          "{epochs} epochs, learning rate {lr}, batch size {batch_size}", config.epochs).format(
            epochs=config.epochs, lr=t.exact(config.lr), batch_size=config.batch_size)

    def seeds_of(n: Network) -> str:
        if n.file:
            return _("unknown")
        return t.ngettext("{seeds} ({count} run per network)", "{seeds} ({count} runs per network)", len(n.runs)
                          ).format(seeds=", ".join(str(r.config.seed) for r in n.runs), count=len(n.runs))
    rows = [
        [_("Data"), _("MNIST: {train} training and {test} test images").format(
            train=t.number(data.TRAIN_IMAGES), test=t.number(sum(map(sum, networks[0].confusion))))],
        [_("Data source"), ", ".join(source_label(s, t) for s in sorted(
            {r.metrics.data_source for r in every_run} | ({"local"} if from_files else set())))],
        [_("Checksums"), _("{good} of {count} files match torchvision's published md5").format(
            good=good, count=len(checks))],
        [_("Device"), _one_of([r.metrics.device for r in every_run] + ["cpu" for _n in from_files])],
        ["PyTorch", _one_of([r.metrics.torch_version for r in every_run] + [torch.__version__ for _n in from_files])],
        [_("Recipe"), per_network(recipe_of)],
        [_("Settings"), per_network(settings_of)],
        [_("Seeds"), per_network(seeds_of)],
    ]
    for n in networks:
        if n.file:
            rows.append([_("{network} training").format(network=n.display, **phrases(n, t)),
                         _("the weights file `{file}`, evaluated here on the test and training images; how it was "
                           "trained (recipe, steps, loss history, time) is not recorded in it").format(file=n.file)])
            continue
        steps = n.runs[0].metrics.steps
        rows.append([_("{network} training").format(network=n.display, **phrases(n, t)),
                     _("{steps} steps ({epochs} epochs) per run; run folders: {folders}").format(
                         steps=t.number(steps), epochs=t.number(steps / n.steps_per_epoch, 2),
                         folders=", ".join(f"`{r.path}`" for r in n.runs))])
    blocks = [Paragraph(_("This report compares the two networks of the MNIST practice, a multilayer perceptron "
                          "and a LeNet-5-style CNN, using only numbers measured in the runs below.")),
              Table(["", _("value")], rows), Table([_("file"), "md5", _("matches")], checks)]
    capped = sorted({n.runs[0].config.max_steps for n in networks if n.runs and n.runs[0].config.max_steps})
    if capped:
        blocks.insert(1, Paragraph(_("Note: these are quick runs capped at {steps} training steps, not the "
                                     "practice's full training; the numbers below say so.").format(
            steps=" / ".join(t.number(s) for s in capped))))
    return blocks


UNKNOWN = "—"  # a number the runs do not hold (a .pth file's training, a run from before it was measured)


def train_accuracy_text(n: Network, t: Texts) -> str:
    """Training-set accuracy over the seeds that measured it; — for runs from before 0.3.0."""
    measured = [a for a in n.train_accuracy if a is not None]
    return percent_pm(measured, t) if measured else UNKNOWN


def results_section(networks: list[Network], t: Texts) -> list:
    _ = t.gettext
    names = [n.display for n in networks]
    rows = [[_("test accuracy")] + [percent_pm(n.accuracies, t) for n in networks],
            [_("training-set accuracy")] + [train_accuracy_text(n, t) for n in networks],
            [_("test error")] + [t.percent(1 - n.accuracy) for n in networks],
            [_("misclassified (run shown)")] + [t.number(n.errors) for n in networks],
            [_("training time (s)")] + [t.number(statistics.fmean(n.train_seconds), 1) if n.train_seconds else UNKNOWN
                                        for n in networks],
            [_("training steps")] + [t.number(n.runs[0].metrics.steps) if n.runs else UNKNOWN for n in networks],
            [_("inference (images/s)")] + [_("{speed} on {device}").format(
                speed=t.number(statistics.fmean(n.images_per_second)), device=n.device) for n in networks],
            [_("parameters")] + [t.number(n.parameters) for n in networks]]
    blocks = [Table([""] + names, rows)]
    seeds = max(len(n.runs) for n in networks)
    if seeds > 1:
        blocks.insert(0, Paragraph(_("Mean ± standard deviation (in percentage points) over the seeds.")))
        by_seed = [{r.config.seed: r.metrics.overall_accuracy for r in n.runs} for n in networks]
        per_seed = [[_("seed {seed}").format(seed=seed)] + [t.percent(acc[seed]) if seed in acc else "" for acc in by_seed]
                    for seed in sorted(set().union(*by_seed))]
        blocks.append(Table([_("test accuracy per seed")] + names, per_seed))
    totals = [sum(row) for row in networks[0].confusion]
    digits = []
    for d in range(10):
        values = [n.digit_accuracy[d] for n in networks]
        digits.append([str(d), t.number(totals[d])] + [percent_pm([seed[d] for seed in n.per_digit], t)
                                                        for n in networks] + [t.signed((values[1] - values[0]) * 100)])
    difference = _("{second} − {first} (points)").format(first=names[0], second=names[1])
    caption = (_("Per-digit test accuracy of both networks (error bars: standard deviation over seeds)") if seeds > 1
               else _("Per-digit test accuracy of both networks"))
    return blocks + [Table([_("digit"), _("test images")] + names + [difference], digits),
                     Figure("per_digit.png", caption)]


def failures_section(networks: list[Network], t: Texts) -> list:
    _ = t.gettext
    pairs = [n.confused_pairs(5) for n in networks]
    rows = [[str(i + 1)] + [t.ngettext("{true} → {predicted} ({count} time)", "{true} → {predicted} ({count} times)",
                                       p[i][2]).format(true=p[i][0], predicted=p[i][1], count=t.number(p[i][2]))
                            if i < len(p) else "" for p in pairs]
            for i in range(max(map(len, pairs)))]
    seeds = {n.runs[0].config.seed for n in networks if n.runs}
    blocks = [Paragraph(_("Confusion matrices of the run shown (seed {seed}): rows are the true digit, columns the "
                          "prediction; the diagonal counts the correct answers.").format(seed=seeds.pop())
                        if len(seeds) == 1 and all(n.runs for n in networks) else
                        _("Confusion matrices: rows are the true digit, columns the prediction; the diagonal counts "
                          "the correct answers.")),
              Figures([Figure(f"confusion_{n.name}.png", _("{network} confusion matrix").format(
                  network=n.display, **phrases(n, t))) for n in networks]),
              Table([_("most confused (true → predicted)")] + [n.display for n in networks], rows)]
    for n in networks:
        again, saved = n.evaluation.overall_accuracy, n.accuracies[0]
        note = "" if round(again, 4) == round(saved, 4) else " " + _(
            "Evaluating its weights again here gives {again} (metrics.json: {saved}): the arithmetic of the device "
            "differs slightly.").format(again=t.percent(again), saved=t.percent(saved))
        blocks.append(Figure(f"misclassified_{n.name}.png", _(
            "{network}: its {count} most confident mistakes, as true → predicted (softmax confidence).").format(
            network=n.display, count=GALLERY) + note))
    return blocks


def training_section(networks: list[Network], t: Texts) -> list:
    """The loss curves and per-epoch losses; a network known from a .pth file alone has none, and the
    section says so instead."""
    _ = t.gettext
    blocks = [Paragraph(_("{network}: no loss history. A .pth file holds only the weights, so its training curve and "
                          "per-epoch loss cannot be shown; `mnistlab train` records them in its run folder.").format(
        network=n.display)) for n in networks if not n.loss]
    traced = [n for n in networks if n.loss]
    if not traced:
        return blocks
    rows = [[str(e + 1)] + [t.number(n.epoch_loss[e], 4) if e < len(n.epoch_loss) else "" for n in traced]
            for e in range(max(len(n.epoch_loss) for n in traced))]
    blocks.append(Figures([Figure(f"loss_{n.name}.png", _("{network}: loss per step and its running average over "
                                                          "{window} steps").format(network=n.display,
                                                                                   window=plots.RUNNING_AVERAGE))
                           for n in traced]))
    if len(traced) == len(networks):
        blocks.append(Figure("loss_comparison.png", _("Both networks on one axis, in epochs (log scale)")))
    blocks.append(Table([_("epoch"), *(_("{network} mean loss").format(network=n.display, **phrases(n, t))
                                       for n in traced)], rows))
    return blocks


def parameters_section(networks: list[Network], t: Texts) -> list:
    _ = t.gettext
    rows = []
    for n in networks:
        rows += [[n.display, r.name, r.kind, format_shape(r.weight_shape), t.number(r.weights), t.number(r.biases),
                  t.number(r.total)] for r in n.layers]
        rows.append([n.display, _("total"), "", "", t.number(sum(r.weights for r in n.layers)),
                     t.number(sum(r.biases for r in n.layers)), t.number(n.parameters)])
    big, small = sorted(networks, key=lambda n: -n.parameters)
    efficiency = [[n.display, t.number(n.parameters), t.percent(n.accuracy), t.number(n.errors)] for n in networks]
    ratio = big.parameters / small.parameters
    totals = _("Totals: {big} {big_parameters} parameters, {small} {small_parameters}; {the_big} has {ratio}× as many "
               "({big_parameters} / {small_parameters} = {exact}).").format(
        **roles(t, big=big, small=small), big_parameters=t.number(big.parameters),
        small_parameters=t.number(small.parameters), ratio=t.number(ratio, 1), exact=t.number(ratio, 2))
    return [Paragraph(_("A Linear layer has inputs × outputs weights and one bias per output; a Conv2d layer has "
                        "out_channels × in_channels × kernel × kernel weights and one bias per output channel. "
                        "Pooling, ReLU and flattening have no parameters.")),
            Table([_("network"), _("layer"), _("type"), _("weight shape"), _("weights"), _("biases"), _("total")], rows),
            Paragraph(totals),
            Table([_("network"), _("parameters"), _("test accuracy"), _("misclassified (run shown)")], efficiency)]


def sizes_section(layers: list[LayerRow], t: Texts) -> list:
    """The CNN's rows from layers.describe, whose sizes are worked out with the formula and checked
    against the shapes its forward pass produced (a mismatch raises there)."""
    _ = t.gettext
    table = []
    for row in layers:
        first = row.role == "input"
        table.append([_("input") if first else row.name, layer_kind(row.kind, t),
                      format_shape(row.input_shape) if row.input_shape else "",
                      format_shape(row.output_shape), str(row.feature_maps or ""), str(row.kernel or ""),
                      str(row.stride or ""), "" if row.padding is None else str(row.padding),
                      _("one 28×28 grayscale image") if first else row.working,
                      _("(the image)") if first else f"{format_shape(row.output_shape)} ✓"])
    return [Paragraph(_("Output size of a convolution or pooling layer: O = (W − F + 2P) / S + 1, with W the input "
                        "width, F the kernel size, P the padding and S the stride. Every row below is worked out with "
                        "this formula and checked against the shape measured with forward hooks on the network.")),
            Table([_("layer"), _("type"), _("input"), _("output (C × H × W)"), _("feature maps"), _("kernel"),
                   _("stride"), _("padding"), _("working"), _("measured")], table),
            Figure("feature_maps.png", _("The trained CNN on the first test image: the 6 filters of conv1 (red "
                                         "positive, blue negative weights), the 6 feature maps they make (28 × 28, "
                                         "after ReLU) and the 16 feature maps of conv2 (10 × 10). Bright is a "
                                         "strong activation."))]


def all_sections(networks: list[Network], cnn_layers: list[LayerRow], t: Texts) -> list[Section]:
    _ = t.gettext
    a, b = networks
    return [
        Section("setup", _("Setup"), setup_section(networks, t)),
        Section("results", _("Results"), results_section(networks, t)),
        Section("where-they-fail", _("Where they fail"), failures_section(networks, t)),
        Section("training", _("Training"), training_section(networks, t)),
        Section("parameters", _("Parameters"), parameters_section(networks, t)),
        Section("cnn-layer-sizes", _("CNN layer sizes"), sizes_section(cnn_layers, t)),
        Section("analysis", _("Analysis"), [Paragraph(s) for s in analysis_sentences(a, b, t.lang)]),
    ]
