"""Serving the app: the listening socket, and uvicorn with limits that keep one machine's server
answering under abuse (slow or idle clients dropped, connections capped, resource errors logged
once in a while, not in a flood), and a prompt stop: on SIGTERM or Ctrl+C the open responses (event
streams) end at once, the app's lifespan stops the trainer, and the process exits within seconds.

LimitedProtocol subclasses uvicorn's H11Protocol and reads some of its internals (conn, cycle,
transport, connections): pyproject pins uvicorn to the range tested, and tests/test_web_guard.py
checks that those internals are still there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import resource
import socket
import threading
import time

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from mnistlab.errors import MnistlabError

MAX_CONNECTIONS = 64  # open connections at once; the page needs two or three
READ_TIMEOUT = 10.0  # seconds a client has to send a whole request (headers and body)
ACCEPT_BURST = 16  # connections asyncio accepts in one go (uvicorn's backlog; its default is 2048)
KEEP_ALIVE_TIMEOUT = 5  # seconds an idle connection stays open between requests
STOP_TIMEOUT = 3  # seconds open responses get to finish when the server stops (uvicorn's default: forever)
RESOURCE_LOG_EVERY = 10.0  # seconds between two "out of file descriptors" lines

log = logging.getLogger("mnistlab.web")


def check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise MnistlabError(f"--port must be between 0 and 65535 (got {port}); 0 picks a free port")


def bind(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A listening socket for uvicorn; a port in use becomes a one-line error, port 0 picks a free one."""
    check_port(port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so; without it each
    # response waits 40 ms for a delayed ACK (Nagle), measured here as a 44 ms floor per request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        reason = err.strerror or type(err).__name__
        raise MnistlabError(f"cannot listen on {host}:{port} ({reason}); pass another --port or --host") from None
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def connection_cap() -> int:
    """MAX_CONNECTIONS, or a quarter of the file descriptors this process may open if that is
    fewer: asyncio accepts up to ACCEPT_BURST connections before any is dropped, a few times over,
    and the app needs some (files, pipes); accept() then never runs out."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(MAX_CONNECTIONS, max(soft // 4, 1)) if soft != resource.RLIM_INFINITY else MAX_CONNECTIONS


class LimitedProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for reading each request and a connection cap.

    uvicorn times out idle keep-alive connections but not a request that trickles in; here a
    request must arrive whole within READ_TIMEOUT. Over connection_cap(), the connection that has
    waited longest for its request is dropped (a slow client, not the request being answered)."""

    read_deadline = None  # the timer that drops this connection if its request is not whole by then
    dropped = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.wait_for_request()
        open_now = [c for c in self.connections if not getattr(c, "dropped", False)]
        if len(open_now) > connection_cap():
            waiting = [c for c in open_now if getattr(c, "read_deadline", None) is not None]
            min(waiting, key=lambda c: c.read_deadline.when()).drop()

    def wait_for_request(self) -> None:
        self.stop_waiting()
        self.read_deadline = self.loop.call_later(READ_TIMEOUT, self.drop)

    def drop(self) -> None:
        """Close at once (the client learns by a reset); its connection_lost comes a moment later."""
        self.stop_waiting()
        self.dropped = True
        self.transport.abort()

    def stop_waiting(self) -> None:
        if self.read_deadline is not None:
            self.read_deadline.cancel()
            self.read_deadline = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.DONE:  # the whole request is here: the app's turn
            self.stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request that is already whole
        if not self.transport.is_closing() and self.conn.their_state is not h11.DONE:
            self.wait_for_request()

    def connection_lost(self, exc) -> None:
        self.stop_waiting()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server is stopping: a response being streamed (an event stream, which would run
        until its training ends, or forever to a client that does not read) is cut off, so its
        client learns at once and the app sees it leave; the others finish as uvicorn lets them."""
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.drop()
            return
        super().shutdown()


class ResourceLog:
    """An event-loop exception handler that reports running out of file descriptors in one short
    line per RESOURCE_LOG_EVERY seconds; asyncio logs a traceback on every failed accept."""

    def __init__(self):
        self.logged_at = -math.inf
        self.skipped = 0

    def __call__(self, loop, context) -> None:
        if not context.get("message", "").startswith("socket.accept() out of system resource"):
            return loop.default_exception_handler(context)
        now = time.monotonic()
        if now - self.logged_at < RESOURCE_LOG_EVERY:
            self.skipped += 1
            return
        more = f" ({self.skipped} more since the last such line)" if self.skipped else ""
        log.warning("cannot accept a connection: %s%s", context.get("exception"), more)
        self.logged_at, self.skipped = now, 0


class LimitedServer(uvicorn.Server):
    """uvicorn.Server with the ResourceLog handler on its event loop, stopped at once by a second
    SIGTERM as by a second Ctrl+C."""

    async def startup(self, sockets=None) -> None:
        asyncio.get_running_loop().set_exception_handler(ResourceLog())
        await super().startup(sockets)

    def handle_exit(self, sig, frame) -> None:
        if self.should_exit:
            self.force_exit = True
        super().handle_exit(sig, frame)


def make_server(app: FastAPI, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for `app` with the limits above; run it with server.run(sockets=[bind(...)])."""
    config = uvicorn.Config(app, log_level=log_level, access_log=False, http=LimitedProtocol, ws="none",
                            timeout_keep_alive=KEEP_ALIVE_TIMEOUT, backlog=ACCEPT_BURST,
                            timeout_graceful_shutdown=STOP_TIMEOUT)
    return LimitedServer(config)


def serve_forever(app: FastAPI, sock: socket.socket) -> None:
    """`mnistlab serve`: uvicorn on `sock` until Ctrl+C, with one PyTorch thread per request.

    One image is far too little work to share between threads: with two intra-op threads on a busy
    2-core machine a forward pass measured 116 ms, with one 0.7 ms. Concurrent requests still use
    every core, through the worker threads."""
    import torch

    torch.set_num_threads(1)
    make_server(app).run(sockets=[sock])


@contextlib.contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0):
    """The app served by uvicorn in a background thread (tests, benchmarks); yields its URL."""
    sock = bind(host, port)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise MnistlabError("the web server stopped while starting")
            time.sleep(0.01)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
