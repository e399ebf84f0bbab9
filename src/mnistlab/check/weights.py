"""Checking handed-in weights alone (`mnistlab check multinn.pth cnn.pth`): each file loads into the
practice's class, and the networks' accuracy, measured by mnistlab, against the practice's range."""

from __future__ import annotations

from pathlib import Path

from mnistlab.check import deliverables, items
from mnistlab.check.notebook import load_student_weights, measured_accuracy
from mnistlab.check.result import CheckResult
from mnistlab.check.rubric import load_rubric
from mnistlab.data import ensure_mnist
from mnistlab.errors import MnistlabError
from mnistlab.i18n import texts
from mnistlab.nets.models import fits, read_state_dict


def _kind_of(path: Path) -> str | None:
    try:
        state = read_state_dict(path)
    except MnistlabError:
        return None
    return next((kind for kind in ("mlp", "cnn") if fits(kind, state)), None)


def check_weights(mlp_pth, cnn_pth, *, lang=None, data_dir=None, rubric=None) -> CheckResult:
    """Items mlp.saved, cnn.saved and accuracy for two .pth files (either order)."""
    t = texts(lang)
    rubric = rubric if isinstance(rubric, dict) else load_rubric(rubric)
    files = {"mlp": Path(mlp_pth), "cnn": Path(cnn_pth)}
    if _kind_of(files["mlp"]) == "cnn" or _kind_of(files["cnn"]) == "mlp":
        files = {"mlp": files["cnn"], "cnn": files["mlp"]}
    networks, result = {}, []
    for kind, path in files.items():
        network, problem = load_student_weights(kind, path, t)
        if network is not None:
            networks[kind] = network
        result.append(items.saved(kind, problem, False, rubric, t))
    root = ensure_mnist(data_dir).root
    result.append(deliverables.accuracy(measured_accuracy(networks, root), "weights", rubric, t))
    return CheckResult.of(f"{files['mlp'].name} {files['cnn'].name}", result)
