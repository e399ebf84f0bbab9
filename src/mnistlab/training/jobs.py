"""The studio's trainer, the server's side of a training job: one run at a time, trained by a child
process (`job_process`) whose messages (`job_messages`) are kept as the job's events, so a watcher who
comes late replays them. Each run name is claimed on disk (a hidden `.NAME.tmp` folder made with one
mkdir), so two servers on one runs folder never train into the same folder, and what a killed job
leaves behind (no live owner) is removed when a server starts and when a job ends."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path

from mnistlab import files
from mnistlab.errors import MnistlabError
from mnistlab.training import job_messages, runs
from mnistlab.training.config import ConfigError, TrainConfig

SETTINGS = ("model", "recipe", "epochs", "seed", "max_steps")  # what the page may choose
MAX_EPOCHS = 100
STOP_SECONDS = 1.0  # how long a stopped child gets to exit before it is killed
KEEP_JOBS = 5  # finished jobs whose events stay for a late watcher; older ones are forgotten
CLAIM_GRACE_SECONDS = 60  # a claim this young with no owner yet may be a server writing it: not stale
# A staging folder with no claim beside it was left by a server from before claims existed, or is a
# `mnistlab train --out` given a page run's name, still training: only one untouched this long is removed.
ORPHAN_AGE_SECONDS = 24 * 3600
# A page run's folder: <model>-<recipe>-seed<seed>-<YYYYmmdd-HHMMSS>-<n>; only these are ever cleaned.
PAGE_RUN = r"[a-z0-9]+(?:-[a-z0-9]+)*-[a-z0-9]+-seed\d+-\d{8}-\d{6}-\d+"  # models may hold a "-": mlp-small
CLAIM = re.compile(rf"\.(?P<name>{PAGE_RUN})\.tmp")  # what Jobs.start makes
STAGING = re.compile(rf"\.(?P<name>{PAGE_RUN})\..+\.tmp")  # what the child's train_run makes (files.staging_dir)


class Busy(MnistlabError):
    """A job is already running."""


class CannotWrite(MnistlabError):
    """The runs folder cannot take a new run."""


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
    claim: Path  # the hidden folder that holds the run's name while the job lives
    process: subprocess.Popen
    log: object  # the child's stderr (a temporary file): its last line explains a crash
    events: list[dict] = field(default_factory=list)  # {"event": kind, "data": {...}}, in order
    finished: bool = False
    cancelled: bool = False

    @property
    def run(self) -> str:
        """The run folder, relative to the runs folder (answers never show this machine's paths)."""
        return self.out_dir.name

    def describe(self) -> dict:
        return {"id": self.id, "events": f"/api/train/{self.id}/events", "settings": asdict(self.config),
                "run": self.run, "finished": self.finished}


class Jobs:
    """The studio's trainer: `start` a job, read its `events`, `cancel` it; one at a time. `close`
    stops it (the server is stopping).

    `on_done(run)` is called with the finished run before its `done` event is published, so a
    watcher who sees `done` finds the new network already in use."""

    def __init__(self, runs_dir: str | Path, data_dir: str | Path | None = None, on_done=None):
        self.runs_dir = Path(runs_dir)
        self.data_dir = data_dir
        self.on_done = on_done
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.numbers = itertools.count(1)  # never a number twice here, even once a job is forgotten
        remove_stale_jobs(self.runs_dir)  # what servers killed earlier left behind

    def running(self) -> Job | None:
        return next((job for job in self.jobs.values() if not job.finished), None)

    def latest(self) -> Job | None:
        return self.running() or (list(self.jobs.values())[-1] if self.jobs else None)

    def start(self, config: TrainConfig) -> Job:
        with self.lock:
            busy = self.running()
            if busy is not None:
                raise Busy(f"a training job ({busy.id}) is already running; stop it or wait for it to finish")
            job_id, out_dir, claim = self._claim(config)
            command = [sys.executable, "-m", "mnistlab.training.job_process", json.dumps(asdict(config)), str(out_dir),
                       str(self.data_dir or "")]
            # stderr to a file, not a pipe: a chatty child must never block on a pipe nobody reads yet
            log = tempfile.TemporaryFile("w+")
            try:
                process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
            except OSError:
                log.close()
                shutil.rmtree(claim, ignore_errors=True)
                raise
            write_owner(claim, process.pid)
            job = self.jobs[job_id] = Job(job_id, config, out_dir, claim, process, log)
            self._forget_old()
        threading.Thread(target=self._follow, args=(job,), daemon=True).start()
        return job

    def _claim(self, config: TrainConfig) -> tuple[str, Path, Path]:
        """A job id and a run folder no other job here or in another process has: the first free
        name whose hidden claim folder this process makes (mkdir is atomic: one process wins)."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = runs.run_dir_name(config.model, config.recipe, config.seed)
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CannotWrite(cannot_write(self.runs_dir, err)) from None
        for n in self.numbers:  # the claim on disk, not this count, settles it between processes
            job_id = f"{stamp}-{n}"
            out_dir = self.runs_dir / f"{base}-{job_id}"
            claim = claim_of(out_dir)
            if job_id in self.jobs or out_dir.exists():
                continue
            try:
                claim.mkdir()
            except FileExistsError:
                continue  # another job, here or in another server, has this name
            except OSError as err:
                raise CannotWrite(cannot_write(self.runs_dir, err)) from None
            if out_dir.exists():  # finished by its owner between our two looks: not ours
                claim.rmdir()
                continue
            return job_id, out_dir, claim

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self.jobs.items() if job.finished]
        for job_id in finished[: max(len(finished) - KEEP_JOBS, 0)]:
            del self.jobs[job_id]

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
        """Stop whatever runs (the server is stopping); its event streams end with `failed`."""
        job = self.running()
        if job is not None:
            self.cancel(job.id)

    def _publish(self, job: Job, event: str, data: dict) -> None:
        if event in ("start", "done"):
            data = {**data, "run": job.run}
        job.events.append({"event": event, "data": data})

    def _follow(self, job: Job) -> None:
        """Relay the child's messages; end with `done` (after on_done) or `failed`, always."""
        try:
            self._relay(job)
        except Exception as err:  # a bug here must still end the job, or it would block every next one
            job.process.kill()
            job.process.wait()
            self._publish(job, "failed", {"error": f"the trainer failed ({type(err).__name__}: {err})",
                                          "code": "crashed"})
        finally:
            job.process.stdout.close()
            job.log.close()
            files.remove_stale(job.out_dir)  # a child killed in the middle leaves its staging folder
            shutil.rmtree(job.claim, ignore_errors=True)
            job.finished = True
            remove_stale_jobs(self.runs_dir)

    def _relay(self, job: Job) -> None:
        ending = None
        for line in job.process.stdout:
            event, data = job_messages.decode(line)
            if event in job_messages.ENDINGS:
                ending = (event, data)
                break
            self._publish(job, event, data)
        job.process.wait()
        job.log.seek(0)
        errors = job.log.read().strip().splitlines()
        if job.cancelled:
            ending = ("failed", {"error": "training was stopped", "code": "cancelled"})
        elif ending is None:
            ending = ("failed", {"error": f"the training process ended unexpectedly "
                                          f"({errors[-1] if errors else job.process.returncode})", "code": "crashed"})
        elif ending[0] == "done":
            try:
                run = runs.load_run(job.out_dir)
                if self.on_done is not None:
                    self.on_done(run)
            except MnistlabError as err:
                ending = ("failed", {"error": str(err), "code": "crashed"})
        if ending[0] == "failed" and job.out_dir.exists() and not (job.out_dir / "metrics.json").exists():
            shutil.rmtree(job.out_dir, ignore_errors=True)  # never left to look like a run
        self._publish(job, *ending)


def cannot_write(runs_dir: Path, err: OSError) -> str:
    return (f"cannot write in the runs folder {runs_dir.name or runs_dir} ({err.strerror}); "
            f"restart `mnistlab serve` with --runs set to a folder you can write to")


def claim_of(out_dir: Path) -> Path:
    return out_dir.with_name(f".{out_dir.name}.tmp")


def write_owner(claim: Path, child_pid: int) -> None:
    """Who keeps the claim alive: this server and its child (with their start times: pids are reused)."""
    owners = [{"pid": pid, "started": started_at(pid)} for pid in (os.getpid(), child_pid)]
    files.write_json(claim / "owner.json", {"owners": owners})


def started_at(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where /proc is absent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(owner: dict) -> bool:
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, if it is the same one
        pass
    return owner.get("started") is None or owner.get("started") == started_at(pid)


def has_live_owner(claim: Path) -> bool:
    try:
        owners = json.loads((claim / "owner.json").read_text())["owners"]
        return any(alive(owner) for owner in owners)
    except (OSError, ValueError, KeyError, TypeError):  # no owner written (yet), or damaged
        try:
            return time.time() - claim.stat().st_mtime < CLAIM_GRACE_SECONDS
        except OSError:
            return False


def last_touched(folder: Path) -> float:
    """The newest modification time of `folder` and what it holds (a training writes into its staging
    folder); now, if it cannot be read."""
    try:
        return max([folder.stat().st_mtime] + [path.lstat().st_mtime for path in folder.rglob("*")])
    except OSError:
        return time.time()


def remove_stale_jobs(runs_dir: Path) -> list[str]:
    """Remove the hidden folders of page jobs whose owner is gone (a killed server or child): their
    claim and staging folders, named after a page run; a staging folder with no claim only once it is
    ORPHAN_AGE_SECONDS old. Nothing else is ever touched. Returns the run names cleaned."""
    try:
        entries = [entry for entry in Path(runs_dir).iterdir() if entry.is_dir() and not entry.is_symlink()]
    except OSError:
        return []
    claims = {m["name"]: entry for entry in entries if (m := CLAIM.fullmatch(entry.name))}
    staged: dict[str, list[Path]] = {}
    for entry in entries:
        if m := STAGING.fullmatch(entry.name):
            staged.setdefault(m["name"], []).append(entry)
    cleaned = []
    for name in sorted(set(staged) | set(claims)):
        claim = claims.get(name)
        if claim is not None and has_live_owner(claim):
            continue
        if claim is None and any(time.time() - last_touched(entry) < ORPHAN_AGE_SECONDS for entry in staged[name]):
            continue  # not known to be ours, and maybe still being written
        files.remove_stale(Path(runs_dir) / name)
        if claim is not None:
            shutil.rmtree(claim, ignore_errors=True)
        cleaned.append(name)
    return cleaned
