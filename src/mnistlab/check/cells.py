"""The checks as functions for a notebook cell, an nbgrader/otter test cell or pytest: each judges one
item with the same verdicts as `mnistlab check`. On success it shows one line (HTML in Jupyter, plain
text elsewhere) and returns the Item; on failure it raises AssertionError with the explanation and a
hint; a part still left as the practice's `...` blanks shows a "not done yet" line instead.

    from mnistlab import check
    check.architecture(MultiLayerNN)        check.training(MultiLayerNN)     check.saved("multinn.pth")
    check.forward(MultiLayerNN)             check.evaluate(evaluate_accuracy)
    check.plots(train_loss, run_avg_train_loss)       check.accuracy(model1)
    check.parameters(texto)  check.sizes(texto)  check.analysis(texto)

These run in the student's own kernel (their own code, their own machine): no sandbox here; the
sandbox is for `mnistlab check` and `mnistlab grade`, which run other people's notebooks."""

from __future__ import annotations

import html
import inspect
import re
from pathlib import Path

import torch
import torch.nn as nn

from mnistlab.check import deliverables, items
from mnistlab.check.reference import practice_loop
from mnistlab.check.result import Item
from mnistlab.check.structure import describe, kind_of
from mnistlab.i18n import N_, texts
from mnistlab.nets.models import MODELS, create_model

HINTS = {
    "architecture": N_("compare your layers with the practice's list (sizes, kernel, stride, padding)"),
    "forward": N_("apply the layers in the practice's order, a ReLU after each hidden layer, and return the last "
                  "layer's output as it is"),
    "training": N_("compare each line of your loop with the practice's: zero_grad, forward, loss, backward, step"),
    "saved": N_("save with torch.save(model.state_dict(), \"./multinn.pth\") (\"./cnn.pth\" for the CNN)"),
    "evaluate": N_("divide the correct counts by the totals: overall and per digit"),
    "plots": N_("plot train_loss and np.convolve(train_loss, np.ones((N,))/N, mode=\"valid\") with N = 60"),
    "parameters": N_("a Linear layer has inputs × outputs weights plus one bias per output"),
    "sizes": N_("O = (W - F + 2P)/S + 1 for each conv and pooling layer"),
    "analysis": N_("compare the overall and per-digit accuracy of both networks"),
    "accuracy": N_("train with the practice's settings: SGD, lr=0.01, batch_size=64, 10 epochs"),
}


def _in_jupyter() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _show(symbol: str, colour: str, id: str, message: str):
    if _in_jupyter():
        from IPython.display import HTML, display

        display(HTML(f'<div style="font-family:sans-serif"><b style="color:{colour}">{symbol}</b> '
                     f'<code>{html.escape(id)}</code> — {html.escape(message)}</div>'))
    else:
        print(f"{symbol} {id}: {message}")


def _verdict(item: Item, hint_key: str, lang) -> Item:
    t = texts(lang)
    if item.passed:
        _show("✓", "#1a7f37", item.id, item.message + "".join(f" ({note})" for note in item.notes[:1]))
        return item
    hint = t.gettext("hint: {hint}").format(hint=t.gettext(HINTS[hint_key]))
    raise AssertionError(f"{item.id}: {item.message}\n{hint}")


def _not_done(id: str, lang) -> Item:
    t = texts(lang)
    message = t.gettext("not done yet: fill in the `...` of this part")
    _show("…", "#9a6700", id, message)
    return Item(id, False, 0.0, 0.0, message)


# The practice's blanks: nn.Linear(..., ...), `model1 = ...`, `optimizer....`, `return ...`, `F....`
PLACEHOLDER = re.compile(r"\(\s*\.\.\.\s*[,)]|,\s*\.\.\.\s*\)|\s\.\.\.\s*(#.*)?$|\w\.{4,}|\w\.\.\.\s*$|return\s+\.\.\.\s*$",
                         re.MULTILINE)


def _blank(error: BaseException | str | None, source: str = "") -> bool:
    """Whether a failure comes from the practice's `...` placeholders still in place."""
    return "ellipsis" in str(error or "").lower() or bool(PLACEHOLDER.search(source))


def _unset(value) -> bool:
    """A value the practice leaves as a blank: `...`, None, or text that is empty or only `...`."""
    if value is Ellipsis or value is None:
        return True
    return isinstance(value, str) and value.replace("...", "").replace("…", "").strip() == ""


def _source(obj) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return ""


def _build(network) -> tuple[nn.Module | None, str | None]:
    if isinstance(network, nn.Module):
        return network, None
    try:
        with torch.random.fork_rng():
            return network(), None
    except Exception as err:
        return None, f"{type(err).__name__}: {err}"


def _kind(network, model: nn.Module | None, kind: str | None) -> str:
    if kind:
        return kind
    if model is not None:
        found = kind_of(describe(model)["layers"])
        if found:
            return found
    name = (network if isinstance(network, str) else getattr(network, "__name__", type(network).__name__)).lower()
    return "cnn" if "cnn" in name or "conv" in name else "mlp"


