"""Looking after the content cache: `kwbuild cache stats|prune|verify`, and the usage record they rely on.

Each successful build records, in the cache folder, which entries its tree uses (`usage/<time>-<pid>.keys`, the
newest 64 kept) and its hit counts (`last-build.json`). `prune --keep-builds N` keeps the entries used by the
newest N builds; `prune --max-size BYTES` lets diskcache evict (least recently stored first) down to a size.
`verify` reads every entry and checks that it is a table of the schema, extractor and hash its key names.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kwbuild import jsonio
from kwbuild.cache import _SETTINGS
from kwbuild.errors import UserError

if TYPE_CHECKING:
    import diskcache

USAGE_DIR = "usage"
LAST_BUILD = "last-build.json"
KEEP_USAGE_FILES = 64


def record_usage(folder: Path, keys: Iterable[str], stats: dict[str, int]) -> None:
    """Remember which entries a successful build's tree uses (each once, in the order given: the tree's path
    order), and its hit counts."""
    usage = folder / USAGE_DIR
    usage.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{os.getpid()}.keys"
    jsonio.atomic_write(usage / name, "".join(key + "\n" for key in dict.fromkeys(keys)).encode())
    for old in sorted(usage.glob("*.keys"))[:-KEEP_USAGE_FILES]:
        old.unlink(missing_ok=True)
    jsonio.atomic_write(folder / LAST_BUILD, jsonio.dumps(stats, pretty=True))


def cache_stats(folder: Path) -> dict[str, Any]:
    """Entries, bytes, builds recorded, and the hit rate of the last build."""
    with _open(folder) as cache:
        entries, volume = len(cache), cache.volume()
    try:
        last = jsonio.read_json(folder / LAST_BUILD)
    except (OSError, ValueError):
        last = {}
    looked_up = last.get("parsed", 0) + last.get("cache_hits", 0)
    rate = round(last.get("cache_hits", 0) / looked_up, 4) if looked_up else None
    builds = len(list((folder / USAGE_DIR).glob("*.keys")))
    return {"folder": str(folder), "entries": entries, "bytes": volume, "builds_recorded": builds, "last_build": last,
            "last_build_hit_rate": rate}  # fmt: skip


def prune_cache(folder: Path, keep_builds: int | None, max_size: int | None) -> dict[str, int]:
    """Remove the entries no recent build uses, and/or evict down to a size; returns counts."""
    removed = 0
    with _open(folder) as cache:
        before = len(cache)
        if keep_builds is not None:
            keep = _used_by_newest(folder, keep_builds)
            for key in list(cache.iterkeys()):
                if key not in keep:
                    removed += cache.delete(key)
        if max_size is not None:
            cache.reset("size_limit", max_size)
            removed += cache.cull()
        return {"before": before, "removed": removed, "after": len(cache)}


def verify_cache(folder: Path, fix: bool) -> dict[str, Any]:
    """Check every entry against its key; with `fix`, delete the bad ones."""
    bad: list[str] = []
    checked = 0
    with _open(folder) as cache:
        for key in list(cache.iterkeys()):
            checked += 1
            if not _entry_ok(key, cache.get(key)):
                bad.append(key)
                if fix:
                    cache.delete(key)
    return {"checked": checked, "bad": bad, "fixed": fix}


def _entry_ok(key: object, raw: object) -> bool:
    if not isinstance(key, str) or not isinstance(raw, bytes):
        return False
    try:
        digest, extractor, schema = key.split(":")
        table = jsonio.loads(raw)
        name, version = extractor.split("@")
        return bool(
            table["hash"] == digest
            and f"schema{table['schema_version']}" == schema
            and table["extractor"] == {"name": name, "version": int(version)}
            and isinstance(table["symbols"], list)
        )
    except (ValueError, KeyError, TypeError):
        return False


def _used_by_newest(folder: Path, builds: int) -> set[str]:
    files = sorted((folder / USAGE_DIR).glob("*.keys"))[-builds:] if builds > 0 else []
    return {line for path in files for line in path.read_text(encoding="ascii").split()}


def _open(folder: Path) -> diskcache.Cache:
    import diskcache  # on demand: a build only records usage (`record_usage`), which needs none of it

    if not (folder / "cache.db").is_file():
        raise UserError(f"no content cache at {str(folder)!r}")
    return diskcache.Cache(str(folder), **_SETTINGS)
