"""What runs inside the sandbox: executes a notebook's code cells one by one (a failing cell is recorded
and the next one still runs), and writes what it saw as size-capped JSON and plain tensors. It judges
nothing: the trusted side (items.py) compares this evidence with references computed outside.

    python -m mnistlab.check.evidence CHECK_DIR      # reads CHECK_DIR/plan.json, writes evidence.json

In "subset" mode the training set is the plan's subset, and each network class the notebook defines is
replaced, once defined, by mnistlab's reference class (seeded with the plan's seed when built); in "full"
mode the notebook runs as written."""

from __future__ import annotations

import builtins
import io
import json
import os
import signal
import sys
import traceback
from pathlib import Path

TEXT_CAP = 4000  # characters of a cell's printed output kept
SERIES_CAP = 20000  # values of a loss list or a plotted line kept
EVIDENCE = "evidence.json"
STUDENT_FILES = {"mlp": "multinn.pth", "cnn": "cnn.pth"}  # what the practice saves


class CellTimeout(BaseException):
    """Raised by the alarm in a cell that runs too long (BaseException: `except Exception` won't eat it)."""


class CappedText(io.TextIOBase):
    def __init__(self):
        self.parts, self.size = [], 0

    def write(self, text):
        if self.size < TEXT_CAP:
            self.parts.append(text[: TEXT_CAP - self.size])
            self.size += len(self.parts[-1])
        return len(text)

    def getvalue(self):
        return "".join(self.parts)


class FakeShell:
    """get_ipython() for cells with `!pip ...` or `%matplotlib`: shell commands and magics are skipped."""

    def __init__(self):
        self.skipped = []

    def system(self, command, *args, **kwargs):
        self.skipped.append("!" + str(command)[:200])

    def run_line_magic(self, name, line, *args, **kwargs):
        self.skipped.append(f"%{name} {line}"[:200])

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        self.skipped.append(f"%%{name} {line}"[:200])

    getoutput = system


def series(values) -> list[float] | None:
    """A list/array of numbers as floats (capped), or None when it is not one."""
    try:
        floats = [float(v) for v in list(values)[:SERIES_CAP]]
    except (TypeError, ValueError):
        return None
    return floats


class Recorder:
    def __init__(self, plan, check_dir: Path):
        self.plan, self.check_dir = plan, check_dir
        self.evidence = {"mode": plan["mode"], "cells": [], "classes": {}, "training": {}, "evaluate": None,
                         "forward": {}, "finished": False}
        self.student_classes = {}  # kind -> the class as the notebook wrote it
        self.backward_losses, self.trained = [], set()
        self.seen = set()  # classes already described (the student's, and the references put in their place)

    def write(self):
        path = self.check_dir / EVIDENCE
        text = json.dumps(self.evidence)
        (self.check_dir / (EVIDENCE + ".tmp")).write_text(text)
        os.replace(self.check_dir / (EVIDENCE + ".tmp"), path)


def patch_mnist(plan):
    """torchvision's MNIST, trimmed to the plan's subset of the training set (subset mode only)."""
    import torch
    import torchvision.datasets as datasets
    import torchvision.datasets.mnist as mnist_module

    indices = torch.tensor(plan["train_indices"], dtype=torch.long)
    original = mnist_module.MNIST

    class MNIST(original):
        def __init__(self, root, train=True, *args, **kwargs):
            super().__init__(root, train, *args, **kwargs)
            if train:
                self.data, self.targets = self.data[indices], self.targets[indices]

    MNIST.__module__, MNIST.__qualname__ = original.__module__, "MNIST"
    datasets.MNIST = mnist_module.MNIST = MNIST
    return original


def reference_class(kind, name, seed, trained: set):
    """mnistlab's `kind` network under the student's class name, seeded with `seed` when built; `trained`
    collects the kinds whose forward ran in training mode with gradients (a training step)."""
    import torch

    from mnistlab.nets.models import MODELS

    class Reference(MODELS[kind].cls):
        def __init__(self, *args, **kwargs):  # the student's arguments, if any, are not needed
            torch.manual_seed(seed)
            super().__init__()

        def forward(self, x):
            if self.training and torch.is_grad_enabled():
                trained.add(kind)
            return super().forward(x)

    Reference.__name__ = Reference.__qualname__ = name
    Reference.__module__ = "mnistlab.check.reference"  # not "__main__", where the notebook's classes live
    return Reference


