"""Building the report: pick the runs (the folders given, or the latest of each network with their
other seeds), turn each network's runs into one analysis.Network, draw the figures and write
index.html and report.md in a temporary folder that replaces --out only once complete."""

from __future__ import annotations

import math
import shutil
from datetime import datetime
from pathlib import Path

from mnistlab import data, files, runs
from mnistlab.errors import MnistlabError
from mnistlab.evaluate import evaluate
from mnistlab.i18n import texts
from mnistlab.layers import cnn_size_rows, measured_shapes, parameter_rows
from mnistlab.models import DISPLAY_NAMES, MODELS, create_model, load_weights
from mnistlab.report import figures
from mnistlab.report.analysis import Network
from mnistlab.report.render import render_html, render_markdown
from mnistlab.report.sections import TRAIN_IMAGES, Paragraph, all_sections, recipe_label

SETTINGS = ("recipe", "epochs", "lr", "batch_size", "max_steps", "train_size")  # what seeds share


def _settings(run: runs.Run) -> tuple:
    return tuple(getattr(run.config, name) for name in SETTINGS)


def select_runs(paths: list[Path], runs_dir: Path, given: tuple[str, ...] = ()) -> dict[str, list[runs.Run]]:
    """{network: its runs, lowest seed first}: the folders given, else the newest comparable runs of
    both networks in `runs_dir` (same recipe and training done, see comparable_latest) with every other
    run sharing their settings (other seeds). Networks in `given` come from .pth files instead."""
    groups: dict[str, list[runs.Run]] = {}
    problems: list[str] = []  # why folders in runs_dir were passed over
    if paths:
        for path in paths:
            run = runs.load_run(path)
            groups.setdefault(run.model, []).append(run)
    else:
        found = {name: runs.find_runs(runs_dir, name, problems) for name in MODELS}  # newest first
        wanted = [name for name in MODELS if name not in given]
        chosen = comparable_latest(found) if all(found[name] for name in MODELS) else \
            {name: f[0] for name, f in found.items() if f}
        for name in wanted:
            if name not in chosen:
                continue
            latest, by_seed = chosen[name], {}
            for run in reversed(found[name]):  # oldest first: the newest run of each seed wins
                if _settings(run) == _settings(latest):
                    by_seed[run.config.seed] = run
            groups[name] = list(by_seed.values())
    missing = [name for name in MODELS if name not in groups and name not in given]
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
    per_epoch = steps_per_epoch(config)
    full_epochs, rest = divmod(steps, per_epoch)
    return full_epochs * (config.train_size or TRAIN_IMAGES) + min(rest * config.batch_size, config.train_size or TRAIN_IMAGES)


def training_done(run: runs.Run) -> tuple:
    """What makes two runs comparable: the recipe, and either its whole training (each network its
    recipe's epochs) or, for a shortened run, the number of training images seen."""
    from mnistlab import recipes

    recipe = recipes.RECIPES.get(run.config.recipe)
    full = (recipe is not None and run.config.max_steps is None
            and run.config.epochs == recipe.defaults(run.model)[0]
            and run.metrics.steps == run.config.epochs * steps_per_epoch(run.config))
    return (run.config.recipe, "full" if full else images_seen(run))


def comparable_latest(found: dict[str, list[runs.Run]]) -> dict[str, runs.Run]:
    """The newest runs, one per network, that are comparable (same recipe and training done); the
    newest of each when no such pair exists (the report then says how they differ)."""
    first, second = (found[name] for name in MODELS)
    pairs = sorted(((i, j) for i in range(len(first)) for j in range(len(second))), key=lambda p: (max(p), sum(p)))
    for i, j in pairs:
        if training_done(first[i]) == training_done(second[j]):
            return dict(zip(MODELS, (first[i], second[j])))
    return dict(zip(MODELS, (first[0], second[0])))


def steps_per_epoch(config: runs.RunConfig) -> int:
    return math.ceil((config.train_size or TRAIN_IMAGES) / config.batch_size)


