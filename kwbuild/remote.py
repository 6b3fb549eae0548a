"""The shared content cache: the local `ContentCache` in front of a `kwbuild serve` that shares its own.

`RemoteCache` is used wherever a `ContentCache` is. A local miss asks the remote (`GET /api/cache/{key}`, one
keep-alive connection per process, opened lazily); an entry is used, and stored locally, only when
`entry_problem` finds nothing wrong with it. With push on, the entries a build computed are sent on in one
`POST /api/cache` per batch, with the token as `Authorization: Bearer`. A remote that fails in any way (down,
slow, HTTP 5xx, a garbage or mismatched entry, a refused push) is worth one warning: this process stops asking
it and the build extracts locally. The remote only ever saves work; it never decides a table.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import zlib
from typing import Any
from urllib.parse import urlsplit

from kwbuild import jsonio
from kwbuild.cache import ContentCache
from kwbuild.model import SCHEMA_VERSION, Table

log = logging.getLogger("kwbuild")

TOKEN_ENV = "KWBUILD_REMOTE_CACHE_TOKEN"
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
MAX_ENTRY = 64 << 20
"""Bytes: the largest entry accepted from a remote (the biggest table of the torch tree is ~2 MB)."""
MAX_PUSH = 64 << 20
"""Bytes: the largest push body a server accepts."""
PUSH_BATCH = 8 << 20
"""Bytes: a client sends at most about this much per push request."""

KEY = re.compile(r"([0-9a-f]{32}):([a-z][a-z0-9_]{0,63})@([0-9]{1,9}):schema([0-9]{1,9})")
"""A content cache key (see `kwbuild.cache.cache_key`): digest, extractor name and version, schema version."""

_CACHED_FIELDS = frozenset(
    {"schema_version", "extractor", "language", "hash", "size", "lines", "docstring", "all", "partial", "symbols",
     "imports", "errors"}
)  # fmt: skip
_SYMBOL_FIELDS = frozenset(
    {"name", "qualname", "kind", "line", "end_line", "col", "signature", "decorators", "bases", "docstring", "parent",
     "is_async"}
)  # fmt: skip
_IMPORT_FIELDS = frozenset({"module", "name", "asname", "level", "line", "type_checking"})
_ERROR_FIELDS = frozenset({"kind", "message", "line", "col"})


def entry_problem(key: str, table: object) -> str | None:
    """What is wrong with `table` as the content cache's entry under `key`, or None.

    A cheap structural check of the table schema's cached layer (every field, of the right type, and each symbol,
    import and error with its fields), and that the schema version, extractor and hash are those the key names.
    """
    match = KEY.fullmatch(key)
    if match is None:
        return "malformed key"
    digest, name, version, schema = match.groups()
    if int(schema) != SCHEMA_VERSION:
        return f"schema {schema} is not this kwbuild's ({SCHEMA_VERSION})"
    if not isinstance(table, dict) or table.keys() != _CACHED_FIELDS:
        return "not a cached table (missing or extra fields)"
    if table["schema_version"] != SCHEMA_VERSION or table["extractor"] != {"name": name, "version": int(version)}:
        return "schema version or extractor differ from the key's"
    if table["hash"] != digest:
        return "content hash differs from the key's"
    return _field_problem(table)


def _field_problem(table: dict[str, Any]) -> str | None:
    scalars_ok = (
        isinstance(table["language"], str)
        and _count(table["size"])
        and _count(table["lines"])
        and _text_or_none(table["docstring"])
        and (table["all"] is None or (isinstance(table["all"], list) and all(isinstance(n, str) for n in table["all"])))
        and isinstance(table["partial"], bool)
    )
    if not scalars_ok:
        return "a field has the wrong type"
    for field, required, optional in (
        ("symbols", _SYMBOL_FIELDS, frozenset()),
        ("imports", _IMPORT_FIELDS, frozenset({"system"})),
        ("errors", _ERROR_FIELDS, frozenset()),
    ):
        items = table[field]
        if not isinstance(items, list) or not all(_has_fields(item, required, optional) for item in items):
            return f"malformed {field}"
    if not all(_count(symbol["line"]) and symbol["line"] < 1 << 32 for symbol in table["symbols"]):
        return "a symbol's line is not a count"  # the digests keep lines as 32-bit integers
    return None


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


def _text_or_none(value: object) -> bool:
    return value is None or isinstance(value, str)


def _has_fields(item: object, required: frozenset[str], optional: frozenset[str]) -> bool:
    return isinstance(item, dict) and required <= item.keys() <= required | optional


class RemoteError(Exception):
    """An answer from the remote that cannot be used (too large, bad encoding)."""


class RemoteCache(ContentCache):
    """The local content cache, backed by a remote one; one connection per process (safe after fork)."""

    def __init__(self, local: ContentCache, url: str, push: bool = False, token: str | None = None) -> None:
        super().__init__(local.folder, local.size_limit)
        self.url = url.rstrip("/")
        self._prefix = urlsplit(self.url).path  # a server behind a reverse proxy, under a path
        self.push = push and token is not None
        self.token = token
        self._off = False  # this process stopped asking the remote (after one warning)
        self._push_off = False  # this process stopped pushing (after one warning)
        self._fetched: dict[str, bytes] = {}  # remote hits not stored locally yet (stored by the next put_many)
        self._connection: http.client.HTTPConnection | None = None
        self._connection_pid = 0
        self._requests = 0  # answered on the current connection

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(super().__getstate__())
        state.update(_fetched={}, _connection=None, _connection_pid=0, _requests=0)
        return state

    def get(self, key: str) -> Table | None:
        """The local entry, else the remote's (checked, then kept locally), else None."""
        table = super().get(key)
        if table is not None:
            return table
        fetched = self._fetched.get(key)
        if fetched is not None:
            result: Table = jsonio.loads(fetched)
            return result
        return None if self._off else self._fetch(key)

    def contains(self, key: str) -> bool:
        return super().contains(key) or key in self._fetched or (not self._off and self._fetch(key) is not None)

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        """Store new entries and the remote hits since the last call locally; push the new entries when asked."""
        fetched, self._fetched = list(self._fetched.items()), {}
        super().put_many(fetched + items)
        if items and self.push and not (self._off or self._push_off):
            for batch in _batches(items):
                if not self._send(batch):
                    break

    def close(self) -> None:
        if self._fetched:
            self.put_many([])
        self._drop()
        super().close()

    # ------------------------------------------------------------------ the protocol

    def _fetch(self, key: str) -> Table | None:
        table, problem = self._remote_entry(key)
        if problem is not None:
            self._stop(problem)
        return table

    def _remote_entry(self, key: str) -> tuple[Table | None, str | None]:
        """The remote's checked entry under `key` (None on a 404), or what went wrong."""
        try:
            status, data = self._request("GET", f"/api/cache/{key}", None, {"Accept-Encoding": "gzip"})
        except (OSError, http.client.HTTPException, RemoteError) as error:
            return None, f"cannot be reached ({_describe(error)})"
        if status != 200:
            return None, None if status == 404 else f"answered HTTP {status}"
        try:
            table = jsonio.loads(data)
        except ValueError:
            return None, f"sent an entry for {key} that is not JSON"
        problem = entry_problem(key, table)
        if problem is not None:
            return None, f"sent a bad entry for {key} ({problem})"
        self._fetched[key] = jsonio.dumps(table)
        return table, None

    def _send(self, items: list[tuple[str, bytes]]) -> bool:
        body = b'{"entries":[' + b",".join(_push_item(key, value) for key, value in items) + b"]}"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        try:
            status, data = self._request("POST", "/api/cache", body, headers)
        except (OSError, http.client.HTTPException, RemoteError) as error:
            self._stop(f"cannot be reached ({_describe(error)})")
            return False
        if status != 200:
            self._push_off = True
            log.warning("remote cache %s refused the push (HTTP %d: %s)", self.url, status, _message(data))
            return False
        return True

    def _stop(self, reason: str) -> None:
        if not self._off:
            self._off = True
            self._drop()
            log.warning("remote cache %s %s: building without it", self.url, reason)

    def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body) of one request; a keep-alive connection the server had closed is reopened once."""
        while True:
            connection, reused = self._open_connection(), self._requests > 0
            try:
                connection.request(method, self._prefix + path, body=body, headers=headers)
                response = connection.getresponse()
                data = _read_body(response)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
                self._drop()
                if reused:
                    continue
                raise
            except BaseException:
                self._drop()
                raise
            self._requests += 1
            if response.will_close:
                self._drop()
            return response.status, data

    def _open_connection(self) -> http.client.HTTPConnection:
        if self._connection is not None and self._connection_pid == os.getpid():
            return self._connection
        parts = urlsplit(self.url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(parts.hostname or "", parts.port, timeout=CONNECT_TIMEOUT)
        connection.connect()
        if connection.sock is not None:
            connection.sock.settimeout(READ_TIMEOUT)
        self._connection, self._connection_pid, self._requests = connection, os.getpid(), 0
        return connection

    def _drop(self) -> None:
        """Forget the connection; close it only in the process that opened it (a forked child must not)."""
        if self._connection is not None and self._connection_pid == os.getpid():
            self._connection.close()
        self._connection, self._requests = None, 0


def _read_body(response: http.client.HTTPResponse) -> bytes:
    """The body of a response, decoded from gzip; RemoteError when it is too large or undecodable."""
    length = response.getheader("Content-Length", "")
    if length.isdigit() and int(length) > MAX_ENTRY:
        raise RemoteError(f"an answer of {length} bytes")
    data = response.read(MAX_ENTRY + 1)
    if len(data) > MAX_ENTRY:
        raise RemoteError(f"an answer over {MAX_ENTRY} bytes")
    coding = response.getheader("Content-Encoding", "identity").strip().lower()
    if coding == "identity":
        return data
    if coding != "gzip":
        raise RemoteError(f"an answer in content coding {coding[:20]!r}")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        plain = inflate.decompress(data, MAX_ENTRY + 1)
    except zlib.error as error:
        raise RemoteError(f"a gzip body that does not inflate ({error})") from None
    if len(plain) > MAX_ENTRY or not inflate.eof:
        raise RemoteError("a gzip body that is truncated or inflates too far")
    return plain


def _push_item(key: str, value: bytes) -> bytes:
    return b'{"key":' + jsonio.dumps(key).rstrip() + b',"table":' + value.rstrip() + b"}"


def _batches(items: list[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
    """Push batches of at most about `PUSH_BATCH` bytes; an entry too large for any push is left out."""
    batches: list[list[tuple[str, bytes]]] = [[]]
    size = 0
    for key, value in items:
        if len(value) > MAX_PUSH - 4096:
            continue
        if batches[-1] and size + len(value) > PUSH_BATCH:
            batches.append([])
            size = 0
        batches[-1].append((key, value))
        size += len(value) + len(key) + 32
    return [batch for batch in batches if batch]


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return f"{type(error).__name__}: {error}"[:200]


def _message(data: bytes) -> str:
    try:
        return str(jsonio.loads(data)["error"])[:200]
    except (ValueError, KeyError, TypeError):
        return data[:200].decode("utf-8", "replace")
