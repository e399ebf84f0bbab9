"""The MNIST-way preprocessing: what MNIST did to its digits, checked on shapes we control and on
real MNIST test digits redrawn as a canvas would hold them."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import png_bytes, quiet
from mnistlab.errors import MnistlabError
from mnistlab.inference.evaluate import predict
from mnistlab.inference.preprocess import BlankImage, decode_image, image_to_mnist, pixels_to_mnist, to_mnist
from mnistlab.training.train import TrainConfig, fit

SAMPLE = 300  # MNIST test digits in the accuracy comparison


def as_canvas(digit: np.ndarray, scale: int, top: int, left: int) -> np.ndarray:
    """A (28, 28) uint8 MNIST digit as a page drawing: enlarged, moved, dark ink on a white 280×280."""
    big = Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.BILINEAR)
    canvas = Image.new("L", (280, 280), 0)
    canvas.paste(big, (left, top))
    return 255 - np.asarray(canvas)


def bar(height: int, width: int, top: int, left: int, size=(200, 300)) -> np.ndarray:
    image = np.zeros(size, dtype=np.float32)
    image[top : top + height, left : left + width] = 1
    return image


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(image.shape)
    return float((ys * image).sum() / image.sum()), float((xs * image).sum() / image.sum())


def test_longer_side_becomes_20_pixels_and_the_centre_of_mass_sits_at_14():
    out = to_mnist(bar(120, 30, top=10, left=200))  # a tall bar in a corner of a wide image
    assert out.shape == (28, 28) and out.dtype == np.float32
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    assert rows[-1] - rows[0] + 1 == 20  # the longer side
    assert cols[-1] - cols[0] + 1 == 5  # aspect ratio kept: 30/120 of 20
    assert centre_of_mass(out) == pytest.approx((14.0, 14.0), abs=0.501)  # whole-pixel shifts
    assert out.min() >= 0 and out.max() == pytest.approx(1.0)


def test_position_size_and_polarity_do_not_change_the_result():
    reference = to_mnist(bar(60, 20, top=20, left=30))
    moved_and_bigger = to_mnist(bar(150, 50, top=40, left=200, size=(400, 400)))
    dark_on_white = to_mnist(1 - bar(60, 20, top=100, left=150))
    np.testing.assert_allclose(moved_and_bigger, reference, atol=0.02)
    np.testing.assert_allclose(dark_on_white, reference, atol=1e-6)


def test_mnist_digits_come_back_unchanged(test_split):
    """MNIST digits already are 20-px boxes centred by mass: preprocessing them is (almost) the identity
    (a faint edge pixel under the ink threshold can trim the box by a column)."""
    images = test_split[0][:200, 0].numpy()
    for image in images:
        raw = np.round(image * 255).astype(np.uint8)
        difference = np.abs(image_to_mnist(png_bytes(raw)) - raw / 255)
        assert difference.mean() < 0.002 and difference.max() < 0.05


def test_transparent_canvas_keeps_its_ink():
    strokes = np.zeros((100, 100, 4), dtype=np.uint8)
    strokes[20:80, 45:55] = (0, 0, 0, 255)  # black strokes on a fully transparent canvas
    light = strokes.copy()
    light[20:80, 45:55] = (255, 255, 255, 255)  # white strokes on it
    first, second = image_to_mnist(png_bytes(strokes, "RGBA")), image_to_mnist(png_bytes(light, "RGBA"))
    np.testing.assert_allclose(first, second, atol=1e-6)
    assert first.sum() > 20


@pytest.mark.parametrize("image, message", [
    (np.full((280, 280), 255, np.uint8), "blank"),  # a white canvas
    (np.zeros((28, 28), np.uint8), "blank"),
    (np.full((50, 50), 128, np.uint8) + np.eye(50, dtype=np.uint8) * 10, "blank"),  # too faint to be ink
])
def test_blank_images_are_refused(image, message):
    with pytest.raises(BlankImage, match=message):
        image_to_mnist(png_bytes(image))


@pytest.mark.parametrize("data, message", [
    (b"definitely not an image", "is not a PNG or JPEG image"),
    (png_bytes(np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8))[:300], "damaged or truncated"),
])
def test_bad_bytes_are_refused_with_one_line(data, message):
    with pytest.raises(MnistlabError, match=message):
        decode_image(data, "digit.png")


def test_gif_and_huge_images_are_refused():
    gif = io.BytesIO()
    Image.new("L", (10, 10)).save(gif, "GIF")
    with pytest.raises(MnistlabError, match="is a GIF image; send a PNG or JPEG"):
        decode_image(gif.getvalue())
    huge = io.BytesIO()
    Image.new("1", (5000, 5000)).save(huge, "PNG")  # a few kB on disk, 25 million pixels
    with pytest.raises(MnistlabError, match="5000×5000 pixels"):
        decode_image(huge.getvalue())


@pytest.mark.parametrize("pixels, message", [
    ([0.5] * 783, "784 numbers \\(got 783\\)"),
    ("0.5", "784 numbers \\(got str\\)"),
    ([0.5] * 783 + [float("nan")], "finite"),
    ([0.5] * 783 + [2.0], r"\[0, 1\]"),
    ([0.5] * 783 + [10**400], r"\[0, 1\]"),
    ([0.5] * 783 + ["x"], "numbers"),
    ([0.5] * 783 + [True], "numbers"),
])
def test_bad_pixel_lists_are_refused(pixels, message):
    with pytest.raises(MnistlabError, match=message):
        pixels_to_mnist(pixels)


def test_an_ico_or_mpo_is_named_with_the_right_article():
    ico = io.BytesIO()
    Image.new("L", (16, 16)).save(ico, "ICO")
    with pytest.raises(MnistlabError, match=r"^the image is an ICO image; send a PNG or JPEG$"):
        decode_image(ico.getvalue())


def sideways_seven() -> Image.Image:
    """A 7 drawn upright (dark on white), 60×80."""
    image = Image.new("L", (60, 80), 255)
    image.paste(0, (10, 10, 50, 18))  # the top bar
    image.paste(0, (40, 10, 48, 70))  # the stem, on the right
    return image


def test_exif_orientation_is_applied_before_preprocessing():
    upright = sideways_seven()
    # a phone held sideways stores the pixels turned 90° and says so (Orientation 6: turn 90° clockwise)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    for fmt in ("PNG", "JPEG"):
        tagged = io.BytesIO()
        stored.save(tagged, fmt, exif=exif, quality=95)  # at JPEG's default 75 its blocks alone move the digit's box
        plain = io.BytesIO()
        upright.save(plain, fmt, quality=95)
        np.testing.assert_allclose(image_to_mnist(tagged.getvalue()), image_to_mnist(plain.getvalue()), atol=0.02)
        assert not np.allclose(image_to_mnist(tagged.getvalue()), image_to_mnist(png_bytes(np.asarray(stored))), atol=0.1)


def test_an_mpo_photo_is_read_from_its_first_frame():
    first, second = sideways_seven(), Image.new("L", (60, 80), 255)
    mpo = io.BytesIO()
    first.convert("RGB").save(mpo, "MPO", save_all=True, append_images=[second.convert("RGB")])
    assert Image.open(io.BytesIO(mpo.getvalue())).format == "MPO"
    jpeg = io.BytesIO()
    first.convert("RGB").save(jpeg, "JPEG")
    np.testing.assert_allclose(image_to_mnist(mpo.getvalue()), image_to_mnist(jpeg.getvalue()), atol=1e-6)


@pytest.mark.parametrize("value", [0.0, 1.0, 0.05])
def test_blank_pixels_are_blank_as_a_blank_image_is(value):
    with pytest.raises(BlankImage, match="blank"):
        pixels_to_mnist([value] * 784)
    with pytest.raises(BlankImage, match="blank"):
        image_to_mnist(png_bytes(np.full((28, 28), round(value * 255), np.uint8)))
    one_stroke = [value] * 784
    one_stroke[14 * 28 + 14] = 1.0 - value
    assert pixels_to_mnist(one_stroke).shape == (28, 28)


@pytest.fixture(scope="module")
def quick_networks(train_split):
    """Trained here in about 10 s: one epoch of the MLP and 600 CNN steps, plain SGD at lr 0.1."""
    mlp = fit(TrainConfig(model="mlp", lr=0.1, epochs=1, device="cpu"), *train_split, log=quiet).model
    cnn = fit(TrainConfig(model="cnn", lr=0.1, epochs=1, max_steps=600, device="cpu"), *train_split, log=quiet).model
    return {"mlp": mlp, "cnn": cnn}


@pytest.mark.slow
def test_mnist_digits_drawn_on_a_canvas_are_still_recognised(quick_networks, test_split):
    """300 test digits, enlarged 4-9×, moved and inverted on a 280×280 canvas, then preprocessed:
    accuracy may drop by at most 3 points against the raw images (measured: MLP +0.7, CNN -1.3)."""
    images, labels = test_split[0][:SAMPLE], test_split[1][:SAMPLE]
    rng = np.random.default_rng(0)
    prepared = []
    for image in images[:, 0].numpy():
        scale = int(rng.integers(4, 10))
        top, left = (int(v) for v in rng.integers(0, 280 - 28 * scale + 1, size=2))
        canvas = as_canvas(np.round(image * 255).astype(np.uint8), scale, top, left)
        prepared.append(image_to_mnist(png_bytes(canvas)))
    prepared = np.stack(prepared)[:, None]  # (N, 1, 28, 28)
    for name, model in quick_networks.items():
        raw = (predict(model, images).argmax(1) == labels).float().mean().item()
        redrawn = (predict(model, torch.from_numpy(prepared)).argmax(1) == labels).float().mean().item()
        assert raw >= 0.85, name
        print(f"{name}: {raw:.2%} on raw digits, {redrawn:.2%} redrawn and preprocessed")
        assert redrawn >= raw - 0.03, f"{name}: {raw:.3f} on raw digits, {redrawn:.3f} redrawn"
