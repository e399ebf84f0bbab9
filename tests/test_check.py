"""The practice's checker: verdicts per item on generated submissions (tests/submissions.py), the
mistake catalogues, the notebook-cell functions, the CLI's exit codes, and the sandbox's promises (each
shown to fail without the sandbox)."""

import json
import os
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import submissions
from mnistlab import check
from mnistlab.check import items, text, sandbox as sandbox_module
from mnistlab.check.mistakes import FORWARD_MISTAKES
from mnistlab.check.result import ITEM_IDS, CheckResult, Item
from mnistlab.check.rubric import load_rubric
from mnistlab.check.sandbox import run_sandboxed
from mnistlab.check.structure import describe
from mnistlab.errors import MnistlabError
from mnistlab.i18n import texts
from mnistlab.nets.models import create_model

EN = texts("en")


# --- records, rubric, CLI refusals -------------------------------------------------------------

def test_result_json_has_exactly_the_documented_fields():
    result = CheckResult.of("ana.ipynb", [Item("evaluate", True, 1.0, 1.0, "ok"), Item("plots", False, 0, 0.5, "no")])
    data = result.to_json()
    assert list(data) == ["submission", "status", "points", "max_points", "items"]
    assert list(data["items"][0]) == ["id", "passed", "points", "max_points", "message"]
    assert (data["status"], data["points"], data["max_points"], result.exit_code()) == ("failed", 1.0, 1.5, 1)


def test_default_rubric_covers_every_item_and_a_bad_rubric_is_refused(tmp_path):
    assert set(load_rubric()) == set(ITEM_IDS) and all(v > 0 for v in load_rubric().values())
    (tmp_path / "r.toml").write_text('[points]\n"typo.item" = 2\n')
    with pytest.raises(MnistlabError, match="unknown items typo.item"):
        load_rubric(tmp_path / "r.toml")
    (tmp_path / "r.toml").write_text("not = [toml")
    with pytest.raises(MnistlabError, match="not a readable TOML rubric"):
        load_rubric(tmp_path / "r.toml")


@pytest.mark.parametrize("content, reason", [
    (b"print('hello')\n", "not a Jupyter notebook (not JSON)"),
    (b'{"a": 1}', "no cells"),
    (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": []}], "metadata": {}}).encode(),
     "format 3 (before 4)"),
    (b"\xff\xfe\x00garbage", "not JSON"),
])
def test_what_is_not_a_notebook_exits_2_with_one_line(invoke, tmp_path, content, reason):
    path = tmp_path / "entrega.ipynb"
    path.write_bytes(content)
    result = invoke("check", path)
    assert result.exit_code == 2
    assert reason in result.output and len(result.output.strip().splitlines()) == 1


def test_a_missing_notebook_exits_2(invoke, tmp_path):
    result = invoke("check", tmp_path / "nada.ipynb")
    assert result.exit_code == 2 and "cannot read it" in result.output


# --- reading the notebook's text -----------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["669706", "669.706", "669,706", "669 706", "669\u202f706", "669_706"])
def test_parameter_counts_in_their_spellings(spelling):
    assert text.mentions_number(f"El MLP tiene {spelling} parámetros.", 669706)


@pytest.mark.parametrize("wrong", ["1669706", "669.7061", "66970", "669706.5"])
def test_other_numbers_are_not_the_parameter_count(wrong):
    assert not text.mentions_number(f"tiene {wrong} parámetros", 669706)


@pytest.mark.parametrize("spelling", ["6×28×28", "6x28x28", "6 x 28 x 28", "28x28x6", "6 @ 28×28", "(6, 28, 28)",
                                      "(1, 6, 28, 28)", "6 mapas de 28x28", "6 feature maps of 28×28", "6*28*28"])
def test_sizes_in_their_spellings(spelling):
    assert text.sizes_found(f"conv1 da {spelling}.")["conv1"]


def test_sizes_do_not_match_other_shapes():
    assert not any(text.sizes_found("16x28x28, 6x24x24 y 6 @ 12×12").values())


