"""How a trained network copes with test digits it was not shown: moved 0–8 px (the mean of the four
directions, the emptied border black), rotated 0–60° (the mean of both directions), and optionally
scaled or with noise. Every level transforms the whole test set at once on the device (torch ops,
no per-image loop); a pixel-permuted run's images are scrambled after the transform, as it was trained."""

from __future__ import annotations

import functools
import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from mnistlab.data import IMAGE_SIDE, network_input
from mnistlab.errors import MnistlabError
from mnistlab.inference.evaluate import EVAL_BATCH
from mnistlab.openmp import intra_op_threads
from mnistlab.training.augment import affine_grid

SHIFTS = tuple(range(9))  # pixels
ANGLES = (0, 15, 30, 45, 60)  # degrees
SCALES = (0.6, 0.8, 1.0, 1.2, 1.4)  # the digit's size, 1 = as it is
NOISES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)  # standard deviation of Gaussian pixel noise, on [0, 1] images
NOISE_SEED = 0  # the noise is drawn from a torch.Generator seeded this, so every run sees the same
DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # right, left, down, up
MAX_SHIFT = IMAGE_SIDE - 1
MAX_ANGLE = 180


def shift(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """(N, 1, 28, 28) images moved dx pixels right and dy down (negative: left, up); the pixels that
    leave the field are lost and the ones that enter it are black (0), MNIST's background."""
    moved = torch.zeros_like(images)
    height, width = images.shape[-2:]
    if abs(dx) >= width or abs(dy) >= height:
        return moved
    moved[..., max(dy, 0): height + min(dy, 0), max(dx, 0): width + min(dx, 0)] = \
        images[..., max(-dy, 0): height + min(-dy, 0), max(-dx, 0): width + min(-dx, 0)]
    return moved


def affine(images: torch.Tensor, degrees: float = 0.0, dx: float = 0.0, dy: float = 0.0,
           scale: float = 1.0) -> torch.Tensor:
    """(N, 1, 28, 28) images rotated `degrees` counter-clockwise about the centre, scaled by `scale`,
    then moved (dx, dy) pixels; bilinear, black outside. Whole-pixel moves alone give shift()'s images
    (up to float rounding): every pixel is then read from one input pixel's centre."""
    angle = math.radians(degrees)
    # affine_grid maps each output pixel to where it reads the input, in [-1, 1] (one pixel is 2 / 28):
    # the inverse of the motion, hence the minus signs and the division by the scale.
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    pixel = 2 / images.shape[-1]
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=images.dtype, device=images.device)
    theta[:, 2] = -(theta[:, :2] @ torch.tensor([dx * pixel, dy * pixel], dtype=images.dtype, device=images.device))
    grid = affine_grid(theta[None], images.shape[-1])  # (1, 28, 28, 2): the same motion for every image
    grid = grid.expand(len(images), *grid.shape[1:])  # (N, 28, 28, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def noisy(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Images plus Gaussian noise of standard deviation `sigma`, clipped back to [0, 1]."""
    generator = torch.Generator(device=images.device).manual_seed(NOISE_SEED)
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return (images + sigma * noise).clamp_(0, 1)


FAST_BATCH = 250  # images per forward pass of the levels: small batches stay in the CPU's caches


def _max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """nn.MaxPool2d(2, 2) on even sizes, as the maximum of the four strided views (3-4x faster on
    the CPU for the CNN's 6 and 16 channels, and the same numbers)."""
    return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                         torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


def _max_of_quarters(x: torch.Tensor) -> torch.Tensor:
    """The maximum of a tensor's four quarters along the channels: (B, 4C, H, W) -> (B, C, H, W)."""
    c = x.shape[1] // 4
    return torch.maximum(torch.maximum(x[:, :c], x[:, c: 2 * c]), torch.maximum(x[:, 2 * c: 3 * c], x[:, 3 * c:]))


