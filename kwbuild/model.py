"""The symbol table: its version, its content hash, and how a cached table is placed at a path.

A table has two layers. The *cached* layer is a function of the file's bytes alone (symbols, imports,
errors, hash, size, lines) and is what the content cache stores. The *placed* layer adds what depends on
where the file sits in the tree (`path`, `module`). The JSON Schema of the placed table is committed at
`kwbuild/schema/table.schema.json`.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import xxhash

SCHEMA_VERSION = 2
HASH_ALGORITHM = "xxh3_128"

Table = dict[str, Any]


def content_hash(data: bytes) -> str:
    """The content hash of a file's bytes: xxh3-128, as 32 lowercase hex digits."""
    return xxhash.xxh3_128_hexdigest(data)


def count_lines(data: bytes) -> int:
    """Number of lines as Python's tokenizer sees them (`\n`, `\r\n` and a lone `\r` end a line), counting a
    last line without an end."""
    if not data:
        return 0
    ends = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    return ends + (0 if data.endswith((b"\n", b"\r")) else 1)


def make_cached_table(data: bytes, digest: str, extractor: str, version: int, extracted: Table) -> Table:
    """Combine an extractor's result with the facts of the bytes; the result depends on the bytes only."""
    table = dict(extracted)
    table.update(
        schema_version=SCHEMA_VERSION,
        extractor={"name": extractor, "version": version},
        hash=digest,
        size=len(data),
        lines=count_lines(data),
    )
    return table


def place_table(cached: Table, path: str, module: str | None) -> Table:
    """Add the path-dependent fields to a cached table (a new dict; the cached one is not changed)."""
    table = dict(cached)
    table["path"] = path
    table["module"] = module
    return table


def symbol_counts(table: Table) -> dict[str, int]:
    """How many symbols of each kind a table defines (sorted keys)."""
    counts: dict[str, int] = {}
    for symbol in table.get("symbols", ()):
        counts[symbol["kind"]] = counts.get(symbol["kind"], 0) + 1
    return dict(sorted(counts.items()))


def load_schema() -> dict[str, Any]:
    """The JSON Schema of a placed table, as committed in the package."""
    text = resources.files("kwbuild").joinpath("schema/table.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
