"""The practice's two networks, with its attribute names so state_dict keys match its notebook, an
MLP of the CNN's size (the lab's control experiment, not one of the lesson's), and a registry of what each network is (class, display name, colour, how sentences name it) that
the CLI, the report, the tests and the web app all go through."""

from __future__ import annotations

import functools
import io
import re
import warnings
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnistlab.data import IMAGE_PIXELS
from mnistlab.errors import MnistlabError
from mnistlab.files import read_bytes

# The MLP's weights are 2.7 MB; a checkpoint that also holds an optimizer's state, a few times that.
MAX_WEIGHTS_BYTES = 64 << 20


@dataclass(frozen=True)
class NetworkEntry:
    """Everything mnistlab knows about one network, in one place (timm's register_model)."""

    name: str  # registry key, in flags, run folder names and JSON: "mlp"
    cls: type[nn.Module]
    display_name: str  # as the practice names it: "MultiLayerNN"
    color: str  # the network's colour, the same in the page and in the report's figures
    # "the CNN", "of the CNN", "to the CNN" in the language of `t` (an i18n.Texts): the forms the
    # report's sentences need ("del MultiLayerNN", "a la CNN" in Spanish)
    articles: Callable[[object], tuple[str, str, str]]
    lesson: bool = True  # one of the practice's two networks, which `mnistlab run` trains and the report compares

    def describe(self) -> dict:
        """What a front end shows of the network, as JSON."""
        return {"name": self.name, "display_name": self.display_name, "color": self.color, "lesson": self.lesson}


MODELS: dict[str, NetworkEntry] = {}  # in registration order: the order every table and page uses


def register_model(name: str, display_name: str, color: str, articles, lesson: bool = True):
    """Class decorator: add the network to MODELS under `name`."""

    def register(cls):
        if name in MODELS:
            raise ValueError(f"a network called {name!r} is registered already")
        MODELS[name] = NetworkEntry(name, cls, display_name, color, articles, lesson)
        return cls

    return register


@register_model("mlp", display_name="MultiLayerNN", color="#2f6fde", articles=lambda t: (
    t.pgettext("network", "the MultiLayerNN"), t.pgettext("network", "of the MultiLayerNN"),
    t.pgettext("network", "to the MultiLayerNN")))
class MultiLayerNN(nn.Module):
    """Multilayer perceptron: 784 → 512 → 512 → 10, ReLU after each hidden layer."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(IMAGE_PIXELS, 512)  # first hidden layer
        self.fc2 = nn.Linear(512, 512)  # second hidden layer
        self.fc3 = nn.Linear(512, 10)  # output layer: one logit per digit

    def forward(self, x):
        x = x.view(-1, IMAGE_PIXELS)  # (B, 784)
        x = self.fc1(x)  # (B, 512)
        x = F.relu(x)
        x = self.fc2(x)  # (B, 512)
        x = F.relu(x)
        x = self.fc3(x)  # (B, 10)
        return x


@register_model("cnn", display_name="CNN", color="#e0712b", articles=lambda t: (
    t.pgettext("network", "the CNN"), t.pgettext("network", "of the CNN"), t.pgettext("network", "to the CNN")))
class CNN(nn.Module):
    """LeNet-5-style network: two conv+ReLU+maxpool stages, then 120 → 84 → 10."""

    # After conv2 (14 → 10 with no padding) and pool2 (10 → 5): 16 feature maps of 5×5.
    FLAT_FEATURES = 16 * 5 * 5

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5, stride=1, padding=2)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=5, stride=1, padding=0)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc1 = nn.Linear(self.FLAT_FEATURES, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.conv1(x)  # (B, 6, 28, 28): (28 - 5 + 2*2)/1 + 1 = 28
        x = torch.relu(x)
        x = self.pool1(x)  # (B, 6, 14, 14)
        x = self.conv2(x)  # (B, 16, 10, 10): (14 - 5 + 0)/1 + 1 = 10
        x = torch.relu(x)
        x = self.pool2(x)  # (B, 16, 5, 5)
        x = x.view(-1, self.FLAT_FEATURES)  # (B, 400)
        x = self.fc1(x)  # (B, 120)
        x = torch.relu(x)
        x = self.fc2(x)  # (B, 84)
        x = torch.relu(x)
        x = self.fc3(x)  # (B, 10)
        return x


@register_model("mlp-small", display_name="SmallMLP", color="#2e9e5b", lesson=False, articles=lambda t: (
    t.pgettext("network", "the SmallMLP"), t.pgettext("network", "of the SmallMLP"),
    t.pgettext("network", "to the SmallMLP")))
class SmallMLP(nn.Module):
    """An MLP with the CNN's parameter budget: 784 → 77 → 10 has 61,225 parameters, 0.8 % fewer than
    the CNN's 61,706 (the widest single hidden layer that stays under it). It shows that the CNN's
    win over the MultiLayerNN is not its size."""

    HIDDEN = 77

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(IMAGE_PIXELS, self.HIDDEN)  # the one hidden layer
        self.fc2 = nn.Linear(self.HIDDEN, 10)  # output layer: one logit per digit

    def forward(self, x):
        x = x.view(-1, IMAGE_PIXELS)  # (B, 784)
        x = self.fc1(x)  # (B, 77)
        x = F.relu(x)
        x = self.fc2(x)  # (B, 10)
        return x


def lesson_models() -> list[str]:
    """The practice's networks, in registry order: what `mnistlab run` trains and the report compares."""
    return [name for name, entry in MODELS.items() if entry.lesson]


