"""The repair loop: a file that does not parse is reparsed with the offending lines neutralised.

Owns turning a parse failure into an error row, the bounded loop that rewrites the line each
``SyntaxError`` points at (a stub keeping the block structure first, an empty line next; line numbers never
move), giving stubbed defs and classes back their original header text, and the test of whether the
repaired tree kept every def/class the line scan sees.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from itertools import islice
from typing import Final

from kwbuild.extract.python_signature import HEADER_RE, header_bases, header_signature
from kwbuild.extract.python_source import PARSE_ERRORS, Error, error_row, indent_width, parse
from kwbuild.extract.python_walk import Symbol

_MAX_PARSES: Final = 20  # recovery never costs more than this many parses of the file
_VARIABLE_KINDS: Final = frozenset({"variable", "constant", "attribute"})
_CONTINUATION_HEADERS: Final = {
    "except": "except:",
    "elif": "elif 1:",
    "else": "else:",
    "finally": "finally:",
}
_BLOCK_COLON_RE: Final = re.compile(r":[ \t]*(#.*)?\Z")
_EXPECTED_BLOCK_RE: Final = re.compile(r"expected an indented block.* on line (\d+)")


def parse_error(exc: BaseException) -> Error:
    if isinstance(exc, SyntaxError):
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
        col = exc.offset - 1 if line is not None and isinstance(exc.offset, int) and exc.offset > 0 else None
        return error_row("syntax", exc.msg or str(exc), line, col)
    if isinstance(exc, (RecursionError, MemoryError)):  # the parser's stacks: nesting too deep
        return error_row("recursion", f"{type(exc).__name__}: {exc or 'too deeply nested to parse'}", None, None)
    return error_row("syntax", str(exc), None, None)


@dataclass(slots=True)
class Repair:
    """Outcome of the repair loop: the tree (None when it gave up) of the patched lines."""

    tree: ast.Module | None
    lines: list[str]
    error: Error | None  # the first parse error of the cleaned text
    headers: set[int] = field(default_factory=set)  # def/class lines rewritten as stubs


def repair_lines(lines: list[str]) -> Repair:
    """Reparse, neutralising the line each SyntaxError points at; line numbers never move."""
    repair = Repair(None, list(lines), None)
    tries: dict[int, int] = {}
    for _ in range(_MAX_PARSES):
        try:
            repair.tree = parse("\n".join(repair.lines))
        except PARSE_ERRORS as exc:
            error = parse_error(exc)
            repair.error = repair.error or error
            index = _line_to_patch(error, repair.lines)
            if index is None or tries.get(index, 0) >= 2:
                return repair
            tries[index] = tries.get(index, 0) + 1
            _patch_line(repair, index, tries[index])
        else:
            return repair
    return repair


def _line_to_patch(error: Error, lines: list[str]) -> int | None:
    """Index of the line to rewrite: the error's line, or the header missing its block."""
    line: int | None = error["line"]
    if line is None or line > len(lines):
        return None
    expected = _EXPECTED_BLOCK_RE.match(error["message"])
    header = int(expected[1]) if expected else 0
    if 0 < header < line and _BLOCK_COLON_RE.search(lines[header - 1]):
        return header - 1
    return line - 1


def _patch_line(repair: Repair, index: int, attempt: int) -> None:
    """First attempt: a stub keeping the block structure (and any def/class name); second: an empty line."""
    lines = repair.lines
    line = lines[index]
    if attempt > 1:
        lines[index] = ""
        return
    indent = line[: len(line) - len(line.lstrip())]
    header = HEADER_RE.match(line)
    opens = _opens_block(lines, index)
    if header is not None:
        kind = header["kw"]
        stub = f"{indent}{header['async'] or ''}{kind} {header['name']}{'()' if kind == 'def' else ''}:"
        lines[index] = stub if opens else f"{stub} pass"
        repair.headers.add(index + 1)
    elif opens:
        words = line.split(None, 1)  # empty for a line of Unicode whitespace only (NBSP, U+3000...)
        keyword = words[0].rstrip(":") if words else ""
        lines[index] = indent + _CONTINUATION_HEADERS.get(keyword, "if 1:")
    elif _BLOCK_COLON_RE.search(line):
        lines[index] = _BLOCK_COLON_RE.sub(": pass", line)
    else:
        lines[index] = f"{indent}pass"


def _opens_block(lines: list[str], index: int) -> bool:
    """Whether the next code line is indented deeper than this one."""
    width = indent_width(lines[index])
    for line in islice(lines, index + 1, None):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return indent_width(line) > width
    return False


def restore_headers(symbols: list[Symbol], lines: list[str], headers: set[int]) -> None:
    """Give defs/classes whose header line was stubbed their original signature and bases."""
    for symbol in symbols:
        if symbol["line"] in headers and symbol["kind"] not in _VARIABLE_KINDS:
            match = HEADER_RE.match(lines[symbol["line"] - 1])
            rest = match["rest"] if match else ""
            symbol["signature"] = header_signature(rest)
            symbol["bases"] = header_bases(symbol["signature"]) if symbol["kind"] == "class" else []


def covers(symbols: list[Symbol], scanned: list[Symbol]) -> bool:
    """Whether the repaired tree kept every def/class the line scan sees (else the scan is better)."""
    lines = {symbol["line"] for symbol in symbols if symbol["kind"] not in _VARIABLE_KINDS}
    return all(symbol["line"] in lines for symbol in scanned)
