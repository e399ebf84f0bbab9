"""The trusted side: every verdict, computed outside the sandbox from its evidence (read as untrusted
data) and from references mnistlab computes itself. Each function judges one item and returns its Item."""

from __future__ import annotations

import numpy as np
import torch

from mnistlab.check.mistakes import matching_forward_mistake, same_outputs
from mnistlab.check.result import Item, scored
from mnistlab.check.structure import LAYER_TYPES
from mnistlab.i18n import Texts
from mnistlab.nets.models import MODELS, create_model

RUNNING_AVERAGE = 60  # the practice's N for the smoothed loss curve
LAYER_NAMES = {layer.__name__ for layer in LAYER_TYPES}


def shape_text(shape) -> str:
    return "×".join(str(n) for n in shape) if shape else "?"


def _weighted(layers, pools=True):
    return [l for l in layers if l["type"] in LAYER_NAMES and (pools or l["type"] != "MaxPool2d")]


def architecture(kind: str, record: dict | None, reference: dict, rubric, t: Texts) -> Item:
    _ = t.gettext
    id, name = f"{kind}.architecture", MODELS[kind].display_name
    if record is None:
        return scored(id, False, _("no {name} class found: define it as in the practice "
                                   "(class {name}(nn.Module))").format(name=name), rubric)
    if record.get("error") or not record.get("structure"):
        return scored(id, False, _("{name}() fails: {error}; it must build with no arguments").format(
            name=record["name"], error=record.get("error")), rubric)
    got = record["structure"]
    notes = []
    want_layers = _weighted(reference["layers"])
    has_pools = any(l["type"] == "MaxPool2d" for l in got["layers"])
    got_layers = _weighted(got["layers"], pools=True)
    if not has_pools and kind == "cnn":
        want_layers = _weighted(reference["layers"], pools=False)
        notes.append(_("no nn.MaxPool2d layers: pooling done in forward cannot be read, only its effect"))
    problem = layer_problem(got_layers, want_layers, t)
    if problem:
        return scored(id, False, problem, rubric)
    if got["parameters"] != reference["parameters"]:
        return scored(id, False, _("{count} parameters; the practice's {name} has {want}").format(
            count=t.number(got["parameters"]), name=name, want=t.number(reference["parameters"])), rubric)
    if got.get("forward_error"):
        return scored(id, False, _("forward fails on one 1×28×28 image: {error}").format(
            error=got["forward_error"]), rubric)
    renamed = [key for key, _shape in got["state"]] != [key for key, _shape in reference["state"]]
    if renamed:
        notes.append(_("other attribute names than the practice's ({names}): the same structure, but weights "
                       "saved from this class will not load into the practice's {name}").format(
            names=", ".join(key for key, _shape in got["state"][:3]) + ", …", name=name))
    message = _("{name}: the practice's layers, {count} parameters").format(
        name=record["name"], count=t.number(got["parameters"]))
    if kind == "cnn":
        message += "; " + ", ".join(f"{l['name']} {shape_text(l['output'])}" for l in got_layers
                                     if l["type"] != "Linear")
    if renamed:
        message += " " + _("(other attribute names: see the note)")
    return scored(id, True, message, rubric, notes)


def layer_problem(got: list[dict], want: list[dict], t: Texts) -> str | None:
    """What first differs between two layer lists, said in the practice's terms (None: same structure)."""
    _ = t.gettext
    if [l["type"] for l in got] != [l["type"] for l in want]:
        return _("the layers are {got}; the practice's are {want}").format(
            got=", ".join(l["type"] for l in got) or "—", want=", ".join(l["type"] for l in want))
    for mine, theirs in zip(got, want):
        for setting, value in theirs.items():
            if setting in ("name", "type", "output") or mine.get(setting) == value:
                continue
            message = _("{layer} ({type}) has {setting}={got}; the practice's has {setting}={want}").format(
                layer=mine["name"], type=mine["type"], setting=setting, got=mine.get(setting), want=value)
            if mine.get("output") and theirs.get("output") and mine["output"] != theirs["output"]:
                message += " " + _("(its output is {got} instead of {want})").format(
                    got=shape_text(mine["output"]), want=shape_text(theirs["output"]))
            return message
        if mine.get("output") and theirs.get("output") and mine["output"] != theirs["output"]:
            return _("{layer} gives {got} instead of {want}").format(
                layer=mine["name"], got=shape_text(mine["output"]), want=shape_text(theirs["output"]))
    return None


def forward(kind: str, record: dict | None, outputs: torch.Tensor | None, state: dict, images: torch.Tensor,
            rubric, t: Texts) -> Item:
    _ = t.gettext
    id, name = f"{kind}.forward", MODELS[kind].display_name
    if record is None:
        return scored(id, False, _("no {name} class to run").format(name=name), rubric)
    if record.get("error") or outputs is None:
        return scored(id, False, _("with the reference's weights, forward fails: {error}").format(
            error=record.get("error") or _("no outputs")), rubric)
    reference = create_model(kind)
    reference.load_state_dict(state)
    reference.eval()
    with torch.no_grad():
        expected = reference(images)
    if same_outputs(outputs, expected):
        return scored(id, True, _("with the reference's weights, the same outputs as the practice's {name} on "
                                  "{count} test images").format(name=name, count=len(images)), rubric)
    if outputs.shape != expected.shape:
        return scored(id, False, _("forward gives outputs of shape {got}; the practice's gives {want}").format(
            got=shape_text(tuple(outputs.shape)), want=shape_text(tuple(expected.shape))), rubric)
    mistake = matching_forward_mistake(kind, state, images, outputs)
    if mistake:
        return scored(id, False, _(mistake), rubric)
    gap = float((outputs - expected).abs().max())
    return scored(id, False, _("with the reference's weights, the outputs differ from the practice's by up to "
                               "{gap} (no catalogued mistake matches): compare forward with the practice's "
                               "step by step").format(gap=f"{gap:.3g}"), rubric)


