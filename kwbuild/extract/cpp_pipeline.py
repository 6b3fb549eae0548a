"""The C/C++ extractor's pipeline: the bytes of a header or source file in, its symbol table out.

Owns everything C/C++-specific: the size and binary guards, blanking attribute-like macros (``TORCH_API``,
``C10_HOST_DEVICE``...) that confuse the grammar, one tree-sitter parse with the C++ grammar (a superset good
enough for C), a walk over declaration-level nodes only (function bodies are never entered) that yields
symbols with ``::`` qualnames, a byte scan for ``#define``/``#include`` lines (wherever they are), and
structured syntax diagnostics.

``extract_table`` is pure and total: it never opens a file and never raises; a bad file is data in its table.
Blanking replaces bytes with spaces, so offsets and lines are those of the file; signatures and type texts
are sliced from the blanked bytes (without the attribute macros), comments and macro bodies from the original.
A symbol's ``line`` and ``col`` are those of its name, as ctags gives them; ``end_line`` that of its end.

Recovery: over half of real headers have ERROR nodes (macros the grammar cannot know, ``#if`` branches that
split a declaration). The walk enters ERROR nodes and follows the ``namespace x {``/``struct X : B {`` tokens
and unmatched braces the parser left there, so what follows keeps its qualname.

The plugin the registry lists is ``kwbuild.extract.cpp``, which imports this module on its first ``extract``.
The stages live beside it: ``cpp_blank`` (the bytes the parser sees), ``cpp_walk`` (the walk and its scopes),
``cpp_declarations``, ``cpp_records`` and ``cpp_declarators`` (the declaration handlers), ``cpp_directives``
(macros and includes), ``cpp_diagnostics`` (errors), ``cpp_text`` and ``cpp_rows`` (text slices and table rows).
"""

from __future__ import annotations

import functools
from typing import Any

from tree_sitter import Language, Parser

from kwbuild.extract.cpp import BINARY_PROBE, MAX_BYTES, NAME
from kwbuild.extract.cpp_blank import prepare_source
from kwbuild.extract.cpp_declarations import HANDLERS
from kwbuild.extract.cpp_diagnostics import decode_errors, syntax_errors
from kwbuild.extract.cpp_directives import scan_directives
from kwbuild.extract.cpp_rows import Error, Symbol, error_row
from kwbuild.extract.cpp_text import Text
from kwbuild.extract.cpp_walk import MAX_DEPTH, Walker

Table = dict[str, Any]


@functools.cache
def _parser() -> Parser:
    """The C++ parser, built on first use in each process; the module's only cache.

    A pure function of nothing, never changed once built: a process that forks after using it hands each
    child a private copy. A ``Parser`` is not thread-safe: run extractors in processes, not threads.
    """
    import tree_sitter_cpp

    return Parser(Language(tree_sitter_cpp.language()))


def extract_table(data: bytes) -> Table:
    """Return the symbol table of one C/C++ file given as bytes; never raises."""
    if len(data) > MAX_BYTES:
        message = f"{len(data)} bytes is over the {MAX_BYTES}-byte limit: not parsed"
        return _table(None, [], [], [error_row("size", message, None, None)], partial=True)
    if data.find(b"\0", 0, BINARY_PROBE) >= 0:
        message = f"NUL byte in the first {BINARY_PROBE} bytes: binary, not parsed"
        return _table(None, [], [], [error_row("binary", message, None, None)], partial=True)
    source = prepare_source(data)
    root = _parser().parse(source).root_node
    text = Text(data, source)
    walker = Walker(text, HANDLERS)
    walker.run(root)
    macros, imports = scan_directives(text, root)
    errors = decode_errors(data) + (syntax_errors(root, text) if root.has_error else [])
    if walker.too_deep:
        errors.append(error_row("depth", f"scopes nested deeper than {MAX_DEPTH} were not walked", None, None))
    symbols = sorted(walker.symbols + macros, key=lambda symbol: (symbol["line"], symbol["col"]))
    return _table(walker.docstring, symbols, imports, errors, partial=root.has_error or walker.too_deep)


def _table(
    docstring: str | None, symbols: list[Symbol], imports: list[Symbol], errors: list[Error], partial: bool
) -> Table:
    return {
        "language": NAME,
        "docstring": docstring,
        "all": None,
        "partial": partial,
        "symbols": symbols,
        "imports": imports,
        "errors": errors,
    }
