"""Build notebooks/practica2_resuelta.ipynb from its percent-format source (practica2_resuelta.py)
and execute it top to bottom in a fresh kernel, in a temporary folder, saving the outputs.

    python notebooks/build_notebook.py                # full run (10 epochs), writes the .ipynb
    python notebooks/build_notebook.py --no-execute   # cells only, no outputs
    MNISTLAB_EPOCHS=1 MNISTLAB_MAX_STEPS=200 python notebooks/build_notebook.py --out /tmp/corto.ipynb
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "practica2_resuelta.py"
NOTEBOOK = HERE / "practica2_resuelta.ipynb"
REPO = HERE.parent
CELL_MARK = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?P<meta>.*)$")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def read_source(path: Path = SOURCE) -> nbformat.NotebookNode:
    """The notebook's cells from the percent-format file (text before the first `# %%` is a header)."""
    cells, kind, meta, lines = [], None, {}, []

    def close():
        if kind is None:
            return
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":  # drop the comment prefix: "# text" -> "text", "#" -> ""
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.split("\n"))
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell(text)
        cell.id = meta.get("id") or f"celda-{len(cells) + 1:02d}"
        cells.append(cell)

    for line in path.read_text(encoding="utf-8").split("\n"):
        mark = CELL_MARK.match(line)
        if mark:
            close()
            kind = "markdown" if mark["markdown"] else "code"
            meta, lines = dict(re.findall(r'(\w+)="([^"]*)"', mark["meta"])), []
        else:
            lines.append(line)
    close()
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    return notebook


def sandbox_environment(scratch: Path) -> dict[str, str]:
    """The kernel's environment: Jupyter, IPython and matplotlib state go to `scratch`, not HOME."""
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        if name not in env:
            env[name] = str(scratch / name.lower())
            Path(env[name]).mkdir(parents=True, exist_ok=True)
    env.pop("MPLBACKEND", None)  # the kernel's inline backend must draw the figures
    return env


def execute(notebook, workdir: Path, data_root: Path, env: dict[str, str] | None = None,
            timeout: int | None = None) -> nbformat.NotebookNode:
    """Run `notebook` in a fresh python3 kernel with `workdir` as its folder; ./data links to `data_root`.

    The .pth files the notebook saves stay in `workdir`."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    link = workdir / "data"
    if not link.exists():
        link.symlink_to(Path(data_root).resolve(), target_is_directory=True)
    env = dict(env if env is not None else sandbox_environment(workdir / ".jupyter-sandbox"))
    client = NotebookClient(notebook, kernel_name="python3", timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute(env=env, cwd=str(workdir))
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    return notebook


def write(notebook, out: Path) -> None:
    """Validate `notebook` and write it to `out`, saying how large it is."""
    nbformat.validate(notebook)
    out.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=NOTEBOOK, help=f"where to write (default: {NOTEBOOK.name})")
    parser.add_argument("--no-execute", action="store_true", help="write the cells without running them")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("MNISTLAB_DATA_DIR", REPO / "data")),
                        help="folder with MNIST/raw (default: $MNISTLAB_DATA_DIR or the repository's data/)")
    args = parser.parse_args(argv)

    notebook = read_source()
    if not args.no_execute:
        from mnistlab.data import ensure_mnist

        ensure_mnist(args.data_dir, quiet=False)
        with tempfile.TemporaryDirectory(prefix="mnistlab-notebook-") as tmp:
            # The kernelspec lookup in this process must not find a user's own "python3" either.
            os.environ.update({k: v for k, v in sandbox_environment(Path(tmp) / "sandbox").items()
                               if k.startswith(("JUPYTER_", "IPYTHON"))})
            started = time.perf_counter()
            execute(notebook, Path(tmp) / "work", args.data_dir)
            print(f"executed in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    write(notebook, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
