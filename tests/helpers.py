"""Plain helpers for test modules that need them at import time (parametrize lists); conftest.py
offers the same as fixtures."""

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def png_bytes(array: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    """`array` (uint8) encoded as an image file."""
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, fmt)
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


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
