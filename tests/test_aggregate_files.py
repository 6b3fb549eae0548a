"""`index.json` and `symbols.json` spliced by item (kwbuild.spliced, kwbuild.aggregate_files): a patch always
gives the bytes of the whole value dumped."""

from __future__ import annotations

import array
import itertools
import marshal
import mmap
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

from kwbuild import jsonio, spliced
from kwbuild.aggregate_files import definitions, manifest_file, patch_manifest, patch_symbol_map, symbol_map_file
from kwbuild.digest import Digest
from kwbuild.index import build_manifest, build_symbol_map

KEYS = st.text(alphabet='ab_Z\u00e9"\\]', min_size=1, max_size=3)
ITEMS = st.dictionaries(KEYS, st.binary(min_size=1, max_size=5), max_size=12)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(ITEMS, st.dictionaries(KEYS, st.none() | st.binary(min_size=1, max_size=4), max_size=5))
def test_a_patch_equals_the_file_assembled_whole(before: dict[str, bytes], changed: dict[str, bytes | None]) -> None:
    old = spliced.assemble(b"[HEAD", sorted(before.items()), b"TAIL]")
    assert all(old.item(key) == item for key, item in before.items())
    after = {key: item for key, item in {**before, **changed}.items() if item is not None}
    new = spliced.patch(old, changed, b"[H", b"T]")
    whole = spliced.assemble(b"[H", sorted(after.items()), b"T]")
    assert all(new.item(key) == item for key, item in after.items())  # read across the patch's parts
    assert (new.data, new.keys, new.ends, new.head) == (whole.data, whole.keys, whole.ends, whole.head)
    assert new.tail == b"T]" and new.item("not a key") is None
    same = spliced.patch(old, changed, b"[HEAD", b"TAIL]")  # `unchanged`: the file on disk may be kept as it is
    assert not same.unchanged or same.data == old.data
    assert spliced.patch(old, {k: v for k, v in changed.items() if before.get(k) == v}, b"[HEAD", b"TAIL]").unchanged


def test_a_patch_is_written_from_its_parts_and_the_mapped_old_file(tmp_path: Path) -> None:
    """The parts of a patched file (views of the old file, mapped, and new items; more than one `writev` takes)
    are written end to end: the file holds the patch's bytes."""
    items = sorted((f"k{n:05d}", b"%d" % n) for n in range(3000))
    path = tmp_path / "file.json"
    path.write_bytes(spliced.assemble(b"[", items, b"]").data)
    whole = spliced.assemble(b"[", items, b"]")
    with open(path, "rb") as handle:
        old = spliced.Spliced([mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)], whole.keys, whole.ends, 1)
    changed: dict[str, bytes | None] = {key: b"x" * (n % 3) or None for n, (key, _) in enumerate(items[::2])}
    new = spliced.patch(old, changed, b"[", b"]")
    assert len(new.parts) > 1024 and not new.unchanged
    jsonio.atomic_write_parts(path, new.parts)
    assert path.read_bytes() == new.data == spliced.patch(whole, changed, b"[", b"]").data


def test_a_file_assembled_as_it_is_written_is_written_only_when_its_bytes_change(tmp_path: Path) -> None:
    """An `Assembly` written by `write_stream_if_changed`: its chunks (each joined from its items only when asked)
    give the bytes and the places `assemble` gives; an equal file is left as it is (same inode), one of the same
    size but other bytes is replaced."""
    items = sorted((f"k{n:05d}", b"%d" % n) for n in range(3000))
    whole = spliced.assemble(b"[", items, b"]")
    path = tmp_path / "file.json"
    made = spliced.Assembly(b"[", iter(items), b"]")
    chunks = made.chunks(size=1000)
    first = next(chunks)
    assert len(first) >= 1000 and len(made.keys) < 1000  # the rest not made yet
    assert jsonio.write_stream_if_changed(path, itertools.chain([first], chunks))
    assert path.read_bytes() == whole.data and (made.keys, made.ends, made.head) == (whole.keys, whole.ends, 1)
    inode = path.stat().st_ino
    assert not jsonio.write_stream_if_changed(path, spliced.Assembly(b"[", items, b"]").chunks(size=1000))
    assert path.stat().st_ino == inode
    other = spliced.Assembly(b"[", [*items[:-1], (items[-1][0], b"9999")], b"]")  # same size, last item differs
    assert jsonio.write_stream_if_changed(path, other.chunks(size=1000))
    assert path.read_bytes() == whole.data[:-5] + b"9999]" and path.stat().st_ino != inode


def test_a_stream_equal_to_the_file_but_for_its_end_is_not_held_while_compared(tmp_path: Path) -> None:
    """The chunks found equal to the file on disk are not kept: when one differs, the equal start is copied from the
    old file (a full rebuild of torch makes a 38 MB symbol map equal to the last one, or nearly)."""
    path = tmp_path / "symbols.json"
    chunk = 1 << 16
    old = b"".join(bytes([n % 251]) * chunk for n in range(128))  # 8 MB
    path.write_bytes(old)

    def chunks(last: bytes) -> Iterator[bytes]:
        for n in range(127):
            yield bytes([n % 251]) * chunk  # made when asked, equal to the file's
        yield last

    for last, written in ((old[-chunk:], False), (b"the end", True), (old[-chunk:] + b"more", True)):
        tracemalloc.start()
        try:
            assert jsonio.write_stream_if_changed(path, chunks(last)) == written
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 3 << 20 and path.read_bytes() == old[:-chunk] + last  # 8 MB when the equal chunks were kept
    assert [p.name for p in tmp_path.iterdir()] == ["symbols.json"]


