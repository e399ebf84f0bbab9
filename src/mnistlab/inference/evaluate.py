"""Test-set evaluation with the practice's definitions: overall accuracy, per-digit accuracy
(correct / total for each true digit) and the 10×10 confusion matrix (rows: true, columns: predicted)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

EVAL_BATCH = 1000  # the practice's evaluation batch size


@dataclass
class Evaluation:
    overall_accuracy: float
    per_digit_accuracy: list[float]
    confusion: list[list[int]]  # confusion[true][predicted]
    predictions: torch.Tensor  # (N,) predicted digit of each image
    confidences: torch.Tensor  # (N,) softmax probability of that prediction
    images_per_second: float


@torch.no_grad()
def predict(model, images: torch.Tensor, device="cpu", batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Softmax probabilities (N, 10) of `model` on `images`, in eval mode."""
    model.to(device)
    model.eval()
    chunks = [model(images[i : i + batch_size].to(device)).softmax(dim=1)
              for i in range(0, len(images), batch_size)]
    return torch.cat(chunks).cpu()


def evaluate(model, images: torch.Tensor, labels: torch.Tensor, device="cpu") -> Evaluation:
    started = time.perf_counter()
    probabilities = predict(model, images, device)
    seconds = time.perf_counter() - started
    confidences, predictions = probabilities.max(dim=1)
    labels = labels.cpu()
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    confusion.index_put_((labels, predictions), torch.ones_like(labels), accumulate=True)
    # float32 division, as the practice's torch.zeros(10) counters do, so the numbers agree exactly
    per_digit = confusion.diag().float() / confusion.sum(dim=1).float()
    return Evaluation(
        overall_accuracy=int(confusion.diag().sum()) / len(labels),
        per_digit_accuracy=per_digit.tolist(),
        confusion=confusion.tolist(),
        predictions=predictions,
        confidences=confidences,
        images_per_second=len(images) / seconds,
    )


def evaluate_accuracy(model, test_dataset, device="cpu"):
    """The practice's function: (overall accuracy, list of 10 per-digit accuracies).

    `test_dataset` is an (images, labels) pair of tensors or any dataset of (image, label) items,
    such as the practice's torchvision MNIST."""
    if isinstance(test_dataset, tuple):
        images, labels = test_dataset
    else:
        batches = list(DataLoader(test_dataset, batch_size=EVAL_BATCH, shuffle=False))
        images = torch.cat([b[0] for b in batches])
        labels = torch.cat([b[1] for b in batches])
    result = evaluate(model, images, labels, device)
    return result.overall_accuracy, result.per_digit_accuracy
