"""The studio's routes for looking inside: every layer's output for a drawing (POST /api/inside,
from the same inference call as its answers), learned weights (GET /api/weights/NET/LAYER, as JSON
numbers or, with ?encoding=base64, as little-endian float32 bytes), the architecture (sizes by
formula, parameters), and the page's texts in its language (GET /api/strings)."""

from __future__ import annotations

import base64
import json
import threading

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from mnistlab import i18n
from mnistlab.errors import MnistlabError
from mnistlab.nets.inside import layer_weight
from mnistlab.nets.layers import describe, format_shape
from mnistlab.web.answers import inside_answer
from mnistlab.web.deps import NetworksDep, SettingsDep
from mnistlab.web.http import BadInput, read_drawing
from mnistlab.web.strings import strings_for

ENCODINGS = ("json", "base64")

router = APIRouter()


@router.post("/api/inside")
async def inside(request: Request, networks: NetworksDep):
    content_type, body = await read_drawing(request)
    return JSONResponse(await run_in_threadpool(inside_answer, networks, content_type, body))


class WeightBodies:
    """Encoded weights, made once per network object (fc1 of the MLP is 8.5 MB of JSON and ~0.4 s
    of CPU): a network swapped in by a finished training gets new ones."""

    def __init__(self):
        self.bodies: dict[tuple[str, str, str], tuple[object, bytes]] = {}
        self.lock = threading.Lock()

    def get(self, name: str, model, layer: str, encoding: str) -> bytes:
        key = (name, layer, encoding)
        with self.lock:
            cached = self.bodies.get(key)
        if cached is not None and cached[0] is model:
            return cached[1]
        body = weights_body(model, layer, encoding)
        with self.lock:
            self.bodies[key] = (model, body)  # holds the model: `is` above never sees a recycled id
        return body


WEIGHTS = WeightBodies()


def weights_body(model, layer: str, encoding: str) -> bytes:
    values = layer_weight(model, layer)
    answer = {"shape": list(values.shape)}
    if encoding == "base64":
        answer |= {"dtype": "float32", "encoding": "base64",
                   "data": base64.b64encode(values.astype("<f4").tobytes()).decode("ascii")}
    else:
        answer["values"] = values.ravel().tolist()
    return json.dumps(answer, separators=(",", ":")).encode()


@router.get("/api/weights/{network}/{layer}")
async def weights(network: str, layer: str, networks: NetworksDep, encoding: str = "json"):
    """{"shape", "values": [numbers]}; with ?encoding=base64 {"shape", "dtype", "encoding", "data"}
    (the float32 values, little-endian, base64: a third of the bytes, no float formatting)."""
    if encoding not in ENCODINGS:
        raise BadInput(400, f"encoding must be one of {', '.join(ENCODINGS)} (got {encoding!r})")
    net = networks.loaded.get(network)
    if net is None:
        raise BadInput(404, f"no network called {network!r}; this server has {', '.join(networks.loaded)}")
    try:
        body = await run_in_threadpool(WEIGHTS.get, network, net.model, layer, encoding)
    except MnistlabError as err:
        raise BadInput(404, str(err)) from None
    return Response(body, media_type="application/json")


@router.get("/api/architecture")
async def architecture(networks: NetworksDep):
    return {name: {"layers": describe_layers(name, net.model)} for name, net in networks.loaded.items()}


@router.get("/api/strings")
async def strings(request: Request, settings: SettingsDep, lang: str | None = None):
    """The page's texts: in `lang` if given (the page's remembered switch), else in the browser's
    language (Accept-Language), else in serve's --lang."""
    if lang is not None and lang not in i18n.LANGUAGES:
        raise BadInput(400, f"lang must be one of {', '.join(i18n.LANGUAGES)} (got {lang!r})")
    chosen = lang or i18n.negotiate(request.headers.get("accept-language"), None) or settings.lang or i18n.DEFAULT
    return {"lang": chosen, "languages": list(i18n.LANGUAGES), "strings": strings_for(chosen)}


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
