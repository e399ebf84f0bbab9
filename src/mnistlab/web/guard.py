"""What keeps other web sites away from the local server: a request must name this server in its
Host header (no DNS rebinding), and a request that costs real work (any POST, PUT, PATCH or DELETE,
and every /api/ route: /api/weights is megabytes of JSON) sent by a page of another site or origin is
refused, so no web page can spend the user's CPU (an <img> tag's GET included). Both answer with
JSON {"error": ...}; the page's own files stay open to all."""

from __future__ import annotations

import socket

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}


def host_name(host: str) -> str:
    """The name in a Host header or an origin's netloc, without the port: "[::1]:8000" → "::1"."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """ASGI middleware: refuse a Host other than the address the connection arrived on or a name
    of this machine (400), and an unsafe or /api/ request from another site or origin (403)."""

    def __init__(self, app):
        self.app = app
        self.machine = {socket.gethostname().lower()}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        problem = self.host_problem(host, scope)
        status = 400
        if problem is None and (scope["method"] in UNSAFE_METHODS or scope["path"].startswith("/api/")):
            problem, status = self.origin_problem(f"{scope.get('scheme', 'http')}://{host}", headers), 403
        if problem is None:
            return await self.app(scope, receive, send)
        await JSONResponse({"error": problem}, status_code=status)(scope, receive, send)

    def host_problem(self, host: str, scope) -> str | None:
        server = scope.get("server") or ("", None)
        allowed = LOCAL_NAMES | self.machine | {str(server[0]).lower()}
        if host_name(host) in allowed:
            return None
        return (f"the Host header {host!r} does not name this server; open the page by its address "
                f"(http://127.0.0.1:PORT/ or http://localhost:PORT/)")

    @staticmethod
    def origin_problem(own_origin: str, headers: Headers) -> str | None:
        origin = headers.get("origin")
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return f"a request from another site ({origin or 'no Origin header'}) is refused"
        if origin is None:  # not sent by a browser page (curl, scripts): nothing to check
            return None
        if origin.strip().lower() == own_origin.strip().lower():
            return None
        return f"a request from another origin ({origin}) is refused; use the page this server serves"

