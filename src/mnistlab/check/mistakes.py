"""The catalogues of classic mistakes, replayed outside the sandbox on the same inputs as the student's
code: forward passes (computed from the reference's weights) and training loops (practice_loop switches).
A mistake is named only when it reproduces the student's numbers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
import torch.nn.functional as F

from mnistlab.check.reference import PRACTICE, Loop
from mnistlab.i18n import N_


@dataclass(frozen=True)
class ForwardMistake:
    message: str  # N_ message, formatted with nothing
    forward: Callable[[dict, torch.Tensor], torch.Tensor]


def mlp_forward(state, x, relu=(True, True), skip_fc2=False, out=None, flatten=None):
    x = flatten(x) if flatten else x.view(-1, 784)
    x = F.linear(x, state["fc1.weight"], state["fc1.bias"])
    x = F.relu(x) if relu[0] else x
    if not skip_fc2:
        x = F.linear(x, state["fc2.weight"], state["fc2.bias"])
        x = F.relu(x) if relu[1] else x
    x = F.linear(x, state["fc3.weight"], state["fc3.bias"])
    return out(x) if out else x


def cnn_forward(state, x, relu=(True, True, True, True), out=None, channels_last=False):
    x = F.conv2d(x, state["conv1.weight"], state["conv1.bias"], stride=1, padding=2)
    x = F.max_pool2d(F.relu(x) if relu[0] else x, 2, 2)
    x = F.conv2d(x, state["conv2.weight"], state["conv2.bias"], stride=1, padding=0)
    x = F.max_pool2d(F.relu(x) if relu[1] else x, 2, 2)
    x = x.permute(0, 2, 3, 1).reshape(len(x), -1) if channels_last else x.view(-1, 400)
    x = F.linear(x, state["fc1.weight"], state["fc1.bias"])
    x = F.relu(x) if relu[2] else x
    x = F.linear(x, state["fc2.weight"], state["fc2.bias"])
    x = F.relu(x) if relu[3] else x
    x = F.linear(x, state["fc3.weight"], state["fc3.bias"])
    return out(x) if out else x


softmax = lambda x: F.softmax(x, dim=1)  # noqa: E731
log_softmax = lambda x: F.log_softmax(x, dim=1)  # noqa: E731

FORWARD_MISTAKES = {
    "mlp": [
        ForwardMistake(N_("the ReLU after fc1 is missing"), lambda s, x: mlp_forward(s, x, relu=(False, True))),
        ForwardMistake(N_("the ReLU after fc2 is missing"), lambda s, x: mlp_forward(s, x, relu=(True, False))),
        ForwardMistake(N_("there is no ReLU at all"), lambda s, x: mlp_forward(s, x, relu=(False, False))),
        ForwardMistake(N_("fc2 is skipped: it is built but not applied"), lambda s, x: mlp_forward(s, x, skip_fc2=True)),
        ForwardMistake(N_("forward returns softmax probabilities; CrossEntropyLoss expects the raw outputs "
                          "(logits)"), lambda s, x: mlp_forward(s, x, out=softmax)),
        ForwardMistake(N_("forward returns log_softmax; CrossEntropyLoss applies it itself"),
                       lambda s, x: mlp_forward(s, x, out=log_softmax)),
        ForwardMistake(N_("a ReLU is applied to the output layer"), lambda s, x: mlp_forward(s, x, out=F.relu)),
        ForwardMistake(N_("the image is flattened column by column (transposed) instead of with x.view(-1, 784)"),
                       lambda s, x: mlp_forward(s, x, flatten=lambda v: v.transpose(2, 3).reshape(len(v), -1))),
    ],
    "cnn": [
        ForwardMistake(N_("the ReLU after conv1 is missing"), lambda s, x: cnn_forward(s, x, relu=(0, 1, 1, 1))),
        ForwardMistake(N_("the ReLU after conv2 is missing"), lambda s, x: cnn_forward(s, x, relu=(1, 0, 1, 1))),
        ForwardMistake(N_("the ReLU after fc1 is missing"), lambda s, x: cnn_forward(s, x, relu=(1, 1, 0, 1))),
        ForwardMistake(N_("the ReLU after fc2 is missing"), lambda s, x: cnn_forward(s, x, relu=(1, 1, 1, 0))),
        ForwardMistake(N_("there is no ReLU at all"), lambda s, x: cnn_forward(s, x, relu=(0, 0, 0, 0))),
        ForwardMistake(N_("forward returns softmax probabilities; CrossEntropyLoss expects the raw outputs "
                          "(logits)"), lambda s, x: cnn_forward(s, x, out=softmax)),
        ForwardMistake(N_("forward returns log_softmax; CrossEntropyLoss applies it itself"),
                       lambda s, x: cnn_forward(s, x, out=log_softmax)),
        ForwardMistake(N_("a ReLU is applied to the output layer"), lambda s, x: cnn_forward(s, x, out=F.relu)),
        ForwardMistake(N_("the feature maps are flattened channels-last (permuted) instead of with "
                          "x.view(-1, 16 * 5 * 5)"), lambda s, x: cnn_forward(s, x, channels_last=True)),
    ],
}


def same_outputs(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal to float32 precision (the same arithmetic done in another order)."""
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-4, atol=1e-5))


