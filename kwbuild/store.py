"""The digest store: every table's digest, kept up to date incrementally and saved in one file.

Aggregates ask for a `View` of a list of tables: every digest, and the changes since the store was last saved
(old and new digest of each table that changed, appeared or went away). The store checks each table file's
stat against the one it recorded, so only tables that changed are read again; tables this build rewrote are
forgotten explicitly, and the digests their jobs made wait for them in the spool (`DigestSpool`): a build reads
back only the tables it did not write. An aggregate whose part of every changed digest is equal can keep its
output as it is.

Each digest is kept encoded (`marshal` bytes) until something reads it: a build that only needs the changes (an
edit whose aggregates all stop early) decodes a handful of digests, not the tree's (the torch tree's store is
~40 MB of tuples: decoding it whole costs more than the rest of such a build).

A shard file holds its entries' stamps, hashes, names and the place of their digest first, then their digests
end to end: a build reads the first part of every shard (~6 MB of the torch tree's ~60 MB) and then only the
digests it asks for, each with one `pread` (a folder's files lie in most shards: reading the whole digests' part
of each shard touched cost a body edit in a folder of 81 files ~45 MB and ~45 ms).

The store also keeps the tree's `NameIndex` (see `kwbuild.names`), patched with each build's changes: an edit
that adds a name asks it instead of every digest.

The store is saved (with `marshal`) once every aggregate of a build has succeeded, so a build killed half-way
sees the same changes again. It is saved in `SHARDS` files by a hash of the path, and only the shards holding
an entry that changed are rewritten: a one-file edit writes ~0.7 MB instead of the torch tree's ~42 MB. Each
shard is replaced atomically; a save killed between two shards is safe, because every aggregate already took
in the changes of the shards it did write, and the others report theirs again. A missing, old or unreadable
shard only means every table is read once more and every aggregate is rebuilt. The name index is saved after
the shards, with the generation of each shard it was made from (a shard gets a new one when a name of its
entries changes): one that does not match the shards is made again from the digests.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from kwbuild import jsonio
from kwbuild.digest import Digest, digest_from_bytes, digest_table, from_plain, to_plain
from kwbuild.names import FileNames, NameIndex, file_names
from kwbuild.render import RENDER_VERSION

FORMAT = 12  # and the renderers' version: digests hold their symbols by column, repeated anchors, signatures compressed
SHARDS = 64
NAMES_FILE = "names.marshal"
MAGIC = b"KWDA"  # then the lengths of the entries' part and of the digests' part (4 bytes each), the two parts
HEAD = struct.Struct("<4sII")

Stamp = tuple[int, int, int]
Change = tuple[Digest | None, Digest | None]


class Entry:
    """One table's stamp, content hash and language, and its digest (decoded on first use)."""

    __slots__ = ("_names", "_payload", "_sent", "hash", "language", "stamp")

    def __init__(
        self,
        stamp: Stamp,
        hash: str | None,
        language: str,
        payload: Digest | bytes | _Stored,
        names: bytes | None = None,
        sent: bytes | _Stored | None = None,
    ) -> None:
        self.stamp = stamp
        self.hash = hash
        self.language = language
        self._payload = payload
        self._names: FileNames | bytes | None = names
        self._sent = sent  # the digest's bytes as its job sent them, or where they are (saved as they came)

    @classmethod
    def of(cls, stamp: Stamp, digest: Digest, sent: bytes | _Stored | None = None) -> Entry:
        return cls(stamp, digest.hash, digest.language, digest, sent=sent)

    @property
    def digest(self) -> Digest:
        payload = self._read()
        if isinstance(payload, bytes):
            payload = self._payload = from_plain(marshal.loads(payload))
        return payload

    def _read(self) -> Digest | bytes:
        """The payload, read from its shard file if it is still there."""
        payload = self._payload
        if isinstance(payload, _Stored):
            payload = self._payload = payload.read()
        return payload

    @property
    def names(self) -> FileNames:
        """The names the file defines and imports (without decoding its digest when they were saved)."""
        names = self._names
        if names is None:
            names = self._names = file_names(self.digest)
        elif isinstance(names, bytes):
            names = self._names = marshal.loads(names)
        return names

    def encoded(self) -> tuple[bytes, bytes]:
        """The digest and the names, as saved (a digest still in its shard file is read from it now, one a job
        sent is saved as it came: encoding the torch tree's decoded digests again took ~0.3 s)."""
        payload, names, sent = self._read(), self._names, self._sent
        if isinstance(sent, _Stored):
            try:
                sent = sent.read()
            except OSError:  # the spool closed: encoded again
                sent = None
        return (
            payload if isinstance(payload, bytes) else sent or marshal.dumps(to_plain(payload)),
            names if isinstance(names, bytes) else marshal.dumps(self.names),
        )


