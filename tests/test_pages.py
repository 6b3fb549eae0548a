"""Incremental behaviour of the pages: each edit rewrites exactly the pages whose inputs changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kwbuild import store
from kwbuild.render import keyword_index
from tests.conftest import Project
from tests.linkcheck import check_links

GOLDEN_SOURCE = Path(__file__).parent / "data" / "golden" / "src"


@pytest.fixture
def shop(project: Project) -> Project:
    shutil.rmtree(project.root)
    shutil.copytree(GOLDEN_SOURCE, project.root)
    project.build()
    return project


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    stamps = {}
    for path in out.rglob("*"):
        if path.is_file() and ".kwbuild" not in path.parts:
            info = path.stat()  # a rewrite replaces the file (a new inode); a touch keeps it
            stamps[path.relative_to(out).as_posix()] = (info.st_ino, info.st_size)
    return stamps


def _rewritten(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> set[str]:
    return {name for name in after if before.get(name) != after[name]}


def test_noop_rewrites_nothing(shop: Project) -> None:
    before = _stamps(shop.out)
    summary = shop.build()
    assert summary["pages_written"] == 0
    assert _rewritten(before, _stamps(shop.out)) == set()


def test_body_edit_rewrites_at_most_that_files_pages(shop: Project) -> None:
    before = _stamps(shop.out)
    path = shop.root / "shop/pricing.py"
    path.write_text(path.read_text().replace("(1 + TAX_RATE)", "(1.0 + TAX_RATE)"))
    summary = shop.build()
    assert summary["parsed"] == 1
    rewritten = _rewritten(before, _stamps(shop.out))
    report = {"changes.json", "CHANGES.md"}  # the change report of this build: no symbol changed
    assert rewritten <= {"tables/shop/pricing.py.json", "docs/shop/pricing.py_docs.md", "index.json"} | report
    assert "tables/shop/pricing.py.json" in rewritten


def test_added_symbol_rewrites_its_pages_folder_and_global_lists_only(shop: Project) -> None:
    before = _stamps(shop.out)
    path = shop.root / "shop/pricing.py"
    path.write_text(path.read_text() + "\n\ndef discount(name: str) -> float:\n    return 0.0\n")
    shop.build()
    rewritten = _rewritten(before, _stamps(shop.out))
    expected = {
        "tables/shop/pricing.py.json",
        "docs/shop/pricing.py_docs.md",
        "docs/shop/pricing.py_kw.md",
        "docs/shop/index.md",
        "index.json",
        "symbols.json",
        "docs/modules.md",
        "changes.json",
        "CHANGES.md",
    }
    assert expected <= rewritten
    global_lists = {name for name in rewritten if name.startswith("docs/keywords")}
    assert global_lists
    assert rewritten - expected - global_lists == set()
    assert "discount" in (shop.out / "docs/shop/pricing.py_kw.md").read_text()


def test_deleted_file_loses_its_pages_and_every_link_to_them(shop: Project) -> None:
    os.unlink(shop.root / "shop/payments/card.py")
    shop.build()
    docs = shop.out / "docs"
    assert not (docs / "shop/payments/card.py_docs.md").exists()
    assert not (docs / "shop/payments/card.py_kw.md").exists()
    assert not (shop.out / "tables/shop/payments/card.py.json").exists()
    assert not (shop.out / "links/shop/payments/card.py.json").exists()
    for page in docs.rglob("*.md"):
        assert "card.py_docs.md" not in page.read_text(encoding="utf-8"), page
    checked, problems = check_links(docs, shop.root)
    assert checked and problems == []


def test_deleted_folder_loses_its_index(shop: Project) -> None:
    shutil.rmtree(shop.root / "odd dir")
    shop.build()
    assert not (shop.out / "docs/odd dir").exists()
    _checked, problems = check_links(shop.out / "docs", shop.root)
    assert problems == []


def test_two_builds_into_two_folders_are_byte_identical(shop: Project, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shop.build(out=other)
    first = {
        p.relative_to(shop.out): p.read_bytes()
        for p in shop.out.rglob("*")
        if p.is_file() and ".kwbuild" not in p.parts
    }
    second = {
        p.relative_to(other): p.read_bytes() for p in other.rglob("*") if p.is_file() and ".kwbuild" not in p.parts
    }
    assert first == second


def test_show_merges_the_resolution_into_each_import(shop: Project, capsys: pytest.CaptureFixture[str]) -> None:
    from kwbuild import jsonio
    from kwbuild.cli import main

    capsys.readouterr()
    assert main(["show", "shop/cart.py", "--out", str(shop.out)]) == 0
    table = jsonio.loads(capsys.readouterr().out)
    by_name = {imp["name"]: imp for imp in table["imports"]}
    assert by_name["price_of"]["resolved_path"] == "shop/pricing.py"
    assert by_name["price_of"]["resolved_symbol"] == "price_of"
    assert by_name["payments"]["resolution"] == "module"
    assert by_name["annotations"]["resolution"] == "external"
    assert [entry["path"] for entry in table["tested_by"]] == ["tests/test_cart.py"]
    assert "odd dir/café (v2) #1.py" in [entry["path"] for entry in table["imported_by"]]


def test_page_options_rewrite_the_pages_and_nothing_else(shop: Project) -> None:
    summary = shop.build("--source-url", "https://example.org/repo/blob/main/", "--include-source")
    assert summary["parsed"] == 0
    assert summary["tables_written"] == 0
    docs = (shop.out / "docs/shop/pricing.py_docs.md").read_text(encoding="utf-8")
    assert "(https://example.org/repo/blob/main/shop/pricing.py#L" in docs
    assert "def price_of(name: str) -> float:" in docs  # the pasted source
    summary = shop.build()
    assert "def price_of(name: str) -> float:" not in (shop.out / "docs/shop/pricing.py_docs.md").read_text()
    assert summary["tables_written"] == 0


def test_change_report_lists_added_removed_and_changed_symbols(shop: Project) -> None:
    from kwbuild import jsonio

    path = shop.root / "shop/pricing.py"
    text = path.read_text()
    text = text.replace("def price_of(name: str) -> float:", "def price_of(name: str, vat: bool = True) -> float:")
    text = text.replace("def _internal() -> None:\n    pass\n", "def discount() -> float:\n    return 0.0\n")
    path.write_text(text)
    os.unlink(shop.root / "tests/test_cart.py")
    shop.build()
    report = jsonio.read_json(shop.out / "changes.json")
    pricing = report["files"]["shop/pricing.py"]
    assert [s["qualname"] for s in pricing["added"]] == ["discount"]
    assert [s["qualname"] for s in pricing["removed"]] == ["_internal"]
    assert pricing["changed"] == [
        {
            "qualname": "price_of",
            "kind": "function",
            "old": "(name: str) -> float",
            "new": "(name: str, vat: bool = True) -> float",
        }
    ]
    assert report["files"]["tests/test_cart.py"]["file"] == "removed"
    markdown = (shop.out / "CHANGES.md").read_text()
    assert "- added function `discount() -> float`" in markdown
    before = (shop.out / "CHANGES.md").stat().st_mtime_ns
    shop.build()  # a no-op keeps the last report
    assert (shop.out / "CHANGES.md").stat().st_mtime_ns == before


def _docs(out: Path) -> dict[str, bytes]:
    docs = out / "docs"
    return {str(p.relative_to(docs)): p.read_bytes() for p in sorted(docs.rglob("*.md"))}


def test_a_new_name_rewrites_only_its_letter_of_a_split_keyword_index(project: Project, tmp_path: Path) -> None:
    """Above 2,000 definitions the A-Z index is one page per letter: a new name renders its letter's page again,
    and the result equals a fresh build's."""
    _write_letters(project)
    project.build()
    docs = project.out / "docs"
    letters = {p.name: os.stat(p).st_ino for p in docs.glob("keywords-*.md")}
    assert set(letters) == {f"keywords-{c}.md" for c in "abcdefgh"}
    project.write("pkg/c.py", (project.root / "pkg/c.py").read_text() + "def zeta():\n    pass\n")
    project.build()
    now = {p.name: os.stat(p).st_ino for p in docs.glob("keywords-*.md")}
    rewritten = {name for name in now if letters.get(name) != now[name]}
    assert rewritten == {"keywords-z.md"}  # a new letter; c's page keeps its bytes (no name starting with c moved)
    assert "zeta" in (docs / "keywords-z.md").read_text() and "keywords-z.md" in (docs / "keywords.md").read_text()
    a = project.root / "pkg/a.py"
    a.write_text("def zz_top():\n    pass\n\n" + a.read_text())  # every definition of a.py moves down 3 lines
    project.build()
    assert "pkg/a.py` · [L4]" in (docs / "keywords-a.md").read_text()
    (project.root / "pkg/h.py").unlink()  # a letter goes away
    project.build()
    assert not (docs / "keywords-h.md").exists()
    fresh = tmp_path / "fresh"
    project.build(out=fresh)
    assert _docs(project.out) == _docs(fresh)


