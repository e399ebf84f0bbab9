"""Checking one submission: read the notebook, choose the check's inputs (seed, subset, weights, images),
run the notebook in the sandbox for evidence, compute the references outside, and judge every item."""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from mnistlab.check import deliverables, items
from mnistlab.check.evidence import EVIDENCE, STUDENT_FILES
from mnistlab.check.mistakes import loop_mistakes
from mnistlab.check.reference import SUBSET_SIZE, first_difference, practice_loop, trimmed_mnist
from mnistlab.check.result import ITEM_IDS, CheckResult, scored
from mnistlab.check.rubric import load_rubric
from mnistlab.check.sandbox import bwrap_path, inside_path, run_sandboxed
from mnistlab.check.structure import describe
from mnistlab.errors import MnistlabError
from mnistlab.i18n import texts
from mnistlab.nets.models import create_model, fits, read_state_dict

EVIDENCE_CAP = 4 << 20  # bytes of evidence.json read back
TENSOR_CAP = 1 << 20  # bytes of one forward output
WEIGHTS_CAP = 16 << 20  # bytes of a .pth the notebook wrote (the CNN's is ~250 kB, the MLP's ~2.7 MB)
FORWARD_IMAGES = 32
INSIDE_CHECK_DIR = "/check"


class CheckError(MnistlabError):
    """The submission could not be checked at all (not a notebook, unreadable, too old a format)."""


def read_notebook(path: Path) -> dict:
    import nbformat

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CheckError(f"{path}: cannot read it ({err.strerror or err}); pass the .ipynb file") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckError(f"{path} is not a Jupyter notebook (not JSON); pass the .ipynb file "
                         f"(File > Download > .ipynb)") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells", data.get("worksheets")), list):
        raise CheckError(f"{path} is JSON but not a Jupyter notebook (no cells); pass the .ipynb file")
    version = data.get("nbformat")
    if not isinstance(version, int) or version < 4:
        raise CheckError(f"{path} is a notebook in format {version} (before 4); open and save it in a current "
                         f"Jupyter to upgrade it")
    try:
        return nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as err:
        raise CheckError(f"{path}: not a valid notebook ({type(err).__name__}); save it again from Jupyter") from None


def code_cells(notebook) -> list[tuple[int, str]]:
    return [(i, cell.source) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]