def blocked_conv1(weight: torch.Tensor) -> torch.Tensor:
    """conv1's (O, 1, 5, 5) filters (padding 2) as a 3x3 convolution (padding 1) on the image cut into
    2x2 blocks (F.pixel_unshuffle: (B, 4, 14, 14)), whose 4·O output channels are the O feature maps at
    each pixel of a block: block position (py, px) first, then the map. The 2x2 max pool is then the
    maximum of the four quarters of the channels. The same sums of products (plus products by zero);
    oneDNN runs a 4-in, 24-out convolution about twice as fast as a 1-in, 6-out one on this CPU."""
    out_channels, _, size, _ = weight.shape  # size 5, padding 2: output pixel y reads y - 2 ... y + 2
    blocked = weight.new_zeros(2, 2, out_channels, 2, 2, 3, 3)  # (py, px, map, qy, qx, ky, kx)
    for py, px, qy, qx, ky, kx in itertools.product(range(2), range(2), range(2), range(2), range(3), range(3)):
        # output pixel 2i + py reads input pixel 2(i + ky - 1) + qy: filter row 2ky + qy - py
        dy, dx = 2 * ky + qy - py, 2 * kx + qx - px
        if 0 <= dy < size and 0 <= dx < size:
            blocked[py, px, :, qy, qx, ky, kx] = weight[:, 0, dy, dx]
    return blocked.reshape(4 * out_channels, 4, 3, 3)


def fast_forward(model):
    """A forward of the same function for the 40 passes of the levels: for the practice's CNN, conv1
    on 2x2 blocks of the image (blocked_conv1, the pool then a maximum over channels), conv2 on
    channels-last tensors, each max pool before its ReLU (max and ReLU commute, and the pool then has
    a quarter of the values to rectify): 2-3x faster on this 2-core CPU. Other networks: their own
    forward. measure() checks it against the model's own predictions first."""
    from mnistlab.nets.models import CNN

    if type(model) is not CNN or model.conv1.weight.device.type != "cpu":
        return model
    channels_last = torch.channels_last
    conv1 = blocked_conv1(model.conv1.weight.detach()).contiguous(memory_format=channels_last)
    bias1 = model.conv1.bias.detach().repeat(4)
    conv2 = model.conv2.weight.detach().contiguous(memory_format=channels_last)

    def forward(x):
        x = F.pixel_unshuffle(x, 2).contiguous(memory_format=channels_last)  # (B, 4, 14, 14)
        x = torch.relu(_max_of_quarters(F.conv2d(x, conv1, bias1, padding=1)))  # (B, 6, 14, 14)
        x = F.conv2d(x.contiguous(memory_format=channels_last), conv2, model.conv2.bias)
        x = torch.relu(_max_pool_2x2(x))  # (B, 16, 5, 5)
        x = x.contiguous().view(len(x), CNN.FLAT_FEATURES)
        return model.fc3(torch.relu(model.fc2(torch.relu(model.fc1(x)))))
    return forward


@torch.inference_mode()
def predictions(forward, images: torch.Tensor, permuted: bool = False, batch: int = EVAL_BATCH) -> torch.Tensor:
    """The class `forward` gives each of `images`, evaluate's way (softmax, then the first maximum)."""
    return torch.cat([forward(network_input(images[start: start + batch], permuted)).softmax(dim=1).max(dim=1).indices
                      for start in range(0, len(images), batch)])


@dataclass
class Robustness:
    """Test accuracy (a fraction) at each level of each perturbation; the keys of each dict are the
    levels as strings ("0", "1", ... for pixels, "0", "15", ... for degrees), as the JSON has them."""

    run: str  # the run folder (or a name for a network given in code)
    model: str  # registry name
    permuted: bool
    shift: dict[str, float] = field(default_factory=dict)
    rotation: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] | None = None
    noise: dict[str, float] | None = None

    def as_json(self) -> dict:
        keys = ("run", "model", "shift", "rotation") + tuple(k for k in ("scale", "noise") if getattr(self, k))
        return {key: getattr(self, key) for key in keys}


def _level(value: float) -> str:
    return f"{value:g}"


def check_levels(shifts=SHIFTS, angles=ANGLES) -> None:
    if any(not 0 <= s <= MAX_SHIFT or s != int(s) for s in shifts):
        raise MnistlabError(f"shifts must be whole numbers of pixels from 0 to {MAX_SHIFT} (got {list(shifts)})")
    if any(not 0 <= a <= MAX_ANGLE for a in angles):
        raise MnistlabError(f"angles must lie between 0 and {MAX_ANGLE} degrees (got {list(angles)})")


