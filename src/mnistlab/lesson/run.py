"""The whole lesson as one function: MNIST fetched and verified, sample digits drawn, both networks
trained and evaluated (one run folder each, per seed; with `experiments`, also the pixel-permuted pair
and the same-budget MLP), the results table, the analysis report.
`mnistlab run` wires it to the command line; notebooks and benchmarks can call it too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnistlab import data, plots
from mnistlab.errors import MnistlabError
from mnistlab.i18n import resolve_lang
from mnistlab.lesson.tables import results_table
from mnistlab.nets.models import lesson_models
from mnistlab.training import runs
from mnistlab.training.train import TrainConfig, check_out_dir, resolve_device, train_run

MAX_SEEDS = 100  # each seed trains both networks
# What --experiments adds per seed, as (network, pixels permuted): the report's "Why the CNN wins".
EXPERIMENTS = (("mlp", True), ("cnn", True), ("mlp-small", False))


@dataclass
class Lesson:
    runs: list[runs.Run]  # every finished run, seed by seed, networks in registry order
    table: str  # the results table printed at the end
    samples: Path  # the sample digits figure
    report: Path  # the report's index.html


def run_lesson(recipe: str = "practice", seed: int = 0, seeds: int = 1, device: str = "auto",
               max_steps: int | None = None, runs_dir: Path = Path("runs"), report_dir: Path | None = None,
               data_dir: Path | None = None, log=print, lang: str | None = None, experiments: bool = False) -> Lesson:
    """Train both networks with `seeds` seeds from `seed` (and with `experiments` the EXPERIMENTS runs,
    same recipe, seeds and max_steps) and build the report (default: report/ beside `runs_dir`), the
    table and the report in `lang` (default: the locale's). Every setting is checked before the long
    work starts."""
    from mnistlab.report import build_report

    if not 1 <= seeds <= MAX_SEEDS:
        raise MnistlabError(f"--seeds must be between 1 and {MAX_SEEDS} (got {seeds})")
    runs_dir = Path(runs_dir)
    lang = resolve_lang(lang)
    kinds = [(name, False) for name in lesson_models()] + (list(EXPERIMENTS) if experiments else [])
    configs = [TrainConfig(model=name, recipe=recipe, seed=s, device=device, max_steps=max_steps, permute_pixels=permuted)
               for s in range(seed, seed + seeds) for name, permuted in kinds]
    resolve_device(device)
    folders = [runs_dir / runs.run_dir_name(c.model, c.recipe, c.seed, c.permute_pixels) for c in configs]
    for folder in folders:
        check_out_dir(folder)
    status = data.ensure_mnist(data_dir, quiet=False)
    log(f"MNIST: 4 files verified by md5 in {data.raw_dir(status.root)} (source: {status.describe()})")
    images, _ = data.load_split(status.root, "train")
    samples = plots.plot_samples(images, runs_dir / "samples.png")
    log(f"sample digits: {samples}")
    finished = [train_run(c, folder, status, log=log, lang=lang) for c, folder in zip(configs, folders)]
    table = results_table(finished, lang)
    log("")
    log(table)
    report = build_report([r.path for r in finished], report_dir or runs_dir.parent / "report", data_dir=status.root,
                          lang=lang)
    log(f"\nreport: {report}")
    return Lesson(finished, table, samples, report)
