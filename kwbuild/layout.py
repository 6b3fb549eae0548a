"""Where a build's outputs and state live inside its output folder (one place for every path).

Paths are plain strings: a tree's tables are named thousands of times per build, and `pathlib` costs
~10 us a join. They are interned: each path is named by several tasks (as target of one, dependency of others),
and one string each instead of 4-7 copies saves ~1.8 KB per file of the tree in a build that creates every task.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from sys import intern

from kwbuild.discover import OUTPUT_MARKER


@dataclass(frozen=True)
class Layout:
    """The output folder's map.

    out/tables/<path>.json   one table per source file, mirroring the tree
    out/links/<path>.json    the file's cross-file facts: resolved imports, importers, related and test files
    out/index.json           the manifest
    out/symbols.json         the symbol map
    out/docs/                the Markdown pages: <path>_kw.md, <path>_docs.md, <folder>/index.md, global pages
    out/.kwbuild/            build state: doit's database, the stat snapshot (never read by tools)
    """

    out: Path

    @property
    def tables(self) -> str:
        return os.path.join(self.out, "tables")

    def table_path(self, rel: str) -> str:
        return intern(f"{self.out}/tables/{rel}.json")

    def links_path(self, rel: str) -> str:
        return intern(f"{self.out}/links/{rel}.json")

    @property
    def links(self) -> str:
        return os.path.join(self.out, "links")

    @property
    def docs(self) -> str:
        return os.path.join(self.out, "docs")

    def docs_file(self, page: str) -> str:
        """The file of a page named relative to the docs root (`torch/ir.py_docs.md`, `index.md`)."""
        return intern(f"{self.out}/docs/{page}")

    @property
    def manifest(self) -> str:
        return os.path.join(self.out, "index.json")

    @property
    def symbol_map(self) -> str:
        return os.path.join(self.out, "symbols.json")

    @property
    def changes_json(self) -> str:
        return os.path.join(self.out, "changes.json")

    @property
    def changes_md(self) -> str:
        return os.path.join(self.out, "CHANGES.md")

    @property
    def state(self) -> str:
        return os.path.join(self.out, ".kwbuild")

    @property
    def doit_db(self) -> str:
        return os.path.join(self.state, "doit.sqlite3")

    @property
    def snapshot(self) -> str:
        return os.path.join(self.state, "snapshot.json")

    @property
    def lock(self) -> str:
        """Locked (flock) by the build that runs on this output; the lock goes with its process, even on kill -9
        (and with the processes it forked, which hold it too: on Linux they are killed with it)."""
        return os.path.join(self.state, "lock")

    @property
    def running(self) -> str:
        """Present while a build runs: found at the start of a build, it says the last one was killed."""
        return os.path.join(self.state, "running")

    @property
    def symbol_places(self) -> str:
        """Where each name's item is in `symbols.json` (see `kwbuild.spliced`)."""
        return os.path.join(self.state, "symbols.places")

    @property
    def manifest_places(self) -> str:
        """Where each file's entry is in `index.json`."""
        return os.path.join(self.state, "index.places")

    @property
    def digests(self) -> str:
        """The digest store's folder (one file per shard)."""
        return os.path.join(self.state, "digests")

    @property
    def digest_spool(self) -> str:
        """The scratch file of the digests a large build's table jobs sent (see `kwbuild.store.DigestSpool`)."""
        return os.path.join(self.state, "digests.spool")

    @property
    def marker(self) -> str:
        return os.path.join(self.out, OUTPUT_MARKER)

    def prepare(self) -> None:
        """Create the output and state folders and the marker that keeps discovery out of them."""
        os.makedirs(self.state, exist_ok=True)
        if not os.path.exists(self.marker):
            with open(self.marker, "w", encoding="utf-8") as handle:
                handle.write("kwbuild output folder: generated, safe to delete.\n")
