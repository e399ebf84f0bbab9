import json
import subprocess
import sys

import pytest
import torch

from mnistlab.nets.models import create_model


@pytest.fixture(scope="module")
def lesson_runs(invoke, mnist_root, tmp_path_factory):
    """`mnistlab run` end to end with a short step cap: (its runs folder, what it printed)."""
    runs_dir = tmp_path_factory.mktemp("runs")
    result = invoke("run", "--max-steps", 60, "--runs-dir", runs_dir, "--data-dir", mnist_root, "--device", "cpu")
    assert result.exit_code == 0, result.output
    return runs_dir, result.output


def test_run_end_to_end(lesson_runs):
    runs_dir, output = lesson_runs
    assert "source: files already on disk" in output
    assert "MultiLayerNN (practice)" in output and "CNN (practice)" in output
    assert "669,706" in output and "61,706" in output
    for name in ("mlp", "cnn"):
        folder = runs_dir / f"{name}-practice-seed0"
        history = json.loads((folder / "history.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        config = json.loads((folder / "config.json").read_text())
        assert len(history["loss"]) == 60 and metrics["steps"] == 60
        assert config["model"] == name and config["lr"] == 0.01 and config["batch_size"] == 64
        assert len(metrics["per_digit_accuracy"]) == 10
        assert f"{metrics['overall_accuracy']:.2%}" in output
        assert (folder / "loss.png").read_bytes()[:4] == b"\x89PNG"
        model = create_model(name)
        model.load_state_dict(torch.load(folder / "model.pth"))  # the practice's own loading line
    assert (runs_dir / "samples.png").exists()


def test_evaluate_run_folder_and_practice_pth(invoke, lesson_runs, mnist_root, tmp_path):
    runs_dir, _ = lesson_runs
    metrics = json.loads((runs_dir / "cnn-practice-seed0" / "metrics.json").read_text())
    result = invoke("evaluate", runs_dir / "cnn-practice-seed0", "--data-dir", mnist_root)
    assert result.exit_code == 0, result.output
    assert f"overall accuracy {metrics['overall_accuracy']:.4f}" in result.output
    assert result.output.count("digit ") == 10
    # a .pth written by the practice's `torch.save(model1.state_dict(), "./multinn.pth")`
    torch.save(create_model("mlp").state_dict(), tmp_path / "multinn.pth")
    result = invoke("evaluate", tmp_path / "multinn.pth", "--data-dir", mnist_root)
    assert result.exit_code == 0 and "MultiLayerNN" in result.output


def test_train_command_writes_its_run_folder(invoke, mnist_root, tmp_path):
    result = invoke("train", "mlp", "--max-steps", 20, "--seed", 4, "--out", tmp_path / "r", "--data-dir", mnist_root)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "config.json").read_text())["seed"] == 4
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["steps"] == 20


