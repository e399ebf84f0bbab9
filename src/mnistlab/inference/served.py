"""Which run (or .pth file) each network of `mnistlab serve` answers with: the runs and files there are
to choose from, and the choice kept across a restart in `<runs>/served.json` (written atomically)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.files import read_json, write_json
from mnistlab.nets.models import MODELS, load_weights
from mnistlab.training.runs import Run, find_runs

CHOICE_FILE = "served.json"  # {"mlp": "<run folder name>" or "file:<name>.pth", "cnn": ...}
FILE_PREFIX = "file:"


@dataclass(frozen=True)
class Choice:
    """One thing a network can answer with: a finished run folder, or a bare .pth file."""

    id: str  # the run folder's name, or "file:" + the .pth file's name
    model: str  # mlp or cnn
    source: str  # the run folder or the file, as a path
    run: Run | None = None

    def describe(self) -> dict:
        run = self.run
        return {"id": self.id, "model": self.model, "source": self.source,
                "recipe": run.config.recipe if run else None, "steps": run.metrics.steps if run else None,
                "epochs": run.metrics.epochs_completed if run else None,
                "test_accuracy": run.metrics.overall_accuracy if run else None,
                "train_accuracy": run.metrics.train_accuracy if run else None}


def choices(runs_dir: str | Path, files: dict[str, Path] | None = None) -> list[Choice]:
    """Every finished run under `runs_dir` (newest first), then the .pth files: those given to serve
    (`files`, {"mlp": path}) and those lying directly in `runs_dir`, recognised by their keys."""
    found = [Choice(run.path.name, run.model, str(run.path), run) for run in find_runs(runs_dir)]
    given = {Path(path).resolve(): name for name, path in (files or {}).items() if path is not None}
    lying = sorted(Path(runs_dir).glob("[!.]*.pth")) if Path(runs_dir).is_dir() else []
    seen = set()
    for path in [*(Path(p) for p in (files or {}).values() if p is not None), *lying]:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        try:
            model, _network = load_weights(path, given.get(path.resolve()))
        except MnistlabError:
            continue  # not a network's weights: not offered
        found.append(Choice(FILE_PREFIX + path.name, model, str(path)))
    return found


def find_choice(runs_dir: str | Path, choice_id: str, files: dict[str, Path] | None = None) -> Choice:
    for choice in choices(runs_dir, files):
        if choice.id == choice_id:
            return choice
    raise MnistlabError(f"no finished run or .pth file called {choice_id!r} in {runs_dir}")


def read_choice(runs_dir: str | Path) -> dict[str, str]:
    """{network: choice id} as last chosen; {} when nothing was chosen or the file is unreadable
    (a damaged choice falls back to the latest runs, it never stops the server)."""
    path = Path(runs_dir) / CHOICE_FILE
    if not path.exists():
        return {}
    try:
        data = read_json(path, "choosing a run on the studio page")
    except MnistlabError:
        return {}
    return {name: value for name, value in data.items() if name in MODELS and isinstance(value, str)}


def write_choice(runs_dir: str | Path, network: str, choice_id: str) -> None:
    """Remember that `network` answers with `choice_id` (temp file + rename: never half-written). A
    file of that name that is not a choice mnistlab wrote (not a JSON object) is left as it is."""
    path = Path(runs_dir) / CHOICE_FILE
    if path.exists():
        try:
            kept = read_json(path, "choosing a run on the studio page")
        except MnistlabError:
            kept = None
        if not isinstance(kept, dict):
            raise MnistlabError(f"{path} is not a choice file mnistlab wrote, so it is left as it is: "
                                "move it away to let the page remember the networks it serves")
    chosen = {**read_choice(runs_dir), network: choice_id}
    write_json(path, {name: chosen[name] for name in MODELS if name in chosen})