class _Stored:
    """Where a digest's bytes are: their place in the digests' part of a shard file, or in the spool's file."""

    __slots__ = ("length", "offset", "source")

    def __init__(self, source: _Digests | DigestSpool, offset: int, length: int) -> None:
        self.source, self.offset, self.length = source, offset, length

    def read(self) -> bytes:
        return self.source.blob(self.offset, self.length)


class _Digests:
    """The digests' part of one shard file, opened on first use; the file must be the one its entries were read
    from (the store replaces a shard only after every entry of it was read: see `DigestStore.save`)."""

    def __init__(self, path: str, stamp: Stamp, offset: int) -> None:
        self.path, self.stamp, self.offset = path, stamp, offset
        self._fd: int | None = None

    def blob(self, offset: int, length: int) -> bytes:
        if self._fd is None:
            fd = os.open(self.path, os.O_RDONLY)
            info = os.fstat(fd)
            if (info.st_ino, info.st_mtime_ns, info.st_size) != self.stamp:
                os.close(fd)
                raise RuntimeError(f"{self.path} changed during the build")
            self._fd = fd
        blob = os.pread(self._fd, length, self.offset + offset)
        if len(blob) != length:
            raise RuntimeError(f"{self.path} was cut short during the build")
        return blob

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


@dataclass
class View:
    """The digests of a build's tables (in the order asked), and what changed since the last save."""

    entries: dict[str, Entry] = field(default_factory=dict)
    changes: dict[str, Change] = field(default_factory=dict)
    complete: bool = False  # True when there was no saved store: every digest counts as changed
    index_of: Callable[[View], NameIndex] = lambda view: _index_of(view.entries)  # the store's: after the changes
    definers: Callable[[str], Iterable[str]] | None = None  # the paths defining a name, when this build knows them
    _digests: list[Digest] | None = None
    _index: NameIndex | None = None

    @property
    def digests(self) -> list[Digest]:
        """Every digest (decoded on first use)."""
        if self._digests is None:
            self._digests = [entry.digest for entry in self.entries.values()]
        return self._digests

    def names(self) -> NameIndex:
        """The tree's name index (after the changes)."""
        if self._index is None:
            self._index = self.index_of(self)
        return self._index

    def defining(self, names: set[str]) -> list[Digest]:
        """The digests of the files that define one of these names (in the order of `digests`): from `definers`
        when set (the symbol map this build made: a few lookups), else from every entry's names (on torch,
        11,771 decodings: ~90 ms)."""
        if self.definers is not None:
            paths = {path for name in names for path in self.definers(name)}
            return [entry.digest for rel, entry in self.entries.items() if rel in paths]
        return [entry.digest for entry in self.entries.values() if not names.isdisjoint(entry.names[0])]

    def digest(self, rel: str) -> Digest | None:
        entry = self.entries.get(rel)
        return None if entry is None else entry.digest

    def content_keys(self) -> Iterator[tuple[str, str]]:
        """(content hash, language) of every table that has a hash, without decoding a digest."""
        return ((e.hash, e.language) for e in self.entries.values() if e.hash is not None)

    def unchanged(self, part: Callable[[Digest], object]) -> bool:
        """True when `part` of every changed digest is equal before and after (and a store was saved)."""
        if self.complete:
            return False
        return all(old is not None and new is not None and part(old) == part(new) for old, new in self.changes.values())


