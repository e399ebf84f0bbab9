"""mnistlab.check: the practice's checker. `check_notebook` runs a student's notebook in a sandbox for
evidence and judges every item outside it; `check_weights` judges handed-in .pth files; the functions of
cells.py judge one item each from inside a notebook. See docs/checker.md."""

from mnistlab.check.notebook import CheckError, check_notebook, read_notebook
from mnistlab.check.result import ITEM_IDS, STATUSES, CheckResult, Item
from mnistlab.check.rubric import DEFAULT_RUBRIC, load_rubric
from mnistlab.check.sandbox import SandboxResult, bwrap_path, run_sandboxed
from mnistlab.check.weights import check_weights

__all__ = ["CheckError", "CheckResult", "DEFAULT_RUBRIC", "ITEM_IDS", "Item", "STATUSES", "SandboxResult",
           "bwrap_path", "check_notebook", "check_weights", "load_rubric", "read_notebook", "run_sandboxed"]
from mnistlab.check.cells import (accuracy, analysis, architecture, evaluate, forward, parameters, plots,  # noqa: E402
                                  saved, sizes, training)

__all__ += ["accuracy", "analysis", "architecture", "evaluate", "forward", "parameters", "plots", "saved", "sizes",
            "training"]
