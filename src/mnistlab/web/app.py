"""The FastAPI app behind `mnistlab serve`: the drawing page (static files, no CDN) and
`POST /api/predict`, which answers every bad input with a 4xx and a JSON {"error": ...}.

What /api/predict accepts, by Content-Type:
  image/png, image/jpeg      the image file's bytes
  text/plain                 a data URL: data:image/png;base64,...  (what canvas.toDataURL() gives)
  application/json           {"image": "data:image/png;base64,..."} or {"pixels": [784 numbers in [0, 1]]}
                             (pixels: an already-prepared 28×28 image, row by row, white ink on black)
It answers {"mlp": {"digit", "confidence", "probabilities": [10]}, "cnn": {...}, "input": [784]}."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from mnistlab.errors import MnistlabError
from mnistlab.models import MODELS
from mnistlab.preprocess import BlankImage, image_to_mnist, pixels_to_mnist
from mnistlab.predict import Networks, from_models, load_latest
from mnistlab.web.guard import install_guard

STATIC = Path(__file__).parent / "static"
MAX_BODY = 1 << 20  # 1 MB: a 280×280 canvas PNG is about 10 kB
IMAGE_TYPES = ("image/png", "image/jpeg")
DATA_URL_PREFIXES = ("data:image/png;base64,", "data:image/jpeg;base64,")
ERROR_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "not_allowed", 409: "busy",
               413: "too_large", 415: "unsupported_type", 422: "unprocessable"}


class BadInput(Exception):
    """A request the client must change: `status` is its 4xx code."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or ERROR_CODES.get(status)  # stable, for the page to show its own translation


def create_app(runs_dir: str | Path = "runs", models: dict | None = None, allow_training: bool = True,
               lang: str | None = None, data_dir: str | Path | None = None) -> FastAPI:
    """The app, serving `models` ({"mlp": module, ...}) if given, else the latest runs in `runs_dir`.
    `allow_training`: whether the page may train (into `runs_dir`); `lang`: the page's language
    when the browser states none."""
    from mnistlab.web.lab_routes import router as lab_router
    from mnistlab.web.studio import studio_router

    networks = from_models(models) if models is not None else load_latest(runs_dir)
    networks.predict(np.zeros((1, 28, 28), np.float32))  # warm up: the first forward pass is the slow one
    app = FastAPI(title="mnistlab", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.networks = networks
    app.state.runs_dir = Path(runs_dir)
    install_guard(app)

    @app.exception_handler(BadInput)
    async def bad_input(request, err: BadInput):
        return JSONResponse({"error": str(err), "code": err.code}, status_code=err.status)

    @app.exception_handler(HTTPException)
    async def http_error(request, err: HTTPException):  # 404, 405: the same JSON shape
        return JSONResponse({"error": str(err.detail), "code": ERROR_CODES.get(err.status_code, "error")},
                            status_code=err.status_code)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/info")
    async def info():
        return {"networks": [net.describe() for net in networks.loaded.values()], "missing": networks.missing,
                "max_bytes": MAX_BODY,
                "models": [{**entry.describe(), "lesson": entry.lesson} for entry in MODELS.values()]}

    @app.post("/api/predict")
    async def predict(request: Request):
        content_type, body = await read_image_request(request)
        return JSONResponse(await run_in_threadpool(answer, networks, content_type, body))

    app.include_router(studio_router(app, runs_dir, allow_training, lang, data_dir))
    app.include_router(lab_router)  # moved, rotated, uncentred drawings and the permuted networks
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def read_image_request(request: Request) -> tuple[str, bytes]:
    """(content type, body) of a request that carries a drawing; 415 for a type that cannot."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (*IMAGE_TYPES, "text/plain", "application/json"):
        raise BadInput(415, f"unsupported Content-Type {content_type or '(none)'!r}; send image/png, "
                            f"image/jpeg, text/plain (a data URL) or application/json")
    return content_type, await read_body(request)


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes MAX_BODY (never read whole first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BadInput(413, f"the payload is {int(declared):,} bytes; at most {MAX_BODY:,} are accepted")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise BadInput(413, f"the payload is over {MAX_BODY:,} bytes; at most {MAX_BODY:,} are accepted")
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or dropped for being too slow: one line, not a traceback
        logging.getLogger("mnistlab.web").warning("a client left before sending its whole request (%s bytes)", size)
        raise BadInput(400, "the request body was not sent whole") from None
    if size == 0:
        raise BadInput(400, "the request body is empty; send a PNG of the drawing")
    return b"".join(chunks)


def image_of(content_type: str, body: bytes) -> np.ndarray:
    """The 28×28 MNIST-style input in a request body; 422 for a blank drawing, 400 for the rest."""
    try:
        return decode(content_type, body)
    except BlankImage as err:
        raise BadInput(422, str(err), "blank") from None
    except MnistlabError as err:
        raise BadInput(400, str(err), "bad_image") from None


def answer(networks: Networks, content_type: str, body: bytes) -> dict:
    """Decode, preprocess and predict (runs in a worker thread: it is CPU work)."""
    image = image_of(content_type, body)  # (28, 28)
    probabilities = networks.predict(image[None])
    result = {name: prediction(p[0]) for name, p in probabilities.items()}
    result["input"] = [round(float(v), 4) for v in image.ravel()]
    return result


def prediction(probabilities: np.ndarray) -> dict:
    digit = int(probabilities.argmax())
    return {"digit": digit, "confidence": float(probabilities[digit]),
            "probabilities": [float(p) for p in probabilities]}


def decode(content_type: str, body: bytes) -> np.ndarray:
    if content_type in IMAGE_TYPES:
        return image_to_mnist(body, "the request body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MnistlabError(f"a {content_type} body must be UTF-8 text") from None
    if content_type == "text/plain":
        return image_to_mnist(from_data_url(text.strip()), "the data URL's image")
    try:
        payload = json.loads(text)  # NaN and Infinity parse; pixels_to_mnist refuses them
    except json.JSONDecodeError as err:
        raise MnistlabError(f"the JSON body is malformed ({err.msg} at character {err.pos})") from None
    except (ValueError, RecursionError):  # integers of over 4,300 digits; nesting deeper than Python's stack
        raise MnistlabError("the JSON body is malformed (a number too long or nesting too deep)") from None
    if not isinstance(payload, dict) or len(payload.keys() & {"image", "pixels"}) != 1:
        raise MnistlabError('the JSON body must be an object with one of "image" (a data URL) or "pixels" (784 numbers)')
    if "pixels" in payload:
        return pixels_to_mnist(payload["pixels"])
    if not isinstance(payload["image"], str):
        raise MnistlabError('"image" must be a data URL string: data:image/png;base64,...')
    return image_to_mnist(from_data_url(payload["image"]), "the data URL's image")


def from_data_url(url: str) -> bytes:
    prefix = next((p for p in DATA_URL_PREFIXES if url[: len(p)].lower() == p), None)
    if prefix is None:
        raise MnistlabError("expected a data URL starting with data:image/png;base64, or data:image/jpeg;base64,")
    try:
        return base64.b64decode(url[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        raise MnistlabError("the data URL's base64 part is malformed") from None
