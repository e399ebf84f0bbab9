"""The studio's run picker: which runs and .pth files each network can answer with (GET /api/runs),
and choosing one (POST /api/use), remembered in <runs>/served.json across a restart. A run trained
from the page is offered here; it does not replace the served network unless chosen."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from mnistlab.data import IMAGE_SIDE
from mnistlab.errors import MnistlabError
from mnistlab.inference import served
from mnistlab.inference.predict import Networks, choice_network, run_network
from mnistlab.nets.inside import layer_outputs
from mnistlab.nets.models import MODELS
from mnistlab.web.http import BadInput, parse_json, read_body

router = APIRouter()


class Picker:
    """What the picker needs of the app: the served networks, the runs folder, the files given to
    serve and the runs trained from the page since it started (offered, newest last)."""

    def __init__(self, networks: Networks, runs_dir, files: dict | None = None, allow_changes: bool = True):
        self.networks = networks
        self.runs_dir = Path(runs_dir)
        self.files = {name: Path(path) for name, path in (files or {}).items() if path is not None}
        self.allow_changes = allow_changes
        self.offered: list[str] = []
        self.lock = threading.Lock()  # /api/use (threadpool) and the trainer's offer() change the same state

    def offer(self, run) -> None:
        """A run finished on the page: served at once only where its network had nothing to answer
        with; otherwise offered, the served network left as it was."""
        with self.lock:
            if run.model not in self.networks.loaded:
                self.networks.use(warm(run_network(run)))
            elif run.path.name not in self.offered:
                self.offered.append(run.path.name)

    def use(self, network: str, choice_id: str) -> dict:
        if network not in MODELS:
            raise MnistlabError(f'"network" must be one of {", ".join(MODELS)} (got {network!r})')
        with self.lock:
            choice = served.find_choice(self.runs_dir, choice_id, self.files)
            if choice.model != network:
                raise MnistlabError(f"{choice_id} is a {choice.model} run or file, not a {network} one")
            loaded = warm(choice_network(choice))
            served.write_choice(self.runs_dir, network, choice_id)  # first: if it cannot be kept, nothing changes
            self.networks.use(loaded)
            self.offered = [run for run in self.offered if run != choice_id]
            return self.networks.loaded[network].describe()


def warm(network):
    """The first forward pass is the slow one: made before the page's first drawing reaches it."""
    layer_outputs(network.model, np.zeros((IMAGE_SIDE, IMAGE_SIDE), np.float32))
    return network


def get_picker(request: Request) -> Picker:
    return request.app.state.picker


PickerDep = Annotated[Picker, Depends(get_picker)]


def serving_id(net) -> str | None:
    return net.run if net.run else (served.FILE_PREFIX + Path(net.file).name if net.file else None)


@router.get("/api/runs")
async def list_runs(picker: PickerDep):
    """{"runs": [{"id", "model", "recipe", "steps", "epochs", "test_accuracy", "train_accuracy",
    "source"}, ...] newest run first then the files, "serving": {network: id or null}, "offered": [id]}."""
    found = await run_in_threadpool(served.choices, picker.runs_dir, picker.files)
    return {"runs": [choice.describe() for choice in found],
            "serving": {name: serving_id(net) for name, net in picker.networks.loaded.items()},
            "offered": list(picker.offered)}


@router.post("/api/use")
async def use(request: Request, picker: PickerDep):
    """{"network": "cnn", "run": "<id from /api/runs>"} → the network now served (as /api/info's)."""
    if not picker.allow_changes:
        raise BadInput(403, "choosing the served networks is off: the server listens on a non-loopback address; "
                            "restart `mnistlab serve` with --allow-training to turn it on", "forbidden")
    body = await read_body(request, empty=None)  # BodyLimit has kept it under MAX_BODY
    try:
        asked = parse_json(body or b"null", "the choice")
    except MnistlabError:
        raise BadInput(400, 'send a JSON object such as {"network": "cnn", "run": "cnn-tuned-seed0"}',
                       "bad_request") from None
    if not isinstance(asked, dict) or set(asked) != {"network", "run"} or not all(
            isinstance(asked[k], str) for k in asked):
        raise BadInput(422, 'send a JSON object with the strings "network" and "run", such as '
                            '{"network": "cnn", "run": "cnn-tuned-seed0"}', "unprocessable")
    try:
        return await run_in_threadpool(picker.use, asked["network"], asked["run"])
    except MnistlabError as err:
        status = 404 if "no finished run or .pth file called" in str(err) else 422
        raise BadInput(status, str(err)) from None