def test_printed_accuracies_and_analysis_of_the_solved_notebook():
    notebook = submissions.solved()
    assert text.printed_accuracies(notebook) == {"mlp": 0.9404, "cnn": 0.9797}
    analysis = text.analysis_text(notebook)
    assert text.is_substantial(analysis) and "CNN" in analysis and "Dígito" not in analysis  # prose, not tables


# --- architecture and forward, judged from plain data ---------------------------------------------

class SequentialMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                                    nn.Linear(512, 10))

    def forward(self, x):
        return self.layers(x)


class UnpaddedCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.pool1 = nn.Conv2d(1, 6, 5, 1, 0), nn.MaxPool2d(2, 2)
        self.conv2, self.pool2 = nn.Conv2d(6, 16, 5, 1, 0), nn.MaxPool2d(2, 2)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 4 * 4, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool2(torch.relu(self.conv2(self.pool1(torch.relu(self.conv1(x))))))
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc3(torch.relu(self.fc2(x)))


def record_of(cls):
    return {"name": cls.__name__, "error": None, "structure": describe(cls())}


def test_sequential_mlp_passes_architecture_with_a_note_about_saved_weights():
    item = items.architecture("mlp", record_of(SequentialMLP), describe(create_model("mlp")), {}, EN)
    assert item.passed and "669,706" in item.message
    assert "will not load into the practice's MultiLayerNN" in item.notes[0]


def test_conv1_without_padding_names_the_padding_and_24_against_28():
    item = items.architecture("cnn", record_of(UnpaddedCNN), describe(create_model("cnn")), {}, EN)
    assert not item.passed
    assert "conv1 (Conv2d) has padding=0; the practice's has padding=2" in item.message
    assert "6×24×24 instead of 6×28×28" in item.message


def test_the_reference_passes_its_own_architecture_and_forward(test_split):
    images = test_split[0][:16]
    for kind in ("mlp", "cnn"):
        reference = create_model(kind)
        assert items.architecture(kind, record_of(type(reference)), describe(reference), {}, EN).passed
        state = reference.state_dict()
        with torch.no_grad():
            assert items.forward(kind, {"error": None}, reference(images), state, images, {}, EN).passed


@pytest.mark.parametrize("kind, index", [(k, i) for k in FORWARD_MISTAKES for i in range(len(FORWARD_MISTAKES[k]))])
def test_each_forward_mistake_is_named_by_the_catalogue(test_split, kind, index):
    """Outputs computed the mistaken way are named as that mistake, not as another one."""
    torch.manual_seed(index)
    state, images = create_model(kind).state_dict(), test_split[0][:32]
    mistake = FORWARD_MISTAKES[kind][index]
    with torch.no_grad():
        item = items.forward(kind, {"error": None}, mistake.forward(state, images), state, images, {}, EN)
    assert not item.passed and item.message == mistake.message


# --- the functions for notebook cells ---------------------------------------------------------------

class Blank(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(..., ...)


def test_cell_functions_pass_in_one_line_fail_with_a_hint_and_know_blanks(capsys):
    assert check.architecture(SequentialMLP).passed
    assert "✓ mlp.architecture" in capsys.readouterr().out
    assert not check.architecture(Blank).passed
    assert "not done yet" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"(?s)cnn.architecture: .*padding=0.*\nhint: "):
        check.architecture(UnpaddedCNN)
    with pytest.raises(AssertionError, match="entregable 4: el tamaño tras pool1"):
        check.sizes("conv1: 6x28x28", lang="es")
    assert check.parameters("669.706 y 61.706 parámetros").passed


TRAINING_CELL = '''
model1 = MultiLayerNN()
train_loader = DataLoader(dataset=train_dataset, batch_size=64, shuffle=True)
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model1.parameters(), lr=0.01)
train_loss = []
model1.train()
for epoch in range(10):
    for inputs, labels in train_loader:
        optimizer.zero_grad()
        outputs = model1(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        train_loss.append(loss.item())
'''


