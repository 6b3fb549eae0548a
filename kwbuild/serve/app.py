"""The ASGI application: method check, routing, conditional requests, compression, errors as JSON.

A hand-written ASGI callable (no framework): each route is a handler `(request, rest) -> Body`; this module
turns the body into a response (`ETag`, `If-None-Match` -> 304, gzip or br when asked for and the body is over
1 KB, `Cache-Control: no-cache`, HEAD without a body) and every `HttpError` into a JSON error. GET and HEAD
are served (405 otherwise), and one POST: `/api/cache`, a token-holder's push into the shared content cache
(`cache_api.py`), admitted before its body is read and stored off the event loop. Nothing else writes anywhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from kwbuild import jsonio
from kwbuild.cache import default_cache_dir
from kwbuild.layout import Layout
from kwbuild.remote import MAX_PUSH
from kwbuild.serve.api import Api, load_openapi
from kwbuild.serve.body import Body, BodyCache, StatMemo, choose_coding, etag_matches
from kwbuild.serve.cache_api import CacheApi
from kwbuild.serve.request import HttpError, MethodNotAllowed, Request, parse_request
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
_IMMUTABLE_HEADERS = [(b"cache-control", b"public, max-age=31536000, immutable"), *_HEADERS[1:]]
_PUSH = ("api", "cache")
_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
)
_HTML_HEADERS = [*_HEADERS, _CSP]


class App:
    """kwbuild's HTTP server over one output folder, as an ASGI application."""

    def __init__(
        self, out: str, cache_bytes: int = 64 << 20, content_cache: Path | None = None, token: str | None = None
    ) -> None:
        self.state = OutputState(Layout(Path(out)))
        cache, stats = BodyCache(cache_bytes), StatMemo(self.state.interval)
        self.api = Api(self.state, cache, stats)
        self.views = Views(self.state, cache, stats, self.api.root)
        self.cache_api = CacheApi(content_cache or default_cache_dir(), token, cache)
        openapi = load_openapi()
        self.routes: dict[tuple[str, ...], Handler] = {
            ("api", "files"): self.api.file,
            ("api", "blobs"): self.api.blob,
            ("api", "symbols"): self.api.symbols,
            ("api", "manifest"): self.api.manifest,
            ("api", "modules"): self.api.module,
            ("api", "folders"): self.api.folder,
            ("api", "health"): self.api.health,
            ("api", "cache"): self.cache_api.entry,
            ("openapi.json",): lambda request, rest: _exact(openapi, rest),
            ("docs",): self.views.docs,
            ("static",): self.views.static,
            (): self.views.home,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, send, receive)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    async def http(self, scope: Scope, send: Send, receive: Receive | None = None) -> None:
        """Answer one HTTP request."""
        try:
            request = parse_request(scope)
            if request.method not in _METHODS:
                if request.method != "POST" or request.segments != _PUSH or receive is None:
                    raise MethodNotAllowed(request.method, "POST" if request.segments == _PUSH else "GET, HEAD")
                await _send_json(send, 200, (await self.push(request, receive)).data)
                return
            body = self.route(request)
        except HttpError as error:
            await _send_error(send, error, scope.get("method") == "HEAD")
            return
        except Exception:
            _LOG.exception("internal error on %r", scope.get("raw_path", scope.get("path")))
            await _send_error(send, HttpError(500, "internal error (see the server's log)"), False)
            return
        await _send_body(send, request, body)

    async def push(self, request: Request, receive: Receive) -> Body:
        """`POST /api/cache`: admit, read the body (at most `MAX_PUSH` bytes), store in a thread."""
        self.cache_api.admit(request)
        data = await _read_body(receive, MAX_PUSH)
        return await asyncio.to_thread(self.cache_api.store, data)

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
    common = _HTML_HEADERS if body.content_type == HTML else _IMMUTABLE_HEADERS if body.immutable else _HEADERS
    if etag_matches(request.if_none_match, etag):
        headers = [*common, (b"etag", etag)]
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": body.headers(coding, common)})
    await send({"type": "http.response.body", "body": b"" if request.head else data})


async def _send_error(send: Send, error: HttpError, head: bool) -> None:
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(error, MethodNotAllowed):
        headers.append((b"allow", error.allow.encode("ascii")))
    elif error.status == 405:
        headers.append((b"allow", b"GET, HEAD"))
    elif error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="kwbuild cache"'))
    if isinstance(error, Redirect):
        headers.append((b"location", error.location.encode("ascii")))
    await _send_json(send, error.status, jsonio.dumps({"error": error.message}), head, headers)


async def _send_json(
    send: Send, status: int, data: bytes, head: bool = False, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A JSON answer that no cache keeps: an error, or the outcome of a push."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode("ascii")),
        (b"cache-control", b"no-store"),
        *_COMMON,
        *(extra or ()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else data})


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The request's body; HttpError(413) as soon as it grows past `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, "the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"a push is at most {limit} bytes")
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
