"""The studio's routes: every layer's output for a drawing (POST /api/inside), learned weights and the
architecture (sizes by formula, parameters), training from the page (POST/GET/DELETE /api/train...,
progress as Server-Sent Events) and the page's texts in its language (GET /api/strings)."""

from __future__ import annotations

import asyncio
import atexit
import json

import numpy as np
import torch
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mnistlab import i18n
from mnistlab.data import IMAGE_SIDE
from mnistlab.errors import MnistlabError
from mnistlab.inside import layer_outputs, layer_weight
from mnistlab.jobs import Busy, Jobs, config_from
from mnistlab.layers import describe, format_shape
from mnistlab.predict import Networks
from mnistlab.web.strings import strings_for

EVENT_POLL_SECONDS = 0.1


def studio_router(app: FastAPI, runs_dir, allow_training: bool, lang: str | None, data_dir=None) -> APIRouter:
    from mnistlab.web.app import MAX_BODY, BadInput, image_of, read_image_request

    router = APIRouter()
    networks: Networks = app.state.networks
    default_lang = i18n.check_lang(lang) if lang else None
    jobs = app.state.jobs = Jobs(runs_dir, data_dir, on_done=app.state.picker.offer)  # offered, not swapped in
    atexit.register(jobs.close)  # a job never outlives the server

    @router.post("/api/inside")
    async def inside(request: Request):
        content_type, body = await read_image_request(request)
        return JSONResponse(await run_in_threadpool(inside_answer, networks, image_of(content_type, body)))

    @router.get("/api/weights/{network}/{layer}")
    async def weights(network: str, layer: str):
        net = networks.loaded.get(network)
        if net is None:
            raise BadInput(404, f"no network called {network!r}; this server has {', '.join(networks.loaded)}")
        try:
            values = layer_weight(net.model, layer)
        except MnistlabError as err:
            raise BadInput(404, str(err)) from None
        return {"shape": list(values.shape), "values": values.ravel().tolist()}

    @router.get("/api/architecture")
    async def architecture():
        return {name: {"layers": describe_layers(name, net.model)} for name, net in networks.loaded.items()}

    @router.get("/api/strings")
    async def strings(request: Request, lang: str | None = None):
        """The page's texts: in `lang` if given (the page's remembered switch), else in the browser's
        language (Accept-Language), else in serve's --lang."""
        if lang is not None and lang not in i18n.LANGUAGES:
            raise BadInput(400, f"lang must be one of {', '.join(i18n.LANGUAGES)} (got {lang!r})")
        chosen = lang or browser_lang(request.headers.get("accept-language")) or default_lang or i18n.DEFAULT
        return {"lang": chosen, "languages": list(i18n.LANGUAGES), "strings": strings_for(chosen)}

    def check_training_allowed():
        if not allow_training:
            raise BadInput(403, "training from the page is off: the server listens on a non-loopback address; "
                                "restart `mnistlab serve` with --allow-training to turn it on", "forbidden")

    @router.get("/api/train")
    async def training_state():
        job = jobs.running() or (list(jobs.jobs.values())[-1] if jobs.jobs else None)
        return {"allowed": allow_training, "job": job.describe() if job else None}

    @router.post("/api/train", status_code=202)
    async def train(request: Request):
        check_training_allowed()
        body = await request.body()
        if len(body) > MAX_BODY:
            raise BadInput(413, f"the settings are over {MAX_BODY:,} bytes")
        try:
            settings = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise BadInput(400, "the settings are not valid JSON; send an object such as "
                                '{"model": "cnn", "recipe": "tuned"}', "bad_settings") from None
        try:
            config = config_from(settings)
        except MnistlabError as err:
            raise BadInput(422 if isinstance(settings, dict) else 400, str(err), "bad_settings") from None
        try:
            job = await run_in_threadpool(jobs.start, config)
        except Busy as err:
            raise BadInput(409, str(err), "busy") from None
        return JSONResponse(job.describe(), status_code=202)

    @router.get("/api/train/{job_id}/events")
    async def events(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            raise BadInput(404, f"no training job {job_id!r}")
        return StreamingResponse(event_stream(job), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @router.delete("/api/train/{job_id}")
    async def cancel(job_id: str):
        check_training_allowed()
        job = await run_in_threadpool(jobs.cancel, job_id)
        if job is None:
            raise BadInput(404, f"no training job {job_id!r}")
        return job.describe()

    return router


def browser_lang(accept_language: str | None) -> str | None:
    """The best of our languages the browser asks for, or None when it asks for none of them."""
    tags = [part.split(";")[0].strip().lower()[:2] for part in (accept_language or "").split(",")]
    return i18n.negotiate(accept_language) if set(tags) & set(i18n.LANGUAGES) else None


async def event_stream(job):
    """The job's events so far, then the live ones, as Server-Sent Events; ends after done/error."""
    sent = 0
    while True:
        finished = job.finished  # read first: every event is published before `finished` is set
        for event in job.events[sent:]:
            sent += 1
            yield f"event: {event['event']}\ndata: {json.dumps(event['data'])}\n\n"
        if finished:
            return
        await asyncio.sleep(EVENT_POLL_SECONDS)


def inside_answer(networks: Networks, image: np.ndarray) -> dict:
    """Every layer of every network for one 28×28 image (runs in a worker thread)."""
    answer = {"input": [round(float(v), 4) for v in image.ravel()], "networks": {}}
    for name, net in networks.loaded.items():
        layers = layer_outputs(net.model, image)
        logits = torch.from_numpy(layers[-1].values)
        answer["networks"][name] = {
            "digit": int(logits.argmax()),
            "probabilities": logits.softmax(dim=0).tolist(),  # as Networks.predict computes them
            "layers": [{"name": layer.name, "shape": list(layer.shape),
                        "values": np.round(layer.values.ravel().astype(np.float64), 4).tolist()} for layer in layers],
        }
    return answer


def describe_layers(name: str, model) -> list[dict]:
    """layers.describe's rows as JSON: per step, its role, output shape, how its size follows from
    its input (O = (W − F + 2P)/S + 1 for convolution and pooling) and its parameters."""
    return [{"name": row.name, "kind": row.kind, "role": row.role, "relu": row.relu,
             "shape": list(row.output_shape), "shape_text": format_shape(row.output_shape),
             "working": row.working, "kernel": row.kernel, "stride": row.stride, "padding": row.padding,
             "parameters": None if row.weight_shape is None else {
                 "weight_shape": list(row.weight_shape), "weights": row.weights, "biases": row.biases,
                 "total": row.total}}
            for row in describe(model)]


