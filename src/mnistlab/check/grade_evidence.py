"""What the class summary compares across submissions, computed on the trusted side from what was
handed in: the test accuracy of each network (handed-in weights scored by mnistlab, else the number
the notebook printed), a digest of each set of weights and of the notebook's code."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch

NETWORK_FILES = {"mlp": "multinn.pth", "cnn": "cnn.pth"}
PRINTED = {"mlp": "Resultados MultiLayerNN", "cnn": "Resultados CNN"}  # the practice's evaluation cells
MAX_NOTEBOOK_BYTES = 64 * 2**20


def notebook_json(path: Path | None) -> dict | None:
    """The notebook as JSON, or None when it is not one (the checker says why)."""
    if path is None or not path.is_file() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("cells"), list) else None


def cell_text(value) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def code_digest(notebook: dict | None) -> str | None:
    """sha-256 of the code cells, outputs aside, each line's trailing spaces and blank lines ignored."""
    if notebook is None:
        return None
    lines = [line.rstrip() for cell in notebook["cells"] if isinstance(cell, dict) and cell.get("cell_type") == "code"
             for line in cell_text(cell.get("source")).split("\n")]
    return hashlib.sha256("\n".join(line for line in lines if line).encode()).hexdigest()


def printed_accuracies(notebook: dict | None) -> dict[str, float]:
    """The overall accuracy each evaluation cell printed ("Accuracy General: 0.9812"), per network."""
    found = {}
    if notebook is None:
        return found
    for cell in notebook["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or not isinstance(cell.get("outputs"), list):
            continue
        text = "".join(cell_text(o.get("text")) for o in cell["outputs"] if isinstance(o, dict))
        for network, heading in PRINTED.items():
            match = re.search(re.escape(heading) + r".*?Accuracy General: ([01](?:\.\d+)?)", text, re.DOTALL)
            if match:
                found[network] = float(match.group(1))
    return found


def weights_digest(path: Path) -> tuple[str, torch.nn.Module | None] | None:
    """(digest of the tensors, in key order, whatever the file's name inside the archive; the network
    they fit or None), or None when the file is not a readable state dict."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is simply not evidence
        return None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return None
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().contiguous().cpu()
        digest.update(f"{key}:{tuple(tensor.shape)}:{tensor.dtype}\0".encode())
        digest.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.float().numpy().tobytes())
    return digest.hexdigest(), state


def evidence(notebook_path: Path | None, pth_files: list[Path], test_split=None) -> dict:
    """{"accuracy": {net: {"value", "source"}}, "weights": {net: digest}, "code": digest}.

    `test_split` (images, labels) scores handed-in weights; without it only printed numbers are used."""
    from mnistlab.errors import MnistlabError
    from mnistlab.inference.evaluate import evaluate
    from mnistlab.nets.models import create_model

    notebook = notebook_json(notebook_path)
    found = {"accuracy": {}, "weights": {}, "code": code_digest(notebook)}
    by_name = {p.name.lower(): p for p in pth_files}
    for network, file_name in NETWORK_FILES.items():
        path = by_name.get(file_name)
        read = weights_digest(path) if path is not None else None
        if read is None:
            continue
        found["weights"][network] = read[0]
        if test_split is not None:
            model = create_model(network)
            try:
                model.load_state_dict(read[1], strict=True)
            except (RuntimeError, MnistlabError):
                continue
            score = evaluate(model, *test_split)
            found["accuracy"][network] = {"value": score.overall_accuracy, "source": "weights"}
    for network, value in printed_accuracies(notebook).items():
        found["accuracy"].setdefault(network, {"value": value, "source": "printed"})
    return found
