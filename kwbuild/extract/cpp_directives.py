"""C/C++ extractor: macros and includes, from a byte scan of the `#define`/`#include` lines.

Owns ``scan_directives`` (the macro symbols and the include rows of a file) and the comment block above a
directive that documents a macro.
"""

from __future__ import annotations

import re
from typing import Final

from tree_sitter import Node

from kwbuild.extract.cpp_rows import Symbol, symbol_row
from kwbuild.extract.cpp_text import MACRO_TEXT, Text, comment_summary, one_line

_DIRECTIVE: Final = re.compile(
    rb"#[ \t]*(?:define[ \t]+(?P<name>[A-Za-z_]\w*)(?P<parameters>\([^)\n]*\))?(?P<value>[^\n\\]*(?:\\.[^\n\\]*)*)"
    rb"|include(?:_next)?(?!\w)[ \t]*(?P<path><[^>\n]*>|\"[^\"\n]*\"|[^\s/]+))",
    re.DOTALL,
)
_TEXT_NODES: Final = frozenset(
    {"comment", "string_literal", "string_content", "raw_string_literal", "raw_string_content", "char_literal"}
)


def scan_directives(text: Text, root: Node) -> tuple[list[Symbol], list[Symbol]]:
    """Macros and include rows, from the `#define`/`#include` lines of the original bytes.

    A byte scan finds them wherever they are (function bodies, initialiser lists, ERROR nodes); the tree
    only vetoes those it sees inside a comment or a string.
    """
    data = text.data
    macros: list[Symbol] = []
    imports: list[Symbol] = []
    row = position = 0
    # Before the first "/*" or 'R"', a line-start "#" cannot be inside a comment or a string: no tree lookup.
    unsure = min((found for found in (data.find(b"/*"), data.find(b'R"')) if found >= 0), default=len(data))
    for hit in _DIRECTIVE.finditer(data):
        start = hit.start()
        line_start = data.rfind(b"\n", 0, start) + 1
        if start > line_start and data[line_start:start].strip(b" \t"):
            continue
        row += data.count(b"\n", position, start)
        position = start
        if start > unsure:
            inside = root.descendant_for_byte_range(start, start + 1)
            if inside is not None and inside.type in _TEXT_NODES:
                continue
        if hit["path"] is not None:
            imports.append(_include_row(text.original(*hit.span("path")), row + 1))
            continue
        if hit["parameters"] is not None:
            kind, signature = "function_macro", " ".join(text.original(*hit.span("parameters")).split())
        else:
            value = text.original(*hit.span("value")).replace("\\\n", " ")
            kind, signature = "macro", one_line(value)[:MACRO_TEXT]
        docstring = comment_summary(text.original(*_comment_above(data, line_start)))
        end_line = row + 1 + hit[0].count(b"\n")
        col = text.column(line_start, hit.start("name"))
        macros.append(symbol_row(hit["name"].decode(), kind, row + 1, col, end_line, None, signature, docstring))
    return macros, imports


def _include_row(written: str, line: int) -> Symbol:
    system = written.startswith("<")
    quoted = system or written.startswith('"')
    return {
        "module": (written[1:-1] if quoted else written).strip(),
        "name": None,
        "asname": None,
        "level": 0,
        "line": line,
        "type_checking": False,
        "system": system,
    }


def _comment_above(data: bytes, line_start: int) -> tuple[int, int]:
    """Byte range of the comment block ending on the line above ``line_start`` (empty when there is none)."""
    end = line_start - 1
    if end <= 0:
        return 0, 0
    above = data.rfind(b"\n", 0, end) + 1
    line = data[above:end].strip()
    if line.endswith(b"*/"):
        opening = data.rfind(b"/*", 0, end)
        first = data.rfind(b"\n", 0, opening) + 1
        return (opening, end) if opening >= 0 and not data[first:opening].strip() else (0, 0)
    if not line.startswith(b"//"):
        return 0, 0
    while above > 0:
        previous = data.rfind(b"\n", 0, above - 1) + 1
        if not data[previous : above - 1].lstrip().startswith(b"//"):
            break
        above = previous
    return above, end
