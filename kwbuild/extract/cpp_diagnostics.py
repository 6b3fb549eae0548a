"""C/C++ extractor: diagnostics, the errors a file's table lists about its bytes and its syntax.

Owns the "decode" error (bytes that are not UTF-8) and the "syntax" errors (the ERROR and MISSING nodes of the
tree, the first ``MAX_SYNTAX_ERRORS`` listed).
"""

from __future__ import annotations

from typing import Final

from tree_sitter import Node

from kwbuild.extract.cpp_rows import Error, error_row
from kwbuild.extract.cpp_text import Text

MAX_SYNTAX_ERRORS: Final = 20  # syntax errors listed per file; the rest are counted in one summary entry


def decode_errors(data: bytes) -> list[Error]:
    if data.isascii():
        return []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = len(data[data.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace"))
        return [error_row("decode", f"not UTF-8 ({exc.reason} at byte {exc.start}): shown with U+FFFD", line, col)]
    return []


def syntax_errors(root: Node, text: Text) -> list[Error]:
    """ERROR and MISSING nodes in source order (not what is nested in an ERROR), the first few listed."""
    found = [root] if root.is_error else []
    stack = [] if root.is_error else [root]
    while stack:
        node = stack.pop()
        count = len(found) + len(stack)
        for child in node.children:
            if child.is_error or child.is_missing:
                found.append(child)
            elif child.has_error:
                stack.append(child)
        if len(found) + len(stack) == count:  # the error is a token the tree does not show (at the end of file)
            found.append(node)
    found.sort(key=lambda node: node.start_byte)
    listed = found[:MAX_SYNTAX_ERRORS]
    errors = [error_row("syntax", _syntax_message(node, text), *text.position(node)) for node in listed]
    if len(found) > MAX_SYNTAX_ERRORS:
        errors.append(error_row("syntax", f"{len(found) - MAX_SYNTAX_ERRORS} more syntax errors", None, None))
    return errors


def _syntax_message(node: Node, text: Text) -> str:
    if node.is_missing:
        return f"missing {node.type}"
    if not node.is_error:
        return f"incomplete {node.type}"
    snippet = text.original(node.start_byte, min(node.end_byte, node.start_byte + 200)).strip()
    first = snippet.split("\n", 1)[0]
    return "unexpected " + repr(first[:40] + "..." if len(first) > 40 or len(first) < len(snippet) else first)
