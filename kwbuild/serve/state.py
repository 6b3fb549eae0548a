"""What the server knows of a build: the manifest and the symbol index, reloaded when a rebuild replaces them.

`OutputState.snapshot()` stats `index.json` at most every `interval` seconds and reloads it when its identity
(device, inode, mtime_ns, size) changed; `symbols()` does the same for `symbols.json`, lazily (it is the large
one). A reload that fails (the file is missing or unreadable in the middle of a rebuild) keeps the last good
data, so a rebuild never takes the server down. The indexes derived from the manifest (by path, by content
hash, by module, folders) are built by the pure `make_snapshot`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kwbuild import jsonio
from kwbuild.layout import Layout
from kwbuild.query import NotFound, SymbolIndex
from kwbuild.serve.body import Body, Identity, identity, read_with_identity

_LOG = logging.getLogger("kwbuild.serve")
_INIT_NAMES = ("__init__.py", "__init__.pyi")
JSON = b"application/json"


@dataclass
class Folder:
    """A folder of the tree as the manifest shows it: direct subfolders and files, and the count of files below."""

    files: list[str] = field(default_factory=list)
    subfolders: set[str] = field(default_factory=set)
    total_files: int = 0


@dataclass(frozen=True)
class Snapshot:
    """One manifest, as served, with its indexes."""

    manifest: Body
    identity: Identity
    schema_version: int
    entries: dict[str, dict[str, Any]]
    by_hash: dict[str, str]
    modules: dict[str, str]
    folders: dict[str, Folder]


def make_snapshot(data: bytes, ident: Identity) -> Snapshot:
    """The snapshot of the manifest bytes `data` (pure)."""
    manifest = jsonio.loads(data)
    entries = {entry["path"]: entry for entry in manifest["files"]}
    by_hash: dict[str, str] = {}
    modules: dict[str, str] = {}
    for entry in sorted(entries.values(), key=lambda e: (e["path"].endswith(".pyi"), e["path"])):
        if entry.get("hash"):
            by_hash.setdefault(entry["hash"], entry["path"])
        if entry.get("module"):
            modules.setdefault(entry["module"], entry["path"])
    return Snapshot(
        Body(data, JSON), ident, int(manifest.get("schema_version", 0)), entries, by_hash, modules, _folders(entries)
    )


def _folders(entries: dict[str, dict[str, Any]]) -> dict[str, Folder]:
    folders: dict[str, Folder] = defaultdict(Folder)
    folders[""] = Folder()
    for path in sorted(entries):
        folder = path.rpartition("/")[0]
        folders[folder].files.append(path)
        while True:
            folders[folder].total_files += 1
            if not folder:
                break
            parent = folder.rpartition("/")[0]
            folders[parent].subfolders.add(folder)
            folder = parent
    return dict(folders)


def folder_listing(snapshot: Snapshot, folder: str) -> dict[str, Any] | None:
    """A folder's subfolders (file count, summary from `__init__`) and files (manifest summaries); None if unknown."""
    found = snapshot.folders.get(folder)
    if found is None:
        return None
    subfolders = [
        {
            "path": sub,
            "name": sub.rpartition("/")[2],
            "files": snapshot.folders[sub].total_files,
            "summary": _package_summary(snapshot, sub),
        }
        for sub in sorted(found.subfolders)
    ]
    files = [{"name": path.rpartition("/")[2], **snapshot.entries[path]} for path in found.files]
    return {"path": folder, "files_below": found.total_files, "folders": subfolders, "files": files}


def _package_summary(snapshot: Snapshot, folder: str) -> str | None:
    for name in _INIT_NAMES:
        entry = snapshot.entries.get(f"{folder}/{name}")
        if entry is not None:
            summary: str | None = entry.get("docstring")
            return summary
    return None


class OutputState:
    """The build in one output folder, as last seen: reloads its manifest and symbol map when they change."""

    def __init__(self, layout: Layout, interval: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        self.layout = layout
        self.interval = interval
        self._clock = clock
        self._checked = float("-inf")
        first = self._load_manifest(None)
        if first is None:
            raise NotFound(f"{str(layout.out)!r} holds no kwbuild build (no readable index.json)")
        self._snapshot: Snapshot = first
        self._symbols: tuple[Identity, SymbolIndex] | None = None

    def snapshot(self) -> Snapshot:
        """The current manifest snapshot (its file is stat-ed at most every `interval` seconds)."""
        now = self._clock()
        if now - self._checked >= self.interval:
            self._checked = now
            if identity(self.layout.manifest) != self._snapshot.identity:
                self._snapshot = self._load_manifest(self._snapshot) or self._snapshot
        return self._snapshot

    def symbols(self) -> tuple[Identity, SymbolIndex]:
        """The identity of `symbols.json` and its search index, reloaded when the file changed."""
        current = identity(self.layout.symbol_map)
        if self._symbols is None or current != self._symbols[0]:
            self._symbols = self._load_symbols() or self._symbols
        if self._symbols is None:
            raise NotFound("the build has no readable symbols.json")
        return self._symbols

    def _load_manifest(self, previous: Snapshot | None) -> Snapshot | None:
        try:
            data, ident = read_with_identity(self.layout.manifest)
            snapshot = make_snapshot(data, ident)
        except (OSError, ValueError, KeyError, TypeError) as error:
            _LOG.warning("cannot load %s (%s); serving the previous manifest", self.layout.manifest, error)
            return None
        if previous is not None:
            _LOG.info("manifest reloaded: %d files", len(snapshot.entries))
        return snapshot

    def _load_symbols(self) -> tuple[Identity, SymbolIndex] | None:
        try:
            data, ident = read_with_identity(self.layout.symbol_map)
            index = SymbolIndex.from_map(jsonio.loads(data))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            _LOG.warning("cannot load %s (%s); serving the previous symbol map", self.layout.symbol_map, error)
            return None
        return ident, index
