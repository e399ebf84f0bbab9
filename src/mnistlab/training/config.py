"""The training config: one record that `mnistlab train`, the studio page and a run's config.json
share, with its one validator. Its messages name the setting, not a flag: the CLI says `--batch-size`
where the page says `"batch_size"` (see `ConfigError`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mnistlab.data import TRAIN_IMAGES
from mnistlab.errors import MnistlabError
from mnistlab.nets.models import MODELS
from mnistlab.training import recipes

MAX_SEED = 2**64 - 1  # torch.manual_seed takes 64-bit seeds
MAX_LR = 1000.0  # far past any rate that trains; beyond it the update itself overflows float32


class ConfigError(MnistlabError):
    """A setting with a value it may not have: `setting` is the field's name ("batch_size"), `problem`
    what is wrong with it ("must be at least 1 (got 0)"); whoever asked for it names the setting its way."""

    def __init__(self, setting: str, problem: str):
        super().__init__(f"{setting} {problem}")
        self.setting, self.problem = setting, problem

    def as_flag(self) -> str:
        """The message as the command line says it: `--batch-size must be ...`."""
        return f"--{self.setting.replace('_', '-')} {self.problem}"


@dataclass(frozen=True)
class TrainConfig:
    model: str = "mlp"  # network from the registry: mlp, cnn or mlp-small
    recipe: str = "practice"  # practice (the lab's plain SGD, bit-faithful) or tuned
    epochs: int | None = None  # passes over the training set; None: the recipe's (practice: 10)
    lr: float | None = None  # peak learning rate; None: the recipe's (practice: 0.01)
    batch_size: int | None = None  # images per step; None: the recipe's (practice: 64)
    seed: int = 0  # torch.manual_seed before the model is built, as in the practice
    device: str = "auto"  # auto (cuda, then mps, then cpu), or a torch device string (checked by train.resolve_device)
    max_steps: int | None = None  # stop after this many steps (quick runs); None: all epochs
    train_size: int | None = None  # use only the first N training images; None: all 60,000
    # shuffle every image's 784 pixels by data.pixel_permutation(); added with issue 20: an older
    # config.json has no such field, and its run was not permuted
    permute_pixels: bool = False
    epochs_completed: int | None = None  # what a run adds: epochs finished when its folder was last written

    def __post_init__(self):
        _check_choice("model", self.model, MODELS)
        _check_choice("recipe", self.recipe, recipes.RECIPES)
        defaults = recipes.RECIPES[self.recipe].defaults(self.model)
        for name, default in zip(("epochs", "lr", "batch_size"), defaults):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)  # frozen: filled in once, here
        _check_whole("epochs", self.epochs, 1)
        if not (_is_number(self.lr) and 0 < self.lr <= MAX_LR):
            raise ConfigError("lr", f"must be a positive number up to {MAX_LR:g} (got {self.lr!r})")
        _check_whole("batch_size", self.batch_size, 1, TRAIN_IMAGES)
        _check_whole("seed", self.seed, 0, MAX_SEED)
        if not isinstance(self.device, str):
            raise ConfigError("device", f"must be a device name such as auto, cpu or cuda (got {self.device!r})")
        if not isinstance(self.permute_pixels, bool):
            raise ConfigError("permute_pixels", f"must be true or false (got {self.permute_pixels!r})")
        for name, low, high in (("max_steps", 1, None), ("train_size", 1, TRAIN_IMAGES), ("epochs_completed", 0, None)):
            if getattr(self, name) is not None:
                _check_whole(name, getattr(self, name), low, high)

    def steps_per_epoch(self) -> int:
        """Batches in one pass over the training images this config uses."""
        return math.ceil((self.train_size or TRAIN_IMAGES) / self.batch_size)

    def total_steps(self) -> int:
        """Steps the whole run takes: every epoch, or `max_steps` if fewer."""
        every = self.steps_per_epoch() * self.epochs
        return every if self.max_steps is None else min(every, self.max_steps)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_choice(name: str, value, choices) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)} (got {value!r})")


def _check_whole(name: str, value, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"must be a whole number (got {value!r})")
    if high is not None and not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high} (got {value})")
    if value < low:
        raise ConfigError(name, f"must be at least {low} (got {value})")
