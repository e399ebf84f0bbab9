"""OpenMP's waiting policy against training speed: the same short tuned training (what `mnistlab train`
runs) in fresh processes with GOMP_SPINCOUNT at libgomp's own default (300000: a waiting thread spins
about that many times before it sleeps), at an intermediate count and at 0 (sleep at once),
alternately, with the load average printed beside the numbers. A GOMP_SPINCOUNT set in the
environment wins over mnistlab's choice, so each child measures the count given here.
docs/performance.md holds what it measured and the choice made from it.

    python benchmarks/omp_wait_policy.py [--steps 100] [--rounds 3] [--policies 300000,10000,0]
"""

import argparse
import os
import statistics
import subprocess
import sys

CHILD = """
import sys, time
from mnistlab import data
from mnistlab.training.train import TrainConfig, fit
images, labels = data.load_split(None, "train")
config = TrainConfig(model=sys.argv[1], recipe="tuned", max_steps=int(sys.argv[2]), device="cpu")
print(fit(config, images, labels, log=lambda line: None).train_seconds)
"""


def run(policy: str, model: str, steps: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["GOMP_SPINCOUNT"] = policy
    out = subprocess.run([sys.executable, "-c", CHILD, model, str(steps)], env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per policy and network")
    parser.add_argument("--policies", default="300000,10000,0", help="GOMP_SPINCOUNT values to compare")
    parser.add_argument("--models", default="cnn,mlp")
    args = parser.parse_args()
    policies = args.policies.split(",")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    for model in args.models.split(","):
        seconds = {p: [] for p in policies}
        for _ in range(args.rounds):
            for policy in policies:
                seconds[policy].append(run(policy, model, args.steps))
        base = statistics.median(seconds[policies[0]])
        for policy in policies:
            median = statistics.median(seconds[policy])
            print(f"{model} tuned, {args.steps} steps, GOMP_SPINCOUNT={policy:<8} median {median:6.2f} s "
                  f"({', '.join(f'{s:.2f}' for s in seconds[policy])})  {median / base:.2f}x of {policies[0]}")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
