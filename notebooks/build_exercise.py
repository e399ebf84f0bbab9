"""Build notebooks/practica2.ipynb, the exercise notebook (the practice as given, its `...` blanks, a
check cell after each part), from its percent-format source practica2.py. It is written without
outputs: it is what a student starts from.

    python notebooks/build_exercise.py            # writes practica2.ipynb
    python notebooks/build_exercise.py --out /tmp/p.ipynb
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "practica2.py"
NOTEBOOK = HERE / "practica2.ipynb"

_spec = importlib.util.spec_from_file_location("build_notebook", HERE / "build_notebook.py")
build_notebook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_notebook)


def read_exercise() -> nbformat.NotebookNode:
    notebook = build_notebook.read_source(SOURCE)
    notebook.metadata["colab"] = {"provenance": []}  # Colab opens it as its own notebook
    return notebook


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=NOTEBOOK, help=f"where to write (default: {NOTEBOOK.name})")
    args = parser.parse_args(argv)
    build_notebook.write(read_exercise(), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
