"""The package's tree: grouped by concern (nets/, training/, inference/, ...), no import cycle between
its modules (function-level imports included), and the import paths of earlier versions still working."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mnistlab

PACKAGE = Path(mnistlab.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(name: str) -> str | None:
    """The module an import of `name` runs: its moved place, or None if `name` is not a module."""
    name = mnistlab.MOVED.get(name, name)
    return name if name in MODULES else None


def imports_of(module: str) -> set[str]:
    """Every mnistlab module that `module` imports anywhere in its code, with the packages above each
    (but for its own packages: they are being imported whenever it is)."""
    own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.startswith("mnistlab") and (target := resolve(name)):
                parts = target.split(".")
                found |= {".".join(parts[:i]) for i in range(2, len(parts) + 1)}  # mnistlab itself: openmp only
    return found - own - {module}


def test_no_import_cycle_between_the_package_modules():
    graph = {module: imports_of(module) for module in MODULES}
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_the_top_of_the_package_shows_the_architecture():
    top = sorted(p.name for p in PACKAGE.iterdir() if not p.name.startswith(("_", ".")))
    assert top == ["check", "cli.py", "data.py", "errors.py", "files.py", "i18n.py", "inference", "lesson",
                   "locale", "nets", "openmp.py", "plots.py", "report", "robustness", "training", "web"]


@pytest.mark.parametrize("old, new", sorted(mnistlab.MOVED.items()))
def test_the_import_paths_of_earlier_versions_name_the_same_modules(old, new):
    code = (f"import importlib, {old} as old, {new} as new; assert old is new, (old, new); "
            f"assert old.__name__ == old.__spec__.name == {new!r}; "
            f"assert importlib.import_module({old!r}) is new; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr


def test_the_notebooks_imports_still_work():
    """What the solved notebook of 0.2 and the README's examples import, in a fresh interpreter."""
    code = ("from mnistlab.data import ensure_mnist, load_split; from mnistlab.evaluate import evaluate; "
            "from mnistlab.layers import cnn_size_rows, format_shape, parameter_rows; "
            "from mnistlab.models import MultiLayerNN, CNN, create_model; from mnistlab.train import train_run; "
            "from mnistlab.runs import load_run; from mnistlab.preprocess import to_mnist; "
            "from mnistlab import robustness, lab; assert robustness.shift and lab.__name__; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr
