"""The report's analysis (the practice's deliverable 2): sentences computed from the runs' numbers.
No conclusion here is fixed in advance; other numbers give other sentences."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from mnistlab.layers import parameter_rows
from mnistlab.models import DISPLAY_NAMES, create_model
from mnistlab.plots import RUNNING_AVERAGE, running_average

# Test error (%) reported by LeCun, Bottou, Bengio and Haffner (1998), "Gradient-based learning
# applied to document recognition", on the same 10,000 MNIST test images.
LECUN_1998 = [
    ("2-layer NN with 300 hidden units", 4.7),
    ("3-layer NN with 300+100 hidden units", 3.05),
    ("LeNet-5", 0.95),
]
LECUN_FOR = {"mlp": LECUN_1998[:2], "cnn": LECUN_1998[2:]}
# An epoch-to-epoch change in mean training loss smaller than this counts as flat (converged).
FLAT_LOSS_CHANGE = 0.02


@dataclass
class NetworkNumbers:
    """What the analysis needs of one network: its seeds' results and the run shown in detail."""

    name: str  # registry name: "mlp" or "cnn"
    accuracies: list[float]  # overall test accuracy, one per seed
    per_digit: list[list[float]]  # ten per-digit accuracies, one list per seed
    confusion: list[list[int]]  # 10×10 of the run shown: confusion[true][predicted]
    loss: list[float]  # per-step training loss of the run shown
    epoch_loss: list[float]  # mean loss of each finished epoch of the run shown
    steps_per_epoch: int
    train_seconds: list[float]  # one per seed
    images_per_second: list[float]  # test-time throughput, one per seed
    device: str

    @property
    def display(self) -> str:
        return DISPLAY_NAMES.get(self.name, self.name)

    @property
    def accuracy(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def spread(self) -> float:
        """Standard deviation across seeds (0 with one seed)."""
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    @property
    def digit_accuracy(self) -> list[float]:
        return [statistics.fmean(seed[d] for seed in self.per_digit) for d in range(10)]

    @property
    def parameters(self) -> int:
        return sum(row.total for row in parameter_rows(create_model(self.name)))

    def errors(self) -> int:
        return sum(self.confusion[t][p] for t in range(10) for p in range(10) if t != p)

    def confused_pairs(self, top: int = 5) -> list[tuple[int, int, int]]:
        """The `top` most frequent mistakes as (true, predicted, count), largest first."""
        pairs = [(self.confusion[t][p], t, p) for t in range(10) for p in range(10) if t != p]
        pairs = sorted((p for p in pairs if p[0] > 0), key=lambda c: (-c[0], c[1], c[2]))
        return [(t, p, n) for n, t, p in pairs[:top]]


def percent_pm(values: list[float]) -> str:
    """97.93% with one value; 97.93% ± 0.05 (standard deviation, in points) with several."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.2%}"
    return f"{mean:.2%} ± {statistics.stdev(values) * 100:.2f}"


def number_pm(values: list[float], digits: int = 1) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:,.{digits}f}"
    return f"{mean:,.{digits}f} ± {statistics.stdev(values):,.{digits}f}"


def winner_sentence(a: NetworkNumbers, b: NetworkNumbers) -> str:
    best, other = (a, b) if a.accuracy >= b.accuracy else (b, a)
    gap = (best.accuracy - other.accuracy) * 100
    noise = math.hypot(a.spread, b.spread) * 100
    seeds = min(len(a.accuracies), len(b.accuracies))
    if seeds > 1 and gap < 2 * noise:
        return (f"The two networks are level: {best.display} {percent_pm(best.accuracies)} against "
                f"{other.display} {percent_pm(other.accuracies)} test accuracy, a gap of {gap:.2f} points "
                f"that is within twice the seed-to-seed spread ({2 * noise:.2f} points).")
    if gap == 0:
        return f"Both networks reach the same test accuracy, {best.accuracy:.2%}."
    fewer = 1 - best.errors() / other.errors() if other.errors() else 0.0
    basis = (f"over {seeds} seeds" if seeds > 1 else
             "with one seed each (`mnistlab run --seeds 3` shows how much that varies)")
    return (f"The {best.display} wins: {best.accuracy:.2%} against {other.accuracy:.2%} test accuracy "
            f"{basis}, {gap:.2f} percentage points more. In the runs shown it misclassifies "
            f"{best.errors():,} test images against {other.errors():,}, {fewer:.0%} fewer mistakes.")


def parameter_sentence(a: NetworkNumbers, b: NetworkNumbers) -> str:
    big, small = (a, b) if a.parameters >= b.parameters else (b, a)
    ratio = big.parameters / small.parameters
    better = "while being more accurate" if small.accuracy > big.accuracy else (
        "and is less accurate" if small.accuracy < big.accuracy else "at the same accuracy")
    parts = []
    for net in (big, small):
        rows = parameter_rows(create_model(net.name))
        heaviest = max(rows, key=lambda r: r.total)
        parts.append(f"{heaviest.name} alone holds {heaviest.total / net.parameters:.0%} of the parameters")
    per_k = [net.accuracy * 100 / (net.parameters / 1000) for net in (big, small)]
    return (f"The {small.display} has {small.parameters:,} parameters, {ratio:.1f}× fewer than the "
            f"{big.display}'s {big.parameters:,}, {better}: {per_k[1]:.2f} accuracy points per "
            f"1,000 parameters against {per_k[0]:.2f}. In the {big.display}, {parts[0]}; in the "
            f"{small.display}, {parts[1]}.")


def hardest_digits_sentence(net: NetworkNumbers, count: int = 2) -> str:
    accuracy = net.digit_accuracy
    hardest = sorted(range(10), key=lambda d: accuracy[d])[:count]
    easiest = max(range(10), key=lambda d: accuracy[d])
    described = []
    for digit in hardest:
        row = net.confusion[digit]
        wrong = sorted((p for p in range(10) if p != digit and row[p] > 0), key=lambda p: -row[p])[:2]
        mistaken = (", most often taken for " + " or ".join(f"{p} ({row[p]} times)" for p in wrong)) if wrong else ""
        described.append(f"{digit}, {accuracy[digit]:.1%} correct{mistaken}")
    return (f"The {net.display}'s hardest digit is {described[0]}. Next comes {'; then '.join(described[1:])}. "
            f"Its easiest is {easiest}, {accuracy[easiest]:.1%} correct.")


def gain_sentence(a: NetworkNumbers, b: NetworkNumbers) -> str:
    best, other = (a, b) if a.accuracy >= b.accuracy else (b, a)
    gains = [best.digit_accuracy[d] - other.digit_accuracy[d] for d in range(10)]
    top = max(range(10), key=lambda d: gains[d])
    sentence = (f"The {best.display}'s largest gain over the {other.display} is on digit {top} "
                f"({gains[top] * 100:+.1f} points)")
    behind = [d for d in range(10) if gains[d] < 0]
    if behind:
        listed = ", ".join(f"{d} ({gains[d] * 100:+.1f})" for d in behind)
        return sentence + f"; it is behind on {len(behind)} digit{'s' if len(behind) > 1 else ''}: {listed}."
    return sentence + "; it is at least as good on every digit."


def convergence_sentence(net: NetworkNumbers) -> str:
    """Whether training had converged: the running-average loss over the last epoch and the change
    of the mean loss from the epoch before."""
    loss = np.asarray(net.loss, dtype=np.float64)
    if len(net.epoch_loss) < 2 or len(loss) < 2 * net.steps_per_epoch:
        half = len(loss) // 2
        if half < 1:
            return f"The {net.display}'s run has too few steps to judge convergence."
        first, last = loss[:half].mean(), loss[half:].mean()
        trend = "still falling" if last < first * (1 - FLAT_LOSS_CHANGE) else "not falling"
        return (f"The {net.display} trained for only {len(loss):,} steps ({len(loss) / net.steps_per_epoch:.2f} "
                f"epochs): its mean loss went from {first:.3f} in the first half to {last:.3f} in the second, "
                f"{trend}, so it is far from converged; train for full epochs to judge.")
    smooth = running_average(loss[-net.steps_per_epoch:])
    previous, final = net.epoch_loss[-2], net.epoch_loss[-1]
    change = final / previous - 1
    if change < -FLAT_LOSS_CHANGE:
        verdict = "still falling, so it had not converged and more epochs would likely help"
    elif change > FLAT_LOSS_CHANGE:
        verdict = "rising, a sign the learning rate is too high for this stage of training"
    else:
        verdict = f"flat (within {FLAT_LOSS_CHANGE:.0%}), so it had converged for this recipe"
    moved = (f"its running-average loss (N={RUNNING_AVERAGE}) went from {smooth[0]:.3f} to {smooth[-1]:.3f}"
             if len(smooth) else "")
    return (f"Over the {net.display}'s last epoch {moved + ' and ' if moved else ''}its mean loss was "
            f"{final:.3f} against {previous:.3f} the epoch before ({change:+.1%}): {verdict}.")


def lecun_sentence(net: NetworkNumbers) -> str:
    error = (1 - net.accuracy) * 100
    compared = []
    for name, reference in LECUN_FOR.get(net.name, LECUN_1998):
        if abs(error - reference) < 0.005:
            compared.append(f"equal to the {reference}% of their {name}")
        elif error < reference:
            compared.append(f"below the {reference}% of their {name}")
        else:
            compared.append(f"{error / reference:.1f}× the {reference}% of their {name}")
    rows = parameter_rows(create_model(net.name))
    shape = ""
    if all(r.kind == "Linear" for r in rows):  # say how the perceptron compares in size
        hidden = [f"{r.weight_shape[0]:,}" for r in rows[:-1]]
        shape = f" (it has {len(hidden)} hidden layer{'s' * (len(hidden) > 1)} of {' and '.join(hidden)} units)"
    return (f"Against LeCun et al. (1998), on the same 10,000 test images: the {net.display}'s test error of "
            f"{error:.2f}%{shape} is {' and '.join(compared)}.")


def throughput_sentence(a: NetworkNumbers, b: NetworkNumbers) -> str:
    return (f"On {a.device}, the {a.display} trained in {number_pm(a.train_seconds)} s and the {b.display} "
            f"in {number_pm(b.train_seconds)} s; at test time they classify "
            f"{number_pm(a.images_per_second, 0)} and {number_pm(b.images_per_second, 0)} images per second.")


def analysis_sentences(a: NetworkNumbers, b: NetworkNumbers) -> list[str]:
    """The analysis paragraphs, in reading order."""
    return [
        winner_sentence(a, b),
        gain_sentence(a, b),
        hardest_digits_sentence(a),
        hardest_digits_sentence(b),
        convergence_sentence(a),
        convergence_sentence(b),
        lecun_sentence(a),
        lecun_sentence(b),
        parameter_sentence(a, b),
        throughput_sentence(a, b),
    ]
