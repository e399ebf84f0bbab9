"""Trained networks at work: the latest run of each loaded once, one inference path giving every
network's probabilities (and, when asked, every layer's output) for the same 28×28 inputs, and
`mnistlab predict`'s table for image files. The web app serves these; it holds only HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from mnistlab.data import network_input
from mnistlab.errors import MnistlabError
from mnistlab.files import UnreadableFile, read_bytes
from mnistlab.inference.preprocess import MAX_FILE_BYTES, image_to_mnist
from mnistlab.nets.inside import LayerOutput, first_image, forward_layers
from mnistlab.nets.models import MODELS, lesson_models, load_weights
from mnistlab.training.runs import latest_run


@dataclass
class LoadedNetwork:
    name: str  # registry name: mlp or cnn
    model: nn.Module
    source: str = "given in code"  # the run folder its weights came from, or the .pth file
    test_accuracy: float | None = None  # from that run's metrics.json (None for a bare file)
    permuted: bool = False  # trained with --permute-pixels: it is fed scrambled images
    file: str | None = None  # the weights file it was loaded from
    run: str | None = None  # the run folder's name, None for a bare .pth file

    def describe(self, runs_dir: str | Path | None = None) -> dict:
        """As the web page shows it; `source` relative to `runs_dir` when it lies inside it."""
        source = self.source
        if runs_dir is not None and Path(source).is_absolute():
            try:
                source = Path(source).resolve().relative_to(Path(runs_dir).resolve()).as_posix()
            except ValueError:
                source = Path(source).name  # never an absolute path of this machine
        return {**MODELS[self.name].describe(), "source": source, "test_accuracy": self.test_accuracy,
                "permuted": self.permuted,
                "file": Path(self.file).name if self.file else None, "run": self.run}

    def sees(self, batch: torch.Tensor) -> torch.Tensor:
        """What this network is fed of (N, 1, 28, 28) images: their pixels scrambled if it was trained so."""
        return network_input(batch, self.permuted)


@dataclass(frozen=True)
class Inference:
    """One network's answer for a batch: softmax probabilities (N, 10) and, if asked for, every
    layer's output for the batch's first image (the last layer's values are the logits)."""

    probabilities: np.ndarray
    layers: list[LayerOutput] | None = None


class MissingNote(str):
    """Why a network is not served and how to train it: a message (as the CLI and /api/info show it)
    that knows which network it is about."""

    def __new__(cls, network: str, message: str):
        note = super().__new__(cls, message)
        note.network = network
        return note


@dataclass
class Networks:
    loaded: dict[str, LoadedNetwork]  # in registry order
    missing: list[MissingNote] = field(default_factory=list)  # one per missing network

    @torch.inference_mode()
    def infer(self, images: np.ndarray, layers: bool = False) -> dict[str, Inference]:
        """(N, 28, 28) inputs in [0, 1] → {name: Inference}, every layer kept if `layers`. The one
        inference path: the answers and the inside view both come from here, from one pass."""
        batch = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)  # (N, 1, 28, 28)
        answers = {}
        for name, net in self.loaded.items():  # a snapshot: `use` swaps the dict whole, never edits it
            seen = net.sees(batch)  # scrambled for a network trained on permuted pixels
            if layers:
                outputs = forward_layers(net.model, seen)
                logits = outputs[-1][1]
            else:
                outputs, logits = None, net.model(seen)  # (N, 10)
            answers[name] = Inference(logits.softmax(dim=1).numpy(), first_image(outputs) if layers else None)
        return answers

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """(N, 28, 28) inputs in [0, 1] → {name: (N, 10) softmax probabilities}."""
        return {name: answer.probabilities for name, answer in self.infer(images).items()}

    def use(self, network: LoadedNetwork) -> None:
        """Serve `network` in place of the one of its kind (a run that just finished), in one swap."""
        loaded = {**self.loaded, network.name: network}
        self.loaded = {name: loaded[name] for name in MODELS if name in loaded}  # registry order
        self.missing = [note for note in self.missing if note.network != network.name]


def run_network(run) -> LoadedNetwork:
    """The network of a finished run; NaN or infinite weights are refused, naming the file."""
    _, model = load_weights(run.weights, run.model)
    return LoadedNetwork(run.model, model.eval(), str(run.path), run.metrics.overall_accuracy, run.permuted,
                         file=str(run.weights), run=run.path.name)


def file_network(path: str | Path, name: str) -> LoadedNetwork:
    """The `name` network with the weights of a bare .pth file (the practice's own `torch.save(
    model.state_dict(), ...)`), its architecture checked against `name`."""
    path = Path(path)
    if path.is_dir():
        raise MnistlabError(f"--{name} {path} is a folder; give the .pth file the practice saved "
                            f"(a run folder goes to --runs)")
    try:
        _, model = load_weights(path, name)
    except MnistlabError as err:
        other = next((o for o in MODELS if o != name and f"it is a {o} checkpoint" in str(err)), None)
        if other is None:
            raise
        raise MnistlabError(f"--{name} {path} holds {MODELS[other].display_name} weights, not {MODELS[name].display_name} "
                            f"ones; pass it as --{other}") from None
    return LoadedNetwork(name, model.eval(), str(path), None, file=str(path))


