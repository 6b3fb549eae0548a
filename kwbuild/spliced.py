"""A JSON file made of a head, items in key order joined by `,`, and a tail, kept with where each item ends, so
that a change is spliced into its bytes instead of parsing and dumping the whole file (pure).

The torch tree's `symbols.json` is ~38 MB and its `index.json` ~3 MB: parsing one to change a few of its items
cost more than the rest of an edit. A patch copies the runs of unchanged items as they are (one slice per run),
puts in the changed items, and shifts the places of the items after each change.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass
class Spliced:
    """A file's bytes, its items' keys in order, where each item ends, and how long its head is."""

    data: bytes
    keys: list[str]
    ends: list[int]  # ends[i]: the offset just after the item of keys[i]
    head: int

    def item(self, key: str) -> bytes | None:
        """The bytes of one item, or None when there is no item with this key."""
        index = bisect.bisect_left(self.keys, key)
        if index == len(self.keys) or self.keys[index] != key:
            return None
        return self.data[self._start(index) : self.ends[index]]

    @property
    def tail(self) -> bytes:
        return self.data[self.ends[-1] if self.ends else self.head :]

    def _start(self, index: int) -> int:
        return self.ends[index - 1] + 1 if index else self.head


def assemble(head: bytes, items: Iterable[tuple[str, bytes]], tail: bytes) -> Spliced:
    """The file of these (key, item) pairs, given in key order."""
    out = _Writer(head)
    for key, item in items:
        out.add(key, item)
    return out.finish(tail)


def patch(old: Spliced, changed: Mapping[str, bytes | None], head: bytes, tail: bytes) -> Spliced:
    """`old` with these items replaced, added, or removed (None), and a new head and tail."""
    out = _Writer(head)
    position = 0  # the next of old's items not yet copied
    for key in sorted(changed):
        index = bisect.bisect_left(old.keys, key, position)
        out.copy(old, position, index)
        position = index + (index < len(old.keys) and old.keys[index] == key)
        item = changed[key]
        if item is not None:
            out.add(key, item)
    out.copy(old, position, len(old.keys))
    return out.finish(tail)


class _Writer:
    """The parts of a new file, with the running length that places each item."""

    def __init__(self, head: bytes) -> None:
        self.parts: list[bytes | memoryview] = [head]
        self.head = self.length = len(head)
        self.keys: list[str] = []
        self.ends: list[int] = []

    def copy(self, old: Spliced, first: int, last: int) -> None:
        """old's items first..last-1, as one slice of its bytes."""
        if first >= last:
            return
        self._comma()
        start, end = old._start(first), old.ends[last - 1]
        shift = self.length - start
        self.parts.append(memoryview(old.data)[start:end])  # joined once, in `finish`
        self.length += end - start
        self.keys += old.keys[first:last]
        self.ends += [offset + shift for offset in old.ends[first:last]]

    def add(self, key: str, item: bytes) -> None:
        self._comma()
        self.parts.append(item)
        self.length += len(item)
        self.keys.append(key)
        self.ends.append(self.length)

    def finish(self, tail: bytes) -> Spliced:
        self.parts.append(tail)
        return Spliced(b"".join(self.parts), self.keys, self.ends, self.head)

    def _comma(self) -> None:
        if self.keys:
            self.parts.append(b",")
            self.length += 1
