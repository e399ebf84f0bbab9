"""The studio's run picker: GET /api/runs lists the runs and .pth files each network can answer with,
POST /api/use chooses one (kept in <runs>/served.json across a restart), and a run trained from the
page is offered instead of replacing the served network."""

import json
import shutil

import pytest
import torch
from fastapi.testclient import TestClient

from helpers import write_fake_run
from mnistlab.inference import served
from mnistlab.nets.models import create_model
from mnistlab.training.runs import load_run
from mnistlab.web.app import create_app


@pytest.fixture
def runs(fake_runs):
    """fake_runs (mlp-practice-seed0, cnn-practice-seed0) plus an older cnn run with seed 1 and the
    practice's own cnn.pth dropped into the folder."""
    older = write_fake_run(fake_runs / "cnn-practice-seed1", "cnn", seed=1, accuracy=0.25)
    stamp = (fake_runs / "cnn-practice-seed0" / "metrics.json").stat().st_mtime - 60
    import os
    os.utime(older / "metrics.json", (stamp, stamp))  # older than seed 0's: the latest is seed 0
    torch.manual_seed(5)
    torch.save(create_model("cnn").state_dict(), fake_runs / "cnn.pth")
    (fake_runs / "notes.pth").write_bytes(b"not weights")  # not a network: not offered
    return fake_runs


def serving(client) -> dict:
    return {net["name"]: net["source"] for net in client.get("/api/info").json()["networks"]}


def test_the_runs_and_files_are_listed_with_what_is_served(runs):
    listed = TestClient(create_app(runs_dir=runs)).get("/api/runs").json()
    by_id = {entry["id"]: entry for entry in listed["runs"]}
    assert set(by_id) == {"mlp-practice-seed0", "cnn-practice-seed0", "cnn-practice-seed1", "file:cnn.pth"}
    assert by_id["cnn-practice-seed1"] == {"id": "cnn-practice-seed1", "model": "cnn", "recipe": "practice",
                                           "steps": 1, "epochs": 1, "test_accuracy": 0.25, "train_accuracy": None,
                                           "source": str(runs / "cnn-practice-seed1")}
    assert by_id["file:cnn.pth"]["model"] == "cnn" and by_id["file:cnn.pth"]["recipe"] is None
    assert listed["serving"] == {"mlp": "mlp-practice-seed0", "cnn": "cnn-practice-seed0"}
    assert listed["offered"] == []


def test_a_choice_is_served_at_once_and_kept_across_a_restart(runs):
    client = TestClient(create_app(runs_dir=runs))
    chosen = client.post("/api/use", json={"network": "cnn", "run": "cnn-practice-seed1"})
    assert chosen.status_code == 200 and chosen.json()["source"] == str(runs / "cnn-practice-seed1")
    assert serving(client)["cnn"] == "cnn-practice-seed1"  # /api/info: relative to the runs folder
    assert json.loads((runs / served.CHOICE_FILE).read_text()) == {"cnn": "cnn-practice-seed1"}
    assert not [p for p in runs.iterdir() if p.name.startswith(".")]  # written by rename, no temp left

    client.post("/api/use", json={"network": "mlp", "run": "mlp-practice-seed0"})
    restarted = TestClient(create_app(runs_dir=runs))
    assert serving(restarted) == {"mlp": "mlp-practice-seed0", "cnn": "cnn-practice-seed1"}

    file_choice = restarted.post("/api/use", json={"network": "cnn", "run": "file:cnn.pth"}).json()
    assert file_choice["file"] == "cnn.pth" and file_choice["run"] is None
    again = TestClient(create_app(runs_dir=runs))
    weights = again.app.state.networks.loaded["cnn"].model.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in torch.load(runs / "cnn.pth", weights_only=True).items())


def test_a_chosen_run_that_is_gone_or_a_damaged_choice_falls_back_to_the_latest(runs):
    TestClient(create_app(runs_dir=runs)).post("/api/use", json={"network": "cnn", "run": "cnn-practice-seed1"})
    shutil.rmtree(runs / "cnn-practice-seed1")
    assert serving(TestClient(create_app(runs_dir=runs)))["cnn"] == "cnn-practice-seed0"
    (runs / served.CHOICE_FILE).write_text("{not json")
    assert serving(TestClient(create_app(runs_dir=runs)))["cnn"] == "cnn-practice-seed0"


def test_a_served_json_mnistlab_did_not_write_is_never_overwritten(runs):
    foreign = runs / served.CHOICE_FILE
    foreign.write_text("my own notes, not JSON")
    client = TestClient(create_app(runs_dir=runs))
    before = serving(client)
    answer = client.post("/api/use", json={"network": "cnn", "run": "cnn-practice-seed1"})
    assert answer.status_code == 422 and "is not a choice file mnistlab wrote" in answer.json()["error"]
    assert foreign.read_text() == "my own notes, not JSON" and serving(client) == before


@pytest.mark.parametrize("body, status, message", [
    ({"network": "cnn", "run": "cnn-nothing"}, 404, "no finished run or .pth file called 'cnn-nothing'"),
    ({"network": "mlp", "run": "cnn-practice-seed1"}, 422, "is a cnn run or file, not a mlp one"),
    ({"network": "vgg", "run": "cnn-practice-seed1"}, 422, '"network" must be one of mlp, cnn'),
    ({"network": "cnn"}, 422, 'the strings "network" and "run"'),
    ({"network": "cnn", "run": "file:notes.pth"}, 404, "no finished run or .pth file called"),
    ({"network": "cnn", "run": "file:../../etc/passwd"}, 404, "no finished run or .pth file called"),
])
def test_bad_choices_get_a_4xx_and_change_nothing(runs, body, status, message):
    client = TestClient(create_app(runs_dir=runs))
    before = serving(client)
    answer = client.post("/api/use", json=body)
    assert answer.status_code == status and message in answer.json()["error"]
    assert serving(client) == before and not (runs / served.CHOICE_FILE).exists()
    assert client.post("/api/use", content=b"{oops", headers={"content-type": "application/json"}).status_code == 400


def test_choosing_is_off_where_training_is(runs):
    closed = TestClient(create_app(runs_dir=runs, allow_training=False))
    answer = closed.post("/api/use", json={"network": "cnn", "run": "cnn-practice-seed1"})
    assert answer.status_code == 403 and "--allow-training" in answer.json()["error"]
    assert closed.get("/api/runs").status_code == 200


def test_a_run_trained_on_the_page_is_offered_not_swapped_in(runs, tmp_path):
    client = TestClient(create_app(runs_dir=runs))
    picker = client.app.state.picker
    picker.offer(load_run(runs / "cnn-practice-seed1"))  # what the job calls when a page run finishes
    assert serving(client)["cnn"] == "cnn-practice-seed0"
    assert client.get("/api/runs").json()["offered"] == ["cnn-practice-seed1"]
    client.post("/api/use", json={"network": "cnn", "run": "cnn-practice-seed1"})
    assert client.get("/api/runs").json()["offered"] == []

    only_cnn = tmp_path / "only-cnn"
    shutil.copytree(runs / "cnn-practice-seed0", only_cnn / "cnn-practice-seed0")
    lonely = TestClient(create_app(runs_dir=only_cnn))
    write_fake_run(only_cnn / "mlp-practice-seed0", "mlp")
    lonely.app.state.picker.offer(load_run(only_cnn / "mlp-practice-seed0"))  # nothing to replace: served
    assert serving(lonely)["mlp"] == "mlp-practice-seed0"