def choice_network(choice) -> LoadedNetwork:
    """The network of a served.Choice: its run's, or its .pth file's."""
    return run_network(choice.run) if choice.run is not None else file_network(choice.source, choice.model)


def load_networks(runs_dir: str | Path = "runs", names: tuple[str, ...] | None = None,
                  files: dict[str, Path | None] | None = None, chosen: bool = False,
                  permuted: bool = False) -> Networks:
    """The networks `names`: from the .pth in `files` ({"mlp": path, ...}) where one is given, else
    (with `chosen`) the run or file last chosen on the studio page, else the latest run in `runs_dir`.
    With files given, a network without a run is only noted missing."""
    from mnistlab.inference import served

    names = tuple(lesson_models()) if names is None else names
    files = {name: path for name, path in (files or {}).items() if path is not None}
    loaded = {name: file_network(files[name], name) for name in names if name in files}
    for name, choice_id in (served.read_choice(runs_dir) if chosen else {}).items():
        if name in names and name not in loaded:
            try:
                choice = served.find_choice(runs_dir, choice_id, files)
                if choice.model == name:
                    loaded[name] = choice_network(choice)
            except MnistlabError:
                pass  # gone or damaged since it was chosen: the latest run answers instead
    if files and not any(name in files for name in names):  # e.g. `predict --model mlp --cnn cnn.pth`
        raise MnistlabError(f"--{' --'.join(files)} given but --model asks for {' and '.join(names)}; "
                            f"give --{names[0]} FILE")
    if not loaded:
        return load_latest(runs_dir, names, permuted)
    missing = []
    for name in names:
        if name not in loaded:
            try:
                loaded[name] = run_network(latest_run(runs_dir, name, permuted))
            except MnistlabError as err:
                missing.append(MissingNote(name, f"{err} (or give --{name} FILE)"))
    return Networks({name: loaded[name] for name in MODELS if name in loaded}, missing)


def from_models(models: dict[str, nn.Module]) -> Networks:
    """Networks built in code (tests, notebooks): {"mlp": model, "cnn": model}."""
    unknown = [name for name in models if name not in MODELS]
    if unknown or not models:
        raise MnistlabError(f"models must be a non-empty dict keyed by {', '.join(MODELS)} (got {list(models)})")
    loaded = {name: LoadedNetwork(name, models[name].cpu().eval()) for name in MODELS if name in models}
    return Networks(loaded)


def load_latest(runs_dir: str | Path = "runs", names: tuple[str, ...] | None = None, permuted: bool = False) -> Networks:
    """The latest finished run of each of `names` (default: the lesson's networks) under `runs_dir` (of
    those trained with --permute-pixels if `permuted`, else of the others); at least one must exist."""
    names = tuple(lesson_models()) if names is None else names
    loaded, missing = {}, []
    for name in names:
        try:
            loaded[name] = run_network(latest_run(runs_dir, name, permuted))
        except MnistlabError as err:
            missing.append(MissingNote(name, str(err)))
    if not loaded:
        wanted = " or ".join(f"`mnistlab train {name}`" for name in names)
        raise MnistlabError(f"no trained network in {runs_dir}; `mnistlab run` trains both ({wanted} trains one)"
                            if len(names) > 1 else missing[0])
    return Networks(loaded, missing)


def predict_files(paths: list[Path], networks: Networks) -> str:
    """`mnistlab predict`: every image preprocessed the MNIST way, then a table of each network's
    digit and confidence, one row per file."""
    images = []
    for path in paths:
        try:
            data = read_bytes(path, MAX_FILE_BYTES)  # a regular file: never /dev/zero or a FIFO
        except UnreadableFile as err:
            raise MnistlabError(f"{path}: {err.reason}; give a PNG or JPEG file") from None
        except OSError as err:
            raise MnistlabError(f"{path}: cannot read it ({err.strerror})") from None
        images.append(image_to_mnist(data, str(path)))
    probabilities = networks.predict(np.stack(images))  # {name: (N, 10)}
    names = [MODELS[name].display_name + (" (permuted)" if networks.loaded[name].permuted else "") for name in probabilities]
    width = max(4, *(len(str(p)) for p in paths))
    lines = [f"{'file':<{width}}" + "".join(f"  {n:>14}" for n in names)]
    for row, path in enumerate(paths):
        cells = [f"{p[row].argmax()} ({p[row].max():.1%})" for p in probabilities.values()]
        lines.append(f"{str(path):<{width}}" + "".join(f"  {c:>14}" for c in cells))
    return "\n".join(lines)