def _level_predictions(forward, makers, permuted: bool, device, on_level=None) -> list[torch.Tensor]:
    """predictions() of `forward` on the images each of `makers` builds. On a CPU with more than one
    thread, the levels run side by side, one thread each (two levels at once, one thread each, beat
    one level at a time on two threads by a quarter on this 2-core CPU: the small batches leave two
    threads waiting on each other). Each level's numbers are the same whichever order they finish in.
    `on_level(done, total)`, if given, is called (in this thread) as each level is done."""
    def one(make):
        return predictions(forward, make(), permuted, FAST_BATCH)

    def told(answers):
        for done, answer in enumerate(answers, 1):
            if on_level is not None:
                on_level(done, len(makers))
            yield answer

    workers = torch.get_num_threads() if torch.device(device).type == "cpu" else 1
    if workers <= 1 or len(makers) <= 1:
        return list(told(one(make) for make in makers))
    with intra_op_threads(1), ThreadPoolExecutor(min(workers, len(makers))) as pool:
        return list(told(pool.map(one, makers)))


@torch.inference_mode()
def measure(model, images: torch.Tensor, labels: torch.Tensor, *, run: str = "", model_name: str = "",
            permuted: bool = False, shifts=SHIFTS, angles=ANGLES, scales=None, noises=None,
            on_level=None) -> Robustness:
    """Test accuracy of `model` on `images` (on its device) at every level; level 0 of the shift and
    the rotation is the images as they are, so it equals the run's test accuracy. `on_level(done,
    total)`, if given, hears of each pass of the test set as it ends (a progress bar)."""
    check_levels(shifts, angles)
    model.eval()
    reference = predictions(model, images, permuted)  # the network's own forward, evaluate's batches
    plain = int((reference == labels).sum()) / len(labels)
    levels = [("shift", s, functools.partial(shift, images, dx * s, dy * s))
              for s in shifts if s for dx, dy in DIRECTIONS]
    levels += [("rotation", a, functools.partial(affine, images, sign * a)) for a in angles if a for sign in (1, -1)]
    levels += [("scale", z, functools.partial(affine, images, scale=z)) for z in scales or () if z != 1]
    levels += [("noise", n, functools.partial(noisy, images, n)) for n in noises or () if n]
    makers = [make for _kind, _level, make in levels]
    forward = fast_forward(model)
    if forward is not model:  # checked on the plain images, in the same threads as the levels
        *answers, again = _level_predictions(forward, makers + [lambda: images], permuted, images.device, on_level)
        if not torch.equal(again, reference):  # not one answer may differ from the network's own
            forward = model
    if forward is model:
        answers = _level_predictions(model, makers, permuted, images.device, on_level)
    correct: dict[tuple[str, float], list[int]] = {}
    for (kind, level, _make), answer in zip(levels, answers):
        correct.setdefault((kind, level), []).append(int((answer == labels).sum()))

    def accuracies(kind, values, neutral):
        return {_level(v): plain if v == neutral else sum(correct[kind, v]) / (len(correct[kind, v]) * len(labels))
                for v in values}

    result = Robustness(run, model_name, permuted, shift=accuracies("shift", shifts, 0),
                        rotation=accuracies("rotation", angles, 0))
    if scales:
        result.scale = accuracies("scale", scales, 1)
    if noises:
        result.noise = accuracies("noise", noises, 0)
    return result


def measure_run(run, images: torch.Tensor, labels: torch.Tensor, device="cpu", **levels) -> Robustness:
    """measure() of a finished run's network (fed the way it was trained), on `device`."""
    from mnistlab.nets.models import load_weights

    _, model = load_weights(run.weights, run.model)
    return measure(model.to(device), images.to(device), labels.to(device), run=str(run.path), model_name=run.model,
                   permuted=run.permuted, **levels)


def robustness_table(results: list[Robustness]) -> str:
    """Levels down, networks across: the test accuracy in percent."""
    from mnistlab.nets.models import MODELS

    headers = [MODELS[r.model].display_name + (" (permuted)" if r.permuted else "") for r in results]
    sections = [("shift", "moved {} px"), ("rotation", "rotated {}°"), ("scale", "scaled ×{}"), ("noise", "noise σ {}")]
    rows = []
    for key, label in sections:
        levels = [getattr(r, key) for r in results]
        if not all(levels):
            continue
        rows += [(label.format(level), [f"{values[level]:.2%}" for values in levels]) for level in levels[0]]
    width = max(12, *(len(h) for h in headers))
    label_width = max(len(label) for label, _cells in rows) + 2
    lines = [" " * label_width + "".join(f"{h:>{width + 2}}" for h in headers)]
    lines.append("-" * len(lines[0]))
    lines += [f"{label:<{label_width}}" + "".join(f"{c:>{width + 2}}" for c in cells) for label, cells in rows]
    folders = [f"{h}: {r.run}" for h, r in zip(headers, results)]
    return "\n".join(lines + [""] + folders)
