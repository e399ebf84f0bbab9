"""The practice's figures: its running average exactly, and whole PNG files."""

import numpy as np
import torch
from PIL import Image

from mnistlab.plots import RUNNING_AVERAGE, plot_loss, plot_samples, running_average


def test_running_average_is_the_practices_convolution():
    loss = np.random.default_rng(0).random(500)
    expected = np.convolve(loss, np.ones((60,)) / 60, mode="valid")
    np.testing.assert_array_equal(running_average(loss), expected)
    assert RUNNING_AVERAGE == 60
    assert running_average(loss[:59]).size == 0  # too short for one window: no curve, no error


def test_loss_and_sample_figures_are_whole_pngs(tmp_path):
    plot_loss(list(np.linspace(2.3, 0.1, 200)), "Training loss", tmp_path / "loss.png")
    plot_samples(torch.rand(16, 1, 28, 28), tmp_path / "samples.png")
    for name in ("loss.png", "samples.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.size[0] > 300
            image.verify()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png", "samples.png"]
