"""`mnistlab robustness` speed: the whole test set moved 0–8 px (four directions) and rotated 0–60°
(both ways), 41 passes of 10,000 images per network, batched on the device; beside it the same
levels done one image at a time (a Python loop, on a slice of the test set, scaled up) for the ratio.

    python benchmarks/robustness_speed.py [RUN_DIR ...] [--device cpu] [--loop-images 200]

RUN_DIR defaults to the latest mlp and cnn runs in runs/. Target (issue 20): both practice networks
in at most 15 s on the 2-core CPU."""

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from mnistlab import data, robustness
from mnistlab.training.runs import latest_run, load_run

TARGET_SECONDS = 15.0


def one_at_a_time(model, images, labels, permuted):
    """The per-image loop the batched version replaces: every level, every image, one forward each."""
    correct = 0
    for image, label in zip(images, labels):
        batch = image[None]
        variants = [robustness.shift(batch, dx * s, dy * s) for s in robustness.SHIFTS[1:]
                    for dx, dy in robustness.DIRECTIONS]
        variants += [robustness.affine(batch, sign * a) for a in robustness.ANGLES[1:] for sign in (1, -1)]
        for variant in [batch, *variants]:
            correct += int(model(data.network_input(variant, permuted)).argmax() == label)
    return correct


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--loop-images", type=int, default=200)
    args = parser.parse_args()
    found = [load_run(p) for p in args.runs] or [latest_run("runs", name) for name in ("mlp", "cnn")]
    images, labels = data.load_split(None, "test", args.device)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    total = 0.0
    for run in found:
        started = time.perf_counter()
        result = robustness.measure_run(run, images, labels, args.device)
        batched = time.perf_counter() - started
        total += batched
        model = robustness_model(run, args.device)
        started = time.perf_counter()
        with torch.inference_mode():
            one_at_a_time(model, images[: args.loop_images], labels[: args.loop_images], run.permuted)
        looped = (time.perf_counter() - started) * len(images) / args.loop_images
        print(f"{run.model:<10} batched {batched:6.1f} s   one image at a time ~{looped:7.1f} s (from "
              f"{args.loop_images} images)   {looped / batched:5.1f}x   shift 3 px {result.shift['3']:.1%}, "
              f"rotation 30° {result.rotation['30']:.1%}")
    verdict = "meets" if total <= TARGET_SECONDS else "misses"
    print(f"all networks: {total:.1f} s, {verdict} the {TARGET_SECONDS:g} s target")
    return 0


def robustness_model(run, device):
    from mnistlab.nets.models import load_weights

    return load_weights(run.weights, run.model)[1].to(device).eval()


if __name__ == "__main__":
    sys.exit(main())
