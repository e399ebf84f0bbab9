"""The studio's API: every layer of both networks for a drawing, learned weights, the architecture, the
page's texts in Spanish and English, and training from the page (events, one job at a time, stop,
the new network served at once, the same losses as `mnistlab train`)."""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from helpers import handed_on, png_bytes
from mnistlab.nets.models import load_weights
from mnistlab.web.app import create_app
from mnistlab.web.server import running
from mnistlab.web.strings import STRINGS

EXPECTED = {
    "mlp": [("fc1", [512]), ("fc2", [512]), ("fc3", [10])],
    "cnn": [("conv1", [6, 28, 28]), ("pool1", [6, 14, 14]), ("conv2", [16, 10, 10]), ("pool2", [16, 5, 5]),
            ("fc1", [120]), ("fc2", [84]), ("fc3", [10])],
}


@pytest.fixture(scope="module")
def seven(test_split):
    images, labels = test_split
    return png_bytes(np.round(images[0, 0].numpy() * 255).astype(np.uint8)), int(labels[0])


@pytest.fixture
def own_runs(quick_runs, tmp_path):
    """A copy of the quick runs that a test may train into (the shared folder stays as it is)."""
    shutil.copytree(quick_runs, tmp_path / "runs")
    return tmp_path / "runs"


def test_inside_gives_every_layer_of_both_networks(client, seven, quick_runs):
    png, label = seven
    answer = client.post("/api/inside", content=png, headers={"Content-Type": "image/png"}).json()
    predicted = client.post("/api/predict", content=png, headers={"Content-Type": "image/png"}).json()
    assert answer["input"] == predicted["input"] and len(answer["input"]) == 784
    assert set(answer["networks"]) == {"mlp", "cnn"}
    for name, expected in EXPECTED.items():
        network = answer["networks"][name]
        assert [(layer["name"], layer["shape"]) for layer in network["layers"]] == expected
        for layer in network["layers"]:
            assert len(layer["values"]) == np.prod(layer["shape"])
        logits = network["layers"][-1]["values"]
        assert network["digit"] == int(np.argmax(logits)) == predicted[name]["digit"]
        np.testing.assert_allclose(network["probabilities"], predicted[name]["probabilities"], atol=1e-3)
        # each layer as the served network's own forward() hands it on (rounded to 4 decimals by the API)
        _, model = load_weights(quick_runs / f"{name}-quick" / "model.pth", name)
        passed = handed_on(model, np.reshape(answer["input"], (28, 28)))
        for layer, values in zip(network["layers"], passed, strict=True):
            np.testing.assert_allclose(layer["values"], values.ravel(), rtol=1e-3, atol=1e-2, err_msg=layer["name"])
    assert answer["networks"]["cnn"]["digit"] == label


@pytest.mark.parametrize("body, content_type", [
    (b"hello, not an image", "image/png"),
    (png_bytes(np.full((280, 280), 255, np.uint8)), "image/png"),
    (b"", "image/png"),
    (b"x" * 10, "application/octet-stream"),
    (b'{"pixels": [0.5, 0.5]}', "application/json"),
    (b"{not json", "application/json"),
    (b"\x00" * (1024 * 1024 + 1), "image/png"),
])
def test_inside_refuses_what_predict_refuses(client, body, content_type):
    inside = client.post("/api/inside", content=body, headers={"Content-Type": content_type})
    predict = client.post("/api/predict", content=body, headers={"Content-Type": content_type})
    assert 400 <= inside.status_code < 500
    assert (inside.status_code, inside.json()) == (predict.status_code, predict.json())
    assert inside.json()["code"]


