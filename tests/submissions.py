"""A corpus of practice submissions, generated (no large files committed): each function returns an
nbformat notebook built from the solved notebook, with one style change or one classic mistake per
network, and EXPECTED says which items it must fail and how. `mnistlab grade`'s tests extend this corpus
(hostile submissions) with more functions of the same shape."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import nbformat

SOLVED = Path(__file__).resolve().parents[1] / "notebooks" / "practica2_resuelta.ipynb"


@lru_cache(maxsize=1)
def _solved() -> nbformat.NotebookNode:
    return nbformat.read(SOLVED, as_version=4)


def solved() -> nbformat.NotebookNode:
    """The solved notebook as committed (with its saved outputs)."""
    return copy.deepcopy(_solved())


def cell_with(notebook, text: str):
    """The one code cell whose source contains `text`."""
    found = [cell for cell in notebook.cells if cell.cell_type == "code" and text in cell.source]
    assert len(found) == 1, f"{len(found)} code cells contain {text!r}"
    return found[0]


def edit(notebook, where: str, old: str, new: str, count: int = 1):
    """Replace `old` by `new` (`count` times) in the code cell containing `where`; the text must be there."""
    cell = cell_with(notebook, where)
    assert cell.source.count(old) >= count, f"{old!r} not in the cell with {where!r}"
    cell.source = cell.source.replace(old, new, count)
    return notebook


MLP_CLASS, CNN_CLASS = "class MultiLayerNN", "class CNN"
MLP_TRAINING, CNN_TRAINING = "model1 = MultiLayerNN()\nmodel1.to(device)", "model2 = CNN()\nmodel2.to(device)"

SEQUENTIAL_MLP = '''class MultiLayerNN(nn.Module):
    """Red multicapa escrita con nn.Sequential (otro estilo, la misma red)."""
    def __init__(self):
        super().__init__()
        self.capas = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 512), nn.ReLU(),
            nn.Linear(512, 512), nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        return self.capas(x)
'''

OTHER_NAMES_CNN = '''class CNN(nn.Module):
    """La CNN con otros nombres de atributos y torch.flatten."""
    def __init__(self):
        super().__init__()
        self.convolucion1 = nn.Conv2d(1, 6, kernel_size=5, stride=1, padding=2)
        self.agrupa1 = nn.MaxPool2d(2, 2)
        self.convolucion2 = nn.Conv2d(6, 16, kernel_size=5)
        self.agrupa2 = nn.MaxPool2d(2, 2)
        self.oculta1 = nn.Linear(16 * 5 * 5, 120)
        self.oculta2 = nn.Linear(120, 84)
        self.salida = nn.Linear(84, 10)

    def forward(self, x):
        x = self.agrupa1(F.relu(self.convolucion1(x)))  # comentario en español
        x = self.agrupa2(F.relu(self.convolucion2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.oculta1(x))
        x = F.relu(self.oculta2(x))
        return self.salida(x)
'''


def other_styles() -> nbformat.NotebookNode:
    """The MLP as nn.Sequential, the CNN with other attribute names and torch.flatten: both right."""
    notebook = solved()
    cell_with(notebook, MLP_CLASS).source = SEQUENTIAL_MLP
    cell_with(notebook, CNN_CLASS).source = OTHER_NAMES_CNN
    return notebook


def forward_and_loop_mistakes() -> nbformat.NotebookNode:
    """MLP: no ReLU after fc1, no optimizer.zero_grad(). CNN: softmax returned, step before backward."""
    notebook = solved()
    edit(notebook, MLP_CLASS, "x = self.fc1(x)\n        x = F.relu(x)", "x = self.fc1(x)")
    edit(notebook, MLP_TRAINING, "optimizer.zero_grad()", "pass")
    edit(notebook, CNN_CLASS, "x = self.fc3(x)\n\n        return x", "x = self.fc3(x)\n\n        return F.softmax(x, dim=1)")
    edit(notebook, CNN_TRAINING, "loss.backward()\n\n        # Actualizar los pesos\n        optimizer.step()",
         "optimizer.step()\n        loss.backward()")
    return notebook


def settings_mistakes() -> nbformat.NotebookNode:
    """MLP trained with lr=0.1; CNN's conv1 without padding (and fc1 resized so it still runs) and a
    training DataLoader with shuffle=False; Colab leftovers at the top."""
    notebook = solved()
    edit(notebook, MLP_TRAINING, "lr=0.01", "lr=0.1")
    edit(notebook, CNN_CLASS, "kernel_size=5, stride=1, padding=2", "kernel_size=5, stride=1, padding=0")
    edit(notebook, CNN_CLASS, "nn.Linear(16 * 5 * 5, 120)", "nn.Linear(16 * 4 * 4, 120)")
    edit(notebook, CNN_CLASS, "x.view(-1, 16 * 5 * 5)", "x.view(-1, 16 * 4 * 4)")
    edit(notebook, CNN_TRAINING, "batch_size=batch_size, shuffle=True)\ntest_loader",
         "batch_size=batch_size, shuffle=False)\ntest_loader")
    return colab_leftovers(notebook)


def colab_leftovers(notebook=None) -> nbformat.NotebookNode:
    """Cells a Colab notebook keeps: a shell command, a magic and Google Drive (fails off Colab)."""
    notebook = notebook or solved()
    leftovers = ["!pip install torch torchvision", "%matplotlib inline",
                 "from google.colab import drive\ndrive.mount('/content/drive')"]
    notebook.cells[1:1] = [nbformat.v4.new_code_cell(source) for source in leftovers]
    return notebook


def short_training(steps: int = 20) -> nbformat.NotebookNode:
    """Both training cells stop after `steps` steps (the solved notebook's own max_steps switch)."""
    notebook = solved()
    for where in (MLP_TRAINING, CNN_TRAINING):
        edit(notebook, where, 'max_steps = int(os.environ.get("MNISTLAB_MAX_STEPS", 0))', f"max_steps = {steps}")
    return notebook


def write(notebook, path: Path) -> Path:
    nbformat.write(notebook, path)
    return path


# Per variant: {item id: text its failure message must contain}; every item not named must pass.
EXPECTED = {
    "solved": {},
    "other_styles": {"mlp.saved": "attribute names", "cnn.saved": "attribute names"},
    "forward_and_loop_mistakes": {
        "mlp.forward": "ReLU after fc1 is missing", "mlp.training": "zero_grad() is missing",
        "cnn.forward": "softmax", "cnn.training": "step() comes before loss.backward()"},
    "settings_mistakes": {
        "mlp.training": "learning rate is 0.1", "cnn.architecture": "padding=0",
        "cnn.forward": "differ in shape", "cnn.training": "shuffle=False"},
}
