"""Run folders: the typed record reads what training writes, folders written by v0.1.0 still load,
every damaged field is one line naming the file and the command that remakes it, and a run records
where its data really came from."""

import json
import math
import shutil

import pytest
import torch

from mnistlab.errors import MnistlabError
from mnistlab.nets.models import create_model
from mnistlab.training import runs

# config.json, history.json and metrics.json exactly as mnistlab 0.1.0 wrote them (values shortened).
V010_CONFIG = {"model": "cnn", "recipe": "practice", "epochs": 10, "lr": 0.01, "batch_size": 64, "seed": 0,
               "device": "auto", "max_steps": None, "train_size": None, "epochs_completed": 10}
V010_HISTORY = {"loss": [2.30, 2.29, 2.31], "epoch_loss": [2.30]}
V010_METRICS = {
    "model": "cnn", "recipe": "practice", "seed": 0, "overall_accuracy": 0.9793,
    "per_digit_accuracy": [0.99] * 10, "confusion_matrix": [[100 if t == p else 1 for p in range(10)] for t in range(10)],
    "train_seconds": 57.8, "steps": 9380, "epochs_completed": 10, "parameters": 61706,
    "test_images_per_second": 25000.0, "device": "cpu", "torch_version": "2.14.1+cu130",
    "data_source": "local", "data_md5": {"t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea"},
}


def write_v010_run(folder, config=V010_CONFIG, history=V010_HISTORY, metrics=V010_METRICS):
    folder.mkdir(parents=True)
    for name, data in [("config.json", config), ("history.json", history), ("metrics.json", metrics)]:
        (folder / name).write_text(json.dumps(data, indent=1))
    torch.save(create_model("cnn").state_dict(), folder / "model.pth")
    return folder


def test_a_v010_folder_loads_as_typed_records(tmp_path):
    run = runs.load_run(write_v010_run(tmp_path / "cnn-practice-seed0"))
    assert run.model == "cnn" and run.weights == tmp_path / "cnn-practice-seed0" / "model.pth"
    assert run.config.seed == 0 and run.config.max_steps is None and run.config.epochs_completed == 10
    assert run.history.loss == [2.30, 2.29, 2.31] and run.history.epoch_loss == [2.30]
    assert run.metrics.overall_accuracy == 0.9793 and run.metrics.parameters == 61706
    assert run.metrics.schema_version == 1  # v0.1.0 wrote no version


def test_unknown_fields_of_a_later_version_are_ignored(tmp_path):
    metrics = {**V010_METRICS, "schema_version": 7, "something_new": [1, 2]}
    run = runs.load_run(write_v010_run(tmp_path / "r", metrics=metrics))
    assert run.metrics.schema_version == 7


@pytest.mark.parametrize("file, key, value, message", [
    ("metrics.json", "per_digit_accuracy", 3, "'per_digit_accuracy' should be ten numbers between 0 and 1"),
    ("metrics.json", "per_digit_accuracy", None, "'per_digit_accuracy' should be ten numbers between 0 and 1"),
    ("metrics.json", "overall_accuracy", math.nan, "'overall_accuracy' should be a number between 0 and 1"),
    ("metrics.json", "overall_accuracy", True, "'overall_accuracy' should be a number between 0 and 1"),
    ("metrics.json", "confusion_matrix", [[1] * 10] * 9, "'confusion_matrix' should be 10×10 counts"),
    ("metrics.json", "model", "mlp", "metrics.json is of a mlp run but config.json says cnn"),
    ("config.json", "model", ["cnn"], "'model' must be one of mlp, cnn"),
    ("config.json", "model", {"a": 1}, "'model' must be one of mlp, cnn"),
    ("config.json", "batch_size", 0, "'batch_size' must be between 1 and 60000"),
    ("config.json", "seed", True, "'seed' must be a whole number"),
    ("history.json", "loss", [1.0, "x"], "'loss' should be a non-empty list of finite numbers"),
    ("history.json", "loss", [math.inf], "'loss' should be a non-empty list of finite numbers"),
])
def test_a_damaged_field_is_one_line_naming_file_and_fix(tmp_path, file, key, value, message):
    data = {"config.json": V010_CONFIG, "history.json": V010_HISTORY, "metrics.json": V010_METRICS}
    data = {name: dict(content) for name, content in data.items()}
    data[file][key] = value
    folder = write_v010_run(tmp_path / "r", data["config.json"], data["history.json"], data["metrics.json"])
    with pytest.raises(MnistlabError, match=message) as caught:
        runs.load_run(folder)
    text = str(caught.value)
    assert "\n" not in text and str(folder) in text and "mnistlab train" in text


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "metrics.json").write_text('{"a": ' + "[" * 100000 + "]" * 100000 + "}"), "nesting too deep"),
    (lambda f: (f / "metrics.json").write_text('{"steps": ' + "9" * 5000 + "}"), "a number too long"),
    (lambda f: (f / "metrics.json").write_text("[1, 2]"), "not a JSON object"),
    (lambda f: (f / "metrics.json").write_bytes(b"\xff\xfe"), "is corrupted"),
    (lambda f: ((f / "metrics.json").unlink(), (f / "metrics.json").mkdir()), "cannot be read"),
    (lambda f: (f / "model.pth").unlink(), "model.pth is missing"),
    (lambda f: (f / "history.json").unlink(), "history.json is missing"),
])
def test_damaged_files_are_one_line(tmp_path, damage, message):
    folder = write_v010_run(tmp_path / "r")
    damage(folder)
    with pytest.raises(MnistlabError, match=message) as caught:
        runs.load_run(folder)
    assert "\n" not in str(caught.value)


def test_latest_run_passes_over_damaged_folders_and_says_why(tmp_path):
    good = write_v010_run(tmp_path / "cnn-a")
    bad = write_v010_run(tmp_path / "cnn-b")
    (bad / "metrics.json").write_text("{}")
    assert runs.latest_run(tmp_path, "cnn").path == good
    shutil.rmtree(good)
    with pytest.raises(MnistlabError, match=r"no finished cnn run in .*\(.*cnn-b/metrics.json is corrupted"):
        runs.latest_run(tmp_path, "cnn")
    with pytest.raises(MnistlabError, match="no finished mlp run"):
        runs.latest_run(tmp_path, "mlp")


def test_run_dir_name():
    assert runs.run_dir_name("mlp", "tuned", 3) == "mlp-tuned-seed3"
