"""Tree-wide aggregates computed from the tables: the manifest and the symbol map (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kwbuild.model import SCHEMA_VERSION, Table, symbol_counts


def manifest_entry(table: Table) -> dict[str, Any]:
    """One file's line in the manifest."""
    return {
        "path": table["path"],
        "module": table["module"],
        "language": table["language"],
        "hash": table["hash"],
        "size": table["size"],
        "lines": table["lines"],
        "docstring": table["docstring"],
        "symbols": symbol_counts(table),
        "imports": len(table["imports"]),
        "errors": len(table["errors"]),
        "partial": table["partial"],
    }


def build_manifest(tables: Iterable[Table]) -> dict[str, Any]:
    """The manifest `index.json`: every file, sorted by path, with totals."""
    files = sorted((manifest_entry(t) for t in tables), key=lambda entry: entry["path"])
    totals = {
        "files": len(files),
        "files_with_errors": sum(1 for entry in files if entry["errors"]),
        "symbols": sum(sum(entry["symbols"].values()) for entry in files),
        "imports": sum(entry["imports"] for entry in files),
    }
    return {"schema_version": SCHEMA_VERSION, "files": files, "totals": totals}


def build_symbol_map(tables: Iterable[Table]) -> dict[str, Any]:
    """The symbol map `symbols.json`: each name -> every definition (path, qualname, kind, line)."""
    names: dict[str, list[dict[str, Any]]] = {}
    for table in tables:
        path, module = table["path"], table["module"]
        for symbol in table["symbols"]:
            names.setdefault(symbol["name"], []).append(
                {
                    "path": path,
                    "module": module,
                    "qualname": symbol["qualname"],
                    "kind": symbol["kind"],
                    "line": symbol["line"],
                }
            )
    for definitions in names.values():
        definitions.sort(key=lambda d: (d["path"], d["line"], d["qualname"]))
    return {"schema_version": SCHEMA_VERSION, "symbols": dict(sorted(names.items()))}
