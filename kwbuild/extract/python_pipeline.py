"""The Python extractor's pipeline: the bytes of a ``.py``/``.pyi`` file in, its symbol table out.

It ties the other ``python_*`` modules together (``kwbuild.extract.python``, the plugin the registry lists,
imports it on its first ``extract``): decode and parse (``python_source``), walk the statements for symbols,
imports, ``__all__`` and docstrings (``python_walk``, with ``python_signature`` and ``python_all``), and, for a
file that does not parse, the tolerant second pass: a bounded line-repair loop (``python_repair``), then a line
scan (``python_scan``).

``extract_table`` is pure and total: it never opens a file and never raises; a bad source file is data in its
table (``errors``, ``partial``). Text shown in the table (signatures, decorators, bases) is sliced from the
source with the AST's positions (regenerated only for a multi-line expression holding a comment), so it reads
as the author wrote it; parameters are joined with PEP 8 spacing.
"""

from __future__ import annotations

import ast
from typing import Any

from kwbuild.extract.python import NAME
from kwbuild.extract.python_repair import covers, parse_error, repair_lines, restore_headers
from kwbuild.extract.python_scan import scan
from kwbuild.extract.python_signature import docstring
from kwbuild.extract.python_source import PARSE_ERRORS, Error, Source, decode, error_row, parse, split_lines
from kwbuild.extract.python_walk import Walker

Table = dict[str, Any]


def extract_table(data: bytes) -> Table:
    """Return the symbol table of one Python source file given as bytes; never raises."""
    try:
        tree = parse(data)
    except PARSE_ERRORS as exc:
        return _recover(data, exc)
    return _table(tree, decode(data)[0], errors=[], partial=False)


def _table(tree: ast.Module, text: str, errors: list[Error], partial: bool) -> Table:
    walker = Walker(Source(split_lines(text), text.isascii()))
    walker.run(tree)
    return {
        "language": NAME,
        "docstring": docstring(tree),
        "all": walker.all_names(),
        "partial": partial,
        "symbols": walker.symbols,
        "imports": walker.imports,
        "errors": errors,
    }


def _recover(data: bytes, first: BaseException) -> Table:
    """Second pass for a file that did not parse: repair line by line, else scan lines."""
    text, errors = decode(data)
    lines = split_lines(text)
    null_bytes = next(((n, line.index("\0")) for n, line in enumerate(lines, 1) if "\0" in line), None)
    if null_bytes is not None:
        errors.append(error_row("null_bytes", "source contains NUL bytes", *null_bytes))
        lines = [line.replace("\0", " ") for line in lines]
    repair = repair_lines(lines)
    if repair.error is not None:
        errors.append(repair.error)
    elif not errors:  # the bytes failed but the decoded text parses: keep the parser's word for it
        errors.append(parse_error(first))
    symbols, imports = scan(lines)
    if repair.tree is not None:
        table = _table(repair.tree, "\n".join(repair.lines), errors, partial=True)
        restore_headers(table["symbols"], lines, repair.headers)
        if covers(table["symbols"], symbols):
            return table
    return {
        "language": NAME,
        "docstring": None,
        "all": None,
        "partial": True,
        "symbols": symbols,
        "imports": imports,
        "errors": errors,
    }
