"""Training throughput: the practice's loop (torchvision MNIST + ToTensor + DataLoader) against
mnistlab's (in-memory tensors, same batches, same losses), same model and settings, alternately.

    python benchmarks/train_throughput.py [--steps 938] [--rounds 2]
"""

import argparse
import sys
import time
from pathlib import Path

import mnistlab  # noqa: F401  (first: it picks OpenMP's waiting policy before torch loads it)
import torch

from mnistlab import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from practice import practice_datasets, practice_train  # noqa: E402  (the tests' reference loop)
from mnistlab.training.train import TrainConfig, fit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=938, help="training steps per measurement (938 = one epoch)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per model")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    status = data.ensure_mnist(args.data_dir)
    train_dataset, _ = practice_datasets(status.root)
    images, labels = data.load_split(status.root, "train")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; {args.steps} steps of batch 64")
    print(f"{'model':<6}{'practice img/s':>16}{'mnistlab img/s':>16}{'speed-up':>10}  identical losses")
    for name in ("mlp", "cnn"):
        practice_seconds, ours_seconds, identical = 0.0, 0.0, True
        for round_ in range(args.rounds):
            started = time.perf_counter()
            _, reference = practice_train(name, train_dataset, seed=round_, max_steps=args.steps)
            practice_seconds += time.perf_counter() - started
            started = time.perf_counter()
            result = fit(TrainConfig(model=name, seed=round_, max_steps=args.steps), images, labels, log=lambda _: None)
            ours_seconds += time.perf_counter() - started
            identical &= max(abs(a - b) for a, b in zip(reference, result.loss)) <= 1e-6
        samples = args.steps * 64 * args.rounds
        print(f"{name:<6}{samples / practice_seconds:>16,.0f}{samples / ours_seconds:>16,.0f}"
              f"{practice_seconds / ours_seconds:>9.2f}x  {'yes' if identical else 'NO'}")


if __name__ == "__main__":
    main()