class DigestStore:
    """Digests by tree path, with the (inode, mtime_ns, size) of the table file each was read from."""

    def __init__(self, path: str, table_path: Callable[[str], str], spool: DigestSpool | None = None) -> None:
        self.path = path
        self._table_path = table_path
        self.spool = spool  # the digests of the tables this build wrote, made by their jobs (see `_entry`)
        self._saved: dict[str, Entry] | None = None
        self._generations: list[int] = []  # of the saved shards (see `_read_store`)
        self._members: list[list[str]] = []  # the paths each saved shard holds
        self._index: NameIndex | None = None  # the name index of the saved entries, once read or made
        self._index_saved = False  # `_index` is the one saved with the shards' generations
        self._current: dict[str, Entry] = {}
        self._moved: list[str] = []  # the paths of `_current` whose entry is not the saved one, and those gone
        self._forgotten: set[str] = set()
        self._view: tuple[tuple[str, ...], View] | None = None
        self.suspects: set[str] | None = None  # when set, only these tables (and forgotten ones) are stat'ed
        self.saved_changes: dict[str, Change] = {}  # the changes the last `save` took in
        self.saved_complete = False  # a save took in a complete view: every digest counted as new

    def forget(self, rels: list[str]) -> None:
        """These tables were rewritten by this build: read them again whatever their stat (or take the digests
        their jobs sent to the spool instead)."""
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
        if self._view is None or not self.dirty:
            return
        view = self._view[1]
        saved, current, moved = self._saved or {}, self._current, self._moved
        dirty = set(range(SHARDS)) if not saved else {_shard(rel) for rel in moved}
        renamed = dirty if not saved else {_shard(rel) for rel in moved if _renamed(saved.get(rel), current.get(rel))}
        index = None
        if renamed or (self._index is not None and not self._index_saved):
            index = view.names()
        generations = list(self._generations) if saved and len(self._generations) == SHARDS else [0] * SHARDS
        for number in renamed:
            generations[number] = int.from_bytes(os.urandom(8), "little")
        shards = self._shard_entries(dirty, moved)
        os.makedirs(self.path, exist_ok=True)
        if not saved:  # FORMAT 4 kept the whole store in one file beside the folder
            jsonio.remove_file(os.path.join(os.path.dirname(self.path), "digests.marshal"))
        for number, entries in sorted(shards.items()):
            # a shard's entries are read from its own file only: all of them now, before it is replaced
            rows = [(rel, e, *e.encoded()) for rel, e in entries]
            meta, offset = {}, 0
            for rel, e, blob, names in rows:
                meta[rel] = (e.stamp, e.hash, e.language, names, offset, len(blob))
                offset += len(blob)
            head = marshal.dumps((FORMAT, RENDER_VERSION, generations[number], meta))
            blobs = b"".join(blob for _rel, _e, blob, _names in rows)
            data = HEAD.pack(MAGIC, len(head), len(blobs)) + head + blobs
            jsonio.atomic_write(_shard_path(self.path, number), data)
        if index is not None:  # after the shards: it names the generations it was made from
            plain_index = (FORMAT, RENDER_VERSION, generations, index.names, index.counts, index.imported)
            jsonio.atomic_write(os.path.join(self.path, NAMES_FILE), marshal.dumps(plain_index))
            self._index, self._index_saved = index, True
        self._saved, self._moved = dict(current), []
        self._generations = generations
        if len(self._members) != SHARDS:
            self._members = [[] for _ in range(SHARDS)]
        for number, entries in shards.items():
            self._members[number] = [rel for rel, _ in entries]
        self._forgotten.clear()
        self.saved_changes.update(view.changes)  # the same digests, now with no changes
        self.saved_complete = self.saved_complete or view.complete
        self._view = (self._view[0], View(view.entries, index_of=self._index_after, _index=index))

    def _shard_entries(self, dirty: set[int], moved: list[str]) -> dict[int, list[tuple[str, Entry]]]:
        """The entries of each dirty shard, in path order (the shards' members, not every path, are hashed)."""
        current = self._current
        if len(self._members) != SHARDS or len(dirty) == SHARDS:
            shards: dict[int, list[tuple[str, Entry]]] = {number: [] for number in dirty}
            for rel, e in current.items():
                shard = shards.get(_shard(rel))
                if shard is not None:
                    shard.append((rel, e))
            return shards
        members = {number: set(self._members[number]) for number in dirty}
        for rel in moved:
            members[_shard(rel)].add(rel)
        return {number: [(r, current[r]) for r in sorted(rels) if r in current] for number, rels in members.items()}

    def load(self) -> None:
        """Read the saved entries now (a build does it while a prefetcher's processes make its tables)."""
        if self._saved is None:
            self._saved, self._generations, self._members = _read_store(self.path)

    def _refresh(self, rels: list[str]) -> View:
        self.load()
        saved = self._saved
        assert saved is not None
        view = View(complete=not saved, index_of=self._index_after)
        strings: dict[str, str] = {}  # the pool of the digests made here (see `kwbuild.digest`); ~15 MB on torch:
        checked = {rel: self._entry(rel, saved.get(rel), strings) for rel in self._unsure(rels)}  # dropped after
        current = {rel: entry for rel in rels if (entry := checked[rel] if rel in checked else saved[rel]) is not None}
        moved: list[str] = []  # the entries that are not the saved ones (what `save` writes)
        for rel, entry in checked.items():
            if entry is not None and entry is not (old := saved.get(rel)):
                moved.append(rel)
                if old is None or old.digest != entry.digest:
                    view.changes[rel] = (old.digest if old else None, entry.digest)
        gone = saved.keys() - current.keys()
        for rel in gone:
            view.changes[rel] = (saved[rel].digest, None)
        view.entries = current
        self._current, self._moved = current, moved + list(gone)
        return view

    def _unsure(self, rels: list[str]) -> list[str]:
        """The paths whose table must be checked: all of them, or in a trusted build (an edit) only its suspects,
        its forgotten tables and the new ones (the others keep their saved entries: ~10 ms less than a check per
        path on torch)."""
        suspects, forgotten, saved = self.suspects, self._forgotten, self._saved or {}
        if suspects is None:
            return rels
        return [rel for rel in rels if rel in suspects or rel in forgotten or rel not in saved]

    def _entry(self, rel: str, saved: Entry | None, strings: dict[str, str]) -> Entry | None:
        path = self._table_path(rel)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if saved is not None and saved.stamp == stamp and rel not in self._forgotten:
            return saved
        taken = self.spool.take(rel) if self.spool is not None else None
        if taken is not None:
            try:
                return Entry.of(stamp, digest_from_bytes(taken[0], strings), taken[1])
            except (ValueError, EOFError, TypeError):
                pass  # damaged on its way: the table is read instead
        try:
            return Entry.of(stamp, digest_table(jsonio.read_json(path), strings))
        except (ValueError, KeyError, TypeError, OverflowError):
            return None  # a damaged table: left out here; its task rewrites it on the next build

    def _index_after(self, view: View) -> NameIndex:
        """The name index after a view's changes: the saved one patched, or one made from every entry."""
        if view.complete:
            return _index_of(view.entries)
        if self._index is None:
            self._index = _read_index(self.path, self._generations)
            self._index_saved = self._index is not None
            if self._index is None:  # missing, or not made from these shards: made again
                self._index = _index_of(self._saved or {})
        changes = view.changes.values()
        return self._index.patched((_file_names(old), _file_names(new)) for old, new in changes)


