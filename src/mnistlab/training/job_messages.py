"""The messages between a page training's child process (`job_process`) and the server's trainer
(`jobs`): one JSON object per line on the child's stdout, {"event": name, "data": {...}}.

    start   {"settings": {TrainConfig's fields}, "total_steps": N}
    step    {"step", "loss", "average", "total_steps", "images_per_second",
             "points": [[step, loss, running average], ...]}   (the steps since the last step event)
    epoch   {"epoch", "epochs", "loss", "test_accuracy", "step"}
    done    {"test_accuracy", "train_seconds", "steps"}          (the run folder is complete)
    failed  {"error": one line, "code": "failed"}

The server relays them to the page as Server-Sent Events of the same names and data, adds "run" (the
run folder, relative to the runs folder) to start and done, and ends every job with done or failed;
its own failed events carry the code "cancelled" (stopped) or "crashed" (the child died)."""

from __future__ import annotations

import json

EVENTS = ("start", "step", "epoch", "done", "failed")
ENDINGS = ("done", "failed")  # a job's last event is one of these, always


def encode(event: str, data: dict) -> str:
    """One message as a line (with its newline)."""
    return json.dumps({"event": event, "data": data}) + "\n"


def decode(line: str) -> tuple[str, dict]:
    """(event, data) of one line; ValueError for anything that is not a message."""
    message = json.loads(line)
    if not isinstance(message, dict) or message.get("event") not in EVENTS or not isinstance(message.get("data"), dict):
        raise ValueError(f"not a job message: {line[:80]!r}")
    return message["event"], message["data"]
