"""Response bodies with their strong ETags and compressed variants, and the bounded cache that keeps them.

A body is immutable: its ETag is the xxh3-128 of its bytes, and each content coding (gzip, br) is made at most
once per body and has its own ETag (a strong validator names one representation). The cache maps a key that
holds the stat identity of every file a body was made from (device, inode, mtime_ns, size) to the body: kwbuild
replaces its outputs atomically (a new inode each time) and never edits them in place, so an identity names
one content, and a rebuilt file simply misses the cache. File descriptors are never kept.
"""

from __future__ import annotations

import gzip
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import xxhash

try:
    import brotli  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # optional: gzip only
    brotli = None

MIN_COMPRESS = 1024
"""Bodies up to this many bytes are never compressed."""
CODINGS = ("br", "gzip") if brotli is not None else ("gzip",)

Identity = tuple[int, int, int, int] | None
"""(st_dev, st_ino, st_mtime_ns, st_size) of a file, None when it does not exist."""


def identity(path: str) -> Identity:
    """The stat identity of `path` (following symlinks); None when there is nothing there."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


class StatMemo:
    """`identity` of paths, each stat-ed at most once per `interval` seconds (a rebuild shows within it)."""

    def __init__(self, interval: float = 0.1, limit: int = 50_000) -> None:
        self.interval = interval
        self.limit = limit
        self._seen: dict[str, tuple[float, Identity]] = {}

    def identity(self, path: str) -> Identity:
        now = time.monotonic()
        seen = self._seen.get(path)
        if seen is not None and now - seen[0] < self.interval:
            return seen[1]
        if len(self._seen) >= self.limit:
            self._seen.clear()
        found = identity(path)
        self._seen[path] = (now, found)
        return found


def read_with_identity(path: str) -> tuple[bytes, Identity]:
    """A file's bytes and the identity of the very file that was read (fstat of the open descriptor)."""
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
        return handle.read(), (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class Body:
    """Bytes to send, their media type, their ETag, and the compressed variants made so far."""

    data: bytes
    content_type: bytes
    etag: bytes = b""
    immutable: bool = False  # named by its content (a cache entry): cacheable for ever instead of `no-cache`
    _encoded: dict[str, bytes] = field(default_factory=dict, repr=False)
    _headers: dict[str | None, list[tuple[bytes, bytes]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.etag:
            self.etag = b'"' + xxhash.xxh3_128_hexdigest(self.data).encode("ascii") + b'"'

    @property
    def cost(self) -> int:
        """Bytes counted against a cache's budget: the body and room for its compressed variants."""
        return 2 * len(self.data) + 256

    def variant(self, coding: str | None) -> tuple[bytes, bytes]:
        """(bytes, ETag) of the body in content coding `coding` (None: as is)."""
        if coding is None:
            return self.data, self.etag
        encoded = self._encoded.get(coding)
        if encoded is None:
            encoded = _compress(self.data, coding)
            self._encoded[coding] = encoded
        return encoded, self.etag[:-1] + b"-" + coding.encode("ascii") + b'"'

    def headers(self, coding: str | None, common: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The response headers of variant `coding`: `common`, then ETag, type, length and coding (memoised)."""
        headers = self._headers.get(coding)
        if headers is None:
            data, etag = self.variant(coding)
            headers = [*common, (b"etag", etag), (b"content-type", self.content_type)]
            headers.append((b"content-length", str(len(data)).encode("ascii")))
            if coding is not None:
                headers.append((b"content-encoding", coding.encode("ascii")))
            self._headers[coding] = headers
        return headers


def _compress(data: bytes, coding: str) -> bytes:
    if coding == "br" and brotli is not None:
        result: bytes = brotli.compress(data, quality=5)
        return result
    return gzip.compress(data, compresslevel=6, mtime=0)


def choose_coding(accept_encoding: bytes, size: int) -> str | None:
    """The content coding to answer with: br or gzip when the client accepts it (q > 0) and the body is large."""
    if size <= MIN_COMPRESS or not accept_encoding:
        return None
    accepted = set()
    for item in accept_encoding.decode("latin-1").lower().split(","):
        name, *params = (part.strip() for part in item.split(";"))
        if all(_quality(param) > 0 for param in params):
            accepted.add(name)
    return next((coding for coding in CODINGS if coding in accepted or "*" in accepted), None)


def _quality(param: str) -> float:
    if not param.startswith("q="):
        return 1.0
    try:
        return float(param[2:])
    except ValueError:
        return 0.0


def etag_matches(if_none_match: bytes | None, etag: bytes) -> bool:
    """`If-None-Match` names this ETag (weak comparison, as RFC 9110 asks for GET and HEAD) or is `*`."""
    if if_none_match is None:
        return False
    for tag in if_none_match.split(b","):
        tag = tag.strip().removeprefix(b"W/")
        if tag in (etag, b"*"):
            return True
    return False


class BodyCache:
    """Bodies by key, least recently used first out, within a budget of bytes."""

    def __init__(self, budget: int = 64 << 20) -> None:
        self.budget = budget
        self._bodies: OrderedDict[Hashable, Body] = OrderedDict()
        self._total = 0

    def get(self, key: Hashable, make: Callable[[], Body]) -> Body:
        """The body under `key`, made by `make()` on a miss."""
        body = self._bodies.get(key)
        if body is not None:
            self._bodies.move_to_end(key)
            return body
        body = make()
        self.put(key, body)
        return body

    def put(self, key: Hashable, body: Body) -> None:
        """Keep `body` under `key`, dropping the least recently used bodies beyond the budget."""
        if key in self._bodies:
            self._total -= self._bodies.pop(key).cost
        self._bodies[key] = body
        self._total += body.cost
        while self._total > self.budget and len(self._bodies) > 1:
            _, old = self._bodies.popitem(last=False)
            self._total -= old.cost

    def __len__(self) -> int:
        return len(self._bodies)