def test_the_keyword_pages_of_an_edit_find_their_files_in_the_symbol_map(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An added name renders its letter's page from the files that define the page's names, found in the symbol
    map the build just patched, not by reading the names of every file of the tree."""
    _write_letters(project)
    for n in range(40):
        project.write(f"other/m{n}.py", f"def other{n}():\n    pass\n")
    project.build()
    read: list[int] = []
    names = store.Entry.names
    monkeypatch.setattr(store.Entry, "names", property(lambda entry: read.append(1) or names.fget(entry)))
    project.write("pkg/c.py", (project.root / "pkg/c.py").read_text() + "def c_added():\n    pass\n")
    project.build()
    assert "c_added" in (project.out / "docs" / "keywords-c.md").read_text()
    assert len(read) < 10  # the edited file's, before and after; not the 48 files' names


def _write_letters(project: Project) -> None:
    """`pkg/a.py` ... `pkg/h.py`, 300 functions each (`a0` ... `h299`): 2,400 definitions, an index split by letter."""
    for letter in "abcdefgh":
        project.write(f"pkg/{letter}.py", "".join(f"def {letter}{i}():\n    pass\n\n" for i in range(300)))


def _outputs(out: Path) -> dict[str, bytes]:
    found = {}
    for top in ("tables", "links", "docs"):
        for path in sorted((out / top).rglob("*")):
            if path.is_file():
                found[str(path.relative_to(out))] = path.read_bytes()
    return found


def test_a_new_name_relinks_only_when_an_import_asks_for_it(project: Project, tmp_path: Path) -> None:
    """Links depend on names only where an import looks one up: a new function nobody imports leaves every links
    file alone; a name an import was waiting for resolves it (and both equal a fresh build)."""
    project.write("pkg/__init__.py", "from .core import *\n")
    project.write("pkg/core.py", "def engine():\n    pass\n")
    project.write("app.py", "from pkg import later\nfrom pkg.core import engine\n")
    project.build()
    links = {p: os.stat(p).st_ino for p in (project.out / "links").rglob("*.json")}
    project.write("pkg/core.py", "def engine():\n    pass\n\ndef unused():\n    pass\n")
    project.build()
    assert {p: os.stat(p).st_ino for p in (project.out / "links").rglob("*.json")} == links
    project.build(out=tmp_path / "fresh1")
    assert _outputs(project.out) == _outputs(tmp_path / "fresh1")
    before = (project.out / "links/app.py.json").read_text()
    project.write("pkg/core.py", "def engine():\n    pass\n\ndef unused():\n    pass\n\ndef later():\n    pass\n")
    project.build()
    after = (project.out / "links/app.py.json").read_text()
    assert after != before and '"resolved_symbol":"later"' in after.replace(" ", "")
    project.build(out=tmp_path / "fresh2")
    assert _outputs(project.out) == _outputs(tmp_path / "fresh2")


def test_an_edited_readme_updates_the_index_of_the_folder_above(project: Project, tmp_path: Path) -> None:
    project.write("top/sub/mod.py", "def f():\n    pass\n")
    project.write("top/sub/README.md", "# Old summary\n")
    project.build()
    index = project.out / "docs/top/index.md"
    assert "Old summary" in index.read_text()
    project.write("top/sub/README.md", "# New summary, longer\n")
    summary = project.build()
    assert summary["parsed"] == 0
    assert "New summary, longer" in index.read_text() and "Old summary" not in index.read_text()
    (project.root / "top/sub/README.md").unlink()
    project.build()
    assert "New summary" not in index.read_text()
    project.build(out=tmp_path / "fresh")
    assert _outputs(project.out) == _outputs(tmp_path / "fresh")


def test_a_new_name_rewrites_only_its_small_page_and_the_index_pages_above(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A letter above PAGE_LIMIT definitions is split by the next characters: a new name rewrites its own small
    page and the index pages above it, nothing else, and the result equals a fresh build's."""
    monkeypatch.setattr(keyword_index, "PAGE_LIMIT", 100)
    _write_letters(project)
    project.build()
    docs = project.out / "docs"
    before = {p.name: os.stat(p).st_ino for p in docs.glob("keywords*.md")}
    assert {"keywords-c-2.md", "keywords-c-2-5.md", "keywords-c-1-0.md"} <= set(before)
    project.write("pkg/c.py", (project.root / "pkg/c.py").read_text() + "def c25x():\n    pass\n")
    project.build()
    now = {p.name: os.stat(p).st_ino for p in docs.glob("keywords*.md")}
    assert {name for name in now if before.get(name) != now[name]} == {
        "keywords.md",
        "keywords-c.md",
        "keywords-c-2.md",
        "keywords-c-2-5.md",
    }
    fresh = tmp_path / "fresh"
    project.build(out=fresh)
    assert _docs(project.out) == _docs(fresh)


def test_keyword_pages_are_right_after_a_build_killed_before_it_saved_the_digests(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build killed after the A-Z index but before the digest store was saved leaves pages of a state the
    store does not know; the next build, with another change, must still give a fresh build's pages."""
    monkeypatch.setattr(keyword_index, "PAGE_LIMIT", 100)
    _write_letters(project)
    project.build()
    state = project.out / ".kwbuild"
    shutil.copytree(state / "digests", tmp_path / "digests-a")
    c = project.root / "pkg/c.py"
    original = c.read_text()
    c.write_text("".join(f"def c{i}():\n    pass\n\n" for i in range(50)))  # `c` pages merge into one
    project.build()
    assert not (project.out / "docs" / "keywords-c-1.md").exists()
    shutil.rmtree(state / "digests")  # as if killed before the store was saved
    shutil.copytree(tmp_path / "digests-a", state / "digests")
    (state / "running").write_text("1\n")
    c.write_text(original + "def c25x():\n    pass\n")  # split again, one name more than at first
    project.build()
    fresh = tmp_path / "fresh"
    project.build(out=fresh)
    assert _docs(project.out) == _docs(fresh)


def test_a_name_index_left_behind_by_a_killed_save_is_made_again(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest store saves its shards, then the name index: a save killed between the two leaves an index of
    the names of before. The next build must see it is not that of the shards (both the A-Z layout and the links
    read it) and give a fresh build's outputs."""
    monkeypatch.setattr(keyword_index, "PAGE_LIMIT", 100)
    _write_letters(project)
    project.write("pkg/__init__.py", "")
    project.write("app.py", "import os\n")
    project.build()
    index = project.out / ".kwbuild" / "digests" / "names.marshal"
    old = index.read_bytes()
    c = project.root / "pkg/c.py"
    c.write_text(c.read_text() + "def c25x():\n    pass\n")
    project.write("app.py", "from pkg.c import later\n")  # a name nobody defines yet
    project.build()
    assert index.read_bytes() != old
    index.write_bytes(old)  # as if killed after the shards were saved
    c.write_text(c.read_text() + "def c25y():\n    pass\n\ndef later():\n    pass\n")
    project.build()
    assert '"resolved_symbol":"later"' in (project.out / "links/app.py.json").read_text().replace(" ", "")
    fresh = tmp_path / "fresh"
    project.build(out=fresh)
    assert _outputs(project.out) == _outputs(fresh)
