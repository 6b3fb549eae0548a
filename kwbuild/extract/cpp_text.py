"""C/C++ extractor: the file's text as the other stages read it.

Owns ``Text`` (slices of the original and the blanked bytes, decoded, and character columns of byte positions),
the one-line form of code (``one_line``), the first line of a comment block (``comment_summary``) and the byte
classes of identifiers.
"""

from __future__ import annotations

import re
from typing import Final

from tree_sitter import Node

MACRO_TEXT: Final = 80  # an object-like macro's signature: its replacement text, cut to this many characters

MACRO_CHARS: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
WORD_CHARS: Final = frozenset(b"abcdefghijklmnopqrstuvwxyz") | MACRO_CHARS
_COMMENTS: Final = re.compile(r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|/\*[\s\S]*?(?:\*/|\Z)|//[^\n]*""")
_PADDING: Final = re.compile(r"(?<=\() | (?=[,)])")  # `( x , y )` -> `(x, y)`
_WORD: Final = re.compile(r"[^\W_]")


class Text:
    """Slices of the original and the blanked bytes, decoded; character columns of byte positions."""

    def __init__(self, data: bytes, source: bytes) -> None:
        self.data = data
        self.source = source
        self.ascii_only = data.isascii()

    def original(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "replace")

    def name(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def of(self, node: Node) -> str:
        """The node's text from the blanked bytes (attribute macros gone), on one line, without comments."""
        return self.span(node.start_byte, node.end_byte)

    def span(self, start: int, end: int) -> str:
        return one_line(self.source[start:end].decode("utf-8", "replace"))

    def column(self, line_start: int, offset: int) -> int:
        """0-based character column of a byte offset on the line starting at ``line_start``."""
        if self.ascii_only:
            return offset - line_start
        return len(self.data[line_start:offset].decode("utf-8", "replace"))

    def position(self, node: Node) -> tuple[int, int]:
        """1-based line and 0-based character column of the node's start."""
        row, column = node.start_point
        if self.ascii_only or column == 0:
            return row + 1, column
        return row + 1, self.column(node.start_byte - column, node.start_byte)


def comment_summary(comment: str) -> str | None:
    """The first line of a comment block that has words in it, without the comment marks."""
    for line in comment.splitlines():
        line = line.strip().lstrip("/*!<").strip()
        if line.endswith("*/"):
            line = line[:-2].rstrip()
        if _WORD.search(line):
            return line
    return None


def one_line(text: str) -> str:
    """Code on one line: comments dropped (strings kept), whitespace collapsed, no padding inside `( )`."""
    if "/" in text:
        text = _COMMENTS.sub(lambda match: match[1] or " ", text)
    text = " ".join(text.split())
    return _PADDING.sub("", text) if "( " in text or " ," in text or " )" in text else text
