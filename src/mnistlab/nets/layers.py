"""A network described layer by layer, the practice's optional deliverables as data: `describe(model)`
walks the layers once (one forward pass with hooks) and gives each its input and output size, the
O = (W - F + 2P)/S + 1 working of a convolution or pooling layer (checked against the measured shape,
deliverable 4), its parameters (deliverable 3) and its role. The CLI's summary, the report and the
studio page format these rows."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from mnistlab.data import IMAGE_SIDE
from mnistlab.errors import MnistlabError

INPUT_SHAPE = (1, IMAGE_SIDE, IMAGE_SIDE)  # one grayscale image, per image (no batch dimension)
ROLES = ("input", "conv", "pool", "flatten", "hidden", "logits")  # what the studio page shows each step as


@dataclass(frozen=True)
class LayerRow:
    name: str  # attribute name ("conv1"), or the two steps that are no module: "input", "flatten"
    kind: str  # "Conv2d", "MaxPool2d", "Linear"; "image" for the input, "view" for the flatten step
    role: str  # one of ROLES: "logits" is the last layer, "hidden" any other fully connected one
    input_shape: tuple[int, ...] | None  # per image; None for the input
    output_shape: tuple[int, ...]  # measured by the forward pass: (C, H, W) or (features,)
    working: str  # how the output size follows from the input size
    kernel: int | None = None  # of a convolution or pooling layer
    stride: int | None = None
    padding: int | None = None
    weight_shape: tuple[int, ...] | None = None  # of a layer with parameters
    weights: int = 0
    biases: int = 0
    relu: bool = False  # whether the forward pass puts this layer's output through a ReLU

    @property
    def total(self) -> int:
        return self.weights + self.biases

    @property
    def feature_maps(self) -> int | None:
        """Channels of a (C, H, W) output."""
        return self.output_shape[0] if len(self.output_shape) == 3 else None


def _single(value) -> int:
    return value[0] if isinstance(value, tuple) else value


def _forward_pass(model: nn.Module, input_shape) -> tuple[list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]], torch.Tensor]:
    """[(name, module, input, output)] of each child layer, in the order forward() calls them, and the
    network's output, for one random image (random, so that a ReLU shows: zeros would hide it)."""
    calls = []
    hooks = [module.register_forward_hook(
        lambda m, inputs, output, name=name: calls.append((name, m, inputs[0][0], output[0])))
        for name, module in model.named_children()]
    generator = torch.Generator().manual_seed(0)
    image = torch.rand((1, *input_shape), generator=generator).to(next(model.parameters()).device)
    try:
        with torch.no_grad():
            output = model(image)[0]
    finally:
        for hook in hooks:
            hook.remove()
    return calls, output


def _relu_between(output: torch.Tensor, consumed: torch.Tensor) -> bool:
    """Whether what the next step consumed is `output` put through a ReLU (and not `output` itself)."""
    consumed = consumed.reshape(output.shape)
    return bool(torch.equal(consumed, output.relu()) and not torch.equal(consumed, output))


def describe(model: nn.Module, input_shape=INPUT_SHAPE) -> list[LayerRow]:
    """The network's steps in forward order: the input, every child layer, and a flatten step where
    forward() reshapes (a layer's input is not the previous output's shape). Sizes are worked out with
    the formula and checked against the forward pass; a mismatch raises."""
    calls, final = _forward_pass(model, input_shape)
    learned = [name for name, module, _i, _o in calls if getattr(module, "weight", None) is not None]
    rows = [LayerRow("input", "image", "input", None, tuple(input_shape),
                     f"one {IMAGE_SIDE}×{IMAGE_SIDE} grayscale image")]
    shape = tuple(input_shape)
    for index, (name, module, given, produced) in enumerate(calls):
        given_shape, produced_shape = tuple(given.shape), tuple(produced.shape)
        if given_shape != shape:  # a reshape inside forward(): its own step
            if given.numel() != torch.Size(shape).numel():
                raise MnistlabError(f"{name}: takes {given_shape} after {shape}; not a flatten step")
            rows.append(LayerRow("flatten", "view", "flatten", shape, given_shape,
                                 f"{' × '.join(map(str, shape))} = {given.numel()}"))
        consumed = calls[index + 1][2] if index + 1 < len(calls) else final
        extra = dict(relu=_relu_between(produced, consumed))
        if getattr(module, "weight", None) is not None:
            bias = module.bias.numel() if module.bias is not None else 0
            extra.update(weight_shape=tuple(module.weight.shape), weights=module.weight.numel(), biases=bias)
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
            f, s, p = _single(module.kernel_size), _single(module.stride), _single(module.padding)
            w = given_shape[1]
            size = (w - f + 2 * p) // s + 1
            channels = module.out_channels if isinstance(module, nn.Conv2d) else given_shape[0]
            if (channels, size, size) != produced_shape:
                raise MnistlabError(f"{name}: the formula gives {(channels, size, size)} but the network "
                                    f"produced {produced_shape}")
            role = "conv" if isinstance(module, nn.Conv2d) else "pool"
            rows.append(LayerRow(name, type(module).__name__, role, given_shape, produced_shape,
                                 f"O = ({w} − {f} + 2·{p}) / {s} + 1 = {size}", f, s, p, **extra))
        else:
            role = "logits" if name == learned[-1] else "hidden"
            working = f"{given_shape[0]} → {produced_shape[0]}" if len(given_shape) == len(produced_shape) == 1 else ""
            rows.append(LayerRow(name, type(module).__name__, role, given_shape, produced_shape, working, **extra))
        shape = produced_shape
    return rows


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
    return [LayerParameters(r.name, r.kind, r.weight_shape, r.weights, r.biases)
            for r in describe(model) if r.weight_shape is not None]


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


def cnn_size_rows(model: nn.Module) -> list[SizeRow]:
    """Input → conv1 → pool1 → conv2 → pool2 → flatten → fc1 → fc2 → fc3 (deliverable 4): describe()'s
    rows as the solved notebook reads them."""
    return [SizeRow(r.name, r.kind, r.output_shape, r.feature_maps, r.kernel, r.stride, r.padding, r.working)
            for r in describe(model)]


def format_shape(shape: tuple[int, ...]) -> str:
    return " × ".join(str(d) for d in shape)


def layer_kind(kind: str, t) -> str:
    """A row's type for a reader: the two steps that are not PyTorch modules in the language of `t`
    (an i18n.Texts), the others by their class name."""
    return {"image": t.pgettext("layer type", "image"), "view": t.pgettext("layer type", "view")}.get(kind, kind)
