"""The command line's text tables, in the user's language: `mnistlab run`'s results side by side and
`mnistlab summary`'s per-layer table (torchinfo's summary, from layers.describe)."""

from __future__ import annotations

from mnistlab.errors import MnistlabError
from mnistlab.i18n import texts
from mnistlab.nets.layers import describe, format_shape, layer_kind
from mnistlab.nets.models import MODELS, count_parameters, create_model


def results_table(runs, lang: str | None = None) -> str:
    """Finished runs side by side: overall and per-digit test accuracy, parameters, training time; in
    `lang` (default: the locale's language)."""
    t = texts(lang)
    _ = t.gettext
    headers = [(_("{network} ({recipe}, pixels permuted)") if r.permuted else "{network} ({recipe})").format(
        network=MODELS[r.model].display_name, recipe=r.config.recipe) for r in runs]
    rows = [("", headers), (_("test accuracy"), [t.percent(r.metrics.overall_accuracy) for r in runs])]
    rows += [("  " + _("digit {digit}").format(digit=d), [t.percent(r.metrics.per_digit_accuracy[d]) for r in runs])
             for d in range(10)]
    rows += [
        (_("parameters"), [t.number(r.metrics.parameters or count_parameters(create_model(r.model))) for r in runs]),
        (_("training time"), [f"{t.number(r.metrics.train_seconds, 1)} s" for r in runs]),
        (_("steps"), [t.number(r.metrics.steps) for r in runs]),
        (_("device"), [r.metrics.device for r in runs]),
    ]
    width = max(14, *(len(cell) for _label, cells in rows for cell in cells))
    label_width = max(15, *(len(label) + 1 for label, _cells in rows))
    lines = [f"{label:<{label_width}}" + "".join(f"{cell:>{width + 2}}" for cell in cells) for label, cells in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def summary_table(name: str, lang: str | None = None) -> str:
    """Per-layer table in the spirit of torchinfo: layer, type, output shape, weights, biases, parameters."""
    t = texts(lang)
    _ = t.gettext
    model = create_model(name)
    layers = describe(model)
    rows = []
    for r in layers:
        learned = r.weight_shape is not None
        rows.append((_("input") if r.role == "input" else r.name, layer_kind(r.kind, t), format_shape(r.output_shape),
                     t.number(r.weights) if learned else "", t.number(r.biases) if learned else "",
                     "" if r.role == "input" else t.number(r.total)))
    image = layers[0].output_shape
    total = count_parameters(model)
    if total != sum(r.total for r in layers):
        raise MnistlabError(f"{name}: parameters outside named layers; the table would not add up")
    headers = (_("layer"), _("type"), _("output shape"), _("weights"), _("biases"), _("parameters"))
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]
    line = lambda r: "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    rule = "-" * len(line(headers))
    return "\n".join([_("{network} (one {shape} image in)").format(network=MODELS[name].display_name, shape=format_shape(image)),
                      rule, line(headers), rule, *map(line, rows), rule,
                      _("total parameters: {total} (all trainable)").format(total=t.number(total))])
