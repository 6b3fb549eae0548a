"""Questions asked of a built output: where is a name defined, what does a file import and who imports it.

The searches are pure functions over data already loaded (the symbol map, a table and its links); the two
loaders at the bottom (`load_symbol_index`, `file_deps`) are the only code here that opens a file. The CLI
(`kwbuild query`, `kwbuild deps`) and the HTTP server share these functions.

Name search (`find_symbols`): `Cart` is an exact name, `Ca*` a prefix, `Cart.add` or `shop.cart.Cart` a
qualified name (the definition's `module.qualname` ends with it, at a dot). Definitions whose name matches
with the same case come first, then those matching only when case is ignored.
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwbuild import jsonio
from kwbuild.errors import UserError
from kwbuild.layout import Layout

MODES = ("auto", "exact", "prefix", "qualified")
MAX_QUERY = 256
_KIND = re.compile(r"[a-z_]{1,32}")
_BAD_SEGMENTS = frozenset({"", ".", ".."})
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Control characters (C0, DEL, C1): never in a query or a path that kwbuild answers."""

Definition = dict[str, Any]


class NotFound(UserError):
    """A path, module or name that the build does not hold."""


class BadQuery(UserError):
    """A query that cannot be answered as asked (empty, too long, unknown mode or kind format)."""


@dataclass(frozen=True)
class SymbolPage:
    """One page of search results, in rank order, with the offset of the next page (None on the last)."""

    results: list[Definition]
    total: int
    offset: int
    next_offset: int | None


@dataclass(frozen=True)
class SymbolIndex:
    """The symbol map with the sorted views that prefix and case-blind searches need (build once, query often)."""

    by_name: Mapping[str, Sequence[Definition]]
    names: list[str]
    folded: list[tuple[str, str]]

    @classmethod
    def from_map(cls, symbol_map: Mapping[str, Any]) -> SymbolIndex:
        """From `symbols.json` as loaded (`{"symbols": {name: [definition, ...]}}`) or its inner mapping."""
        by_name: Mapping[str, Sequence[Definition]] = symbol_map.get("symbols", symbol_map)
        names = sorted(by_name)
        return cls(by_name, names, sorted((name.casefold(), name) for name in names))


@dataclass(frozen=True)
class _Pattern:
    scope: str | None
    name: str
    prefix: bool


def find_symbols(
    symbols: SymbolIndex | Mapping[str, Any],
    q: str,
    kind: str | None = None,
    mode: str = "auto",
    limit: int = 50,
    offset: int = 0,
) -> SymbolPage:
    """The definitions matching `q` (see the module docstring), filtered by `kind`, one page of them."""
    index = symbols if isinstance(symbols, SymbolIndex) else SymbolIndex.from_map(symbols)
    pattern = parse_query(q, mode)
    check_kind(kind)
    matches = _matches(index, pattern, kind)
    page = matches[offset : offset + limit]
    following = offset + limit
    return SymbolPage(page, len(matches), offset, following if following < len(matches) else None)


def parse_query(q: str, mode: str = "auto") -> _Pattern:
    """What `q` asks for under `mode`; BadQuery for an empty or over-long query or one with control characters.

    `*` alone (or `Class.*`) asks for every name (every member of `Class`); a name that cannot exist
    (`a.b.`) simply matches nothing.
    """
    if mode not in MODES:
        raise BadQuery(f"unknown mode {mode!r} (one of: {', '.join(MODES)})")
    if not q or len(q) > MAX_QUERY or CONTROL.search(q):
        raise BadQuery(f"a query is 1 to {MAX_QUERY} characters, without control characters")
    prefix = mode == "prefix" or (mode == "auto" and q.endswith("*"))
    if prefix:
        q = q.removesuffix("*")
    qualified = mode == "qualified" or (mode != "exact" and "." in q.lstrip("."))
    scope, _, name = q.rpartition(".") if qualified else ("", "", q)
    return _Pattern(scope or None, name, prefix)


def check_kind(kind: str | None) -> None:
    """A kind is a lowercase word (`class`, `method`...); an unknown one simply matches nothing."""
    if kind is not None and not _KIND.fullmatch(kind):
        raise BadQuery(f"bad kind {kind!r} (a lowercase word such as class, function, method)")


