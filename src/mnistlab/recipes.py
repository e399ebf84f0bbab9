"""Training recipes: what optimizer, schedule, loss and augmentation a run uses. `practice` is the
lab's own (plain SGD 0.01, batch 64, 10 epochs); `tuned` trains the same networks far better."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.optim as optim

from mnistlab.augment import RandomAffine
from mnistlab.i18n import N_


@dataclass(frozen=True)
class PracticeRecipe:
    """The practice's recipe, kept exactly: SGD without momentum, cross-entropy, no schedule."""

    name: str = "practice"
    epochs: int = 10
    lr: float = 0.01
    batch_size: int = 64
    summary: str = N_("the practice's own: plain SGD lr 0.01, batch 64, 10 epochs, cross-entropy")

    def defaults(self, model):
        """(epochs, lr, batch_size) for `model`: the same for both networks."""
        return self.epochs, self.lr, self.batch_size

    def make_optimizer(self, model, lr, total_steps):
        # foreach=True only batches the same per-tensor update p -= lr * grad: identical numbers.
        return optim.SGD(model.parameters(), lr=lr, foreach=True), None

    def make_augment(self, device, model=None):
        return None

    def make_criterion(self):
        return nn.CrossEntropyLoss()


@dataclass(frozen=True)
class ModelSettings:
    """What the tuned recipe uses for one network."""

    epochs: int
    lr: float  # peak of the one-cycle schedule
    batch_size: int
    augment: RandomAffine | None = None  # random affine moves of the training batches, or none


@dataclass(frozen=True)
class TunedRecipe:
    """The same networks trained better: SGD with Nesterov momentum, a one-cycle learning rate,
    label smoothing and weight decay; each choice was measured on a validation split."""

    name: str = "tuned"
    mlp: ModelSettings = ModelSettings(epochs=20, lr=0.1, batch_size=256, augment=RandomAffine())
    cnn: ModelSettings = ModelSettings(epochs=3, lr=0.1, batch_size=128, augment=RandomAffine())
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup: float = 0.25  # fraction of the steps spent rising to the peak learning rate
    label_smoothing: float = 0.1
    input_std: float | None = 0.3081  # train as if images were divided by this (MNIST's pixel std)
    summary: str = N_("SGD with Nesterov momentum and a one-cycle learning rate, label smoothing 0.1, "
                      "weight decay, input scaling folded into the first layer, random affine augmentation")

    def defaults(self, model):
        """(epochs, lr, batch_size) for `model`."""
        settings = getattr(self, model)
        return settings.epochs, settings.lr, settings.batch_size

    def make_optimizer(self, model, lr, total_steps):
        """Nesterov SGD with a one-cycle schedule. With `input_std` set, the first layer is trained
        exactly as if the images were divided by it (see `_first_layer_groups`)."""
        groups = self._first_layer_groups(model, lr) if self.input_std else \
            [{"params": list(model.parameters()), "lr": lr, "weight_decay": self.weight_decay}]
        optimizer = optim.SGD(groups, lr=lr, momentum=self.momentum, nesterov=self.nesterov, foreach=True)
        schedule = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in groups],
                                                 total_steps=total_steps, pct_start=self.warmup,
                                                 anneal_strategy="linear", cycle_momentum=False)
        return optimizer, schedule

    def _first_layer_groups(self, model, lr):
        """Input scaling folded into the first layer, so the saved network still takes [0, 1] images.

        Training W on x / s is the same as training V = W / s on x itself if V starts at W / s and
        takes steps with learning rate lr / s² and weight decay wd · s² (the chain rule: dL/dW =
        dL/dV / s). The first layer's weight is rescaled here, once, before any step."""
        first = next(model.children())  # fc1 of the MLP, conv1 of the CNN
        s = self.input_std
        with torch.no_grad():
            first.weight.div_(s)
        rest = [p for p in model.parameters() if p is not first.weight]
        return [{"params": [first.weight], "lr": lr / s**2, "weight_decay": self.weight_decay * s**2},
                {"params": rest, "lr": lr, "weight_decay": self.weight_decay}]

    def make_augment(self, device, model=None):
        return getattr(self, model).augment

    def make_criterion(self):
        return nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)


RECIPES = {"practice": PracticeRecipe(), "tuned": TunedRecipe()}
