"""The solved practice notebook: the committed file is complete and holds a full 10-epoch run, and a
short run (MNISTLAB_EPOCHS / MNISTLAB_MAX_STEPS) executes cleanly in a fresh kernel, saves weights that
mnistlab loads strictly and scores the same, and trains exactly like mnistlab's faithful loop."""

import importlib.util
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from mnistlab.inference.evaluate import evaluate_accuracy
from mnistlab.nets.models import load_weights
from practice import practice_datasets
from mnistlab.training.train import TrainConfig, fit

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "practica2_resuelta.ipynb"
SHORT_EPOCHS, SHORT_STEPS = 2, 120  # the step cap stops training inside the first epoch
NETWORKS = {"mlp": ("multinn.pth", "MultiLayerNN"), "cnn": ("cnn.pth", "CNN")}

spec = importlib.util.spec_from_file_location("build_notebook", REPO / "notebooks" / "build_notebook.py")
build_notebook = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_notebook)


def cell(notebook, cell_id):
    return next(c for c in notebook.cells if c.id == cell_id)


def stdout(code_cell) -> str:
    return "".join(o.text for o in code_cell.outputs if o.output_type == "stream" and o.name == "stdout")


def printed_accuracies(notebook, name) -> tuple[str, list[str]]:
    """('0.9403', ['0.9918', ...]): what the practice's evaluation cell printed for `name`."""
    text = stdout(cell(notebook, f"evaluacion-{name}"))
    assert text.startswith(f"Resultados {NETWORKS[name][1]}:")
    overall = re.search(r"Accuracy General: (\d\.\d{4})", text).group(1)
    digits = re.findall(r"Accuracy para el dígito (\d): (\d\.\d{4})", text)
    assert [int(d) for d, _ in digits] == list(range(10))
    return overall, [acc for _, acc in digits]


def markdown_outputs(notebook) -> str:
    return "\n".join(o.data["text/markdown"] for c in notebook.cells if c.cell_type == "code"
                     for o in c.outputs if "text/markdown" in o.get("data", {}))


# --- the committed notebook ------------------------------------------------------------------


@pytest.fixture(scope="module")
def committed():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_committed_notebook_is_built_from_its_source(committed):
    source = build_notebook.read_source()
    assert [(c.cell_type, c.id, c.source) for c in committed.cells] == \
           [(c.cell_type, c.id, c.source) for c in source.cells]


def test_every_blank_is_filled_and_the_conv2d_slip_fixed(committed):
    code = [c.source for c in committed.cells if c.cell_type == "code"]
    assert not [src for src in code if "..." in src or "…" in src]
    assert not any("Conv2D" in c.source for c in committed.cells if "errata" not in c.source)
    assert any("nn.Conv2D" in c.source and "nn.Conv2d" in c.source for c in committed.cells
               if c.cell_type == "markdown")  # the note that says so


def test_committed_outputs_come_from_the_full_ten_epoch_run(committed):
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))  # top to bottom, once
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    for name in NETWORKS:
        printed = stdout(cell(committed, f"entrenamiento-{name}"))
        epochs = re.findall(r"^Época (\d+)/(\d+), Pérdida: \d\.\d{4}$", printed, re.MULTILINE)
        assert epochs == [(str(e), "10") for e in range(1, 11)]
    pngs = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 4  # sample digits, two loss curves, feature maps
    assert NOTEBOOK.stat().st_size < 600_000


def test_committed_analysis_text_matches_the_printed_accuracies(committed):
    analysis = markdown_outputs(committed)
    assert "10,0 épocas" in analysis
    for name in NETWORKS:
        overall, digits = printed_accuracies(committed, name)
        assert f"{float(overall) * 100:.2f}".replace(".", ",") + "\u00a0%" in analysis  # Babel's es percent
    assert "**669.706** parámetros y la CNN **61.706**" in analysis
    assert "O = (14 − 5 + 2·0) / 1 + 1 = 10" in analysis