def _record(network, model, error) -> dict:
    name = getattr(network, "__name__", type(network).__name__)
    return {"name": name, "error": error, "structure": describe(model) if model is not None else None}


def architecture(network, *, kind: str | None = None, lang=None) -> Item:
    """The class (or an instance, or its name) builds with no arguments and has the practice's layers and sizes."""
    name, network = network, _named(network)
    if network is Ellipsis:
        return _not_done(f"{kind or _kind(name, None, None)}.architecture", lang)
    model, error = _build(network)
    kind = _kind(network, model, kind)
    if error and _blank(error, _source(network)):
        return _not_done(f"{kind}.architecture", lang)
    item = items.architecture(kind, _record(network, model, error), describe(create_model(kind)), {}, texts(lang))
    if not item.passed and _blank(item.message, _source(network)):
        return _not_done(item.id, lang)
    return _verdict(item, "architecture", lang)


def _test_images(count=32, data_dir=None):
    from mnistlab.data import load_split

    images, _labels = load_split(data_dir, "test")
    generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,))))
    return images[torch.randperm(len(images), generator=generator)[:count]]


def forward(network, *, kind: str | None = None, lang=None, data_dir=None) -> Item:
    """With the reference's weights copied in by structure, the practice's outputs on real test images."""
    from mnistlab.check.structure import copy_by_structure

    name, network = network, _named(network)
    if network is Ellipsis:
        return _not_done(f"{kind or _kind(name, None, None)}.forward", lang)
    model, error = _build(network)
    kind = _kind(network, model, kind)
    if error:
        return _not_done(f"{kind}.forward", lang) if _blank(error, _source(network)) else \
            _verdict(items.forward(kind, {"error": error}, None, {}, None, {}, texts(lang)), "forward", lang)
    state = create_model(kind).state_dict()
    images = _test_images(data_dir=data_dir)
    outputs, record = None, {"error": None}
    try:
        if not copy_by_structure(model, state):
            raise ValueError("its parameters differ in shape from the practice's network")
        model.eval()
        with torch.no_grad():
            outputs = torch.as_tensor(model(images)).float()
    except Exception as err:
        record["error"] = f"{type(err).__name__}: {err}"
        if _blank(err, _source(network)):
            return _not_done(f"{kind}.forward", lang)
    return _verdict(items.forward(kind, record, outputs, state, images, {}, texts(lang)), "forward", lang)


def training(network, *, code: str | None = None, kind: str | None = None, lang=None, data_dir=None,
             seed: int | None = None) -> Item:
    """Runs the training cell again (`code`, else the last cell of this session's history that calls
    .backward() and names the class) on a small subset, with mnistlab's reference network in place of the
    class and a fresh seed, and compares its losses step by step with the practice's loop."""
    from mnistlab.check.evidence import rerun_training_cell
    from mnistlab.check.notebook import diagnose_losses, training_inputs

    given, network = network, _named(network)
    if network is Ellipsis:
        return _not_done(f"{kind or _kind(given, None, None)}.training", lang)
    name = getattr(network, "__name__", None) or type(network).__name__
    model, _error = _build(network)
    kind = _kind(network, model, kind)
    code = code if code is not None else _training_cell(name)
    t = texts(lang)
    if code is None:
        return _not_done(f"{kind}.training", lang)
    inputs = training_inputs(data_dir, seed)
    try:
        record = rerun_training_cell(code, _user_namespace(), {name: kind}, inputs.seed, inputs.train_dataset,
                                     inputs.test_dataset).get(kind)
    except Exception as err:
        if _blank(err, code):
            return _not_done(f"{kind}.training", lang)
        raise AssertionError(f"{kind}.training: " + t.gettext("the training cell fails: {error}").format(
            error=f"{type(err).__name__}: {err}")) from None
    _net, reference = practice_loop(kind, inputs.train_dataset, inputs.test_dataset, inputs.seed)
    if record is not None:
        record["subset_size"] = len(inputs.train_dataset)
    item = items.training(kind, record, reference,
                          lambda: diagnose_losses(kind, record, inputs, reference, t), {}, t)
    return _verdict(item, "training", lang)


def _user_namespace() -> dict:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        return dict(shell.user_ns)
    frame = inspect.currentframe()
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back  # the first frame outside this module: the caller's
    return dict(frame.f_globals) if frame is not None else {}


def _named(value):
    """`value`, or the object a name ("MultiLayerNN") stands for in the caller's namespace (Ellipsis when
    nothing has that name yet: a check cell may run before a cell with a blank could define it)."""
    if isinstance(value, str) and value.isidentifier():
        return _user_namespace().get(value, Ellipsis)
    return value


def _training_cell(name: str) -> str | None:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        return None
    if shell is None:
        return None
    history = shell.user_ns.get("In", [])
    for source in reversed(history[:-1]):
        if ".backward(" in source and name in source and "check." not in source:
            return source
    return None