def test_json_bytes_held_are_the_size_of_their_text() -> None:
    """`jsonio.dumps` (and the manifest's entries) copy orjson's output out of its buffer, which keeps ~4 KB of
    spare room for a small text (the torch tree's 11,771 manifest entries held 46 MB)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [jsonio.dumps({"path": f"d/m{n}.py", "lines": n}) for n in range(1000)]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held[7] == b'{"lines":7,"path":"d/m7.py"}\n' and grown < 1000 * 200
    entries = manifest_file([_digest("a.py", ["f"], 0)]).spliced()
    assert jsonio.loads(entries.data)["files"][0]["path"] == "a.py"


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(
    st.none() | st.binary(max_size=12),
    st.lists(st.binary(max_size=5), max_size=6),
    st.booleans(),
)
def test_a_page_made_in_pieces_is_written_only_when_its_bytes_change(
    tmp_path_factory: pytest.TempPathFactory, disk: bytes | None, chunks: list[bytes], known_size: bool
) -> None:
    """`write_stream_if_changed`: the pieces, each asked for only once the ones before it are compared (or
    written), end to end; an equal file is left as it is (same inode), any other (missing, shorter, longer,
    differing anywhere) is replaced by exactly these bytes; the same when their total size is given (a file of
    another size is then not compared: `write_if_changed`)."""
    path = tmp_path_factory.mktemp("stream") / "page.md"
    if disk is not None:
        path.write_bytes(disk)
    inode = path.stat().st_ino if disk is not None else None
    asked: list[int] = []

    def pieces() -> Iterator[bytes]:
        for number, chunk in enumerate(chunks):
            asked.append(number)
            yield chunk

    size = sum(map(len, chunks)) if known_size else None
    written = jsonio.write_stream_if_changed(path, pieces(), size)
    assert written == (disk != b"".join(chunks)) and path.read_bytes() == b"".join(chunks)
    assert (path.stat().st_ino == inode) == (not written) and asked == list(range(len(chunks)))
    assert [p.name for p in path.parent.iterdir()] == ["page.md"]  # no temp file left


def test_a_page_in_pieces_replaces_a_folder_in_its_way(tmp_path: Path) -> None:
    (tmp_path / "page.md").mkdir()
    (tmp_path / "page.md" / "x").write_text("x")
    assert jsonio.write_stream_if_changed(tmp_path / "page.md", iter([b"a", b"b"]))
    assert (tmp_path / "page.md").read_bytes() == b"ab"


def _digest(path: str, names: list[str], errors: int) -> Digest:
    counts = (("function", len(names)),) if names else ()
    qualnames, kinds, parents = tuple(f"Q.{name}" for name in names), ("function",) * len(names), (None,) * len(names)
    lines = array.array("I", range(1, len(names) + 1)).tobytes()
    imports = tuple((name, None, None, 0, 1, False, None) for name in names[:2])
    anchors = tuple(f"sym-Q.{name}" for name in names)
    signatures = zlib.compress(marshal.dumps(tuple("()" for _ in names)))
    return Digest(path, path.replace("/", "."), "python", "h" + path, 10, 3, None, None, False, errors, counts,
                  tuple(names), qualnames, kinds, lines, parents, imports, anchors, signatures)  # fmt: skip


PATHS = st.sampled_from(["a.py", "b/c.py", "b/d.py", "e\u00e9.py", "z.py"])
DIGEST = st.builds(
    _digest, PATHS, st.lists(st.sampled_from(["f", "g", "_h", "Z\u00e9"]), max_size=4), st.integers(0, 2)
)
TREES = st.dictionaries(PATHS, DIGEST, max_size=5).map(lambda tree: {p: d._replace(path=p) for p, d in tree.items()})


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(TREES, TREES, st.sets(PATHS))
def test_patched_manifest_and_symbol_map_equal_those_built_whole(
    before: dict[str, Digest], new: dict[str, Digest], gone: set[str]
) -> None:
    after = {**{p: d for p, d in before.items() if p not in gone}, **new}
    changes = {p: (before.get(p), after.get(p)) for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    digests_after = [after[p] for p in sorted(after)]
    old_map = symbol_map_file(before.values()).spliced()
    assert old_map.data == jsonio.dumps(build_symbol_map(before.values()))
    assert patch_symbol_map(old_map, changes).data == jsonio.dumps(build_symbol_map(digests_after))
    for name, found in build_symbol_map(before.values())["symbols"].items():
        assert definitions(old_map, name) == found
    old_manifest = manifest_file(before.values()).spliced()
    assert old_manifest.data == jsonio.dumps(build_manifest(sorted(before.values(), key=lambda d: d.path)))
    patched = patch_manifest(old_manifest, changes)
    assert patched is not None and patched.data == jsonio.dumps(build_manifest(digests_after))
