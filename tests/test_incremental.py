"""Incremental behaviour of `kwbuild build` on small real trees (one test per promise of the core issue)."""

from __future__ import annotations

import ast
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kwbuild import jsonio, link, pages, store
from kwbuild.digest import Digest, digest_bytes, digest_table, lines_of, signatures_of
from kwbuild.extract import python as python_extractor
from kwbuild.names import file_names
from tests.conftest import Project

Stamp = Callable[[Path], tuple[int, int]]

PKG = {
    "pkg/__init__.py": '"""The package."""\nfrom .core import Engine\n',
    "pkg/core.py": (
        '"""Core engine."""\n\n\nclass Engine:\n    """Runs things."""\n\n'
        "    def run(self, n: int) -> int:\n        return n + 1\n\n\n"
        "def helper():\n    return 42\n"
    ),
    "pkg/util.py": "import os\n\nLIMIT = 10\n\n\ndef tool(x):\n    return x\n",
    "script.py": "def main():\n    pass\n",
}


@pytest.fixture
def tree(project: Project) -> Project:
    for rel, text in PKG.items():
        project.write(rel, text)
    return project


def test_cold_build_parses_every_file_and_writes_every_output(tree: Project) -> None:
    summary = tree.build()
    assert summary["files"] == 4
    assert summary["parsed"] == 4
    assert summary["cache_hits"] == 0
    assert summary["tables_written"] == 4
    # 4 files x 2 pages, 2 folder indexes, keywords, modules, imports, index.json, symbols.json
    assert summary["pages_written"] == 15
    assert summary["errors"] == 0
    assert [f["path"] for f in tree.manifest()["files"]] == [
        "pkg/__init__.py",
        "pkg/core.py",
        "pkg/util.py",
        "script.py",
    ]


def test_second_build_with_nothing_changed_parses_and_writes_nothing(tree: Project) -> None:
    tree.build()
    before = {p: p.stat().st_mtime_ns for p in tree.out.rglob("*") if p.is_file()}
    summary = tree.build()
    assert (summary["parsed"], summary["tables_written"], summary["pages_written"]) == (0, 0, 0)
    after = {p: p.stat().st_mtime_ns for p in tree.out.rglob("*") if p.is_file()}
    outputs = {p for p in before if ".kwbuild" not in p.parts}
    assert {p: before[p] for p in outputs} == {p: after[p] for p in outputs}


_LOADED = (
    "import sys; from kwbuild.cli import main; code = main(sys.argv[1:]); "
    "print(sorted(m for m in sys.modules if m.startswith(('tree_sitter', 'kwbuild.extract.')))); sys.exit(code)"
)


def _modules_loaded_by_build(tree: Project) -> list[str]:
    """The parser modules a `kwbuild build` of the tree loads in a new process (its main process only)."""
    args = ["build", str(tree.root), "--out", str(tree.out), "--cache", str(tree.cache), "-q", "-j", "1"]
    done = subprocess.run([sys.executable, "-c", _LOADED, *args], capture_output=True, text=True, check=True)
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_builds_load_only_the_extractors_they_run(tree: Project) -> None:
    """The registry lists extractors without loading their pipelines: a no-op build loads no parser, and a
    Python edit loads the Python pipeline but not tree-sitter."""
    tree.write("native/vec.h", "struct Vec { int x; };\n")
    assert "kwbuild.extract.cpp_pipeline" in _modules_loaded_by_build(tree)  # the first build parses C++
    assert _modules_loaded_by_build(tree) == ["kwbuild.extract.cpp", "kwbuild.extract.python"]
    tree.write("pkg/util.py", "import os\n\nLIMIT = 11\n\n\ndef tool(x):\n    return x\n")
    loaded = _modules_loaded_by_build(tree)
    assert "kwbuild.extract.python_pipeline" in loaded
    assert not [m for m in loaded if m.startswith(("tree_sitter", "kwbuild.extract.cpp_"))]
    assert tree.table("pkg/util.py")["symbols"][0]["name"] == "LIMIT"


def test_full_build_with_nothing_changed_parses_and_writes_nothing(tree: Project) -> None:
    tree.build()
    summary = tree.build("--full")
    assert (summary["parsed"], summary["tables_written"], summary["pages_written"]) == (0, 0, 0)


def test_touch_parses_nothing(tree: Project) -> None:
    tree.build()
    os.utime(tree.root / "pkg/core.py", ns=(1, 1))
    summary = tree.build()
    assert (summary["parsed"], summary["tables_written"], summary["pages_written"]) == (0, 0, 0)
    assert tree.build()["parsed"] == 0