def saved(path="multinn.pth", *, kind: str | None = None, lang=None) -> Item:
    """The file loads with weights_only=True into the practice's class."""
    from mnistlab.check.notebook import load_student_weights

    path = Path(path)
    kind = kind or ("cnn" if "cnn" in path.name.lower() else "mlp")
    if not path.exists():  # the cell that saves it has not run (or its blanks are still there)
        return _not_done(f"{kind}.saved", lang)
    network, problem = load_student_weights(kind, path, texts(lang))
    return _verdict(items.saved(kind, problem, False, {}, texts(lang)), "saved", lang)


def evaluate(evaluate_accuracy, *, lang=None, data_dir=None) -> Item:
    """The student's evaluate_accuracy on a freshly initialised reference network gives mnistlab's numbers."""
    import torchvision.datasets as datasets
    import torchvision.transforms as transforms

    from mnistlab.data import ensure_mnist
    from mnistlab.inference.evaluate import evaluate as score

    evaluate_accuracy = _named(evaluate_accuracy)
    if evaluate_accuracy is Ellipsis:
        return _not_done("evaluate", lang)
    root = ensure_mnist(data_dir).root
    torch.manual_seed(int(torch.randint(0, 2**31, (1,))))
    network = create_model("mlp")
    test_dataset = datasets.MNIST(root=str(root), train=False, download=False, transform=transforms.ToTensor())
    record = {"overall": None, "per_digit": None, "error": None}
    try:
        overall, per_digit = evaluate_accuracy(network, test_dataset, "cpu")
        record.update(overall=float(overall), per_digit=[float(v) for v in per_digit])
    except Exception as err:
        if _blank(err, _source(evaluate_accuracy)):
            return _not_done("evaluate", lang)
        record["error"] = f"{type(err).__name__}: {err}"
    images = test_dataset.data.unsqueeze(1).float().div(255)
    expected = score(network, images, test_dataset.targets)
    item = items.evaluate(record, expected.overall_accuracy, expected.per_digit_accuracy, {}, texts(lang))
    return _verdict(item, "evaluate", lang)


def plots(*curves, lang=None) -> Item:
    """The loss and its running average over 60 (one figure's curves: train_loss, run_avg_train_loss; or
    several such pairs for both networks). A curve may be given by its variable's name ("train_loss"), so
    that a check cell runs before the cells that define it have."""
    namespace = _user_namespace() if any(isinstance(c, str) for c in curves) else {}
    curves = [namespace.get(c) if isinstance(c, str) else c for c in curves]
    if not curves or any(_unset(c) or len(c) == 0 for c in curves):
        return _not_done("plots", lang)
    figure = {"lines": [[float(v) for v in curve] for curve in curves]}
    found = items.loss_figures([figure])
    t = texts(lang)
    if found:
        _show("✓", "#1a7f37", "plots", t.gettext("the loss and its running average over 60 steps"))
        return Item("plots", True, 0.0, 0.0, t.gettext("the loss and its running average over 60 steps"))
    return _verdict(items.plots([], {}, t), "plots", lang)


def _as_notebook(text: str) -> dict:
    return {"cells": [{"cell_type": "markdown", "source": "# Entregable"},
                      {"cell_type": "markdown", "source": str(text)}]}


def parameters(text: str, *, lang=None) -> Item:
    """Deliverable 3's answer mentions 669706 and 61706 (in any spelling: 669.706, 669,706 ...)."""
    if _unset(text):
        return _not_done("parameters", lang)
    return _verdict(deliverables.parameters(_as_notebook(text), {}, texts(lang)), "parameters", lang)


def sizes(text: str, *, lang=None) -> Item:
    """Deliverable 4's answer gives 6×28×28, 6×14×14 and 16×10×10 (in any spelling)."""
    if _unset(text):
        return _not_done("sizes", lang)
    return _verdict(deliverables.sizes(_as_notebook(text), {}, texts(lang)), "sizes", lang)


def analysis(text: str, *, lang=None) -> Item:
    """Deliverable 2's answer is there and more than a line (a person reads it)."""
    if _unset(text):
        return _not_done("analysis", lang)
    return _verdict(deliverables.analysis(_as_notebook(text), {}, texts(lang)), "analysis", lang)


def accuracy(*networks, lang=None, data_dir=None) -> Item:
    """Trained networks (or .pth paths) against the range the practice recipe really gives."""
    from mnistlab.check.notebook import load_student_weights, measured_accuracy
    from mnistlab.data import ensure_mnist

    t = texts(lang)
    found = {}
    if all(_unset(n) or (isinstance(n, (str, Path)) and not Path(n).exists()) for n in networks):
        return _not_done("accuracy", lang)  # nothing trained or saved yet
    for network in networks:
        if isinstance(network, (str, Path)):
            kind = "cnn" if "cnn" in Path(network).name.lower() else "mlp"
            network, _problem = load_student_weights(kind, Path(network), t)
            if network is None:
                continue
        kind = kind_of(describe(network)["layers"]) or "mlp"
        found[kind] = network
    measured = measured_accuracy(found, ensure_mnist(data_dir).root)
    return _verdict(deliverables.accuracy(measured, "weights", {}, t, kinds=tuple(found) or ("mlp", "cnn")),
                    "accuracy", lang)
