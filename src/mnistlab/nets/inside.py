"""Inside a network: every layer's output for one image, in forward order, as the learner sees it
(convolutions and hidden fully connected layers after their ReLU, pools as they are, the last layer's
logits), and a layer's learned weights. Used by the studio page and the report's feature-map figure.

The layers are called one by one, in the network's order, with no hooks: nothing is written on the
network, so any number of requests may look inside the one shared network at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from mnistlab.data import IMAGE_SIDE
from mnistlab.errors import MnistlabError


@dataclass(frozen=True)
class LayerOutput:
    name: str  # attribute name in the network: "conv1", "pool1", ..., "fc3"
    shape: tuple[int, ...]  # per image: (C, H, W) or (features,)
    values: np.ndarray  # float32 of that shape


def _followed_by_relu(model: nn.Module) -> set[str]:
    """Layers whose output the forward pass puts through a ReLU: every Conv2d and Linear but the last
    (true of both practice networks; checked by the tests against their forward())."""
    learned = [name for name, m in model.named_children() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return set(learned[:-1])


def forward_layers(model: nn.Module, batch: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """`batch` (B, 1, 28, 28) through `model`'s layers in order, as its forward() does (a ReLU after
    each layer in _followed_by_relu, flattened before the first fully connected layer); each layer's
    output, (B, ...). The last is the logits."""
    relu = _followed_by_relu(model)
    outputs = []
    x = batch
    for name, module in model.named_children():
        if isinstance(module, nn.Linear) and x.dim() > 2:
            x = x.flatten(1)  # (B, C·H·W): the view(-1, ...) of forward()
        x = module(x)
        if name in relu:
            x = torch.relu(x)
        outputs.append((name, x))
    return outputs


@torch.inference_mode()
def layer_outputs(model: nn.Module, image) -> list[LayerOutput]:
    """One 28×28 image (array or tensor, values in [0, 1]) through `model`; each child layer's output."""
    batch = torch.as_tensor(np.asarray(image, dtype=np.float32)).reshape(1, 1, IMAGE_SIDE, IMAGE_SIDE)
    return first_image(forward_layers(model, batch.to(next(model.parameters()).device)))


def first_image(outputs: list[tuple[str, torch.Tensor]]) -> list[LayerOutput]:
    """forward_layers' outputs for the batch's first image, as float32 arrays."""
    layers = []
    for name, output in outputs:
        values = output[0].float().cpu().numpy()
        layers.append(LayerOutput(name, tuple(values.shape), values))
    return layers


def layer_weight(model: nn.Module, layer: str) -> np.ndarray:
    """The learned weight of `layer` (e.g. conv1: (6, 1, 5, 5)), as float32."""
    module = dict(model.named_children()).get(layer)
    if module is None or getattr(module, "weight", None) is None:
        learned = [n for n, m in model.named_children() if getattr(m, "weight", None) is not None]
        raise MnistlabError(f"no layer with weights called {layer!r}; this network has {', '.join(learned)}")
    return module.weight.detach().float().cpu().numpy()