class DigestSpool:
    """The digests that table jobs sent (`Outcome.digest`), held until the store takes them (see `forget`): past
    `keep` bytes, in a scratch file instead of this process. A large build's ~26 MB of them (torch) would otherwise
    sit in memory through the whole table phase, where a cold build peaks; an edit's few stay in memory."""

    KEEP = 1 << 20

    def __init__(self, path: str, keep: int | None = None) -> None:
        self.path = path
        self._keep = self.KEEP if keep is None else keep
        self._held: dict[str, bytes] = {}
        self._held_size = 0
        self._places: dict[str, tuple[int, int]] = {}  # rel -> (offset, length) in the file
        self._fd: int | None = None
        self._end = 0

    def __getstate__(self) -> dict[str, object]:
        """A copy in another process (doit's process mode pickles the builders) starts empty and never spills:
        the file and its descriptor are this process's."""
        return {**vars(self), "_keep": sys.maxsize, "_held": {}, "_held_size": 0, "_places": {}, "_fd": None, "_end": 0}

    def add(self, rel: str, data: bytes) -> None:
        self._places.pop(rel, None)
        self._held[rel] = data
        self._held_size += len(data)
        if self._held_size > self._keep:
            self._spill()

    def take(self, rel: str) -> tuple[bytes, bytes | _Stored] | None:
        """The digest sent for `rel` (once), or None; with where its bytes can be read again until the spool
        closes: themselves when held in memory (an edit's few), else their place in the file."""
        data = self._held.pop(rel, None)
        if data is not None:
            self._held_size -= len(data)
            return data, data
        place = self._places.pop(rel, None)
        if place is None:
            return None
        stored = _Stored(self, *place)
        try:
            return stored.read(), stored
        except OSError:
            return None

    def blob(self, offset: int, length: int) -> bytes:
        """`length` bytes of the file at `offset`; OSError when the spool is closed or the file cut short."""
        if self._fd is None:
            raise OSError("the digest spool is closed")
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise OSError("the digest spool's file was cut short")
        return data

    def close(self) -> None:
        """Drop every digest not taken, and the file (also one that a build killed before its end left)."""
        self._held, self._held_size, self._places = {}, 0, {}
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(OSError):  # (a file that could not be made cannot be removed either)
            jsonio.remove_file(self.path)

    def _spill(self) -> None:
        try:
            if self._fd is None:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
                self._end = 0
            blobs = list(self._held.values())
            rest = memoryview(b"".join(blobs))
            while rest:
                rest = rest[os.write(self._fd, rest) :]
        except OSError:  # no room for a scratch file: they stay in memory
            self._keep = sys.maxsize
            return
        for rel, blob in zip(self._held, blobs, strict=True):
            self._places[rel] = (self._end, len(blob))
            self._end += len(blob)
        self._held, self._held_size = {}, 0


