import json

import pytest
import torch

from mnistlab import robustness
from mnistlab.data import permute_pixels, pixel_permutation
from mnistlab.errors import MnistlabError
from mnistlab.nets.models import create_model
from mnistlab.training.runs import load_run


def test_shift_moves_the_digit_and_blacks_the_border():
    images = torch.rand(3, 1, 28, 28) + 0.1  # no zero pixel, so the black border shows
    right = robustness.shift(images, 2, 0)
    assert torch.equal(right[..., 2:], images[..., :-2]) and (right[..., :2] == 0).all()
    up = robustness.shift(images, 0, -3)
    assert torch.equal(up[..., :-3, :], images[..., 3:, :]) and (up[..., -3:, :] == 0).all()
    both = robustness.shift(images, -1, 4)
    assert torch.equal(both, robustness.shift(robustness.shift(images, -1, 0), 0, 4))
    assert (robustness.shift(images, 28, 0) == 0).all()


def test_affine_agrees_with_shift_and_rot90():
    images = torch.rand(4, 1, 28, 28)
    for dx, dy in [(3, 0), (0, -2), (-5, 6)]:
        assert torch.allclose(robustness.affine(images, dx=dx, dy=dy), robustness.shift(images, dx, dy), atol=1e-5)
    # a quarter turn about the centre maps pixel centres onto pixel centres: torch.rot90 exactly
    assert torch.allclose(robustness.affine(images, 90), torch.rot90(images, 1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(robustness.affine(images, -90), torch.rot90(images, -1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(robustness.affine(images), images, atol=1e-5)  # bilinear weights of 1 and 0, up to float rounding


def test_scale_and_noise_keep_images_in_range():
    images = torch.rand(2, 1, 28, 28)
    for out in (robustness.affine(images, scale=0.6), robustness.noisy(images, 0.5)):
        assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(robustness.noisy(images, 0.3), robustness.noisy(images, 0.3))  # seeded: repeatable


def test_the_permutation_is_fixed_and_only_moves_pixels():
    order = pixel_permutation()
    assert sorted(order.tolist()) == list(range(784)) and not torch.equal(order, torch.arange(784))
    assert torch.equal(order, pixel_permutation())
    images = torch.rand(5, 1, 28, 28)
    scrambled = permute_pixels(images)
    assert scrambled.shape == images.shape and not torch.equal(scrambled, images)
    restored = torch.empty_like(scrambled.flatten(1))
    restored[:, order] = scrambled.flatten(1)
    assert torch.equal(restored.view_as(images), images)


def test_level_zero_is_the_test_accuracy_and_accuracy_falls(lab_runs, test_split):
    images, labels = test_split
    for folder in ("mlp-quick", "cnn-quick", "cnn-permuted"):
        run = load_run(lab_runs / folder)
        result = robustness.measure_run(run, images, labels, shifts=(0, 2, 6), angles=(0, 30, 60))
        assert result.shift["0"] == result.rotation["0"] == run.metrics.overall_accuracy
        if not run.permuted:  # a scrambled image has no "moved" that its network could notice
            assert result.shift["6"] < result.shift["2"] < result.shift["0"]
            assert result.rotation["60"] < result.rotation["30"] < result.rotation["0"]


def test_the_fast_cnn_forward_gives_the_networks_own_answers_and_is_checked(lab_runs, test_split, monkeypatch):
    """measure()'s faster CNN forward (channels-last convolutions, each pool before its ReLU) is the
    same function: the same answers on moved and rotated digits; and if it ever disagreed with the
    network's own forward on the plain test set, measure() would use the network's own."""
    from mnistlab.nets.models import load_weights
    from mnistlab.robustness import curves

    images, labels = test_split
    run = load_run(lab_runs / "cnn-quick")
    _, model = load_weights(run.weights, run.model)
    model.eval()
    fast = curves.fast_forward(model)
    assert fast is not model
    with torch.inference_mode():
        for variant in (images[:500], robustness.shift(images[:500], 3, 0), robustness.affine(images[:500], 30)):
            assert torch.allclose(fast(variant), model(variant), atol=1e-4)
            assert torch.equal(curves.predictions(fast, variant, batch=curves.FAST_BATCH), curves.predictions(model, variant))
    mlp = create_model("mlp")
    assert curves.fast_forward(mlp) is mlp  # other networks: their own forward
    honest = robustness.measure(model, images[:1000], labels[:1000], shifts=(0, 2), angles=(0, 30))

    def wrong(model):  # a "fast" forward that always answers 0
        return lambda x: torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.int64), 10).float()

    monkeypatch.setattr(curves, "fast_forward", wrong)
    assert robustness.measure(model, images[:1000], labels[:1000], shifts=(0, 2), angles=(0, 30)) == honest


def test_levels_side_by_side_give_the_numbers_of_one_at_a_time(lab_runs, test_split):
    """On a CPU with two threads the levels run two at a time, one thread each; with one thread, one
    after another. Same numbers, and the thread count is given back."""
    images, labels = test_split
    run = load_run(lab_runs / "cnn-quick")
    levels = dict(shifts=(0, 1, 4), angles=(0, 45), scales=(0.8, 1.0), noises=(0.0, 0.3))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        heard = []
        side_by_side = robustness.measure_run(run, images[:2000], labels[:2000], **levels,
                                              on_level=lambda done, total: heard.append((done, total)))
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        one_by_one = robustness.measure_run(run, images[:2000], labels[:2000], **levels)
    finally:
        torch.set_num_threads(threads)
    assert side_by_side == one_by_one
    # 2 moves x 4 directions, 1 angle x 2, 1 scale, 1 noise, and the fast forward's check: 13 passes told
    assert heard == [(done, 13) for done in range(1, 14)]
    assert list(side_by_side.scale) == ["0.8", "1"] and list(side_by_side.noise) == ["0", "0.3"]


def test_conv1_on_2x2_blocks_is_conv1_then_its_pool():
    """blocked_conv1: the 5x5 filters as a 3x3 convolution on the image cut into 2x2 blocks; the
    maximum over each block's four positions is conv1's feature maps max-pooled."""
    from mnistlab.robustness import curves

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 6, 5, padding=2)
    images = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        blocked = torch.nn.functional.conv2d(torch.nn.functional.pixel_unshuffle(images, 2),
                                             curves.blocked_conv1(conv.weight), conv.bias.repeat(4), padding=1)
        every_pixel = torch.nn.functional.pixel_shuffle(  # back to (8, 6, 28, 28): the block positions unfolded
            blocked.unflatten(1, (4, 6)).transpose(1, 2).flatten(1, 2), 2)
        assert torch.allclose(every_pixel, conv(images), atol=1e-5)
        assert torch.allclose(curves._max_of_quarters(blocked), torch.nn.functional.max_pool2d(conv(images), 2), atol=1e-5)


def test_bad_levels_are_refused():
    model = create_model("mlp")
    images, labels = torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.int64)
    with pytest.raises(MnistlabError, match="shifts must be whole numbers of pixels from 0 to 27"):
        robustness.measure(model, images, labels, shifts=(0, 30))
    with pytest.raises(MnistlabError, match="angles must lie between 0 and 180"):
        robustness.measure(model, images, labels, angles=(0, 200))


