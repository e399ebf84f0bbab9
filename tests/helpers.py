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


def quiet(_line) -> None:
    """A `log` that prints nothing, for fit and train_run."""


def handed_on(model, image) -> list[np.ndarray]:
    """What each child layer of `model` passes on in its own forward(), for one 28×28 image: the next
    layer's input (reshaped to this layer's output shape) and, for the last layer, the network's output."""
    import torch

    inputs, outputs = [], []

    def record(module, given, produced):  # returns None: the forward pass goes on unchanged
        inputs.append(given[0])
        outputs.append(produced)

    hooks = [m.register_forward_hook(record) for m in model.children()]
    try:
        with torch.no_grad():
            final = model(torch.as_tensor(np.asarray(image, dtype=np.float32)).reshape(1, 1, 28, 28))
    finally:
        for hook in hooks:
            hook.remove()
    passed = [*inputs[1:], final]
    return [p.reshape(o.shape)[0].numpy() for p, o in zip(passed, outputs)]


def write_fake_runs(runs: Path) -> Path:
    """A runs folder with an untrained mlp and cnn run (for what needs runs, not good ones)."""
    for model in ("mlp", "cnn"):
        write_fake_run(runs / f"{model}-practice-seed0", model)
    return runs


def write_fake_run(folder: Path, model: str = "mlp", seed: int = 0, accuracy: float = 0.5) -> Path:
    """A finished run folder as `mnistlab train` writes it, with untrained weights (no training)."""
    import json
    from dataclasses import asdict

    import torch

    from mnistlab.nets.models import count_parameters, create_model
    from mnistlab.training.train import TrainConfig

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


# A 7 as mouse strokes on the 280×280 drawing pad: top bar, stem, cross.
SEVEN = [[(70, 60), (210, 60), (190, 100), (160, 160), (130, 235)], [(100, 150), (200, 150)]]


def settled(page):
    """Wait until every change made on the studio page so far is answered: the answers are not
    aria-busy. A drawing sends answers while it is drawn, so a first answer ("Answered", a "7") may be
    a half-drawn digit's."""
    from playwright.sync_api import expect

    expect(page.locator("#networks")).to_have_attribute("aria-busy", "false", timeout=20_000)


def draw(page, strokes=SEVEN):
    """Draw `strokes` (canvas pixels) on the page's #pad with the mouse."""
    page.locator("#pad").scroll_into_view_if_needed()  # the mouse works in the viewport's coordinates
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / 280  # the canvas is drawn at CSS size; strokes are in canvas pixels
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * scale, box["y"] + stroke[0][1] * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=8)
        page.mouse.up()


def interrupt_in_epoch(monkeypatch, epoch: int) -> None:
    """Make training raise KeyboardInterrupt (Ctrl+C) at the start of `epoch`."""
    from mnistlab.training import train

    calls, real_epoch = [], train.train_one_epoch

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == epoch:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train, "train_one_epoch", interrupted)


def stub_job(manager, job_id: str, events=()):
    """A job in `manager` (a jobs.Jobs) that trains nothing: its events are what the test appends, its
    process a sleeping Python, so streams, caps and Stop can be tested without a training."""
    import subprocess
    import sys
    import tempfile

    from mnistlab.training.jobs import Job
    from mnistlab.training.train import TrainConfig

    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    out_dir = manager.runs_dir / f"mlp-practice-seed0-20261201-120000-{job_id}"
    job = Job(job_id, TrainConfig(model="mlp"), out_dir, out_dir.with_name(f".{out_dir.name}.tmp"), process,
              tempfile.TemporaryFile("w+"), [{"event": kind, "data": data} for kind, data in events])
    manager.jobs[job_id] = job
    return job
