"""Training jobs for the studio page: one run at a time, trained by `train.train_run` (what `mnistlab
train` does) in a child process, its progress kept as events (step, epoch, done or error) that a
watcher who comes late replays from the start."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path

from mnistlab import runs
from mnistlab.config import ConfigError, TrainConfig
from mnistlab.errors import MnistlabError
from mnistlab.plots import RUNNING_AVERAGE

SETTINGS = ("model", "recipe", "epochs", "seed", "max_steps")  # what the page may choose
MAX_EPOCHS = 100
STEP_EVENT_SECONDS = 0.1  # steps are sent in batches: at most 10 step events a second
# The child trains at a low CPU priority (nice 10): the page's forward passes (1 ms each) then always get a
# core at once, while training still uses every core the page leaves idle. It keeps torch's usual
# thread count, so its numbers are exactly those of `mnistlab train` on this machine.
CHILD_NICENESS = 10
STOP_SECONDS = 1.0  # how long a stopped child gets to exit before it is killed


class Busy(MnistlabError):
    """A job is already running."""


def config_from(settings) -> TrainConfig:
    """The page's settings ({"model", "recipe", "epochs", "seed", "max_steps"}) as a TrainConfig."""
    if not isinstance(settings, dict):
        raise MnistlabError('the settings must be a JSON object such as {"model": "cnn", "recipe": "tuned"}')
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise MnistlabError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(SETTINGS)}")
    if "model" not in settings:
        raise MnistlabError('"model" is required: "mlp" or "cnn"')
    try:  # TrainConfig's own checks, as `mnistlab train` gets them
        config = TrainConfig(**{name: value for name, value in settings.items() if value is not None})
    except ConfigError as err:
        raise MnistlabError(f'"{err.setting}" {err.problem}') from None
    if settings.get("epochs") is None and config.max_steps is not None:
        # A step cap with the recipe's epochs would stop at their end (the tuned CNN's one epoch is 938
        # steps): with no epochs chosen, as many epochs as the cap needs.
        needed = -(-config.max_steps // config.steps_per_epoch())
        if needed > MAX_EPOCHS:
            raise MnistlabError(f'"max_steps" must be at most {MAX_EPOCHS * config.steps_per_epoch()} '
                                f"({MAX_EPOCHS} epochs; got {config.max_steps})")
        config = replace(config, epochs=max(config.epochs, needed))
    if config.epochs > MAX_EPOCHS:
        raise MnistlabError(f'"epochs" must be at most {MAX_EPOCHS} (got {config.epochs})')
    return config


@dataclass
class Job:
    id: str
    config: TrainConfig
    out_dir: Path
    process: subprocess.Popen
    log: object  # the child's stderr (a temporary file): its last line explains a crash
    events: list[dict] = field(default_factory=list)  # {"event": kind, "data": {...}}, in order
    finished: bool = False
    cancelled: bool = False

    def describe(self) -> dict:
        return {"id": self.id, "events": f"/api/train/{self.id}/events", "settings": asdict(self.config),
                "run": str(self.out_dir), "finished": self.finished}


class Jobs:
    """The studio's trainer: `start` a job, read its `events`, `cancel` it; one at a time.

    `on_done(run)` is called with the finished run before its `done` event is published, so a
    watcher who sees `done` finds the new network already in use."""

    def __init__(self, runs_dir: str | Path, data_dir: str | Path | None = None, on_done=None):
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self.on_done = on_done
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.counter = itertools.count(1)

    def running(self) -> Job | None:
        return next((job for job in self.jobs.values() if not job.finished), None)

    def start(self, config: TrainConfig) -> Job:
        with self.lock:
            busy = self.running()
            if busy is not None:
                raise Busy(f"a training job ({busy.id}) is already running; stop it or wait for it to finish")
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            job_id = f"{stamp}-{next(self.counter)}"
            out_dir = self.runs_dir / f"{runs.run_dir_name(config.model, config.recipe, config.seed)}-{job_id}"
            command = [sys.executable, "-m", "mnistlab.jobs", json.dumps(asdict(config)), str(out_dir),
                       str(self.data_dir or "")]
            # stderr to a file, not a pipe: a chatty child must never block on a pipe nobody reads yet
            log = tempfile.TemporaryFile("w+")
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
            job = self.jobs[job_id] = Job(job_id, config, out_dir, process, log)
        threading.Thread(target=self._follow, args=(job,), daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Stop the job (within STOP_SECONDS) and remove its unfinished run folder."""
        job = self.jobs.get(job_id)
        if job is None or job.finished:
            return job
        job.cancelled = True
        job.process.terminate()
        try:
            job.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait()
        deadline = time.monotonic() + STOP_SECONDS
        while not job.finished and time.monotonic() < deadline:  # _follow publishes the last event
            time.sleep(0.01)
        return job

    def close(self) -> None:
        """Stop whatever runs (the server is shutting down)."""
        job = self.running()
        if job is not None:
            self.cancel(job.id)

    def _publish(self, job: Job, event: str, data: dict) -> None:
        job.events.append({"event": event, "data": data})

    def _follow(self, job: Job) -> None:
        """Relay the child's events; end with `done` (after on_done) or `error`, always."""
        try:
            self._relay(job)
        except Exception as err:  # a bug here must still end the job, or it would block every next one
            self._publish(job, "error", {"error": f"the trainer failed ({type(err).__name__}: {err})",
                                         "code": "crashed"})
        finally:
            job.finished = True
            job.log.close()

    def _relay(self, job: Job) -> None:
        ending = None
        for line in job.process.stdout:
            message = json.loads(line)
            if message["event"] in ("done", "error"):
                ending = message
                break
            self._publish(job, message["event"], message["data"])
        job.process.wait()
        job.log.seek(0)
        errors = job.log.read().strip().splitlines()
        if job.cancelled:
            ending = {"event": "error", "data": {"error": "training was stopped", "code": "cancelled"}}
        elif ending is None:
            ending = {"event": "error", "data": {"error": f"the training process ended unexpectedly "
                                                          f"({errors[-1] if errors else job.process.returncode})",
                                                 "code": "crashed"}}
        elif ending["event"] == "done":
            try:
                run = runs.load_run(job.out_dir)
                if self.on_done is not None:
                    self.on_done(run)
            except MnistlabError as err:
                ending = {"event": "error", "data": {"error": str(err), "code": "crashed"}}
        if ending["event"] == "error" and job.out_dir.exists() and not (job.out_dir / "metrics.json").exists():
            shutil.rmtree(job.out_dir, ignore_errors=True)  # never left to look like a run
        self._publish(job, ending["event"], ending["data"])


class StepReporter:
    """`on_step` for train.fit in the child: each step's loss and its running average, sent in batches."""

    def __init__(self, emit, config: TrainConfig, total_steps: int):
        self.emit, self.batch_size, self.total_steps = emit, config.batch_size, total_steps
        self.window = deque(maxlen=RUNNING_AVERAGE)
        self.points: list[list[float]] = []  # [step, loss, running average] not sent yet
        self.sent_at = time.perf_counter()
        self.steps_since = 0

    def __call__(self, step: int, loss) -> None:
        value = loss.item()
        self.window.append(value)
        self.points.append([step, value, sum(self.window) / len(self.window)])
        self.steps_since += 1
        if time.perf_counter() - self.sent_at >= STEP_EVENT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.points:
            return
        now = time.perf_counter()
        step, loss, average = self.points[-1]
        self.emit("step", {"step": step, "loss": loss, "average": average, "total_steps": self.total_steps,
                           "images_per_second": self.steps_since * self.batch_size / max(now - self.sent_at, 1e-9),
                           "points": self.points})
        self.points, self.sent_at, self.steps_since = [], now, 0

    def restart_clock(self) -> None:
        """After a pause (the test-set score), so images/s counts training time only."""
        self.sent_at, self.steps_since = time.perf_counter(), 0


def child_main(config_json: str, out_dir: str, data_dir: str) -> int:
    """The child process: train_run with hooks that write one JSON event per line to stdout."""
    os.nice(CHILD_NICENESS)
    # cancel() sends SIGTERM: exit through train_run's cleanup, so no unfinished run is left behind
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints go to stderr, never into the event stream

    def emit(event: str, data: dict) -> None:
        events.write(json.dumps({"event": event, "data": data}) + "\n")

    from mnistlab import data, evaluate, train

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

        emit("start", {"settings": asdict(config), "total_steps": total_steps, "run": out_dir})
        run = train.train_run(config, Path(out_dir), status, log=lambda line: print(line, file=sys.stderr),
                              on_step=reporter, on_epoch=on_epoch)
    except MnistlabError as err:
        emit("error", {"error": str(err), "code": "failed"})
        return 1
    emit("done", {"run": str(run.path), "test_accuracy": run.metrics.overall_accuracy,
                  "train_seconds": run.metrics.train_seconds, "steps": run.metrics.steps})
    return 0


if __name__ == "__main__":
    sys.exit(child_main(*sys.argv[1:4]))
