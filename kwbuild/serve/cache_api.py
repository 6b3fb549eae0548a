"""The shared content cache over HTTP: `GET /api/cache/{key}` serves an entry, `POST /api/cache` stores pushed ones.

This is the server side of `kwbuild build --remote-cache URL` (the client is `kwbuild.remote`). Reading is open:
an entry is found only by the hash of a source's bytes. A push needs `Authorization: Bearer <token>`, the token
the server was started with (`$KWBUILD_REMOTE_CACHE_TOKEN`; without one, pushes are refused), and every pushed
entry must pass `entry_problem` (well formed, and the hash, extractor and schema its key names) or the whole push
is refused with 422. Entries already held are kept: the first writer wins, and entries are deterministic.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from kwbuild import jsonio
from kwbuild.cache import ContentCache
from kwbuild.remote import KEY, MAX_PUSH, entry_problem
from kwbuild.serve.body import Body, BodyCache
from kwbuild.serve.request import HttpError, MethodNotAllowed, Request
from kwbuild.serve.state import JSON

MAX_PUSH_ENTRIES = 100_000
_SHAPE = '{"entries": [{"key": "...", "table": {...}}, ...]}'


class CacheApi:
    """The endpoints under `/api/cache` over one content cache folder."""

    def __init__(self, folder: Path, token: str | None, bodies: BodyCache) -> None:
        self.cache = ContentCache(folder)
        self.token = token.encode("utf-8") if token else None
        self.bodies = bodies
        self._seen = False

    def entry(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/api/cache/{key}`: the entry's bytes, as the build that computed it stored them."""
        if not rest:
            raise MethodNotAllowed(request.method, "POST")
        if len(rest) != 1 or not KEY.fullmatch(rest[0]):
            raise HttpError(400, "a cache key is HASH:EXTRACTOR@VERSION:schemaN (see kwbuild.cache.cache_key)")
        key = rest[0]
        return self.bodies.get(("cache", key), lambda: self._entry(key))

    def admit(self, request: Request) -> None:
        """Refuse a push before its body is read: no token, a wrong one, not JSON, or too large."""
        given = request.authorization or b""
        if not given.startswith(b"Bearer "):
            raise HttpError(401, "a push needs an Authorization: Bearer <token> header")
        if self.token is None:
            raise HttpError(403, "pushes are disabled: the server was started without $KWBUILD_REMOTE_CACHE_TOKEN")
        if not hmac.compare_digest(given[len(b"Bearer ") :].strip(), self.token):
            raise HttpError(403, "wrong push token")
        if request.content_type.split(b";")[0].strip().lower() != JSON:
            raise HttpError(415, "a push is application/json")
        if request.content_length is not None and request.content_length > MAX_PUSH:
            raise HttpError(413, f"a push is at most {MAX_PUSH} bytes")

    def store(self, data: bytes) -> Body:
        """`POST /api/cache` (admitted, body read): check every entry, then store those not held yet."""
        entries = _pushed_entries(data)
        new = [(key, jsonio.dumps(table)) for key, table in entries if not self.cache.contains(key)]
        self.cache.put_many(new)
        return Body(jsonio.dumps({"stored": len(new), "known": len(entries) - len(new)}), JSON)

    def _entry(self, key: str) -> Body:
        if not self._exists():
            raise HttpError(404, f"no entry {key} (the content cache is empty)")
        table = self.cache.get(key)
        if table is None:
            raise HttpError(404, f"no entry {key}")
        return Body(jsonio.dumps(table), JSON, immutable=True)

    def _exists(self) -> bool:
        """Whether the cache folder holds a cache yet: a read never creates one (a push does)."""
        self._seen = self._seen or (self.cache.folder / "cache.db").is_file()
        return self._seen


def _pushed_entries(data: bytes) -> list[tuple[str, Any]]:
    """The (key, table) pairs of a push body `{"entries": [{"key": ..., "table": ...}, ...]}`, each checked."""
    try:
        document = jsonio.loads(data)
    except ValueError:
        raise HttpError(400, "a push body is JSON") from None
    items = document.get("entries") if isinstance(document, dict) else None
    if not isinstance(items, list) or len(items) > MAX_PUSH_ENTRIES:
        raise HttpError(400, f"a push is {_SHAPE}, with at most {MAX_PUSH_ENTRIES} entries")
    entries: list[tuple[str, Any]] = []
    for item in items:
        if not isinstance(item, dict) or item.keys() != {"key", "table"} or not isinstance(item["key"], str):
            raise HttpError(400, f"a push is {_SHAPE}")
        problem = entry_problem(item["key"], item["table"])
        if problem is not None:
            raise HttpError(422, f"entry {item['key'][:80]!r} refused: {problem}; nothing was stored")
        entries.append((item["key"], item["table"]))
    return entries
