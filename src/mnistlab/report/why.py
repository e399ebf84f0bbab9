"""The report's "Why the CNN wins": both networks on moved and rotated test digits (robustness.py),
what one fixed scrambling of the pixels costs each (the --permute-pixels runs) and an MLP of the
CNN's size (mlp-small), as a figure, tables and sentences computed from the numbers. Without the
`mnistlab run --experiments` runs the section holds the robustness part alone."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from mnistlab.i18n import Texts
from mnistlab.nets.models import MODELS
from mnistlab.report.analysis import phrases, roles
from mnistlab.report.sections import Figure, Paragraph, Table
from mnistlab.robustness import Robustness, measure_run
from mnistlab.training.runs import Run

SHIFT_SHOWN = ("2", "3")  # pixels: the moves the sentences name
ANGLE_SHOWN = "30"  # degrees
SAME = 0.01  # a change of accuracy below one point counts as none
FIGURE = "robustness.png"


@dataclass(frozen=True)
class Entry:
    """One network of the section: its registry name, the run shown and, for the unpermuted ones,
    its robustness."""

    name: str
    run: Run
    robustness: Robustness | None = None

    @property
    def display(self) -> str:
        return MODELS[self.name].display_name

    @property
    def accuracy(self) -> float:
        return self.run.metrics.overall_accuracy


@dataclass(frozen=True)
class Experiments:
    plain: dict[str, Entry]  # "mlp", "cnn": the lesson's networks (the seed the report shows)
    permuted: dict[str, Entry]  # "mlp", "cnn": their --permute-pixels runs, where found
    small: Entry | None  # the same-budget MLP, if run

    @property
    def curves(self) -> list[Entry]:
        """The networks drawn in the robustness figure: the lesson's two, then the small MLP."""
        return list(self.plain.values()) + ([self.small] if self.small else [])


_measured: dict[tuple, Robustness] = {}  # one process builds many reports of the same runs (the tests)


def robustness_of(run: Run, test_images, test_labels) -> Robustness:
    """measure_run() of `run` on the MNIST test set, on the CPU, remembered by the weights' bytes."""
    key = (hashlib.sha256(run.weights.read_bytes()).hexdigest(), run.permuted)
    if key not in _measured:
        _measured[key] = measure_run(run, test_images, test_labels, "cpu")
    return replace(_measured[key], run=str(run.path))


def prepare(shown: dict[str, Run], permuted: dict[str, Run], small: Run | None, test_images,
            test_labels) -> Experiments:
    plain = {name: Entry(name, run, robustness_of(run, test_images, test_labels)) for name, run in shown.items()}
    return Experiments(
        plain=plain,
        permuted={name: Entry(name, run) for name, run in permuted.items()},
        small=Entry("mlp-small", small, robustness_of(small, test_images, test_labels)) if small else None)


def shift_sentence(mlp: Entry, cnn: Entry, t: Texts) -> str:
    _ = t.gettext
    names = roles(t, mlp=mlp, cnn=cnn)
    a, b = mlp.robustness, cnn.robustness
    near, far = SHIFT_SHOWN
    first = _("Moved {pixels} pixels, {the_mlp} still reads {mlp_accuracy} of the test digits and {the_cnn} "
              "{cnn_accuracy}; moved {near} pixels, {mlp_near} and {cnn_near} (unmoved: {mlp_plain} and "
              "{cnn_plain}).").format(**names, pixels=far, mlp_accuracy=t.percent(a.shift[far], 1),
                                      cnn_accuracy=t.percent(b.shift[far], 1), near=near,
                                      mlp_near=t.percent(a.shift[near], 1), cnn_near=t.percent(b.shift[near], 1),
                                      mlp_plain=t.percent(a.shift["0"], 1), cnn_plain=t.percent(b.shift["0"], 1))
    moved = [level for level in a.shift if level != "0"]
    keeps = sum(b.shift[level] - b.shift["0"] > a.shift[level] - a.shift["0"] for level in moved)
    if keeps == len(moved):
        second = _("{The_cnn} keeps more of its accuracy at every move from 1 to {most} pixels.").format(
            **names, most=moved[-1])
    elif keeps == 0:
        second = _("{The_mlp} keeps more of its accuracy at every move from 1 to {most} pixels.").format(
            **names, most=moved[-1])
    else:
        second = t.ngettext("{The_cnn} keeps more of its accuracy at {count} of the {total} moves.",
                            "{The_cnn} keeps more of its accuracy at {count} of the {total} moves.", keeps
                            ).format(**names, count=keeps, total=len(moved))
    return f"{first} {second}"


