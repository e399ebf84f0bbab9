"""The report's analysis (the practice's deliverable 2): sentences computed from the runs' numbers, in
English or Spanish. No conclusion here is fixed in advance; other numbers give other sentences. The
solved notebook calls these same functions, so its answers and the report's read the same."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np

from mnistlab.i18n import N_, Texts, texts
from mnistlab.nets.layers import LayerParameters, parameter_rows
from mnistlab.nets.models import MODELS
from mnistlab.plots import RUNNING_AVERAGE, running_average


# Test error (%) reported by LeCun, Bottou, Bengio and Haffner (1998), "Gradient-based learning
# applied to document recognition", on the same 10,000 MNIST test images.
LECUN_1998 = [
    (N_("2-layer NN with 300 hidden units"), 4.7),
    (N_("3-layer NN with 300+100 hidden units"), 3.05),
    ("LeNet-5", 0.95),
]


def lecun_references(convolutional: bool) -> list[tuple[str, float]]:
    """Their results a network compares with: LeNet-5 for a convolutional one, else their perceptrons."""
    return LECUN_1998[2:] if convolutional else LECUN_1998[:2]


# An epoch-to-epoch change in mean training loss smaller than this counts as flat (converged).
FLAT_LOSS_CHANGE = 0.02
# Training-set accuracy this far above test accuracy (in points) means more epochs mostly fit the
# training set: the loss may still fall while the test accuracy no longer follows.
OVERFIT_GAP = 1.0


@dataclass(frozen=True)
class Network:
    """What the analysis needs of one network: its seeds' results, the run shown in detail and its
    layers. The report adds the runs themselves and a fresh evaluation (for the gallery)."""

    name: str  # registry name: "mlp" or "cnn"
    accuracies: list[float]  # overall test accuracy, one per seed
    per_digit: list[list[float]]  # ten per-digit accuracies, one list per seed
    confusion: list[list[int]]  # 10×10 of the run shown: confusion[true][predicted]
    loss: list[float]  # per-step training loss of the run shown
    epoch_loss: list[float]  # mean loss of each finished epoch of the run shown
    steps_per_epoch: int
    layers: list[LayerParameters]  # parameters per layer, in the order the network applies them
    train_seconds: list[float] = field(default_factory=list)  # one per seed
    images_per_second: list[float] = field(default_factory=list)  # test-time throughput, one per seed
    device: str = ""
    runs: list = field(default_factory=list)  # runs.Run of every seed, lowest first (report only)
    evaluation: object = None  # evaluate.Evaluation of the shown run's weights (report only)
    model: object = None  # the shown run's network, its weights loaded once (report only)
    train_accuracy: list = field(default_factory=list)  # training-set accuracy per seed, None where not measured
    file: str | None = None  # the .pth file the weights came from, when not a run folder (report only)

    @property
    def display(self) -> str:
        return MODELS[self.name].display_name if self.name in MODELS else self.name

    @property
    def convolutional(self) -> bool:
        return any(row.kind == "Conv2d" for row in self.layers)

    @property
    def parameters(self) -> int:
        return sum(row.total for row in self.layers)

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
    def digit_spread(self) -> list[float]:
        return [statistics.stdev(seed[d] for seed in self.per_digit) if len(self.per_digit) > 1 else 0.0
                for d in range(10)]

    @property
    def errors(self) -> int:
        return sum(self.confusion[t][p] for t in range(10) for p in range(10) if t != p)

    def confused_pairs(self, top: int = 5) -> list[tuple[int, int, int]]:
        """The `top` most frequent mistakes as (true, predicted, count), largest first."""
        pairs = [(self.confusion[t][p], t, p) for t in range(10) for p in range(10) if t != p]
        pairs = sorted((p for p in pairs if p[0] > 0), key=lambda c: (-c[0], c[1], c[2]))
        return [(t, p, n) for n, t, p in pairs[:top]]


def network_from_evaluation(name: str, evaluation, model, loss, steps_per_epoch: int) -> Network:
    """A Network from one trained model in memory (the notebook's case): its evaluation and loss."""
    loss = [float(x) for x in loss]
    epochs = len(loss) // steps_per_epoch
    epoch_loss = [statistics.fmean(loss[e * steps_per_epoch:(e + 1) * steps_per_epoch]) for e in range(epochs)]
    return Network(name, [evaluation.overall_accuracy], [evaluation.per_digit_accuracy], evaluation.confusion,
                   loss, epoch_loss, steps_per_epoch, parameter_rows(model))


def phrases(net: Network, t: Texts) -> dict[str, str]:
    """The network with its article as sentences need it: 'the CNN' / 'la CNN', and for Spanish the
    contracted forms 'del MultiLayerNN', 'al MultiLayerNN' (the English messages never use those)."""
    the, of_the, to_the = MODELS[net.name].articles(t) if net.name in MODELS else (net.display,) * 3
    return {"the": the, "The": the[:1].upper() + the[1:], "of_the": of_the, "to_the": to_the}


def roles(t: Texts, **networks: Network) -> dict[str, str]:
    """phrases() of each network under its role: roles(t, best=a) gives best, the_best, The_best, ..."""
    named = {}
    for role, net in networks.items():
        named[role] = net.display
        named.update({f"{form}_{role}": text for form, text in phrases(net, t).items()})
    return named


def percent_pm(values: list[float], t: Texts) -> str:
    """97.93% with one value; 97.93% ± 0.05 (standard deviation, in points) with several."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return t.percent(mean)
    return f"{t.percent(mean)} ± {t.number(statistics.stdev(values) * 100, 2)}"


def number_pm(values: list[float], t: Texts, digits: int = 1) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return t.number(mean, digits)
    return f"{t.number(mean, digits)} ± {t.number(statistics.stdev(values), digits)}"


def winner_sentence(a: Network, b: Network, t: Texts) -> str:
    _ = t.gettext
    best, other = (a, b) if a.accuracy >= b.accuracy else (b, a)
    gap = (best.accuracy - other.accuracy) * 100
    noise = math.hypot(a.spread, b.spread) * 100
    seeds = min(len(a.accuracies), len(b.accuracies))
    names = roles(t, best=best, other=other)
    if seeds > 1 and gap < 2 * noise:
        return _("The two networks are level: {best} {best_accuracy} against {other} {other_accuracy} test "
                 "accuracy, a gap of {gap} points that is within twice the seed-to-seed spread ({noise} points)."
                 ).format(**names, best_accuracy=percent_pm(best.accuracies, t),
                          other_accuracy=percent_pm(other.accuracies, t), gap=t.number(gap, 2),
                          noise=t.number(2 * noise, 2))
    if gap == 0:
        return _("Both networks reach the same test accuracy, {accuracy}.").format(accuracy=t.percent(best.accuracy))
    fewer = 1 - best.errors / other.errors if other.errors else 0.0
    basis = (_("over {seeds} seeds").format(seeds=seeds) if seeds > 1 else
             _("with one seed each (`mnistlab run --seeds 3` shows how much that varies)"))
    first = _("{The_best} wins: {best_accuracy} against {other_accuracy} test accuracy {basis}, {gap} percentage "
              "points more.").format(**names, best_accuracy=t.percent(best.accuracy),
                                     other_accuracy=t.percent(other.accuracy), basis=basis, gap=t.number(gap, 2))
    second = t.ngettext("In the runs shown it misclassifies {errors} test image against {other_errors}, "
                        "{fewer} fewer mistakes.",
                        "In the runs shown it misclassifies {errors} test images against {other_errors}, "
                        "{fewer} fewer mistakes.", best.errors
                        ).format(errors=t.number(best.errors), other_errors=t.number(other.errors),
                                 fewer=t.percent(fewer, 0))
    return f"{first} {second}"


def parameter_sentence(a: Network, b: Network, t: Texts) -> str:
    _ = t.gettext
    big, small = (a, b) if a.parameters >= b.parameters else (b, a)
    better = _("while being more accurate") if small.accuracy > big.accuracy else (
        _("and is less accurate") if small.accuracy < big.accuracy else _("at the same accuracy"))
    parts = []
    for net in (big, small):
        heaviest = max(net.layers, key=lambda r: r.total)
        parts.append(_("{layer} alone holds {share} of the parameters").format(
            layer=heaviest.name, share=t.percent(heaviest.total / net.parameters, 0)))
    return _("{The_small} has {small_parameters} parameters, {ratio}× fewer than {the_big}'s {big_parameters}, "
             "{better}: {small_accuracy} test accuracy against {big_accuracy}. In {the_big}, "
             "{big_part}; in {the_small}, {small_part}.").format(
        **roles(t, big=big, small=small), small_parameters=t.number(small.parameters),
        ratio=t.number(big.parameters / small.parameters, 1), big_parameters=t.number(big.parameters),
        better=better, small_accuracy=t.percent(small.accuracy), big_accuracy=t.percent(big.accuracy),
        big_part=parts[0], small_part=parts[1])


def hardest_digits_sentence(net: Network, t: Texts, count: int = 2) -> str:
    _ = t.gettext
    accuracy = net.digit_accuracy
    hardest = sorted(range(10), key=lambda d: accuracy[d])[:count]
    easiest = max(range(10), key=lambda d: accuracy[d])
    described = []
    for digit in hardest:
        row = net.confusion[digit]
        wrong = sorted((p for p in range(10) if p != digit and row[p] > 0), key=lambda p: -row[p])[:2]
        mistakes = _(" or ").join(t.ngettext("{digit} ({count} time)", "{digit} ({count} times)", row[p])
                                  .format(digit=p, count=t.number(row[p])) for p in wrong)
        if mistakes:
            described.append(_("{digit}, {accuracy} correct, most often taken for {mistakes}").format(
                digit=digit, accuracy=t.percent(accuracy[digit], 1), mistakes=mistakes))
        else:
            described.append(_("{digit}, {accuracy} correct").format(digit=digit, accuracy=t.percent(accuracy[digit], 1)))
    return _("{The}'s hardest digit is {first}. Next comes {rest}. Its easiest is {easiest}, {accuracy} correct."
             ).format(**phrases(net, t), first=described[0], rest=_("; then ").join(described[1:]),
                      easiest=easiest, accuracy=t.percent(accuracy[easiest], 1))


def gain_sentence(a: Network, b: Network, t: Texts) -> str:
    best, other = (a, b) if a.accuracy >= b.accuracy else (b, a)
    gains = [best.digit_accuracy[d] - other.digit_accuracy[d] for d in range(10)]
    top = max(range(10), key=lambda d: gains[d])
    names = roles(t, best=best, other=other)
    behind = [d for d in range(10) if gains[d] < 0]
    if not behind:
        return t.gettext("{The_best}'s largest gain over {the_other} is on digit {digit} ({gain} points); it is at "
                         "least as good on every digit.").format(**names, digit=top, gain=t.signed(gains[top] * 100, 1))
    listed = ", ".join(f"{d} ({t.signed(gains[d] * 100, 1)})" for d in behind)
    return t.ngettext("{The_best}'s largest gain over {the_other} is on digit {digit} ({gain} points); it is behind "
                      "on {count} digit: {listed}.",
                      "{The_best}'s largest gain over {the_other} is on digit {digit} ({gain} points); it is behind "
                      "on {count} digits: {listed}.", len(behind)
                      ).format(**names, digit=top, gain=t.signed(gains[top] * 100, 1), count=len(behind), listed=listed)


def convergence_sentence(net: Network, t: Texts) -> str:
    """Whether training had converged: the running-average loss over the last epoch and the change
    of the mean loss from the epoch before."""
    _ = t.gettext
    names = phrases(net, t)
    loss = np.asarray(net.loss, dtype=np.float64)
    if len(net.epoch_loss) < 2 or len(loss) < 2 * net.steps_per_epoch:
        half = len(loss) // 2
        if half < 1:
            return _("{The}'s run has too few steps to judge convergence.").format(**names)
        first, last = loss[:half].mean(), loss[half:].mean()
        falling = last < first * (1 - FLAT_LOSS_CHANGE)
        message = (_("{The} trained for only {steps} steps ({epochs} epochs): its mean loss went from {first} in "
                     "the first half to {last} in the second, still falling, so it is far from converged; train "
                     "for full epochs to judge.") if falling else
                   _("{The} trained for only {steps} steps ({epochs} epochs): its mean loss went from {first} in "
                     "the first half to {last} in the second, not falling, so it is far from converged; train "
                     "for full epochs to judge."))
        return message.format(**names, steps=t.number(len(loss)), epochs=t.number(len(loss) / net.steps_per_epoch, 2),
                              first=t.number(first, 3), last=t.number(last, 3))
    smooth = running_average(loss[-net.steps_per_epoch:])
    previous, final = net.epoch_loss[-2], net.epoch_loss[-1]
    change = final / previous - 1
    measured = [a for a in net.train_accuracy if a is not None]
    gap = (statistics.fmean(measured) - net.accuracy) * 100 if measured else None
    if change < -FLAT_LOSS_CHANGE and gap is None:
        verdict = _("still falling, so it had not converged; whether more epochs would raise the test accuracy "
                    "cannot be told without the training-set accuracy (runs from before mnistlab 0.3.0 lack it)")
    elif change < -FLAT_LOSS_CHANGE and gap < OVERFIT_GAP:
        verdict = _("still falling, and its training-set accuracy ({train}) is within {gap} points of its test "
                    "accuracy ({test}), so it is not overfitting and more epochs would likely help").format(
            train=t.percent(statistics.fmean(measured)), test=t.percent(net.accuracy), gap=t.number(max(gap, 0), 2))
    elif change < -FLAT_LOSS_CHANGE:
        verdict = _("still falling, but its training-set accuracy ({train}) is already {gap} points above its test "
                    "accuracy ({test}): more epochs would mostly fit the training images better (overfitting), "
                    "not necessarily the test ones").format(
            train=t.percent(statistics.fmean(measured)), test=t.percent(net.accuracy), gap=t.number(gap, 2))
    elif change > FLAT_LOSS_CHANGE:
        verdict = _("rising, a sign the learning rate is too high for this stage of training")
    else:
        verdict = _("flat (within {threshold}), so it had converged for this recipe").format(
            threshold=t.percent(FLAT_LOSS_CHANGE, 0))
    numbers = dict(**names, final=t.number(final, 3), previous=t.number(previous, 3),
                   change=t.signed_percent(change, 1), verdict=verdict)
    if len(smooth):
        return _("Over {the}'s last epoch its running-average loss (N={window}) went from {start} to {end} and its "
                 "mean loss was {final} against {previous} the epoch before ({change}): {verdict}.").format(
            **numbers, window=RUNNING_AVERAGE, start=t.number(smooth[0], 3), end=t.number(smooth[-1], 3))
    return _("Over {the}'s last epoch its mean loss was {final} against {previous} the epoch before ({change}): "
             "{verdict}.").format(**numbers)


def _reference(points: float, t: Texts) -> str:
    """A published error rate with the decimals it was published with: 4.7 → '4.7%', 3.05 → '3.05%'."""
    decimals = len(f"{points}".split(".")[1].rstrip("0"))
    return t.percent(points / 100, decimals)


def lecun_sentence(net: Network, t: Texts) -> str:
    _ = t.gettext
    error = (1 - net.accuracy) * 100
    compared = []
    for name, reference in lecun_references(net.convolutional):
        values = dict(reference=_reference(reference, t), name=_(name))
        if abs(error - reference) < 0.005:
            compared.append(_("equal to the {reference} of their {name}").format(**values))
        elif error < reference:
            compared.append(_("below the {reference} of their {name}").format(**values))
        else:
            compared.append(_("{ratio}× the {reference} of their {name}").format(
                ratio=t.number(error / reference, 1), **values))
    shape = ""
    if all(r.kind == "Linear" for r in net.layers):  # say how the perceptron compares in size
        hidden = [t.number(r.weight_shape[0]) for r in net.layers[:-1]]
        shape = t.ngettext(" (it has {count} hidden layer of {sizes} units)",
                           " (it has {count} hidden layers of {sizes} units)", len(hidden)
                           ).format(count=len(hidden), sizes=_(" and ").join(hidden))
    return _("Against LeCun et al. (1998), on the same {images} test images: {the}'s test error of {error}{shape} "
             "is {comparisons}.").format(**phrases(net, t), images=t.number(10000), error=t.percent(error / 100),
                                         shape=shape, comparisons=_(" and ").join(compared))


def throughput_sentence(a: Network, b: Network, t: Texts) -> str:
    return t.gettext("On {device}, {the_a} trained in {a_seconds} s and {the_b} in {b_seconds} s; at test time they "
                     "classify {a_speed} and {b_speed} images per second.").format(
        **roles(t, a=a, b=b), device=a.device, a_seconds=number_pm(a.train_seconds, t),
        b_seconds=number_pm(b.train_seconds, t), a_speed=number_pm(a.images_per_second, t, 0),
        b_speed=number_pm(b.images_per_second, t, 0))


def analysis_sentences(a: Network, b: Network, lang: str | None = None) -> list[str]:
    """The analysis paragraphs, in reading order, in `lang` (default: the locale's). A network known
    only from memory (the notebook's) may lack a loss history or timings: those sentences are left out."""
    t = texts(lang)
    sentences = [winner_sentence(a, b, t), gain_sentence(a, b, t), hardest_digits_sentence(a, t),
                 hardest_digits_sentence(b, t)]
    sentences += [convergence_sentence(net, t) for net in (a, b) if net.loss]
    sentences += [lecun_sentence(a, t), lecun_sentence(b, t), parameter_sentence(a, b, t)]
    if a.train_seconds and b.train_seconds:
        sentences.append(throughput_sentence(a, b, t))
    return sentences
