"""The documentation page `<rel>_docs.md`: metadata, notes, outline, imports and who uses the file (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from kwbuild.render.blocks import FileUrls, errors_note, file_urls, finish, heading, line_link, nav_line
from kwbuild.render.context import Import, ImportLink, Links, PageContext, Table
from kwbuild.render.imports import import_links, import_statement, is_resolved, target_md, top_package
from kwbuild.render.markdown import (
    anchor_base,
    code_span,
    docs_page,
    escape_text,
    fenced_block,
    link,
    rel_link,
    source_link,
)
from kwbuild.render.notes import file_notes
from kwbuild.render.outline import OutlineRefs, render_outline
from kwbuild.render.symbols import first_anchors, symbol_anchors


def render_docs_page(table: Table, links: Links, ctx: PageContext, anchors: Sequence[str] | None = None) -> str:
    """The documentation page of one source file (`anchors`: its symbols' `symbol_anchors`, when already made)."""
    urls = file_urls(docs_page(table["path"]), table["path"], ctx)
    targets = import_links(table["imports"], links)
    lines = [*_header(table, urls), *_metadata(table)]
    lines += [*heading(2, "Notes"), *(f"- {note}" for note in file_notes(table, targets, links)), ""]
    anchors = symbol_anchors(table["symbols"]) if anchors is None else anchors
    refs = OutlineRefs(urls, _base_targets(table, anchors, targets, urls.page))
    lines += render_outline(table["symbols"], anchors, refs)
    words = _WORDS.get(table["language"], _WORDS["python"])
    lines += _imports(table["imports"], targets, urls, words[0])
    lines += _imported_by(links, urls, ctx, words[1])
    lines += _related(links, urls.page)
    lines += _tested_by(links, urls.page) if table["module"] else []
    if ctx.include_source and ctx.source_text is not None:
        lines += [*heading(2, "Source"), fenced_block(ctx.source_text, table["language"])]
    return finish(lines)


def _header(table: Table, urls: FileUrls) -> list[str]:
    nav = [
        ("Keywords", urls.keywords),
        ("Folder index", urls.folder),
        ("Source", urls.source),
        ("A-Z index", urls.index),
    ]
    lines = [f"# {code_span(table['path'])}", "", nav_line(nav), ""]
    if table["docstring"]:
        lines += [escape_text(table["docstring"]), ""]
    return lines + errors_note(table)


def _metadata(table: Table) -> list[str]:
    extractor = table["extractor"]
    rows = [
        ("Path", code_span(table["path"])),
        ("Module", code_span(table["module"]) if table["module"] else "none"),
        ("Language", escape_text(table["language"])),
        ("Size", f"{table['size']:,} bytes"),
        ("Lines", f"{table['lines']:,}"),
        ("Content hash", f"{code_span(table['hash'])} (xxh3-128)" if table["hash"] else "none (unreadable)"),
        ("Extractor", f"{escape_text(extractor['name'])} {extractor['version']}"),
    ]
    return [*heading(2, "Metadata"), *(f"- **{key}:** {value}" for key, value in rows), ""]


def _base_targets(table: Table, anchors: Sequence[str], targets: Sequence[ImportLink], page: str) -> dict[str, str]:
    """Names a base class may be written as -> URL: classes of this file, then names imported from the tree."""
    result: dict[str, str] = {}
    for imp, target in zip(table["imports"], targets, strict=True):
        symbol, path = target["resolved_symbol"], target["resolved_path"]
        if target["resolution"] == "symbol" and symbol and path and imp["name"] not in (None, "*"):
            result[imp["asname"] or imp["name"] or ""] = rel_link(page, docs_page(path), anchor_base(symbol))
    classes = {s["qualname"] for s in table["symbols"] if s["kind"] == "class"}
    firsts = first_anchors(table["symbols"], anchors)
    result.update({name: "#" + anchor for name, anchor in firsts.items() if name in classes})
    return result


_WORDS = {"python": ("Imports", "Imported by"), "cpp": ("Includes", "Included by")}


def _imports(imports: Sequence[Import], targets: Sequence[ImportLink], urls: FileUrls, title: str) -> list[str]:
    """Imports in source order, grouped: from the tree, external, unresolved."""
    if not imports:
        return []
    pairs = list(zip(imports, targets, strict=True))
    groups = [
        ("From the tree", [p for p in pairs if is_resolved(p[1])]),
        ("External", [p for p in pairs if p[1]["resolution"] == "external"]),
        ("Unresolved", [p for p in pairs if not is_resolved(p[1]) and p[1]["resolution"] != "external"]),
    ]
    lines = heading(2, f"{title} ({len(imports):,})")
    for group, members in groups:
        if members:
            lines += [*heading(3, f"{group} ({len(members):,})"), *(_import(p, urls) for p in members), ""]
    return lines


def _import(pair: tuple[Import, ImportLink], urls: FileUrls) -> str:
    imp, target = pair
    where = target_md(target, urls.page)
    package = top_package(imp, target)
    if package:
        where += f" ({code_span(package)})"
    checking = " · *TYPE_CHECKING only*" if imp["type_checking"] else ""
    return f"- {code_span(import_statement(imp))} → {where} · {line_link(urls, imp['line'])}{checking}"


def _imported_by(links: Links, urls: FileUrls, ctx: PageContext, title: str) -> list[str]:
    users = links["imported_by"]
    if not users:
        return []
    lines = heading(2, f"{title} ({len(users):,})")
    for user in users:
        names = ", ".join(code_span(name) for name in user["names"])
        source = source_link(urls.page, user["path"], ctx)
        at = ", ".join(f"[L{n}]({source}#L{n})" for n in user["lines"])
        lines.append(
            f"- {_file_link(user['path'], user['module'], urls.page)}"
            + (f": {names}" if names else "")
            + (f" · {at}" if at else "")
        )
    return [*lines, ""]


def _related(links: Links, page: str) -> list[str]:
    related = links["related"]
    if not related:
        return []
    items = (f"- {_file_link(r['path'], r['module'], page)} - {escape_text(r['why'])}" for r in related)
    return [*heading(2, "Related files"), *items, ""]


def _tested_by(links: Links, page: str) -> list[str]:
    tests = links["tested_by"]
    items = [f"- {_file_link(t['path'], t['module'], page)}" for t in tests]
    return [*heading(2, "Tested by"), *(items or ["No test file of the tree imports this module."]), ""]


def _file_link(path: str, module: str | None, page: str) -> str:
    text = link(code_span(path), rel_link(page, docs_page(path)))
    return text + (f" ({code_span(module)})" if module else "")
