"""Building the report: pick the runs (the folders given, or the latest of each network with their
other seeds; the lab's experiment runs apart), turn each network's runs into one analysis.Network,
draw the figures and write index.html and report.md in a temporary folder that replaces --out only
once complete."""

from __future__ import annotations

import math
import os
import shutil
from datetime import datetime
from pathlib import Path

from mnistlab import data, files
from mnistlab.errors import MnistlabError
from mnistlab.i18n import texts
from mnistlab.inference.evaluate import evaluate
from mnistlab.nets.layers import describe, parameter_rows
from mnistlab.nets.models import MODELS, create_model, lesson_models, load_weights
from mnistlab.report import figures, why
from mnistlab.report.analysis import Network
from mnistlab.report.render import render_html, render_markdown
from mnistlab.report.sections import Paragraph, Section, all_sections, recipe_label
from mnistlab.training import runs

SETTINGS = ("recipe", "epochs", "lr", "batch_size", "max_steps", "train_size")  # what seeds share
# In the report folder: the names of the files the report wrote there, so that the next report
# replaces a folder holding those and nothing else. Reports of earlier versions have no such list.
WRITTEN = ".mnistlab-report.json"
PAGES = ("index.html", "report.md")


def _settings(run: runs.Run) -> tuple:
    return tuple(getattr(run.config, name) for name in SETTINGS)


def is_lesson(run: runs.Run) -> bool:
    """One of the practice's two networks on the images as they are (not a lab experiment)."""
    return run.model in lesson_models() and not run.permuted


def select_runs(paths: list[Path], runs_dir: Path, given: tuple[str, ...] = ()) -> dict[str, list[runs.Run]]:
    """{network: its runs, lowest seed first}: the folders given, else the newest comparable runs of
    both networks in `runs_dir` (same recipe and training done, see comparable_latest) with every other
    run sharing their settings (other seeds). Networks in `given` come from .pth files instead."""
    groups: dict[str, list[runs.Run]] = {}
    problems: list[str] = []  # why folders in runs_dir were passed over
    if paths:
        for path in paths:
            run = runs.load_run(path)
            if is_lesson(run):
                groups.setdefault(run.model, []).append(run)
    else:
        found = {name: [r for r in runs.find_runs(runs_dir, name, problems) if is_lesson(r)]  # newest first
                 for name in lesson_models()}
        chosen = comparable_latest(found) if all(found.values()) else {name: f[0] for name, f in found.items() if f}
        for name in lesson_models():
            if name in given or name not in chosen:
                continue
            latest, by_seed = chosen[name], {}
            for run in reversed(found[name]):  # oldest first: the newest run of each seed wins
                if _settings(run) == _settings(latest):
                    by_seed[run.config.seed] = run
            groups[name] = list(by_seed.values())
    missing = [name for name in lesson_models() if name not in groups and name not in given]
    if missing:
        counted = [f"{len(g)} {name} run{'s' if len(g) > 1 else ''}" for name, g in groups.items()]
        found = f"found {' and '.join(counted)}" if counted else "found no run"
        where = "among the folders given" if paths else f"in {runs_dir}" + (f" ({problems[0]})" if problems else "")
        raise MnistlabError(f"the report compares both networks but there is no finished {missing[0]} run "
                            f"{where} ({found}); `mnistlab train {missing[0]}` or `mnistlab run` makes one, "
                            f"or give the practice's weights with --{missing[0]} FILE")
    for name, group in groups.items():
        for run in group:
            if _settings(run) != _settings(group[0]):
                raise MnistlabError(f"{run.path} and {group[0].path} differ in more than the seed "
                                    f"({', '.join(SETTINGS)}); give runs of one recipe and settings")
        group.sort(key=lambda r: (r.config.seed, str(r.path)))
        twins = [(a, b) for a, b in zip(group, group[1:]) if a.config.seed == b.config.seed]
        if twins:
            a, b = twins[0]
            raise MnistlabError(f"{a.path} and {b.path} are both {name} runs with seed {a.config.seed}; "
                                f"give one run per seed")
    return groups


def images_seen(run: runs.Run) -> int:
    """Training images the run went through (the last batch of an epoch may be smaller)."""
    config, steps = run.config, run.metrics.steps
    per_epoch, size = config.steps_per_epoch(), config.train_size or data.TRAIN_IMAGES
    full_epochs, rest = divmod(steps, per_epoch)
    return full_epochs * size + min(rest * config.batch_size, size)