def test_cell_training_reruns_the_loop_exactly_and_names_a_missing_zero_grad(mnist_root, capsys):
    namespace = {"torch": torch, "nn": nn, "optim": torch.optim, "DataLoader": torch.utils.data.DataLoader}
    globals().update(namespace)
    assert check.training(SequentialMLP, code=TRAINING_CELL.replace("MultiLayerNN", "SequentialMLP"),
                          data_dir=mnist_root).passed
    with pytest.raises(AssertionError, match="zero_grad\\(\\) is missing"):
        check.training(SequentialMLP, code=TRAINING_CELL.replace("MultiLayerNN", "SequentialMLP")
                       .replace("optimizer.zero_grad()", "pass"), data_dir=mnist_root)


def test_check_weights_of_untrained_networks(invoke, fake_runs, mnist_root):
    result = invoke("check", fake_runs / "mlp-practice-seed0" / "model.pth", fake_runs / "cnn-practice-seed0" / "model.pth",
                    "--json", "--data-dir", mnist_root)
    data = json.loads(result.output)
    assert result.exit_code == 1
    verdicts = {item["id"]: item["passed"] for item in data["items"]}
    assert verdicts == {"mlp.saved": True, "cnn.saved": True, "accuracy": False}


# --- the sandbox's promises: each one checked with and without it ------------------------------------

def sandboxed(code: str, tmp_path, sandbox=True, **kwargs):
    workdir = tmp_path / ("box" if sandbox else "plain")
    workdir.mkdir(exist_ok=True)
    return run_sandboxed([sys.executable, "-c", code], workdir=workdir, data_dir=None, timeout_s=30,
                         sandbox=sandbox, **kwargs)


CONNECT = """
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3); print("connected")
except OSError as err:
    print("refused", err)
"""


def test_sandbox_blocks_the_network(tmp_path, listener):
    port, accepted = listener
    assert "refused" in sandboxed(CONNECT.format(port=port), tmp_path).stdout and not accepted.is_set()
    assert "connected" in sandboxed(CONNECT.format(port=port), tmp_path, sandbox=False).stdout


def test_sandbox_hides_files_outside_it(tmp_path):
    secret = tmp_path / "other-student" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("respuestas")
    code = f"import pathlib; p = pathlib.Path({str(secret)!r}); print(p.read_text() if p.exists() else 'hidden')"
    assert sandboxed(code, tmp_path).stdout.strip() == "hidden"
    assert sandboxed(code, tmp_path, sandbox=False).stdout.strip() == "respuestas"


def test_sandbox_home_and_tmp_are_private(tmp_path):
    marker = Path(os.environ["HOME"]) / "grader-marker.txt"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("x")
    code = "import os; print(sorted(os.listdir(os.environ['HOME'])), os.path.exists('/tmp/' + {!r}))".format(
        marker.name)
    (Path("/tmp") / marker.name).write_text("x")
    try:
        inside = sandboxed(code, tmp_path).stdout
        assert inside.strip() == "[] False"
        assert "grader-marker.txt" in sandboxed(code.replace("os.environ['HOME']", repr(str(marker.parent))),
                                                tmp_path, sandbox=False).stdout
    finally:
        (Path("/tmp") / marker.name).unlink()


def test_sandbox_folders_never_hide_the_python_it_runs(tmp_path, monkeypatch):
    """CI clones the project into /check/...: a sandbox folder mounted at the venv's own top folder
    would hide the venv (setpriv: .venv/bin/python: No such file). The sandbox picks clear names."""
    top = "/" + Path(sys.prefix).parts[1]
    monkeypatch.setattr(sandbox_module, "INSIDE_WORKDIR", top + "/box")  # beside the venv: hides nothing
    monkeypatch.setattr(sandbox_module, "INSIDE_HOME", str(Path(sys.prefix).parent))  # holds the venv
    check_dir = tmp_path / "check"
    check_dir.mkdir()
    (check_dir / "plan.json").write_text("plan")
    inside = sandbox_module.inside_path(top)
    assert inside != top
    code = "import os, sys; print(open(sys.argv[1] + '/plan.json').read(), os.getcwd(), os.environ['HOME'])"
    (tmp_path / "box").mkdir()
    result = run_sandboxed([sys.executable, "-c", code, inside], workdir=tmp_path / "box", data_dir=None,
                           timeout_s=30, writable={inside: check_dir})
    assert result.returncode == 0, result.stderr
    plan, cwd, home = result.stdout.split()
    assert plan == "plan" and cwd == top + "/box" and home == str(Path(sys.prefix).parent) + "-2"
    with pytest.raises(ValueError, match="would hide"):
        sandbox_module.bwrap_argv(["true"], tmp_path, None, [], {top: check_dir}, {"HOME": "/home/x"}, False)


