"""The JSON endpoints: each takes a checked request and returns a `Body` (or raises `HttpError`).

Every body that is read from the output folder is cached under the stat identities of the files it was made
from, so a rebuilt file is read again and an unchanged one never is. A path is served only when the manifest
lists it, and a file is opened only when its real path (symlinks resolved) lies inside the output folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable
from importlib import resources
from typing import Any

from kwbuild import __version__, jsonio
from kwbuild.layout import Layout
from kwbuild.link import merge_links
from kwbuild.query import MAX_QUERY, BadQuery, deps_of, find_symbols
from kwbuild.serve.body import Body, BodyCache, StatMemo, read_with_identity
from kwbuild.serve.request import HttpError, Request, int_param
from kwbuild.serve.state import JSON, OutputState, folder_listing

MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
_HASH = re.compile(r"[0-9a-f]{32}")
_PLACED_KEYS = ("path", "module")


def load_openapi() -> Body:
    """The OpenAPI document shipped with kwbuild, as served at `/openapi.json`."""
    data = resources.files("kwbuild").joinpath("schema/openapi.json").read_bytes()
    return Body(jsonio.dumps(jsonio.loads(data)), JSON)


class Api:
    """The endpoints under `/api/` over one output folder."""

    def __init__(self, state: OutputState, cache: BodyCache, stats: StatMemo) -> None:
        self.state = state
        self.layout: Layout = state.layout
        self.cache = cache
        self.stats = stats
        self.root = os.path.realpath(self.layout.out)

    def file(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/api/files/{path}`: the table of the file at a tree path, with its links merged in."""
        rel = self._listed_path(rest)
        table_path, links_path = self.layout.table_path(rel), self.layout.links_path(rel)
        key = ("file", rel, self._identity(table_path), self.stats.identity(links_path))
        return self.cache.get(key, lambda: Body(jsonio.dumps(self._linked_table(rel)), JSON))

    def blob(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/api/blobs/{hash}`: the path-independent part of a table, by the content hash of its source."""
        if len(rest) != 1 or not _HASH.fullmatch(rest[0]):
            raise HttpError(400, "a blob is named by 32 lowercase hex digits (xxh3-128)")
        rel = self.state.snapshot().by_hash.get(rest[0])
        if rel is None:
            raise HttpError(404, f"no table with hash {rest[0]}")
        table_path = self.layout.table_path(rel)
        return self.cache.get(("blob", rest[0], self._identity(table_path)), lambda: self._blob(table_path))

    def symbols(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/api/symbols?q=&kind=&mode=&limit=&offset=`: name search, one page at a time."""
        _no_rest(rest)
        q = request.query.get("q", "")
        kind = request.query.get("kind")
        mode = request.query.get("mode", "auto")
        limit = int_param(request.query, "limit", 50, 1, MAX_LIMIT)
        offset = int_param(request.query, "offset", 0, 0, MAX_OFFSET)
        if not q or len(q) > MAX_QUERY:
            raise HttpError(400, f"q is required: a name, a prefix* or Class.name (1 to {MAX_QUERY} characters)")
        ident, index = self.state.symbols()
        args = (q, kind, mode, limit, offset)

        def make() -> Body:
            page = find_symbols(index, q, kind=kind, mode=mode, limit=limit, offset=offset)
            result: dict[str, Any] = {"query": q, "kind": kind, "mode": mode, "limit": limit, "offset": page.offset}
            result |= {"total": page.total, "next_offset": page.next_offset, "results": page.results}
            return Body(jsonio.dumps(result), JSON)

        try:
            return self.cache.get(("symbols", ident, *args), make)
        except BadQuery as error:
            raise HttpError(400, str(error)) from None

    def manifest(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/api/manifest`: `index.json` as the build wrote it."""
        _no_rest(rest)
        return self.state.snapshot().manifest

    def module(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/api/modules/{module}`: a module's file, its resolved imports and the files importing it."""
        snapshot = self.state.snapshot()
        rel = snapshot.modules.get(rest[0]) if len(rest) == 1 else None
        if rel is None:
            raise HttpError(404, f"no module {'/'.join(rest)!r} in the build")
        table_path, links_path = self.layout.table_path(rel), self.layout.links_path(rel)
        key: Hashable = ("module", rest[0], rel, self._identity(table_path), self.stats.identity(links_path))
        entry = snapshot.entries[rel]

        def make() -> Body:
            deps = deps_of(self._read(table_path), self._read_links(rel))
            return Body(jsonio.dumps({"module": rest[0], "file": entry, **deps}), JSON)

        return self.cache.get(key, make)

    def folder(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/api/folders` and `/api/folders/{path}`: subfolders and files of a folder of the tree."""
        snapshot = self.state.snapshot()
        folder = "/".join(rest)

        def make() -> Body:
            listing = folder_listing(snapshot, folder)
            if listing is None:
                raise HttpError(404, f"no folder {folder!r} in the build")
            return Body(jsonio.dumps(listing), JSON)

        return self.cache.get(("folder", snapshot.identity, folder), make)

    def health(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/api/health`: ok, and which build is served (its manifest's hash and file count)."""
        _no_rest(rest)
        snapshot = self.state.snapshot()
        result = {
            "status": "ok",
            "version": __version__,
            "schema_version": snapshot.schema_version,
            "files": len(snapshot.entries),
            "manifest_hash": snapshot.manifest.etag.strip(b'"').decode("ascii"),
        }
        return Body(jsonio.dumps(result), JSON)

    # ------------------------------------------------------------ file access

    def _listed_path(self, rest: tuple[str, ...]) -> str:
        rel = "/".join(rest)
        if not rel or rel not in self.state.snapshot().entries:
            raise HttpError(404, f"no file {rel!r} in the build (paths are relative to the tree's root)")
        return rel

    def _identity(self, path: str) -> Hashable:
        found = self.stats.identity(path)
        if found is None:
            raise HttpError(404, "the file is listed by the manifest but its table is gone (a rebuild is running?)")
        return found

    def _linked_table(self, rel: str) -> dict[str, Any]:
        table = self._read(self.layout.table_path(rel))
        links = self._read_links(rel)
        return table if links is None else merge_links(table, links)

    def _blob(self, table_path: str) -> Body:
        table = self._read(table_path)
        return Body(jsonio.dumps({k: v for k, v in table.items() if k not in _PLACED_KEYS}), JSON)

    def _read_links(self, rel: str) -> dict[str, Any] | None:
        try:
            return self._read(self.layout.links_path(rel))
        except HttpError:
            return None

    def _read(self, path: str) -> dict[str, Any]:
        """A JSON file of the output folder; HttpError(404) when it is gone or lies outside the folder."""
        if not contained(self.root, path):
            raise HttpError(404, "not found")
        try:
            data, _ = read_with_identity(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise HttpError(404, "not found (a rebuild is running?)") from None
        result: dict[str, Any] = jsonio.loads(data)
        return result


def contained(root: str, path: str) -> bool:
    """The real path of `path` (every symlink resolved) lies inside the real folder `root`."""
    return os.path.realpath(path).startswith(root + os.sep)


def _no_rest(rest: tuple[str, ...]) -> None:
    if rest:
        raise HttpError(404, "not found")