def test_weights_are_those_in_model_pth(client, quick_runs):
    for name in ("mlp", "cnn"):
        state = torch.load(quick_runs / f"{name}-quick" / "model.pth", weights_only=True)
        layers = [key.removesuffix(".weight") for key in state if key.endswith(".weight")]
        for layer in layers:
            answer = client.get(f"/api/weights/{name}/{layer}").json()
            expected = state[f"{layer}.weight"]
            assert answer["shape"] == list(expected.shape)
            np.testing.assert_array_equal(np.array(answer["values"], np.float32), expected.numpy().ravel())
    assert client.get("/api/weights/cnn/conv1").json()["shape"] == [6, 1, 5, 5]
    assert client.get("/api/weights/cnn/conv2").json()["shape"] == [16, 6, 5, 5]
    for path in ("/api/weights/vgg/conv1", "/api/weights/cnn/pool1", "/api/weights/mlp/conv1", "/api/weights/cnn/x"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found", path


def test_architecture_explains_sizes_and_parameters(client):
    cnn = {row["name"]: row for row in client.get("/api/architecture").json()["cnn"]["layers"]}
    assert cnn["conv1"]["working"] == "O = (28 − 5 + 2·2) / 1 + 1 = 28"
    assert cnn["pool2"]["working"] == "O = (10 − 2 + 2·0) / 2 + 1 = 5" and cnn["pool2"]["parameters"] is None
    assert cnn["conv2"]["parameters"] == {"weight_shape": [16, 6, 5, 5], "weights": 2400, "biases": 16, "total": 2416}
    assert cnn["flatten"]["shape"] == [400]
    mlp = {row["name"]: row for row in client.get("/api/architecture").json()["mlp"]["layers"]}
    assert mlp["fc1"]["parameters"]["total"] == 784 * 512 + 512 and mlp["fc1"]["working"] == "784 → 512"


def test_the_page_asks_the_server_what_exists():
    """No display names, layer names or sizes in the page's code: it reads them from /api/info and
    /api/architecture; and no HTML is built from interpolated text."""
    from mnistlab.nets.models import MODELS
    from mnistlab.web.app import STATIC

    page = ("answers.js", "api.js", "draw.js", "i18n.js", "inside.js", "lab.js", "main.js", "picker.js", "train.js", "index.html")
    for path in (STATIC / name for name in page):
        code = path.read_text()
        for name in (entry.display_name for entry in MODELS.values()):
            assert name not in code, (path.name, name)
        assert not re.search(r'"fc3"|=== 10\b|"conv[12]"', code), path.name
        assert "innerHTML" not in code and "insertAdjacentHTML" not in code, path.name


def test_architecture_and_info_say_what_each_layer_and_network_is():
    """The page reads layer roles and display names from the server instead of knowing them."""
    from mnistlab.nets.models import MODELS, create_model

    app = create_app(models={"cnn": create_model("cnn")})
    test_client = TestClient(app)
    roles = {name: [(row["name"], row["role"]) for row in network["layers"]]
             for name, network in test_client.get("/api/architecture").json().items()}
    assert roles["cnn"] == [("input", "input"), ("conv1", "conv"), ("pool1", "pool"), ("conv2", "conv"),
                            ("pool2", "pool"), ("flatten", "flatten"), ("fc1", "hidden"), ("fc2", "hidden"),
                            ("fc3", "logits")]
    mlp = create_app(models={"mlp": create_model("mlp")})
    assert [row["role"] for row in TestClient(mlp).get("/api/architecture").json()["mlp"]["layers"]] == \
        ["input", "flatten", "hidden", "hidden", "logits"]  # the flatten step as `mnistlab summary mlp` shows it
    info = test_client.get("/api/info").json()
    assert info["models"] == [{"name": entry.name, "display_name": entry.display_name, "color": entry.color,
                               "lesson": entry.lesson} for entry in MODELS.values()]
    assert info["networks"][0]["color"] == MODELS["cnn"].color


def test_strings_in_both_languages(quick_runs, client):
    english = client.get("/api/strings?lang=en").json()
    spanish = client.get("/api/strings?lang=es").json()
    assert english["lang"] == "en" and spanish["lang"] == "es"
    assert english["strings"] == dict(STRINGS)
    assert set(spanish["strings"]) == set(STRINGS)
    untranslated = [key for key in STRINGS if spanish["strings"][key] == STRINGS[key] and key != "title"]
    assert untranslated == []
    assert spanish["strings"]["clear"] == "Borrar"
    for key, text in STRINGS.items():  # placeholders survive translation
        assert set(re.findall(r"\{\w+\}", spanish["strings"][key])) == set(re.findall(r"\{\w+\}", text)), key
    assert client.get("/api/strings", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.8"}).json()["lang"] == "es"
    assert client.get("/api/strings", headers={"Accept-Language": "de-DE,en;q=0.5"}).json()["lang"] == "en"
    assert client.get("/api/strings", headers={"Accept-Language": "de-DE"}).json()["lang"] == "en"
    for refused in ("es;q=0", "es;q=nan", "es;q=0.000", "es;q=-1", "es;q=2", "esperanto"):  # q=0: "not this one"
        assert client.get("/api/strings", headers={"Accept-Language": refused}).json()["lang"] == "en", refused
    spanish_server = TestClient(create_app(runs_dir=quick_runs, lang="es"))
    assert spanish_server.get("/api/strings", headers={"Accept-Language": "de-DE"}).json()["lang"] == "es"
    assert spanish_server.get("/api/strings", headers={"Accept-Language": "en-GB"}).json()["lang"] == "en"
    assert spanish_server.get("/api/strings", headers={"Accept-Language": "en;q=0, de"}).json()["lang"] == "es"
    bad = client.get("/api/strings?lang=fr")
    assert bad.status_code == 400 and "lang must be one of en, es" in bad.json()["error"]


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (b"{}", 422, '"model" is required'),
    (b'{"model": "vgg"}', 422, '"model" must be one of mlp, cnn'),
    (b'{"model": "cnn", "recipe": "adam"}', 422, '"recipe" must be one of'),
    (b'{"model": "cnn", "epochs": 0}', 422, '"epochs" must be at least 1'),
    (b'{"model": "cnn", "epochs": 1000}', 422, "at most 100"),
    (b'{"model": "cnn", "max_steps": -5}', 422, '"max_steps" must be at least 1'),
    (b'{"model": "cnn", "seed": true}', 422, '"seed" must be a whole number'),
    (b'{"model": "cnn", "seed": -1}', 422, '"seed" must be between'),
    (b'{"model": "cnn", "epochs": "3"}', 422, '"epochs" must be a whole number'),
    (b'{"model": "cnn", "lr": 5}', 422, "unknown setting 'lr'"),
])
def test_bad_training_settings_get_a_4xx(client, body, status, message):
    response = client.post("/api/train", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["error"] and response.json()["code"] == "bad_settings"


def test_training_is_refused_unless_allowed(quick_runs):
    with TestClient(create_app(runs_dir=quick_runs, allow_training=False)) as closed:
        for response in (closed.post("/api/train", json={"model": "cnn"}), closed.delete("/api/train/1")):
            assert response.status_code == 403 and "--allow-training" in response.json()["error"]
        assert closed.get("/api/train").json() == {"allowed": False, "job": None}
        assert closed.get("/api/train/nope/events").status_code == 404


def events_of(url: str) -> list[tuple[str, dict, float]]:
    """Every Server-Sent Event of a job until its end, with the time it came."""
    events, kind = [], None
    with httpx.stream("GET", url, timeout=300) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:]), time.monotonic()))
    return events


