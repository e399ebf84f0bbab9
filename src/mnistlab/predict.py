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
from mnistlab.inside import LayerOutput, first_image, forward_layers
from mnistlab.models import MODELS, lesson_models, load_weights
from mnistlab.files import UnreadableFile, read_bytes
from mnistlab.preprocess import MAX_FILE_BYTES, image_to_mnist
from mnistlab.runs import latest_run


@dataclass
class LoadedNetwork:
    name: str  # registry name: mlp or cnn
    model: nn.Module
    source: str = "given in code"  # the run folder its weights came from
    test_accuracy: float | None = None  # from that run's metrics.json
    permuted: bool = False  # trained with --permute-pixels: it is fed scrambled images

    def describe(self, runs_dir: str | Path | None = None) -> dict:
        """As the web page shows it; `source` relative to `runs_dir` when it lies inside it."""
        source = self.source
        if runs_dir is not None and Path(source).is_absolute():
            try:
                source = Path(source).resolve().relative_to(Path(runs_dir).resolve()).as_posix()
            except ValueError:
                source = Path(source).name  # never an absolute path of this machine
        return {**MODELS[self.name].describe(), "source": source, "test_accuracy": self.test_accuracy,
                "permuted": self.permuted}

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
    return LoadedNetwork(run.model, model.eval(), str(run.path), run.metrics.overall_accuracy, run.permuted)


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
