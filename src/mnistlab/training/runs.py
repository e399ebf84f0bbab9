"""Run folders, `runs/<model>-<recipe>-seed<seed>/`: config.json, history.json, model.pth, metrics.json
and loss.png. Their JSON is read here once, into typed records checked field by field, so every other
module reads attributes; folders written by v0.1.0 (no schema_version) load as they are."""

from __future__ import annotations

import io
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import torch

from mnistlab.errors import MnistlabError
from mnistlab.files import atomic_write, foreign_entries, listing, read_json, write_json
from mnistlab.nets.models import MODELS
from mnistlab.training.config import ConfigError, TrainConfig

SCHEMA_VERSION = 2  # 1: v0.1.0 (no schema_version field); 2: adds it. Fields are only ever added.
WEIGHTS = "model.pth"  # a run's weights, a plain state_dict
# What config.json always holds (the rest has defaults): a run is trained again from these.
CONFIG_REQUIRED = ("model", "recipe", "epochs", "lr", "batch_size", "seed")
RUN_FILES = ("config.json", "history.json", WEIGHTS, "metrics.json", "loss.png")  # all a run folder holds
MARKS = ("config.json", "history.json", "metrics.json")  # what only a run, finished or not, holds


def run_dir_name(model: str, recipe: str, seed: int, permuted: bool = False) -> str:
    return f"{model}-{recipe}-seed{seed}" + ("-permuted" if permuted else "")


def remake_command(model: str | None, path: Path) -> str:
    name = model if _model(model) else "|".join(MODELS)
    try:
        real, here = Path(path).resolve(), Path.cwd().resolve()
    except (OSError, RuntimeError):
        return f"mnistlab train {name}"
    if real == here or real in here.parents:  # a run never replaces the current folder (see files.out_folder)
        return f"mnistlab train {name}"
    return f"mnistlab train {name} --out {path}"


def not_a_run(folder: Path) -> str | None:
    """None if `folder` may be replaced by a new run (empty, or a finished or unfinished run's files
    and nothing else), else what is there that is not a run's: a training never throws away files
    that mnistlab did not write."""
    foreign = foreign_entries(folder, RUN_FILES)
    if foreign:
        return f"holds {listing(foreign)}, which no run writes"
    present = [entry.name for entry in Path(folder).iterdir()]
    if present and not set(present) & set(MARKS):  # a lone model.pth may well be the user's own
        return f"holds only {listing(present)}, not a run (no {', '.join(MARKS)})"
    return None


# --- what a good value is, per field ---------------------------------------------------------------

def _model(v) -> bool:
    return isinstance(v, str) and v in MODELS


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _whole(low: int | None = None):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and (low is None or v >= low)


def _fraction(v) -> bool:
    return _number(v) and 0 <= v <= 1


def _numbers(v) -> bool:
    return isinstance(v, list) and all(map(_number, v))


def _text(v) -> bool:
    return isinstance(v, str)


def _optional(test):
    return lambda v: v is None or test(v)


def _counts(v) -> bool:
    return (isinstance(v, list) and len(v) == 10 and all(isinstance(r, list) and len(r) == 10 for r in v)
            and all(_whole(0)(c) for r in v for c in r))


def checked(test, what: str, default=MISSING, factory=MISSING):
    """A record field with its test and, for the error message, what a good value is."""
    return field(default=default, default_factory=factory, metadata={"test": test, "what": what})


def from_json(cls, data: dict, path: Path, make: str):
    """`cls` built from the JSON object `data` read from `path`, every field checked; unknown keys
    (written by a later version) are ignored."""
    values = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise MnistlabError(f"{path} is corrupted (no {f.name!r}); `{make}` writes it again")
            continue
        if not f.metadata["test"](data[f.name]):
            raise MnistlabError(f"{path} is corrupted ({f.name!r} should be {f.metadata['what']}); "
                                f"`{make}` writes it again")
        values[f.name] = data[f.name]
    return cls(**values)


def config_from_json(data: dict, path: Path, make: str) -> TrainConfig:
    """config.json as the TrainConfig that made the run, checked by its own validator; unknown keys
    (written by a later version) are ignored."""
    for name in CONFIG_REQUIRED:
        if name not in data:
            raise MnistlabError(f"{path} is corrupted (no {name!r}); `{make}` writes it again")
    known = {f.name for f in fields(TrainConfig)}
    try:
        return TrainConfig(**{k: v for k, v in data.items() if k in known})
    except ConfigError as err:
        raise MnistlabError(f"{path} is corrupted ({err.setting!r} {err.problem}); `{make}` writes it again") from None


# --- the records -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class History:
    """history.json: the training loss of every step and the mean of every finished epoch."""

    loss: list[float] = checked(lambda v: _numbers(v) and len(v) > 0, "a non-empty list of finite numbers")
    epoch_loss: list[float] = checked(_numbers, "a list of finite numbers", factory=list)


