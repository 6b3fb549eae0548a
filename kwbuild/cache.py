"""The content cache: cached tables by (content hash, extractor, extractor version, schema version).

Backed by one `diskcache.Cache` (SQLite in WAL mode, safe across processes). Values are the table's JSON
bytes. Entries are only memos: a cache that cannot be opened or read (truncated, garbage, wrong format) is
moved aside with a warning and a new one is started; the build goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kwbuild import jsonio
from kwbuild.discover import CACHE_MARKER
from kwbuild.model import SCHEMA_VERSION, Table

if TYPE_CHECKING:
    import diskcache

    from kwbuild.config import BuildConfig

log = logging.getLogger("kwbuild")

DEFAULT_SIZE_LIMIT = 8 * 2**30
"""8 GiB: far above a large tree's tables (the torch tree's take ~150 MB), so nothing is evicted by accident."""

_SETTINGS: dict[str, Any] = {
    "eviction_policy": "least-recently-stored",  # reads never write: a no-op build leaves the cache untouched
    "statistics": False,
    "timeout": 60,
}


def cache_key(digest: str, extractor: str, version: int) -> str:
    """The key of a cached table: every part that decides its content."""
    return digest + key_tail(extractor, version)


def key_tail(extractor: str, version: int) -> str:
    """What follows the content hash in the keys of one extractor's tables (a tree's keys are made with one
    concatenation each)."""
    return f":{extractor}@{version}:schema{SCHEMA_VERSION}"


def default_cache_dir() -> Path:
    """The per-user cache: `$KWBUILD_CACHE`, else `$XDG_CACHE_HOME/kwbuild`, else `~/.cache/kwbuild`."""
    explicit = os.environ.get("KWBUILD_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kwbuild"


def content_cache(config: BuildConfig) -> ContentCache:
    """The build's content cache: the local one, behind a remote one when `--remote-cache` is given."""
    local = ContentCache(config.cache)
    if config.remote_cache is None:
        return local
    from kwbuild.remote import RemoteCache

    return RemoteCache(local, config.remote_cache, push=config.remote_push, token=config.remote_token)


class ContentCache:
    """Cached tables in one folder; opened lazily, once per process (safe after fork)."""

    def __init__(self, folder: Path, size_limit: int = DEFAULT_SIZE_LIMIT) -> None:
        self.folder = folder
        self.size_limit = size_limit
        self._cache: diskcache.Cache | None = None
        self._pid = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "size_limit": self.size_limit, "_cache": None, "_pid": 0}

    def get(self, key: str) -> Table | None:
        """The cached table under `key`, or None (a miss, or an unreadable entry)."""
        try:
            raw = self._open().get(key)
        except (sqlite3.DatabaseError, OSError) as error:
            self._repair(error)
            return None
        if not isinstance(raw, bytes):
            return None
        try:
            table: Table = jsonio.loads(raw)
        except ValueError:
            return None
        return table

    def contains(self, key: str) -> bool:
        try:
            return key in self._open()
        except (sqlite3.DatabaseError, OSError) as error:
            self._repair(error)
            return False

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        """Store several entries in one transaction (much cheaper than one transaction each)."""
        if not items:
            return
        try:
            cache = self._open()
            with cache.transact():
                for key, value in items:
                    cache.set(key, value)
        except (sqlite3.DatabaseError, OSError) as error:
            self._repair(error)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def _open(self) -> diskcache.Cache:
        if self._cache is not None and self._pid == os.getpid():
            return self._cache
        try:
            self._cache = self._connect()
        except (sqlite3.DatabaseError, OSError) as error:
            self._move_aside(error)
            self._cache = self._connect()
        self._pid = os.getpid()
        return self._cache

    def _connect(self) -> diskcache.Cache:
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / CACHE_MARKER
        if not marker.exists():
            marker.write_text("kwbuild content cache: safe to delete, never commit.\n", encoding="utf-8")
        import diskcache  # on first use: a build with nothing to do never opens the cache

        return diskcache.Cache(str(self.folder), size_limit=self.size_limit, **_SETTINGS)

    def _repair(self, error: Exception) -> None:
        self.close()
        self._move_aside(error)

    def _move_aside(self, error: Exception) -> None:
        aside = self.folder.with_name(f"{self.folder.name}.corrupt-{int(time.time())}-{os.getpid()}")
        log.warning(
            "content cache at %s is unreadable (%s); moved it to %s and started a new one", self.folder, error, aside
        )
        with contextlib.suppress(OSError):
            os.replace(self.folder, aside)
