"""Batched data augmentation on tensors, on the training device: each image of a (B, 1, 28, 28) batch
gets its own small random rotation, scale and shift in one affine_grid/grid_sample call (no PIL)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mnistlab.data import IMAGE_SIDE


@dataclass(frozen=True)
class RandomAffine:
    """Random rotation (± degrees), scale (1 ± scale) and shift (± pixels) per image, bilinear.

    The output keeps the input's shape and dtype; bilinear weights are non-negative and sum to at
    most 1 (pixels moved in from outside are 0, MNIST's background), so [0, 1] images stay in [0, 1]."""

    degrees: float = 10.0
    scale: float = 0.1
    shift: float = 2.0  # pixels

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        batch = images.shape[0]
        device, dtype = images.device, images.dtype
        angle = _uniform(batch, self.degrees, device) * (math.pi / 180)
        zoom = 1 + _uniform(batch, self.scale, device)
        # affine_grid maps output to input coordinates in [-1, 1]: one pixel is 2 / 28 of the width.
        shift_x = _uniform(batch, self.shift, device) * (2 / IMAGE_SIDE)
        shift_y = _uniform(batch, self.shift, device) * (2 / IMAGE_SIDE)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([
            torch.stack([cos, -sin, shift_x], dim=1),
            torch.stack([sin, cos, shift_y], dim=1),
        ], dim=1).to(dtype)  # (B, 2, 3)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # (B, 28, 28, 2)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _uniform(n: int, half_width: float, device) -> torch.Tensor:
    """n draws from U(-half_width, half_width) on the global generator (seeded runs repeat)."""
    return (torch.rand(n, device=device) * 2 - 1) * half_width
