"""Run folders written by mnistlab 0.1.0 keep working: the JSON files in tests/data/v0.1.0 are exactly
what that release wrote (`mnistlab train mlp|cnn --max-steps 40`); the weights are made here, since
their values do not matter, only that evaluate, report, predict and serve accept the folders."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from helpers import png_bytes
from mnistlab.nets.models import lesson_models, create_model
from mnistlab.training.runs import load_run

V010 = Path(__file__).parent / "data" / "v0.1.0"


@pytest.fixture(scope="module")
def old_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("old-runs")
    for name in lesson_models():
        folder = runs / f"{name}-practice-seed0"
        shutil.copytree(V010 / folder.name, folder)
        torch.manual_seed(0)
        torch.save(create_model(name).state_dict(), folder / "model.pth")
    return runs


def test_old_json_is_unchanged_and_loads(old_runs):
    for name in lesson_models():
        folder = old_runs / f"{name}-practice-seed0"
        written = json.loads((folder / "metrics.json").read_text())
        assert "schema_version" not in written  # really the old format
        run = load_run(folder)
        assert run.metrics.overall_accuracy == written["overall_accuracy"]
        assert run.metrics.schema_version == 1 and run.config.max_steps == 40
        assert "permute_pixels" not in json.loads((folder / "config.json").read_text()) and not run.permuted


def test_old_runs_evaluate_report_predict_and_serve(old_runs, invoke, mnist_root, tmp_path):
    from mnistlab.web.app import create_app

    result = invoke("evaluate", old_runs / "cnn-practice-seed0", "--data-dir", mnist_root)
    assert result.exit_code == 0 and "overall accuracy" in result.output, result.output
    result = invoke("report", "--runs", old_runs, "--out", tmp_path / "report", "--data-dir", mnist_root)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "index.html").exists()
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    (tmp_path / "one.png").write_bytes(png_bytes(digit))
    result = invoke("predict", tmp_path / "one.png", "--runs", old_runs)
    assert result.exit_code == 0 and "one.png" in result.output, result.output
    info = TestClient(create_app(runs_dir=old_runs)).get("/api/info").json()
    assert sorted(n["name"] for n in info["networks"]) == sorted(lesson_models())