@dataclass(frozen=True)
class Metrics:
    """metrics.json: the test-set results and where they came from; written last, so its presence
    marks a finished run."""

    model: str = checked(_model, f"one of {', '.join(MODELS)}")
    overall_accuracy: float = checked(_fraction, "a number between 0 and 1")
    per_digit_accuracy: list[float] = checked(lambda v: isinstance(v, list) and len(v) == 10 and all(map(_fraction, v)),
                                              "ten numbers between 0 and 1")
    confusion_matrix: list[list[int]] = checked(_counts, "10×10 counts")
    train_seconds: float = checked(lambda v: _number(v) and v >= 0, "a number of seconds")
    steps: int = checked(_whole(1), "a whole number of at least 1")
    test_images_per_second: float = checked(lambda v: _number(v) and v > 0, "a positive number")
    device: str = checked(_text, "a device name")
    torch_version: str = checked(_text, "a version")
    data_source: str = checked(_text, "a data source")
    data_md5: dict = checked(lambda v: isinstance(v, dict) and all(map(_text, v.values())), "file name → md5")
    recipe: str | None = checked(_optional(_text), "a recipe name", None)
    seed: int | None = checked(_optional(_whole()), "a whole number", None)
    epochs_completed: int | None = checked(_optional(_whole(0)), "a whole number", None)
    parameters: int | None = checked(_optional(_whole(1)), "a whole number", None)
    schema_version: int = checked(_whole(1), "a whole number", 1)
    # Added in 0.3.0 (None in older runs): accuracy on the training images the run learnt from (all 60,000,
    # or the first train_size), measured with the test's.
    train_accuracy: float | None = checked(_optional(_fraction), "a number between 0 and 1, or null", None)


@dataclass(frozen=True)
class Run:
    path: Path
    config: TrainConfig  # config.json, with the epochs the run completed
    history: History
    metrics: Metrics

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS

    @property
    def permuted(self) -> bool:
        """Whether its network was trained (and so must be fed) on pixel-permuted images."""
        return self.config.permute_pixels


# --- writing ---------------------------------------------------------------------------------------

def save_state_dict(path: Path, model: torch.nn.Module) -> None:
    """A plain state_dict on CPU tensors: `model.load_state_dict(torch.load(path))` just works."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()  # saved in memory first: a full disk is then an OSError, not torch's inline_container error
    torch.save(state, buffer)
    atomic_write(path, lambda f: f.write(buffer.getbuffer()))


def save_progress(out_dir: Path, config: TrainConfig, history: History, model: torch.nn.Module) -> None:
    """What a finished epoch leaves behind: weights, loss history and the config that made them."""
    out_dir = Path(out_dir)
    write_json(out_dir / "config.json", asdict(config))
    write_json(out_dir / "history.json", asdict(history))
    save_state_dict(out_dir / WEIGHTS, model)


def save_metrics(out_dir: Path, metrics: Metrics) -> None:
    write_json(Path(out_dir) / "metrics.json", asdict(metrics))


# --- reading ---------------------------------------------------------------------------------------

def load_run(path: str | Path) -> Run:
    """A finished run folder, every field of its JSON checked once."""
    path = Path(path)
    if not path.is_dir():
        raise MnistlabError(f"{path} is not a run folder; `mnistlab train mlp` or `mnistlab run` makes one")
    if not any((path / mark).exists() or (path / mark).is_symlink() for mark in MARKS):
        raise MnistlabError(f"{path} is not a run folder (no {', '.join(MARKS)}); `mnistlab train mlp` or "
                            f"`mnistlab run` makes one")
    raw_config = read_json(path / "config.json", remake_command(None, path))
    make = remake_command(raw_config.get("model"), path)
    config = config_from_json(raw_config, path / "config.json", make)
    history = from_json(History, read_json(path / "history.json", make), path / "history.json", make)
    if not (path / "metrics.json").exists():  # written last: its absence means the run was stopped
        raise MnistlabError(f"{path} holds an unfinished run (stopped after {config.epochs_completed or 0} of "
                            f"{config.epochs} epochs, never tested); `{make}` trains it again")
    metrics = from_json(Metrics, read_json(path / "metrics.json", make), path / "metrics.json", make)
    if metrics.model != config.model:
        raise MnistlabError(f"{path / 'metrics.json'} is of a {metrics.model} run but config.json says "
                            f"{config.model}; `{make}` makes the folder whole again")
    done = (config.epochs_completed, metrics.epochs_completed)
    if None not in done and done[0] != done[1]:  # v0.1.0 left an interrupted re-train's files beside old ones
        raise MnistlabError(f"{path} mixes two runs (metrics.json after {done[1]} epochs, config.json "
                            f"{done[0]}); `{make}` makes the folder whole again")
    if not (path / WEIGHTS).is_file():
        there = (path / WEIGHTS).exists() or (path / WEIGHTS).is_symlink()
        raise MnistlabError(f"{path / WEIGHTS} {'is not a regular file' if there else 'is missing'}; "
                            f"`{make}` makes it")
    return Run(path, config, history, metrics)


def find_runs(runs_dir: str | Path, model: str | None = None, problems: list[str] | None = None) -> list[Run]:
    """Finished runs under `runs_dir`, newest first (by when their metrics were written). A damaged
    folder is passed over; what is wrong with it is appended to `problems` if given."""
    found = []
    for metrics in Path(runs_dir).glob("[!.]*/metrics.json"):  # dot-folders are unfinished runs being written
        try:
            run = load_run(metrics.parent)
        except MnistlabError as err:
            if problems is not None:
                problems.append(str(err))
            continue
        if model is None or run.model == model:
            found.append(run)
    return sorted(found, key=lambda r: (r.path / "metrics.json").stat().st_mtime, reverse=True)


def latest_run(runs_dir: str | Path, model: str, permuted: bool = False) -> Run:
    """The newest finished `model` run, among the --permute-pixels runs if `permuted`, else the others."""
    problems: list[str] = []
    found = [run for run in find_runs(runs_dir, model, problems) if run.permuted == permuted]
    if not found:
        damaged = f" ({problems[0]})" if problems else ""
        kind, flag = ("pixel-permuted ", " --permute-pixels") if permuted else ("", "")
        raise MnistlabError(f"no finished {kind}{model} run in {runs_dir}{damaged}; "
                            f"`mnistlab train {model}{flag}` makes one")
    return found[0]
