"""The keyword page `<rel>_kw.md`: every name the file defines or imports, sorted, linked to its definition (pure).

Sections: Classes, Functions, Methods (grouped under their class), Constants and variables (module level, then
grouped under their class), Imports (modules and imported names). Every entry links to the symbol's anchor on the
docs page and to its source line; order is by name (case-insensitive, ties case-sensitive), then line.
"""

from __future__ import annotations

from collections.abc import Sequence

from kwbuild.render.blocks import FileUrls, errors_note, file_urls, finish, heading, line_link, nav_line
from kwbuild.render.context import Import, ImportLink, Links, PageContext, Table
from kwbuild.render.imports import import_links, source_module, target_md
from kwbuild.render.markdown import code_span, kw_page, link
from kwbuild.render.symbols import (
    METHOD_KINDS,
    VALUE_KINDS,
    count_kinds,
    counts_phrase,
    first_anchors,
    kind_label,
    name_key,
    symbol_anchors,
)

Row = tuple[str, str, int, str]
"""(casefolded name, name, line, Markdown list item): sorting rows sorts the entries."""

_SECTIONS = {
    "class": ("Classes", False),
    "function": ("Functions", False),
    **{kind: ("Methods", True) for kind in METHOD_KINDS},
    **{kind: ("Constants and variables", True) for kind in VALUE_KINDS},
}
"""kind -> (section title, grouped under the enclosing symbol)."""
_OTHER = ("Other definitions", False)
_GROUPED = ("Methods", "Constants and variables")


def render_keyword_page(table: Table, links: Links, ctx: PageContext, anchors: Sequence[str] | None = None) -> str:
    """The keyword page of one source file (`anchors`: its symbols' `symbol_anchors`, when already made)."""
    urls = file_urls(kw_page(table["path"]), table["path"], ctx)
    symbols = table["symbols"]
    anchors = symbol_anchors(symbols) if anchors is None else anchors
    sections = _sections(table, anchors, urls)
    lines = _header(table, urls)
    for title in ("Classes", "Functions", "Other definitions"):
        lines += _flat_section(title, sections.get(title, {}))
    parents = first_anchors(symbols, anchors)
    for title in _GROUPED:
        lines += _grouped_section(title, sections.get(title, {}), urls, parents)
    lines += _imports_section(table["imports"], import_links(table["imports"], links), urls)
    return finish(lines)


def _sections(table: Table, anchors: Sequence[str], urls: FileUrls) -> dict[str, dict[str | None, list[Row]]]:
    """Section title -> enclosing symbol (None at module level) -> rows, in source order (one pass, inlined)."""
    sections: dict[str, dict[str | None, list[Row]]] = {}
    docs, source = urls.docs, urls.source
    for symbol, anchor in zip(table["symbols"], anchors, strict=True):
        title, grouped = _SECTIONS.get(symbol["kind"], _OTHER)
        name, line, parent = symbol["name"], symbol["line"], symbol["parent"]
        code = f"`{name}`" if name.isidentifier() else code_span(name)
        item = f"- [{code}]({docs}#{anchor}) {kind_label(symbol)} · [L{line}]({source}#L{line})"
        if not grouped and parent is not None:
            item += f" · in {code_span(parent)}"
            parent = None
        groups = sections.get(title)
        if groups is None:
            groups = sections[title] = {}
        rows = groups.get(parent)
        if rows is None:
            rows = groups[parent] = []
        rows.append((name.casefold(), name, line, item))
    return sections


def _header(table: Table, urls: FileUrls) -> list[str]:
    nav = [
        ("Documentation", urls.docs),
        ("Folder index", urls.folder),
        ("Source", urls.source),
        ("A-Z index", urls.index),
    ]
    module = f"Module {code_span(table['module'])}" if table["module"] else "Not a module"
    counts = counts_phrase(count_kinds(table["symbols"])) or "no symbols"
    imports = f"{len(table['imports']):,} import{'s' if len(table['imports']) != 1 else ''}"
    lines = [f"# Keywords: {code_span(table['path'])}", "", nav_line(nav), "", f"{module} · {counts} · {imports}", ""]
    return lines + errors_note(table)


def _flat_section(title: str, groups: dict[str | None, list[Row]]) -> list[str]:
    rows = sorted(groups.get(None, []))
    if not rows:
        return []
    return [*heading(2, f"{title} ({len(rows):,})"), *(row[3] for row in rows), ""]


def _grouped_section(
    title: str, groups: dict[str | None, list[Row]], urls: FileUrls, parents: dict[str, str]
) -> list[str]:
    """Rows grouped under their enclosing symbol (module-level ones first), groups sorted by qualname."""
    if not groups:
        return []
    lines = heading(2, f"{title} ({sum(map(len, groups.values())):,})")
    for parent in sorted(groups, key=lambda p: (p is not None, name_key(p or ""))):
        if parent is not None or len(groups) > 1:
            lines += heading(3, _group_title(parent, urls, parents))
        lines += [*(row[3] for row in sorted(groups[parent])), ""]
    return lines


def _group_title(parent: str | None, urls: FileUrls, parents: dict[str, str]) -> str:
    if parent is None:
        return "Module level"
    anchor = parents.get(parent)
    return link(code_span(parent), f"{urls.docs}#{anchor}") if anchor else code_span(parent)


def _imports_section(imports: Sequence[Import], targets: Sequence[ImportLink], urls: FileUrls) -> list[str]:
    if not imports:
        return []
    modules: list[Row] = []
    names: list[Row] = []
    for imp, target in zip(imports, targets, strict=True):
        item = f"{_import_label(imp)} → {target_md(target, urls.page)} · {line_link(urls, imp['line'])}"
        item += " · *TYPE_CHECKING only*" if imp["type_checking"] else ""
        key = source_module(imp) if imp["name"] is None else imp["name"]
        (modules if imp["name"] is None else names).append((key.casefold(), key, imp["line"], "- " + item))
    lines = heading(2, f"Imports ({len(imports):,})")
    lines += _import_list("Modules", modules) + _import_list("Imported names", names)
    return lines


def _import_label(imp: Import) -> str:
    alias = f" as {code_span(imp['asname'])}" if imp["asname"] else ""
    if imp["name"] is None:
        return code_span(source_module(imp)) + alias
    return f"{code_span(imp['name'])}{alias} from {code_span(source_module(imp))}"


def _import_list(title: str, rows: list[Row]) -> list[str]:
    if not rows:
        return []
    return [*heading(3, f"{title} ({len(rows):,})"), *(row[3] for row in sorted(rows)), ""]
