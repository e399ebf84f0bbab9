"""No run folder ever lies: an interrupted re-train leaves the old run whole, a diverged training is
never saved, a damaged or non-finite run is refused in one line (the other network still served),
and what a killed process left behind is cleaned by the next one."""

import json
import math

import pytest
import torch
from fastapi.testclient import TestClient

from helpers import interrupt_in_epoch, png_bytes, quiet, write_fake_run
from mnistlab import files
from mnistlab.errors import MnistlabError
from mnistlab.inference.predict import load_latest
from mnistlab.training import train as train_module
from mnistlab.training.runs import load_run
from mnistlab.training.train import TrainConfig, fit, train_run
from mnistlab.web.app import create_app

QUICK = dict(model="mlp", epochs=2, train_size=640, device="cpu")  # 20 steps


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_an_interrupted_retrain_leaves_the_finished_run_whole(mnist_root, tmp_path, monkeypatch):
    """The issue's case: re-train into a folder holding a finished run, Ctrl+C in epoch 2."""
    out = write_fake_run(tmp_path / "runs" / "mlp-practice-seed0", accuracy=0.9793)
    before = snapshot(out)
    interrupt_in_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train_run(TrainConfig(**QUICK), out, mnist_root, log=quiet)
    assert snapshot(out) == before  # not one file of the new run beside the old metrics
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no unfinished folder left either
    assert load_run(out).metrics.overall_accuracy == 0.9793


def test_a_finished_retrain_replaces_the_folder_whole(mnist_root, tmp_path):
    out = write_fake_run(tmp_path / "runs" / "mlp-practice-seed0", accuracy=0.9793)
    (out / "loss.png").write_bytes(b"an older figure")
    run = train_run(TrainConfig(**QUICK), out, mnist_root, log=quiet)
    assert run.metrics.steps == 20 and run.metrics.overall_accuracy != 0.9793
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "history.json", "loss.png", "metrics.json",
                                                      "model.pth"]
    assert [p.name for p in out.parent.iterdir()] == [out.name]


def test_stale_temporaries_of_a_killed_run_are_cleaned_by_the_next(mnist_root, tmp_path):
    runs = tmp_path / "runs"
    out = runs / "mlp-practice-seed0"
    (runs / ".mlp-practice-seed0.k1ll3d.tmp").mkdir(parents=True)  # a staging folder, killed mid-training
    (runs / ".mlp-practice-seed0.k1ll3d.tmp" / "model.pth").write_bytes(b"")
    (runs / ".mlp-practice-seed0.old.4242.tmp").mkdir()  # killed while swapping
    (runs / ".cnn-practice-seed0.busy.tmp").mkdir()  # another run's: not ours to touch
    train_run(TrainConfig(**QUICK), out, mnist_root, log=quiet)
    assert sorted(p.name for p in runs.iterdir()) == [".cnn-practice-seed0.busy.tmp", "mlp-practice-seed0"]


def test_stale_report_temporaries_are_cleaned(tmp_path):
    (tmp_path / ".report.abc123.tmp").mkdir()
    (tmp_path / ".report.abc123.tmp" / "index.html").write_text("half")
    (tmp_path / ".model.pth.x1y2.tmp").write_bytes(b"")
    files.remove_stale(tmp_path / "report")
    files.remove_stale(tmp_path / "model.pth")
    assert list(tmp_path.iterdir()) == []


def test_a_finite_blow_up_stops_like_a_nan(train_split):
    """The issue's case: lr 1000 on the CNN gives losses of 1e15, then 300-500, all finite."""
    with pytest.raises(MnistlabError, match=r"the loss became \S+ at step \d+: training diverged; try a smaller --lr"):
        fit(TrainConfig(model="cnn", lr=1000, max_steps=200, device="cpu"), *train_split, log=quiet)


def test_exploding_weights_stop_the_training(train_split, monkeypatch):
    real_epoch = train_module.train_one_epoch

    def weights_blow_up(plan, *args):
        losses = real_epoch(plan, *args)
        with torch.no_grad():
            plan.model.fc3.weight.mul_(1e9)
        return losses

    monkeypatch.setattr(train_module, "train_one_epoch", weights_blow_up)
    with pytest.raises(MnistlabError, match=r"a weight grew to \S+ by step 10: training diverged"):
        fit(TrainConfig(model="mlp", epochs=1, train_size=640, device="cpu"), *train_split, log=quiet)