def create_model(name: str) -> nn.Module:
    if name not in MODELS:
        raise MnistlabError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name].cls()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@functools.cache
def _state_shapes(cls: type[nn.Module]) -> dict[str, torch.Size]:
    with torch.device("meta"):  # shapes only: no memory, no random initialisation
        return {key: tensor.shape for key, tensor in cls().state_dict().items()}


def state_shapes(name: str) -> dict[str, torch.Size]:
    """{state_dict key: shape} of the `name` network, in its state_dict's order (known without
    building the network's weights: load_weights asks it of every network for every file)."""
    if name not in MODELS:
        create_model(name)  # unknown names get their own message
    return _state_shapes(MODELS[name].cls)


def known_shapes() -> dict[str, set[tuple[int, ...]]]:
    """{state_dict key: the shapes it has in the registered networks}."""
    shapes: dict[str, set[tuple[int, ...]]] = {}
    for name in MODELS:
        for key, shape in state_shapes(name).items():
            shapes.setdefault(key, set()).add(tuple(shape))
    return shapes


def read_state_dict(path) -> dict[str, torch.Tensor]:
    """The state_dict in `path`, loaded safely (checkpoints are untrusted input): a regular file of
    at most MAX_WEIGHTS_BYTES, unpickled with weights_only, the sizes its tensors declare checked
    before any value is looked at. Any keys and shapes: `load_weights` matches them to a network."""
    try:
        raw = read_bytes(path, MAX_WEIGHTS_BYTES)
        with warnings.catch_warnings():  # torch warns about sparse tensors, refused below anyway
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise MnistlabError(f"{path}: no such file; train a model with `mnistlab train mlp` or `cnn`") from None
    except MnistlabError:
        raise
    except Exception as err:
        if pickled_module(str(err)):
            raise MnistlabError(f"{path} holds a whole pickled model (torch.save(model)), which could run any code "
                                f"when loaded; save the weights instead: torch.save(model.state_dict(), "
                                f"'{Path(path).name}')") from None
        raise MnistlabError(f"{path} is not a PyTorch weights file ({type(err).__name__}); "
                            f"point to a model.pth that `mnistlab train` or torch.save wrote") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a checkpoint dict that wraps the state_dict
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MnistlabError(f"{path} does not hold a state_dict of tensors")
    # Sizes are metadata: a 2.7 MB file may declare a 4 TB tensor (a stride-0 view of one stored
    # number), and looking at its values would allocate it. What a capped file holds honestly, no more.
    declared = {key: tensor.numel() * tensor.element_size() for key, tensor in state.items()}
    if sum(declared.values()) > MAX_WEIGHTS_BYTES:
        key = max(declared, key=declared.get)
        raise MnistlabError(f"{path}: {key} declares {state[key].numel():,} values, more than a weights file of at "
                            f"most {MAX_WEIGHTS_BYTES >> 20} MB holds; point to a model.pth that `mnistlab train` or "
                            f"the practice wrote")
    for key, tensor in state.items():
        problem = tensor_problem(tensor)
        if problem:
            raise MnistlabError(f"{path}: {key} {problem}; train the network again (`mnistlab train`)")
    return state


