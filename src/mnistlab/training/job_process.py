"""The child process of a studio training job: `train.train_run` (what `mnistlab train` does) with
hooks that send its progress to the server as `job_messages` lines on stdout. Started by `jobs.Jobs`
as `python -m mnistlab.training.job_process CONFIG_JSON OUT_DIR DATA_DIR`."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path

import torch

from mnistlab import data
from mnistlab.errors import MnistlabError
from mnistlab.inference import evaluate
from mnistlab.plots import RUNNING_AVERAGE  # the child draws the loss figure anyway
from mnistlab.training import job_messages, train
from mnistlab.training.config import TrainConfig

STEP_EVENT_SECONDS = 0.1  # steps are sent in batches: at most 10 step events a second
# The child trains at a low CPU priority (nice 10): the page's forward passes (1 ms each) then always get a
# core at once, while training still uses every core the page leaves idle. It keeps torch's usual
# thread count, so its numbers are exactly those of `mnistlab train` on this machine.
CHILD_NICENESS = 10


class StepReporter:
    """`on_step` for train.fit: each step's loss and its running average, sent in batches. The loss
    tensors are kept as they come and read once per batch: one device sync per step event, not per step."""

    def __init__(self, emit, config: TrainConfig, total_steps: int):
        self.emit, self.batch_size, self.total_steps = emit, config.batch_size, total_steps
        self.window = deque(maxlen=RUNNING_AVERAGE)
        self.steps: list[int] = []  # steps not sent yet, and their loss tensors
        self.losses: list[torch.Tensor] = []
        self.sent_at = time.perf_counter()

    def __call__(self, step: int, loss: torch.Tensor) -> None:
        self.steps.append(step)
        self.losses.append(loss.detach())
        if time.perf_counter() - self.sent_at >= STEP_EVENT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.steps:
            return
        values = torch.stack(self.losses).float().cpu().tolist()  # the one sync
        points = []
        for step, value in zip(self.steps, values):
            self.window.append(value)
            points.append([step, value, sum(self.window) / len(self.window)])
        now = time.perf_counter()
        step, loss, average = points[-1]
        self.emit("step", {"step": step, "loss": loss, "average": average, "total_steps": self.total_steps,
                           "images_per_second": len(points) * self.batch_size / max(now - self.sent_at, 1e-9),
                           "points": points})
        self.steps, self.losses, self.sent_at = [], [], now

    def restart_clock(self) -> None:
        """After a pause (the test-set score), so images/s counts training time only."""
        self.sent_at = time.perf_counter()


def main(config_json: str, out_dir: str, data_dir: str) -> int:
    """Train into `out_dir`, one message per event on stdout; 0 when the run folder is complete."""
    os.nice(CHILD_NICENESS)
    # the server stops a job with SIGTERM: exit through train_run's cleanup, so no unfinished run is left
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in serve's terminal: the server stops the child
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints go to stderr, never into the messages

    def emit(event: str, data: dict) -> None:
        events.write(job_messages.encode(event, data))

    config = TrainConfig(**json.loads(config_json))
    try:
        status = data.ensure_mnist(data_dir or None)
        test_images, test_labels = data.load_split(status.root, "test")
        total_steps = config.total_steps()
        reporter = StepReporter(emit, config, total_steps)

        def on_epoch(epoch, result):
            reporter.flush()
            device = next(result.model.parameters()).device
            accuracy = evaluate.evaluate(result.model, test_images, test_labels, device).overall_accuracy
            emit("epoch", {"epoch": epoch, "epochs": config.epochs, "loss": result.epoch_loss[-1],
                           "test_accuracy": accuracy, "step": result.steps})
            reporter.restart_clock()

        emit("start", {"settings": asdict(config), "total_steps": total_steps})
        run = train.train_run(config, Path(out_dir), status, log=lambda line: print(line, file=sys.stderr),
                              on_step=reporter, on_epoch=on_epoch)
    except MnistlabError as err:
        emit("failed", {"error": str(err), "code": "failed"})
        return 1
    emit("done", {"test_accuracy": run.metrics.overall_accuracy, "train_seconds": run.metrics.train_seconds,
                  "steps": run.metrics.steps})
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
