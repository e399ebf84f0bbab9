"""Training from the page: POST /api/train starts a job (the settings as JSON), GET /api/train says
whether training is allowed and which job is the latest, DELETE /api/train/ID stops one, and
GET /api/train/ID/events streams its progress as Server-Sent Events (names and data: job_messages).

Each event carries an `id:` (its position in the job, from 1): a browser that reconnects sends
Last-Event-ID and gets only what came after. Event streams are capped per job and in all, so
streams nobody reads cannot take the connections that short requests (the page's /api/info, the
Stop button's DELETE) need."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mnistlab.errors import MnistlabError
from mnistlab.training.jobs import Busy, CannotWrite, Job, config_from
from mnistlab.web.deps import JobsDep, SettingsDep, allowed_to_train
from mnistlab.web.http import BadInput, parse_json, read_body

EVENT_POLL_SECONDS = 0.1
STREAM_SECONDS = 300.0  # a stream ends after this long and the browser reconnects (Last-Event-ID): a client
# that vanished without closing its connection holds its slot this long at most
RETRY_MS = 1000  # how soon EventSource reconnects (its default is a few seconds)
STREAMS_PER_JOB = 4  # a page or two, a script
MAX_STREAMS = 16  # in all: a quarter of server.MAX_CONNECTIONS, the rest stays for short requests

router = APIRouter()


class StreamSlots:
    """How many event streams are open, per job and in all; `take` refuses one over the caps (429)."""

    def __init__(self, per_job: int = STREAMS_PER_JOB, total: int = MAX_STREAMS):
        self.per_job, self.total = per_job, total
        self.open: dict[str, int] = {}
        self.lock = threading.Lock()

    def take(self, job_id: str) -> None:
        with self.lock:
            if sum(self.open.values()) >= self.total:
                raise BadInput(429, f"{self.total} event streams are open already; close one (another tab?)")
            if self.open.get(job_id, 0) >= self.per_job:
                raise BadInput(429, f"{self.per_job} event streams follow this job already; close one (another tab?)")
            self.open[job_id] = self.open.get(job_id, 0) + 1

    def give_back(self, job_id: str) -> None:
        with self.lock:
            self.open[job_id] -= 1
            if not self.open[job_id]:
                del self.open[job_id]


class EventStream(StreamingResponse):
    """A StreamingResponse that gives its slot back however it ends (finished, client gone, server stopping)."""

    def __init__(self, content, slots: StreamSlots, job_id: str):
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.slots, self.job_id = slots, job_id

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slots.give_back(self.job_id)


@router.get("/api/train")
async def training_state(jobs: JobsDep, settings: SettingsDep):
    job = jobs.latest()
    return {"allowed": settings.allow_training, "job": job.describe() if job else None}


@router.post("/api/train", status_code=202, dependencies=[Depends(allowed_to_train)])
async def train(request: Request, jobs: JobsDep):
    body = await read_body(request, empty=None)
    try:
        settings = parse_json(body or b"{}", "the settings")
    except MnistlabError:
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
    except CannotWrite as err:
        raise BadInput(503, str(err), "cannot_write") from None
    return JSONResponse(job.describe(), status_code=202)


@router.get("/api/train/{job_id}/events")
async def events(request: Request, job_id: str, jobs: JobsDep,
                 last_event_id: Annotated[str | None, Header()] = None):
    job = jobs.get(job_id)
    if job is None:
        raise BadInput(404, f"no training job {job_id!r}")
    after = int(last_event_id) if last_event_id and last_event_id.strip().isdigit() else 0
    if job.finished and after >= len(job.events):
        return Response(status_code=204)  # all seen: 204 tells EventSource to stop reconnecting
    slots = request.app.state.streams
    slots.take(job_id)
    return EventStream(event_stream(job, after), slots, job_id)


@router.delete("/api/train/{job_id}", dependencies=[Depends(allowed_to_train)])
async def cancel(job_id: str, jobs: JobsDep):
    job = await run_in_threadpool(jobs.cancel, job_id)
    if job is None:
        raise BadInput(404, f"no training job {job_id!r}")
    return job.describe()


async def event_stream(job: Job, after: int = 0):
    """The job's events after the `after`-th, then the live ones, as Server-Sent Events; ends after
    done or failed, or after STREAM_SECONDS (the browser then reconnects and goes on from its last id)."""
    sent = after
    ends = asyncio.get_running_loop().time() + STREAM_SECONDS
    yield f"retry: {RETRY_MS}\n\n"
    while True:
        finished = job.finished  # read first: every event is published before `finished` is set
        for event in job.events[sent:]:
            sent += 1
            yield f"id: {sent}\nevent: {event['event']}\ndata: {json.dumps(event['data'])}\n\n"
        if finished or asyncio.get_running_loop().time() > ends:
            return
        await asyncio.sleep(EVENT_POLL_SECONDS)
