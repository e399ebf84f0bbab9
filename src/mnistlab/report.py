"""The analysis report: saved runs of both networks turned into report/index.html and report.md with
PNG figures beside them, built in a temporary folder that replaces --out only once complete.
This file finds and checks the runs and draws the figures; sections.py writes the content."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from mnistlab import data, files, plots, runs
from mnistlab.analysis import NetworkNumbers
from mnistlab.errors import MnistlabError
from mnistlab.evaluate import evaluate
from mnistlab.models import DISPLAY_NAMES, MODELS, load_weights
from mnistlab.render import render_html, render_markdown
from mnistlab.sections import GALLERY, Network, all_sections, steps_per_epoch

SETTINGS = ("recipe", "epochs", "lr", "batch_size", "max_steps", "train_size")  # what seeds share


def select_runs(paths: list[Path], runs_dir: Path) -> dict[str, list[runs.Run]]:
    """{network: its runs, lowest seed first}: the folders given, else the latest run of each network
    in `runs_dir` with every other run sharing its recipe and settings (other seeds)."""
    groups: dict[str, list[runs.Run]] = {}
    if paths:
        for path in paths:
            run = runs.load_run(path)
            groups.setdefault(run.model, []).append(run)
    else:
        for name in MODELS:
            found = runs.find_runs(runs_dir, name)  # newest first, so found[0] is runs.latest_run's
            if not found:
                continue
            latest, by_seed = found[0], {}
            for run in reversed(found):  # oldest first: the newest run of each seed wins
                if all(getattr(run.config, k) == getattr(latest.config, k) for k in SETTINGS):
                    by_seed[run.config.seed] = run
            groups[name] = list(by_seed.values())
    missing = [name for name in MODELS if name not in groups]
    if missing:
        found = ", ".join(f"{len(g)} {name}" for name, g in groups.items()) or "none"
        where = "among the folders given" if paths else f"in {runs_dir}"
        raise MnistlabError(f"the report compares both networks but there is no finished {missing[0]} run "
                            f"{where} (found: {found} run(s)); `mnistlab train {missing[0]}` or `mnistlab run` "
                            f"makes one")
    for name, group in groups.items():
        for run in group:
            if any(getattr(run.config, k) != getattr(group[0].config, k) for k in SETTINGS):
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
    shown = group[0]
    _, model = load_weights(shown.weights, name)
    numbers = NetworkNumbers(
        name=name,
        accuracies=[r.metrics.overall_accuracy for r in group],
        per_digit=[r.metrics.per_digit_accuracy for r in group],
        confusion=shown.metrics.confusion_matrix,
        loss=shown.history.loss,
        epoch_loss=shown.history.epoch_loss,
        steps_per_epoch=steps_per_epoch(shown.config),
        train_seconds=[r.metrics.train_seconds for r in group],
        images_per_second=[r.metrics.test_images_per_second for r in group],
        device=", ".join(sorted({r.metrics.device for r in group})),
    )
    return Network(group, numbers, evaluate(model, test_images, test_labels, "cpu"))

def write_figures(networks: list[Network], folder: Path, test_images, test_labels) -> None:
    names = [n.numbers.display for n in networks]
    plots.plot_per_digit(names, [n.numbers.digit_accuracy for n in networks],
                         [[statistics.stdev(s[d] for s in n.numbers.per_digit) if len(n.runs) > 1 else 0.0
                           for d in range(10)] for n in networks], folder / "per_digit.png")
    plots.plot_loss_comparison(names, [n.numbers.loss for n in networks],
                               [n.numbers.steps_per_epoch for n in networks], folder / "loss_comparison.png")
    for n in networks:
        name, title = n.numbers.name, n.numbers.display
        plots.plot_confusion(n.numbers.confusion, f"{title} (seed {n.shown.config.seed})",
                             folder / f"confusion_{name}.png")
        plots.plot_loss(n.numbers.loss, f"Training loss ({title})", folder / f"loss_{name}.png")
        ev = n.evaluation
        wrong = (ev.predictions != test_labels).nonzero().flatten()
        pick = wrong[ev.confidences[wrong].argsort(descending=True)][:GALLERY]
        plots.plot_misclassified(test_images[pick], test_labels[pick], ev.predictions[pick],
                                 ev.confidences[pick], f"{title}: most confident mistakes",
                                 folder / f"misclassified_{name}.png")


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise MnistlabError(f"--out {out} is a file; give a folder for the report")
    if out.is_dir() and any(out.iterdir()) and not all((out / f).exists() for f in ("index.html", "report.md")):
        raise MnistlabError(f"--out {out} holds other files and no report; give a new or empty folder")


def build_report(paths: list[Path] | None = None, out: Path = Path("report"), runs_dir: Path = Path("runs"),
                 data_dir: Path | None = None) -> Path:
    """Write the report for `paths` (default: the latest runs in `runs_dir`) into `out`; returns
    out/index.html. It is built in a temporary folder that replaces `out` only once complete."""
    out = Path(out)
    _check_out(out)
    groups = select_runs([Path(p) for p in paths or []], Path(runs_dir))
    test_images, test_labels = data.load_split(data_dir, "test")
    networks = [prepare(name, groups[name], test_images, test_labels) for name in MODELS]
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        write_figures(networks, staging, test_images, test_labels)
        sections = all_sections(networks)
        title = "mnistlab report: " + " vs ".join(DISPLAY_NAMES[name] for name in MODELS)
        stamp = time.strftime("%Y-%m-%d %H:%M")
        files.atomic_write(staging / "index.html", lambda f: f.write(render_html(title, stamp, sections).encode()))
        files.atomic_write(staging / "report.md", lambda f: f.write(render_markdown(title, stamp, sections).encode()))
        os.chmod(staging, 0o777 & ~files.current_umask())
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "index.html"


def _swap_in(staging: Path, out: Path) -> None:
    """Replace `out` by `staging` with renames, so `out` is always a whole report or absent."""
    if not out.exists():
        os.rename(staging, out)
        return
    old = out.with_name(f".{out.name}.old.{os.getpid()}")
    os.rename(out, old)
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)