def test_touch_is_answered_from_the_file_hash_and_a_same_size_edit_is_not(tree: Project) -> None:
    """A touched file whose bytes hash to its table's recorded hash is not looked up, parsed or written: only
    the snapshot learns its new stat (the last build's end time is kept: nothing was written). An edit that
    keeps the size is still an edit."""
    tree.build()
    snapshot = tree.out / ".kwbuild" / "snapshot.json"
    before = jsonio.read_json(snapshot)
    core = tree.root / "pkg/core.py"
    os.utime(core, ns=(1, 1))
    summary = tree.build()
    assert (summary["parsed"], summary["cache_hits"], summary["tables_written"], summary["pages_written"]) == (
        0,
        0,
        0,
        0,
    )
    after = jsonio.read_json(snapshot)
    assert after["files"]["pkg/core.py"][0] == 1
    assert after["finished_ns"] == before["finished_ns"]
    core.write_text(PKG["pkg/core.py"].replace("42", "43"))
    summary = tree.build()
    assert (summary["parsed"], summary["tables_written"]) == (1, 1)


def test_fresh_output_folder_with_warm_cache_parses_nothing_and_writes_everything(
    tree: Project, tmp_path: Path
) -> None:
    tree.build()
    summary = tree.build(out=tmp_path / "out2")
    assert summary["parsed"] == 0
    assert summary["cache_hits"] == 4
    assert summary["tables_written"] == 4
    assert summary["pages_written"] == 15
    assert (tmp_path / "out2/index.json").read_bytes() == (tree.out / "index.json").read_bytes()


def test_bytes_seen_before_come_from_the_cache(tree: Project) -> None:
    tree.build()
    original = (tree.root / "pkg/util.py").read_bytes()
    tree.write("pkg/util.py", "def branch_only():\n    pass\n")
    assert tree.build()["parsed"] == 1
    (tree.root / "pkg/util.py").write_bytes(original)
    summary = tree.build()
    assert summary["parsed"] == 0
    assert summary["cache_hits"] == 1
    assert [s["name"] for s in tree.table("pkg/util.py")["symbols"]] == ["LIMIT", "tool"]


def test_body_edit_parses_one_file_and_skips_unchanged_aggregates(tree: Project, stamp: Stamp) -> None:
    tree.build()
    symbols_before = stamp(tree.out / "symbols.json")
    tree.write("pkg/core.py", PKG["pkg/core.py"].replace("n + 1", "n + 2"))
    summary = tree.build()
    assert summary["parsed"] == 1
    assert summary["tables_written"] == 1
    # the manifest and the docs page show the new hash; the change report (changes.json, CHANGES.md) says no
    # symbol changed; nothing else is rewritten
    assert summary["pages_written"] == 4
    assert stamp(tree.out / "symbols.json") == symbols_before


def test_added_symbol_reaches_the_symbol_map(tree: Project) -> None:
    tree.build()
    tree.write("pkg/util.py", PKG["pkg/util.py"] + "\n\ndef added():\n    pass\n")
    summary = tree.build()
    # manifest, symbol map, the file's two pages, its folder index, the keyword and module indexes, change report
    assert (summary["parsed"], summary["pages_written"]) == (1, 9)
    symbols = (tree.out / "symbols.json").read_text()
    assert '"added"' in symbols


def test_new_renamed_and_deleted_files(tree: Project) -> None:
    tree.build()
    tree.write("pkg/extra.py", "X = 1\n")
    os.rename(tree.root / "script.py", tree.root / "tool.py")
    (tree.root / "pkg/util.py").unlink()
    summary = tree.build()
    assert summary["parsed"] == 1  # tool.py has script.py's bytes: from the cache
    assert summary["tables_removed"] == 2
    paths = [f["path"] for f in tree.manifest()["files"]]
    assert paths == ["pkg/__init__.py", "pkg/core.py", "pkg/extra.py", "tool.py"]
    tables = sorted(str(p.relative_to(tree.out / "tables")) for p in (tree.out / "tables").rglob("*.json"))
    assert tables == ["pkg/__init__.py.json", "pkg/core.py.json", "pkg/extra.py.json", "tool.py.json"]


def test_deleted_files_are_removed_even_without_a_snapshot(tree: Project) -> None:
    tree.build()
    (tree.out / ".kwbuild" / "snapshot.json").unlink()
    (tree.root / "script.py").unlink()
    tree.build()
    assert not (tree.out / "tables/script.py.json").exists()
    assert "script.py" not in [f["path"] for f in tree.manifest()["files"]]


def test_adding_and_removing_init_py_renames_modules_below(tree: Project) -> None:
    tree.write("pkg/sub/mod.py", "A = 1\n")
    tree.build()
    assert tree.table("pkg/sub/mod.py")["module"] == "mod"
    tree.write("pkg/sub/__init__.py", "")
    summary = tree.build()
    assert summary["parsed"] == 1  # only the new __init__.py; mod.py's table is re-placed from the cache
    assert tree.table("pkg/sub/mod.py")["module"] == "pkg.sub.mod"
    assert tree.table("pkg/sub/__init__.py")["module"] == "pkg.sub"
    (tree.root / "pkg/__init__.py").unlink()
    tree.build()
    assert tree.table("pkg/sub/mod.py")["module"] == "sub.mod"
    assert tree.table("pkg/core.py")["module"] == "core"


