"""The studio's lab controls as a library: a prepared 28×28 drawing moved and rotated (robustness.py's
affine motion), every layer of each network for it (a pixel-permuted network fed it scrambled, and
shown so), and each network's confidence in its answer as the drawing slides across, in one batched
forward pass per network. The web app's /api/lab serves it; it holds only HTTP."""

from __future__ import annotations

import numpy as np
import torch

from mnistlab.errors import MnistlabError
from mnistlab.inference.predict import Networks
from mnistlab.nets.inside import layer_outputs
from mnistlab.nets.models import MODELS
from mnistlab.robustness.curves import affine, shift

SWEEP = tuple(range(-6, 7))  # pixels, left to right: the slide of the confidence chart
MAX_MOVE = 10  # pixels each way
MAX_ROTATION = 180  # degrees each way


def check_controls(dx, dy, angle) -> None:
    for name, value, limit in (("dx", dx, MAX_MOVE), ("dy", dy, MAX_MOVE)):
        if not isinstance(value, int) or not -limit <= value <= limit:
            raise MnistlabError(f"{name} must be a whole number of pixels from -{limit} to {limit} (got {value})")
    if not (isinstance(angle, (int, float)) and np.isfinite(angle) and -MAX_ROTATION <= angle <= MAX_ROTATION):
        raise MnistlabError(f"angle must be a number of degrees from -{MAX_ROTATION} to {MAX_ROTATION} (got {angle})")


def moved(image: np.ndarray, dx: int = 0, dy: int = 0, angle: float = 0.0) -> torch.Tensor:
    """(28, 28) → (1, 1, 28, 28): rotated `angle` degrees counter-clockwise about the centre, then
    moved dx px right and dy px down; the image itself when nothing is asked."""
    check_controls(dx, dy, angle)
    batch = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    if angle:
        batch = affine(batch, angle)
    return shift(batch, dx, dy) if dx or dy else batch


@torch.inference_mode()
def lab_answer(networks: Networks, image: np.ndarray, dx: int = 0, dy: int = 0, angle: float = 0.0) -> dict:
    """What the page shows for the drawing under the controls:
    {"input": 784 values (the moved drawing), "sweep": SWEEP,
     "networks": {name: {"display_name", "permuted", "digit", "probabilities": [10],
                         "input": 784 values this network sees, "layers": [{"name", "shape", "values"}],
                         "sweep": [confidence in "digit" at each SWEEP move]}}}"""
    current = moved(image, dx, dy, angle)  # (1, 1, 28, 28)
    slid = torch.cat([shift(current, s, 0) for s in SWEEP])  # (13, 1, 28, 28)
    answer = {"input": _rounded(current), "sweep": list(SWEEP), "networks": {}}
    for name, net in networks.loaded.items():
        seen = net.sees(current)
        layers = layer_outputs(net.model, seen[0, 0])
        probabilities = torch.from_numpy(layers[-1].values).softmax(dim=0)
        digit = int(probabilities.argmax())
        sweep = net.model(net.sees(slid)).softmax(dim=1)[:, digit]  # the same answer, slid
        answer["networks"][name] = {
            "display_name": MODELS[name].display_name, "permuted": net.permuted, "digit": digit,
            "probabilities": probabilities.tolist(), "input": _rounded(seen),
            "layers": [{"name": layer.name, "shape": list(layer.shape),
                        "values": np.round(layer.values.ravel().astype(np.float64), 4).tolist()} for layer in layers],
            "sweep": [round(float(p), 4) for p in sweep],
        }
    return answer


def _rounded(batch: torch.Tensor) -> list[float]:
    return np.round(batch.reshape(-1).numpy().astype(np.float64), 4).tolist()
