"""The accuracy range of the practice recipe: each network trained as the practice trains it (plain
SGD, lr 0.01, batch 64, 10 epochs) over several seeds, scored on the test set; the figures go to
`src/mnistlab/check/accuracy_range.json`, where the checker's `accuracy` item reads them.

    python scripts/accuracy_range.py [--seeds 10] [--runs-dir /tmp/accrange] [--epochs 10]

Each run is a normal run folder under --runs-dir (made by `mnistlab.training.train.train_run`, the recipe
`mnistlab train` uses); a folder already finished is read back, not trained again, so an interrupted
measurement resumes. The JSON is rewritten after every run, so it always states what has finished.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

# With more busy threads than cores (a shared machine), spinning OpenMP threads slow training badly.

import torch  # noqa: E402

from mnistlab import files  # noqa: E402
from mnistlab.errors import MnistlabError  # noqa: E402
from mnistlab.training import runs
from mnistlab.training.train import TrainConfig, train_run  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "src" / "mnistlab" / "check" / "accuracy_range.json"
MODELS = ("mlp", "cnn")


def finished_run(path: Path) -> runs.Run | None:
    try:
        run = runs.load_run(path)
    except MnistlabError:
        return None
    return run if run.metrics is not None else None


def summary(seeds: list[int], accuracies: list[float]) -> dict:
    return {
        "seeds": seeds,
        "accuracies": accuracies,
        "min": min(accuracies),
        "max": max(accuracies),
        "mean": statistics.fmean(accuracies),
        "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def write(results: dict[str, tuple[list[int], list[float]]], command: str, epochs: int, seeds: int,
          out: Path) -> None:
    figures = {model: summary(*results[model]) for model in MODELS if results[model][0]}
    done = min(len(results[model][0]) for model in MODELS)
    # provisional: fewer seeds than asked for (a cut-short measurement), or fewer than the 10 the checker wants
    figures["provisional"] = done < max(seeds, 10)
    figures["epochs"] = epochs
    figures["how"] = (f"`{command}`: the practice recipe (mnistlab.training.train.train_run, TrainConfig(model, "
                      f"seed=s, epochs={epochs}, device='cpu')), test-set accuracy of each seed; "
                      f"torch {torch.__version__}, {machine()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(out, figures)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per network, 0..N-1 (default 10)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run (default 10, the practice's)")
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/accrange"), help="where the run folders go")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the JSON written (default {OUT})")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: mnistlab's)")
    args = parser.parse_args(argv)
    command = "python scripts/accuracy_range.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = {model: ([], []) for model in MODELS}
    for seed in range(args.seeds):  # both networks per seed, so a cut-short measurement covers both
        for model in MODELS:
            path = args.runs_dir / f"{model}-seed{seed}"
            run = finished_run(path)
            if run is None:
                config = TrainConfig(model=model, seed=seed, epochs=args.epochs, device="cpu")
                run = train_run(config, path, data_dir=args.data_dir, log=lambda line: print(line, flush=True))
            results[model][0].append(seed)
            results[model][1].append(run.metrics.overall_accuracy)
            print(f"{model} seed {seed}: {run.metrics.overall_accuracy:.4f}", flush=True)
            write(results, command.strip(), args.epochs, args.seeds, args.out)
    for model in MODELS:
        figures = summary(*results[model])
        print(f"{model}: {figures['min']:.4f}..{figures['max']:.4f}, mean {figures['mean']:.4f} "
              f"± {figures['std']:.4f} over {len(figures['seeds'])} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