def prepare_file(name: str, path: Path, train_split, test_images, test_labels) -> Network:
    """A network known only from a .pth file: evaluated here on the test and training sets; what a
    file cannot say (its recipe, steps, loss history, training time) stays unknown."""
    from mnistlab.predict import file_network

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
        steps_per_epoch=math.ceil(TRAIN_IMAGES / 64),
        layers=parameter_rows(model),
        images_per_second=[evaluation.images_per_second],
        device="cpu",
        evaluation=evaluation,
        train_accuracy=[train_accuracy],
        file=str(path),
        weights=Path(path),
    )


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
        steps_per_epoch=steps_per_epoch(shown.config),
        layers=parameter_rows(model),
        train_seconds=[r.metrics.train_seconds for r in group],
        images_per_second=[r.metrics.test_images_per_second for r in group],
        device=", ".join(sorted({r.metrics.device for r in group})),
        runs=group,
        evaluation=evaluate(model, test_images, test_labels, "cpu"),
        train_accuracy=[r.metrics.train_accuracy for r in group],
        weights=shown.weights,
    )


def difference_note(networks: list[Network], t) -> str | None:
    """A plain sentence when the two networks were not trained alike (recipe, steps or images seen),
    or when one comes from a .pth file whose training is unknown; None when they are comparable."""
    _ = t.gettext
    files_ = [n for n in networks if n.file]
    if files_:
        return t.ngettext("Not necessarily like for like: {networks} comes from a .pth file whose training is "
                          "unknown, so this comparison cannot say whether both networks were trained alike.",
                          "Not necessarily like for like: {networks} come from .pth files whose training is "
                          "unknown, so this comparison cannot say whether both networks were trained alike.",
                          len(files_)).format(networks=_(" and ").join(n.display for n in files_))
    shown = [n.runs[0] for n in networks]
    if len({training_done(r) for r in shown}) == 1:
        return None
    described = [_("{network}: recipe {recipe}, {steps} steps ({epochs} epochs, {images} training images seen)").format(
        network=n.display, recipe=recipe_label(r.config.recipe, t), steps=t.number(r.metrics.steps),
        epochs=t.number(r.metrics.steps / steps_per_epoch(r.config), 2), images=t.number(images_seen(r)))
        for n, r in zip(networks, shown)]
    return _("These runs were not trained alike ({described}): the comparison below says which network did better "
             "in these runs, not which one is better. Train both with the same recipe and settings (`mnistlab run`) "
             "for a fair comparison.").format(described="; ".join(described))


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise MnistlabError(f"--out {out} is a file; give a folder for the report")
    if out.is_dir() and any(out.iterdir()) and not all((out / f).exists() for f in ("index.html", "report.md")):
        raise MnistlabError(f"--out {out} holds other files and no report; give a new or empty folder")


def build_report(paths: list[Path] | None = None, out: Path = Path("report"), runs_dir: Path = Path("runs"),
                 data_dir: Path | None = None, lang: str | None = None,
                 pth_files: dict[str, Path | None] | None = None) -> Path:
    """Write the report for `paths` (default: the latest comparable runs in `runs_dir`) into `out`, in
    `lang` (default: the locale's language); a network given in `pth_files` ({"mlp": path}) is the .pth
    file's, evaluated here. Returns out/index.html."""
    t = texts(lang)
    out = Path(out)
    _check_out(out)
    pth = {name: Path(f) for name, f in (pth_files or {}).items() if f is not None}
    groups = select_runs([Path(p) for p in paths or []], Path(runs_dir), tuple(pth))
    test_images, test_labels = data.load_split(data_dir, "test")
    train_split = data.load_split(data_dir, "train") if pth else None
    networks = [prepare_file(name, pth[name], train_split, test_images, test_labels) if name in pth
                else prepare(name, groups[name], test_images, test_labels) for name in MODELS]
    cnn = create_model("cnn")
    measured = measured_shapes(cnn)  # one forward pass with hooks, for the sizes and their check
    sections = all_sections(networks, cnn_size_rows(cnn, measured), measured, t)
    note = difference_note(networks, t)
    if note:  # said where the setup is read and again where the conclusions are
        sections[0].blocks.insert(1, Paragraph(note))
        sections[-1].blocks.insert(0, Paragraph(note))
    first, second = (DISPLAY_NAMES[name] for name in MODELS)
    title = t.gettext("mnistlab report: {first} vs {second}").format(first=first, second=second)
    stamp = t.date(datetime.now())
    files.remove_stale(out)  # what a killed earlier build left beside it
    staging = files.staging_dir(out)
    try:
        figures.write_figures(networks, staging, test_images, test_labels, t)
        files.write_text(staging / "index.html", render_html(title, stamp, sections, t))
        files.write_text(staging / "report.md", render_markdown(title, stamp, sections, t))
        files.replace_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already if it was swapped in
    return out / "index.html"
