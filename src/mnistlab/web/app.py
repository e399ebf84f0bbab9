"""The FastAPI app behind `mnistlab serve`: the drawing page (static files, no CDN) and
`POST /api/predict`, which answers every bad input with a 4xx and a JSON {"error": ..., "code": ...}.
The studio's routes are in studio.py and training.py; what they share in http.py and deps.py.

/api/predict takes a drawing in any of the forms http.py lists and answers
{"mlp": {"digit", "confidence", "probabilities": [10]}, "cnn": {...}, "input": [784]}."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from mnistlab import i18n
from mnistlab.data import IMAGE_SIDE
from mnistlab.inference.predict import from_models, load_networks
from mnistlab.nets.models import MODELS
from mnistlab.training.jobs import Jobs
from mnistlab.web import lab_routes, picker, studio, training
from mnistlab.web.answers import predict_answer
from mnistlab.web.deps import NetworksDep, Settings, SettingsDep
from mnistlab.web.guard import Guard
from mnistlab.web.http import ERROR_CODES, MAX_BODY, BadInput, BodyLimit, error_response, read_drawing

STATIC = Path(__file__).parent / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def index():
    return FileResponse(STATIC / "index.html")


@router.get("/api/info")
async def info(networks: NetworksDep, settings: SettingsDep):
    return {"networks": [net.describe(settings.runs_dir) for net in networks.loaded.values()],
            "missing": networks.missing, "max_bytes": MAX_BODY,
            "models": [{**entry.describe(), "lesson": entry.lesson} for entry in MODELS.values()]}


@router.post("/api/predict")
async def predict(request: Request, networks: NetworksDep):
    content_type, body = await read_drawing(request)
    return JSONResponse(await run_in_threadpool(predict_answer, networks, content_type, body))


def create_app(runs_dir: str | Path = "runs", models: dict | None = None, allow_training: bool = True,
               lang: str | None = None, data_dir: str | Path | None = None,
               files: dict[str, Path | None] | None = None) -> FastAPI:
    """The app, serving `models` ({"mlp": module, ...}) if given, else the .pth `files` ({"mlp": path})
    given and the runs chosen on the page (else the latest) in `runs_dir` for the others.
    `allow_training`: whether the page may train (into `runs_dir`); `lang`: the page's language
    when the browser states none. The trainer starts and stops with the app (its lifespan)."""
    networks = from_models(models) if models is not None else load_networks(runs_dir, files=files, chosen=True)
    networks.predict(np.zeros((1, IMAGE_SIDE, IMAGE_SIDE), np.float32))  # warm up: the first pass is the slow one

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # a run trained on the page is offered in the picker, not swapped in
        app.state.jobs = Jobs(runs_dir, data_dir, on_done=app.state.picker.offer)
        try:
            yield
        finally:
            jobs, app.state.jobs = app.state.jobs, None
            await run_in_threadpool(jobs.close)  # a job never outlives the server

    app = FastAPI(title="mnistlab", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.networks = networks
    app.state.picker = picker.Picker(networks, runs_dir, files, allow_training)
    app.state.runs_dir = Path(runs_dir)  # the lab's routes look for permuted runs there
    app.state.settings = Settings(Path(runs_dir), allow_training, i18n.check_lang(lang) if lang else None)
    app.state.streams = training.StreamSlots()
    app.add_middleware(BodyLimit)
    app.add_middleware(Guard)  # outermost: a refused caller costs nothing else
    app.add_exception_handler(BadInput, bad_input)
    app.add_exception_handler(HTTPException, http_error)
    app.include_router(router)
    app.include_router(studio.router)
    app.include_router(training.router)
    app.include_router(picker.router)
    app.include_router(lab_routes.router)  # moved, rotated, uncentred drawings and the permuted networks
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def bad_input(request, err: BadInput):
    return error_response(err)


async def http_error(request, err: HTTPException):  # 404, 405: the same JSON shape
    return JSONResponse({"error": str(err.detail), "code": ERROR_CODES.get(err.status_code, "error")},
                        status_code=err.status_code)

