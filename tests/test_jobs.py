"""Training jobs (the studio's trainer): the page's settings become the same TrainConfig the CLI
builds, and the step reporter sends every step's loss and the practice's running average in batches."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from mnistlab.errors import MnistlabError
from mnistlab.plots import running_average
from mnistlab.training import job_process, jobs, recipes
from mnistlab.training.train import TrainConfig


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
    monkeypatch.setattr(job_process.time, "perf_counter", lambda: next(clock))
    sent = []
    config = TrainConfig(model="mlp", max_steps=300)
    reporter = job_process.StepReporter(lambda kind, data: sent.append((kind, data)), config, 300)
    losses = np.random.default_rng(0).random(300).astype(np.float32)
    for step, loss in enumerate(losses, start=1):
        reporter(step, torch.tensor(loss))
    reporter.flush()
    assert {kind for kind, _ in sent} == {"step"}
    assert len(sent) <= 300 * 0.01 / job_process.STEP_EVENT_SECONDS + 2  # about 10 events a second, not 100
    points = [point for _, data in sent for point in data["points"]]
    assert [p[0] for p in points] == list(range(1, 301))
    np.testing.assert_allclose([p[1] for p in points], losses, rtol=1e-6)
    # from step 60 on, the average is the practice's running average over the last 60 steps
    np.testing.assert_allclose([p[2] for p in points[59:]], running_average(losses), rtol=1e-5)
    last = sent[-1][1]
    assert last["step"] == 300 and last["total_steps"] == 300
    assert last["images_per_second"] == pytest.approx(len(last["points"]) * config.batch_size / (len(last["points"]) * 0.01), rel=0.2)


def test_the_reporter_reads_the_losses_once_per_event_not_per_step(monkeypatch):
    """On a GPU each loss.item() is a sync: the reporter must read the tensors only when it sends."""
    def no_item(self):
        raise AssertionError("loss.item() called for one step")

    clock = iter(np.arange(0, 100, 0.01))
    monkeypatch.setattr(job_process.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(torch.Tensor, "item", no_item)
    sent = []
    reporter = job_process.StepReporter(lambda kind, data: sent.append(data), TrainConfig(model="mlp"), 50)
    for step in range(1, 51):
        reporter(step, torch.tensor(float(step)))
    reporter.flush()
    assert [p[1] for data in sent for p in data["points"]] == [float(s) for s in range(1, 51)]


class SameSecond:
    """datetime.now() frozen: every job is started in the same second."""

    @staticmethod
    def now():
        from datetime import datetime

        return datetime(2026, 12, 1, 12, 0, 0)


def test_two_servers_on_one_runs_folder_never_share_a_run_name(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(jobs, "datetime", SameSecond)
    config = TrainConfig(model="cnn")
    managers = [jobs.Jobs(tmp_path) for _ in range(8)]  # as many servers, each its own Jobs
    claimed = []

    def claim(manager):
        claimed.append(manager._claim(config))

    threads = [threading.Thread(target=claim, args=(manager,)) for manager in managers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = [out_dir.name for _, out_dir, _ in claimed]
    assert len(set(names)) == 8 and all(name.startswith("cnn-practice-seed0-20261201-120000-") for name in names)
    assert all(claim.is_dir() and claim.name == f".{name}.tmp" for (_, _, claim), name in zip(claimed, names))
    # a finished run of that name (its claim gone) is never claimed again either
    (tmp_path / "cnn-practice-seed0-20261201-120000-9").mkdir()
    assert jobs.Jobs(tmp_path)._claim(config)[1].name == "cnn-practice-seed0-20261201-120000-10"
    again = jobs.Jobs(tmp_path)
    first, second = again._claim(config)[0], again._claim(config)[0]
    shutil.rmtree(tmp_path / f".cnn-practice-seed0-{first}.tmp")  # a job that ended: its name is free on disk
    assert again._claim(config)[0] not in (first, second)  # but a job id is never given twice by one server


def test_a_read_only_runs_folder_is_said_without_a_command_line_flag(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o555)
    try:
        if os.access(runs, os.W_OK):  # root writes anywhere: make it a file's child instead
            runs = tmp_path / "a-file"
            runs.write_text("")
            runs = runs / "runs"
        with pytest.raises(jobs.CannotWrite, match="cannot write in the runs folder") as err:
            jobs.Jobs(runs)._claim(TrainConfig(model="cnn"))
        assert "--out" not in str(err.value) and "restart `mnistlab serve` with --runs" in str(err.value)
    finally:
        (tmp_path / "runs").chmod(0o755)


def test_stale_page_job_folders_are_removed_and_nothing_else(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs = tmp_path

    def page_job(name, owner_pid):
        claim = runs / f".{name}.tmp"
        claim.mkdir()
        (claim / "owner.json").write_text(json.dumps({"owners": [{"pid": owner_pid, "started": jobs.started_at(owner_pid)}]}))
        staging = runs / f".{name}.x7k2.tmp"
        staging.mkdir()
        (staging / "model.pth").write_bytes(b"half")
        return claim, staging

    killed = page_job("cnn-practice-seed0-20261201-120000-1", dead.pid)
    live = page_job("mlp-tuned-seed3-20261201-120000-2", os.getpid())
    small = page_job("mlp-small-practice-seed0-20261201-120000-3", dead.pid)  # a model name with a "-"
    orphan = runs / ".cnn-tuned-seed0-20261130-080000-1.ab12.tmp"  # from a server killed before claims existed
    orphan.mkdir()
    (orphan / "model.pth").write_bytes(b"half")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (orphan / "model.pth", orphan):
        os.utime(path, (two_days_ago, two_days_ago))
    # `mnistlab train --out runs/<a page run's name>` training now: its staging folder has no claim, but is fresh
    training = runs / ".cnn-tuned-seed0-20261201-090000-4.q9z1.tmp"
    training.mkdir()
    (training / "history.json").write_text("{}")
    os.utime(training, (two_days_ago, two_days_ago))  # made long ago, written into just now
    keep = [runs / "cnn-practice-seed0-20261201-120000-1x", runs / ".mywork.tmp", runs / ".notes.abc.tmp",
            runs / "cnn-practice-seed0", training]
    for path in keep:
        path.mkdir(exist_ok=True)
    cleaned = jobs.remove_stale_jobs(runs)
    assert sorted(cleaned) == ["cnn-practice-seed0-20261201-120000-1", "cnn-tuned-seed0-20261130-080000-1",
                               "mlp-small-practice-seed0-20261201-120000-3"]
    assert not any(path.exists() for path in (*killed, *small, orphan))
    assert all(path.exists() for path in (*live, *keep))
    jobs.Jobs(runs)  # a server starting cleans the same way, and only that
    assert all(path.exists() for path in (*live, *keep))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
def test_jobs_leak_no_descriptor_and_only_the_last_few_are_kept(tmp_path, mnist_root):
    manager = jobs.Jobs(tmp_path, mnist_root)
    first = manager.start(TrainConfig(model="mlp", max_steps=1))
    manager.cancel(first.id)
    before = open_fds()
    for _ in range(jobs.KEEP_JOBS + 3):
        job = manager.start(TrainConfig(model="mlp", max_steps=1))
        manager.cancel(job.id)
        assert job.finished and job.events[-1] == {"event": "failed", "data": {"error": "training was stopped",
                                                                                "code": "cancelled"}}
    assert open_fds() <= before  # the child's pipe and log are closed with each job
    assert len(manager.jobs) <= jobs.KEEP_JOBS + 1 and first.id not in manager.jobs
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no claim, staging or run folder left
