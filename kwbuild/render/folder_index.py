"""The folder index `<folder>/index.md`: subfolders, files with their pages, and the folder's import graph (pure).

It replaces the old system's separate `doc.md`. The Mermaid graph of the imports between the folder's modules
is capped (40 nodes, 80 edges) and its node ids (`n0`, `n1`...) and quoted labels are safe.
"""

from __future__ import annotations

from collections.abc import Iterable

from kwbuild.render.blocks import finish, heading, nav_line
from kwbuild.render.context import FileRow, FolderInfo, PageContext, SubfolderRow
from kwbuild.render.markdown import (
    IMPORTS_PAGE,
    KEYWORDS_PAGE,
    MODULES_PAGE,
    code_span,
    docs_page,
    escape_text,
    folder_of,
    folder_page,
    kw_page,
    link,
    rel_link,
    source_link,
)
from kwbuild.render.symbols import counts_phrase, name_key, plural


def render_folder_index(folder: FolderInfo, ctx: PageContext) -> str:
    """The index page of one folder of the tree."""
    page = folder_page(folder.path)
    title = f"# Folder {code_span(folder.path + '/')}" if folder.path else "# Source tree"
    lines = [title, "", nav_line(_nav(folder.path, page)), ""]
    lines += [f"{plural(len(folder.subfolders), 'subfolder')} · {plural(len(folder.files), 'file')}", ""]
    lines += _subfolders(folder, page)
    lines += _files(folder, page, ctx)
    lines += [*heading(2, "Imports between modules"), *render_import_graph(folder.edges, folder.path)]
    return finish(lines)


def _nav(path: str, page: str) -> list[tuple[str, str]]:
    up = (
        [
            (
                f"Up: {code_span(folder_of(path) + '/') if folder_of(path) else 'source tree'}",
                rel_link(page, folder_page(folder_of(path))),
            )
        ]
        if path
        else []
    )
    return [
        *up,
        ("A-Z index", rel_link(page, KEYWORDS_PAGE)),
        ("Modules", rel_link(page, MODULES_PAGE)),
        ("Imports", rel_link(page, IMPORTS_PAGE)),
    ]


def _subfolders(folder: FolderInfo, page: str) -> list[str]:
    if not folder.subfolders:
        return []
    rows = sorted(folder.subfolders, key=lambda row: name_key(row[0]))
    return [*heading(2, f"Subfolders ({len(rows):,})"), *(_subfolder(row, folder.path, page) for row in rows), ""]


def _subfolder(row: SubfolderRow, parent: str, page: str) -> str:
    name, summary, files, symbols = row
    target = rel_link(page, folder_page(f"{parent}/{name}" if parent else name))
    about = f" - {escape_text(summary)}" if summary else ""
    counts = plural(files, "file") + (f", {plural(symbols, 'symbol')}" if symbols is not None else "")
    return f"- {link(code_span(name + '/'), target)}{about} · {counts}"


def _files(folder: FolderInfo, page: str, ctx: PageContext) -> list[str]:
    if not folder.files:
        return []
    rows = sorted(folder.files, key=lambda row: (name_key(row[1]), row[0]))
    lines = heading(2, f"Files ({len(rows):,})")
    lines += ["| File | Pages | Summary | Symbols | Status |", "| --- | --- | --- | --- | --- |"]
    return [*lines, *(_file(row, page, ctx) for row in rows), ""]


def _file(row: FileRow, page: str, ctx: PageContext) -> str:
    rel, name, summary, counts, errors, partial = row
    targets = [
        ("docs", rel_link(page, docs_page(rel))),
        ("keywords", rel_link(page, kw_page(rel))),
        ("source", source_link(page, rel, ctx)),
    ]
    pages = nav_line(targets)
    status = ", ".join([*(["⚠ errors"] if errors else []), *(["partial"] if partial else [])])
    cells = [code_span(name, table=True), pages, escape_text(summary or ""), counts_phrase(counts) or "none", status]
    return "| " + " | ".join(cells) + " |"


# ---------------------------------------------------------------- the import graph

MAX_NODES = 40
MAX_EDGES = 80


def _label_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {c: " " for c in [*range(32), *range(127, 160), 0x2028, 0x2029]}
    table.update({ord(c): f"#{ord(c)};" for c in '"#&<>`'})
    return table


_LABEL = _label_table()


def mermaid_label(text: str) -> str:
    """`text` as a quoted Mermaid label: no quote, backtick, angle bracket or newline left as such."""
    return '"' + text.translate(_LABEL) + '"'


def render_import_graph(edges: Iterable[tuple[str, str]], folder: str) -> list[str]:
    """A ```mermaid graph LR``` block of the imports between modules (at most 40 nodes, 80 edges), and a note."""
    unique = sorted({(a, b) for a, b in edges if a != b})
    if not unique:
        return ["No imports between the modules of this folder.", ""]
    kept = _most_connected(unique, MAX_NODES)
    shown = [edge for edge in unique if edge[0] in kept and edge[1] in kept][:MAX_EDGES]
    nodes = sorted({path for edge in shown for path in edge})
    ids = {path: f"n{i}" for i, path in enumerate(nodes)}
    lines = ["```mermaid", "graph LR"]
    lines += [f"  {ids[path]}[{mermaid_label(_short(path, folder))}]" for path in nodes]
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in shown]
    lines += ["```", ""]
    hidden = len(unique) - len(shown)
    if hidden:
        lines += [
            f"{hidden:,} more edge{'s' if hidden != 1 else ''} not shown (the diagram keeps the "
            f"{MAX_NODES} most connected modules and at most {MAX_EDGES} edges).",
            "",
        ]
    return lines


def _most_connected(edges: list[tuple[str, str]], limit: int) -> set[str]:
    degree: dict[str, int] = {}
    for a, b in edges:
        degree[a] = degree.get(a, 0) + 1
        degree[b] = degree.get(b, 0) + 1
    return set(sorted(degree, key=lambda path: (-degree[path], path))[:limit])


def _short(path: str, folder: str) -> str:
    prefix = folder + "/" if folder else ""
    return path[len(prefix) :] if prefix and path.startswith(prefix) else path
