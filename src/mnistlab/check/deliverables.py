"""Verdicts on what the notebook says and what its networks reach: deliverables 2-4 read from its text,
and the accuracy of its trained networks against the range the practice recipe really gives."""

from __future__ import annotations

import json
from pathlib import Path

from mnistlab.check import text as notebook_text
from mnistlab.check.result import Item, scored
from mnistlab.i18n import Texts
from mnistlab.nets.models import MODELS

ACCURACY_RANGE = Path(__file__).with_name("accuracy_range.json")


def parameters(notebook, rubric, t: Texts) -> Item:
    _ = t.gettext
    prose = notebook_text.prose(notebook)
    missing = [kind for kind, count in notebook_text.PARAMETERS.items() if not notebook_text.mentions_number(prose, count)]
    if not missing:
        return scored("parameters", True, _("deliverable 3: the parameter counts {mlp} (MultiLayerNN) and {cnn} "
                                            "(CNN) are in the notebook's text").format(
            mlp=t.number(669706), cnn=t.number(61706)), rubric)
    return scored("parameters", False, _("deliverable 3: the notebook's text does not give the parameters of {names} "
                                         "(count weights and biases of every layer)").format(
        names=", ".join(MODELS[k].display_name for k in missing)), rubric)


def sizes(notebook, rubric, t: Texts) -> Item:
    _ = t.gettext
    found = notebook_text.sizes_found(notebook_text.prose(notebook))
    missing = [layer for layer in notebook_text.REQUIRED_SIZES if not found[layer]]
    if not missing:
        return scored("sizes", True, _("deliverable 4: the output sizes of the convolutional layers (6×28×28, "
                                       "6×14×14, 16×10×10) are in the notebook's text"), rubric)
    layer = missing[0]
    return scored("sizes", False, _("deliverable 4: the size after {layer} ({shape}) is not in the notebook's text; "
                                    "use O = (W - F + 2P)/S + 1").format(
        layer=layer, shape="×".join(map(str, notebook_text.SIZES[layer]))), rubric)


def analysis(notebook, rubric, t: Texts) -> Item:
    """Present and more than a line passes; the text is kept as a note for a person to read beside the
    numbers the notebook printed (a machine does not grade its reasoning)."""
    _ = t.gettext
    answer = notebook_text.analysis_text(notebook)
    printed = notebook_text.printed_accuracies(notebook)
    numbers = ", ".join(f"{MODELS[k].display_name} {v:.4f}" for k, v in sorted(printed.items())) or _("none printed")
    notes = [_("printed accuracies: {numbers}").format(numbers=numbers)] + ([answer[:3000]] if answer else [])
    if not answer:
        return scored("analysis", False, _("deliverable 2: no analysis of the results after the deliverables' list"),
                      rubric, notes)
    if not notebook_text.is_substantial(answer):
        return scored("analysis", False, _("deliverable 2: the analysis is a line; compare both networks' overall "
                                           "and per-digit accuracy in a few sentences"), rubric, notes)
    return scored("analysis", True, _("deliverable 2: an analysis of {words} words, for a person to read beside the "
                                      "printed accuracies ({numbers})").format(
        words=len(answer.split()), numbers=numbers), rubric, notes)


TOLERANCE_STDS = 4  # a seed of the practice's recipe lands outside mean ± 4 std about once in 250 (t, 9 dof)


def band(figures: dict) -> tuple[float, float]:
    """The accuracies accepted as the practice's recipe's: its seeds' mean ± TOLERANCE_STDS standard
    deviations, never narrower than the seeds' own [min, max]. [min, max] alone would fail about 2 in
    11 students who followed the recipe exactly (each student's run is one more seed)."""
    spread = TOLERANCE_STDS * figures.get("std", 0.0)
    return min(figures["min"], figures["mean"] - spread), max(figures["max"], figures["mean"] + spread)


def accuracy_range() -> dict:
    return json.loads(ACCURACY_RANGE.read_text(encoding="utf-8"))


def accuracy(measured: dict[str, float], source: str, rubric, t: Texts, kinds=("mlp", "cnn")) -> Item:
    """`measured` {"mlp": .., "cnn": ..}; `source` "weights" (mnistlab evaluated the .pth files outside the
    sandbox) or "printed" (the notebook's saved outputs)."""
    _ = t.gettext
    bounds = accuracy_range()
    if not measured:
        return scored("accuracy", False, _("no trained networks to measure: hand in multinn.pth and cnn.pth beside "
                                           "the notebook, or keep its outputs"), rubric)
    parts, passed = [], True
    for kind in kinds:
        if kind not in measured:
            parts.append(_("{name}: not found").format(name=MODELS[kind].display_name))
            passed = False
            continue
        low, high = band(bounds[kind])
        inside = low <= measured[kind] <= high
        passed &= inside
        parts.append(_("{name} {value} (the practice gives {low}–{high})").format(
            name=MODELS[kind].display_name, value=t.percent(measured[kind]), low=t.percent(low), high=t.percent(high)))
    message = "; ".join(parts)
    if source == "printed":
        message += " — " + _("as printed by the notebook")
    notes = [_("the accuracy range is provisional")] if bounds.get("provisional") else []
    return scored("accuracy", passed, message, rubric, notes)