def rotation_sentence(mlp: Entry, cnn: Entry, t: Texts) -> str:
    a, b = mlp.robustness, cnn.robustness
    return t.gettext("Rotated {degrees}° (the mean of both directions), {the_mlp} reads {mlp_accuracy} and {the_cnn} "
                     "{cnn_accuracy}; at {most}°, {mlp_most} and {cnn_most}.").format(
        **roles(t, mlp=mlp, cnn=cnn), degrees=ANGLE_SHOWN, mlp_accuracy=t.percent(a.rotation[ANGLE_SHOWN], 1),
        cnn_accuracy=t.percent(b.rotation[ANGLE_SHOWN], 1), most=list(a.rotation)[-1],
        mlp_most=t.percent(list(a.rotation.values())[-1], 1), cnn_most=t.percent(list(b.rotation.values())[-1], 1))


def why_paragraph(t: Texts) -> str:
    return t.gettext(
        "Why: a convolution shares its weights. Each of conv1's six 5×5 filters is the same at every position "
        "of the image, so a stroke moved by a few pixels still meets the same filter and lights up the same "
        "feature map, only moved as well. Max pooling then forgives part of that move: a 2×2 pool gives the "
        "same output wherever its strongest input sits in its window, and two pools let the maps move a little "
        "before fc1 notices. fc1 itself gives each position of the 16 5×5 maps its own weights, so larger moves "
        "still cost the CNN accuracy, and nothing in either network is made for rotation. The MultiLayerNN has "
        "no sharing at all: each of fc1's weights belongs to one pixel, so a digit moved by 3 pixels lands on "
        "weights that never saw it there.")


def change_phrase(entry: Entry, before: Entry, t: Texts) -> str:
    _ = t.gettext
    values = dict(phrases(entry, t), before=t.percent(before.accuracy), after=t.percent(entry.accuracy))
    change = entry.accuracy - before.accuracy
    if abs(change) < SAME:
        return _("{the} loses nothing ({before} → {after})").format(**values)
    if change < 0:
        return _("{the} falls to {after} (from {before})").format(**values)
    return _("{the} rises to {after} (from {before})").format(**values)


def permuted_blocks(found: Experiments, t: Texts) -> list:
    _ = t.gettext
    pairs = [(found.plain[name], found.permuted[name]) for name in found.plain if name in found.permuted]
    rows = [[plain.display, t.percent(plain.accuracy), t.percent(scrambled.accuracy),
             t.signed((scrambled.accuracy - plain.accuracy) * 100)] for plain, scrambled in pairs]
    phrases_ = [change_phrase(scrambled, plain, t) for plain, scrambled in pairs]
    sentence = _("With the 784 pixels scrambled by one fixed permutation (the same for the training and the test "
                 "images, `mnistlab train --permute-pixels`), {changes}.").format(changes=_("; ").join(phrases_))
    return [Table([_("network"), _("test accuracy"), _("pixels scrambled"), _("change (points)")], rows),
            Paragraph(sentence),
            Paragraph(_("The MultiLayerNN's fc1 gives every pixel its own weights and adds them up in any order: "
                        "scrambling the pixels only renames its inputs, and it learns the renamed ones as well. The "
                        "CNN's filters look at neighbouring pixels together; scrambled, neighbours are no longer "
                        "neighbours, and what the convolutions and the pooling assume about images is wrong."))]


