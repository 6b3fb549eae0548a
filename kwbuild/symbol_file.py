"""`symbols.json` as bytes with the place of each name in them, so that a change is spliced in (pure).

The torch tree's symbol map is ~38 MB of JSON; parsing it to change the definitions of one name cost more than
the rest of an edit. Its bytes are exactly `jsonio.dumps` of the map: `{"schema_version":N,"symbols":{` then
one `"name":[...]` item per name in sorted order, joined by `,`, then `}}` and a newline. `Places` records where
each item ends; a patch copies the runs of unchanged items as they are, encodes only the changed names' items,
and shifts the places after each change. `SymbolFile.decode` reads one name's definitions from its item.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kwbuild.model import SCHEMA_VERSION

Definitions = list[dict[str, Any]]
_OPTIONS = orjson.OPT_SORT_KEYS


@dataclass
class SymbolFile:
    """The bytes of `symbols.json`, its names in order, and where each name's item ends."""

    data: bytes
    names: list[str]
    ends: list[int]  # ends[i]: the offset just after the item of names[i]

    def item_start(self, index: int) -> int:
        return self.ends[index - 1] + 1 if index else len(_head())

    def decode(self, name: str) -> Definitions | None:
        """The definitions of one name, or None when the map has no such name."""
        index = bisect.bisect_left(self.names, name)
        if index == len(self.names) or self.names[index] != name:
            return None
        start = self.item_start(index) + len(orjson.dumps(name)) + 1
        value: Definitions = orjson.loads(self.data[start : self.ends[index]])
        return value


def encode(symbols: Mapping[str, Definitions]) -> SymbolFile:
    """The file of a whole symbol map: equal to `jsonio.dumps({"schema_version": ..., "symbols": symbols})`."""
    out = _Writer()
    for name in sorted(symbols):
        out.add(name, symbols[name])
    return out.finish()


def patch(old: SymbolFile, changed: Mapping[str, Definitions | None]) -> SymbolFile:
    """`old` with these names' definitions replaced (added, or removed when None or empty)."""
    out = _Writer()
    position = 0  # the next of old's items not yet copied
    for name in sorted(changed):
        index = bisect.bisect_left(old.names, name, position)
        out.copy(old, position, index)
        position = index + (index < len(old.names) and old.names[index] == name)
        definitions = changed[name]
        if definitions:
            out.add(name, definitions)
    out.copy(old, position, len(old.names))
    return out.finish()


class _Writer:
    """The parts of a new file, with the running length that places each item."""

    def __init__(self) -> None:
        self.parts = [_head()]
        self.length = len(self.parts[0])
        self.names: list[str] = []
        self.ends: list[int] = []

    def copy(self, old: SymbolFile, first: int, last: int) -> None:
        """old's items first..last-1, as one slice of its bytes."""
        if first >= last:
            return
        self._comma()
        start, end = old.item_start(first), old.ends[last - 1]
        shift = self.length - start
        self.parts.append(old.data[start:end])
        self.length += end - start
        self.names += old.names[first:last]
        self.ends += [offset + shift for offset in old.ends[first:last]]

    def add(self, name: str, definitions: Definitions) -> None:
        self._comma()
        item = orjson.dumps(name) + b":" + orjson.dumps(definitions, option=_OPTIONS)
        self.parts.append(item)
        self.length += len(item)
        self.names.append(name)
        self.ends.append(self.length)

    def finish(self) -> SymbolFile:
        self.parts.append(_TAIL)
        return SymbolFile(b"".join(self.parts), self.names, self.ends)

    def _comma(self) -> None:
        if self.names:
            self.parts.append(b",")
            self.length += 1


def _head() -> bytes:
    return b'{"schema_version":%d,"symbols":{' % SCHEMA_VERSION


_TAIL = b"}}\n"