@pytest.mark.slow
def test_a_job_streams_its_progress_then_the_page_uses_it_and_matches_the_cli(own_runs, mnist_root, tmp_path):
    settings = {"model": "cnn", "recipe": "tuned", "max_steps": 60, "seed": 3}
    with running(create_app(runs_dir=own_runs, data_dir=mnist_root)) as url:
        started = httpx.post(url + "api/train", json=settings)
        assert started.status_code == 202
        job = started.json()
        assert job["events"] == f"/api/train/{job['id']}/events"
        busy = httpx.post(url + "api/train", json={"model": "mlp"})
        assert busy.status_code == 409 and busy.json()["code"] == "busy"

        events = events_of(url + job["events"][1:])
        kinds = [kind for kind, _, _ in events]
        assert kinds[0] == "start" and kinds[-1] == "done" and "failed" not in kinds
        steps = [data for kind, data, _ in events if kind == "step"]
        points = [point for data in steps for point in data["points"]]
        assert [point[0] for point in points] == list(range(1, 61))  # every step, once, in order
        assert points[59][2] == pytest.approx(np.mean([point[1] for point in points[:60]]))  # running average
        seconds = events[-1][2] - events[0][2]
        assert len(steps) <= 10 * seconds + 2  # batched: at most ~10 step events a second
        epoch = next(data for kind, data, _ in events if kind == "epoch")
        done = events[-1][1]
        assert epoch["epoch"] == 1 and epoch["test_accuracy"] == done["test_accuracy"] > 0.5

        # the finished run is offered, not swapped in; chosen, it answers
        sources = lambda: {net["name"]: net["source"] for net in httpx.get(url + "api/info").json()["networks"]}
        assert Path(sources()["cnn"]).name != Path(done["run"]).name
        offered = httpx.get(url + "api/runs").json()["offered"]
        assert offered == [Path(done["run"]).name]
        assert httpx.post(url + "api/use", json={"network": "cnn", "run": offered[0]}).status_code == 200
        assert Path(sources()["cnn"]).name == offered[0]
        assert events_of(url + job["events"][1:]) and [k for k, _, _ in events_of(url + job["events"][1:])] == kinds

    cli_run = tmp_path / "cli-run"  # `mnistlab train` as a user runs it: its own process, torch's defaults
    result = subprocess.run([sys.executable, "-m", "mnistlab", "train", "cnn", "--recipe", "tuned", "--max-steps",
                             "60", "--seed", "3", "--out", str(cli_run), "--data-dir", str(mnist_root)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    page_history = json.loads((own_runs / done["run"].split("/")[-1] / "history.json").read_text())
    cli_history = json.loads((cli_run / "history.json").read_text())
    assert page_history["loss"] == cli_history["loss"] == [point[1] for point in points]


@pytest.mark.slow
def test_a_stopped_job_leaves_no_run_and_the_next_one_starts(own_runs, mnist_root):
    before = sorted(p.name for p in own_runs.iterdir())
    with running(create_app(runs_dir=own_runs, data_dir=mnist_root)) as url:
        info = httpx.get(url + "api/info").json()
        job = httpx.post(url + "api/train", json={"model": "cnn", "recipe": "practice", "epochs": 1}).json()
        with httpx.stream("GET", url + job["events"][1:], timeout=120) as stream:
            for line in stream.iter_lines():
                if line == "event: step":
                    break
        asked = time.monotonic()
        stopped = httpx.delete(url + f"api/train/{job['id']}", timeout=30)
        assert stopped.status_code == 200 and time.monotonic() - asked < 2.5
        kinds = [(kind, data) for kind, data, _ in events_of(url + job["events"][1:])]
        assert kinds[-1] == ("failed", {"error": "training was stopped", "code": "cancelled"})
        assert sorted(p.name for p in own_runs.iterdir()) == before  # the unfinished folder is gone
        assert httpx.get(url + "api/info").json() == info

        again = httpx.post(url + "api/train", json={"model": "mlp", "max_steps": 5})
        assert again.status_code == 202
        assert events_of(url + again.json()["events"][1:])[-1][0] == "done"


def test_the_page_is_es_modules_served_as_they_are(client):
    from mnistlab.web.app import STATIC

    modules = sorted(path.name for path in STATIC.glob("*.js"))
    assert modules == ["answers.js", "api.js", "draw.js", "i18n.js", "inside.js", "lab.js", "main.js", "picker.js", "train.js"]
    for name in modules:
        imports = re.findall(r'^import .* from "([^"]+)";$', (STATIC / name).read_text(), re.MULTILINE)
        assert all(path.startswith("./") for path in imports), (name, imports)  # nothing from elsewhere
    chart = client.get("/static/vendor/uPlot.esm.js")
    assert chart.status_code == 200 and "javascript" in chart.headers["content-type"]
    assert "export { uPlot as default }" in chart.text
    assert "MIT" in (STATIC / "vendor" / "uPlot.LICENSE").read_text()
    assert '<script type="module" src="/static/main.js">' in client.get("/").text


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                            ("[::1]", True), ("localhost", True), ("LOCALHOST", True),
                                            ("127.1", True), ("0x7f.1", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.20", False), ("example.org", False), ("127.1.example", False)])
def test_training_is_on_by_default_only_on_loopback(host, loopback):
    from mnistlab.cli import is_loopback

    assert is_loopback(host) is loopback


@pytest.mark.browser
def test_an_event_source_that_reconnects_resumes_without_replay(browser, tmp_path, monkeypatch):
    """A real EventSource (Chromium's): the server ends the stream, the browser reconnects by itself
    with Last-Event-ID and gets only the events after it, each once."""
    from helpers import stub_job
    from mnistlab.nets.models import create_model
    from mnistlab.web import training

    monkeypatch.setattr(training, "STREAM_SECONDS", 0.5)
    app = create_app(models={"mlp": create_model("mlp")}, runs_dir=tmp_path)
    with running(app) as url:
        job = stub_job(app.state.jobs, "resume", [("start", {"total_steps": 3}), ("step", {"step": 1})])
        page = browser.new_page()
        page.goto(url)
        page.evaluate("""url => {
            window.seen = []; window.opens = 0;
            const source = new EventSource(url);
            source.onopen = () => { window.opens += 1; };
            for (const kind of ["start", "step", "done", "failed"]) {
                source.addEventListener(kind, (event) => {
                    window.seen.push([kind, event.lastEventId, JSON.parse(event.data)]);
                    if (kind === "done") source.close();
                });
            }
        }""", url + "api/train/resume/events")
        page.wait_for_function("window.seen.length === 2")
        page.wait_for_function("window.opens >= 3", timeout=15_000)  # ended twice, reconnected twice
        job.events += [{"event": "step", "data": {"step": 2}}, {"event": "done", "data": {"run": "x"}}]
        job.finished = True
        page.wait_for_function("window.seen.length >= 4")
        page.wait_for_timeout(1500)  # time for a replay to show, if there were one
        seen = page.evaluate("window.seen")
        page.close()
    job.process.kill()
    job.process.wait()
    assert seen == [["start", "1", {"total_steps": 3}], ["step", "2", {"step": 1}],
                    ["step", "3", {"step": 2}], ["done", "4", {"run": "x"}]]
