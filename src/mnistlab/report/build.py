"""Building the report: pick the runs (the folders given, or the latest of each network with their
other seeds), turn each network's runs into one analysis.Network, draw the figures and write
index.html and report.md in a temporary folder that replaces --out only once complete."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from mnistlab import data, files, runs
from mnistlab.errors import MnistlabError
from mnistlab.evaluate import evaluate
from mnistlab.i18n import texts
from mnistlab.layers import describe, parameter_rows
from mnistlab.models import MODELS, create_model, lesson_models, load_weights
from mnistlab.report import figures
from mnistlab.report.analysis import Network
from mnistlab.report.render import render_html, render_markdown
from mnistlab.report.sections import all_sections

SETTINGS = ("recipe", "epochs", "lr", "batch_size", "max_steps", "train_size")  # what seeds share


def _settings(run: runs.Run) -> tuple:
    return tuple(getattr(run.config, name) for name in SETTINGS)


def select_runs(paths: list[Path], runs_dir: Path) -> dict[str, list[runs.Run]]:
    """{network: its runs, lowest seed first}: the folders given, else the latest run of each network
    in `runs_dir` with every other run sharing its recipe and settings (other seeds)."""
    groups: dict[str, list[runs.Run]] = {}
    problems: list[str] = []  # why folders in runs_dir were passed over
    if paths:
        for path in paths:
            run = runs.load_run(path)
            groups.setdefault(run.model, []).append(run)
    else:
        for name in lesson_models():
            found = runs.find_runs(runs_dir, name, problems)  # newest first, so found[0] is runs.latest_run's
            if not found:
                continue
            latest, by_seed = found[0], {}
            for run in reversed(found):  # oldest first: the newest run of each seed wins
                if _settings(run) == _settings(latest):
                    by_seed[run.config.seed] = run
            groups[name] = list(by_seed.values())
    missing = [name for name in lesson_models() if name not in groups]
    if missing:
        found = ", ".join(f"{len(g)} {name}" for name, g in groups.items()) or "none"
        where = "among the folders given" if paths else f"in {runs_dir}" + (f" ({problems[0]})" if problems else "")
        raise MnistlabError(f"the report compares both networks but there is no finished {missing[0]} run "
                            f"{where} (found: {found} run(s)); `mnistlab train {missing[0]}` or `mnistlab run` "
                            f"makes one")
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
    )


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise MnistlabError(f"--out {out} is a file; give a folder for the report")
    if out.is_dir() and any(out.iterdir()) and not all((out / f).exists() for f in ("index.html", "report.md")):
        raise MnistlabError(f"--out {out} holds other files and no report; give a new or empty folder")


def build_report(paths: list[Path] | None = None, out: Path = Path("report"), runs_dir: Path = Path("runs"),
                 data_dir: Path | None = None, lang: str | None = None) -> Path:
    """Write the report for `paths` (default: the latest runs in `runs_dir`) into `out`, in `lang`
    (default: the locale's language); returns out/index.html."""
    t = texts(lang)
    out = Path(out)
    _check_out(out)
    groups = select_runs([Path(p) for p in paths or []], Path(runs_dir))
    test_images, test_labels = data.load_split(data_dir, "test")
    networks = [prepare(name, groups[name], test_images, test_labels) for name in lesson_models()]
    cnn = create_model(next(n.name for n in networks if n.convolutional))  # its sizes are deliverable 4
    sections = all_sections(networks, describe(cnn), t)
    first, second = (MODELS[name].display_name for name in lesson_models())
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
