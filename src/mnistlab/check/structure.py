"""A network's structure as plain data (its layers, their settings, parameter shapes and the output size
of each layer for one 1×28×28 image): made the same way for a student's class inside the sandbox and
for mnistlab's reference outside it, so the two can be compared as data."""

from __future__ import annotations

import torch
import torch.nn as nn

LAYER_TYPES = (nn.Conv2d, nn.MaxPool2d, nn.Linear)  # what the practice's architecture is made of
SETTINGS = {
    nn.Conv2d: ("in_channels", "out_channels", "kernel_size", "stride", "padding"),
    nn.MaxPool2d: ("kernel_size", "stride", "padding"),
    nn.Linear: ("in_features", "out_features"),
}


def _plain(value):
    if isinstance(value, tuple):
        return list(value) if len(set(value)) > 1 else value[0]
    return value


def layer_record(name: str, module: nn.Module) -> dict:
    kind = type(module)
    settings = next((fields for base, fields in SETTINGS.items() if isinstance(module, base)), ())
    return {"name": name, "type": base_name(module), **{f: _plain(getattr(module, f)) for f in settings}}


def base_name(module: nn.Module) -> str:
    for base in LAYER_TYPES:
        if isinstance(module, base):
            return base.__name__
    return type(module).__name__


def kind_of(layers: list[dict]) -> str | None:
    """'cnn' when the network convolves, 'mlp' when it is only linear layers on 784 inputs, else None."""
    types = [layer["type"] for layer in layers]
    if "Conv2d" in types:
        return "cnn"
    linear = [layer for layer in layers if layer["type"] == "Linear"]
    if linear and linear[0].get("in_features") == 784:
        return "mlp"
    return None


def describe(model: nn.Module) -> dict:
    """{"layers", "parameters", "state", "outputs", "forward_error"} of `model` (in registration order)."""
    layers, hooks, outputs = [], [], {}
    for name, module in model.named_modules():
        if name and not list(module.children()):
            layers.append(layer_record(name, module))
            if isinstance(module, LAYER_TYPES):
                hooks.append(module.register_forward_hook(
                    lambda m, i, o, name=name: outputs.__setitem__(name, list(o.shape[1:]))
                    if isinstance(o, torch.Tensor) else None))
    error = None
    try:
        with torch.no_grad():
            model.eval()
            model(torch.zeros(1, 1, 28, 28))
    except Exception as err:  # the student's forward: any failure is a finding
        error = f"{type(err).__name__}: {err}"[:300]
    finally:
        for hook in hooks:
            hook.remove()
        model.train()
    return {
        "layers": [{**layer, "output": outputs.get(layer["name"])} for layer in layers],
        "parameters": sum(p.numel() for p in model.parameters()),
        "state": [[key, list(value.shape)] for key, value in model.state_dict().items()],
        "forward_error": error,
    }


def copy_by_structure(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    """Load `state` (the reference's tensors, in its order) into `model` position by position, whatever
    the attribute names; False when the shapes in order differ."""
    own = model.state_dict()
    if [tuple(v.shape) for v in own.values()] != [tuple(v.shape) for v in state.values()]:
        return False
    model.load_state_dict(dict(zip(own, state.values())), strict=True)
    return True