def _matches(index: SymbolIndex, pattern: _Pattern, kind: str | None) -> list[Definition]:
    """Definitions matching with their case (name and scope), then those matching only case-blind."""
    exact, folded = _candidate_names(index, pattern)
    first: list[Definition] = []
    then: list[Definition] = []
    for names, same_case in ((exact, True), (folded, False)):
        for name in names:
            for definition in index.by_name[name]:
                if kind is not None and definition["kind"] != kind:
                    continue
                if pattern.scope is None or _in_scope(definition, pattern.scope, fold=False):
                    (first if same_case else then).append({"name": name, **definition})
                elif _in_scope(definition, pattern.scope, fold=True):
                    then.append({"name": name, **definition})
    return first + then


def _candidate_names(index: SymbolIndex, pattern: _Pattern) -> tuple[list[str], list[str]]:
    """Names matching with their case, then the other names matching case-blind (each list sorted)."""
    name, key = pattern.name, pattern.name.casefold()
    start = bisect.bisect_left(index.folded, (key, ""))
    if pattern.prefix:
        exact = _with_prefix(index.names, name)
        blind = _folded_while(index.folded, start, lambda folded: folded.startswith(key))
    else:
        exact = [name] if name in index.by_name else []
        blind = _folded_while(index.folded, start, lambda folded: folded == key)
    seen = set(exact)
    return exact, sorted(other for other in blind if other not in seen)


def _with_prefix(names: list[str], prefix: str) -> list[str]:
    start = end = bisect.bisect_left(names, prefix)
    while end < len(names) and names[end].startswith(prefix):
        end += 1
    return names[start:end]


def _folded_while(folded: list[tuple[str, str]], start: int, keep: Callable[[str], bool]) -> list[str]:
    names = []
    for folded_name, original in itertools.islice(folded, start, None):
        if not keep(folded_name):
            break
        names.append(original)
    return names


def _in_scope(definition: Definition, scope: str, fold: bool) -> bool:
    """The definition's dotted parent (`module.Class`) is `scope` or ends with `.scope`."""
    qualname = definition["qualname"]
    full = f"{definition['module']}.{qualname}" if definition.get("module") else qualname
    parent = full.rpartition(".")[0]
    if fold:
        parent, scope = parent.casefold(), scope.casefold()
    return parent == scope or parent.endswith("." + scope)


def deps_of(table: Mapping[str, Any], links: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a file imports (each import with its resolution) and which files import it."""
    from kwbuild.link import merge_links  # loaded here: `kwbuild build` imports this module, not the linker

    merged = merge_links(dict(table), dict(links or {}))
    return {
        "path": table["path"],
        "module": table["module"],
        "imports": merged["imports"],
        "imported_by": merged["imported_by"],
    }


def check_rel_path(path: str) -> str:
    """A tree path as tables name it ('/'-separated, relative, no `.`/`..`/empty segment, no NUL or backslash)."""
    rel = path.replace(os.sep, "/").removeprefix("./")
    if "\\" in rel or CONTROL.search(rel) or _BAD_SEGMENTS.intersection(rel.split("/")):
        raise BadQuery(f"bad path {path!r}: a path is relative to the tree's root, without '.' or '..'")
    return rel


# ---------------------------------------------------------------- loaders (the only file access here)


def existing_layout(out: str | os.PathLike[str]) -> Layout:
    """The layout of an output folder that holds a build; NotFound otherwise."""
    layout = Layout(Path(out))
    if not os.path.isfile(layout.manifest):
        raise NotFound(f"{os.fspath(out)!r} holds no kwbuild build (run: kwbuild build ROOT --out {os.fspath(out)})")
    return layout


def load_symbol_index(out: str | os.PathLike[str]) -> SymbolIndex:
    """The symbol index of the build in `out`."""
    return SymbolIndex.from_map(jsonio.read_json(existing_layout(out).symbol_map))


def file_deps(out: str | os.PathLike[str], path: str) -> dict[str, Any]:
    """`deps_of` the file at tree path `path` in the build in `out`."""
    layout = existing_layout(out)
    rel = check_rel_path(path)
    try:
        table = jsonio.read_json(layout.table_path(rel))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise NotFound(f"no table for {path!r} (paths are relative to the tree's root)") from None
    try:
        links = jsonio.read_json(layout.links_path(rel))
    except FileNotFoundError:
        links = None
    return deps_of(table, links)