@pytest.mark.slow
def test_cli_json_shape_and_table(invoke, lab_runs, mnist_root):
    folders = [lab_runs / "mlp-quick", lab_runs / "cnn-quick"]
    result = invoke("robustness", *folders, "--json", "--data-dir", mnist_root, "--device", "cpu")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert list(answer) == ["runs"] and len(answer["runs"]) == 2
    for entry, folder in zip(answer["runs"], folders):
        assert list(entry) == ["run", "model", "shift", "rotation"]
        assert entry["run"] == str(folder) and entry["model"] == load_run(folder).model
        assert list(entry["shift"]) == [str(s) for s in range(9)]
        assert list(entry["rotation"]) == ["0", "15", "30", "45", "60"]
        assert entry["shift"]["0"] == load_run(folder).metrics.overall_accuracy
        assert all(0 <= v <= 1 for v in [*entry["shift"].values(), *entry["rotation"].values()])
    mlp, cnn = answer["runs"]
    assert cnn["shift"]["3"] > mlp["shift"]["3"]  # the lesson, even after a quick training
    table = invoke("robustness", *folders, "--data-dir", mnist_root, "--device", "cpu")
    assert table.exit_code == 0 and "moved 3 px" in table.output and "rotated 60°" in table.output
    assert f"{mlp['shift']['3']:.2%}" in table.output


def test_cli_refuses_a_folder_that_is_not_a_run(invoke, tmp_path):
    result = invoke("robustness", tmp_path / "nothing")
    assert result.exit_code == 1 and "is not a run folder" in result.output