def training_done(run: runs.Run) -> tuple:
    """What makes two runs comparable: the recipe, and either its whole training (each network its
    recipe's epochs) or, for a shortened run, the number of training images seen."""
    from mnistlab.training import recipes

    recipe = recipes.RECIPES.get(run.config.recipe)
    full = (recipe is not None and run.config.max_steps is None
            and run.config.epochs == recipe.defaults(run.model)[0]
            and run.metrics.steps == run.config.epochs * run.config.steps_per_epoch())
    return (run.config.recipe, "full" if full else images_seen(run))


def comparable_latest(found: dict[str, list[runs.Run]]) -> dict[str, runs.Run]:
    """The newest runs, one per network, that are comparable (same recipe and training done); the
    newest of each when no such pair exists (the report then says how they differ)."""
    names = list(found)
    first, second = (found[name] for name in names)
    pairs = sorted(((i, j) for i in range(len(first)) for j in range(len(second))), key=lambda p: (max(p), sum(p)))
    for i, j in pairs:
        if training_done(first[i]) == training_done(second[j]):
            return dict(zip(names, (first[i], second[j])))
    return dict(zip(names, (first[0], second[0])))


def prepare_file(name: str, path: Path, train_split, test_images, test_labels) -> Network:
    """A network known only from a .pth file: evaluated here on the test and training sets; what a
    file cannot say (its recipe, steps, loss history, training time) stays unknown."""
    from mnistlab.inference.predict import file_network

    model = file_network(path, name).model
    evaluation = evaluate(model, test_images, test_labels, "cpu")
    train_accuracy = evaluate(model, *train_split, "cpu").overall_accuracy
    return Network(
        name=name,
        accuracies=[evaluation.overall_accuracy],
        per_digit=[evaluation.per_digit_accuracy],
        confusion=evaluation.confusion,
        loss=[],
        epoch_loss=[],
        steps_per_epoch=math.ceil(data.TRAIN_IMAGES / 64),  # unused without a loss history
        layers=parameter_rows(model),
        images_per_second=[evaluation.images_per_second],
        device="cpu",
        evaluation=evaluation,
        model=model,
        train_accuracy=[train_accuracy],
        file=str(path),
    )


def difference_note(networks: list[Network], t) -> str | None:
    """A plain sentence when the two networks were not trained alike (recipe, steps or images seen),
    or when one comes from a .pth file whose training is unknown; None when they are comparable."""
    _ = t.gettext
    from_files = [n for n in networks if n.file]
    if from_files:
        return t.ngettext("Not necessarily like for like: {networks} comes from a .pth file whose training is "
                          "unknown, so this comparison cannot say whether both networks were trained alike.",
                          "Not necessarily like for like: {networks} come from .pth files whose training is "
                          "unknown, so this comparison cannot say whether both networks were trained alike.",
                          len(from_files)).format(networks=_(" and ").join(n.display for n in from_files))
    shown = [n.runs[0] for n in networks]
    if len({training_done(r) for r in shown}) == 1:
        return None
    described = [_("{network}: recipe {recipe}, {steps} steps ({epochs} epochs, {images} training images seen)").format(
        network=n.display, recipe=recipe_label(r.config.recipe, t), steps=t.number(r.metrics.steps),
        epochs=t.number(r.metrics.steps / r.config.steps_per_epoch(), 2), images=t.number(images_seen(r)))
        for n, r in zip(networks, shown)]
    return _("These runs were not trained alike ({described}): the comparison below says which network did better "
             "in these runs, not which one is better. Train both with the same recipe and settings (`mnistlab run`) "
             "for a fair comparison.").format(described="; ".join(described))


def select_experiments(paths: list[Path], runs_dir: Path, groups: dict[str, list[runs.Run]]
                       ) -> tuple[dict[str, runs.Run], runs.Run | None]:
    """({network: its pixel-permuted run}, the same-budget MLP's run or None): among the folders given,
    else in `runs_dir`, the newest run of each with the settings and the seed of its counterpart among
    the runs the report shows (the network itself; the MultiLayerNN for the small MLP): a run of other
    settings compares nothing. The ones not found are left out."""
    candidates = [runs.load_run(p) for p in paths] if paths else sorted(
        runs.find_runs(runs_dir), key=lambda r: (r.path / "metrics.json").stat().st_mtime)  # oldest first
    permuted, small = {}, None
    for run in candidates:  # a later one of the same kind wins
        shown = groups.get("mlp" if run.model == "mlp-small" else run.model, [None])[0]
        if is_lesson(run) or shown is None or _settings(run) != _settings(shown) or run.config.seed != shown.config.seed:
            continue
        if run.permuted and run.model in groups:
            permuted[run.model] = run
        elif run.model == "mlp-small" and not run.permuted:
            small = run
    return {name: permuted[name] for name in groups if name in permuted}, small


