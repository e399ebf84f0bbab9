"""Training jobs (the studio's trainer): the page's settings become the same TrainConfig the CLI
builds, and the step reporter sends every step's loss and the practice's running average in batches."""

import json

import numpy as np
import pytest
import torch

from mnistlab import jobs, recipes
from mnistlab.errors import MnistlabError
from mnistlab.plots import running_average
from mnistlab.train import TrainConfig


def test_settings_become_the_cli_config():
    assert jobs.config_from({"model": "cnn"}) == TrainConfig(model="cnn")
    assert jobs.config_from({"model": "cnn", "recipe": "tuned", "epochs": None, "seed": 7, "max_steps": 50}) == \
        TrainConfig(model="cnn", recipe="tuned", seed=7, max_steps=50)
    assert jobs.config_from({"model": "cnn", "recipe": "tuned"}).epochs == recipes.RECIPES["tuned"].settings["cnn"].epochs
    with pytest.raises(MnistlabError, match="unknown setting 'device'"):
        jobs.config_from({"model": "cnn", "device": "cuda"})


def test_a_step_cap_past_the_recipes_epochs_gets_the_epochs_it_needs():
    steps_per_epoch = -(-60000 // 64)  # 938: the tuned CNN's one epoch
    assert jobs.config_from({"model": "cnn", "recipe": "tuned", "max_steps": 3000}).epochs == 4
    assert jobs.config_from({"model": "cnn", "recipe": "tuned", "max_steps": steps_per_epoch}).epochs == 1
    assert jobs.config_from({"model": "cnn", "recipe": "practice", "max_steps": 3000}).epochs == 10  # enough already
    assert jobs.config_from({"model": "cnn", "recipe": "tuned", "epochs": 1, "max_steps": 3000}).epochs == 1  # as chosen
    with pytest.raises(MnistlabError, match='"max_steps" must be at most 93800'):
        jobs.config_from({"model": "cnn", "recipe": "tuned", "max_steps": 10**6})


def test_the_largest_seed_arrives_exactly():
    assert jobs.config_from(json.loads('{"model": "mlp", "seed": 18446744073709551615}')).seed == 2**64 - 1


def test_steps_are_sent_in_batches_with_the_practices_running_average(monkeypatch):
    clock = iter(np.arange(0, 100, 0.01))  # each step takes 10 ms
    monkeypatch.setattr(jobs.time, "perf_counter", lambda: next(clock))
    sent = []
    config = TrainConfig(model="mlp", max_steps=300)
    reporter = jobs.StepReporter(lambda kind, data: sent.append((kind, data)), config, 300)
    losses = np.random.default_rng(0).random(300).astype(np.float32)
    for step, loss in enumerate(losses, start=1):
        reporter(step, torch.tensor(loss))
    reporter.flush()
    assert {kind for kind, _ in sent} == {"step"}
    assert len(sent) <= 300 * 0.01 / jobs.STEP_EVENT_SECONDS + 2  # about 10 events a second, not 100
    points = [point for _, data in sent for point in data["points"]]
    assert [p[0] for p in points] == list(range(1, 301))
    np.testing.assert_allclose([p[1] for p in points], losses, rtol=1e-6)
    # from step 60 on, the average is the practice's running average over the last 60 steps
    np.testing.assert_allclose([p[2] for p in points[59:]], running_average(losses), rtol=1e-5)
    last = sent[-1][1]
    assert last["step"] == 300 and last["total_steps"] == 300
    assert last["images_per_second"] == pytest.approx(len(last["points"]) * config.batch_size / (len(last["points"]) * 0.01), rel=0.2)
