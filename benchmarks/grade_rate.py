"""Grading rate: a class of copies of the solved notebook (each with its own name and a comment of its
own, so none is a re-run) graded with `--jobs 1` and `--jobs 2`, side by side; prints submissions per
minute of each and their ratio. Sandboxed as `mnistlab grade` is by default (bwrap must be installed).

    python benchmarks/grade_rate.py [--students 4] [--jobs 1,2] [--timeout 180] [--data-dir D]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


import nbformat  # noqa: E402

from mnistlab.check.grade import GradeOptions, grade  # noqa: E402

SOLVED = Path(__file__).resolve().parents[1] / "notebooks" / "practica2_resuelta.ipynb"


def make_class(folder: Path, students: int) -> None:
    """A Moodle-style folder: one `<name>_<id>_assignsubmission_file_/practica2.ipynb` per student."""
    for i in range(students):
        notebook = nbformat.read(SOLVED, as_version=4)
        notebook.cells[0].source += f"\n\n<!-- estudiante {i} -->"
        student = folder / f"Estudiante {i:03d}_{1000 + i}_assignsubmission_file_"
        student.mkdir(parents=True)
        nbformat.write(notebook, student / "practica2.ipynb")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=4, help="notebooks in the class (default 4)")
    parser.add_argument("--jobs", default="1,2", help="--jobs values to compare (default 1,2)")
    parser.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (default: mnistlab's)")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="grade's --timeout (default 180 s; give more on a busy machine, where two "
                             "notebooks at once each take longer)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    rates = {}
    with tempfile.TemporaryDirectory(prefix="grade-rate-") as tmp:
        tmp = Path(tmp)
        make_class(tmp / "class", args.students)
        for jobs in map(int, args.jobs.split(",")):
            started = time.perf_counter()
            rows = grade([tmp / "class"], tmp / f"out-{jobs}", GradeOptions(jobs=jobs, data_dir=args.data_dir,
                                                                           lang="es", timeout_s=args.timeout), progress=False)
            seconds = time.perf_counter() - started
            statuses = sorted({r.result["status"] for r in rows})
            rates[jobs] = len(rows) / seconds * 60
            print(f"--jobs {jobs}: {len(rows)} submissions in {seconds:.0f} s = {rates[jobs]:.1f} per minute "
                  f"({seconds / len(rows):.1f} s each; statuses {', '.join(statuses)})", flush=True)
    first = min(rates)
    for jobs, rate in rates.items():
        print(f"  --jobs {jobs}: {rate / rates[first]:.2f}x the rate of --jobs {first}")
    print(f"load average at the start {load:.2f}, at the end {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
