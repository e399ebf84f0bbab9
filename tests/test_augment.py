import pytest
import torch

from mnistlab.data import IMAGE_SIDE
from mnistlab.training.augment import AugmentFirst, RandomAffine, affine_grid


def test_augmentation_keeps_shape_dtype_range_and_order(train_split):
    images = train_split[0][:256]
    torch.manual_seed(0)
    moved = RandomAffine(degrees=10, scale=0.1, shift=2)(images)
    assert moved.shape == images.shape and moved.dtype == images.dtype
    assert moved.min() >= 0 and moved.max() <= 1 and not torch.equal(moved, images)


def test_augmentation_moves_each_image_in_its_own_place():
    """Image i filled with the value i/64 keeps that value at its centre: no image changes places
    (so the labels still apply), and a constant stays exactly that constant under bilinear sampling."""
    values = torch.arange(64.0) / 64
    flat_images = values.view(64, 1, 1, 1).expand(64, 1, IMAGE_SIDE, IMAGE_SIDE).contiguous()
    torch.manual_seed(0)
    moved = RandomAffine(degrees=10, scale=0.1, shift=2)(flat_images)
    assert torch.allclose(moved[:, 0, 14, 14], values, atol=1e-6)


def test_no_movement_is_the_identity(train_split):
    images = train_split[0][:64]
    assert torch.allclose(RandomAffine(degrees=0, scale=0, shift=0)(images), images, atol=1e-5)


def test_shift_moves_the_ink_by_at_most_the_shift(train_split):
    images = train_split[0][:256]
    moved = RandomAffine(degrees=0, scale=0, shift=2)(images)
    coordinates = torch.arange(float(IMAGE_SIDE))

    def centre(batch):  # (N, 2) centre of ink mass, in pixels
        ink = batch[:, 0]
        total = ink.sum(dim=(1, 2))
        return torch.stack([(ink.sum(1) * coordinates).sum(1) / total, (ink.sum(2) * coordinates).sum(1) / total], 1)

    offsets = (centre(moved) - centre(images)).abs()
    assert offsets.max() <= 2.05 and offsets.mean() > 0.5


@pytest.mark.parametrize("steps", [0, 3])
def test_augment_first_moves_only_the_first_batches_then_passes_them_through(train_split, steps):
    """The clean final phase: after `steps` batches the images come back untouched (the same tensor)."""
    images = train_split[0][:32]
    augment = AugmentFirst(RandomAffine(), steps)
    outputs = [augment(images) for _ in range(steps + 2)]
    assert all(not torch.equal(out, images) for out in outputs[:steps])
    assert all(out is images for out in outputs[steps:])


def test_affine_grid_matches_torchs():
    torch.manual_seed(0)
    theta = torch.tensor([[1.0, 0, 0], [0, 1, 0]]) + torch.randn(16, 2, 3) * 0.2
    expected = torch.nn.functional.affine_grid(theta, [16, 1, IMAGE_SIDE, IMAGE_SIDE], align_corners=False)
    assert torch.allclose(affine_grid(theta, IMAGE_SIDE), expected, atol=1e-6)
