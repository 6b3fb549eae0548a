"""The tree's names: how many definitions each symbol name has, and which names the imports ask for (pure).

The A-Z index lays out its pages from the first (every name in lower-case order with its count) and the links
check the second when top-level names come or go. Both are read for the whole tree on an edit that adds a name:
made from every digest, that cost more than the rest of the edit (the torch tree: ~250,000 definitions of
~100,000 names, sorted). The digest store keeps a `NameIndex` beside the digests and patches it with each
build's changes (see `kwbuild.store`).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from kwbuild.digest import I_NAME, Digest

FileNames = tuple[tuple[str, ...], tuple[str, ...]]
"""A file's names: those it defines (one per symbol, in order) and those its imports ask for (distinct, sorted)."""
MAX_PATCHED = 2000  # more names changed than this: the index is made again from the counts


def file_names(digest: Digest) -> FileNames:
    """What a file adds to the index."""
    imported = sorted({name for imp in digest.imports if (name := imp[I_NAME]) is not None})
    return digest.names, tuple(imported)


def name_order(name: str) -> tuple[str, str]:
    """The order of `NameIndex.names`: lower case, ties case-sensitively (the A-Z index's pages go by lower case)."""
    return name.lower(), name


@dataclass
class NameIndex:
    """Every defined name in `name_order` with its number of definitions; every imported name with its number of
    files."""

    names: list[str]
    counts: list[int]
    imported: dict[str, int]

    @classmethod
    def build(cls, files: Iterable[FileNames]) -> NameIndex:
        defined: Counter[str] = Counter()
        imported: Counter[str] = Counter()
        for names, imports in files:
            defined.update(names)
            imported.update(imports)
        return cls._of(defined, imported)

    @classmethod
    def _of(cls, defined: Counter[str], imported: Counter[str]) -> NameIndex:
        names = sorted((name for name, count in defined.items() if count > 0), key=name_order)
        return cls(names, [defined[name] for name in names], {k: n for k, n in imported.items() if n > 0})

    def patched(self, changes: Iterable[tuple[FileNames | None, FileNames | None]]) -> NameIndex:
        """A new index after these changes (each file's names before and after; None: no such file)."""
        defined: Counter[str] = Counter()
        imported = Counter(self.imported)
        for before, after in changes:
            for file, sign in ((before, -1), (after, 1)):
                if file is not None:
                    defined.update({name: sign * n for name, n in Counter(file[0]).items()})
                    imported.update({name: sign for name in file[1]})
        if len(defined) > MAX_PATCHED:
            whole = Counter(dict(zip(self.names, self.counts, strict=True)))
            whole.update(defined)
            return NameIndex._of(whole, imported)
        names, counts = list(self.names), list(self.counts)
        for name, n in defined.items():
            at = bisect.bisect_left(names, name_order(name), key=name_order)
            if at < len(names) and names[at] == name:
                if counts[at] + n > 0:
                    counts[at] += n
                else:
                    del names[at], counts[at]
            elif n > 0:
                names.insert(at, name)
                counts.insert(at, n)
        return NameIndex(names, counts, {name: n for name, n in imported.items() if n > 0})

    @property
    def total(self) -> int:
        return sum(self.counts)
