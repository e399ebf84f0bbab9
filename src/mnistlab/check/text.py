"""Reading a notebook's own text (markdown cells and saved outputs): the numbers of deliverables 3 and 4
in their many spellings, the analysis of deliverable 2, and the accuracies the notebook printed."""

from __future__ import annotations

import re

PARAMETERS = {"mlp": 669706, "cnn": 61706}
# Output size of each conv/pool layer of the practice's CNN (channels, height, width), conv outputs first.
SIZES = {"conv1": (6, 28, 28), "pool1": (6, 14, 14), "conv2": (16, 10, 10), "pool2": (16, 5, 5)}
REQUIRED_SIZES = ("conv1", "pool1", "conv2")  # what deliverable 4 asks: each conv layer's input and output
SEPARATORS = "[ .,'\u00a0\u202f\u2009_]?"
TIMES = r"\s*[x×X*·]\s*"


def cell_text(cell) -> str:
    return "".join(cell.get("source", "")) if isinstance(cell.get("source"), list) else cell.get("source", "")


def output_texts(cell, kinds=("text/plain", "text/markdown"), streams=True) -> list[str]:
    texts = []
    for output in cell.get("outputs", []) or []:
        if output.get("output_type") == "stream" and streams:
            texts.append(_joined(output.get("text", "")))
        elif isinstance(output.get("data"), dict):
            for kind in kinds:
                if kind in output["data"]:
                    texts.append(_joined(output["data"][kind]))
    return texts


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def prose(notebook) -> str:
    """Markdown cells and the saved outputs of code cells: where deliverables are answered."""
    parts = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            parts.append(cell_text(cell))
        elif cell.get("cell_type") == "code":
            parts += output_texts(cell)
    return "\n".join(parts)


def number_pattern(value: int) -> re.Pattern:
    """669706 as 669706, 669.706, 669,706, 669 706, 669_706 (not inside a longer number)."""
    text = str(value)
    head, tail = text[: len(text) % 3 or 3], text[len(text) % 3 or 3:]
    groups = [tail[i : i + 3] for i in range(0, len(tail), 3)]
    return re.compile(r"(?<![\d.,])" + SEPARATORS.join([head, *groups]) + r"(?![\d]|[.,]\d)")


def mentions_number(text: str, value: int) -> bool:
    return bool(number_pattern(value).search(text))


def shape_pattern(c: int, h: int, w: int) -> re.Pattern:
    """6×28×28, 6x28x28, 28x28x6, 6 @ 28×28, (6, 28, 28), 6 mapas de 28×28, 6 feature maps of 28x28."""
    hw = f"{h}{TIMES}{w}"
    options = [f"{c}{TIMES}{hw}", f"{hw}{TIMES}{c}", rf"{c}\s*@\s*{hw}", rf"\(\s*(?:\d+\s*,\s*)?{c}\s*,\s*{h}\s*,\s*{w}\s*\)",
               rf"\(\s*{h}\s*,\s*{w}\s*,\s*{c}\s*\)",
               rf"{c}\s+(?:feature\s+maps?|mapas?(?:\s+de\s+caracter[íi]sticas)?|canales|channels|filtros|filters)"
               rf"\s+(?:de|of)\s+{hw}"]
    return re.compile(r"(?<!\d)(?:" + "|".join(options) + r")(?!\d)", re.IGNORECASE)


def sizes_found(text: str) -> dict[str, bool]:
    return {layer: bool(shape_pattern(*shape).search(text)) for layer, shape in SIZES.items()}


ACCURACY = re.compile(r"(?:Resultados|Results)\s+(MultiLayerNN|MLP|CNN)\b[\s\S]{0,200}?"
                      r"(?:Accuracy General|Overall accuracy|Accuracy)\s*:\s*([01](?:[.,]\d+)?)", re.IGNORECASE)


def printed_accuracies(notebook) -> dict[str, float]:
    """{"mlp": 0.97, "cnn": 0.98} from the notebook's saved outputs (the practice's print lines)."""
    found = {}
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for text in output_texts(cell, ("text/plain",)):
            for name, value in ACCURACY.findall(text):
                found["cnn" if name.upper() == "CNN" else "mlp"] = float(value.replace(",", "."))
    return found


DELIVERABLE = re.compile(r"^#+\s*Entregable|^#+\s*Deliverable", re.IGNORECASE | re.MULTILINE)
ANALYSIS_HEADING = re.compile(r"(?:^#+|\*\*)\s*(?:2\s*[.)]|.*an[áa]lisis|.*analys)", re.IGNORECASE | re.MULTILINE)
NEXT_HEADING = re.compile(r"(?:^#+|\*\*)\s*(?:[345]\s*[.)]|.*par[áa]metros|.*parameters|.*tama[ñn]os|.*sizes)",
                          re.IGNORECASE | re.MULTILINE)


def analysis_text(notebook) -> str:
    """The answer to deliverable 2: the prose after the deliverables' list, from the heading that names the
    analysis (or "2.") to the next deliverable's heading; markdown cells and markdown outputs."""
    cells = notebook.get("cells", [])
    start = max((i for i, c in enumerate(cells) if c.get("cell_type") == "markdown" and DELIVERABLE.search(cell_text(c))),
                default=None)
    if start is None:
        return ""
    blocks = []
    for cell in cells[start + 1:]:
        if cell.get("cell_type") == "markdown":
            blocks.append(cell_text(cell))
        else:
            blocks += output_texts(cell, ("text/markdown",), streams=False)
    text = "\n\n".join(blocks)
    heading = ANALYSIS_HEADING.search(text)
    if heading:
        text = text[heading.start():]
        following = NEXT_HEADING.search(text, pos=len(text.split("\n", 1)[0]))
        text = text[: following.start()] if following else text
    lines = [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#")]
    return "\n".join(lines).strip()


def is_substantial(text: str) -> bool:
    """More than a line: at least two sentences or lines and 20 words."""
    sentences = [s for s in re.split(r"[.!?]\s|\n", text) if len(s.split()) >= 3]
    return len(sentences) >= 2 and len(text.split()) >= 20
