"""Training recipes: what optimizer, schedule, loss, augmentation and precision a run uses. `practice`
is the lab's own (plain SGD 0.01, batch 64, 10 epochs); `tuned` trains the same networks far better."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.optim as optim

from mnistlab.errors import MnistlabError
from mnistlab.i18n import N_
from mnistlab.training.augment import AugmentFirst, RandomAffine


@dataclass(frozen=True)
class Plan:
    """What the training loop runs with, handed over by a recipe once per run."""

    model: nn.Module  # the network, prepared for the recipe (still the practice's class)
    optimizer: optim.Optimizer
    schedule: optim.lr_scheduler.LRScheduler | None  # stepped after every optimizer step, or none
    augment: Callable[[torch.Tensor], torch.Tensor] | None  # applied to each training batch, or none
    autocast: Callable[[], contextlib.AbstractContextManager]  # the forward pass's precision (fp32: does nothing)
    criterion: nn.Module  # the loss


@dataclass(frozen=True)
class PracticeRecipe:
    """The practice's recipe, kept exactly: SGD without momentum, cross-entropy, no schedule."""

    name: str = "practice"
    epochs: int = 10
    lr: float = 0.01
    batch_size: int = 64
    summary: str = N_("the practice's own: plain SGD lr 0.01, batch 64, 10 epochs, cross-entropy")

    def defaults(self, model_name):
        """(epochs, lr, batch_size) for `model_name`: the same for every network."""
        return self.epochs, self.lr, self.batch_size

    def plan(self, model_name, model, total_steps, lr, device) -> Plan:
        # foreach=True only batches the same per-tensor update p -= lr * grad: identical numbers.
        return Plan(model, optim.SGD(model.parameters(), lr=lr, foreach=True), schedule=None, augment=None,
                    autocast=contextlib.nullcontext, criterion=nn.CrossEntropyLoss())


@dataclass(frozen=True)
class ModelSettings:
    """What the tuned recipe uses for one network."""

    epochs: int
    lr: float  # peak of the one-cycle schedule
    batch_size: int
    augment: RandomAffine | None = None  # random affine moves of the training batches, or none
    warmup: float = 0.25  # fraction of the steps spent rising to the peak learning rate
    clean_tail: float = 0.0  # fraction of the steps, at the end, trained on unaugmented images
    bf16: bool = False  # bfloat16 autocast for the forward pass where the device has it (else fp32)


TUNED_SETTINGS = {  # per registry network; each choice measured on a validation split
    "mlp": ModelSettings(epochs=12, lr=0.2, batch_size=512, augment=RandomAffine(), clean_tail=0.25, bf16=True),
    "cnn": ModelSettings(epochs=1, lr=0.1, batch_size=64, augment=RandomAffine(), clean_tail=0.3),
}
# The same-budget MLP takes the MultiLayerNN's settings (not tuned on its own): the comparison with the
# CNN is then about the architecture, trained the way an MLP is trained here.
TUNED_SETTINGS["mlp-small"] = TUNED_SETTINGS["mlp"]


@dataclass(frozen=True)
class TunedRecipe:
    """The same networks trained better: SGD with Nesterov momentum, a one-cycle learning rate,
    label smoothing and weight decay; each choice was measured on a validation split."""

    name: str = "tuned"
    settings: Mapping[str, ModelSettings] = field(default_factory=lambda: dict(TUNED_SETTINGS))
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    input_std: float | None = 0.3081  # train as if images were divided by this (MNIST's pixel std)
    # Kept word for word: the translation catalogues hold this sentence.
    summary: str = N_("SGD with Nesterov momentum and a one-cycle learning rate, label smoothing 0.1, "
                      "weight decay, input scaling folded into the first layer, random affine augmentation")

    def settings_for(self, model_name) -> ModelSettings:
        if model_name not in self.settings:
            raise MnistlabError(f"the tuned recipe has no settings for {model_name!r} (it has {', '.join(self.settings)})")
        return self.settings[model_name]

    def defaults(self, model_name):
        """(epochs, lr, batch_size) for `model_name`."""
        settings = self.settings_for(model_name)
        return settings.epochs, settings.lr, settings.batch_size

    def plan(self, model_name, model, total_steps, lr, device) -> Plan:
        """The first layer folded (see `fold_input_scaling`), Nesterov SGD with a one-cycle schedule
        over `total_steps`, augmentation but for the clean tail, bf16 if asked for and supported."""
        settings = self.settings_for(model_name)
        model = self.fold_input_scaling(model)
        optimizer = self.optimizer(model, lr)
        schedule = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                                 total_steps=total_steps, pct_start=settings.warmup,
                                                 anneal_strategy="linear", cycle_momentum=False)
        augment = None
        if settings.augment is not None:
            augment = AugmentFirst(settings.augment, round(total_steps * (1 - settings.clean_tail)))
        autocast = bf16_autocast(device) if settings.bf16 else contextlib.nullcontext
        return Plan(model, optimizer, schedule, augment, autocast,
                    nn.CrossEntropyLoss(label_smoothing=self.label_smoothing))

    def fold_input_scaling(self, model):
        """Fold the input scaling into the first layer (see `optimizer`): its weight is divided by
        `input_std` here, once, before any step. The saved network still takes [0, 1] images."""
        if self.input_std:
            with torch.no_grad():
                _first_layer(model).weight.div_(self.input_std)
        return model

    def optimizer(self, model, lr):
        """Nesterov SGD for a model that went through `fold_input_scaling`.

        Training W on x / s is the same as training V = W / s on x itself if V starts at W / s
        (`fold_input_scaling`) and takes steps with learning rate lr / s² and weight decay wd · s² (the
        chain rule: dL/dW = dL/dV / s): so the first layer's weight gets its own parameter group."""
        first = _first_layer(model).weight
        s = self.input_std or 1.0
        rest = [p for p in model.parameters() if p is not first]
        groups = [{"params": [first], "lr": lr / s**2, "weight_decay": self.weight_decay * s**2},
                  {"params": rest, "lr": lr, "weight_decay": self.weight_decay}]
        return optim.SGD(groups, lr=lr, momentum=self.momentum, nesterov=self.nesterov, foreach=True)


def bf16_supported(device: torch.device | str) -> bool:
    """Whether bfloat16 matrix products run natively on `device` (not emulated, which is slower)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.backends.mkldnn.is_available() and (
            torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def bf16_autocast(device: torch.device | str):
    """bfloat16 autocast where the device has it, plain fp32 (a do-nothing context) elsewhere. The
    weights stay fp32 either way: autocast only casts the inputs of matmuls and convolutions."""
    if not bf16_supported(device):
        return contextlib.nullcontext
    return lambda: torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def _first_layer(model: nn.Module) -> nn.Module:
    return next(model.children())  # fc1 of the MLPs, conv1 of the CNN


RECIPES = {"practice": PracticeRecipe(), "tuned": TunedRecipe()}
