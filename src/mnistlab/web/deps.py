"""What the routers get through `Depends` (FastAPI's deps.py style): the networks being served, the
page's trainer and event-stream slots, and the server's settings, all kept on `app.state` by
`create_app` and its lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from mnistlab.inference.predict import Networks
from mnistlab.training.jobs import Jobs
from mnistlab.web.http import BadInput


@dataclass(frozen=True)
class Settings:
    runs_dir: Path  # where the page's trainings go, and what paths in answers are relative to
    allow_training: bool  # whether the page may train
    lang: str | None  # the page's language when the browser states none (serve's --lang)


def get_networks(request: Request) -> Networks:
    return request.app.state.networks


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_jobs(request: Request) -> Jobs:
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is None:  # the lifespan starts it: a TestClient must be used as `with TestClient(app)`
        raise BadInput(503, "the trainer is not running (the server is starting or stopping)")
    return jobs


def allowed_to_train(settings: Annotated[Settings, Depends(get_settings)]) -> None:
    if not settings.allow_training:
        raise BadInput(403, "training from the page is off: the server listens on a non-loopback address; "
                            "restart `mnistlab serve` with --allow-training to turn it on", "forbidden")


NetworksDep = Annotated[Networks, Depends(get_networks)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
