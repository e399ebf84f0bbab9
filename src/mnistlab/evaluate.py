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


def results_table(runs, lang: str | None = None) -> str:
    """Finished runs side by side: overall and per-digit test accuracy, parameters, training time; in
    `lang` (default: the locale's language)."""
    from mnistlab.i18n import texts
    from mnistlab.models import MODELS, count_parameters, create_model

    t = texts(lang)
    _ = t.gettext
    headers = [(_("{network} ({recipe}, pixels permuted)") if r.permuted else "{network} ({recipe})").format(
        network=MODELS[r.model].display_name, recipe=r.config.recipe) for r in runs]
    rows = [("", headers), (_("test accuracy"), [t.percent(r.metrics.overall_accuracy) for r in runs])]
    rows += [("  " + _("digit {digit}").format(digit=d), [t.percent(r.metrics.per_digit_accuracy[d]) for r in runs])
             for d in range(10)]
    rows += [
        (_("parameters"), [t.number(r.metrics.parameters or count_parameters(create_model(r.model))) for r in runs]),
        (_("training time"), [f"{t.number(r.metrics.train_seconds, 1)} s" for r in runs]),
        (_("steps"), [t.number(r.metrics.steps) for r in runs]),
        (_("device"), [r.metrics.device for r in runs]),
    ]
    width = max(14, *(len(cell) for _label, cells in rows for cell in cells))
    label_width = max(15, *(len(label) + 1 for label, _cells in rows))
    lines = [f"{label:<{label_width}}" + "".join(f"{cell:>{width + 2}}" for cell in cells) for label, cells in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
