"""Inside a network: every layer's output for one image, in forward order, as the learner sees it
(convolutions and hidden fully connected layers after their ReLU, pools as they are, the last layer's
logits), and a layer's learned weights. Used by the studio page and the report's feature-map figure."""

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


@torch.inference_mode()
def layer_outputs(model: nn.Module, image) -> list[LayerOutput]:
    """One 28×28 image (array or tensor, values in [0, 1]) through `model`; each child layer's output."""
    batch = torch.as_tensor(np.asarray(image, dtype=np.float32)).reshape(1, 1, IMAGE_SIDE, IMAGE_SIDE)
    relu = _followed_by_relu(model)
    captured: list[tuple[str, torch.Tensor]] = []
    hooks = [module.register_forward_hook(lambda m, inputs, output, name=name: captured.append((name, output)))
             for name, module in model.named_children()]
    try:
        model.eval()
        model(batch.to(next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    outputs = []
    for name, output in captured:
        values = (output.relu() if name in relu else output)[0].float().cpu().numpy()
        outputs.append(LayerOutput(name, tuple(values.shape), values))
    return outputs


def layer_weight(model: nn.Module, layer: str) -> np.ndarray:
    """The learned weight of `layer` (e.g. conv1: (6, 1, 5, 5)), as float32."""
    module = dict(model.named_children()).get(layer)
    if module is None or getattr(module, "weight", None) is None:
        learned = [n for n, m in model.named_children() if getattr(m, "weight", None) is not None]
        raise MnistlabError(f"no layer with weights called {layer!r}; this network has {', '.join(learned)}")
    return module.weight.detach().float().cpu().numpy()
