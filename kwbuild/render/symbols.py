"""A table's symbols as the pages show them: anchors, nesting depth, sort order and kind words (pure)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence

from kwbuild.render.context import Symbol
from kwbuild.render.markdown import anchor_ids, escape_text

KINDS = ("class", "function", "method", "property", "classmethod", "staticmethod", "variable", "constant", "attribute")
METHOD_KINDS = frozenset({"method", "property", "classmethod", "staticmethod"})
VALUE_KINDS = frozenset({"variable", "constant", "attribute"})
_KNOWN = frozenset(KINDS)
_LABELS = {(kind, is_async): ("async " if is_async else "") + kind for kind in KINDS for is_async in (False, True)}
_PLURALS = {"class": "classes", "property": "properties"}


def name_key(name: str) -> tuple[str, str]:
    """Sort key of names: case-insensitive, ties broken case-sensitively."""
    return name.casefold(), name


def symbol_anchors(symbols: Sequence[Symbol]) -> list[str]:
    """The anchor id of every symbol, in source order (repeated qualnames get `-2`, `-3`...)."""
    return anchor_ids(symbol["qualname"] for symbol in symbols)


def first_anchors(symbols: Sequence[Symbol], anchors: Sequence[str]) -> dict[str, str]:
    """qualname -> the anchor of its first definition."""
    first: dict[str, str] = {}
    for symbol, anchor in zip(symbols, anchors, strict=True):
        first.setdefault(symbol["qualname"], anchor)
    return first


def symbol_depths(symbols: Sequence[Symbol]) -> list[int]:
    """Nesting depth of every symbol (0 at module level; a symbol whose parent is unknown counts as top level)."""
    depths: dict[str, int] = {}
    result = []
    for symbol in symbols:
        parent = symbol["parent"]
        depth = depths.get(parent, -1) + 1 if parent is not None else 0
        depths[symbol["qualname"]] = depth
        result.append(depth)
    return result


def kind_label(symbol: Symbol) -> str:
    """The kind as a word: `class`, `async method`, `constant`..."""
    label = _LABELS.get((symbol["kind"], symbol["is_async"]))
    if label is not None:
        return label
    word = kind_word(symbol["kind"])
    return "async " + word if symbol["is_async"] else word


def kind_word(kind: str) -> str:
    """A kind as Markdown: the schema's kinds as they are, anything else escaped."""
    return kind if kind in _KNOWN else _escaped_kind(kind)


@functools.lru_cache(maxsize=256)
def _escaped_kind(kind: str) -> str:
    # a tree has a few kinds outside the schema's (C/C++: `macro`, `struct`, `namespace`...), met ~85,000 times
    # in torch's A-Z index alone
    return escape_text(kind)


def plural(count: int, kind: str) -> str:
    """`1 class`, `3 classes`, `2 functions` (with thousands separators)."""
    word = kind_word(kind) if count == 1 else _PLURALS.get(kind, kind_word(kind) + "s")
    return f"{count:,} {word}"


def count_kinds(symbols: Iterable[Symbol]) -> dict[str, int]:
    """How many symbols of each kind."""
    counts: dict[str, int] = {}
    for symbol in symbols:
        counts[symbol["kind"]] = counts.get(symbol["kind"], 0) + 1
    return counts


def counts_phrase(counts: Mapping[str, int]) -> str:
    """`106 classes, 329 functions, ...` in the schema's kind order (other kinds after, sorted); '' when empty."""
    order = [kind for kind in KINDS if counts.get(kind)]
    order += sorted(kind for kind in counts if kind not in KINDS and counts[kind])
    return ", ".join(plural(counts[kind], kind) for kind in order)
