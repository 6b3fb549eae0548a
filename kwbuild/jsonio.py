"""Deterministic JSON bytes and atomic, write-if-changed files.

Every artefact kwbuild writes goes through `write_if_changed`: a temp file in the same folder, then
`os.replace`, and no write at all when the bytes on disk are already equal. That is what lets an edit that
leaves a table unchanged stop the build early (doit compares dependency contents, not write times).
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

TEMP_SUFFIX = ".kwtmp"
"""Temp files end so; a build that finds the previous one was killed removes any left behind."""
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
_DUMP_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
_PRETTY_OPTIONS = _DUMP_OPTIONS | orjson.OPT_INDENT_2
Buffer = bytes | memoryview | mmap.mmap


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    """Serialise `value` with sorted keys and a final newline; compact unless `pretty`. Right-sized (`trimmed`)."""
    return trimmed(orjson.dumps(value, option=_PRETTY_OPTIONS if pretty else _DUMP_OPTIONS))


def trimmed(data: bytes) -> bytes:
    """orjson's output copied into a bytes object of its own size.

    orjson gives back the buffer it wrote into, with all of its spare room: at least ~4 KB, and ~16x a large
    output's length (orjson 3.13). Bytes held for long (the torch tree's 11,771 manifest entries of ~270 bytes
    held 46 MB; a server's cached bodies) must be copied, which costs a `memcpy`."""
    return bytes(memoryview(data))


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes (orjson)."""
    return orjson.loads(data)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read and parse one JSON file."""
    with open(path, "rb") as handle:
        return orjson.loads(handle.read())


def write_if_changed(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write `data` to `path` atomically unless the file already holds exactly these bytes.

    Returns True when the file was (re)written.
    """
    return write_stream_if_changed(path, (data,), len(data))


def write_stream_if_changed(path: str | os.PathLike[str], chunks: Iterable[bytes], size: int | None = None) -> bool:
    """`write_if_changed` of the chunks' bytes end to end, each made only when asked: compared with the file on
    disk as they come, and written once one differs (the bytes found equal so far are then copied from the file on
    disk, not held: a 38 MB symbol map equal but for its end is never in memory whole). `size`: their total length,
    when known (a file of another size is then not read at all). True when written."""
    chunks = iter(chunks)
    handle = _open_existing(path)
    if handle is None:
        atomic_write_parts(path, chunks)
        return True
    with handle:
        equal, differs = 0, []
        if size is None or os.fstat(handle.fileno()).st_size == size:
            for chunk in chunks:
                if handle.read(len(chunk)) != chunk:
                    differs.append(chunk)
                    break
                equal += len(chunk)
            else:
                if size is not None or not handle.read(1):
                    return False
        atomic_write_parts(path, itertools.chain(_start_of(handle, equal), differs, chunks))
    return True


def _open_existing(path: str | os.PathLike[str]) -> BinaryIO | None:
    """The file at `path`, open for reading; None when there is none (a folder in its way is removed)."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        _remove_tree(Path(path))
        return None


def _start_of(handle: BinaryIO, length: int, piece: int = 1 << 20) -> Iterator[bytes]:
    """The first `length` bytes of an open file, a piece at a time."""
    handle.seek(0)
    while length > 0:
        data = handle.read(min(piece, length))
        if not data:
            raise OSError(f"{handle.name} got shorter while it was read")
        length -= len(data)
        yield data


def write_or_touch(path: str | os.PathLike[str], data: bytes) -> bool:
    """`write_if_changed`, and when the bytes were already there, bring the file's mtime to now.

    For outputs picked by "older than an input" (pages): one whose inputs changed but whose bytes did not must
    still become newer than its inputs, or it would be picked again at every build. Nothing depends on a page's
    mtime (doit checks targets by existence, the server by content), and its inode stays the same.
    """
    if write_if_changed(path, data):
        return True
    os.utime(path)
    return False


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to a temp file beside `path` (named after this process), then rename it over `path`."""
    atomic_write_parts(path, [data])


def atomic_write_parts(path: str | os.PathLike[str], parts: Iterable[Buffer]) -> None:
    """`atomic_write` of the parts' bytes end to end, written with `writev` (never joined in memory): a temp file
    beside `path` (named after this process), then renamed over `path`."""
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}{TEMP_SUFFIX}"
    try:
        fd = os.open(tmp, _CREATE, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(tmp, _CREATE, 0o644)
    try:
        try:
            batch: list[memoryview] = []
            pending = 0
            for part in parts:  # written as they come: a part may be made only when asked
                if len(view := memoryview(part)):
                    batch.append(view)
                    pending += len(view)
                if len(batch) == _IOV_MAX or pending >= _BATCH_BYTES:
                    _write_all(fd, batch)
                    batch, pending = [], 0
            _write_all(fd, batch)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _write_all(fd: int, views: list[memoryview]) -> None:
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first:])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:  # a short write: the rest of this part next
            views[first] = views[first][written:]


_IOV_MAX = 1024
_BATCH_BYTES = 1 << 20


def remove_file(path: str | os.PathLike[str]) -> bool:
    """Remove a file if it exists; returns True when something was removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)
