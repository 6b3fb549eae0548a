"""A JSON file made of a head, items in key order joined by `,`, and a tail, kept with where each item ends, so
that a change is spliced into its bytes instead of parsing and dumping the whole file (pure).

The torch tree's `symbols.json` is ~38 MB and its `index.json` ~3 MB: parsing one to change a few of its items
cost more than the rest of an edit. A patch copies the runs of unchanged items as they are (one slice per run),
puts in the changed items, and shifts the places of the items after each change.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Mapping

from kwbuild.jsonio import Buffer


class Spliced:
    """A file's bytes, its items' keys in order, where each item ends, and how long its head is.

    The bytes are kept in parts (a patch's runs of the old file's bytes and its new items), joined only when
    `data` is asked: a patched file is written part by part (`jsonio.atomic_write_parts`), so the runs it copies
    from the old file (read through `mmap`) never pass through this process's memory."""

    def __init__(
        self, parts: list[Buffer], keys: list[str], ends: list[int], head: int, unchanged: bool = False
    ) -> None:
        self.parts, self.keys, self.ends, self.head = parts, keys, ends, head
        self.unchanged = unchanged  # made by a patch that changed no byte of the file
        self._starts: list[int] | None = None

    @property
    def data(self) -> bytes:
        if len(self.parts) != 1 or not isinstance(self.parts[0], bytes):
            self.parts, self._starts = [b"".join(self.parts)], None
        data = self.parts[0]
        assert isinstance(data, bytes)
        return data

    @property
    def size(self) -> int:
        return self._offsets()[-1]

    def item(self, key: str) -> bytes | None:
        """The bytes of one item, or None when there is no item with this key."""
        index = bisect.bisect_left(self.keys, key)
        if index == len(self.keys) or self.keys[index] != key:
            return None
        return b"".join(self.views(self._start(index), self.ends[index]))

    @property
    def tail(self) -> bytes:
        return b"".join(self.views(self.ends[-1] if self.ends else self.head, self.size))

    def views(self, start: int, end: int) -> list[memoryview]:
        """The bytes from `start` to `end`, as views of the parts they lie in."""
        starts, found = self._offsets(), []
        index = max(0, bisect.bisect_right(starts, start) - 1)
        while start < end and index < len(self.parts):
            offset = start - starts[index]
            piece = memoryview(self.parts[index])[offset : offset + end - start]
            found.append(piece)
            start += len(piece)
            index += 1
        return found

    def _offsets(self) -> list[int]:
        """Where each part starts, then the size."""
        if self._starts is None:
            self._starts = list(itertools.accumulate((len(memoryview(part)) for part in self.parts), initial=0))
        return self._starts

    def _start(self, index: int) -> int:
        return self.ends[index - 1] + 1 if index else self.head


def assemble(head: bytes, items: Iterable[tuple[str, bytes]], tail: bytes) -> Spliced:
    """The file of these (key, item) pairs, given in key order."""
    return Assembly(head, items, tail).spliced()


class Assembly:
    """The file of (key, item) pairs given in key order, made as it is written: `chunks` gives its bytes ~1 MB at
    a time, each made only when asked and not kept, and records where each item ends (`keys`, `ends`, `head`:
    complete once every chunk was taken). The torch tree's `symbols.json` (~38 MB in ~195,000 parts) held whole
    until written was ~45 MB of its build's peak."""

    def __init__(self, head: bytes, items: Iterable[tuple[str, bytes]], tail: bytes) -> None:
        self._items, self._tail = items, tail
        self._out = _Writer(head)
        self.keys, self.ends, self.head = self._out.keys, self._out.ends, self._out.head

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        out, held = self._out, 0
        for key, item in self._items:
            out.add(key, item)
            held += len(item)
            if held >= size:
                yield b"".join(out.take())
                held = 0
        out.parts.append(self._tail)
        yield b"".join(out.take())

    def spliced(self) -> Spliced:
        """The whole file, held."""
        data = b"".join(self.chunks())
        return Spliced([data], self.keys, self.ends, self.head)


def patch(old: Spliced, changed: Mapping[str, bytes | None], head: bytes, tail: bytes) -> Spliced:
    """`old` with these items replaced, added, or removed (None), and a new head and tail."""
    out = _Writer(head)
    unchanged = head == b"".join(old.views(0, old.head)) and tail == old.tail
    position = 0  # the next of old's items not yet copied
    for key in sorted(changed):
        index = bisect.bisect_left(old.keys, key, position)
        out.copy(old, position, index)
        found = index < len(old.keys) and old.keys[index] == key
        item = changed[key]
        unchanged = unchanged and old.item(key) == item
        position = index + found
        if item is not None:
            out.add(key, item)
    out.copy(old, position, len(old.keys))
    new = out.finish(tail)
    new.unchanged = unchanged
    return new


class _Writer:
    """The parts of a new file, with the running length that places each item."""

    def __init__(self, head: bytes) -> None:
        self.parts: list[Buffer] = [head]
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
        self.parts += old.views(start, end)  # views of old's bytes: never copied here
        self.length += end - start
        self.keys += old.keys[first:last]
        self.ends += [offset + shift for offset in old.ends[first:last]]

    def add(self, key: str, item: bytes) -> None:
        self._comma()
        self.parts.append(item)
        self.length += len(item)
        self.keys.append(key)
        self.ends.append(self.length)

    def take(self) -> list[Buffer]:
        """The parts so far, no longer held here."""
        parts, self.parts = self.parts, []
        return parts

    def finish(self, tail: bytes) -> Spliced:
        self.parts.append(tail)
        return Spliced(self.parts, self.keys, self.ends, self.head)

    def _comma(self) -> None:
        if self.keys:
            self.parts.append(b",")
            self.length += 1
