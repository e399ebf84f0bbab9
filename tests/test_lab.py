"""The lab's experiments outside robustness.py: pixel-permuted runs (trained, recorded, and fed
scrambled images everywhere) and the same-budget MLP."""

import json

import numpy as np
import pytest
import torch

from mnistlab.data import permute_pixels
from mnistlab.inference.predict import load_latest
from mnistlab.nets.models import count_parameters, create_model
from mnistlab.training.runs import load_run


def test_the_small_mlp_has_the_cnns_budget():
    small, cnn = (count_parameters(create_model(name)) for name in ("mlp-small", "cnn"))
    assert small == 784 * 77 + 77 + 77 * 10 + 10 == 61_225
    assert abs(small / cnn - 1) < 0.02


def test_permuted_run_records_the_flag_and_evaluates_scrambled(lab_runs, invoke, mnist_root):
    run = load_run(lab_runs / "cnn-permuted")
    assert json.loads((run.path / "config.json").read_text())["permute_pixels"] is True and run.permuted
    result = invoke("evaluate", run.path, "--data-dir", mnist_root, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert f"pixels permuted ({run.weights}): overall accuracy {run.metrics.overall_accuracy:.4f}" in result.output
    plain = load_run(lab_runs / "cnn-quick")
    assert not plain.permuted and "permute_pixels" in json.loads((plain.path / "config.json").read_text())


def test_predict_feeds_a_permuted_network_scrambled_images(lab_runs):
    networks = load_latest(lab_runs, ("mlp", "cnn"), permuted=True)
    assert all(net.permuted for net in networks.loaded.values())
    assert {net.source for net in networks.loaded.values()} == {str(lab_runs / f) for f in ("mlp-permuted", "cnn-permuted")}
    images = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    answers = networks.predict(images)
    for name, net in networks.loaded.items():
        expected = net.model(permute_pixels(torch.from_numpy(images)[:, None])).softmax(dim=1)
        assert np.allclose(answers[name], expected.detach().numpy(), atol=1e-6)
    plain = load_latest(lab_runs)  # the lesson's own networks are never the permuted ones
    assert {net.source for net in plain.loaded.values()} == {str(lab_runs / f) for f in ("mlp-quick", "cnn-quick")}


def test_scrambling_costs_the_mlp_nothing_and_the_cnn_much(lab_runs):
    """The permuted pair trained exactly as the plain one (recipe, seed, steps): the MLP never used the
    pixels' order, the CNN did."""
    plain, permuted = ({m: load_run(lab_runs / f"{m}-{kind}").metrics.overall_accuracy for m in ("mlp", "cnn")}
                       for kind in ("quick", "permuted"))
    assert abs(permuted["mlp"] - plain["mlp"]) < 0.015
    assert permuted["cnn"] < plain["cnn"] - 0.05


# --- the studio's lab route ------------------------------------------------------------------------

def drawing(box=(70, 60, 210, 235)) -> bytes:
    """A 7 drawn in dark ink on a white 280×280 canvas, inside `box` (left, top, right, bottom)."""
    from PIL import Image, ImageDraw
    import io

    left, top, right, bottom = box
    canvas = Image.new("L", (280, 280), 255)
    pen = ImageDraw.Draw(canvas)
    pen.line([(left, top), (right, top), (left + (right - left) // 3, bottom)], fill=0, width=24)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()


def lab(client, png=None, **controls):
    query = "&".join(f"{k}={v}" for k, v in controls.items())
    return client.post(f"/api/lab?{query}", content=png or drawing(), headers={"Content-Type": "image/png"})


def test_lab_at_rest_answers_as_inside_does(client):
    plain = client.post("/api/inside", content=drawing(), headers={"Content-Type": "image/png"}).json()
    answer = lab(client).json()
    assert answer["input"] == plain["input"] and answer["sweep"] == list(range(-6, 7))
    for name, net in answer["networks"].items():
        assert net["digit"] == plain["networks"][name]["digit"] and not net["permuted"]
        assert np.allclose(net["probabilities"], plain["networks"][name]["probabilities"], atol=1e-5)
        assert net["input"] == plain["input"]
        assert [layer["name"] for layer in net["layers"]] == [layer["name"] for layer in plain["networks"][name]["layers"]]
        assert len(net["sweep"]) == 13 and abs(net["sweep"][6] - net["probabilities"][net["digit"]]) < 1e-4


def test_lab_moves_rotates_and_uncentres_the_drawing(client):
    from mnistlab.robustness import affine, shift

    rest = torch.tensor(lab(client).json()["input"]).view(1, 1, 28, 28)
    moved = torch.tensor(lab(client, dx=3, dy=-2).json()["input"]).view(1, 1, 28, 28)
    assert torch.allclose(moved, shift(rest, 3, -2), atol=1e-4)
    turned = torch.tensor(lab(client, angle=30).json()["input"]).view(1, 1, 28, 28)
    assert torch.allclose(turned, affine(rest, 30), atol=1e-4) and not torch.allclose(turned, rest, atol=0.1)
    # drawn small in the top-left corner: centred like MNIST it fills the middle, uncentred it stays there
    corner = drawing((10, 10, 90, 110))
    centred = np.array(lab(client, corner).json()["input"]).reshape(28, 28)
    where = np.array(lab(client, corner, centre="false").json()["input"]).reshape(28, 28)
    ys, xs = np.indices((28, 28))
    assert abs((ys * centred).sum() / centred.sum() - 14) < 1.5
    assert (ys * where).sum() / where.sum() < 8 and (xs * where).sum() / where.sum() < 8


def test_lab_refuses_bad_controls(client):
    for controls, message in [({"dx": 50}, "dx must be a whole number of pixels from -10 to 10"),
                              ({"angle": "nan"}, "angle must be a number of degrees"),
                              ({"permuted": "true"}, "no pixel-permuted network on this server")]:
        response = lab(client, **controls)
        assert response.status_code in (400, 404) and message in response.json()["error"], response.text
    assert client.get("/api/lab").json() == {"permuted": []}


def test_lab_serves_the_permuted_networks_scrambled_input(lab_runs):
    from fastapi.testclient import TestClient

    from mnistlab.web.app import create_app

    client = TestClient(create_app(runs_dir=lab_runs))
    listed = client.get("/api/lab").json()["permuted"]
    assert sorted(net["name"] for net in listed) == ["cnn", "mlp"] and all(net["permuted"] for net in listed)
    answer = lab(client, permuted="true", dx=1).json()
    image = torch.tensor(answer["input"]).view(1, 1, 28, 28)
    for net in answer["networks"].values():
        assert net["permuted"]
        assert torch.allclose(torch.tensor(net["input"]).view(1, 1, 28, 28), permute_pixels(image))
    assert not any(net["permuted"] for net in lab(client).json()["networks"].values())