def read_capped(path: Path, cap: int) -> bytes | None:
    """The bytes of a regular file the sandbox wrote (no symlink followed), or None if missing/too large."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > cap:
            return None
        return f.read(cap + 1)[:cap]


def read_evidence(check_dir: Path) -> dict:
    raw = read_capped(check_dir / EVIDENCE, EVIDENCE_CAP)
    try:
        evidence = json.loads(raw) if raw else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        evidence = {}
    if not isinstance(evidence, dict):
        evidence = {}
    for key, empty in (("cells", []), ("classes", {}), ("training", {}), ("forward", {})):
        if not isinstance(evidence.get(key), type(empty)):
            evidence[key] = empty
    return evidence


def read_tensor(path: Path) -> torch.Tensor | None:
    raw = read_capped(path, TENSOR_CAP)
    if raw is None:
        return None
    import io

    try:
        value = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception:
        return None
    return value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else None


class TrainingInputs:
    """The seed and the training subset, chosen when the check starts so no notebook knows them."""

    def __init__(self, data_root: Path, seed: int | None = None):
        self.seed = secrets.randbelow(2**31) if seed is None else seed
        self.generator = torch.Generator().manual_seed(secrets.randbelow(2**62))
        self.train_indices = torch.randperm(60000, generator=self.generator)[:SUBSET_SIZE].tolist()
        self.train_dataset = trimmed_mnist(data_root, self.train_indices)
        self.test_dataset = trimmed_mnist(data_root, train=False)


def training_inputs(data_dir=None, seed: int | None = None) -> TrainingInputs:
    from mnistlab.data import ensure_mnist

    return TrainingInputs(ensure_mnist(data_dir).root, seed)


class Inputs(TrainingInputs):
    """Also the weights and images of the forward checks, saved for the sandbox to read."""

    def __init__(self, data_root: Path, check_dir: Path):
        super().__init__(data_root)
        self.image_indices = torch.randperm(10000, generator=self.generator)[:FORWARD_IMAGES].tolist()
        self.images = torch.stack([self.test_dataset[i][0] for i in self.image_indices])
        self.forward_states = {}
        for kind in ("mlp", "cnn"):
            torch.manual_seed(secrets.randbelow(2**62))
            self.forward_states[kind] = create_model(kind).state_dict()
            torch.save(self.forward_states[kind], check_dir / f"forward_{kind}.pth")
        self.references: dict[str, list[float]] = {}
        self.reference_networks = {}

    def train_references(self, kinds=("mlp", "cnn")):
        for kind in kinds:
            network, losses = practice_loop(kind, self.train_dataset, self.test_dataset, self.seed)
            self.reference_networks[kind], self.references[kind] = network, losses


def run_notebook(cells, mode: str, inputs: Inputs, check_dir: Path, workdir: Path, data_root: Path, *,
                 sandbox: bool, timeout_s: float, memory_mb: int):
    inside = inside_path(INSIDE_CHECK_DIR) if sandbox and bwrap_path() else str(check_dir)
    plan = {"mode": mode, "cells": cells, "seed": inputs.seed, "train_indices": inputs.train_indices,
            "forward": {"images": inputs.image_indices, "mlp": "forward_mlp.pth", "cnn": "forward_cnn.pth"},
            "evaluate": "evaluate_mlp.pth", "cell_timeout_s": max(5, int(timeout_s * 0.6))}
    (check_dir / "plan.json").write_text(json.dumps(plan))
    result = run_sandboxed([sys.executable, "-m", "mnistlab.check.evidence", inside], workdir=workdir,
                           data_dir=data_root, timeout_s=timeout_s, memory_mb=memory_mb,
                           writable={inside: check_dir}, sandbox=sandbox)
    return result, read_evidence(check_dir)


def load_student_weights(kind: str, path: Path, t) -> tuple[torch.nn.Module | None, str | None]:
    """(network, None) or (None, why not), for a .pth a notebook wrote or a student handed in."""
    _ = t.gettext
    file = STUDENT_FILES[kind]
    raw = read_capped(path, WEIGHTS_CAP)
    if raw is None:
        return None, _("{file} was not written (torch.save(model.state_dict(), \"./{file}\"))").format(file=file)
    with tempfile.NamedTemporaryFile(suffix=".pth") as copy:
        copy.write(raw)
        copy.flush()
        try:
            state = read_state_dict(copy.name)
        except MnistlabError:
            return None, _("{file} is not a state_dict that torch.load(..., weights_only=True) reads").format(file=file)
    if not fits(kind, state):
        return None, _("{file} does not fit the practice's class (its keys or shapes differ)").format(file=file)
    network = create_model(kind)
    network.load_state_dict(state)
    return network, None


def check_notebook(path, *, lang=None, full=False, data_dir=None, sandbox=True, timeout_s: float = 180,
                   memory_mb: int = 6144, pth_files=None, rubric=None) -> CheckResult:
    """Check one notebook: every item of ITEM_IDS, judged outside the sandbox (see docs/checker.md)."""
    from mnistlab.data import ensure_mnist

    t = texts(lang)
    _ = t.gettext
    path = Path(path)
    rubric = rubric if isinstance(rubric, dict) else load_rubric(rubric)
    notebook = read_notebook(path)
    data_root = ensure_mnist(data_dir).root
    cells = code_cells(notebook)
    notes, seconds, clock = [], {}, time.perf_counter()

    def lap(phase):
        nonlocal clock
        seconds[phase], clock = time.perf_counter() - clock, time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="mnistlab-check-") as tmp:
        tmp = Path(tmp)
        (check_dir := tmp / "check").mkdir()
        (workdir := tmp / "submission").mkdir()
        inputs = Inputs(data_root, check_dir)
        inputs.train_references(("mlp",))
        torch.save(inputs.reference_networks["mlp"].state_dict(), check_dir / "evaluate_mlp.pth")
        lap("inputs and MLP reference")
        cnn_reference = threading.Thread(target=inputs.train_references, args=(("cnn",),))
        cnn_reference.start()
        run, evidence = run_notebook(cells, "subset", inputs, check_dir, workdir, data_root, sandbox=sandbox,
                                     timeout_s=timeout_s, memory_mb=memory_mb)
        lap("notebook in the sandbox (CNN reference beside it)")
        cnn_reference.join()
        notes += run.notes + run_notes(run, evidence, timeout_s, t)
        weights = {kind: load_student_weights(kind, workdir / file, t) for kind, file in STUDENT_FILES.items()}
        outputs = {kind: read_tensor(check_dir / f"forward_{kind}.pt") for kind in ("mlp", "cnn")}
        trained = handed_in(path, pth_files, t)
        if full and not trained:
            (full_check := tmp / "check-full").mkdir()
            (full_work := tmp / "submission-full").mkdir()
            for file in ("forward_mlp.pth", "forward_cnn.pth", "evaluate_mlp.pth"):
                (full_check / file).write_bytes((check_dir / file).read_bytes())
            full_run, _evidence = run_notebook(cells, "full", inputs, full_check, full_work, data_root,
                                               sandbox=sandbox, timeout_s=timeout_s * 20, memory_mb=memory_mb)
            notes += run_notes(full_run, _evidence, timeout_s * 20, t)
            trained = {kind: network for kind, file in STUDENT_FILES.items()
                       if (network := load_student_weights(kind, full_work / file, t)[0]) is not None}
        lap("full run" if full else "reading the evidence")
        if isinstance(evidence.get("cpu_seconds"), float):  # what the notebook's process says: for benchmarks
            seconds["CPU time inside the sandbox (not wall clock)"] = evidence["cpu_seconds"]
        result_items = judge(evidence, inputs, weights, outputs, notebook, trained, data_root, rubric, t)
        lap("verdicts")
    result = CheckResult.of(path.name, result_items, notes)
    result.seconds = seconds
    return result


def run_notes(run, evidence, timeout_s, t) -> list[str]:
    _ = t.gettext
    notes = []
    for cell in evidence["cells"]:
        if isinstance(cell, dict) and not cell.get("ok", True):
            index = cell.get("index")
            notes.append(_("cell {index} failed: {error}").format(
                index=index + 1 if isinstance(index, int) else "?", error=cell.get("error")))
    if run.timed_out:
        notes.append(_("the notebook did not finish within {seconds} s; what it did until then was judged").format(
            seconds=int(timeout_s)))
    elif not evidence.get("finished"):
        last = (run.stderr.strip().splitlines() or [""])[-1][:200]
        notes.append(_("the notebook's run stopped early (exit code {code}); what it did until then was judged").format(
            code=run.returncode) + (f" ({last})" if last else ""))
    return notes


def handed_in(path: Path, pth_files, t) -> dict:
    """The trained networks handed in beside the notebook (or named by pth_files), loadable ones only."""
    candidates = {}
    if pth_files:
        for file in pth_files:
            file = Path(file)
            for kind in ("mlp", "cnn"):
                state = _try_state(file)
                if state is not None and fits(kind, state):
                    candidates[kind] = file
    else:
        candidates = {kind: path.parent / file for kind, file in STUDENT_FILES.items() if (path.parent / file).is_file()}
    found = {}
    for kind, file in candidates.items():
        network, problem = load_student_weights(kind, file, t)
        if network is not None:
            found[kind] = network
    return found


def _try_state(file: Path):
    try:
        return read_state_dict(file)
    except MnistlabError:
        return None


def measured_accuracy(networks: dict, data_root: Path) -> dict[str, float]:
    from mnistlab.data import load_split
    from mnistlab.inference.evaluate import evaluate

    if not networks:
        return {}
    images, labels = load_split(data_root, "test")
    return {kind: evaluate(network, images, labels).overall_accuracy for kind, network in networks.items()}


def judge(evidence, inputs: Inputs, weights, outputs, notebook, trained, data_root, rubric, t) -> list:
    """Every item, in ITEM_IDS order. Evidence is untrusted: an item whose evidence is malformed fails with
    that reason instead of stopping the check."""
    from mnistlab.check.text import printed_accuracies
    from mnistlab.inference.evaluate import evaluate

    references = {kind: describe(create_model(kind)) for kind in ("mlp", "cnn")}
    classes = {k: v for k, v in evidence["classes"].items() if isinstance(v, dict)}
    untraced = "unknown" in evidence["training"]

    def training(kind):
        record = evidence["training"].get(kind)
        record = {**record, "subset_size": SUBSET_SIZE} if isinstance(record, dict) else None
        return items.training(kind, record, inputs.references[kind],
                              lambda: diagnose_losses(kind, record, inputs, inputs.references[kind], t), rubric, t,
                              untraced=untraced)

    def saved(kind):
        network, problem = weights[kind]
        structure = (classes.get(kind) or {}).get("structure") or {}
        renamed = bool(structure) and [key for key, _shape in structure.get("state", [])] != \
            [key for key, _shape in references[kind]["state"]]
        return items.saved(kind, problem, renamed and network is not None, rubric, t)

    def evaluated():
        images, labels = _test_tensors(inputs)
        expected = evaluate(inputs.reference_networks["mlp"], images, labels)
        record = evidence.get("evaluate") if isinstance(evidence.get("evaluate"), dict) else None
        return items.evaluate(record, expected.overall_accuracy, expected.per_digit_accuracy, rubric, t)

    def plots():
        figures = [f for cell in evidence["cells"] if isinstance(cell, dict) for f in cell.get("figures") or []
                   if isinstance(f, dict)]
        return items.plots(figures, rubric, t)

    def accuracy():
        if trained:
            return deliverables.accuracy(measured_accuracy(trained, data_root), "weights", rubric, t)
        return deliverables.accuracy(printed_accuracies(notebook), "printed", rubric, t)

    verdicts = {
        "mlp.architecture": lambda: items.architecture("mlp", classes.get("mlp"), references["mlp"], rubric, t),
        "cnn.architecture": lambda: items.architecture("cnn", classes.get("cnn"), references["cnn"], rubric, t),
        **{f"{kind}.forward": (lambda kind=kind: items.forward(
            kind, evidence["forward"].get(kind) if kind in classes else None, outputs.get(kind),
            inputs.forward_states[kind], inputs.images, rubric, t)) for kind in ("mlp", "cnn")},
        "mlp.training": lambda: training("mlp"), "cnn.training": lambda: training("cnn"),
        "mlp.saved": lambda: saved("mlp"), "cnn.saved": lambda: saved("cnn"),
        "evaluate": evaluated, "plots": plots,
        "parameters": lambda: deliverables.parameters(notebook, rubric, t),
        "sizes": lambda: deliverables.sizes(notebook, rubric, t),
        "analysis": lambda: deliverables.analysis(notebook, rubric, t),
        "accuracy": accuracy,
    }
    result = []
    for id in ITEM_IDS:
        try:
            result.append(verdicts[id]())
        except Exception as err:  # malformed evidence from the sandbox: this item fails, the others go on
            result.append(scored(id, False, t.gettext("the notebook's evidence for this item is malformed "
                                                      "({error})").format(error=type(err).__name__), rubric))
    return result


def _test_tensors(inputs: Inputs):
    data = inputs.test_dataset
    return data.data.unsqueeze(1).float().div(255), data.targets


REPLAY_STEPS = 30  # a catalogued mistake must reproduce this many of the student's first losses exactly


def diagnose_losses(kind: str, record: dict, inputs: TrainingInputs, reference: list[float], t):
    """(the catalogued mistake that reproduces the student's losses, None, None), or (None, first differing
    step, by how much)."""
    _ = t.gettext
    losses = [float(v) for v in record.get("losses") or []]
    step = first_difference(losses, reference)
    if step is not None and step >= min(len(losses), len(reference)):
        return None, step, 0.0
    if losses:
        steps = min(len(losses), REPLAY_STEPS)
        for mistake in loop_mistakes(record):
            _network, replayed = practice_loop(kind, inputs.train_dataset, inputs.test_dataset, inputs.seed,
                                               mistake.loop, max_steps=steps)
            if replayed == losses[:steps]:
                return _(mistake.message).format(value=mistake.value), None, None
    gap = abs(losses[step] - reference[step]) if step is not None and step < len(losses) else 0.0
    return None, step, gap
