"""The digest of a table: the compact part that tree-wide aggregates read (pure).

Aggregates (manifest, symbol map, and later the indexes and cross-references) need a few facts of every file,
not whole tables (and the anchors of its symbols that the A-Z index cannot derive from their names alone: the
`-2`, `-3`... of repeated names, computed once per table change, not for every file each time an index page is
rendered). A digest keeps those as tuples, small enough that the digests of a whole tree stay in memory and load
in milliseconds (see `kwbuild.store`).

Their names, kinds, parents and imported modules are shared through a pool (one object for equal strings; the
digest store makes one for the digests of each view it computes and drops it once the view is made): the torch
tree's ~250,000 symbols hold ~100,000 distinct names and 21 kinds. Shared, not interned (`sys.intern`): `marshal`
saves an interned string with a flag and interns it again on every load, which made reading the ~180 digests and
the name index that an edit of torch needs ~0.1 s slower; a shared string is saved once per digest and read back
as a plain one.

The symbols are kept by column (names, qualnames, kinds, lines, parents), not as a tuple per symbol: the torch
tree's ~250,000 symbols as rows took ~22 MB more of every large build's memory (a row and a line number are two
objects each; a column is one, and the lines are 4 bytes each). `Digest.symbols` makes the rows when asked.

The symbols' signatures are kept apart, compressed (`signatures`, read with `signatures_of`): only the change
report reads them, for the files that changed, and as strings the torch tree's ~120,000 distinct ones took
15.6 MB of every large build's memory (3.9 MB compressed, ~0.3 s of zlib for the whole tree).
"""

from __future__ import annotations

import array
import marshal
import zlib
from typing import Any, Final, NamedTuple

from kwbuild.model import Table, symbol_counts
from kwbuild.render.markdown import repeated_anchor_ids

SymbolRef = tuple[str, str, str, int, str | None]
"""(name, qualname, kind, line, parent): a row of `Digest.symbols` (the digest keeps them by column)."""

ImportRef = tuple[str | None, str | None, str | None, int, int, bool, bool | None]
"""(module, name, asname, level, line, type_checking, system): `system` is None for Python imports"""
I_MODULE: Final = 0
I_NAME: Final = 1
I_ASNAME: Final = 2
I_LEVEL: Final = 3
I_LINE: Final = 4
I_TYPE_CHECKING: Final = 5
I_SYSTEM: Final = 6


class Digest(NamedTuple):
    path: str
    module: str | None
    language: str
    hash: str | None
    size: int
    lines: int
    docstring: str | None
    all: tuple[str, ...] | None
    partial: bool
    errors: int
    symbol_counts: tuple[tuple[str, int], ...]
    names: tuple[str, ...]  # the symbols' names, in the table's order; and so the next four columns
    qualnames: tuple[str, ...]
    kinds: tuple[str, ...]
    symbol_lines: bytes  # unsigned 32-bit integers in the machine's order: see `lines_of`
    parents: tuple[str | None, ...]
    imports: tuple[ImportRef, ...]
    anchors: tuple[str | None, ...]  # each symbol's anchor on the file's pages, None for its `anchor_base`
    signatures: bytes  # each symbol's signature, compressed: see `signatures_of`

    @property
    def symbols(self) -> tuple[SymbolRef, ...]:
        """Each symbol as a (name, qualname, kind, line, parent) row, in the table's order (made at each call)."""
        return tuple(zip(self.names, self.qualnames, self.kinds, lines_of(self), self.parents, strict=True))


def digest_table(table: Table, strings: dict[str, str] | None = None) -> Digest:
    """The digest of one table; its strings are the first equal ones in `strings` (a pool that digests made
    with it share, and that this adds to; see `shared`)."""
    exported, symbols = table.get("all"), table["symbols"]
    digest = Digest(
        path=table["path"],
        module=table["module"],
        language=table["language"],
        hash=table["hash"],
        size=table["size"],
        lines=table["lines"],
        docstring=table["docstring"],
        all=tuple(exported) if exported is not None else None,
        partial=table["partial"],
        errors=len(table["errors"]),
        symbol_counts=tuple(symbol_counts(table).items()),
        names=tuple(s["name"] for s in symbols),
        qualnames=tuple(s["qualname"] for s in symbols),
        kinds=tuple(s["kind"] for s in symbols),
        symbol_lines=array.array("I", [s["line"] for s in symbols]).tobytes(),
        parents=tuple(s["parent"] for s in symbols),
        imports=tuple(
            (i["module"], i["name"], i["asname"], i["level"], i["line"], i["type_checking"], i.get("system"))
            for i in table["imports"]
        ),
        anchors=tuple(repeated_anchor_ids(s["qualname"] for s in symbols)),
        signatures=zlib.compress(marshal.dumps(tuple(s["signature"] for s in symbols)), 1),
    )
    return shared(digest, {} if strings is None else strings)


def shared(digest: Digest, strings: dict[str, str]) -> Digest:
    """The digest with its language, kinds, names, qualnames, parents and imported names replaced by the first
    equal strings in `strings` (the pool, which this adds to): the one rule for every digest a build holds, made
    from a table or decoded from bytes (decoded one by one, the torch tree's digests would take 92 MB, not 77)."""
    share = strings.setdefault
    return digest._replace(
        language=share(digest.language, digest.language),
        symbol_counts=tuple((share(kind, kind), count) for kind, count in digest.symbol_counts),
        names=tuple(share(name, name) for name in digest.names),
        qualnames=tuple(share(qualname, qualname) for qualname in digest.qualnames),
        kinds=tuple(share(kind, kind) for kind in digest.kinds),
        parents=tuple(None if parent is None else share(parent, parent) for parent in digest.parents),
        imports=tuple(
            (None if m is None else share(m, m), None if n is None else share(n, n), asname, level, line, typed, system)
            for m, n, asname, level, line, typed, system in digest.imports
        ),
    )


def digest_bytes(table: Table) -> bytes | None:
    """The digest of a table as `marshal` bytes (see `digest_from_bytes`), or None for a table it cannot digest.

    A table job makes it from the table it wrote, so that the main process does not read every table back: on
    torch, reading the 11,771 tables of a fresh output and digesting them cost its one core ~3 s."""
    try:
        return marshal.dumps(to_plain(digest_table(table)))
    except (KeyError, TypeError, ValueError, OverflowError):  # a line outside 0..2**32 - 1 overflows
        return None


def digest_from_bytes(data: bytes, strings: dict[str, str]) -> Digest:
    """The digest of `digest_bytes`, its strings shared through `strings` (see `shared`)."""
    return shared(from_plain(marshal.loads(data)), strings)


def lines_of(digest: Digest) -> memoryview:
    """Each symbol's line, in the order of `digest.symbols` (a view of `digest.symbol_lines`)."""
    return memoryview(digest.symbol_lines).cast("I")


def signatures_of(digest: Digest) -> tuple[str, ...]:
    """Each symbol's signature, in the order of `digest.symbols`."""
    signatures: tuple[str, ...] = marshal.loads(zlib.decompress(digest.signatures))
    return signatures


def to_plain(digest: Digest) -> tuple[Any, ...]:
    """A plain tuple (for `marshal`)."""
    return tuple(digest)


def from_plain(plain: tuple[Any, ...]) -> Digest:
    """The inverse of `to_plain`."""
    return Digest(*plain)
