"""Training recipes: what optimizer, schedule, loss and augmentation a run uses. `practice` is the
lab's own (plain SGD 0.01, batch 64, 10 epochs); `tuned` trains the same networks far better."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn
import torch.optim as optim


@dataclass(frozen=True)
class PracticeRecipe:
    """The practice's recipe, kept exactly: SGD without momentum, cross-entropy, no schedule."""

    name: str = "practice"
    epochs: int = 10
    lr: float = 0.01
    batch_size: int = 64
    summary: str = "the practice's own: plain SGD lr 0.01, batch 64, 10 epochs, cross-entropy"

    def make_optimizer(self, model, lr, total_steps):
        # foreach=True only batches the same per-tensor update p -= lr * grad: identical numbers.
        return optim.SGD(model.parameters(), lr=lr, foreach=True), None

    def make_augment(self, device):
        return None

    def make_criterion(self):
        return nn.CrossEntropyLoss()


RECIPES = {"practice": PracticeRecipe()}