def small_blocks(found: Experiments, t: Texts) -> list:
    _ = t.gettext
    shown = [found.plain.get("mlp"), found.small, found.plain.get("cnn")]
    far = SHIFT_SHOWN[-1]
    rows = [[e.display, t.number(e.run.metrics.parameters or 0), t.percent(e.accuracy),
             t.percent(e.robustness.shift[far]), t.percent(e.robustness.rotation[ANGLE_SHOWN])] for e in shown if e]
    small, cnn = found.small, found.plain["cnn"]
    names = roles(t, small=small, cnn=cnn)
    values = dict(names, small_parameters=t.number(small.run.metrics.parameters or 0),
                  cnn_parameters=t.number(cnn.run.metrics.parameters or 0), small_accuracy=t.percent(small.accuracy),
                  cnn_accuracy=t.percent(cnn.accuracy), small_moved=t.percent(small.robustness.shift[far], 1),
                  cnn_moved=t.percent(cnn.robustness.shift[far], 1), pixels=far)
    if cnn.accuracy > small.accuracy + SAME / 2:
        sentence = _("{The_small}, an MLP with one hidden layer of 77 units, has {small_parameters} parameters against "
                     "{the_cnn}'s {cnn_parameters} and reaches {small_accuracy} against {cnn_accuracy}; moved {pixels} "
                     "pixels it reads {small_moved} against {cnn_moved}. With the same budget an MLP does worse: "
                     "the CNN's win is not its size but how it spends it.")
    else:
        sentence = _("{The_small}, an MLP with one hidden layer of 77 units, has {small_parameters} parameters against "
                     "{the_cnn}'s {cnn_parameters} and reaches {small_accuracy} against {cnn_accuracy}; moved {pixels} "
                     "pixels it reads {small_moved} against {cnn_moved}. On the test set as it is, the same budget "
                     "spent as an MLP does as well here; the moved digits still tell them apart.")
    return [Table([_("network"), _("parameters"), _("test accuracy"), _("moved {pixels} px").format(pixels=far),
                   _("rotated {degrees}°").format(degrees=ANGLE_SHOWN)], rows), Paragraph(sentence.format(**values))]


def robustness_table(found: Experiments, t: Texts):
    _ = t.gettext
    curves = found.curves
    rows = [[_("moved {pixels} px").format(pixels=level)] + [t.percent(e.robustness.shift[level]) for e in curves]
            for level in curves[0].robustness.shift]
    rows += [[_("rotated {degrees}°").format(degrees=level)] + [t.percent(e.robustness.rotation[level]) for e in curves]
             for level in curves[0].robustness.rotation]
    return Table([_("test digits")] + [e.display for e in curves], rows)


def why_section(found: Experiments, t: Texts) -> list:
    _ = t.gettext
    mlp, cnn = found.plain["mlp"], found.plain["cnn"]
    blocks = [Paragraph(_("The test digits, moved and rotated: the same 10,000 images shifted by 1 to 8 pixels (the mean "
                          "of right, left, down and up; the emptied border black) and rotated by 15° to 60° (the mean of "
                          "both directions), as `mnistlab robustness` measures them.")),
              Figure(FIGURE, _("Test accuracy of the networks on moved (left) and rotated (right) test digits")),
              robustness_table(found, t),
              Paragraph(shift_sentence(mlp, cnn, t)), Paragraph(rotation_sentence(mlp, cnn, t)),
              Paragraph(why_paragraph(t))]
    if found.permuted:
        blocks += permuted_blocks(found, t)
    if found.small:
        blocks += small_blocks(found, t)
    extra = [e.run.path for e in [*found.permuted.values(), found.small] if e]
    if extra:
        blocks.append(Paragraph(_("Run folders of these experiments: {folders}.").format(
            folders=", ".join(f"`{path}`" for path in extra))))
    else:
        blocks.append(Paragraph(_("`mnistlab run --experiments` also trains the two networks on pixel-scrambled "
                                  "images and an MLP of the CNN's size; this section then compares them too.")))
    return blocks
