"""The renderers: pages from hand-made tables and links; every link resolves, user text stays literal text."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import hypothesis
import pytest
from hypothesis import strategies as st

from kwbuild.names import NameIndex
from kwbuild.render import keyword_index, markdown, module_pages
from kwbuild.render.blocks import finish, finish_chunks
from kwbuild.render.context import FolderInfo, KeywordEntry, PageContext
from kwbuild.render.docs_page import render_docs_page
from kwbuild.render.folder_index import MAX_EDGES, MAX_NODES, render_folder_index, render_import_graph
from kwbuild.render.keyword_index import render_keyword_index
from kwbuild.render.keyword_page import render_keyword_page
from kwbuild.render.markdown import (
    anchor_base,
    anchor_id,
    anchor_ids,
    code_span,
    docs_page,
    escape_text,
    fenced_block,
    folder_page,
    kw_page,
    quote_fragment,
    rel_link,
    repeated_anchor_ids,
    source_link,
)
from kwbuild.render.module_pages import patch_module_index, render_import_xref, render_module_index
from kwbuild.render.symbols import symbol_anchors

# ---------------------------------------------------------------- link checking

_CODE_SPAN = re.compile(r"(?<![`\\])(`+)(?!`).*?(?<!`)\1(?!`)")
_LINK = re.compile(r"\]\(([^()\s]*)\)")
_ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
_LINE_ANCHOR = re.compile(r"L\d+(?:-L\d+)?")


def strip_code_spans(text: str) -> str:
    """The page without its code spans (whose content is literal) and without fenced blocks."""
    text = re.sub(r"^(`{3,})[^\n]*\n.*?^\1\n", "", text, flags=re.S | re.M)
    return _CODE_SPAN.sub("", text)


def _resolve(page: str, path: str) -> tuple[str, bool] | None:
    """Where a relative link of `page` points: (docs-relative page, False) or (repository path, True).

    The docs root is a folder at the repository's root, so one `..` above it lands in the repository.
    """
    parts = page.split("/")[:-1]
    above = False
    for segment in path.split("/"):
        if segment == ".." and parts:
            parts.pop()
        elif segment == "..":
            if above:
                return None
            above = True
        elif segment not in ("", "."):
            parts.append(unquote(segment))
    return "/".join(parts), above


def check_links(pages: dict[str, str], existing_files: set[str]) -> int:
    """Every relative link of every page lands on a page (and its anchor) or on a source file; returns the count.

    `pages`: docs-relative page name -> text; `existing_files`: the repository's source files (tree paths).
    """
    anchors = {page: set(_ANCHOR.findall(text)) for page, text in pages.items()}
    problems: list[str] = []
    count = 0
    for page, text in pages.items():
        for target in _LINK.findall(strip_code_spans(text)):
            count += 1
            if target.startswith(("http://", "https://")):
                continue
            path, _, fragment = target.partition("#")
            resolved = _resolve(page, path) if path else (page, False)
            problem = _problem(resolved, unquote(fragment), pages, anchors, existing_files)
            if problem:
                problems.append(f"{page}: {target} -> {problem}")
    assert not problems, "\n".join(problems[:20])
    return count


def _problem(
    resolved: tuple[str, bool] | None,
    fragment: str,
    pages: dict[str, str],
    anchors: dict[str, set[str]],
    existing_files: set[str],
) -> str | None:
    if resolved is None:
        return "leaves the repository"
    path, in_repository = resolved
    if in_repository:
        if path not in existing_files:
            return f"source {path!r} does not exist"
        return "bad line anchor" if fragment and not _LINE_ANCHOR.fullmatch(fragment) else None
    if path not in pages:
        return f"page {path!r} does not exist"
    return f"no anchor {fragment!r} in {path}" if fragment and fragment not in anchors[path] else None


# ---------------------------------------------------------------- hand-made tables


def sym(qualname: str, kind: str, line: int, end: int | None = None, **fields: Any) -> dict[str, Any]:
    parent, _, name = qualname.rpartition(".")
    symbol = {
        "name": name,
        "qualname": qualname,
        "kind": kind,
        "line": line,
        "end_line": end or line,
        "col": 0,
        "signature": "",
        "decorators": [],
        "bases": [],
        "docstring": None,
        "parent": parent or None,
        "is_async": False,
    }
    symbol.update(fields)
    return symbol


def imp(module: str | None, name: str | None = None, line: int = 1, **fields: Any) -> dict[str, Any]:
    result = {"module": module, "name": name, "asname": None, "level": 0, "line": line, "type_checking": False}
    result.update(fields)
    return result


def table(
    path: str,
    module: str | None,
    symbols: list[dict[str, Any]] | None = None,
    imports: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    result = {
        "schema_version": 1,
        "extractor": {"name": "python", "version": 1},
        "path": path,
        "module": module,
        "language": "python",
        "hash": "0123456789abcdef0123456789abcdef",
        "size": 120,
        "lines": 40,
        "docstring": None,
        "all": None,
        "partial": False,
        "symbols": symbols or [],
        "imports": imports or [],
        "errors": [],
    }
    result.update(fields)
    return result


def res(
    resolution: str, path: str | None = None, symbol: str | None = None, module: str | None = None
) -> dict[str, Any]:
    return {"resolution": resolution, "resolved_path": path, "resolved_symbol": symbol, "resolved_module": module}


def links(imports: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"imports": imports or [], "imported_by": [], "related": [], "tested_by": []}
    result.update(fields)
    return result


WEIRD = "weird dir/a b#c(d)\u00e9%.py"

TABLES = {
    "pkg/__init__.py": table(
        "pkg/__init__.py",
        "pkg",
        [sym("VERSION", "constant", 3)],
        [imp("core", "Engine", 1, level=1), imp("os", None, 2)],
        docstring="The package.",
        all=["Engine", "VERSION", "ghost"],
    ),
    "pkg/core.py": table(
        "pkg/core.py",
        "pkg.core",
        [
            sym("LIMIT", "constant", 5, signature=": int"),
            sym("Engine", "class", 8, 30, bases=["Base", "Thing"], decorators=["dataclass"], docstring="Runs things."),
            sym("Engine.speed", "attribute", 9, signature=": float"),
            sym("Engine.run", "method", 11, 14, signature="(self) -> None", is_async=True),
            sym("Engine.size", "property", 16, 17, decorators=["property"]),
            sym("Engine.size", "method", 19, 20, decorators=["size.setter"]),
            sym("Engine.Config", "class", 22, 28),
            sym("Engine.Config.load", "classmethod", 23, 27),
            sym("Engine.Config.load.inner", "function", 24, 26),
            sym("Engine.Config.load.inner.deepest", "function", 25, 25),
            sym("Engine.later", "attribute", 29),
            sym("Base", "class", 32, 33),
            sym("helper", "function", 35, 35, decorators=["overload"], signature="(x: int) -> int"),
            sym("helper", "function", 37, 40, signature="(x)"),
            sym("helper.nested", "function", 38, 39),
            sym("_private", "variable", 41),
            sym("alpha", "function", 42, 43),
            sym("Alpha", "class", 44, 45),
        ],
        [
            imp("pkg.util", "tool", 1),
            imp("numpy", None, 2, asname="np"),
            imp("pkg.sub.deep", "Thing", 3, type_checking=True),
            imp("missing", "x", 4, level=1),
            imp("os.path", None, 5),
            imp("pkg", None, 6),
        ],
        docstring="Core engine: `run` it *now*.",
    ),
    "pkg/util.py": table(
        "pkg/util.py", "pkg.util", [sym("tool", "function", 1, 2, signature="(a: int | None) -> str")]
    ),
    "pkg/broken.py": table(
        "pkg/broken.py",
        "pkg.broken",
        [sym("Old", "class", 1, 3)],
        partial=True,
        errors=[{"kind": "syntax", "message": "invalid <b>syntax</b> [x](http://e)", "line": 2, "col": 4}],
    ),
    "pkg/sub/deep.py": table("pkg/sub/deep.py", "pkg.sub.deep", [sym("Thing", "class", 1, 9)]),
    "setup.py": table("setup.py", None, [sym("main", "function", 1, 2)], [imp("pkg.core", "Engine", 1)]),
    WEIRD: table(WEIRD, None, [sym("caf\u00e9", "function", 1, 2), sym("x y", "variable", 3)]),
    "tests/test_core.py": table(
        "tests/test_core.py", "tests.test_core", [sym("test_run", "function", 3, 5)], [imp("pkg.core", "Engine", 1)]
    ),
    "empty.py": table("empty.py", "empty", size=0, lines=0),
}

LINKS = {
    "pkg/__init__.py": links(
        [res("symbol", "pkg/core.py", "Engine", "pkg.core"), res("external", module="os")],
        imported_by=[{"path": "pkg/core.py", "module": "pkg.core", "names": ["pkg"], "lines": [6]}],
    ),
    "pkg/core.py": links(
        [
            res("symbol", "pkg/util.py", "tool", "pkg.util"),
            res("external", module="numpy"),
            res("symbol", "pkg/sub/deep.py", "Thing", "pkg.sub.deep"),
            res("unresolved", module="pkg.missing"),
            res("external", module="os.path"),
            res("module", "pkg/__init__.py", module="pkg"),
        ],
        imported_by=[
            {"path": "setup.py", "module": None, "names": ["Engine"], "lines": [1]},
            {"path": "tests/test_core.py", "module": "tests.test_core", "names": ["Engine"], "lines": [1]},
            {"path": WEIRD, "module": None, "names": [], "lines": []},
        ],
        related=[
            {"path": "pkg/util.py", "module": "pkg.util", "why": "imported by this file"},
            {"path": WEIRD, "module": None, "why": "shares *imports*"},
        ],
        tested_by=[{"path": "tests/test_core.py", "module": "tests.test_core"}],
    ),
    "setup.py": links([res("symbol", "pkg/core.py", "Engine", "pkg.core")]),
    "tests/test_core.py": links([res("symbol", "pkg/core.py", "Engine", "pkg.core")]),
}


def folder_infos() -> list[FolderInfo]:
    files: dict[str, list[Any]] = {}
    for rel, t in TABLES.items():
        folder, _, name = rel.rpartition("/")
        counts: dict[str, int] = {}
        for s in t["symbols"]:
            counts[s["kind"]] = counts.get(s["kind"], 0) + 1
        files.setdefault(folder, []).append((rel, name, t["docstring"], counts, len(t["errors"]), t["partial"]))
    subfolders = {
        "": [("pkg", "The package.", 5, 30), ("weird dir", None, 1, 2), ("tests", None, 1, 1)],
        "pkg": [("sub", None, 1, 1)],
    }
    edges = {
        "pkg": [
            ("pkg/__init__.py", "pkg/core.py"),
            ("pkg/core.py", "pkg/util.py"),
            ("pkg/core.py", "pkg/sub/deep.py"),
            ("pkg/core.py", "pkg/__init__.py"),
        ]
    }
    folders = sorted({*files, "pkg/sub"} | set(subfolders))
    return [FolderInfo(f, subfolders.get(f, []), files.get(f, []), edges.get(f, [])) for f in folders]


def keyword_entries() -> list[tuple[str, str, str, str, int, str]]:
    entries = []
    for rel, t in TABLES.items():
        for s, anchor in zip(t["symbols"], symbol_anchors(t["symbols"]), strict=True):
            entries.append((s["name"], s["kind"], s["qualname"], rel, s["line"], anchor))
    return entries


def render_tree(ctx: PageContext | None = None) -> dict[str, str]:
    """Every page of the hand-made tree."""
    ctx = ctx or PageContext()
    pages: dict[str, str] = {}
    for rel, t in TABLES.items():
        link_set = LINKS.get(rel) or links([res("unresolved")] * len(t["imports"]))
        pages[kw_page(rel)] = render_keyword_page(t, link_set, ctx)
        pages[docs_page(rel)] = render_docs_page(t, link_set, ctx)
    for info in folder_infos():
        pages[folder_page(info.path)] = render_folder_index(info, ctx)
    pages.update(render_keyword_index(keyword_entries(), ctx))
    modules = [(t["module"], rel, t["docstring"], len(t["symbols"])) for rel, t in TABLES.items() if t["module"]]
    pages["modules.md"] = render_module_index(modules)
    pages.update(render_import_xref(xref_rows()))
    return pages


def xref_rows() -> list[Any]:
    rows = []
    for rel, t in TABLES.items():
        targets = LINKS.get(rel, links())["imports"]
        out = sorted(
            {(TABLES[x["resolved_path"]]["module"], x["resolved_path"]) for x in targets if x["resolved_path"]}, key=str
        )
        users = [(u["module"], u["path"]) for u in LINKS.get(rel, links())["imported_by"]]
        rows.append((t["module"], rel, out, users))
    return rows


# ---------------------------------------------------------------- whole tree


def test_every_link_of_the_tree_resolves() -> None:
    pages = render_tree()
    assert check_links(pages, set(TABLES)) > 100
    assert {
        "index.md",
        "pkg/index.md",
        "pkg/sub/index.md",
        "weird dir/index.md",
        "keywords.md",
        "modules.md",
        "imports.md",
        kw_page(WEIRD),
        docs_page(WEIRD),
    } <= set(pages)


def test_links_resolve_with_a_source_url() -> None:
    ctx = PageContext(source_url="https://example.invalid/repo/blob/main/")
    pages = render_tree(ctx)
    check_links(pages, set())
    assert "https://example.invalid/repo/blob/main/weird%20dir/a%20b%23c%28d%29%C3%A9%25.py#L1" in pages[kw_page(WEIRD)]


def test_check_links_catches_broken_links_and_anchors() -> None:
    with pytest.raises(AssertionError, match="does not exist"):
        check_links({"a/x.md": "[y](y.md)"}, set())
    with pytest.raises(AssertionError, match="no anchor"):
        check_links({"a/x.md": "[y](../b.md#sym-q)", "b.md": '<a id="sym-p"></a>'}, set())
    with pytest.raises(AssertionError, match="leaves the repository"):
        check_links({"x.md": "[y](../../etc/passwd)"}, set())
    with pytest.raises(AssertionError, match=r"page 's\.py' does not exist"):
        check_links({"a/x.md": "[y](../s.py)"}, {"s.py"})
    with pytest.raises(AssertionError, match=r"source 't\.py' does not exist"):
        check_links({"a/x.md": "[y](../../t.py)"}, {"s.py"})
    assert check_links({"a/x.md": "[y](../../s.py#L3) `[z](nowhere.md)`"}, {"s.py"}) == 1


def test_rendering_is_deterministic_and_well_formed() -> None:
    first, second = render_tree(), render_tree()
    assert first == second
    for page, text in first.items():
        assert text.endswith("\n") and not text.endswith("\n\n"), page
        assert "\r" not in text and "\t" not in text, page
        assert "/work/" not in text and "/tmp/" not in text and "/root" not in text, page


# ---------------------------------------------------------------- keyword page


def test_keyword_page_lists_everything_sorted_and_linked() -> None:
    page = render_tree()[kw_page("pkg/core.py")]
    for heading in (
        "## Classes (4)",
        "## Functions (6)",
        "## Methods (4)",
        "## Constants and variables (4)",
        "### Modules (3)",
        "### Imported names (3)",
    ):
        assert heading in page
    classes = page.split("## Classes")[1].split("##")[0]
    assert re.findall(r"\[`(\w+)`\]", classes) == ["Alpha", "Base", "Config", "Engine"]
    functions = page.split("## Functions")[1].split("##")[0]
    assert re.findall(r"\[`(\w+)`\]", functions) == ["alpha", "deepest", "helper", "helper", "inner", "nested"]
    assert "[`helper`](core.py_docs.md#sym-helper-2) function · [L37](../../pkg/core.py#L37)" in page
    assert "[`run`](core.py_docs.md#sym-Engine.run) async method · [L11](../../pkg/core.py#L11)" in page
    assert "### [`Engine`](core.py_docs.md#sym-Engine)" in page
    assert "[`pkg.util.tool`](util.py_docs.md#sym-tool)" in page
    assert "`np`" in page and "*external*" in page and "*unresolved*" in page and "*TYPE_CHECKING only*" in page


def test_keyword_page_omits_empty_sections_and_flags_errors() -> None:
    pages = render_tree()
    empty = pages[kw_page("empty.py")]
    assert "## " not in empty and "no symbols" in empty
    broken = pages[kw_page("pkg/broken.py")]
    assert "⚠ **partial**" in broken
    assert "`syntax` at line 2, column 4: invalid &lt;b&gt;syntax&lt;/b&gt; \\[x\\]\\(http:&#8203;//e\\)" in broken


# ---------------------------------------------------------------- docs page


def test_docs_page_sections_and_facts() -> None:
    page = render_tree()[docs_page("pkg/core.py")]
    for text in (
        "## Metadata",
        "- **Module:** `pkg.core`",
        "## Notes",
        "## Outline (18 symbols)",
        "## Imports (6)",
        "### From the tree (3)",
        "### External (2)",
        "### Unresolved (1)",
        "## Imported by (3)",
        "## Related files",
        "## Tested by",
    ):
        assert text in page, text
    assert "Core engine: \\`run\\` it \\*now\\*." in page
    assert (
        "Defines 4 classes, 6 functions, 2 methods, 1 property, 1 classmethod, 1 variable, 1 constant, "
        "2 attributes; 1 async." in page
    )
    assert "Uses: `numpy`, `os`." in page
    assert "TYPE_CHECKING-only imports: `pkg.sub.deep`." in page
    assert "6 imports: 3 from the tree, 2 external, 1 unresolved." in page
    assert "Imported by 3 files of the tree; 1 test file imports it." in page
    assert "bases [`Base`](#sym-Base), [`Thing`](sub/deep.py_docs.md#sym-Thing)" in page
    assert "decorators `@dataclass`" in page
    assert "- [`tests/test_core.py`](../tests/test_core.py_docs.md) (`tests.test_core`)" in page
    assert "shares \\*imports\\*" in page


def test_docs_page_outline_nesting_and_anchors() -> None:
    page = render_tree()[docs_page("pkg/core.py")]
    assert '<a id="sym-Engine"></a>\n### class `Engine`' in page
    assert '<a id="sym-Engine.size-2"></a>\n#### method `Engine.size`' in page
    assert '\n- <a id="sym-Engine.Config.load"></a>classmethod' in page
    assert '\n  - <a id="sym-Engine.Config.load.inner"></a>function' in page
    assert '\n    - <a id="sym-Engine.Config.load.inner.deepest"></a>function' in page
    assert '#### Attributes of `Engine`\n\n- <a id="sym-Engine.later"></a>' in page
    assert '### Module-level names\n\n- <a id="sym-LIMIT"></a>constant `LIMIT` · `LIMIT: int` · [L5]' in page
    assert max(len(m) for m in re.findall(r"^#+", page, flags=re.M)) <= 4
    assert len(re.findall(r'<a id="sym-', page)) == 18


def test_docs_page_notes_are_facts() -> None:
    pages = render_tree()
    init = pages[docs_page("pkg/__init__.py")]
    assert "Exports `__all__` (3 names); not defined or imported here: `ghost`." in init
    assert "No test file of the tree imports this module." in init
    assert "Recovered from a file that does not parse (partial)" in pages[docs_page("pkg/broken.py")]
    empty = pages[docs_page("empty.py")]
    assert "Empty file." in empty and "Defines no symbols." in empty and "Imports nothing." in empty
    for text in pages.values():
        assert "security" not in text.lower() and "JIT" not in text


def test_docs_page_pastes_the_source_only_when_asked() -> None:
    t = TABLES["pkg/util.py"]
    source = "def tool(a):\n    return '````'\r\n"
    assert "## Source" not in render_docs_page(t, links(), PageContext(source_text=source))
    page = render_docs_page(t, links(), PageContext(include_source=True, source_text=source))
    assert page.endswith("## Source\n\n`````python\ndef tool(a):\n    return '````'\n`````\n")


def test_fenced_block_fence_is_longer_than_any_backtick_run() -> None:
    assert fenced_block("a ``` b\n```\n", "py") == "````py\na ``` b\n```\n````"
    assert fenced_block("", "") == "```\n```"


# ---------------------------------------------------------------- folder index and mermaid


def test_folder_index_lists_subfolders_files_and_graph() -> None:
    pages = render_tree()
    pkg = pages["pkg/index.md"]
    assert "[Up: source tree](../index.md)" in pkg
    assert "- [`sub/`](sub/index.md) · 1 file, 1 symbol" in pkg
    assert (
        "| `broken.py` | [docs](broken.py_docs.md) · [keywords](broken.py_kw.md) · [source](../../pkg/broken.py) |"
    ) in pkg
    assert "| 1 class | ⚠ errors, partial |" in pkg
    assert "```mermaid\ngraph LR\n" in pkg and "n0 --> " in pkg
    assert "Up:" not in pages["index.md"]
    assert "No imports between the modules of this folder." in pages["pkg/sub/index.md"]


def test_mermaid_graph_is_capped_and_labels_are_safe() -> None:
    edges = [(f"d/m{i}.py", f"d/m{j}.py") for i in range(60) for j in (i + 1, i + 2) if j < 60]
    edges.append(('d/a"b<script>`#&.py', "d/m0.py"))
    lines = render_import_graph(edges, "d")
    node_lines = [x for x in lines if re.fullmatch(r"  n\d+\[.*\]", x)]
    edge_lines = [x for x in lines if re.fullmatch(r"  n\d+ --> n\d+", x)]
    assert len(node_lines) <= MAX_NODES and len(edge_lines) <= MAX_EDGES
    assert any("more edges not shown" in x for x in lines)
    for x in node_lines:
        assert re.fullmatch(r'  n\d+\["[^"<>`]*"\]', x), x
    small = render_import_graph([('d/a"b<c>.py', "d/x.py")], "d")
    assert '  n0["a#34;b#60;c#62;.py"]' in small and not any("not shown" in x for x in small)


# ---------------------------------------------------------------- global pages


def test_keyword_index_single_page() -> None:
    pages = render_keyword_index(keyword_entries())
    assert list(pages) == ["keywords.md"]
    text = pages["keywords.md"]
    assert (
        "- `helper` (2 definitions)\n  - function [`helper`](pkg/core.py_docs.md#sym-helper) in `pkg/core.py`"
    ) in text
    names = re.findall(r"^- `([^`]+)`", text, flags=re.M)
    assert names == sorted(names, key=lambda n: (n.casefold(), n))


def test_keyword_index_splits_by_letter_above_2000_entries() -> None:
    symbols = [
        sym(f"{prefix}{i}", "function", i + 1) for i, prefix in ((i, "abcxyz_\u00e9Q"[i % 9]) for i in range(2100))
    ]
    t = table("big.py", "big", symbols)
    entries = [
        (s["name"], "function", s["qualname"], "big.py", s["line"], a)
        for s, a in zip(symbols, symbol_anchors(symbols), strict=True)
    ]
    pages = render_keyword_index(entries)
    assert set(pages) == {
        "keywords.md",
        *(f"keywords-{b}.md" for b in ("a", "b", "c", "x", "y", "z", "q", "_", "other")),
    }
    assert "- [`_`](keywords-_.md): 233 names, 233 definitions" in pages["keywords.md"]
    pages[docs_page("big.py")] = render_docs_page(t, links(), PageContext())
    pages[kw_page("big.py")] = render_keyword_page(t, links(), PageContext())
    pages.update({"index.md": "", "modules.md": "", "imports.md": ""})
    check_links(pages, {"big.py"})


def test_module_index_and_import_xref() -> None:
    pages = render_tree()
    modules = pages["modules.md"]
    assert modules.index("`pkg`") < modules.index("`pkg.broken`") < modules.index("`pkg.core`")
    xref = pages["imports.md"]
    assert '<a id="mod-pkg.core"></a>\n### `pkg.core`' in xref
    assert "- Imports from the tree (3): [`pkg`](#mod-pkg), [`pkg.sub.deep`](#mod-pkg.sub.deep)" in xref


def test_import_xref_splits_per_top_level_folder_above_500_modules() -> None:
    rows = [
        (f"p{i % 3}.m{i}", f"p{i % 3}/m{i}.py", [(f"p{(i + 1) % 3}.m{i + 1}", f"p{(i + 1) % 3}/m{i + 1}.py")], [])
        for i in range(600)
    ]
    rows.append(("top", "top.py", [("p0.m0", "p0/m0.py")], []))
    pages = render_import_xref(rows)
    assert set(pages) == {"imports.md", "imports-p0.md", "imports-p1.md", "imports-p2.md"}
    assert "- [`p0/`](imports-p0.md): 200 modules" in pages["imports.md"]
    assert "[`p0.m0`](imports-p0.md#mod-p0.m0)" in pages["imports.md"]
    pages.update({docs_page(row[1]): "" for row in rows})
    pages.update({"index.md": "", "modules.md": "", "keywords.md": ""})
    pages[docs_page("p0/m600.py")] = ""
    check_links(pages, set())


# ---------------------------------------------------------------- markdown primitives


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain text", "plain text"),
        ("a_b *c* `d`", "a\\_b \\*c\\* \\`d\\`"),
        ("<img src=x>", "&lt;img src=x&gt;"),
        ("[x](http://evil)", "\\[x\\]\\(http:&#8203;//evil\\)"),
        ("![i](x.png)", "\\!\\[i\\]\\(x.png\\)"),
        ("# title", "\\# title"),
        ("1. item", "1\\. item"),
        ("- item", "\\- item"),
        ("a | b", "a \\| b"),
        ("www.x.org and WWW.y", "www&#8203;.x.org and WWW&#8203;.y"),
        ("mail a.b@c.org", "mail a.b@&#8203;c.org"),
        ("line\nbreak\r\tx\x00\x07y", "line break  xy"),
        ("  padded  ", "padded"),
        ("a\\b & c $x$ ~d~", "a\\\\b \\& c \\$x\\$ \\~d\\~"),
    ],
)
def test_escape_text(source: str, expected: str) -> None:
    assert escape_text(source) == expected


@pytest.mark.parametrize(
    ("source", "table", "expected"),
    [
        ("name", False, "`name`"),
        ("a`b", False, "``a`b``"),
        ("`a``", False, "``` `a`` ```"),
        (" a ", False, "`  a  `"),
        ("x | y", False, "`x | y`"),
        ("x | y", True, "`x \\| y`"),
        ("a\nb", False, "`a b`"),
        ("", False, ""),
    ],
)
def test_code_span(source: str, table: bool, expected: str) -> None:
    assert code_span(source, table) == expected


@pytest.mark.parametrize(
    ("from_page", "to_page", "anchor", "expected"),
    [
        ("a/b/x.md", "a/b/y.md", None, "y.md"),
        ("a/b/x.md", "a/c/y.md", "sym-q", "../c/y.md#sym-q"),
        ("x.md", "a/b/y.md", None, "a/b/y.md"),
        ("a/b/x.md", "y.md", None, "../../y.md"),
        ("a/x.md", "a/x.md", "sym-z", "#sym-z"),
        ("a/x.md", "a b/c#d(e)\u00e9?%.md", None, "../a%20b/c%23d%28e%29%C3%A9%3F%25.md"),
        ("a/x.md", "a/b:c.md", None, "b%3Ac.md"),
    ],
)
def test_rel_link(from_page: str, to_page: str, anchor: str | None, expected: str) -> None:
    assert rel_link(from_page, to_page, anchor) == expected


_PAGE = st.lists(st.sampled_from(["a", "b", "a b", "c#d", "\u00e9", "x.md", "%"]), min_size=1, max_size=4).map("/".join)


@hypothesis.given(_PAGE, _PAGE, st.sampled_from([None, "", "sym-f", "sym-a b"]))
def test_rel_link_is_the_relative_path_quoted(from_page: str, to_page: str, anchor: str | None) -> None:
    """Resolved against the linking page, the link gives the target page back (and its anchor)."""
    link = rel_link(from_page, to_page, anchor)
    path, _, fragment = link.partition("#")
    assert unquote(fragment) == (anchor or "")
    if not path:
        assert to_page == from_page and anchor
        return
    parts = from_page.split("/")[:-1]
    for segment in path.split("/"):
        if segment == "..":
            parts.pop()
        else:
            parts.append(unquote(segment))
    assert "/".join(parts) == to_page
    assert all(segment == quote(unquote(segment), safe="") for segment in path.split("/") if segment != "..")


def test_source_link_assumes_docs_root_at_repository_root() -> None:
    ir = "torch/_inductor/ir.py"
    assert source_link(docs_page(ir), ir, PageContext()) == "../../../torch/_inductor/ir.py"
    assert source_link("torch/_inductor/index.md", "torch/x y.py", PageContext(), 3) == "../../../torch/x%20y.py#L3"
    assert source_link("keywords.md", "setup.py", PageContext(), 1) == "../setup.py#L1"
    url = PageContext(source_url="https://h.invalid/b/")
    assert source_link("a/b.md", "a/\u00e9.py", url, 7) == "https://h.invalid/b/a/%C3%A9.py#L7"
    odd = PageContext(source_url="https://h.invalid/x (y)/")
    assert source_link("a.md", "a.py", odd) == "https://h.invalid/x%20%28y%29/a.py"


def test_anchor_ids_are_ascii_and_unique() -> None:
    seen: dict[str, int] = {}
    ids = [anchor_id(q, seen) for q in ("f", "f", "f-2", "caf\u00e9", "a b", "C.m", "f", "f-2")]
    assert ids == [
        "sym-f",
        "sym-f-2",
        "sym-f-u002D2",
        "sym-caf-u00E9",
        "sym-a-u0020b",
        "sym-C.m",
        "sym-f-3",
        "sym-f-u002D2-2",
    ]
    assert len(set(ids)) == len(ids)
    symbols = [sym(q, "function", 1) for q in ("f", "f", "f-2", "caf\u00e9", "a b", "C.m", "f", "f-2")]
    assert symbol_anchors(symbols) == ids
    assert anchor_ids(q for q in ("f", "f", "f-2", "caf\u00e9", "a b", "C.m", "f", "f-2")) == ids


def _escape_text_by_translate(text: str) -> str:
    """`escape_text` as it was, with one `translate` of every character (its fast path must give the same)."""
    escaped = text.translate(markdown._ESCAPE).strip().replace("://", markdown._BROKEN_SCHEME)
    if escaped[:1].isdigit():
        escaped = markdown._ORDERED_LIST.sub(r"\1\\.", escaped, count=1)
    if "@" in escaped or "ww." in escaped.lower():
        escaped = markdown._AUTOLINK.sub(markdown.ZERO_WIDTH_SPACE, escaped)
    return escaped


@hypothesis.given(
    st.text(alphabet=st.sampled_from("a1 .@w:/\\`*_{}[]()#+-!|~$&<>\t\n\x85\u2028\xad\u00e9"), max_size=24)
)
def test_escape_text_replaces_as_the_escape_table_translates(text: str) -> None:
    assert escape_text(text) == _escape_text_by_translate(text)


def _spec_anchor_ids(qualnames: list[str]) -> list[str]:
    """The anchor ids as specified, character by character: [A-Za-z0-9_.] kept, anything else `-uXXXX`, then
    `-2`, `-3`... after an id already given."""
    ids: list[str] = []
    for qualname in qualnames:
        ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
        base = "sym-" + "".join(c if c in ok else f"-u{ord(c):04X}" for c in qualname)
        candidate, count = base, 1
        while candidate in ids:
            count += 1
            candidate = f"{base}-{count}"
        ids.append(candidate)
    return ids


def test_anchor_ids_of_cpp_names() -> None:
    names = ["c10", "c10::TensorImpl", "c10::TensorImpl::size", "c10::TensorImpl::size", "at::operator==", "::f"]
    assert anchor_ids(names) == [
        "sym-c10",
        "sym-c10-u003A-u003ATensorImpl",
        "sym-c10-u003A-u003ATensorImpl-u003A-u003Asize",
        "sym-c10-u003A-u003ATensorImpl-u003A-u003Asize-2",
        "sym-at-u003A-u003Aoperator-u003D-u003D",
        "sym--u003A-u003Af",
    ]
    assert [anchor_id(name, {}) for name in names] == [anchor_base(name) for name in names]


@hypothesis.given(st.lists(st.text(alphabet="ab:._-<> \u00e9\U0001f600", max_size=6), max_size=12))
def test_anchor_ids_follow_their_specification(qualnames: list[str]) -> None:
    """The fast paths (plain names, names whose only other character is `:`) give the specified ids."""
    expected = _spec_anchor_ids(qualnames)
    assert anchor_ids(qualnames) == expected
    seen: dict[str, int] = {}
    assert [anchor_id(q, seen) for q in qualnames] == expected
    kept = repeated_anchor_ids(qualnames)  # what a digest keeps: the ids that are not their name's base
    assert [anchor or anchor_base(q) for q, anchor in zip(qualnames, kept, strict=True)] == expected
    bases = [a == anchor_base(q) for q, a in zip(qualnames, expected, strict=True)]
    assert [anchor is None for anchor in kept] == bases


# ---------------------------------------------------------------- injection

EVIL = "_ * ` | < > [ ] ( ) ! # http://x www.x <img src=x> <script>alert(1)</script> [x](http://evil) ![i](x.png) a|b|c"


def evil_tree() -> dict[str, str]:
    """Pages whose every piece of user text is EVIL."""
    symbols = [
        sym(EVIL, "class", 1, 5, docstring=EVIL, bases=[EVIL], decorators=[EVIL], signature=EVIL),
        sym(f"{EVIL}.{EVIL}", "method", 2, 3, docstring=EVIL, signature=EVIL),
        sym(f"{EVIL}.{EVIL}.{EVIL}", "function", 3, docstring=EVIL),
        sym(EVIL, "variable", 6, docstring=EVIL),
    ]
    imports = [imp(EVIL, EVIL, 1, asname=EVIL), imp(EVIL, None, 2, type_checking=True)]
    t = table(
        "bad.py",
        EVIL,
        symbols,
        imports,
        docstring=EVIL,
        all=[EVIL],
        partial=True,
        errors=[{"kind": EVIL, "message": EVIL, "line": 1, "col": None}],
        language=EVIL,
    )
    link_set = links(
        [res("external", module=EVIL), res("unresolved")],
        imported_by=[{"path": "bad.py", "module": EVIL, "names": [EVIL], "lines": [1]}],
        related=[{"path": "bad.py", "module": EVIL, "why": EVIL}],
        tested_by=[{"path": "bad.py", "module": EVIL}],
    )
    ctx = PageContext()
    pages = {
        kw_page("bad.py"): render_keyword_page(t, link_set, ctx),
        docs_page("bad.py"): render_docs_page(t, link_set, ctx),
    }
    files = [("bad.py", EVIL, EVIL, {EVIL: 1, "class": 2}, 1, True)]
    folder = FolderInfo("", [(EVIL.replace("/", ""), EVIL, 1, 1)], files, [("bad.py", EVIL)])
    pages["index.md"] = render_folder_index(folder, ctx)
    anchor = symbol_anchors(symbols)[0]
    pages.update(render_keyword_index([(EVIL, EVIL, EVIL, "bad.py", 1, anchor)]))
    pages["modules.md"] = render_module_index([(EVIL, "bad.py", EVIL, 4)])
    pages.update(render_import_xref([(EVIL, "bad.py", [(EVIL, "bad.py")], [(EVIL, "bad.py")])]))
    return pages


def test_user_text_cannot_inject_markup() -> None:
    pages = evil_tree()
    for page, text in pages.items():
        prose = strip_code_spans(text)
        for target in _LINK.findall(prose):
            assert target not in ("http://evil", "x.png") and ":" not in target, (page, target)
        prose = re.sub(r'<a id="[^"]*"></a>', "", _LINK.sub("]", prose))
        for bad in ("<", "http://x", "www.x", "![", "http://evil", "]("):
            assert bad not in prose, (page, bad)


def test_user_text_cannot_add_table_cells() -> None:
    text = evil_tree()["index.md"]
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 3
    for row in rows:
        assert len(re.findall(r"(?<!\\)(?:\\\\)*\|", row)) == 6, row


def test_evil_pages_still_have_valid_links() -> None:
    pages = evil_tree()
    pages[folder_page(EVIL.replace("/", ""))] = ""
    check_links(pages, {"bad.py"})


# ---------------------------------------------------------------- GitHub's own renderer (when installed)


def _gfm(text: str) -> str:
    cmarkgfm = pytest.importorskip("cmarkgfm")
    from cmarkgfm.cmark import Options

    result: str = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    return result


def test_gfm_renders_user_text_literally() -> None:
    for page, text in evil_tree().items():
        rendered = _gfm(text)
        assert "<img" not in rendered and "<script" not in rendered, page
        assert "http://evil" not in re.findall(r'href="([^"]*)"', rendered), page
        for row in re.findall(r"<tr>(.*?)</tr>", rendered, flags=re.S):
            assert row.count("<td") in (0, 5) and row.count("<th") in (0, 5), page
        hrefs = [h.partition("#")[0] for h in re.findall(r'href="([^"]*)"', rendered)]
        assert all(h not in ("http://evil", "x.png") and ":" not in h for h in hrefs), (page, hrefs)


@pytest.mark.parametrize(
    "text",
    [
        EVIL,
        "1. x",
        "+ y",
        "> z",
        "    code",
        "===",
        "---",
        "a  \nb",
        "&amp; &#60;",
        "\\*",
        "x@y.org",
        "<http://a>",
        "~~s~~",
        "$a$",
        "a\u2028b",
        "caf\u00e9 \U0001f600",
    ],
)
def test_gfm_escape_text_round_trips(text: str) -> None:
    rendered = _gfm(escape_text(text)).strip()
    assert rendered.startswith("<p>") and rendered.endswith("</p>"), rendered
    shown = html.unescape(rendered[3:-4]).replace("\u200b", "")
    expected = re.sub(r"[\n\r\t\u2028]", " ", text).strip()
    assert shown == expected


@pytest.mark.parametrize("text", [EVIL, "a`b", "``", " x ", "a | b", "<b>", "\\|"])
def test_gfm_code_span_round_trips(text: str) -> None:
    rendered = _gfm("x " + code_span(text)).strip()
    assert html.unescape(re.search(r"<code>(.*)</code>", rendered).group(1)) == text
    cell = _gfm(f"| a |\n| --- |\n| {code_span(text, table=True)} |\n")
    assert html.unescape(re.search(r"<code>(.*)</code>", cell).group(1)) == text


def test_a_large_letter_is_split_by_the_next_characters() -> None:
    """Above PAGE_LIMIT definitions a letter's page lists pages by the next character (recursively), keeps the
    names that go no further, and every definition is on exactly one page, every link resolving."""
    names = [f"s{c}{i}" for c in "aeu" for i in range(900)] + [f"set{i}" for i in range(2500)] + ["s", "S", "s-x"]
    names += [f"b{i}" for i in range(10)]
    entries = [(name, "function", name, "big.py", n + 1, f"sym-{name}") for n, name in enumerate(names)]
    pages = render_keyword_index(entries)
    assert {"keywords-s.md", "keywords-s-a.md", "keywords-s-e.md", "keywords-s-e-t.md", "keywords-b.md"} <= set(pages)
    assert "keywords-s-e-t-1.md" in pages  # `set` has 2,500: split again (set1..., set2..., ...)
    s = pages["keywords-s.md"]
    assert s is not None
    assert "- [`sa…`](keywords-s-a.md): 900 names, 900 definitions" in s
    assert "- [`se…`](keywords-s-e.md): 3,400 names, 3,400 definitions" in s
    assert "Names S that go no further:" in s and "- `s-x` - " in s and "- `S` - " in s
    placed = [
        line.split("`")[1] for text in pages.values() if text for line in text.splitlines() if line.startswith("- `")
    ]
    assert sorted(placed) == sorted(names)
    se_t = pages["keywords-s-e-t.md"]
    assert se_t is not None and se_t.startswith("# Keyword index: `set…`\n")
    assert "[A-Z index](keywords.md) · [S](keywords-s.md) · [`se…`](keywords-s-e.md)" in se_t
    for name, text in pages.items():
        for target in re.findall(r"\]\((keywords[^)#]*\.md)\)", text or ""):
            assert target in pages, (name, target)


def test_a_changed_name_renders_only_its_pages_unless_the_pages_change() -> None:
    names = [f"se{i}" for i in range(2100)] + [f"a{i}" for i in range(5)]
    entries = [(name, "function", name, "big.py", n + 1, f"sym-{name}") for n, name in enumerate(names)]
    full = render_keyword_index(entries)
    grown = [*entries, ("se1_new", "function", "se1_new", "new.py", 1, "sym-se1_new")]
    partial = render_keyword_index(grown, changes=(["se1_new"], []))
    rendered = {name for name, text in partial.items() if text is not None}
    assert rendered == {"keywords.md", "keywords-s.md", "keywords-s-e.md", "keywords-s-e-1.md"}
    assert set(partial) == set(full)
    fresh = render_keyword_index(grown)
    assert all(partial[name] == fresh[name] for name in rendered)
    newer = [*entries, ("se_x", "function", "se_x", "new.py", 1, "sym-se_x")]  # a new page: every page again
    assert render_keyword_index(newer, changes=(["se_x"], [])) == render_keyword_index(newer)
    shrunk = entries[:1900] + entries[2100:]  # `se` drops under the limit: its pages merge back
    assert render_keyword_index(shrunk, changes=([], names[1900:2100])) == render_keyword_index(shrunk)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    st.lists(st.text(alphabet="aAs_e1~\u00e9", min_size=1, max_size=4), max_size=40),
    st.lists(st.text(alphabet="aAs_e1~\u00e9", min_size=1, max_size=4), max_size=6),
    st.sets(st.integers(min_value=0, max_value=39), max_size=6),
)
def test_a_partly_rendered_keyword_index_leaves_the_pages_of_a_full_render(
    before: list[str], added: list[str], gone: set[int]
) -> None:
    """Pages on disk from the names before, then the pages a partial render writes (and the removal of the pages
    it does not name): exactly the pages of a full render of the names after."""
    saved = keyword_index.SPLIT_AT, keyword_index.PAGE_LIMIT
    keyword_index.SPLIT_AT, keyword_index.PAGE_LIMIT = 5, 3
    try:
        old = [(name, "function", name, "a.py", n + 1, f"sym-{n}") for n, name in enumerate(before)]
        new = [entry for n, entry in enumerate(old) if n not in gone]
        new += [(name, "function", name, "b.py", n + 1, f"sym-{n}") for n, name in enumerate(added)]
        disk = {page: text for page, text in render_keyword_index(old).items() if text is not None}
        changes = ([name for name in added], [old[n][0] for n in sorted(gone) if n < len(old)])
        partial = render_keyword_index(new, changes=changes)
        index = NameIndex.build((tuple(e[0] for e in new if e[3] == path), ()) for path in ("a.py", "b.py"))
        plan = keyword_index.plan_keyword_index(index.names, index.counts, changes)  # as a build does it:
        shown = [entry for entry in new if plan.shown is None or entry[0] in plan.shown]  # only the pages' names
        assert render_keyword_index(shown, plan=plan) == partial
        pages = list(keyword_index.keyword_index_pages(keyword_index.entries_in(shown), plan))  # one at a time
        assert pages == sorted(partial.items()) and [page for page, _ in pages] == plan.files()
        asked: list[set[str] | None] = []

        def entries_of(names: set[str] | None) -> list[KeywordEntry]:
            asked.append(names)
            return [entry for entry in shown if names is None or entry[0] in names]

        for part_names in (1, 2, 10**6):  # in parts: the same pages, each name asked for once
            asked.clear()
            assert list(keyword_index.keyword_index_pages(entries_of, plan, part_names=part_names)) == pages
            if plan.names is not None:
                names = [name for part in asked for name in part or ()]
                assert len(names) == len(set(names)) and set(names) == {n for ns in plan.members.values() for n in ns}
                one_each = sorted(sorted(page_names) for page_names in plan.members.values() if page_names)
                if part_names == 1:  # a part per page (a page without names of its own joins the next)
                    assert sorted(sorted(part) for part in asked if part) == one_each
                if part_names == 10**6:
                    assert len(asked) == (1 if plan.members else 0)
        assert plan.partial == any(text is None for text in partial.values())
        disk = {page: text for page, text in disk.items() if page in partial}
        disk.update({page: text for page, text in partial.items() if text is not None})
        assert disk == render_keyword_index(new)
    finally:
        keyword_index.SPLIT_AT, keyword_index.PAGE_LIMIT = saved


def test_a_definition_without_its_anchor_links_to_the_anchor_base_of_its_qualname() -> None:
    """The digests keep only the anchors of repeated qualnames (None for the others): the index renders and
    orders their definitions as with every anchor given, ties on one line included."""
    qualnames = ["A::f", "f", "A::f", "f", "g", "A::f"]
    for anchors in (repeated_anchor_ids(qualnames), anchor_ids(qualnames)):
        assert anchors.count(None) == (3 if None in anchors else 0)
    entries = [
        [(q.rpartition(":")[2], "function", q, "x.h", 1, a) for q, a in zip(qualnames, anchors, strict=True)]
        for anchors in (repeated_anchor_ids(qualnames), anchor_ids(qualnames))
    ]
    expected = render_keyword_index(entries[1])
    text = expected["keywords.md"] or ""
    assert "[`A::f`](x.h_docs.md#sym-A-u003A-u003Af)" in text
    assert (
        "#sym-A-u003A-u003Af-2) in `x.h` · [L1](../x.h#L1)\n  - function [`A::f`](x.h_docs.md#sym-A-u003A-u003Af-3)"
        in text
    )
    for ordered in (entries[0], entries[0][::-1], entries[1][::-1]):
        assert render_keyword_index(ordered) == expected


def test_import_xref_pages_come_one_at_a_time_in_file_name_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each page is made when asked, in pieces (torch's `imports-include.md` is ~14 MB): the pieces end to end
    are the page, and the next page's entries are not made before it is asked."""
    rows = [
        (f"p{i % 3}.m{i}", f"p{i % 3}/m{i}.py", [(f"p{(i + 1) % 3}.m{i + 1}", f"p{(i + 1) % 3}/m{i + 1}.py")], [])
        for i in range(1200)
    ]
    made: list[str] = []
    entries = module_pages._entries

    def spy(page: str, *args: Any) -> Iterator[str]:
        made.append(page)  # when the first entry is asked
        yield from entries(page, *args)

    monkeypatch.setattr(module_pages, "_entries", spy)
    pages = module_pages.import_xref_pages(rows)
    name, pieces = next(pages)
    assert name == "imports-p0.md" and made == []
    first = list(pieces)
    assert len(first) > 2 and made == ["imports-p0.md"]  # 400 entries of 6 lines: pieces of 1,000 lines
    rest = [(name, "".join(text)) for name, text in pages]
    expected = render_import_xref(rows)
    assert [("imports-p0.md", "".join(first)), *rest] == sorted(expected.items())
    assert rest[-1][0] == "imports.md" and made[:3] == ["imports-p0.md", "imports-p1.md", "imports-p2.md"]


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(st.sampled_from(["", "\n", "a", "b\n", "\n\nc", "é"]), max_size=12), st.integers(1, 4))
def test_a_page_in_pieces_is_the_finished_page(lines: list[str], batch: int) -> None:
    pieces = list(finish_chunks(lines, batch))
    assert "".join(pieces) == finish(lines)
    assert all(pieces) and len(pieces) <= len(lines) // batch + 2