def test_identical_files_share_one_cache_entry_but_keep_their_own_path(project: Project) -> None:
    for rel in ("a/__init__.py", "b/__init__.py", "c/__init__.py"):
        project.write(rel, "from .x import y\n")
    summary = project.build()
    assert summary["parsed"] == 1
    assert summary["cache_hits"] == 2
    assert [project.table(f"{d}/__init__.py")["module"] for d in "abc"] == ["a", "b", "c"]
    assert {project.table(f"{d}/__init__.py")["path"] for d in "abc"} == {
        "a/__init__.py",
        "b/__init__.py",
        "c/__init__.py",
    }


def test_new_extractor_version_invalidates_exactly_its_entries(tree: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    tree.build()
    monkeypatch.setattr(python_extractor, "VERSION", python_extractor.VERSION + 1)
    summary = tree.build()
    assert summary["parsed"] == 4
    assert tree.table("pkg/core.py")["extractor"]["version"] == python_extractor.VERSION
    assert tree.build()["parsed"] == 0
    monkeypatch.undo()
    summary = tree.build()  # back to the old version: its entries are still valid
    assert (summary["parsed"], summary["cache_hits"]) == (0, 4)


def test_new_schema_version_invalidates_every_entry(tree: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from kwbuild import cache, model

    tree.build()
    monkeypatch.setattr(cache, "SCHEMA_VERSION", model.SCHEMA_VERSION + 1)
    monkeypatch.setattr(model, "SCHEMA_VERSION", model.SCHEMA_VERSION + 1)
    assert tree.build()["parsed"] == 4


def test_parallel_and_serial_builds_give_identical_outputs(project: Project, tmp_path: Path) -> None:
    for i in range(60):
        project.write(f"p{i % 5}/m{i}.py", f"class C{i}:\n    def f(self):\n        return {i}\n")
    project.build("-j", "2")
    serial = tmp_path / "serial"
    project.cache = tmp_path / "cache-serial"
    summary = project.build("-j", "1", out=serial)
    assert summary["parsed"] == 60
    for path in (project.out / "tables").rglob("*.json"):
        assert path.read_bytes() == (serial / "tables" / path.relative_to(project.out / "tables")).read_bytes()
    assert (project.out / "symbols.json").read_bytes() == (serial / "symbols.json").read_bytes()


def test_no_cache_recomputes_and_reports_a_poisoned_entry(tree: Project) -> None:
    from kwbuild import jsonio
    from kwbuild.cache import ContentCache, cache_key

    tree.build()
    table = tree.table("pkg/util.py")
    key = cache_key(table["hash"], "python", python_extractor.VERSION)
    cache = ContentCache(tree.cache)
    poisoned = {k: v for k, v in table.items() if k not in ("path", "module")}
    poisoned["symbols"] = []
    cache.put_many([(key, jsonio.dumps(poisoned))])
    cache.close()
    summary = tree.build("--no-cache")
    assert summary["parsed"] == 4
    assert summary["cache_mismatches"] == 1
    assert summary["tables_written"] == 0  # the outputs were right: only the cache entry was wrong
    summary = tree.build("--no-cache")
    assert summary["cache_mismatches"] == 0


def test_the_summary_error_count_follows_every_kind_of_change(project: Project) -> None:
    """The count comes from the snapshot and the digests that changed, never from re-reading every table."""
    project.write("a.py", "def broken(:\n")
    project.write("b.py", "def fine():\n    pass\n")
    project.write("c.py", "class Also(:\n")
    steps = [
        (lambda: None, 2),
        (lambda: project.write("a.py", "def fixed():\n    pass\n"), 1),
        (lambda: project.write("b.py", "def broken(:\n"), 2),
        (lambda: (project.root / "c.py").unlink(), 1),
        (lambda: project.write("d.py", "x = (\n"), 2),
        (lambda: project.write("b.py", "def fine():\n    pass\n\nclass fine:\n    def a(self): ...\n"), 1),
        (lambda: project.write("a.py", "def a():\n    pass\n\ndef fine():\n    pass\n"), 1),
        (lambda: shutil.rmtree(project.out / ".kwbuild" / "digests"), 1),  # store lost, snapshot kept
        (lambda: project.write("c.py", "class Again(:\n"), 2),
        (lambda: None, 2),
    ]
    for step, (change, expected) in enumerate(steps):
        change()
        summary = project.build()
        assert summary["errors"] == expected
        assert project.manifest()["totals"]["files_with_errors"] == expected
        fresh = project.root.parent / f"fresh-{step}"  # the manifest kept up to date = the one made from scratch
        project.build(out=fresh)
        assert (fresh / "index.json").read_bytes() == (project.out / "index.json").read_bytes()
        assert (fresh / "symbols.json").read_bytes() == (project.out / "symbols.json").read_bytes()


def test_an_edit_rewrites_one_shard_of_the_digest_store_and_prunes_doit_state(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest store is saved by shard (only shards with a changed entry are rewritten), and doit's state of
    an aggregate keeps only the file deps it has now (a build without a snapshot made it depend on every table;
    a trusted build depends on none)."""
    for n in range(40):
        project.write(f"d{n % 10}/m{n}.py", f"def f{n}():\n    return {n}\n")
    project.build()
    shards = project.out / ".kwbuild" / "digests"
    before = {p.name: p.stat().st_mtime_ns for p in shards.iterdir()}
    assert len(before) == store.SHARDS + 1  # and the name index
    state = sqlite3.connect(project.out / ".kwbuild" / "doit.sqlite3")
    manifest = jsonio.loads(state.execute("select task_data from doit where task_id='manifest'").fetchone()[0])
    assert sum(1 for key in manifest if key.endswith(".json")) == 40  # every table, in a build without snapshot
    state.close()
    project.write("d7/m7.py", "def f7():\n    return 7\n\n\ndef g7():\n    pass\n")
    assert project.build()["tables_written"] == 1
    after = {p.name: p.stat().st_mtime_ns for p in shards.iterdir()}
    shard = f"{store._shard('d7/m7.py'):02d}.marshal"
    assert [name for name in sorted(after) if after[name] != before[name]] == [shard, store.NAMES_FILE]
    read: list[str] = []  # the shard file of each digest a build reads from a shard
    blob = store._Digests.blob
    monkeypatch.setattr(
        store._Digests, "blob", lambda self, at, n: read.append(Path(self.path).name) or blob(self, at, n)
    )
    project.write("d7/m7.py", "def f7():\n    return 77\n\n\ndef g7():\n    pass\n")  # the same names
    assert project.build()["tables_written"] == 1
    last = {p.name: p.stat().st_mtime_ns for p in shards.iterdir()}
    assert [name for name in sorted(last) if last[name] != after[name]] == [shard]
    folder = {f"{store._shard(f'd7/m{n}.py'):02d}.marshal" for n in (7, 17, 27, 37)}  # its folder index's rows
    assert shard in set(read) <= folder  # no other shard's digests were read (their entries' part only)
    assert len(read) <= 4  # and of those, only the edited file's old digest and the rows of its folder's others
    with open(shards / shard, "r+b") as handle:  # a shard cut short: the store is lost, every table read again
        handle.truncate(os.path.getsize(shards / shard) - 10)
    project.write("d7/m7.py", "def f7():\n    return 777\n\n\ndef g7():\n    pass\n")  # its old digest is asked
    assert project.build()["tables_written"] == 1
    project.build(out=project.root.parent / "fresh")
    for name in ("index.json", "symbols.json"):
        assert (project.out / name).read_bytes() == (project.root.parent / "fresh" / name).read_bytes()
    state = sqlite3.connect(project.out / ".kwbuild" / "doit.sqlite3")
    manifest = jsonio.loads(state.execute("select task_data from doit where task_id='manifest'").fetchone()[0])
    state.close()
    assert [key for key in manifest if not key.endswith(":")] == list(manifest["deps:"]) == []


def test_the_import_cross_reference_takes_the_links_the_links_task_made_and_reads_them_when_it_did_not(
    tree: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build whose links task ran makes the cross-reference from the links it made, without reading the ~12,000
    links files back; one whose links were up to date (the pages deleted) reads them: the same pages."""
    links_read: list[str] = []  # by the cross-reference's task (the page tasks read their own file's links)
    read_json, build_imports = jsonio.read_json, pages.PageBuilder.build_imports

    def counted(path: Any) -> Any:
        links_read.append(str(path))
        return read_json(path)

    def imports_task(builder: pages.PageBuilder, rels: list[str]) -> Any:
        with monkeypatch.context() as patched:
            patched.setattr(jsonio, "read_json", counted)
            return build_imports(builder, rels)

    monkeypatch.setattr(pages.PageBuilder, "build_imports", imports_task)
    tree.build()
    xref = (tree.out / "docs" / "imports.md").read_bytes()
    assert links_read == [] and "- Imports from the tree (1): [`pkg.core`]" in xref.decode()
    shutil.rmtree(tree.out / "docs")
    tree.build()
    assert len(links_read) == len(list((tree.out / "links").rglob("*.json"))) > 3
    assert (tree.out / "docs" / "imports.md").read_bytes() == xref


def test_the_import_cross_reference_follows_import_edits_and_only_them(
    tree: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[int] = []
    render = pages.import_xref_pages
    monkeypatch.setattr(pages, "import_xref_pages", lambda rows: rendered.append(len(rows)) or render(rows))
    tree.build()
    xref = tree.out / "docs" / "imports.md"
    tree.write("script.py", "from pkg.core import helper\n\n\ndef main():\n    pass\n")
    tree.build()
    assert "`script.py`\n\n- Imports from the tree (1): [`pkg.core`]" in xref.read_text()
    stamp, runs = xref.stat().st_mtime_ns, len(rendered)
    tree.write("pkg/util.py", PKG["pkg/util.py"] + "\n\ndef added():\n    pass\n")  # a name nobody imports
    tree.build()
    assert xref.stat().st_mtime_ns == stamp
    stray = tree.out / "tables" / "stray.json"
    stray.write_text("")
    stray.unlink()  # an output folder changed: the next build is not trusted, the one after is again
    for n in (1, 2):  # doit reruns the aggregates whose dependency list changed form (file deps / task deps)
        tree.write("pkg/util.py", PKG["pkg/util.py"] + "".join(f"\n\ndef added{i}():\n    pass\n" for i in range(n)))
        tree.build()
    assert len(rendered) == runs  # they stopped early: no link can have changed, the pages were not rendered
    tree.write("script.py", PKG["script.py"])
    tree.build()
    fresh = tmp_path / "fresh"
    tree.build(out=fresh)
    assert xref.read_bytes() == (fresh / "docs" / "imports.md").read_bytes()
    assert "`script.py`\n\n- Imports from the tree (0): none" in xref.read_text()


def test_the_digest_store_saved_after_edits_holds_each_table_once_in_its_shard(project: Project) -> None:
    """A save rewrites only the shards of the entries that moved, from each shard's saved paths: files added,
    removed and edited between builds land in (or leave) the right shard, in path order."""
    for n in range(40):
        project.write(f"d{n % 10}/m{n}.py", f"def f{n}():\n    return {n}\n")
    project.build()
    for n in (3, 14):
        (project.root / f"d{n % 10}/m{n}.py").unlink()
    for n in (40, 41, 52):
        project.write(f"d{n % 10}/m{n}.py", f"def f{n}():\n    return {n}\n")
    project.write("d7/m7.py", "def f7():\n    return 7\n\n\ndef g7():\n    pass\n")
    project.build()
    entries, _generations, members = store._read_store(str(project.out / ".kwbuild" / "digests"))
    rels = sorted(str(p.relative_to(project.root)) for p in project.root.rglob("*.py"))
    assert sorted(entries) == rels
    assert members == [[rel for rel in rels if store._shard(rel) == number] for number in range(store.SHARDS)]
    assert entries["d7/m7.py"].names[0] == ("f7", "g7")


def test_the_digests_share_their_names_and_kinds_and_the_store_reads_them_back_without_interning(
    project: Project,
) -> None:
    """The digests made from the tables share their strings (a tree's repeat names and kinds are held once),
    without interning them: marshal would save an interned string with a flag and intern it again on every load
    (an edit build reads a few hundred digests and the name index back). Signatures are kept compressed."""
    source = "import os\n\n\nclass Config:\n    def forward(self, x: int) -> int:\n        return x\n"
    for n in range(2):
        project.write(f"m{n}.py", source)
    project.build()
    tables = [jsonio.read_json(project.out / "tables" / f"m{n}.py.json") for n in range(2)]
    strings: dict[str, str] = {}  # the pool of the digests made with it
    made = [digest_table(table, strings) for table in tables]
    assert tables[0]["symbols"][1]["kind"] is not tables[1]["symbols"][1]["kind"]  # orjson: one object each
    first, second = (digest.symbols[1] for digest in made)
    assert first == second == ("forward", "Config.forward", "method", 5, "Config")
    assert all(a is b for a, b in zip(first, second, strict=True) if isinstance(a, str))
    assert made[0].imports[0][0] is made[1].imports[0][0] == "os"
    assert made[0].symbol_counts[0][0] is made[1].symbol_counts[0][0] and made[0].language is made[1].language
    assert signatures_of(made[0]) == ("", "(self, x: int) -> int") and isinstance(made[0].signatures, bytes)
    entries, _generations, _members = store._read_store(str(project.out / ".kwbuild" / "digests"))
    read = [entries[f"m{n}.py"].digest for n in range(2)]
    assert read == made and entries["m0.py"].names == file_names(made[0])
    qualname = read[0].symbols[1][1]
    assert qualname is not first[1]  # read as a plain string: an interned one would come back as the made one
    assert sys.intern(first[1]) is first[1] and sys.intern(qualname) is not qualname


def test_a_digest_holds_its_symbols_by_column_and_makes_their_rows_when_asked(project: Project) -> None:
    """A digest keeps one tuple per column (names, qualnames, kinds, parents) and the lines as 4-byte integers,
    not a tuple and an int object per symbol (~22 MB of the torch tree's builds); `symbols` gives the rows."""
    project.write("m.py", "import os\n\n\nclass Config:\n    def forward(self, x):\n        return x\n\n\nLIMIT = 3\n")
    project.build()
    table = jsonio.read_json(project.out / "tables" / "m.py.json")
    digest = digest_table(table)
    assert digest.symbols == tuple(
        (s["name"], s["qualname"], s["kind"], s["line"], s["parent"]) for s in table["symbols"]
    ) == (("Config", "Config", "class", 4, None), ("forward", "Config.forward", "method", 5, "Config"),
          ("LIMIT", "LIMIT", "constant", 9, None))  # fmt: skip
    assert digest.names == ("Config", "forward", "LIMIT") and digest.parents == (None, "Config", None)
    assert len(digest.symbol_lines) == 4 * 3 and list(lines_of(digest)) == [4, 5, 9]
    assert not any(isinstance(field, tuple) and field and isinstance(field[0], tuple) for field in digest[11:16])
    for line in (-1, 2**32, "5"):  # a damaged table (edited by hand): no digest, and the store leaves it out
        damaged = {**table, "symbols": [{**table["symbols"][0], "line": line}]}
        assert digest_bytes(damaged) is None
        jsonio.atomic_write(project.out / "tables" / "m.py.json", jsonio.dumps(damaged))
        digest_store = store.DigestStore(
            str(project.out / ".kwbuild" / "digests"), lambda rel: str(project.out / "tables" / f"{rel}.json")
        )
        digest_store.forget(["m.py"])
        assert digest_store.view(["m.py"]).digest("m.py") is None


def test_equal_resolutions_of_imports_are_one_dict(project: Project) -> None:
    """The links resolve each distinct place once: equal resolutions of the tree's imports (Python's and C/C++'s)
    are one dict (the torch tree's 108,798 imports have 19,121), and the links files say the same as before."""
    for rel in ("a.py", "b.py"):
        project.write(rel, "import os\nfrom pkg import x\nimport pkg.mod\n")
    project.write("pkg/__init__.py", "x = 1\n")
    project.write("pkg/mod.py", "y = 2\n")
    for rel in ("c/m.cpp", "c/n.cpp"):
        project.write(rel, '#include <vector>\n#include "h.h"\n#include "gone.h"\nint f();\n')
    project.write("c/h.h", "int g();\n")
    project.build()
    tables = project.out / "tables"
    digests = {d.path: d for d in (digest_table(jsonio.read_json(p)) for p in tables.rglob("*.json"))}
    linker = link.Linker(digests.values())
    for first, second in (("a.py", "b.py"), ("c/m.cpp", "c/n.cpp")):
        one, other = linker.resolve_file(digests[first]), linker.resolve_file(digests[second])
        assert len(one) == 3 and all(x is y for x, y in zip(one, other, strict=True))
        on_disk = jsonio.read_json(project.out / "links" / f"{first}.json")["imports"]
        assert on_disk == one == jsonio.read_json(project.out / "links" / f"{second}.json")["imports"]
    assert [r["resolution"] for r in linker.resolve_file(digests["a.py"])] == ["external", "symbol", "module"]
    assert [r["resolution"] for r in linker.resolve_file(digests["c/m.cpp"])] == ["external", "module", "unresolved"]


def test_the_digests_of_one_view_share_their_strings_and_the_pool_goes_with_the_view(project: Project) -> None:
    """The store shares the strings of the digests it makes for one view, and keeps no pool after it (~15 MB on
    torch; and a long-lived process, `kwbuild watch`, building again and again keeps no names of older trees)."""
    project.write("a.py", "def function_of_both_files():\n    pass\n")
    project.write("b.py", "def function_of_both_files():\n    pass\n")
    project.build()
    tables = project.out / "tables"
    digest_store = store.DigestStore(str(project.out / ".kwbuild" / "digests"), lambda rel: str(tables / f"{rel}.json"))
    digest_store.forget(["a.py", "b.py"])  # read the tables again, as a build that rewrote them does
    view = digest_store.view(["a.py", "b.py"])
    first, second = (view.digest(rel) for rel in ("a.py", "b.py"))
    assert first is not None and second is not None
    assert first.symbols[0][0] == "function_of_both_files" and first.symbols[0][0] is second.symbols[0][0]
    held = [value for value in vars(digest_store).values() if isinstance(value, dict)]
    assert not any("function_of_both_files" in value for value in held)


@pytest.mark.parametrize(("jobs", "keep"), [("1", None), ("2", None), ("2", 0)])
def test_the_store_takes_the_digests_of_the_tables_a_build_wrote_from_their_jobs(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str, keep: int | None
) -> None:
    """A table job sends the digest of the table it wrote, so the main process reads back only the tables the
    build did not write (on torch, reading and digesting a fresh output's tables cost its one core ~3 s). The
    digests saved are those of the tables on disk, whether they came from the jobs (in process or on the pool,
    30 files; held in memory, or each in the spool file, which the build removes) or were read back (a part of the
    digest store lost under unchanged tables). With no digest store at all, the jobs send every digest."""
    if keep is not None:
        monkeypatch.setattr(store.DigestSpool, "KEEP", keep)
    spooled: list[str] = []
    spill = store.DigestSpool._spill
    monkeypatch.setattr(store.DigestSpool, "_spill", lambda spool: spooled.extend(spool._held) or spill(spool))
    for n in range(30):
        project.write(f"d{n % 3}/m{n}.py", f"import os\n\n\nclass C{n}:\n    def forward(self, x):\n        return x\n")
    rels = sorted(f"d{n % 3}/m{n}.py" for n in range(30))
    read: list[str] = []
    digest_of = store.digest_table

    def counted(table: dict[str, Any], strings: dict[str, str] | None = None) -> Digest:
        read.append(table["path"])
        return digest_of(table, strings)

    monkeypatch.setattr(store, "digest_table", counted)
    encoded: list[Digest] = []  # digests encoded again to be saved (those the jobs sent are saved as they came)
    monkeypatch.setattr(store, "to_plain", lambda digest: encoded.append(digest) or tuple(digest))

    def saved(out: Path) -> dict[str, Digest]:
        entries, _generations, _members = store._read_store(str(out / ".kwbuild" / "digests"))
        return {rel: entry.digest for rel, entry in entries.items()}

    def from_tables(out: Path) -> dict[str, Digest]:
        return {rel: digest_of(jsonio.read_json(out / "tables" / f"{rel}.json")) for rel in rels}

    assert project.build("-j", jobs)["parsed"] == 30 and read == [] and encoded == []
    assert saved(project.out) == from_tables(project.out)
    assert sorted(spooled) == (rels if keep == 0 else []) and not (project.out / ".kwbuild/digests.spool").exists()
    assert project.build("-j", jobs, out=tmp_path / "fresh")["tables_written"] == 30 and read == []  # warm cache
    project.write("d1/m1.py", "def edited():\n    pass\n")
    (project.out / ".kwbuild/digests.spool").write_bytes(b"left by a build killed before its end")
    assert project.build("-j", jobs)["tables_written"] == 1 and read == [] and encoded == []
    assert not (project.out / ".kwbuild/digests.spool").exists()
    assert saved(project.out) == from_tables(project.out) and saved(project.out)["d1/m1.py"].symbols[0][0] == "edited"
    for lost in ("snapshot.json", "doit.sqlite3", "digests/00.marshal"):  # a shard lost: every digest is new
        (project.out / ".kwbuild" / lost).unlink()
    assert project.build("-j", jobs)["tables_written"] == 0 and sorted(read) == rels  # read back: none written
    assert saved(project.out) == from_tables(project.out)
    read.clear()
    # no digest store at all (`--full` forgets it, or the build state was lost): the jobs send the digests of the
    # tables they leave as they were too, and nothing is read back
    assert project.build("-j", jobs, "--full")["tables_written"] == 0 and read == []
    assert saved(project.out) == from_tables(project.out)
    shutil.rmtree(project.out / ".kwbuild")
    assert project.build("-j", jobs)["tables_written"] == 0 and read == []
    assert saved(project.out) == from_tables(project.out)


def test_digests_sent_by_jobs_share_their_strings_in_the_view(project: Project) -> None:
    """A digest decoded from a job's bytes shares its strings with the view's other digests, as a digest made from
    a table read back does (on torch: 77 MB of digests instead of 92)."""
    for rel in ("a.py", "b.py"):
        project.write(rel, "import os\n\n\nclass Config:\n    def forward(self, x: int) -> int:\n        return x\n")
    project.build()
    tables = project.out / "tables"
    made = {rel: digest_bytes(jsonio.read_json(tables / f"{rel}.json")) for rel in ("a.py", "b.py")}
    assert all(isinstance(data, bytes) for data in made.values())
    spool = store.DigestSpool(str(project.out / "spool"), keep=0)  # each digest in the file
    digest_store = store.DigestStore(
        str(project.out / ".kwbuild" / "digests"), lambda rel: str(tables / f"{rel}.json"), spool
    )
    for rel, data in made.items():
        assert data is not None
        spool.add(rel, data)
    assert (project.out / "spool").stat().st_size == sum(len(data or b"") for data in made.values())
    digest_store.forget(["a.py", "b.py"])
    first, second = (digest_store.view(["a.py", "b.py"]).digest(rel) for rel in ("a.py", "b.py"))
    assert first == digest_table(jsonio.read_json(tables / "a.py.json")) and first is not None and second is not None
    assert first.symbols[1] == ("forward", "Config.forward", "method", 5, "Config")
    assert all(a is b for a, b in zip(first.symbols[1], second.symbols[1], strict=True) if isinstance(a, str))
    assert first.imports[0][0] is second.imports[0][0] and first.language is second.language
    assert first.symbol_counts[0][0] is second.symbol_counts[0][0]
    assert _taken(spool, "a.py") is None  # taken once
    spool.close()
    assert not (project.out / "spool").exists()


def _taken(spool: store.DigestSpool, rel: str) -> bytes | None:
    """The bytes of the digest the spool holds for `rel` (taken), or None."""
    taken = spool.take(rel)
    return None if taken is None else taken[0]


def test_a_pickled_spool_starts_empty_and_never_writes_the_file(tmp_path: Path) -> None:
    """doit's process mode pickles the builders: a copy must not write through this process's descriptor."""
    spool = store.DigestSpool(str(tmp_path / "spool"), keep=0)
    spool.add("a.py", b"x" * 10)
    copy = pickle.loads(pickle.dumps(spool))
    copy.add("b.py", b"y" * 10)
    assert _taken(copy, "a.py") is None and _taken(copy, "b.py") == b"y" * 10
    assert (tmp_path / "spool").read_bytes() == b"x" * 10 and _taken(spool, "a.py") == b"x" * 10
    spool.close()


def test_a_spool_that_cannot_make_its_file_keeps_the_digests_in_memory(tmp_path: Path) -> None:
    """No room for the scratch file (here: its folder is a file): every digest stays in memory, taken as sent."""
    (tmp_path / "blocked").write_bytes(b"")
    spool = store.DigestSpool(str(tmp_path / "blocked" / "spool"), keep=4)
    for n in range(5):
        spool.add(f"m{n}.py", bytes([n]) * 10)
    assert [_taken(spool, f"m{n}.py") for n in range(5)] == [bytes([n]) * 10 for n in range(5)]
    assert _taken(spool, "m0.py") is None
    spool.close()


def test_a_digest_damaged_on_its_way_is_replaced_by_the_table_read_back(project: Project) -> None:
    project.write("a.py", "def f():\n    pass\n")
    project.build()
    tables = project.out / "tables"
    spool = store.DigestSpool(str(project.out / "spool"), keep=0)
    digest_store = store.DigestStore(
        str(project.out / ".kwbuild" / "digests"), lambda rel: str(tables / f"{rel}.json"), spool
    )
    spool.add("a.py", b"\x00not a digest")
    digest_store.forget(["a.py"])
    assert digest_store.view(["a.py"]).digest("a.py") == digest_table(jsonio.read_json(tables / "a.py.json"))
    spool.close()


def test_a_trusted_view_checks_only_its_suspects_and_equals_a_view_that_checks_every_table(project: Project) -> None:
    """A trusted build's view (suspects given) takes the saved entry of every other table in one pass: with the
    other tables unchanged, its entries (in the order asked), digests and changes equal those of a view that
    checks every table's stat, whether a changed table is a suspect or forgotten, and with a suspect's table gone."""
    for n in range(6):
        project.write(f"d{n % 2}/m{n}.py", f"def f{n}():\n    return {n}\n")
    project.build()
    digests = project.out / ".kwbuild" / "digests"
    saved = {path.name: path.read_bytes() for path in digests.iterdir()}
    for n in (2, 3):
        project.write(f"d{n % 2}/m{n}.py", f"def f{n}():\n    return {n}\n\n\ndef g{n}():\n    pass\n")
    project.build()
    for name, data in saved.items():  # the store as the first build left it, the tables as the second did
        (digests / name).write_bytes(data)
    (project.out / "tables" / "d1" / "m5.py.json").unlink()
    rels = [f"d{n % 2}/m{n}.py" for n in (5, 4, 3, 2, 1, 0)]

    def view(suspects: set[str] | None, forgotten: list[str]) -> store.View:
        tables = project.out / "tables"
        digest_store = store.DigestStore(str(digests), lambda rel: str(tables / f"{rel}.json"))
        digest_store.suspects = suspects
        digest_store.forget(forgotten)
        return digest_store.view(rels)

    checked = view(None, [])
    assert list(checked.entries) == [rel for rel in rels if rel != "d1/m5.py"]
    assert set(checked.changes) == {"d0/m2.py", "d1/m3.py", "d1/m5.py"}
    for trusted in (view({"d0/m2.py", "d1/m3.py", "d1/m5.py"}, []), view({"d0/m2.py", "d1/m5.py"}, ["d1/m3.py"])):
        assert list(trusted.entries) == list(checked.entries)
        assert trusted.digests == checked.digests
        assert trusted.changes == checked.changes and list(trusted.changes) == list(checked.changes)


def test_doit_stats_each_file_once_per_build_and_a_missing_file_is_not_remembered(tmp_path: Path) -> None:
    """The checker (one per doit run) keeps each file's first stat: doit asks before and after each task, and
    for every task reading the file; a file that does not exist yet is asked again."""
    from kwbuild.tasks import StatChecker

    path = tmp_path / "table.json"
    checker = StatChecker()
    assert checker.info(str(path)) is None
    path.write_bytes(b"{}")
    first = checker.info(str(path))
    assert first is not None and first[1] == 2
    path.write_bytes(b'{"a":1}')
    os.utime(path, ns=(first[0] + 10**9, first[0] + 10**9))
    assert checker.info(str(path)) == first and checker.get_state(str(path), None) == first
    assert StatChecker().info(str(path)) == (first[0] + 10**9, 7)  # the next build's checker sees the edit