class BackwardLog:
    """Records the value of every scalar .backward() while active (the losses a loop backpropagates)."""

    def __init__(self):
        self.losses = []

    def __enter__(self):
        import torch

        self.original = original = torch.Tensor.backward
        losses = self.losses

        def backward(tensor, *args, **kwargs):
            if tensor.numel() == 1 and len(losses) < SERIES_CAP:
                losses.append(float(tensor.detach()))
            return original(tensor, *args, **kwargs)

        torch.Tensor.backward = backward
        return self

    def __exit__(self, *exc):
        import torch

        torch.Tensor.backward = self.original


def rerun_training_cell(code, namespace, classes: dict, seed, train_dataset, test_dataset) -> dict:
    """Run a training cell again in a copy of `namespace`, with the reference network in place of each
    class in `classes` {name: kind} and the given datasets: {kind: training record}. For checks run in
    the student's own kernel (cells.py); the sandbox runner does the same over the whole notebook."""
    from IPython.core.inputtransformer2 import TransformerManager

    from mnistlab.check.reference import one_thread

    namespace, trained = dict(namespace), set()
    for name, kind in classes.items():
        namespace[name] = reference_class(kind, name, seed, trained)
    namespace.update(train_dataset=train_dataset, test_dataset=test_dataset)
    before = namespace.get("train_loss")
    old_stdout, sys.stdout = sys.stdout, CappedText()
    try:
        with one_thread(), BackwardLog() as log:
            exec(compile(TransformerManager().transform_cell(code), "<training cell>", "exec"), namespace)
    finally:
        sys.stdout = old_stdout
    records = {}
    training_record(records, 0, namespace, before, None, trained, log.losses)
    return records


def find_classes(namespace, recorder):
    """New nn.Module classes the notebook defined: described, sorted into mlp/cnn, swapped (subset mode)."""
    import torch
    import torch.nn as nn

    from mnistlab.check.structure import describe, kind_of

    for name, value in list(namespace.items()):
        if not (isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == "__main__"):
            continue
        if value in recorder.seen:
            continue
        recorder.seen.add(value)
        record = {"name": name, "error": None, "structure": None}
        try:
            with torch.random.fork_rng():  # building it here must not move the notebook's random state
                record["structure"] = describe(value())
        except Exception as err:
            record["error"] = f"{type(err).__name__}: {err}"[:300]
        kind = kind_of(record["structure"]["layers"]) if record["structure"] else \
            ("cnn" if "cnn" in name.lower() or "conv" in name.lower() else "mlp" if "mlp" in name.lower()
             or "multi" in name.lower() else None)
        if kind is None:
            continue
        recorder.evidence["classes"][kind] = record
        recorder.student_classes[kind] = value
        if recorder.plan["mode"] == "subset":
            namespace[name] = reference_class(kind, name, recorder.plan["seed"], recorder.trained)
            recorder.seen.add(namespace[name])


def training_hints(namespace):
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    optimizers, loaders = [], []
    for name, value in namespace.items():
        if isinstance(value, torch.optim.Optimizer):
            group = value.param_groups[0]
            optimizers.append({"name": name, "type": type(value).__name__, "lr": float(group.get("lr", 0)),
                               "momentum": float(group.get("momentum", 0) or 0)})
        elif isinstance(value, DataLoader):
            loaders.append({"name": name, "batch_size": value.batch_size,
                            "shuffle": isinstance(value.sampler, RandomSampler),
                            "train": bool(getattr(value.dataset, "train", True))})
    return {"optimizers": optimizers[:5], "loaders": loaders[:5]}


def figures():
    import matplotlib.pyplot as plt

    found = []
    for number in plt.get_fignums()[:10]:
        figure = plt.figure(number)
        titles = [ax.get_title() for ax in figure.axes] + [figure._suptitle.get_text() if figure._suptitle else ""]
        lines = [series(line.get_ydata()) for ax in figure.axes for line in ax.get_lines()][:10]
        found.append({"title": " ".join(t for t in titles if t)[:200], "lines": [l for l in lines if l is not None]})
    plt.close("all")
    return found


