"""The practice's figures: its running average exactly, and whole PNG files."""

import numpy as np
import pytest
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


@pytest.mark.parametrize("lang", ["en", "es"])
def test_mistake_captions_keep_clear_of_each_other_at_print_resolution(lang, tmp_path, monkeypatch):
    """The gallery's 'true → predicted (confidence)' labels do not touch (the Spanish ones, with a
    space before %, are the widest), and figures are saved at print resolution."""
    import numpy as np
    import torch
    from PIL import Image

    from mnistlab import plots
    from mnistlab.i18n import texts
    from mnistlab.report import figures

    drawn = []

    def measured(fig, path):
        fig.canvas.draw()
        drawn.append([text.get_window_extent() for text in fig.axes[0].texts])
        return plots.save_figure(fig, path)

    monkeypatch.setattr(figures, "save_figure", measured)
    count = 24
    path = figures.plot_misclassified(torch.rand(count, 1, 28, 28), torch.full((count,), 7), torch.full((count,), 2),
                                      torch.full((count,), 0.985), "mistakes", tmp_path / "g.png", texts(lang))
    boxes = drawn[0]
    assert len(boxes) == count
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b.expanded(1.04, 1.0)), (a, b)  # a few pixels of air between neighbours
    assert plots.PRINT_DPI >= 200
    dpi = Image.open(path).info["dpi"]
    assert round(dpi[0]) >= 200