def unfinished(folder):
    (folder / "metrics.json").unlink()


def mixed(folder):  # what v0.1.0 left: the new run's first epoch beside the old run's 10-epoch metrics
    metrics = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**metrics, "epochs_completed": 10}))


def edit(name, change):
    def damage(folder):
        data = json.loads((folder / name).read_text())
        change(data)
        (folder / name).write_text(json.dumps(data))
    return damage


def text(name, content):
    def damage(folder):
        (folder / name).write_text(content)
    return damage


def folder_for_metrics(folder):
    (folder / "metrics.json").unlink()
    (folder / "metrics.json").mkdir()


def nan_weights(folder):
    state = torch.load(folder / "model.pth", weights_only=True)
    state["fc2.bias"][0] = math.inf
    torch.save(state, folder / "model.pth")


DAMAGES = {
    "unfinished": (unfinished, "holds an unfinished run"),
    "mixed": (mixed, "mixes two runs"),
    "per_digit int": (edit("metrics.json", lambda m: m.update(per_digit_accuracy=7)), "per_digit_accuracy"),
    "per_digit null": (edit("metrics.json", lambda m: m.update(per_digit_accuracy=None)), "per_digit_accuracy"),
    "NaN accuracy": (edit("metrics.json", lambda m: m.update(overall_accuracy=math.nan)), "overall_accuracy"),
    "deep nesting": (text("metrics.json", "[" * 100_000 + "]" * 100_000), "nesting too deep"),
    "4,301 digits": (text("metrics.json", '{"overall_accuracy": ' + "9" * 4301 + "}"), "number too long"),
    "folder for metrics": (folder_for_metrics, "metrics.json cannot be read"),
    "model a list": (edit("config.json", lambda c: c.update(model=["mlp"])), "'model' must be one of"),
    "model a dict": (edit("config.json", lambda c: c.update(model={"mlp": 1})), "'model' must be one of"),
    "NaN weights": (nan_weights, "fc2.bias holds NaN or infinite values"),
}


@pytest.fixture(params=list(DAMAGES), ids=list(DAMAGES))
def damaged(request, fake_runs):
    """A runs folder whose mlp run is damaged one way; its cnn run is fine."""
    damage, message = DAMAGES[request.param]
    damage(fake_runs / "mlp-practice-seed0")
    return fake_runs, message


def test_a_damaged_run_is_one_line_everywhere_and_the_other_network_is_served(damaged, invoke, mnist_root, tmp_path):
    runs, message = damaged
    folder = runs / "mlp-practice-seed0"
    # report given the folder: one line saying what is wrong
    result = invoke("report", folder, runs / "cnn-practice-seed0", "--out", tmp_path / "report",
                    "--data-dir", mnist_root)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    # serve and predict: the cnn answers; the mlp's problem is a note
    networks = load_latest(runs)
    assert list(networks.loaded) == ["cnn"]
    assert (message if message != "holds an unfinished run" else "no finished mlp run") in networks.missing[0]
    client = TestClient(create_app(runs_dir=runs))
    answer = client.post("/api/predict", content=png_bytes(digit_array()), headers={"Content-Type": "image/png"})
    assert answer.status_code == 200 and "cnn" in answer.json() and "mlp" not in answer.json()
    assert client.get("/api/info").status_code == 200
    image = tmp_path / "digit.png"
    image.write_bytes(png_bytes(digit_array()))
    predicted = invoke("predict", image, "--runs", runs)
    assert predicted.exit_code == 0 and "CNN" in predicted.output and "mnistlab: note:" in predicted.output
    alone = invoke("predict", image, "--runs", runs, "--model", "mlp")
    assert alone.exit_code == 1 and "Traceback" not in alone.output and "mnistlab: error:" in alone.output


def digit_array():
    import numpy as np

    image = np.zeros((28, 28), np.uint8)
    image[6:22, 13:16] = 255
    return image
