"""The studio's lab routes: GET /api/lab says which pixel-permuted networks exist; POST /api/lab
answers a drawing moved, rotated and (un)centred, with every layer of each network and its confidence
as the drawing slides −6..+6 px (lab.lab_answer), in one request.

POST /api/lab?dx=0&dy=0&angle=0&centre=true&permuted=false takes the drawing as /api/inside does
(image/png or image/jpeg; with centre=true also a data URL or JSON). centre=false puts the drawing in
where it was drawn (preprocess.to_field); permuted=true answers with the latest --permute-pixels runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mnistlab.errors import MnistlabError
from mnistlab.inference.predict import Networks, load_latest
from mnistlab.inference.preprocess import BlankImage, image_to_field
from mnistlab.nets.models import lesson_models
from mnistlab.robustness.drawing import check_controls, lab_answer
from mnistlab.web.http import IMAGE_TYPES, BadInput, image_of, read_drawing

router = APIRouter()


def permuted_networks(app) -> Networks | None:
    """The latest --permute-pixels run of each lesson network in the app's runs folder, or None."""
    runs_dir = getattr(app.state, "runs_dir", None)
    if runs_dir is None or not Path(runs_dir).is_dir():
        return None
    try:
        networks = load_latest(runs_dir, tuple(lesson_models()), permuted=True)
    except MnistlabError:
        return None
    networks.predict(np.zeros((1, 28, 28), np.float32))  # warm up before the page uses them
    return networks


@router.get("/api/lab")
async def lab_info(request: Request):
    """Which networks the page may swap in (looked for again on every call: a run may have finished)."""
    networks = await run_in_threadpool(permuted_networks, request.app)
    request.app.state.lab_permuted = networks
    return {"permuted": [] if networks is None else [net.describe() for net in networks.loaded.values()]}


@router.post("/api/lab")
async def lab(request: Request, dx: int = 0, dy: int = 0, angle: float = 0.0, centre: bool = True,
              permuted: bool = False):
    try:
        check_controls(dx, dy, angle)
    except MnistlabError as err:
        raise BadInput(400, str(err)) from None
    networks = request.app.state.networks
    if permuted:
        networks = getattr(request.app.state, "lab_permuted", None) or await run_in_threadpool(
            permuted_networks, request.app)
        if networks is None:
            raise BadInput(404, "no pixel-permuted network on this server; "
                                "`mnistlab train mlp --permute-pixels` (and cnn) makes them")
        request.app.state.lab_permuted = networks
    content_type, body = await read_drawing(request)

    def work():
        if centre:
            image = image_of(content_type, body)
        elif content_type not in IMAGE_TYPES:
            raise BadInput(415, "centre=false takes the drawing as image/png or image/jpeg")
        else:
            try:
                image = image_to_field(body, "the request body")
            except BlankImage as err:
                raise BadInput(422, str(err), "blank") from None
            except MnistlabError as err:
                raise BadInput(400, str(err), "bad_image") from None
        return lab_answer(networks, image, dx, dy, angle)

    return JSONResponse(await run_in_threadpool(work))
