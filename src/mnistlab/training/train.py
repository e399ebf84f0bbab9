"""Training: the practice's recipe reproduced bit for bit (same batches, same losses) but fed from
in-memory tensors instead of per-image PIL conversion; `fit()` composes the epochs."""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from mnistlab import files
from mnistlab.errors import MnistlabError
from mnistlab.i18n import texts
from mnistlab.nets.models import create_model
from mnistlab.training import recipes, runs
from mnistlab.training.config import ConfigError, TrainConfig

NAN_CHECK_EVERY = 50  # steps between finiteness checks (each one waits for the device)
# Diverged: a loss ten times the untrained network's ln 10 = 2.30 (a correct class given under 1e-10
# on average), or a weight past 10^4 (trained weights stay under ~10).
DIVERGED_LOSS = 10 * math.log(10)
MAX_WEIGHT = 1e4


@dataclass
class TrainResult:
    model: nn.Module
    loss: list[float] = field(default_factory=list)  # one value per step
    epoch_loss: list[float] = field(default_factory=list)  # mean loss of each finished epoch
    train_seconds: float = 0.0
    steps: int = 0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError("device", f"{name!r} is not a device; use auto, cpu, cuda or mps") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(device.type, False):
        raise ConfigError("device", f"{name}: no {device.type} device here; use auto or cpu")
    return device


def train_one_epoch(plan: recipes.Plan, images, labels, batches, first_step=0, bar=None, on_step=None):
    """One pass over `batches` of indices with the recipe's `plan`; returns the per-step losses as a
    1-D tensor. `first_step` is the number of steps before this epoch; `bar`, if given, is a tqdm bar
    to advance; `on_step(step, loss)`, if given, sees each step's loss tensor (a live chart) and may
    raise to stop."""
    model = plan.model
    model.train()
    losses = []
    for indices in batches:
        indices = indices.to(images.device, non_blocking=True)
        inputs, targets = images[indices], labels[indices]
        if plan.augment is not None:
            inputs = plan.augment(inputs)
        plan.optimizer.zero_grad()
        # forward
        with plan.autocast():
            outputs = model(inputs)
        loss = plan.criterion(outputs.float(), targets)  # .float() is a no-op in fp32
        # backward
        loss.backward()
        # update
        plan.optimizer.step()
        if plan.schedule is not None:
            plan.schedule.step()
        losses.append(loss.detach())
        step = first_step + len(losses)
        if step % NAN_CHECK_EVERY == 0 and not loss < DIVERGED_LOSS:  # NaN compares false too
            break
        if bar is not None:
            bar.update(1)
        if on_step is not None:
            on_step(step, losses[-1])
    return torch.stack(losses).float().cpu()


def fit(config: TrainConfig, images: torch.Tensor, labels: torch.Tensor, out_dir: Path | None = None,
        log=print, on_epoch=None, on_step=None) -> TrainResult:
    """Train `config.model` on (images, labels); after each epoch the run folder is brought up to date.

    `on_epoch(epoch, result)`, if given, runs after each epoch (to score `result.model`, say); its
    time is not counted in `result.train_seconds`; `on_step` is passed to `train_one_epoch`."""
    device = resolve_device(config.device)
    if config.train_size is not None:
        images, labels = images[: config.train_size], labels[: config.train_size]
    images, labels = images.to(device), labels.to(device)
    torch.manual_seed(config.seed)
    model = create_model(config.model).to(device)
    # Shuffling a DataLoader over range(N) draws from the global generator exactly as the practice's
    # DataLoader over the MNIST dataset does, so the batches (and the losses) are the same.
    batches = DataLoader(range(len(images)), batch_size=config.batch_size, shuffle=True)
    total_steps = len(batches) * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    plan = recipes.RECIPES[config.recipe].plan(config.model, model, total_steps, config.lr, device)
    if config.permute_pixels:  # after the augmentation, which moves the digit as it is drawn
        plan = replace(plan, augment=_then_permute(plan.augment))
    model = plan.model

    result = TrainResult(model)
    started = time.perf_counter()
    outside = 0.0  # seconds spent in on_epoch, left out of train_seconds
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        steps_left = total_steps - result.steps
        epoch_batches = _take(batches, steps_left)
        with tqdm(total=min(len(batches), steps_left), desc=f"epoch {epoch}/{config.epochs}",
                  leave=False, disable=None, unit="step") as bar:
            losses = train_one_epoch(plan, images, labels, epoch_batches, result.steps, bar, on_step)
        bad = (~(losses < DIVERGED_LOSS)).nonzero()
        if len(bad):
            step = result.steps + int(bad[0]) + 1
            raise MnistlabError(f"the loss became {losses[int(bad[0])].item():.4g} at step {step}: training "
                                f"diverged; try a smaller --lr (now {config.lr:g})")
        largest = max(float(p.detach().abs().max()) for p in model.parameters())
        if not largest < MAX_WEIGHT:
            raise MnistlabError(f"a weight grew to {largest:.4g} by step {result.steps + len(losses)}: training "
                                f"diverged; try a smaller --lr (now {config.lr:g})")
        result.loss += losses.tolist()
        result.steps += len(losses)
        result.epoch_loss.append(float(losses.mean()))
        seconds = time.perf_counter() - epoch_start
        result.train_seconds = time.perf_counter() - started - outside
        log(f"epoch {epoch:2d}/{config.epochs}  loss {result.epoch_loss[-1]:.4f} "
            f"(last batch {result.loss[-1]:.4f})  {len(losses) * config.batch_size / seconds:,.0f} img/s  "
            f"{seconds:.1f}s")
        if out_dir is not None:
            runs.save_progress(out_dir, replace(config, epochs_completed=epoch),
                               runs.History(result.loss, result.epoch_loss), model)
        if on_epoch is not None:
            paused = time.perf_counter()
            on_epoch(epoch, result)
            outside += time.perf_counter() - paused
        if result.steps >= total_steps:
            break
    return result