def test_sandbox_kills_an_endless_notebook_with_its_children(tmp_path):
    code = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    result = run_sandboxed([sys.executable, "-c", code], workdir=tmp_path, data_dir=None, timeout_s=3)
    assert result.timed_out and result.seconds < 20


def test_sandbox_limits_memory(tmp_path):
    code = "x = bytearray(2 << 30); print('allocated')"
    result = sandboxed(code, tmp_path, memory_mb=512)
    assert "MemoryError" in result.stderr and "allocated" not in result.stdout


# --- whole notebooks through the sandbox ---------------------------------------------------------------

@pytest.fixture(scope="module")
def checked(tmp_path_factory, mnist_root):
    """`checked(name)`: the CheckResult of the generated submission `name`, checked once per module."""
    results = {}

    def check_one(name):
        if name not in results:
            folder = tmp_path_factory.mktemp(name)
            path = submissions.write(getattr(submissions, name)(), folder / "entrega.ipynb")
            results[name] = check.check_notebook(path, lang="en", data_dir=mnist_root)
        return results[name]

    return check_one


@pytest.mark.slow
@pytest.mark.parametrize("name", list(submissions.EXPECTED))
def test_generated_submissions_get_their_verdicts(checked, name):
    """Each variant fails exactly the items it should, with the diagnosis; every other item passes."""
    result = checked(name)
    assert [item.id for item in result.items] == list(ITEM_IDS)
    for item in result.items:
        expected = submissions.EXPECTED[name].get(item.id)
        if expected is None:
            assert item.passed, (item.id, item.message)
        else:
            assert not item.passed and expected in item.message, (item.id, item.message)
    assert result.status == ("passed" if not submissions.EXPECTED[name] else "failed")


@pytest.mark.slow
def test_other_styles_pass_architecture_with_the_note(checked):
    result = checked("other_styles")
    assert any("will not load into the practice's MultiLayerNN" in note for note in result.item("mlp.architecture").notes)
    assert any("will not load into the practice's CNN" in note for note in result.item("cnn.architecture").notes)


@pytest.mark.slow
def test_colab_leftovers_are_noted_and_do_not_stop_the_check(checked):
    result = checked("settings_mistakes")
    assert any("No module named 'google'" in note for note in result.notes)
    assert result.item("mlp.architecture").passed  # cells after the failing one ran


@pytest.mark.slow
def test_cli_checks_the_solved_notebook_in_spanish_and_as_json(invoke, tmp_path, mnist_root):
    path = submissions.write(submissions.solved(), tmp_path / "resuelta.ipynb")
    result = invoke("check", path, "--lang", "es", "--data-dir", mnist_root)
    assert result.exit_code == 0, result.output
    assert "✓ mlp.training" in result.output and "el bucle da, paso a paso, las pérdidas" in result.output
    data = json.loads(invoke("check", path, "--json", "--data-dir", mnist_root).output)
    assert data["status"] == "passed" and data["points"] == data["max_points"] == sum(load_rubric().values())


def test_the_accuracy_band_accepts_a_recipe_following_seed_outside_the_seen_range():
    """[min, max] of 10 seeds would fail about 2 in 11 correct students: the band is mean ± 4 std."""
    from mnistlab.check import deliverables

    figures = deliverables.accuracy_range()["mlp"]
    low, high = deliverables.band(figures)
    assert low < figures["min"] and high > figures["max"]
    assert low == pytest.approx(figures["mean"] - 4 * figures["std"])
    just_below = figures["min"] - 0.001  # one more seed, 0.1 points under the lowest seen
    verdict = deliverables.accuracy({"mlp": just_below, "cnn": deliverables.accuracy_range()["cnn"]["mean"]},
                                    "weights", {"accuracy": 1.0}, EN)
    assert verdict.passed, verdict.message
    assert not deliverables.accuracy({"mlp": 0.92, "cnn": 0.9767}, "weights", {"accuracy": 1.0}, EN).passed
    assert deliverables.band({"min": 0.9, "max": 0.95, "mean": 0.93, "std": 0.0}) == (0.9, 0.95)