def _index_of(entries: dict[str, Entry]) -> NameIndex:
    """The name index made from these entries' names (no digest decoded when the names were saved)."""
    return NameIndex.build(entry.names for entry in entries.values())


def _renamed(old: Entry | None, new: Entry | None) -> bool:
    return old is None or new is None or old.names != new.names


def _file_names(digest: Digest | None) -> FileNames | None:
    return None if digest is None else file_names(digest)


def _shard(rel: str) -> int:
    return zlib.crc32(rel.encode("utf-8", "surrogatepass")) % SHARDS


def _shard_path(folder: str, number: int) -> str:
    return os.path.join(folder, f"{number:02d}.marshal")


def _read_store(folder: str) -> tuple[dict[str, Entry], list[int], list[list[str]]]:
    """Every saved entry (its digest left in its shard file), each shard's generation and paths; nothing at all
    when a shard is missing or unreadable (then everything is new)."""
    entries: dict[str, Entry] = {}
    generations: list[int] = []
    members: list[list[str]] = []
    for number in range(SHARDS):
        path = _shard_path(folder, number)
        try:
            with open(path, "rb") as handle:
                info = os.fstat(handle.fileno())
                magic, size, rest = HEAD.unpack(handle.read(HEAD.size))
                if magic != MAGIC or info.st_size != HEAD.size + size + rest:  # an old format, or cut short
                    return {}, [], []
                fmt, render_version, generation, plain = marshal.loads(handle.read(size))
            if fmt != FORMAT or render_version != RENDER_VERSION or not isinstance(plain, dict):
                return {}, [], []
            generations.append(generation)
            members.append(list(plain))
            digests = _Digests(path, (info.st_ino, info.st_mtime_ns, info.st_size), HEAD.size + size)
            for rel, (stamp, hash, language, names, offset, length) in plain.items():
                entries[rel] = Entry(tuple(stamp), hash, language, _Stored(digests, offset, length), names)
        except (OSError, ValueError, EOFError, TypeError, struct.error):
            return {}, [], []
    return entries, generations, members


def _read_index(folder: str, generations: list[int]) -> NameIndex | None:
    """The saved name index, if it was made from the shards of these generations."""
    try:
        with open(os.path.join(folder, NAMES_FILE), "rb") as handle:
            fmt, render_version, made_from, names, counts, imported = marshal.loads(handle.read())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if (fmt, render_version, made_from) != (FORMAT, RENDER_VERSION, generations) or len(names) != len(counts):
        return None
    return NameIndex(names, counts, imported)
