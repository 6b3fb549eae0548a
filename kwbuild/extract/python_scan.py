"""The line scan: the last-resort reading of a Python file that even the repair loop cannot parse.

Owns finding classes, functions and imports line by line with regular expressions: parents by
indentation, method kinds by the decorator lines above a def, imports under ``if TYPE_CHECKING:``, and
lines inside triple-quoted strings skipped. Its rows have the same shape as the statement walk's.
"""

from __future__ import annotations

import re
from typing import Final

from kwbuild.extract.python_signature import HEADER_RE, header_bases, header_signature, method_kind
from kwbuild.extract.python_source import indent_width
from kwbuild.extract.python_walk import Import, Symbol, import_row

_IMPORT_RE: Final = re.compile(r"[ \t\f]*import[ \t]+(?P<names>[^#;]+)")
_FROM_RE: Final = re.compile(
    r"[ \t\f]*from[ \t]+(?P<dots>\.*)[ \t]*(?P<module>[\w.]*)[ \t]+import\b[ \t]*(?P<names>[^#;]*)"
)
_IMPORT_NAME_RE: Final = re.compile(r"([\w.]+|\*)(?:\s+as\s+(\w+))?")
_TYPE_CHECKING_RE: Final = re.compile(r"[ \t\f]*if[ \t]+(?:[\w.]+\.)?TYPE_CHECKING[ \t]*:")


def scan(lines: list[str]) -> tuple[list[Symbol], list[Import]]:
    scanner = _Scanner(lines)
    scanner.run()
    return scanner.symbols, scanner.imports


class _Scanner:
    """Last-resort recovery: classes, functions and imports found line by line, parents by indentation."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.symbols: list[Symbol] = []
        self.imports: list[Import] = []
        self._open: list[tuple[int, Symbol]] = []  # (indentation width, def/class) enclosing the current line
        self._decorators: list[str] = []
        self._type_checking: int | None = None  # indentation width of an enclosing `if TYPE_CHECKING:`
        self._last = 0  # last code line seen

    def run(self) -> None:
        quote: str | None = None
        for index, line in enumerate(self.lines):
            in_string, quote = quote is not None, _triple_quote_state(line, quote)
            stripped = line.strip()
            if not in_string and stripped and not stripped.startswith("#"):
                self._line(index, line, stripped)
        self._close(-1)

    def _line(self, index: int, line: str, stripped: str) -> None:
        width = indent_width(line)
        self._close(width)
        if self._type_checking is not None and width <= self._type_checking:
            self._type_checking = None
        self._last = index + 1
        if stripped.startswith("@"):
            self._decorators.append(stripped[1:].split(" #")[0].strip())
            return
        header = HEADER_RE.match(line)
        if header is not None:
            self._header(header, index + 1, width)
        elif _TYPE_CHECKING_RE.match(line):
            self._type_checking = width
        else:
            self._import(index, line)
        self._decorators = []

    def _close(self, width: int) -> None:
        while self._open and self._open[-1][0] >= width:
            self._open.pop()[1]["end_line"] = self._last

    def _header(self, header: re.Match[str], lineno: int, width: int) -> None:
        parent = self._open[-1][1] if self._open else None
        signature = header_signature(header["rest"])
        if header["kw"] == "class":
            kind, bases = "class", header_bases(signature)
        else:
            in_class = parent is not None and parent["kind"] == "class"
            kind, bases = (method_kind(self._decorators) if in_class else "function"), []
        name, qualparent = header["name"], parent["qualname"] if parent else None
        symbol: Symbol = {
            "name": name,
            "qualname": name if qualparent is None else f"{qualparent}.{name}",
            "kind": kind,
            "line": lineno,
            "end_line": lineno,
            "col": len(header["indent"]),
            "signature": signature,
            "decorators": self._decorators,
            "bases": bases,
            "docstring": None,
            "parent": qualparent,
            "is_async": header["async"] is not None,
        }
        self.symbols.append(symbol)
        self._open.append((width, symbol))

    def _import(self, index: int, line: str) -> None:
        plain, from_ = _IMPORT_RE.match(line), _FROM_RE.match(line)
        type_checking, lineno = self._type_checking is not None, index + 1
        if plain is not None:
            for module, asname in _import_names(plain["names"]):
                self.imports.append(import_row(module, None, asname, 0, lineno, type_checking))
        elif from_ is not None:
            source: str | None = from_["module"] or None
            for name, asname in _import_names(_parenthesised(self.lines, index, from_["names"])):
                self.imports.append(import_row(source, name, asname, len(from_["dots"]), lineno, type_checking))


def _triple_quote_state(line: str, quote: str | None) -> str | None:
    """The triple quote still open after this line (None when outside a triple-quoted string)."""
    position = 0
    while True:
        if quote is not None:
            end = line.find(quote, position)
            if end < 0:
                return quote
            position, quote = end + 3, None
            continue
        hits = [(found, mark) for mark in ('"""', "'''") if (found := line.find(mark, position)) >= 0]
        if not hits:
            return None
        found, quote = min(hits)
        position = found + 3


def _import_names(text: str) -> list[tuple[str, str | None]]:
    names: list[tuple[str, str | None]] = []
    for part in text.strip().strip("()\\").split(","):
        match = _IMPORT_NAME_RE.fullmatch(part.strip().strip("()\\").strip())
        if match is not None:
            names.append((match[1], match[2]))
    return names


def _parenthesised(lines: list[str], index: int, names: str) -> str:
    """Names of a ``from x import (...)`` spanning several lines (at most 200), joined."""
    if not names.startswith("(") or ")" in names:
        return names
    parts = [names]
    for line in lines[index + 1 : index + 200]:
        parts.append(line.split("#")[0])
        if ")" in line:
            break
    return " ".join(parts).replace(")", "")