def test_weights_handed_in_beside_the_notebook_are_found(tmp_path, fake_runs):
    from mnistlab.check.notebook import handed_in

    for kind, file in (("mlp", "multinn.pth"), ("cnn", "cnn.pth")):
        (tmp_path / file).write_bytes((fake_runs / f"{kind}-practice-seed0" / "model.pth").read_bytes())
    (tmp_path / "cnn.pth").write_bytes(b"not a checkpoint")
    found = handed_in(tmp_path / "entrega.ipynb", None, EN)
    assert list(found) == ["mlp"] and isinstance(found["mlp"], nn.Module)


@pytest.mark.slow
def test_a_full_run_measures_the_networks_it_trains(tmp_path, mnist_root):
    """--full runs the notebook as written (here: 20 steps per network), and mnistlab measures the networks
    it saved; the subset run meanwhile finds 20 steps where the practice takes 100."""
    path = submissions.write(submissions.short_training(20), tmp_path / "corta.ipynb")
    result = check.check_notebook(path, lang="en", data_dir=mnist_root, full=True)
    accuracy = result.item("accuracy")
    assert not accuracy.passed and "as printed" not in accuracy.message and "MultiLayerNN" in accuracy.message
    assert "20 steps instead of the practice's 100" in result.item("mlp.training").message
    assert result.item("mlp.forward").passed and result.item("plots").passed is False


def test_malformed_evidence_fails_its_items_without_stopping_the_check(mnist_root):
    """What comes out of the sandbox is untrusted: wrong types fail items, never the checker."""
    from types import SimpleNamespace

    from mnistlab.check.notebook import judge

    evidence = {"cells": [{"figures": [{"lines": "zzz"}], "ok": "yes"}], "classes": {"mlp": {"structure": {"layers": 5}},
                                                                                    "cnn": {"name": 3}},
                "training": {"mlp": {"losses": "abc"}, "cnn": {"losses": [None]}}, "forward": {"mlp": 3},
                "evaluate": {"overall": "x", "per_digit": 7}}
    inputs = SimpleNamespace(
        references={"mlp": [1.0], "cnn": [1.0]}, reference_networks={"mlp": create_model("mlp")},
        forward_states={k: create_model(k).state_dict() for k in ("mlp", "cnn")}, images=torch.zeros(2, 1, 28, 28),
        test_dataset=SimpleNamespace(data=torch.zeros(10, 28, 28, dtype=torch.uint8),
                                     targets=torch.zeros(10, dtype=torch.long)))
    weights = {"mlp": (None, "missing"), "cnn": (None, "missing")}
    result = judge(evidence, inputs, weights, {}, {"cells": []}, {}, mnist_root, load_rubric(), EN)
    assert [item.id for item in result] == list(ITEM_IDS)
    assert not any(item.passed for item in result)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_the_checkers_loop_is_the_practices_loop(mnist_root, kind):
    """reference.practice_loop (the checker's own copy) gives tests/practice.py's losses, bit for bit."""
    from torch.utils.data import Subset

    from mnistlab.check.reference import one_thread, practice_loop, trimmed_mnist
    from practice import practice_datasets, practice_train

    indices = torch.randperm(60000, generator=torch.Generator().manual_seed(5))[:320].tolist()
    _net, ours = practice_loop(kind, trimmed_mnist(mnist_root, indices), None, seed=11, max_steps=20)
    full, _test = practice_datasets(mnist_root)
    with one_thread():
        _net, theirs = practice_train(kind, Subset(full, indices), seed=11, max_steps=20)
    assert len(ours) == 20 and ours == theirs
