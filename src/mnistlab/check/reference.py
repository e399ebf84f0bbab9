"""The trusted references, computed outside the sandbox: the practice's training loop (kept here as the
practice writes it, with switches for the catalogued mistakes), on the subset and seed chosen at check time."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import torchvision.datasets as datasets
import torchvision.transforms as transforms
from torch.utils.data import DataLoader

from mnistlab.nets.models import create_model
from mnistlab.openmp import intra_op_threads

SUBSET_SIZE = 640  # 10 steps of 64 per epoch: 100 steps in the practice's 10 epochs, seconds on a CPU
EPOCHS = 10  # the practice's num_epochs
BATCH_SIZE = 64
LR = 0.01


@dataclass(frozen=True)
class Loop:
    """One way of writing the training loop: the practice's by default, or one catalogued mistake."""

    zero_grad: bool = True
    step_before_backward: bool = False
    lr: float = LR
    batch_size: int = BATCH_SIZE
    shuffle: bool = True
    on_test: bool = False
    softmax_before_loss: bool = False
    optimizer: str = "SGD"
    epochs: int = EPOCHS


PRACTICE = Loop()


def trimmed_mnist(root, indices=None, train=True):
    """torchvision's MNIST as the practice loads it (ToTensor), the training set cut to `indices`."""
    dataset = datasets.MNIST(root=str(root), train=train, download=False, transform=transforms.ToTensor())
    if indices is not None:
        index = torch.as_tensor(indices, dtype=torch.long)
        dataset.data, dataset.targets = dataset.data[index], dataset.targets[index]
    return dataset


def one_thread():
    """Bit-identical losses need the same arithmetic order: one thread here as in the sandbox."""
    return intra_op_threads(1)


def practice_loop(kind: str, train_dataset, test_dataset, seed: int, loop: Loop = PRACTICE,
                  max_steps: int | None = None) -> tuple[nn.Module, list[float]]:
    """The practice's training cell with mnistlab's `kind` network, as `loop` writes it: (network, losses)."""
    with one_thread():
        torch.manual_seed(seed)
        model = create_model(kind)
        train_loader = DataLoader(dataset=test_dataset if loop.on_test else train_dataset,
                                  batch_size=loop.batch_size, shuffle=loop.shuffle and not loop.on_test)
        criterion = nn.CrossEntropyLoss()
        optimizer = (optim.Adam if loop.optimizer == "Adam" else optim.SGD)(model.parameters(), lr=loop.lr)
        losses = []
        model.train()
        for epoch in range(loop.epochs):
            for inputs, labels in train_loader:
                if loop.zero_grad:
                    optimizer.zero_grad()
                outputs = model(inputs)
                if loop.softmax_before_loss:
                    outputs = F.softmax(outputs, dim=1)
                loss = criterion(outputs, labels)
                if loop.step_before_backward:
                    optimizer.step()
                    loss.backward()
                else:
                    loss.backward()
                    optimizer.step()
                losses.append(loss.item())
                if max_steps is not None and len(losses) >= max_steps:
                    return model, losses
    return model, losses


def first_difference(student: list[float], reference: list[float]) -> int | None:
    """The first step where the two loss lists differ (a length difference counts), or None."""
    for step, (a, b) in enumerate(zip(student, reference)):
        if a != b:
            return step
    return None if len(student) == len(reference) else min(len(student), len(reference))
