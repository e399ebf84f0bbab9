"""What every route shares: the 4xx error a client must act on (`BadInput`), the one body limit
(checked by `BodyLimit` before anything is read), reading a body, and turning a drawing's body into
the 28×28 network input.

What a drawing's body may be, by Content-Type:
  image/png, image/jpeg      the image file's bytes
  text/plain                 a data URL: data:image/png;base64,...  (what canvas.toDataURL() gives)
  application/json           {"image": "data:image/png;base64,..."} or {"pixels": [784 numbers in [0, 1]]}
                             (pixels: an already-prepared 28×28 image, row by row, white ink on black)"""

from __future__ import annotations

import base64
import binascii
import json
import logging

import numpy as np
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from mnistlab.errors import MnistlabError
from mnistlab.inference.preprocess import BlankImage, image_to_mnist, pixels_to_mnist

MAX_BODY = 1 << 20  # 1 MB, for every route: a 280×280 canvas PNG is about 10 kB, the training settings 100 B
IMAGE_TYPES = ("image/png", "image/jpeg")
DRAWING_TYPES = (*IMAGE_TYPES, "text/plain", "application/json")
DATA_URL_PREFIXES = ("data:image/png;base64,", "data:image/jpeg;base64,")
ERROR_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "not_allowed", 409: "busy",
               413: "too_large", 415: "unsupported_type", 422: "unprocessable", 429: "too_many",
               503: "unavailable"}

log = logging.getLogger("mnistlab.web")


class BadInput(Exception):
    """A request the client must change: `status` is its 4xx code."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or ERROR_CODES.get(status)  # stable, for the page to show its own translation


def error_response(err: BadInput) -> JSONResponse:
    return JSONResponse({"error": str(err), "code": err.code}, status_code=err.status)


class BodyLimit:
    """ASGI middleware: a body over MAX_BODY is refused with 413 before it is read, by its
    Content-Length if it declares one, else as soon as the bytes received pass the limit (the
    route reading it gets BadInput(413) from `receive`). The same for every route."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            refusal = BadInput(413, f"the payload is {int(declared):,} bytes; at most {self.limit:,} are accepted")
            return await error_response(refusal)(scope, receive, send)
        size = 0

        async def counted():
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.limit:
                    raise BadInput(413, f"the payload is over {self.limit:,} bytes; at most {self.limit:,} are accepted")
            return message

        await self.app(scope, counted, send)


async def read_body(request: Request, empty: str = "the request body is empty; send a PNG of the drawing") -> bytes:
    """The request's body (BodyLimit keeps it under MAX_BODY); a client that leaves mid-body costs
    one log line, not a traceback. `empty`: the message for an empty body, or None to accept it."""
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or dropped for being too slow: one line, not a traceback
        log.warning("a client left before sending its whole request (%s bytes)", size)
        raise BadInput(400, "the request body was not sent whole") from None
    if size == 0 and empty is not None:
        raise BadInput(400, empty)
    return b"".join(chunks)


async def read_drawing(request: Request) -> tuple[str, bytes]:
    """(content type, body) of a request that carries a drawing; 415 for a type that cannot."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in DRAWING_TYPES:
        raise BadInput(415, f"unsupported Content-Type {content_type or '(none)'!r}; send image/png, "
                            f"image/jpeg, text/plain (a data URL) or application/json")
    return content_type, await read_body(request)


def image_of(content_type: str, body: bytes) -> np.ndarray:
    """The 28×28 MNIST-style input in a drawing's body; 422 for a blank drawing (whatever the form), 400 for the rest."""
    try:
        return decode(content_type, body)
    except BlankImage as err:
        raise BadInput(422, str(err), "blank") from None
    except MnistlabError as err:
        raise BadInput(400, str(err), "bad_image") from None


def decode(content_type: str, body: bytes) -> np.ndarray:
    if content_type in IMAGE_TYPES:
        return image_to_mnist(body, "the request body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MnistlabError(f"the {content_type} body must be UTF-8 text") from None
    if content_type == "text/plain":
        return image_to_mnist(from_data_url(text.strip()), "the data URL's image")
    payload = parse_json(text, "the JSON body")
    if not isinstance(payload, dict) or len(payload.keys() & {"image", "pixels"}) != 1:
        raise MnistlabError('the JSON body must be an object with one of "image" (a data URL) or "pixels" (784 numbers)')
    if "pixels" in payload:
        return pixels_to_mnist(payload["pixels"])
    if not isinstance(payload["image"], str):
        raise MnistlabError('"image" must be a data URL string: data:image/png;base64,...')
    return image_to_mnist(from_data_url(payload["image"]), "the data URL's image")


def parse_json(text: str | bytes, what: str):
    """JSON from a client; NaN and Infinity parse (whoever reads the numbers refuses them)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise MnistlabError(f"{what} is malformed ({err.msg} at character {err.pos})") from None
    except (ValueError, RecursionError):  # integers of over 4,300 digits; nesting deeper than Python's stack
        raise MnistlabError(f"{what} is malformed (a number too long or nesting too deep)") from None


def from_data_url(url: str) -> bytes:
    prefix = next((p for p in DATA_URL_PREFIXES if url[: len(p)].lower() == p), None)
    if prefix is None:
        raise MnistlabError("expected a data URL starting with data:image/png;base64, or data:image/jpeg;base64,")
    try:
        return base64.b64decode(url[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        raise MnistlabError("the data URL's base64 part is malformed") from None
