"""The pages about modules: the module index `modules.md`, and the import cross-reference `imports.md` (pure).

The cross-reference gives, for each module, what it imports from the tree and who imports it.

Above `SPLIT_AT` modules the entries move to one page per top-level folder of the tree, `imports-<folder>.md`
(a tree's top-level packages when its root is a repository); `imports.md` then links those pages and keeps the
entries of the files at the root. Entries link to each other by anchor (`mod-<module>`), across pages.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

from kwbuild.render.blocks import finish, finish_chunks, heading, nav_line
from kwbuild.render.context import ModuleRef, ModuleRow, XrefRow
from kwbuild.render.markdown import (
    IMPORTS_PAGE,
    KEYWORDS_PAGE,
    MODULES_PAGE,
    anchor_id,
    anchor_tag,
    code_span,
    docs_page,
    escape_text,
    folder_page,
    kw_page,
    link,
    quote_fragment,
    quote_path,
)
from kwbuild.render.symbols import name_key, plural

SPLIT_AT = 500
"""Above this many modules, the cross-reference is split per top-level folder."""
Places = dict[str, tuple[str, str]]
"""path -> (page, anchor) of its entry."""
_Link = tuple[tuple[tuple[str, str], str], str | None, str, str]
"""A module reference's sort key, the page of its entry (None: no entry), its link from that page and from others."""


def render_module_index(modules: Iterable[ModuleRow]) -> str:
    """The module index, sorted by module name (then path)."""
    rows = sorted(modules, key=lambda row: (name_key(row[0]), row[1]))
    nav = nav_line([("Source tree", folder_page("")), ("A-Z index", KEYWORDS_PAGE), ("Imports", IMPORTS_PAGE)])
    lines = ["# Modules", "", nav, "", f"{plural(len(rows), 'module')}.", ""]
    return finish([*lines, *(_module_row(row) for row in rows)])


def patch_module_index(text: str, changed: Iterable[tuple[ModuleRow, ModuleRow]]) -> str | None:
    """The module index `text` with these rows replaced (old row, new row of the same module and path: its
    place in the order is the same), or None when a row to replace is not exactly once in `text`."""
    for old, new in changed:
        if old[:2] != new[:2]:
            return None
        before, after = _module_row(old) + "\n", _module_row(new) + "\n"
        if before == after:
            continue
        if text.count(before) != 1:
            return None
        text = text.replace(before, after)
    return text


def _module_row(row: ModuleRow) -> str:
    module, path, summary, symbols = row
    pages = f"{link('keywords', quote_path(kw_page(path)))}"
    about = f" - {escape_text(summary)}" if summary else ""
    target = link(code_span(module), quote_path(docs_page(path)))
    return f"- {target}{about} · {plural(symbols, 'symbol')} · {code_span(path)} · {pages}"


def render_import_xref(rows: Iterable[XrefRow]) -> dict[str, str]:
    """File name (at the docs root) -> text of the cross-reference page(s)."""
    return {page: "".join(text) for page, text in import_xref_pages(rows)}


def import_xref_pages(rows: Iterable[XrefRow]) -> Iterator[tuple[str, Iterator[str]]]:
    """The pages of `render_import_xref` one at a time, in file name order (`imports.md` last), each as its text
    in pieces, made as they are asked (see `finish_chunks`): a caller that writes each piece before asking the
    next never holds a page whole (torch: 64 pages, ~16 MB, one of them ~14 MB: the headers under `include/`)."""
    ordered = sorted(rows, key=lambda row: (name_key(row[0] or row[1]), row[1]))
    split = len(ordered) > SPLIT_AT
    seen: dict[str, int] = {}
    places = {row[1]: (_page_of(row[1], split), anchor_id(row[0] or row[1], seen, "mod-")) for row in ordered}
    pages: dict[str, list[XrefRow]] = {IMPORTS_PAGE: []}
    for row in ordered:
        pages.setdefault(places[row[1]][0], []).append(row)
    refs = _Refs(places)
    for page in sorted(pages):
        yield page, (_main_page(pages, refs, len(ordered)) if page == IMPORTS_PAGE else _page(page, pages[page], refs))


def _page_of(path: str, split: bool) -> str:
    folder, slash, _ = path.partition("/")
    return f"imports-{folder}.md" if split and slash else IMPORTS_PAGE


def _nav() -> str:
    return nav_line([("Source tree", folder_page("")), ("A-Z index", KEYWORDS_PAGE), ("Modules", MODULES_PAGE)])


def _main_page(pages: dict[str, list[XrefRow]], refs: _Refs, total: int) -> Iterator[str]:
    lines = ["# Imports (cross-reference)", "", _nav(), "", f"{plural(total, 'module')}.", ""]
    others = sorted(page for page in pages if page != IMPORTS_PAGE)
    if others:
        lines += [*heading(2, "By top-level folder")]
        lines += [
            f"- {link(code_span(_folder(p) + '/'), quote_path(p))}: {plural(len(pages[p]), 'module')}" for p in others
        ]
        lines += [""] + (heading(2, "Files at the root") if pages[IMPORTS_PAGE] else [])
    return finish_chunks(itertools.chain(lines, _entries(IMPORTS_PAGE, pages[IMPORTS_PAGE], refs)))


def _folder(page: str) -> str:
    return page[len("imports-") : -len(".md")]


def _page(page: str, rows: Sequence[XrefRow], refs: _Refs) -> Iterator[str]:
    title = f"# Imports: {code_span(_folder(page) + '/')}"
    nav = nav_line([("All imports", IMPORTS_PAGE)]) + " · " + _nav()
    head = [title, "", nav, "", f"{plural(len(rows), 'module')}.", ""]
    return finish_chunks(itertools.chain(head, _entries(page, rows, refs)))


def _entries(page: str, rows: Sequence[XrefRow], refs: _Refs) -> Iterator[str]:
    for module, path, imports, imported_by in rows:
        yield from (anchor_tag(refs.places[path][1]), *heading(3, code_span(module or path)))
        yield from (f"{link('docs', quote_path(docs_page(path)))} · {code_span(path)}", "")
        yield f"- Imports from the tree ({len(imports):,}): {refs.text(page, imports)}"
        yield from (f"- Imported by ({len(imported_by):,}): {refs.text(page, imported_by)}", "")


class _Refs:
    """The links to modules' entries, each made once (`_Link`; torch: 135,000 references to 11,771 modules)."""

    def __init__(self, places: Places) -> None:
        self.places = places
        self._made: dict[ModuleRef, _Link] = {}

    def text(self, page: str, refs: Sequence[ModuleRef]) -> str:
        """The references, in name order, as links from `page`."""
        made = [self._made.get(ref) or self._make(ref) for ref in refs]
        made.sort(key=lambda ref: ref[0])
        return ", ".join(here if on == page else there for _key, on, here, there in made) or "none"

    def _make(self, ref: ModuleRef) -> _Link:
        module, path = ref
        text, place = code_span(module or path), self.places.get(path)
        if place is None:
            here = there = link(text, quote_path(docs_page(path)))
        else:
            fragment = quote_fragment(place[1])
            here, there = link(text, f"#{fragment}"), link(text, f"{quote_path(place[0])}#{fragment}")
        made = self._made[ref] = ((name_key(module or path), path), None if place is None else place[0], here, there)
        return made
