"""Tree-wide aggregates computed from the digests of the tables: the manifest and the symbol map (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kwbuild.digest import Digest
from kwbuild.model import SCHEMA_VERSION


def manifest_entry(digest: Digest) -> dict[str, Any]:
    """One file's line in the manifest."""
    return {
        "path": digest.path,
        "module": digest.module,
        "language": digest.language,
        "hash": digest.hash,
        "size": digest.size,
        "lines": digest.lines,
        "docstring": digest.docstring,
        "symbols": dict(digest.symbol_counts),
        "imports": len(digest.imports),
        "errors": digest.errors,
        "partial": digest.partial,
    }


def build_manifest(digests: Iterable[Digest]) -> dict[str, Any]:
    """The manifest `index.json`: every file, sorted by path, with totals."""
    return _manifest([manifest_entry(d) for d in digests])


def _manifest(entries: list[dict[str, Any]]) -> dict[str, Any]:
    files = sorted(entries, key=lambda entry: entry["path"])
    totals = {
        "files": len(files),
        "files_with_errors": sum(1 for entry in files if entry["errors"]),
        "symbols": sum(sum(entry["symbols"].values()) for entry in files),
        "imports": sum(entry["imports"] for entry in files),
    }
    return {"schema_version": SCHEMA_VERSION, "files": files, "totals": totals}


def symbol_map_part(digest: Digest) -> tuple[object, ...]:
    """What the symbol map reads of a digest (if it is equal, the symbol map is too)."""
    return digest.path, digest.module, digest.names, digest.qualnames, digest.kinds, digest.symbol_lines, digest.parents


def build_symbol_map(digests: Iterable[Digest]) -> dict[str, Any]:
    """The symbol map `symbols.json`: each name -> every definition (path, module, qualname, kind, line)."""
    return {"schema_version": SCHEMA_VERSION, "symbols": dict(symbol_definitions(digests))}


def symbol_definitions(digests: Iterable[Digest]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The symbol map's names in order, each with its definitions (in path, line and qualname order), made one
    name at a time: the torch tree's ~250,000 definitions as dicts were ~60 MB more at the build's peak."""
    names: dict[str, list[tuple[Digest, str, str, int]]] = {}
    for digest in sorted(digests, key=lambda d: d.path):
        for name, qualname, kind, line, _parent in sorted(digest.symbols, key=_line_order):
            found = names.get(name)
            if found is None:
                names[name] = [(digest, qualname, kind, line)]
            else:
                found.append((digest, qualname, kind, line))
    for name in sorted(names):
        yield name, [_definition(*found) for found in names.pop(name)]


def changed_definitions(
    lookup: Callable[[str], list[dict[str, Any]] | None], changes: dict[str, tuple[Digest | None, Digest | None]]
) -> dict[str, list[dict[str, Any]]]:
    """The definitions of every name these changes touch (empty: the name is gone), from `lookup`, the symbol
    map they were made since. Equal to `build_symbol_map` of every digest after the changes: a name's
    definitions are in (path, line, qualname) order there, which a re-sort of only the names that changed gives
    back."""
    names: dict[str, list[dict[str, Any]]] = {}

    def definitions(name: str) -> list[dict[str, Any]]:
        if name not in names:
            names[name] = list(lookup(name) or ())
        return names[name]

    for rel, (before, after) in changes.items():
        old, new = _by_name(before), _by_name(after)
        moved = before is None or after is None or (before.path, before.module) != (after.path, after.module)
        for name in old.keys() | new.keys():
            if moved or old.get(name) != new.get(name):  # else this file gives the name the same definitions
                kept = [entry for entry in definitions(name) if entry["path"] != rel]
                names[name] = kept + [_definition(after, *found) for found in new.get(name, ()) if after]
    for found in names.values():
        found.sort(key=lambda entry: entry["path"])  # stable: each file's own order is kept
    return names


def _by_name(digest: Digest | None) -> dict[str, list[tuple[str, str, int]]]:
    """A file's definitions of each name: (qualname, kind, line), in line order."""
    found: dict[str, list[tuple[str, str, int]]] = {}
    for name, qualname, kind, line, _parent in sorted(digest.symbols, key=_line_order) if digest is not None else ():
        found.setdefault(name, []).append((qualname, kind, line))
    return found


def _definition(digest: Digest, qualname: str, kind: str, line: int) -> dict[str, Any]:
    return {"path": digest.path, "module": digest.module, "qualname": qualname, "kind": kind, "line": line}


def _line_order(symbol: tuple[Any, ...]) -> tuple[int, str]:
    return symbol[3], symbol[1]
