"""C/C++ extractor: the symbol and error rows of a table, built in one place so every stage makes them alike."""

from __future__ import annotations

from typing import Any

Symbol = dict[str, Any]
Error = dict[str, Any]


def error_row(kind: str, message: str, line: int | None, col: int | None) -> Error:
    return {"kind": kind, "message": message, "line": line, "col": col}


def symbol_row(
    name: str, kind: str, line: int, col: int, end_line: int, parent: str | None, signature: str, doc: str | None
) -> Symbol:
    return {
        "name": name,
        "qualname": f"{parent}::{name}" if parent else name,
        "kind": kind,
        "line": line,
        "end_line": end_line,
        "col": col,
        "signature": signature,
        "decorators": [],
        "bases": [],
        "docstring": doc,
        "parent": parent,
        "is_async": False,
    }
