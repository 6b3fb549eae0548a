"""Fragments shared by the two pages of a source file: title links, the errors note, headings (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from kwbuild.render.context import Diagnostic, PageContext, Table
from kwbuild.render.markdown import (
    KEYWORDS_PAGE,
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


@dataclass(frozen=True)
class FileUrls:
    """The URLs one page of a source file needs, computed once per page."""

    page: str
    docs: str
    keywords: str
    folder: str
    source: str
    index: str


def file_urls(page: str, rel: str, ctx: PageContext) -> FileUrls:
    """URLs from `page` to the file's docs and keyword pages, its folder index, its source and the A-Z index."""
    return FileUrls(
        page=page,
        docs=rel_link(page, docs_page(rel)),
        keywords=rel_link(page, kw_page(rel)),
        folder=rel_link(page, folder_page(folder_of(rel))),
        source=source_link(page, rel, ctx),
        index=rel_link(page, KEYWORDS_PAGE),
    )


def nav_line(items: Sequence[tuple[str, str]]) -> str:
    """`[Documentation](x) · [Source](y)`: links between a page and its neighbours."""
    return " · ".join(link(text, target) for text, target in items)


def line_link(urls: FileUrls, line: int, end_line: int | None = None) -> str:
    """`[L12](source#L12)`, or `[L12-L30](source#L12-L30)` for a span of lines."""
    if end_line is None or end_line <= line:
        return f"[L{line}]({urls.source}#L{line})"
    return f"[L{line}-L{end_line}]({urls.source}#L{line}-L{end_line})"


def errors_note(table: Table) -> list[str]:
    """A visible note listing the file's diagnostics (none when it has none and is complete)."""
    errors, partial = table["errors"], table["partial"]
    if not errors and not partial:
        return []
    if partial:
        lines = ["> ⚠ **partial**: this file does not parse; its symbols come from the tolerant recovery pass."]
    else:
        lines = [f"> ⚠ **errors**: {len(errors):,} diagnostic{'s' if len(errors) != 1 else ''}."]
    if errors:
        lines += [">", *(f"> - {diagnostic_text(error)}" for error in errors)]
    return [*lines, ""]


def diagnostic_text(error: Diagnostic) -> str:
    """`syntax` at line 3, column 5: message (escaped)."""
    where = ""
    if error["line"] is not None:
        where = f" at line {error['line']}" + (f", column {error['col']}" if error["col"] is not None else "")
    return f"{code_span(error['kind']) or '`?`'}{where}: {escape_text(error['message'])}"


def heading(level: int, text: str) -> list[str]:
    """A heading with the blank line after it."""
    return ["#" * level + " " + text, ""]


def finish(lines: list[str]) -> str:
    """The page text: lines joined by `\\n`, ending with exactly one newline."""
    return "\n".join(lines).rstrip("\n") + "\n"


def finish_chunks(lines: Iterable[str], batch: int = 1000) -> Iterator[str]:
    """`finish(lines)` in pieces (of `batch` lines), made as they are asked: a page of many megabytes is never
    whole in memory. The newlines that end a piece are held back until more text follows (`finish` drops those
    that end the page)."""
    held, started, lines = "", False, iter(lines)
    while part := list(itertools.islice(lines, batch)):
        text = ("\n" if started else "") + "\n".join(part)
        started = True
        kept = text.rstrip("\n")
        if kept:
            yield held + kept
            held = text[len(kept) :]
        else:
            held += text
    yield "\n"
