"""A request as the server's handlers see it: checked path segments and query parameters (pure).

Everything is taken from the raw bytes of the request target (`raw_path`), never from the server's decoded
`path`: each '/'-separated segment is percent-decoded on its own, so an encoded slash (`%2f`), backslash
(`%5c`), dot segment (`%2e%2e`), NUL or control character inside a segment is seen and refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_to_bytes

from kwbuild.query import CONTROL

MAX_URL = 4096
MAX_QUERY_VALUE = 1024
MAX_QUERY_FIELDS = 16
_BAD_SEGMENTS = frozenset({".", ".."})
_READ_HEADERS = frozenset({b"accept-encoding", b"if-none-match", b"authorization", b"content-type", b"content-length"})


class HttpError(Exception):
    """A request the server answers with an error status and a one-line JSON message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class MethodNotAllowed(HttpError):
    """Answered 405 with an `Allow` header naming the methods the resource has."""

    def __init__(self, method: str, allow: str) -> None:
        super().__init__(405, f"method {method[:16]} not allowed here (allowed: {allow})")
        self.allow = allow


@dataclass(frozen=True)
class Request:
    """Method, decoded path segments, query parameters and the request headers that the server reads."""

    method: str
    segments: tuple[str, ...]
    query: Mapping[str, str]
    accept_encoding: bytes
    if_none_match: bytes | None
    authorization: bytes | None = None
    content_type: bytes = b""
    content_length: int | None = None  # None when absent or not a number

    @property
    def head(self) -> bool:
        return self.method == "HEAD"


def parse_request(scope: Mapping[str, object]) -> Request:
    """The request of an ASGI HTTP scope; raises HttpError(400) for a target that cannot be served safely."""
    raw = scope.get("raw_path")
    raw_path = raw if isinstance(raw, bytes) else str(scope.get("path", "/")).encode("utf-8")
    query_string = scope.get("query_string") or b""
    assert isinstance(query_string, bytes)
    if len(raw_path) + len(query_string) > MAX_URL:
        raise HttpError(400, f"URL longer than {MAX_URL} bytes")
    headers = _headers(scope.get("headers", ()))
    length = headers.get(b"content-length", b"")
    return Request(
        method=str(scope.get("method", "GET")),
        segments=split_path(raw_path),
        query=parse_query_string(query_string) if query_string else {},
        accept_encoding=headers.get(b"accept-encoding", b""),
        if_none_match=headers.get(b"if-none-match"),
        authorization=headers.get(b"authorization"),
        content_type=headers.get(b"content-type", b""),
        content_length=int(length) if length.isdigit() and len(length) < 19 else None,
    )


def split_path(raw_path: bytes) -> tuple[str, ...]:
    """The decoded segments of a raw path (`/api/files/a%20b.py` -> ('api', 'files', 'a b.py')).

    A trailing slash is dropped; an empty segment (`//`), `.` or `..` (plain or encoded), a segment holding
    `/`, `\\`, NUL or another control character after decoding, or bytes that are not UTF-8 give HttpError(400).
    """
    if not raw_path.startswith(b"/"):
        raise HttpError(400, "the request target must be an absolute path")
    if b"%" not in raw_path and raw_path.isascii():
        return _plain_segments(raw_path.decode("ascii"))
    parts = raw_path[1:].split(b"/")
    if parts[-1] == b"":
        parts.pop()
    return tuple(_segment(part) for part in parts)


def _plain_segments(path: str) -> tuple[str, ...]:
    """The common case, a path without percent-escapes: the same checks, without decoding each segment."""
    segments = path[1:].removesuffix("/").split("/") if len(path) > 1 else []
    if _BAD_SEGMENTS.intersection(segments) or "" in segments or "\\" in path or CONTROL.search(path):
        raise HttpError(400, "empty, '.' and '..' path segments, backslashes and control characters are refused")
    return tuple(segments)


def _segment(part: bytes) -> str:
    try:
        text = unquote_to_bytes(part).decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "a path segment is not UTF-8") from None
    if not text or text in _BAD_SEGMENTS:
        raise HttpError(400, "empty, '.' and '..' path segments are refused")
    if "/" in text or "\\" in text or CONTROL.search(text):
        raise HttpError(400, "a path segment holds an encoded slash, a backslash or a control character")
    return text


def parse_query_string(query_string: bytes) -> dict[str, str]:
    """Query parameters (the first of repeated ones); bounded in count and length, strictly UTF-8, no NUL."""
    try:
        text = query_string.decode("ascii")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=MAX_QUERY_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "bad query string (not UTF-8, or too many fields)") from None
    query: dict[str, str] = {}
    for key, value in pairs:
        if len(value) > MAX_QUERY_VALUE or CONTROL.search(value) or CONTROL.search(key):
            raise HttpError(400, f"query parameter {key[:32]!r} is too long or holds a control character")
        query.setdefault(key, value)
    return query


def _headers(headers: object) -> dict[bytes, bytes]:
    """The request headers the server reads (the first of each; ASGI gives lowercase names)."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:  # type: ignore[attr-defined]
        if name in _READ_HEADERS:
            found.setdefault(name, value)
    return found


def int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; HttpError(400) otherwise."""
    value = query.get(name)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 9 or not low <= int(value) <= high:
        raise HttpError(400, f"{name} must be an integer from {low} to {high}")
    return int(value)