def pickled_module(message: str) -> bool:
    """Whether torch.load's weights_only refusal names what looks like a network class (torch.nn's, or a
    CapWords class such as a notebook's `__main__.CNN`): a whole model saved with torch.save(model).
    Nothing is imported to find out; a misjudged file is refused all the same."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message)
    if not found:
        return False
    module, _, name = found.group(1).rpartition(".")
    return module.startswith("torch.nn") or (name[:1].isupper() and module.split(".")[0] not in UNSAFE_MODULES)


UNSAFE_MODULES = {"builtins", "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib"}


def tensor_problem(tensor: torch.Tensor) -> str | None:
    """What makes `tensor` unusable as a weight (meta, sparse, not a real number, NaN), or None."""
    if tensor.is_meta:
        return "is a meta tensor (a shape without values)"
    if tensor.layout != torch.strided:
        return f"is a {str(tensor.layout).removeprefix('torch.')} tensor, not a dense one"
    if not (tensor.dtype.is_floating_point or tensor.dtype in (torch.int64, torch.int32, torch.int16,
                                                               torch.int8, torch.uint8, torch.bool)):
        return f"holds {str(tensor.dtype).removeprefix('torch.')} values, not real numbers"
    if tensor.dtype.is_floating_point and not torch.isfinite(tensor).all():
        return "holds NaN or infinite values (the training diverged)"
    return None


def fits(name: str, state: dict) -> bool:
    """Whether `state` has exactly the keys and shapes of the `name` network."""
    expected = state_shapes(name)
    return set(state) == set(expected) and all(state[k].shape == expected[k] for k in expected)


def renamed(name: str, state: dict) -> dict | None:
    """`state` under the `name` network's own keys when only the names differ: the same number of
    tensors with the same shapes, in the same order (an nn.Sequential student's "0.weight", "2.bias"
    ...). None when the structure differs too."""
    expected = state_shapes(name)
    if len(state) != len(expected):
        return None
    pairs = list(zip(expected.items(), state.values()))
    if any(mine != theirs.shape for (_key, mine), theirs in pairs):
        return None
    return {key: tensor for (key, _mine), tensor in pairs}


def load_weights(path, model_name: str | None = None) -> tuple[str, nn.Module]:
    """(name, network) with the weights in `path`; the architecture is recognised from the keys if
    not given, or from the tensors' shapes and order when the keys are named otherwise."""
    state = read_state_dict(path)
    matches = [name for name in MODELS if fits(name, state)]
    if not matches:
        structural = {name: renamed(name, state) for name in MODELS}
        matches = [name for name, mapped in structural.items() if mapped is not None]
        if model_name in matches or (model_name is None and matches):
            state = structural[model_name or matches[0]]
    unknown = [key for key in state if key not in known_shapes()]
    if unknown and not matches:
        raise MnistlabError(f"{path} fits neither network ({', '.join(MODELS)}): it holds a tensor {unknown[0]!r} "
                            f"that neither has; point to a model.pth that `mnistlab train` or the practice wrote")
    if model_name is None:
        if not matches:
            raise MnistlabError(f"{path} fits neither network ({', '.join(MODELS)}); "
                                f"it was not written by `mnistlab train` or the practice")
        model_name = matches[0]
    elif model_name not in matches:
        create_model(model_name)  # unknown names get their own message
        hint = f"it is a {matches[0]} checkpoint: pass --model {matches[0]}" if matches else \
            "it was not written by `mnistlab train` or the practice"
        raise MnistlabError(f"{path} does not fit the {model_name} network; {hint}")
    model = create_model(model_name)
    model.load_state_dict(state, strict=True)
    return model_name, model
