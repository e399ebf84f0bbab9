"""The web app and `mnistlab predict`: real MNIST test digits sent as PNG get the right answer, every
bad request gets its 4xx, and a real headless Chromium draws a digit on the page and sees both answers."""

import io
import json
import re
import shutil
import socket
import subprocess
import sys

import httpx
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from mnistlab.errors import MnistlabError
from mnistlab.inference.preprocess import image_to_mnist
from mnistlab.nets.models import create_model
from helpers import data_url, draw, png_bytes
from mnistlab.web.app import STATIC, create_app
from mnistlab.web.server import bind, running

SAMPLE = 60  # MNIST test digits sent through the API



@pytest.fixture(scope="module")
def runs_dir(quick_runs):
    return quick_runs


@pytest.fixture(scope="module")
def digits(test_split):
    """The first SAMPLE test digits as (PNG bytes, label)."""
    images, labels = test_split
    return [(png_bytes(np.round(image[0].numpy() * 255).astype(np.uint8)), int(label))
            for image, label in zip(images[:SAMPLE], labels[:SAMPLE])]


def test_real_mnist_pngs_get_the_right_digit(client, digits):
    right = {"mlp": 0, "cnn": 0}
    for png, label in digits:
        response = client.post("/api/predict", content=png, headers={"Content-Type": "image/png"})
        assert response.status_code == 200
        answer = response.json()
        assert len(answer["input"]) == 784 and 0 <= min(answer["input"]) and max(answer["input"]) <= 1
        for name in right:
            result = answer[name]
            assert len(result["probabilities"]) == 10 and sum(result["probabilities"]) == pytest.approx(1, abs=1e-4)
            assert result["digit"] == int(np.argmax(result["probabilities"]))
            assert result["confidence"] == max(result["probabilities"])
            right[name] += result["digit"] == label
    assert right["mlp"] >= 0.9 * SAMPLE and right["cnn"] >= 0.93 * SAMPLE, right


def test_the_answer_is_the_networks_own_on_the_preprocessed_input(client, digits, runs_dir):
    png, _ = digits[0]
    answer = client.post("/api/predict", content=png, headers={"Content-Type": "image/png"}).json()
    expected = image_to_mnist(png)
    np.testing.assert_allclose(np.array(answer["input"]).reshape(28, 28), expected, atol=1e-4)
    model = create_model("cnn")
    model.load_state_dict(torch.load(runs_dir / "cnn-quick" / "model.pth", weights_only=True))
    with torch.no_grad():
        probabilities = model.eval()(torch.from_numpy(expected)[None, None]).softmax(1)[0]
    np.testing.assert_allclose(answer["cnn"]["probabilities"], probabilities.numpy(), atol=1e-6)