# --- a short run, executed here --------------------------------------------------------------


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, mnist_root):
    """The notebook executed in a fresh kernel with the short settings, in a temporary folder.

    A cell added after each training cell writes the loss list (and the kernel's interpreter)."""
    notebook = build_notebook.read_source()
    # Its check cells are run in test_exercise_notebook.py; a 2-epoch run is not the practice's loop.
    notebook.cells = [c for c in notebook.cells if not c.id.startswith("comprobar-")]
    for name in NETWORKS:
        at = notebook.cells.index(cell(notebook, f"entrenamiento-{name}")) + 1
        probe = nbformat.v4.new_code_cell(
            f"import json, sys\nwith open('losses-{name}.json', 'w') as f:\n"
            f"    json.dump({{'loss': train_loss, 'python': sys.executable}}, f)")
        notebook.cells.insert(at, probe)
    workdir = tmp_path_factory.mktemp("notebook")
    env = build_notebook.sandbox_environment(workdir / "sandbox")
    env.update(MNISTLAB_EPOCHS=str(SHORT_EPOCHS), MNISTLAB_MAX_STEPS=str(SHORT_STEPS))
    build_notebook.execute(notebook, workdir / "work", mnist_root, env=env, timeout=600)
    return notebook, workdir / "work"


@pytest.mark.slow
def test_short_run_executes_without_errors_and_stops_at_the_step_cap(short_run):
    notebook, workdir = short_run
    for name in NETWORKS:
        # the cap ends both loops: one epoch line, not a stray step in the next epoch
        epochs = re.findall(r"^Época (\d+)/(\d+)", stdout(cell(notebook, f"entrenamiento-{name}")), re.MULTILINE)
        assert epochs == [("1", str(SHORT_EPOCHS))]
        recorded = json.loads((workdir / f"losses-{name}.json").read_text())
        assert len(recorded["loss"]) == SHORT_STEPS
        assert recorded["python"] == sys.executable  # the project's own interpreter ran the notebook
    assert "0,1 épocas" in markdown_outputs(notebook)

@pytest.mark.slow
@pytest.mark.parametrize("name", NETWORKS)
def test_saved_weights_load_strictly_and_score_what_the_notebook_printed(short_run, mnist_root, name):
    notebook, workdir = short_run
    loaded_name, model = load_weights(workdir / NETWORKS[name][0], name)  # load_state_dict(strict=True)
    assert loaded_name == name
    _, test_dataset = practice_datasets(mnist_root)
    overall, per_digit = evaluate_accuracy(model, test_dataset)
    printed_overall, printed_digits = printed_accuracies(notebook, name)
    assert f"{overall:.4f}" == printed_overall
    assert [f"{acc:.4f}" for acc in per_digit] == printed_digits

@pytest.mark.slow
@pytest.mark.parametrize("name", NETWORKS)
def test_first_losses_equal_mnistlabs_faithful_training(short_run, train_split, name):
    _, workdir = short_run
    notebook_losses = json.loads((workdir / f"losses-{name}.json").read_text())["loss"]
    result = fit(TrainConfig(model=name, seed=0, max_steps=SHORT_STEPS, device="cpu"), *train_split,
                 log=lambda *_: None)
    assert result.loss == notebook_losses  # bit for bit, step by step


@pytest.mark.parametrize("name", ["practica2_resuelta.ipynb", "practica2.ipynb"])
def test_both_notebooks_open_in_colab_and_install_mnistlab_only_where_missing(name):
    """The practice's badge first; the first code cell installs mnistlab only on ImportError, so it does
    nothing (no pip, no network) where mnistlab is installed, as in these tests."""
    notebook = nbformat.read(NOTEBOOK.parent / name, as_version=4)
    assert "colab.research.google.com/assets/colab-badge.svg" in notebook.cells[0].source
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert "except ImportError:" in first_code.source and "pip" in first_code.source
    namespace = {}
    exec(first_code.source.split("\nfrom mnistlab import check")[0], namespace)  # mnistlab is installed: no pip
    assert namespace["mnistlab"].__name__ == "mnistlab"