def prepare(name: str, group: list[runs.Run], test_images, test_labels) -> Network:
    """One network's record: every seed's results, the first seed's run in detail, its layers (counted
    once) and its weights evaluated again on the CPU for the gallery of mistakes."""
    shown = group[0]
    _, model = load_weights(shown.weights, name)
    return Network(
        name=name,
        accuracies=[r.metrics.overall_accuracy for r in group],
        per_digit=[r.metrics.per_digit_accuracy for r in group],
        confusion=shown.metrics.confusion_matrix,
        loss=shown.history.loss,
        epoch_loss=shown.history.epoch_loss,
        steps_per_epoch=shown.config.steps_per_epoch(),
        layers=parameter_rows(model),
        train_seconds=[r.metrics.train_seconds for r in group],
        images_per_second=[r.metrics.test_images_per_second for r in group],
        device=", ".join(sorted({r.metrics.device for r in group})),
        runs=group,
        evaluation=evaluate(model, test_images, test_labels, "cpu"),
        model=model,
        train_accuracy=[r.metrics.train_accuracy for r in group],
    )


def not_a_report(folder: Path) -> str | None:
    """None if `folder` may be replaced by a new report (empty, or a report's files and nothing else),
    else what is there that the report did not write."""
    present = [entry.name for entry in os.scandir(folder)]
    if not present:
        return None
    try:
        ours = set(files.read_json(folder / WRITTEN, "mnistlab report")["files"]) | {WRITTEN}
    except (MnistlabError, KeyError, TypeError):  # an earlier version's report: its pages and figures
        if not all(page in present for page in PAGES):
            return f"holds other files and no report ({files.listing(present)})"
        ours = {*PAGES, *(name for name in present if name.endswith(".png"))}
    foreign = files.foreign_entries(folder, ours)
    return f"holds {files.listing(foreign)}, which the report did not write" if foreign else None


def build_report(paths: list[Path] | None = None, out: Path = Path("report"), runs_dir: Path = Path("runs"),
                 data_dir: Path | None = None, lang: str | None = None,
                 pth_files: dict[str, Path | None] | None = None) -> Path:
    """Write the report for `paths` (default: the latest comparable runs in `runs_dir`) into `out`, in
    `lang` (default: the locale's language); a network given in `pth_files` ({"mlp": path}) is the .pth
    file's, evaluated here. Returns out/index.html."""
    t = texts(lang)
    given, out = Path(out), files.out_folder(out, "--out", "the report", not_a_report, "report")
    files.check_writable(out, "the report", "give another --out")
    paths = [Path(p) for p in paths or []]
    pth = {name: Path(f) for name, f in (pth_files or {}).items() if f is not None}
    groups = select_runs(paths, Path(runs_dir), tuple(pth))
    test_images, test_labels = data.load_split(data_dir, "test")
    train_split = data.load_split(data_dir, "train") if pth else None
    networks = [prepare_file(name, pth[name], train_split, test_images, test_labels) if name in pth
                else prepare(name, groups[name], test_images, test_labels) for name in lesson_models()]
    cnn = create_model(next(n.name for n in networks if n.convolutional))  # its sizes are deliverable 4
    sections = all_sections(networks, describe(cnn), t)
    if not pth:  # the experiments are compared with the runs shown; a bare .pth has none of its own
        permuted, small = select_experiments(paths, Path(runs_dir), groups)
        experiments = why.prepare({name: groups[name][0] for name in lesson_models()}, permuted, small,
                                  test_images, test_labels)
        sections.append(Section("why-the-cnn-wins", t.gettext("Why the CNN wins"), why.why_section(experiments, t)))
    note = difference_note(networks, t)
    if note:  # said where the setup is read and again where the conclusions are
        sections[0].blocks.insert(1, Paragraph(note))
        next(s for s in sections if s.anchor == "analysis").blocks.insert(0, Paragraph(note))
    first, second = (MODELS[name].display_name for name in lesson_models())
    title = t.gettext("mnistlab report: {first} vs {second}").format(first=first, second=second)
    stamp = t.date(datetime.now())
    full = "free some space or give another --out"
    with files.writing("the report", out, full):
        files.remove_stale(out)  # what a killed earlier build left beside it
        staging = files.staging_dir(out)
    try:
        figures.write_figures(networks, staging, test_images, test_labels, t)
        if not pth:
            figures.plot_robustness(experiments.curves, staging / why.FIGURE, t)
        files.write_text(staging / "index.html", render_html(title, stamp, sections, t))
        files.write_text(staging / "report.md", render_markdown(title, stamp, sections, t))
        files.write_json(staging / WRITTEN, {"files": sorted(p.name for p in staging.iterdir())})
        files.replace_dir(staging, out, not_a_report)
    except OSError as err:  # a full or read-only disk
        raise files.write_error("the report", out, err, full) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already if it was swapped in
    return given / "index.html"