def training(kind: str, record: dict | None, reference: list[float], diagnose, rubric, t: Texts,
             untraced: bool = False) -> Item:
    """`diagnose()` replays the loop catalogue outside and returns (message or None, first step, gap);
    `untraced`: some cell trained a network that was not built from a class defined in an earlier cell."""
    _ = t.gettext
    id, name = f"{kind}.training", MODELS[kind].display_name
    if record is None and untraced:
        return scored(id, False, _("a cell trains a network not built from a {name} class defined in an earlier "
                                   "cell, so the check could not put the practice's network in its place; define "
                                   "the class in its own cell, as the practice does").format(name=name), rubric)
    if record is None:
        return scored(id, False, _("no training cell trained a {name}: no loss.backward() was seen on it").format(
            name=name), rubric)
    losses = record.get("losses") or []
    if losses == reference:
        return scored(id, True, _("the loop gives, step by step, the practice's losses ({count} steps on a "
                                  "{size}-image subset, seed chosen at check time)").format(
            count=len(losses), size=record.get("subset_size", "?")), rubric)
    message, step, gap = diagnose()
    if message:
        return scored(id, False, message, rubric)
    if not losses:
        return scored(id, False, _("the training cell recorded no losses (train_loss stayed empty)"), rubric)
    if step is not None and step >= min(len(losses), len(reference)):
        return scored(id, False, _("{got} steps instead of the practice's {want} (num_epochs = 10 over the "
                                   "whole train_loader); the first {same} losses are the practice's").format(
            got=len(losses), want=len(reference), same=min(len(losses), len(reference))), rubric)
    return scored(id, False, _("the losses differ from the practice's from step {step} on (by {gap}); no "
                               "catalogued mistake matches").format(step=step + 1 if step is not None else "?",
                                                                    gap=f"{gap:.3g}"), rubric)


def saved(kind: str, load_problem: str | None, renamed: bool, rubric, t: Texts) -> Item:
    _ = t.gettext
    id, file, name = f"{kind}.saved", {"mlp": "multinn.pth", "cnn": "cnn.pth"}[kind], MODELS[kind].display_name
    if load_problem:
        return scored(id, False, load_problem, rubric)
    if renamed:
        return scored(id, False, _("{file} is written, but your class's attribute names differ from the "
                                   "practice's: its weights will not load into the practice's {name}").format(
            file=file, name=name), rubric)
    return scored(id, True, _("{file} written and loadable into the practice's {name} (weights_only=True)").format(
        file=file, name=name), rubric)


def evaluate(record: dict | None, expected_overall: float, expected_digits: list[float], rubric, t: Texts) -> Item:
    _ = t.gettext
    if record is None:
        return scored("evaluate", False, _("no evaluate_accuracy function found"), rubric)
    if record.get("error"):
        return scored("evaluate", False, _("evaluate_accuracy fails on a reference network: {error}").format(
            error=record["error"]), rubric)
    overall, digits = record.get("overall"), record.get("per_digit") or []
    if overall is None or abs(overall - expected_overall) > 1e-6:
        return scored("evaluate", False, _("on a reference network, evaluate_accuracy gives an overall accuracy of "
                                           "{got}; mnistlab measures {want}").format(
            got=overall, want=f"{expected_overall:.4f}"), rubric)
    if len(digits) != 10 or any(abs(a - b) > 1e-6 for a, b in zip(digits, expected_digits)):
        wrong = next((d for d in range(10) if d >= len(digits) or abs(digits[d] - expected_digits[d]) > 1e-6), 0)
        return scored("evaluate", False, _("on a reference network, the accuracy of digit {digit} is {got}; "
                                           "mnistlab measures {want}").format(
            digit=wrong, got=digits[wrong] if wrong < len(digits) else "—", want=f"{expected_digits[wrong]:.4f}"),
            rubric)
    return scored("evaluate", True, _("evaluate_accuracy gives mnistlab's overall and per-digit accuracy on a "
                                      "reference network ({overall})").format(overall=f"{overall:.4f}"), rubric)


def running_average(values, n=RUNNING_AVERAGE):
    return np.convolve(np.asarray(values, dtype=float), np.ones((n,)) / n, mode="valid")


def loss_figures(figures: list[dict]) -> list[dict]:
    """Figures holding a curve and its running average over 60 steps (computed here from the curve)."""
    found = []
    for figure in figures:
        lines = [np.asarray(l, dtype=float) for l in figure.get("lines", []) if len(l) > 0]
        for raw in lines:
            if len(raw) <= RUNNING_AVERAGE:
                continue
            smooth = running_average(raw)
            if any(len(l) == len(smooth) and np.allclose(l, smooth, rtol=1e-6, atol=1e-9) for l in lines):
                found.append(figure)
                break
    return found


def plots(figures: list[dict], rubric, t: Texts) -> Item:
    _ = t.gettext
    found = loss_figures(figures)
    if len(found) >= 2:
        return scored("plots", True, _("both loss figures drawn, each with its running average over 60 steps"),
                      rubric)
    if not found:
        return scored("plots", False, _("no loss figure with the running average over 60 steps "
                                        "(np.convolve(train_loss, np.ones((60,))/60, mode=\"valid\"))"), rubric)
    return scored("plots", False, _("only one loss figure with its running average over 60 steps; the practice "
                                    "draws one per network"), rubric)