def test_every_accepted_form_gives_the_same_answer(client, digits):
    png, label = digits[0]
    by_png = client.post("/api/predict", content=png, headers={"Content-Type": "image/png"}).json()
    forms = [
        (data_url(png).encode(), "text/plain"),
        (json.dumps({"image": data_url(png)}).encode(), "application/json"),
        (json.dumps({"pixels": by_png["input"]}).encode(), "application/json; charset=utf-8"),
        (png_bytes(np.asarray(Image.open(io.BytesIO(png))), fmt="JPEG"), "image/jpeg"),
    ]
    for body, content_type in forms:
        response = client.post("/api/predict", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 200, (content_type, response.text)
        assert response.json()["cnn"]["digit"] == by_png["cnn"]["digit"] == label
        assert response.json()["mlp"]["digit"] == by_png["mlp"]["digit"]


WHITE_CANVAS = png_bytes(np.full((280, 280), 255, np.uint8))
CLEAR_CANVAS = png_bytes(np.zeros((280, 280, 4), np.uint8), "RGBA")
GIF = io.BytesIO()
Image.new("L", (10, 10)).save(GIF, "GIF")
NOISE_PNG = png_bytes(np.random.default_rng(0).integers(0, 256, (60, 60), dtype=np.uint8))
BIG_PNG = io.BytesIO()
Image.new("1", (5000, 5000)).save(BIG_PNG, "PNG")


@pytest.mark.parametrize("body, content_type, status, message", [
    (b"hello, not an image", "image/png", 400, "the request body is not a PNG or JPEG image"),
    (NOISE_PNG[:400], "image/png", 400, "damaged or truncated"),
    (GIF.getvalue(), "image/png", 400, "is a GIF image"),
    (BIG_PNG.getvalue(), "image/png", 400, "5000×5000 pixels"),
    (WHITE_CANVAS, "image/png", 422, "blank"),
    (CLEAR_CANVAS, "image/png", 422, "blank"),
    (data_url(WHITE_CANVAS).encode(), "text/plain", 422, "blank"),
    (json.dumps({"image": data_url(CLEAR_CANVAS)}).encode(), "application/json", 422, "blank"),
    (json.dumps({"pixels": [0] * 784}).encode(), "application/json", 422, "blank"),
    (json.dumps({"pixels": [0.04] * 784}).encode(), "application/json", 422, "blank"),
    (b"", "image/png", 400, "empty"),
    (b"\x00" * (1024 * 1024 + 1), "image/png", 413, "at most 1,048,576"),
    (b"x" * 10, "application/octet-stream", 415, "unsupported Content-Type"),
    (b"x" * 10, "multipart/form-data", 415, "unsupported Content-Type"),
    (b"x" * 10, None, 415, "unsupported Content-Type"),
    (b"data:image/gif;base64,R0lGOD", "text/plain", 400, "expected a data URL"),
    (b"data:image/png;base64,@@@@", "text/plain", 400, "base64 part is malformed"),
    (b"\xff\xfe", "text/plain", 400, "^the text/plain body must be UTF-8 text$"),
    (b"\xff\xfe", "application/json", 400, "^the application/json body must be UTF-8 text$"),
    (b'{"pixels": [0.5, 0.5]}', "application/json", 400, r"784 numbers \(got 2\)"),
    (json.dumps({"pixels": [0.1] * 783 + [float("nan")]}).encode(), "application/json", 400, "finite"),
    (b'{"pixels": [' + b"0," * 783 + b"Infinity]}", "application/json", 400, "finite"),
    (json.dumps({"pixels": [0.1] * 783 + [-1]}).encode(), "application/json", 400, r"\[0, 1\]"),
    (json.dumps({"pixels": [0.1] * 783 + [None]}).encode(), "application/json", 400, "numbers"),
    (json.dumps({"pixels": [0.1] * 784, "image": "x"}).encode(), "application/json", 400, "one of"),
    (b'{"image": 5}', "application/json", 400, "data URL string"),
    (b"[1, 2]", "application/json", 400, "must be an object"),
    (b"{not json", "application/json", 400, "malformed"),
    (b"[" * 200_000 + b"]" * 200_000, "application/json", 400, "malformed"),
    (b'{"pixels": [' + b"9" * 5000 + b"]}", "application/json", 400, "malformed"),
])
def test_bad_input_gets_a_4xx_with_a_json_message(client, body, content_type, status, message):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/predict", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert re.search(message, response.json()["error"])


def test_an_oversized_stream_without_length_is_cut_off(client):
    chunks = (b"\x00" * 65536 for _ in range(17))  # 1.06 MB, sent chunked: no Content-Length header
    response = client.post("/api/predict", content=chunks, headers={"Content-Type": "image/png"})
    assert response.status_code == 413 and "at most" in response.json()["error"]


def test_other_routes_answer_json_errors_and_the_page_is_self_contained(client):
    assert client.get("/api/predict").status_code == 405
    assert client.get("/api/predict").json() == {"error": "Method Not Allowed", "code": "not_allowed"}
    assert client.get("/static/missing.js").status_code == 404
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="pad"' in page.text
    for name in ("index.html", "main.js", "api.js", "draw.js", "answers.js", "inside.js", "train.js", "i18n.js", "picker.js",
                 "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
        assert "://" not in (STATIC / name).read_text()  # no CDN: the page works offline


def test_one_missing_network_is_named_with_its_train_command(runs_dir, tmp_path, digits):
    shutil.copytree(runs_dir / "mlp-quick", tmp_path / "mlp-quick")
    app = create_app(runs_dir=tmp_path)
    info = TestClient(app).get("/api/info").json()
    assert [net["name"] for net in info["networks"]] == ["mlp"]
    assert info["networks"][0]["source"] == "mlp-quick"  # relative to the runs folder: no path of this machine
    assert info["networks"][0]["test_accuracy"] >= 0.9
    assert "`mnistlab train cnn`" in info["missing"][0]
    answer = TestClient(app).post("/api/predict", content=digits[0][0], headers={"Content-Type": "image/png"}).json()
    assert set(answer) == {"mlp", "input"}
    with pytest.raises(MnistlabError, match="no trained network in .*`mnistlab run` trains both"):
        create_app(runs_dir=tmp_path / "nothing-here")


def test_models_built_in_code_are_served():
    app = create_app(models={"cnn": create_model("cnn")})
    assert [net["name"] for net in TestClient(app).get("/api/info").json()["networks"]] == ["cnn"]
    with pytest.raises(MnistlabError, match="non-empty dict keyed by mlp, cnn"):
        create_app(models={"vgg": create_model("cnn")})


def test_predict_command_prints_the_right_digits(invoke, runs_dir, digits, tmp_path):
    paths = []
    for index, (png, label) in enumerate(digits[:10]):
        paths.append(tmp_path / f"digit{index}.png")
        paths[-1].write_bytes(png)
    result = invoke("predict", *paths, "--runs", runs_dir)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["file", "MultiLayerNN", "CNN"]
    printed = [[int(d) for d in re.findall(r"(\d) \(\d+\.\d%\)", line)] for line in lines[1:]]
    labels = [label for _, label in digits[:10]]
    assert [row[1] for row in printed] == labels  # the CNN gets all ten right
    assert sum(row[0] == label for row, label in zip(printed, labels)) >= 9

    only_cnn = invoke("predict", paths[0], "--model", "cnn", "--runs", runs_dir)
    assert only_cnn.exit_code == 0 and only_cnn.output.split()[:2] == ["file", "CNN"]


@pytest.mark.parametrize("content, message", [
    (b"not an image at all", "is not a PNG or JPEG image"),
    (NOISE_PNG[:400], "is damaged or truncated"),
    (WHITE_CANVAS, "is blank"),
])
def test_predict_command_refuses_bad_files_in_one_line(invoke, runs_dir, tmp_path, content, message):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    result = invoke("predict", bad, "--runs", runs_dir)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and message in result.output and "Traceback" not in result.output
    missing = invoke("predict", tmp_path / "absent.png", "--runs", runs_dir)
    assert missing.exit_code == 1 and "absent.png: cannot read it" in missing.output

@pytest.mark.slow
def test_serve_command_serves_and_names_the_missing_network(invoke, runs_dir, tmp_path):
    shutil.copytree(runs_dir / "mlp-quick", tmp_path / "mlp-quick")
    server = subprocess.Popen([sys.executable, "-m", "mnistlab", "serve", "--port", "0", "--runs", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        assert httpx.get(url).status_code == 200
        assert [n["name"] for n in httpx.get(url + "api/info").json()["networks"]] == ["mlp"]
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=20)
    assert "`mnistlab train cnn` makes one; serving the other network" in errors

    empty = invoke("serve", "--runs", tmp_path / "none")
    assert empty.exit_code == 1 and "no trained network" in empty.output
    taken = bind("127.0.0.1", 0)
    assert taken.proto == socket.IPPROTO_TCP  # else asyncio leaves Nagle on: a 40 ms stall per response
    busy = invoke("serve", "--runs", runs_dir, "--port", taken.getsockname()[1])
    taken.close()
    assert busy.exit_code == 1 and "cannot listen on 127.0.0.1:" in busy.output




@pytest.mark.browser
def test_a_browser_draws_a_digit_and_both_networks_answer(runs_dir, artifacts, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)  # a busy 2-core machine can take seconds to load the modules
    with running(create_app(runs_dir=runs_dir)) as url:
        page = browser.new_page(viewport={"width": 1200, "height": 760})
        page.goto(url)
        digits = [page.locator(f"#network-{name} .digit") for name in ("mlp", "cnn")]
        for digit in digits:
            expect(digit).to_have_text("\u2013")

        draw(page)

        for digit in digits:
            expect(digit).to_have_text("7", timeout=15_000)
        for name in ("mlp", "cnn"):
            expect(page.locator(f"#network-{name} .bar.top .label")).to_have_text("7")
            expect(page.locator(f"#network-{name} .confidence")).to_contain_text("% sure")
        ink = page.evaluate("() => document.getElementById('preview').getContext('2d')"
                            ".getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 == 0).reduce((a, b) => a + b)")
        assert ink > 255 * 20  # the 28×28 input shows the digit
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / "web-page-seven.png"))

        page.click("#clear")
        for digit in digits:
            expect(digit).to_have_text("\u2013")
        expect(page.locator(".bar.top")).to_have_count(0)
        heights = page.eval_on_selector_all(".bar .fill", "fills => fills.map(f => f.style.height)")
        assert len(heights) == 20 and set(heights) == {"0px"}
        ink = page.evaluate("() => document.getElementById('preview').getContext('2d')"
                            ".getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 == 0).reduce((a, b) => a + b)")
        assert ink == 0
        page.wait_for_timeout(300)  # let the bars' 120 ms transition finish before the picture
        page.screenshot(path=str(artifacts / "web-page-cleared.png"))
        page.close()



def test_the_practices_own_files_are_served_and_named(practice_files, fake_runs, digits, tmp_path):
    """`serve --mlp multinn.pth --cnn cnn.pth` with no runs at all: both answer as the runs they came
    from, and /api/info names each file (the field `file`; `source` stays)."""
    served = TestClient(create_app(runs_dir=tmp_path / "no-runs", files=practice_files))
    info = served.get("/api/info").json()["networks"]
    assert {net["name"]: net["file"] for net in info} == {name: path.name for name, path in practice_files.items()}  # no absolute paths
    assert all(net["run"] is None and net["test_accuracy"] is None for net in info)
    png = {"content": digits[0][0], "headers": {"content-type": "image/png"}}
    from_files = served.post("/api/predict", **png).json()
    from_runs = TestClient(create_app(runs_dir=fake_runs)).post("/api/predict", **png).json()
    for name in practice_files:
        assert from_files[name]["probabilities"] == pytest.approx(from_runs[name]["probabilities"], abs=1e-6)


def test_predict_with_the_practices_files(invoke, practice_files, fake_runs, digits, tmp_path):
    paths = []
    for index, (png, _label) in enumerate(digits[:5]):
        paths.append(tmp_path / f"digit{index}.png")
        paths[-1].write_bytes(png)
    from_files = invoke("predict", *paths, "--runs", tmp_path / "none", "--mlp", practice_files["mlp"],
                        "--cnn", practice_files["cnn"])
    from_runs = invoke("predict", *paths, "--runs", fake_runs)
    assert from_files.exit_code == 0, from_files.output
    assert from_files.output == from_runs.output and len(from_files.output.splitlines()) == 6
    swapped = invoke("predict", paths[0], "--mlp", practice_files["cnn"])
    assert swapped.exit_code == 1 and "holds CNN weights, not MultiLayerNN ones; pass it as --cnn" in swapped.output
