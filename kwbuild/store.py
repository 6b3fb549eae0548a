"""The digest store: every table's digest, kept up to date incrementally and saved in one file.

Aggregates ask for a `View` of a list of tables: every digest, and the changes since the store was last saved
(old and new digest of each table that changed, appeared or went away). The store checks each table file's
stat against the one it recorded, so only tables that changed are read again; tables this build rewrote are
forgotten explicitly. An aggregate whose part of every changed digest is equal can keep its output as it is.

The store is saved (atomically, with `marshal`) once every aggregate of a build has succeeded, so a build
killed half-way sees the same changes again. A missing, old or unreadable store file only means every table
is read once more and every aggregate is rebuilt.
"""

from __future__ import annotations

import marshal
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from kwbuild import jsonio
from kwbuild.digest import Digest, digest_table, from_plain, to_plain

FORMAT = 3

Stamp = tuple[int, int, int]
Change = tuple[Digest | None, Digest | None]


@dataclass
class View:
    """The digests of a build's tables (in the order asked), and what changed since the last save."""

    digests: list[Digest]
    changes: dict[str, Change] = field(default_factory=dict)
    complete: bool = False  # True when there was no saved store: every digest counts as changed

    def unchanged(self, part: Callable[[Digest], object]) -> bool:
        """True when `part` of every changed digest is equal before and after (and a store was saved)."""
        if self.complete:
            return False
        return all(old is not None and new is not None and part(old) == part(new) for old, new in self.changes.values())


class DigestStore:
    """Digests by tree path, with the (inode, mtime_ns, size) of the table file each was read from."""

    def __init__(self, path: str, table_path: Callable[[str], str]) -> None:
        self.path = path
        self._table_path = table_path
        self._saved: dict[str, tuple[Stamp, Digest]] | None = None
        self._current: dict[str, tuple[Stamp, Digest]] = {}
        self._forgotten: set[str] = set()
        self._view: tuple[tuple[str, ...], View] | None = None

    def forget(self, rels: list[str]) -> None:
        """These tables were rewritten by this build: read them again whatever their stat."""
        self._forgotten.update(rels)
        self._view = None

    def view(self, rels: list[str]) -> View:
        """The digests of these tables (a missing table is left out) and the changes since the last save."""
        key = tuple(rels)
        if self._view is None or self._view[0] != key:
            self._view = (key, self._refresh(rels))
        return self._view[1]

    def current_view(self) -> View | None:
        """The view this build computed, if any."""
        return None if self._view is None else self._view[1]

    @property
    def dirty(self) -> bool:
        return self._view is not None and (bool(self._view[1].changes) or self._view[1].complete)

    def save(self) -> None:
        """Record the current digests as the base of the next build's changes (after every aggregate ran)."""
        if not self.dirty:
            return
        plain = {rel: (stamp, to_plain(digest)) for rel, (stamp, digest) in self._current.items()}
        jsonio.atomic_write(self.path, marshal.dumps((FORMAT, plain)))
        self._saved = dict(self._current)
        self._forgotten.clear()
        if self._view is not None:  # the same digests, now with no changes
            self._view = (self._view[0], View(self._view[1].digests))

    def _refresh(self, rels: list[str]) -> View:
        if self._saved is None:
            self._saved = _read_store(self.path)
        saved = self._saved
        view = View([], complete=not saved)
        current: dict[str, tuple[Stamp, Digest]] = {}
        for rel in rels:
            entry = self._entry(rel, saved.get(rel))
            if entry is None:
                continue
            current[rel] = entry
            view.digests.append(entry[1])
            old = saved.get(rel)
            if old is None or old[1] != entry[1]:
                view.changes[rel] = (old[1] if old else None, entry[1])
        for rel in saved.keys() - current.keys():
            view.changes[rel] = (saved[rel][1], None)
        self._current = current
        return view

    def _entry(self, rel: str, saved: tuple[Stamp, Digest] | None) -> tuple[Stamp, Digest] | None:
        path = self._table_path(rel)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if saved is not None and saved[0] == stamp and rel not in self._forgotten:
            return saved
        try:
            return stamp, digest_table(jsonio.read_json(path))
        except (ValueError, KeyError, TypeError):
            return None  # a damaged table: left out here; its task rewrites it on the next build


def _read_store(path: str) -> dict[str, tuple[Stamp, Digest]]:
    try:
        with open(path, "rb") as handle:
            fmt, plain = marshal.loads(handle.read())
        if fmt != FORMAT or not isinstance(plain, dict):
            return {}
        return {rel: (tuple(stamp), from_plain(digest)) for rel, (stamp, digest) in plain.items()}
    except (OSError, ValueError, EOFError, TypeError):
        return {}
