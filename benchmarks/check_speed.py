"""How long `mnistlab check` takes on one complete notebook (the solved practice), with the bwrap
sandbox and without it side by side, phase by phase. Target (issue 18): at most 30 s on the 2-core
machine. Prints the load average too: on a shared machine the wall clock means little without it.

    python benchmarks/check_speed.py [--notebook notebooks/practica2_resuelta.ipynb] [--repeat 1]
"""

import argparse
import os
import time
from pathlib import Path

from mnistlab.check import bwrap_path, check_notebook

TARGET_S = 30.0
REPO = Path(__file__).resolve().parents[1]


def timed(notebook: Path, sandbox: bool):
    """(wall seconds, CPU seconds of the checker and of the notebook's process, result). The notebook's
    CPU time comes from its own report: bwrap's pid namespace hides it from os.times()."""
    started, cpu = time.perf_counter(), os.times()
    result = check_notebook(notebook, sandbox=sandbox)
    after = os.times()
    cpu_s = (after.user + after.system) - (cpu.user + cpu.system)
    cpu_s += result.seconds.get("CPU time inside the sandbox (not wall clock)", 0.0)
    return time.perf_counter() - started, cpu_s, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebook", type=Path, default=REPO / "notebooks" / "practica2_resuelta.ipynb")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"notebook: {args.notebook}  ({os.cpu_count()} cores, load average before: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    modes = [("bwrap sandbox", True), ("no sandbox", False)] if bwrap_path() else [("no sandbox", False)]
    walls = {}
    for name, sandbox in modes:
        for attempt in range(args.repeat):
            wall, cpu, result = timed(args.notebook, sandbox)
            walls.setdefault(name, []).append(wall)
            passed = sum(item.passed for item in result.items)
            print(f"{name:<14} {wall:6.1f} s wall, {cpu:5.1f} s CPU, {passed}/{len(result.items)} items pass")
            for item in result.items:
                if not item.passed:
                    print(f"    failed: {item.id}: {item.message}")
            for phase, seconds in result.seconds.items():
                print(f"    {phase:<52} {seconds:5.1f} s")
    best = {name: min(values) for name, values in walls.items()}
    if len(best) == 2:
        print(f"sandbox overhead: {best['bwrap sandbox'] / best['no sandbox']:.2f}× the unsandboxed time")
    checked = best.get("bwrap sandbox", best["no sandbox"])
    print(f"one notebook checked in {checked:.1f} s (target <= {TARGET_S:.0f} s: "
          f"{'met' if checked <= TARGET_S else 'NOT met'}); load average after: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
