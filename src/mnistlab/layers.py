"""The practice's optional deliverables as data: parameters per layer (deliverable 3) and, for the
CNN, every layer's input/output size worked out with O = (W - F + 2P)/S + 1 and checked against the
shapes measured with forward hooks (deliverable 4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from mnistlab.data import IMAGE_SIDE
from mnistlab.errors import MnistlabError


@dataclass
class LayerParameters:
    name: str  # attribute name, e.g. "conv1"
    kind: str  # "Conv2d" or "Linear"
    weight_shape: tuple[int, ...]
    weights: int
    biases: int

    @property
    def total(self) -> int:
        return self.weights + self.biases


def parameter_rows(model: nn.Module) -> list[LayerParameters]:
    """One row per layer that has parameters, in the order the network applies them."""
    rows = []
    for name, module in model.named_children():
        if getattr(module, "weight", None) is None:
            continue
        bias = module.bias.numel() if module.bias is not None else 0
        rows.append(LayerParameters(name, type(module).__name__, tuple(module.weight.shape),
                                    module.weight.numel(), bias))
    return rows


def measured_shapes(model: nn.Module, input_shape=(1, 1, IMAGE_SIDE, IMAGE_SIDE)) -> dict[str, tuple[tuple, tuple]]:
    """{layer name: (input shape, output shape)} of one forward pass, per image (batch dim dropped)."""
    shapes = {}
    hooks = [module.register_forward_hook(
        lambda m, inputs, output, name=name: shapes.__setitem__(name, (tuple(inputs[0].shape[1:]), tuple(output.shape[1:]))))
        for name, module in model.named_children()]
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


@dataclass
class SizeRow:
    layer: str  # "input", "conv1", ..., "flatten", "fc1", ...
    kind: str
    shape: tuple[int, ...]  # output (C, H, W) or (features,)
    feature_maps: int | None  # channels of a (C, H, W) output
    kernel: int | None
    stride: int | None
    padding: int | None
    working: str  # how the output size follows from the input size


def _single(value) -> int:
    return value[0] if isinstance(value, tuple) else value


def cnn_size_rows(model: nn.Module, measured: dict | None = None) -> list[SizeRow]:
    """Input → conv1 → pool1 → conv2 → pool2 → flatten → fc1 → fc2 → fc3, computed with the formula
    and checked against forward hooks (`measured`, if the caller has already run them); a mismatch raises."""
    measured = measured_shapes(model) if measured is None else measured
    shape = (1, IMAGE_SIDE, IMAGE_SIDE)
    rows = [SizeRow("input", "image", shape, 1, None, None, None, "one 28×28 grayscale image")]
    for name, module in model.named_children():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
            f, s = _single(module.kernel_size), _single(module.stride)
            p = _single(module.padding)
            w = shape[1]
            size = (w - f + 2 * p) // s + 1
            channels = module.out_channels if isinstance(module, nn.Conv2d) else shape[0]
            working = f"O = ({w} − {f} + 2·{p}) / {s} + 1 = {size}"
            shape = (channels, size, size)
            rows.append(SizeRow(name, type(module).__name__, shape, channels, f, s, p, working))
        elif isinstance(module, nn.Linear):
            if len(shape) == 3:
                flat = shape[0] * shape[1] * shape[2]
                rows.append(SizeRow("flatten", "view", (flat,), None, None, None, None,
                                    f"{shape[0]} × {shape[1]} × {shape[2]} = {flat}"))
                shape = (flat,)
            rows.append(SizeRow(name, "Linear", (module.out_features,), None, None, None, None,
                                f"{shape[0]} → {module.out_features}"))
            shape = (module.out_features,)
        else:
            continue
        if name in measured and measured[name][1] != shape:
            raise MnistlabError(f"{name}: the formula gives {shape} but the network produced {measured[name][1]}")
    return rows


def format_shape(shape: tuple[int, ...]) -> str:
    return " × ".join(str(d) for d in shape)
