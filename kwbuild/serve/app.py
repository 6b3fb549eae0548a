"""The ASGI application: method check, routing, conditional requests, compression, errors as JSON.

A hand-written ASGI callable (no framework): each route is a handler `(request, rest) -> Body`; this module
turns the body into a response (`ETag`, `If-None-Match` -> 304, gzip or br when asked for and the body is over
1 KB, `Cache-Control: no-cache`, HEAD without a body) and every `HttpError` into a JSON error. Only GET and
HEAD are served (405 otherwise); nothing here writes anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from kwbuild import jsonio
from kwbuild.layout import Layout
from kwbuild.serve.api import Api, load_openapi
from kwbuild.serve.body import Body, BodyCache, StatMemo, choose_coding, etag_matches
from kwbuild.serve.request import HttpError, Request, parse_request
from kwbuild.serve.state import OutputState
from kwbuild.serve.views import HTML, Redirect, Views

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[Request, tuple[str, ...]], Body]

_LOG = logging.getLogger("kwbuild.serve")
_METHODS = frozenset({"GET", "HEAD"})
_COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
_HEADERS = [(b"cache-control", b"no-cache"), (b"vary", b"accept-encoding"), *_COMMON]
_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
)
_HTML_HEADERS = [*_HEADERS, _CSP]


class App:
    """kwbuild's HTTP server over one output folder, as an ASGI application."""

    def __init__(self, out: str, cache_bytes: int = 64 << 20) -> None:
        self.state = OutputState(Layout(Path(out)))
        cache, stats = BodyCache(cache_bytes), StatMemo(self.state.interval)
        self.api = Api(self.state, cache, stats)
        self.views = Views(self.state, cache, stats, self.api.root)
        openapi = load_openapi()
        self.routes: dict[tuple[str, ...], Handler] = {
            ("api", "files"): self.api.file,
            ("api", "blobs"): self.api.blob,
            ("api", "symbols"): self.api.symbols,
            ("api", "manifest"): self.api.manifest,
            ("api", "modules"): self.api.module,
            ("api", "folders"): self.api.folder,
            ("api", "health"): self.api.health,
            ("openapi.json",): lambda request, rest: _exact(openapi, rest),
            ("docs",): self.views.docs,
            ("static",): self.views.static,
            (): self.views.home,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    async def http(self, scope: Scope, send: Send) -> None:
        """Answer one HTTP request."""
        try:
            if scope["method"] not in _METHODS:
                raise HttpError(405, f"method {scope['method'][:16]} not allowed: this server is read-only")
            request = parse_request(scope)
            body = self.route(request)
        except HttpError as error:
            await _send_error(send, error, scope.get("method") == "HEAD")
            return
        except Exception:
            _LOG.exception("internal error on %r", scope.get("raw_path", scope.get("path")))
            await _send_error(send, HttpError(500, "internal error (see the server's log)"), False)
            return
        await _send_body(send, request, body)

    def route(self, request: Request) -> Body:
        """The body of a request's resource, from the handler of its route (HttpError(404) when none)."""
        segments = request.segments
        size = 2 if segments[:1] == ("api",) else 1
        handler = self.routes.get(segments[:size])
        if handler is not None:
            return handler(request, segments[size:])
        raise HttpError(404, "not found (see /openapi.json for the API, / for the pages)")


def _exact(body: Body, rest: tuple[str, ...]) -> Body:
    if rest:
        raise HttpError(404, "not found")
    return body


async def _send_body(send: Send, request: Request, body: Body) -> None:
    coding = choose_coding(request.accept_encoding, len(body.data))
    data, etag = body.variant(coding)
    common = _HTML_HEADERS if body.content_type == HTML else _HEADERS
    if etag_matches(request.if_none_match, etag):
        headers = [*common, (b"etag", etag)]
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": body.headers(coding, common)})
    await send({"type": "http.response.body", "body": b"" if request.head else data})


async def _send_error(send: Send, error: HttpError, head: bool) -> None:
    data = jsonio.dumps({"error": error.message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode("ascii")),
        (b"cache-control", b"no-store"),
        *_COMMON,
    ]
    if error.status == 405:
        headers.append((b"allow", b"GET, HEAD"))
    if isinstance(error, Redirect):
        headers.append((b"location", error.location.encode("ascii")))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else data})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