def test_a_patched_module_index_equals_a_rendered_one() -> None:
    rows = [(f"pkg.m{i}", f"pkg/m{i}.py", f"Module {i}." if i % 2 else "", i) for i in range(30)]
    text = render_module_index(rows)
    new = [*rows]
    new[7] = ("pkg.m7", "pkg/m7.py", "Now documented.", 8)
    new[12] = ("pkg.m12", "pkg/m12.py", "", 0)
    assert patch_module_index(text, [(rows[7], new[7]), (rows[12], new[12])]) == render_module_index(new)
    assert patch_module_index(text, [(new[7], rows[7])]) is None  # not the row on the page
    assert patch_module_index(text, [(rows[7], ("pkg.other", "pkg/m7.py", "", 7))]) is None  # moves in the order


@hypothesis.given(st.text(alphabet=st.characters(codec="utf-8"), max_size=12))
def test_a_fragment_is_quoted_as_urllib_quotes_it_and_anchor_ids_pass_through(text: str) -> None:
    """The fast path (no `quote` call for what it keeps) changes no byte; anchor ids, '-' and all, are kept."""
    assert quote_fragment(text) == quote(text, safe="")
    anchor = anchor_id(text, {"sym-" + text: 1})  # a repeat: `-2` after the encoded name
    assert quote_fragment(anchor) == anchor
