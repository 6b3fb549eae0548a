"""`index.json` and `symbols.json` as spliced files (see `kwbuild.spliced`): made whole from every digest (as they
are written: an `Assembly`), or patched from the changed digests, always the bytes `jsonio.dumps` gives for the
whole value (pure).

`symbols.json` is `{"schema_version":N,"symbols":{` then one `"name":[...]` item per name, then `}}`; `index.json`
is `{"files":[` then one entry per file in path order, then `],"schema_version":N,"totals":{...}}`, its totals
updated from the changed digests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from kwbuild.digest import Digest
from kwbuild.index import build_manifest, changed_definitions, manifest_entry, symbol_definitions
from kwbuild.jsonio import trimmed
from kwbuild.model import SCHEMA_VERSION
from kwbuild.spliced import Assembly, Spliced, patch

Changes = Mapping[str, tuple[Digest | None, Digest | None]]
_OPTIONS = orjson.OPT_SORT_KEYS


# --- symbols.json ------------------------------------------------------------------------------------------
def symbol_map_file(digests: Iterable[Digest]) -> Assembly:
    items = ((name, _symbol_item(name, found)) for name, found in symbol_definitions(digests))
    return Assembly(_SYMBOLS_HEAD, items, _SYMBOLS_TAIL)


def patch_symbol_map(old: Spliced, changes: Changes) -> Spliced:
    changed = changed_definitions(lambda name: definitions(old, name), dict(changes))
    items = {name: _symbol_item(name, found) if found else None for name, found in changed.items()}
    return patch(old, items, _SYMBOLS_HEAD, _SYMBOLS_TAIL)


def definitions(file: Spliced, name: str) -> list[dict[str, Any]] | None:
    """One name's definitions in a symbol map file, or None when it has none."""
    item = file.item(name)
    if item is None:
        return None
    found: list[dict[str, Any]] = orjson.loads(item[len(orjson.dumps(name)) + 1 :])
    return found


def _symbol_item(name: str, found: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(name) + b":" + orjson.dumps(found, option=_OPTIONS)


_SYMBOLS_HEAD = b'{"schema_version":%d,"symbols":{' % SCHEMA_VERSION
_SYMBOLS_TAIL = b"}}\n"


# --- index.json --------------------------------------------------------------------------------------------
def manifest_file(digests: Iterable[Digest]) -> Assembly:
    manifest = build_manifest(digests)
    items = ((entry["path"], trimmed(orjson.dumps(entry, option=_OPTIONS))) for entry in manifest["files"])
    return Assembly(_MANIFEST_HEAD, items, _manifest_tail(manifest["totals"]))


def patch_manifest(old: Spliced, changes: Changes) -> Spliced | None:
    """`old` after these changes; None when its tail is not a manifest's of this schema."""
    try:
        rest = orjson.loads(b"{" + old.tail[2:])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(rest, dict) or rest.get("schema_version") != SCHEMA_VERSION or "totals" not in rest:
        return None
    items = {
        rel: None if after is None else trimmed(orjson.dumps(manifest_entry(after), option=_OPTIONS))
        for rel, (_before, after) in changes.items()
    }
    return patch(old, items, _MANIFEST_HEAD, _manifest_tail(_totals(dict(rest["totals"]), changes.values())))


def _totals(totals: dict[str, int], changes: Iterable[tuple[Digest | None, Digest | None]]) -> dict[str, int]:
    """The manifest's totals (see `kwbuild.index.build_manifest`) after these changes."""
    for before, after in changes:
        for digest, sign in ((before, -1), (after, 1)):
            if digest is not None:
                totals["files"] += sign
                totals["files_with_errors"] += sign * (digest.errors > 0)
                totals["symbols"] += sign * sum(n for _, n in digest.symbol_counts)
                totals["imports"] += sign * len(digest.imports)
    return totals


def _manifest_tail(totals: dict[str, int]) -> bytes:
    return b'],"schema_version":%d,"totals":%s}\n' % (SCHEMA_VERSION, orjson.dumps(totals, option=_OPTIONS))


_MANIFEST_HEAD = b'{"files":['
