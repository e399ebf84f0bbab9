"""Run folders: `runs/<name>/` holds config.json, history.json, model.pth, metrics.json and the loss
figure, each written to a temporary name and renamed, so an interrupted run leaves whole files."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mnistlab.errors import MnistlabError

RUN_FILES = ("config.json", "history.json", "model.pth", "metrics.json")


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write) -> None:
    """Call `write(f)` on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=1).encode() + b"\n"))


def save_state_dict(path: Path, model: torch.nn.Module) -> None:
    """A plain state_dict on CPU tensors: `model.load_state_dict(torch.load(path))` just works."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_write(path, lambda f: torch.save(state, f))


def save_progress(out_dir: Path, config, model, loss, epoch_loss, epochs_done: int) -> None:
    """What a finished epoch leaves behind: weights, loss history and the config that made them."""
    out_dir = Path(out_dir)
    write_json(out_dir / "config.json", {**asdict(config), "epochs_completed": epochs_done})
    write_json(out_dir / "history.json", {"loss": loss, "epoch_loss": epoch_loss})
    save_state_dict(out_dir / "model.pth", model)


@dataclass
class Run:
    path: Path
    config: dict
    history: dict
    metrics: dict

    @property
    def model(self) -> str:
        return self.config["model"]

    @property
    def weights(self) -> Path:
        return self.path / "model.pth"


def read_json(path: Path, make: str) -> dict:
    if not path.exists():
        raise MnistlabError(f"{path} is missing; `{make}` makes it")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MnistlabError(f"{path} is corrupted ({err.msg if hasattr(err, 'msg') else err}); "
                            f"`{make}` writes it again") from None
    if not isinstance(data, dict):
        raise MnistlabError(f"{path} is corrupted (not a JSON object); `{make}` writes it again")
    return data


def load_run(path: str | Path) -> Run:
    """A finished run folder, checked for the files every consumer needs."""
    path = Path(path)
    if not path.is_dir():
        raise MnistlabError(f"{path} is not a run folder; `mnistlab train mlp` or `mnistlab run` makes one")
    config = read_json(path / "config.json", "mnistlab train mlp|cnn")
    make = f"mnistlab train {config.get('model', 'mlp|cnn')} --out {path}"
    history = read_json(path / "history.json", make)
    metrics = read_json(path / "metrics.json", make)
    if not (path / "model.pth").exists():
        raise MnistlabError(f"{path / 'model.pth'} is missing; `{make}` makes it")
    for key, holder, name in [("model", config, "config.json"), ("loss", history, "history.json"),
                              ("overall_accuracy", metrics, "metrics.json"),
                              ("per_digit_accuracy", metrics, "metrics.json")]:
        if key not in holder:
            raise MnistlabError(f"{path / name} is corrupted (no {key!r}); `{make}` writes it again")
    if len(metrics["per_digit_accuracy"]) != 10:
        raise MnistlabError(f"{path / 'metrics.json'} is corrupted (per_digit_accuracy needs 10 values)")
    return Run(path, config, history, metrics)


def find_runs(runs_dir: str | Path, model: str | None = None) -> list[Run]:
    """Finished runs under `runs_dir`, newest first (by when their metrics were written)."""
    found = []
    for metrics in Path(runs_dir).glob("*/metrics.json"):
        try:
            run = load_run(metrics.parent)
        except MnistlabError:
            continue  # unfinished or damaged folders are not candidates for "latest"
        if model is None or run.model == model:
            found.append(run)
    return sorted(found, key=lambda r: (r.path / "metrics.json").stat().st_mtime, reverse=True)


def latest_run(runs_dir: str | Path, model: str) -> Run:
    found = find_runs(runs_dir, model)
    if not found:
        raise MnistlabError(f"no finished {model} run in {runs_dir}; `mnistlab train {model}` makes one")
    return found[0]