def _then_permute(augment):
    from mnistlab.data import permute_pixels

    return lambda inputs: permute_pixels(augment(inputs) if augment is not None else inputs)


def _take(batches, n):
    """The first `n` batches of one pass (the generator is drawn as a full epoch would)."""
    for i, indices in enumerate(batches):
        if i >= n:
            return
        yield indices



def check_out_dir(out_dir: Path) -> Path:
    """The folder a run will be written to, checked now, not after the training: a folder that holds
    anything but a run's own files is refused (never replaced), as is one that cannot be written. A
    link is followed: the folder it points to is the one replaced."""
    out_dir = files.out_folder(out_dir, "--out", "the run", runs.not_a_run, "runs/mine")
    files.check_writable(out_dir, "the run folder", "pass another --out")
    return out_dir


def train_run(config: TrainConfig, out_dir: Path, data_dir=None, log=print, lang: str | None = None,
              **hooks) -> runs.Run:
    """Train, evaluate on the test set and write the complete run folder; returns the loaded run.

    The run is written into a new folder beside `out_dir` and swapped in only once finished: an
    interrupted run leaves `out_dir` as it was (a finished older run, or nothing), never a mix.
    `data_dir` is where MNIST is, or the `data.DataStatus` of a fetch made just before, so that the run
    records where its data really came from. `hooks` (on_epoch, on_step) are passed to `fit` (the
    studio page watches a run through them)."""
    from mnistlab import data, plots
    from mnistlab.inference import evaluate
    from mnistlab.nets.models import MODELS, count_parameters

    out_dir = check_out_dir(out_dir)
    device = resolve_device(config.device)  # a bad device is said before MNIST is fetched
    status = data_dir if isinstance(data_dir, data.DataStatus) else data.ensure_mnist(data_dir, quiet=False)
    train_images, train_labels = data.load_split(status.root, "train", device)
    test_images, test_labels = data.load_split(status.root, "test", device)
    recipe = recipes.RECIPES[config.recipe]
    steps = f" (at most {config.max_steps} steps)" if config.max_steps is not None else ""
    steps += ", pixels permuted" if config.permute_pixels else ""
    log(f"training {MODELS[config.model].display_name} on {device} with the {recipe.name} recipe: {config.epochs} "
        f"epochs{steps}, lr {config.lr:g}, batch {config.batch_size}, seed {config.seed} -> {out_dir}")
    full = "free some space or pass another --out"
    with files.writing("the run folder", out_dir, full):
        files.remove_stale(out_dir)  # what a killed earlier run into the same folder left behind
        staging = files.staging_dir(out_dir)
    try:
        result = fit(config, train_images, train_labels, staging, log=log, **hooks)
        scores = evaluate.evaluate(result.model, data.network_input(test_images, config.permute_pixels),
                                   test_labels, device)
        # the same measure on the images it trained on: beside the test's, it shows overfitting
        seen = slice(config.train_size)  # the first train_size images, as fit takes them; None: all
        train_scores = evaluate.evaluate(result.model, data.network_input(train_images[seen], config.permute_pixels),
                                         train_labels[seen], device)
        metrics = runs.Metrics(
            model=config.model,
            recipe=config.recipe,
            seed=config.seed,
            overall_accuracy=scores.overall_accuracy,
            per_digit_accuracy=scores.per_digit_accuracy,
            confusion_matrix=scores.confusion,
            train_seconds=result.train_seconds,
            steps=result.steps,
            epochs_completed=len(result.epoch_loss),
            parameters=count_parameters(result.model),
            test_images_per_second=scores.images_per_second,
            device=str(device),
            torch_version=torch.__version__,
            data_source=status.source,
            data_md5=status.files,
            schema_version=runs.SCHEMA_VERSION,
            train_accuracy=train_scores.overall_accuracy,
        )
        t = texts(lang)  # the loss figure speaks the learner's language (default: the locale's)
        plots.plot_loss(result.loss, t.gettext("Training loss ({network})").format(network=MODELS[config.model].display_name),
                        staging / "loss.png", t)
        runs.save_metrics(staging, metrics)
        files.replace_dir(staging, out_dir, runs.not_a_run)
    except OSError as err:  # a full or read-only disk, while training (each epoch saves) or at the end
        raise files.write_error("the run folder", out_dir, err, full) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already if it was swapped in
    log(f"{MODELS[config.model].display_name}: test accuracy {scores.overall_accuracy:.2%} after "
        f"{result.steps} steps in {result.train_seconds:.1f}s")
    return runs.load_run(out_dir)