def test_train_draws_its_loss_figure_in_the_chosen_language(invoke, mnist_root, tmp_path, monkeypatch):
    from mnistlab import plots

    drawn = []
    real = plots.plot_loss
    monkeypatch.setattr(plots, "plot_loss", lambda loss, title, path, t=None: drawn.append((title, t.lang)) or real(loss, title, path, t))
    for lang in ("es", "en"):
        result = invoke("train", "cnn", "--max-steps", 5, "--lang", lang, "--out", tmp_path / lang, "--data-dir", mnist_root)
        assert result.exit_code == 0, result.output
        assert (tmp_path / lang / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert drawn == [("Pérdida de entrenamiento (CNN)", "es"), ("Training loss (CNN)", "en")]
    one_line_error(invoke("train", "cnn", "--lang", "fr", "--out", tmp_path / "fr"), "--lang must be one of en, es")
    assert not (tmp_path / "fr").exists()


def one_line_error(result, text):
    assert result.exit_code != 0
    assert text in result.output
    assert "Traceback" not in result.output


def test_bad_input_gets_one_line(invoke, lesson_runs, mnist_root, tmp_path):
    runs_dir, _ = lesson_runs
    one_line_error(invoke("train", "resnet"), "'resnet' is not one of 'mlp', 'cnn'")
    bad = invoke("train", "mlp", "--epochs", -2, "--data-dir", mnist_root, "--out", tmp_path / "x")
    one_line_error(bad, "--epochs must be at least 1 (got -2)")
    assert bad.output.count("\n") == 1 and not (tmp_path / "x").exists()
    one_line_error(invoke("evaluate", runs_dir / "cnn-practice-seed0", "--model", "mlp", "--data-dir", mnist_root),
                   "it is a cnn checkpoint: pass --model cnn")
    one_line_error(invoke("evaluate", tmp_path / "missing.pth"), "no such file")
    one_line_error(invoke("train", "mlp", "--device", "cuda:7", "--data-dir", mnist_root), "--device cuda:7")
    for command in (["run", "--runs-dir", tmp_path / "runs"], ["report", "--runs-dir", runs_dir], ["summary", "cnn"]):
        bad = invoke(*command, "--lang", "xx")
        assert bad.exit_code == 1 and bad.output == "mnistlab: error: --lang must be one of en, es (got 'xx')\n"
    assert not (tmp_path / "runs").exists()  # checked before any work


def test_results_table_and_summary_in_spanish(invoke, lesson_runs, monkeypatch):
    """The table `mnistlab run` ends with and `mnistlab summary`, from the locale or --lang."""
    from mnistlab.lesson.tables import results_table
    from mnistlab.training.runs import load_run

    runs_dir, english = lesson_runs
    found = [load_run(runs_dir / f"{name}-practice-seed0") for name in ("mlp", "cnn")]
    table = results_table(found, "es")
    assert table.split("\n")[2].split()[:3] == ["accuracy", "en", "prueba"]
    for run in found:
        accuracy = f"{run.metrics.overall_accuracy * 100:.2f}".replace(".", ",") + "\u00a0%"
        assert accuracy in table and accuracy.replace(",", ".").replace("\u00a0", "") in english
    assert "669.706" in table and "  dígito 9" in table and "tiempo de entrenamiento" in table
    assert results_table(found, "en") in english  # what `mnistlab run` printed in the test's English locale
    monkeypatch.setenv("LANG", "es_ES.UTF-8")
    spanish = invoke("summary", "mlp")
    assert spanish.exit_code == 0 and "parámetros en total: 669.706 (todos entrenables)" in spanish.output
    assert "capa" in spanish.output.split("\n")[2]
    english = invoke("summary", "mlp", "--lang", "en")
    assert "total parameters: 669,706 (all trainable)" in english.output


def test_help_states_defaults(invoke):
    result = invoke("train", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # help text wraps with the terminal width
    for default in ("default: 0", "default: auto", "default: practice", "practice: 10", "practice: 0.01", "practice: 64"):
        assert default in text

@pytest.mark.slow
def test_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "mnistlab", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "vgg"], "mnistlab: error: invalid value for 'MODEL': 'vgg' is not one of 'mlp', 'cnn'"),
    (["train", "mlp", "--bogus"], "mnistlab: error: no such option: --bogus"),
    (["summary"], "mnistlab: error: missing argument 'MODEL'. Choose from: mlp, cnn"),
    (["teach"], "mnistlab: error: no such command 'teach'; `mnistlab -h` lists what it takes"),
])
def test_command_line_mistakes_look_like_mnistlabs_own_errors(invoke, args, message):
    """One error style: click's usage errors as one `mnistlab: error:` line, exit code 2 (docs/cli.md);
    mnistlab's own errors keep exit code 1."""
    result = invoke(*args)
    assert result.exit_code == 2 and result.output.startswith(message) and result.output.count("\n") == 1
    assert result.output.rstrip().endswith("-h` lists what it takes")
    assert "Usage:" not in result.output
    own = invoke("train", "mlp", "--epochs", 0)
    assert own.exit_code == 1 and own.output == "mnistlab: error: --epochs must be at least 1 (got 0)\n"


def test_model_and_recipe_names_in_any_case(invoke, tmp_path):
    assert invoke("summary", "CNN").output == invoke("summary", "cnn").output
    torch.save(create_model("cnn").state_dict(), tmp_path / "w.pth")
    bad = invoke("evaluate", tmp_path / "w.pth", "--model", "MLP")
    assert bad.exit_code == 1 and "does not fit the mlp network" in bad.output  # MLP understood as mlp
    assert invoke("train", "Cnn", "--recipe", "TUNED", "--epochs", 0).output.endswith("(got 0)\n")


def test_a_mistyped_path_to_evaluate_names_the_near_ones_not_training(invoke, tmp_path):
    (tmp_path / "runs" / "cnn-practice-seed0").mkdir(parents=True)
    typo = invoke("evaluate", tmp_path / "runs" / "cnn-practise-seed0")
    assert typo.exit_code == 1 and typo.output == (
        f"mnistlab: error: {tmp_path / 'runs' / 'cnn-practise-seed0'}: no such file or folder; did you mean "
        f"{tmp_path / 'runs' / 'cnn-practice-seed0'}?\n")
    nowhere = invoke("evaluate", tmp_path / "nowhere" / "cnn.pth")
    assert "no such file or folder; check the path" in nowhere.output and "mnistlab train" not in nowhere.output


def test_the_command_list_is_not_cut_short(invoke):
    listed = invoke("-h").output.split("Commands:")[1]
    assert not [line for line in listed.splitlines() if line.rstrip().endswith("...")]  # click's cut
    assert "Check MNIST on disk (md5), fetching it if missing." in " ".join(listed.split())