def run_cells(plan, recorder, namespace, shell):
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    for index, source in plan["cells"]:
        before = namespace.get("train_loss")
        before_len = len(before) if isinstance(before, list) else None
        recorder.backward_losses.clear()
        recorder.trained.clear()
        skipped_before = len(shell.skipped)
        out = CappedText()
        cell = {"index": index, "ok": True, "error": None}
        old_stdout, sys.stdout = sys.stdout, out
        signal.alarm(plan["cell_timeout_s"])
        try:
            exec(compile(transform(source), f"<cell {index}>", "exec"), namespace)
        except CellTimeout:
            cell.update(ok=False, error=f"CellTimeout: the cell ran past {plan['cell_timeout_s']} s")
        except BaseException as err:  # SystemExit and KeyboardInterrupt too: the next cell still runs
            cell.update(ok=False, error=(f"{type(err).__name__}: {err}")[:300])
        finally:
            signal.alarm(0)
            sys.stdout = old_stdout
        cell["stdout"] = out.getvalue()
        cell["skipped"] = shell.skipped[skipped_before:][:10]
        try:
            cell["figures"] = figures()
        except Exception:
            cell["figures"] = []
        recorder.evidence["cells"].append(cell)
        if recorder.backward_losses or recorder.trained:
            training_record(recorder.evidence["training"], index, namespace, before, before_len,
                            recorder.trained, recorder.backward_losses)
        find_classes(namespace, recorder)
        recorder.write()


def training_record(records, index, namespace, before, before_len, trained, backward_losses):
    """The losses of a training cell (its train_loss list if it filled one, else what .backward() saw)."""
    listed = namespace.get("train_loss")
    changed = listed is not before or (isinstance(listed, list) and len(listed) != before_len)
    losses = series(listed) if changed and listed is not None else None
    for kind in sorted(trained) or ["unknown"]:
        records[kind] = {
            "cell": index, "losses": losses if losses else series(backward_losses),
            "losses_from": "train_loss" if losses else "backward",
            "backward_calls": len(backward_losses), **training_hints(namespace)}


def with_alarm(seconds, fn, *args):
    signal.alarm(seconds)
    try:
        return fn(*args)
    finally:
        signal.alarm(0)


def after_cells(plan, recorder, namespace, check_dir):
    """The student's own functions and classes on inputs the plan chose: evaluate_accuracy, forward."""
    import torch
    import torchvision.datasets as datasets
    import torchvision.transforms as transforms

    from mnistlab.check.structure import copy_by_structure
    from mnistlab.nets.models import create_model

    test_dataset = datasets.MNIST(root="./data", train=False, download=False, transform=transforms.ToTensor())
    evaluate = namespace.get("evaluate_accuracy")
    if callable(evaluate):
        network = create_model("mlp")
        network.load_state_dict(torch.load(check_dir / plan["evaluate"], weights_only=True))
        record = {"overall": None, "per_digit": None, "error": None}
        try:
            overall, per_digit = with_alarm(plan["cell_timeout_s"], evaluate, network, test_dataset, "cpu")
            record.update(overall=float(overall), per_digit=series(per_digit)[:10])
        except BaseException as err:
            record["error"] = f"{type(err).__name__}: {err}"[:300]
        recorder.evidence["evaluate"] = record
    images = torch.stack([test_dataset[i][0] for i in plan["forward"]["images"]])
    for kind, cls in recorder.student_classes.items():
        record = {"error": None, "file": None}
        try:
            with torch.random.fork_rng():
                model = cls()
            state = torch.load(check_dir / plan["forward"][kind], weights_only=True)
            if not copy_by_structure(model, state):
                raise ValueError("its parameters differ in shape from the practice's network")
            model.eval()
            with torch.no_grad():
                outputs = with_alarm(plan["cell_timeout_s"], model, images)
            torch.save(torch.as_tensor(outputs).detach().float().cpu().clone(), check_dir / f"forward_{kind}.pt")
            record["file"] = f"forward_{kind}.pt"
        except BaseException as err:
            record["error"] = f"{type(err).__name__}: {err}"[:300]
        recorder.evidence["forward"][kind] = record


def main(check_dir: str):
    check_dir = Path(check_dir)
    plan = json.loads((check_dir / "plan.json").read_text())
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import torch

    torch.set_num_threads(1)
    recorder = Recorder(plan, check_dir)
    log = BackwardLog().__enter__()  # for the whole run: the process ends after the evidence
    recorder.backward_losses = log.losses
    if plan["mode"] == "subset":
        patch_mnist(plan)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(CellTimeout()))
    shell = FakeShell()
    namespace = {"__name__": "__main__", "__builtins__": builtins, "get_ipython": lambda: shell}
    try:
        run_cells(plan, recorder, namespace, shell)
        after_cells(plan, recorder, namespace, check_dir)
        recorder.evidence["finished"] = True
    except BaseException:
        recorder.evidence["crash"] = traceback.format_exc()[-2000:]
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    recorder.evidence["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # for benchmarks only: not a verdict
    recorder.write()
    sys.stdout.flush()
    os._exit(0)  # the notebook's threads or atexit hooks do not get to run after the evidence


if __name__ == "__main__":
    main(sys.argv[1])