def matching_forward_mistake(kind: str, state: dict, images: torch.Tensor, outputs: torch.Tensor) -> str | None:
    with torch.no_grad():
        for mistake in FORWARD_MISTAKES[kind]:
            if same_outputs(mistake.forward(state, images), outputs):
                return mistake.message
    return None


@dataclass(frozen=True)
class LoopMistake:
    message: str  # N_ message; {value} is the setting the loop used
    loop: Loop
    value: str = ""


def loop_mistakes(hints: dict) -> list[LoopMistake]:
    """The loop catalogue, with the learning rates and batch sizes the notebook's objects suggest (the
    hints only pick what to try: a mistake is named only if its replay gives the student's losses)."""
    mistakes = [
        LoopMistake(N_("optimizer.zero_grad() is missing: the gradients of every step add up"),
                    replace(PRACTICE, zero_grad=False)),
        LoopMistake(N_("optimizer.step() comes before loss.backward(): each step applies no gradient"),
                    replace(PRACTICE, step_before_backward=True)),
        LoopMistake(N_("the training DataLoader has shuffle=False; the practice uses shuffle=True"),
                    replace(PRACTICE, shuffle=False)),
        LoopMistake(N_("the loop trains on the test set (test_loader) instead of train_loader"),
                    replace(PRACTICE, on_test=True)),
        LoopMistake(N_("softmax is applied to the outputs before CrossEntropyLoss, which applies it itself"),
                    replace(PRACTICE, softmax_before_loss=True)),
    ]
    rates = {o["lr"] for o in hints.get("optimizers", []) if isinstance(o.get("lr"), float)} | {0.1, 0.001}
    for lr in sorted(rates - {PRACTICE.lr}):
        mistakes.append(LoopMistake(N_("the learning rate is {value}; the practice uses lr=0.01"),
                                    replace(PRACTICE, lr=lr), repr(lr)))
    if any(o.get("type") == "Adam" for o in hints.get("optimizers", [])):
        lr = next(o["lr"] for o in hints["optimizers"] if o.get("type") == "Adam")
        mistakes.append(LoopMistake(N_("the optimizer is {value}; the practice uses optim.SGD"),
                                    replace(PRACTICE, optimizer="Adam", lr=lr), "Adam"))
    sizes = {l["batch_size"] for l in hints.get("loaders", []) if isinstance(l.get("batch_size"), int)} | {32, 128}
    for size in sorted(s for s in sizes - {PRACTICE.batch_size} if 0 < s <= 1024):
        mistakes.append(LoopMistake(N_("the batch size is {value}; the practice uses batch_size = 64"),
                                    replace(PRACTICE, batch_size=size), str(size)))
    return mistakes
