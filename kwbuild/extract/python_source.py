"""The text of a Python source file: decoding, lines, parsing, and slicing with the AST's positions.

Owns how bytes become text (BOM, PEP 263 cookie, lossy fallbacks for files that are not valid in their
encoding), how text becomes lines (as the tokenizer splits them), ``ast.parse`` with its warnings silenced,
the error rows of the table, and ``Source``: expression text sliced from the lines by the AST's UTF-8 byte
columns, so it reads as the author wrote it.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from typing import Any, Final

Error = dict[str, Any]
Located = ast.expr | ast.keyword

PARSE_ERRORS: Final = (SyntaxError, ValueError, RecursionError, MemoryError)
_UTF8_CODECS: Final = frozenset({"utf-8", "utf-8-sig"})

_NEWLINE_RE: Final = re.compile(r"\r\n?|\n")
_OPEN_SPACE_RE: Final = re.compile(r"([(\[{]) ")
_CLOSE_SPACE_RE: Final = re.compile(r" ([)\]}])")


def parse(source: str | bytes) -> ast.Module:
    """``ast.parse`` with the parser's warnings silenced (they are noise here and would be side effects).

    ``catch_warnings`` swaps the process-wide filter list, so run extractors in processes, not threads.
    """
    with warnings.catch_warnings(action="ignore"):
        return ast.parse(source)


def error_row(kind: str, message: str, line: int | None, col: int | None) -> Error:
    return {"kind": kind, "message": json_safe(message), "line": line, "col": col}


# --- decoding -----------------------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, list[Error]]:
    """The file's text by its BOM or PEP 263 cookie; what cannot be decoded becomes U+FFFD and an error."""
    try:
        encoding = _encoding(data)
    except (SyntaxError, LookupError) as exc:
        return data.decode("utf-8-sig", "replace"), [error_row("decode", str(exc), 1, None)]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line, col = _byte_position(data, exc.start)
        return _decode_lossy(data, encoding), [error_row("decode", str(exc), line, col)]
    except (LookupError, ValueError) as exc:  # not a text codec, or a codec that fails without a position
        return _decode_lossy(data, encoding), [error_row("decode", str(exc), 1, None)]
    return (text if encoding in _UTF8_CODECS else json_safe(text)), []


def _encoding(data: bytes) -> str:
    """The codec of a source file; only a file whose first two lines mention "coding" can have a cookie."""
    first = data.find(b"\n")
    second = data.find(b"\n", first + 1) if first >= 0 else -1
    if b"coding" not in (data[:second] if second >= 0 else data):
        return "utf-8-sig"  # UTF-8, with or without a BOM
    return tokenize.detect_encoding(io.BytesIO(data).readline)[0]


def _decode_lossy(data: bytes, encoding: str) -> str:
    """Text for the recovery pass. A file that is not valid in its declared UTF-8 is almost always a legacy 8-bit
    file (Python 2 read Latin-1 by default), so cp1252, then Latin-1, keep its identifiers whole (`café`)."""
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig"):
        for legacy in ("cp1252", "latin-1"):
            try:
                return json_safe(data.decode(legacy))
            except UnicodeDecodeError:
                continue
    try:
        return json_safe(data.decode(encoding, "replace"))
    except (LookupError, ValueError):
        return data.decode("utf-8-sig", "replace")


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and 0-based character column of a byte offset."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8", "replace"))


def json_safe(text: str) -> str:
    """Replace lone surrogates (from escapes in string constants or odd codecs), which JSON cannot carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


# --- lines and slicing --------------------------------------------------------------------------------------


def split_lines(text: str) -> list[str]:
    """Split like the tokenizer does: on ``\\n``, ``\\r\\n`` and a lone ``\\r`` only."""
    return text.split("\n") if "\r" not in text else _NEWLINE_RE.split(text)


def indent_width(line: str) -> int:
    """Width of a line's indentation, tabs expanded to 8 columns."""
    return len(line[: len(line) - len(line.lstrip())].expandtabs(8))


class Source:
    """Decoded lines of a file, sliced with the AST's columns (UTF-8 byte offsets into each line).

    Byte and character columns only differ on lines with non-ASCII text; those lines are encoded once,
    on demand. Most files are all ASCII, which ``str.isascii`` tells in constant time.
    """

    def __init__(self, lines: list[str], ascii_only: bool) -> None:
        self.lines = lines
        self.ascii_only = ascii_only
        self._utf8: dict[int, bytes] = {}

    def _line(self, lineno: int) -> str:
        try:
            return self.lines[lineno - 1]
        except IndexError:
            return ""

    def _encoded(self, lineno: int) -> bytes:
        encoded = self._utf8.get(lineno)
        if encoded is None:
            encoded = self._utf8[lineno] = self._line(lineno).encode("utf-8", "replace")
        return encoded

    def col(self, lineno: int, offset: int) -> int:
        """Character column of a byte column."""
        if self.ascii_only or self._line(lineno).isascii():
            return offset
        return len(self._encoded(lineno)[:offset].decode("utf-8", "replace"))

    def slice(self, lineno: int, start: int, stop: int | None) -> str:
        line = self._line(lineno)
        if self.ascii_only or line.isascii():
            return line[start:stop]
        return self._encoded(lineno)[start:stop].decode("utf-8", "replace")

    def segment(self, node: Located) -> str:
        """Source text of an expression; a multi-line one is collapsed onto one line."""
        first, last, end_col = node.lineno, node.end_lineno, node.end_col_offset
        if first == last:  # the hot path, inlined
            try:
                line = self.lines[first - 1]
            except IndexError:
                return ""
            if self.ascii_only or line.isascii():
                return line[node.col_offset : end_col]
            return self._encoded(first)[node.col_offset : end_col].decode("utf-8", "replace")
        if last is None or end_col is None:
            return ""
        parts = [
            self.slice(first, node.col_offset, None),
            *self.lines[first : last - 1],
            self.slice(last, 0, end_col),
        ]
        if any("#" in part for part in parts):
            return _unparse(node, parts)
        return _collapse(parts)


def _collapse(parts: list[str]) -> str:
    text = " ".join(" ".join(part.rstrip().removesuffix("\\").split()) for part in parts)
    return _CLOSE_SPACE_RE.sub(r"\1", _OPEN_SPACE_RE.sub(r"\1", text.strip()))


def _unparse(node: Located, parts: list[str]) -> str:
    """Rare path: a multi-line expression holding comments is regenerated rather than sliced."""
    try:
        return ast.unparse(node)
    except RecursionError:
        return _collapse(parts)
