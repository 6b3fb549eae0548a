"""The work of the page tasks: links, per-file pages, folder indexes and global pages (file I/O at the edge).

The pure parts live elsewhere: `kwbuild.link` resolves imports, `kwbuild.render` turns values into Markdown.
This module reads the tables and links those need, and writes every output through `write_if_changed`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kwbuild import jsonio
from kwbuild.digest import Digest, lines_of
from kwbuild.discover import README_NAMES
from kwbuild.index import symbol_map_part
from kwbuild.jobs import BuildStats
from kwbuild.layout import Layout
from kwbuild.link import Linker, Links, link_part, links_unchanged
from kwbuild.render.context import FolderInfo, KeywordEntry, ModuleRow, PageContext
from kwbuild.render.docs_page import render_docs_page
from kwbuild.render.folder_index import render_folder_index
from kwbuild.render.keyword_index import Changes, keyword_index_pages, plan_keyword_index
from kwbuild.render.keyword_page import render_keyword_page
from kwbuild.render.markdown import docs_page, folder_page, kw_page
from kwbuild.render.module_pages import import_xref_pages, patch_module_index, render_module_index
from kwbuild.render.symbols import symbol_anchors
from kwbuild.store import View


@dataclass(frozen=True)
class PageJob:
    """What one file's page task needs."""

    rel: str
    table_path: str
    links_path: str
    kw_path: str
    docs_path: str
    source_path: str


@dataclass(frozen=True)
class PageOutcome:
    rel: str
    written: int


def render_file_pages(jobs: list[PageJob], ctx: PageContext) -> list[PageOutcome]:
    """Render and write both pages of each file (the pool's unit of work, also run in process)."""
    return [_render_one(job, ctx) for job in jobs]


def _render_one(job: PageJob, ctx: PageContext) -> PageOutcome:
    try:
        table = jsonio.read_json(job.table_path)
        links = jsonio.read_json(job.links_path)
    except FileNotFoundError:  # the source vanished during the build: its pages go too
        return PageOutcome(job.rel, jsonio.remove_file(job.kw_path) + jsonio.remove_file(job.docs_path))
    page_ctx = _with_source(ctx, job) if ctx.include_source else ctx
    anchors = symbol_anchors(table["symbols"])  # once for both pages (0.5-0.9 s of CPU over torch, each time)
    kw = render_keyword_page(table, links, page_ctx, anchors)
    docs = render_docs_page(table, links, page_ctx, anchors)
    written = jsonio.write_or_touch(job.kw_path, kw.encode()) + jsonio.write_or_touch(job.docs_path, docs.encode())
    return PageOutcome(job.rel, written)


def _with_source(ctx: PageContext, job: PageJob) -> PageContext:
    try:
        with open(job.source_path, "rb") as handle:
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        text = None
    return PageContext(source_url=ctx.source_url, include_source=True, source_text=text)


class PageBuilder:
    """The main process's side of the page tasks."""

    def __init__(
        self, layout: Layout, root: str, view: Callable[[list[str]], View], stats: BuildStats, ctx: PageContext
    ) -> None:
        self.layout = layout
        self.root = root
        self.view = view
        self.stats = stats
        self.ctx = ctx
        self.links_written: list[str] = []
        self.prefetcher: Any = None
        self.pool: Any = None  # a page pool started early (see `kwbuild.prefetch.start_pool`), until used
        self.on_links: Callable[[], None] | None = None  # kwbuild build: starts the page pool
        self.on_file_links: Callable[[str, bool], None] | None = None  # given each file as its links are written
        self.planned: list[str] | None = None  # files whose page tasks this build creates, once known
        self.unsure: set[str] | None = None  # trusted build: the only files whose links file may be missing
        self.link_uses: dict[str, FileUses] | None = None  # what the links task made, for the cross-reference

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["prefetcher"] = state["on_links"] = state["on_file_links"] = state["pool"] = state["link_uses"] = None
        return state

    def job(self, rel: str) -> PageJob:
        layout = self.layout
        return PageJob(
            rel,
            layout.table_path(rel),
            layout.links_path(rel),
            layout.docs_file(kw_page(rel)),
            layout.docs_file(docs_page(rel)),
            os.path.join(self.root, rel),
        )

    # --- links ---------------------------------------------------------------------------------------------
    def build_links(self, rels: list[str]) -> dict[str, Any]:
        """doit action: resolve every import of the tree; write each file's links if they changed."""
        unchanged = _links_stable(self.view(rels))
        check = rels if self.unsure is None else [rel for rel in rels if rel in self.unsure]
        if not unchanged or not all(os.path.exists(self.layout.links_path(rel)) for rel in check):
            self.link_uses = {}
            for rel, links in Linker(self.view(rels).digests).link_all():
                written = jsonio.write_if_changed(self.layout.links_path(rel), jsonio.dumps(links))
                if written:
                    self.links_written.append(rel)
                self.link_uses[rel] = _uses(rel, links)
                if self.on_file_links is not None:
                    self.on_file_links(rel, written)
        if self.on_links is not None:
            self.on_links()
        return {"written": len(self.links_written)}

    # --- per-file pages ------------------------------------------------------------------------------------
    def build_pages(self, job: PageJob) -> dict[str, Any]:
        """doit action of one file's page task (both pages)."""
        outcome = self.prefetcher.take(job.rel) if self.prefetcher is not None else None
        if outcome is None:
            outcome = render_file_pages([job], self.ctx)[0]
            self.record(outcome)
        return {"written": outcome.written}

    def record(self, outcome: PageOutcome) -> None:
        self.stats.pages_written += outcome.written

    # --- folder indexes ------------------------------------------------------------------------------------
    def build_folder(
        self, folder: str, rels: list[str], subfolders: list[tuple[str, int]], all_rels: list[str]
    ) -> dict[str, Any]:
        """doit action of one folder's index page; `subfolders` are (path, files below it)."""
        view = self.view(all_rels)  # digests decoded one by one: a folder reads a few of the tree's
        info = FolderInfo(
            path=folder,
            subfolders=[self._subfolder_row(sub, count, view) for sub, count in subfolders],
            files=[_file_row(digest) for rel in rels if (digest := view.digest(rel)) is not None],
            edges=self._edges(rels),
        )
        text = render_folder_index(info, self.ctx)
        written = jsonio.write_or_touch(self.layout.docs_file(folder_page(folder)), text.encode())
        self.stats.pages_written += written
        return {"written": written}

    def _subfolder_row(self, sub: str, files: int, view: View) -> tuple[str, str, int, None]:
        """A subfolder: its summary (its `__init__` docstring, else its README) and how many files it holds.

        No symbol count: it would make every folder index above a file change whenever a symbol is added.
        """
        inits = (view.digest(f"{sub}/__init__.py"), view.digest(f"{sub}/__init__.pyi"))
        init = next((digest for digest in inits if digest is not None), None)
        summary = (init.docstring if init else None) or _readme_summary(os.path.join(self.root, sub)) or ""
        return sub.rpartition("/")[2], summary, files, None

    def _edges(self, rels: list[str]) -> list[tuple[str, str]]:
        members = set(rels)
        edges = set()
        for rel in rels:
            try:
                links: Links = jsonio.read_json(self.layout.links_path(rel))
            except FileNotFoundError:
                continue
            for resolution in links["imports"]:
                target = resolution["resolved_path"]
                if target in members and target != rel:
                    edges.add((rel, target))
        return sorted(edges)

    # --- global pages --------------------------------------------------------------------------------------
    def build_keywords(self, rels: list[str]) -> dict[str, Any]:
        """doit action: the A-Z keyword index."""
        view = self.view(rels)
        if view.unchanged(symbol_map_part) and os.path.exists(self.layout.docs_file("keywords.md")):
            return {"written": 0}
        changes: Changes | None = None  # the definitions added and removed, when the pages on disk are known
        if not view.complete and os.path.exists(self.layout.docs_file("keywords.md")):
            changes = ([], [])
            for old, new in view.changes.values():
                before, after = (set(_keyword_entries_of([d] if d else [], None)) for d in (old, new))
                changes[0].extend(entry[0] for entry in after - before)
                changes[1].extend(entry[0] for entry in before - after)
        index = view.names()
        plan = plan_keyword_index(index.names, index.counts, changes)
        if plan.partial and _on_disk(self.layout.docs, "keywords") != set(plan.files()):
            plan = plan_keyword_index(index.names, index.counts)  # not the pages the changes were made since
        digests = view.digests if plan.shown is None else view.defining(plan.shown)
        pages = keyword_index_pages(lambda names: _keyword_entries_of(digests, names), plan, self.ctx)
        return self._write_set("keywords", pages)

    def build_modules(self, rels: list[str]) -> dict[str, Any]:
        """doit action: the module index."""
        view = self.view(rels)
        if view.unchanged(_module_of) and os.path.exists(self.layout.docs_file("modules.md")):
            return {"written": 0}
        page = self.layout.docs_file("modules.md")
        if self.unsure is not None and not view.complete and len(view.changes) <= MAX_PATCHED:  # trusted: patch
            changed = [(_module_of(old), _module_of(new)) for old, new in view.changes.values() if old and new]
            try:
                with open(page, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                text = None
            patched = patch_module_index(text, changed) if text and len(changed) == len(view.changes) else None
            if patched is not None:
                return self._write_set("modules", [("modules.md", patched)])
        rows = [_module_of(digest) for digest in view.digests]
        return self._write_set("modules", [("modules.md", render_module_index(rows))])

    def build_imports(self, rels: list[str]) -> dict[str, Any]:
        """doit action: the cross-reference pages (what each module imports from the tree, who imports it)."""
        known, self.link_uses = self.link_uses, None
        if (
            _links_stable(self.view(rels))
            and not self.links_written
            and os.path.exists(self.layout.docs_file("imports.md"))
        ):
            return {"written": 0}  # made from these very links by the last build that saved the digests
        if known is None or not all(rel in known for rel in rels):  # the links task did not make them all
            known = {}
            for rel in rels:
                try:
                    known[rel] = _uses(rel, jsonio.read_json(self.layout.links_path(rel)))
                except FileNotFoundError:
                    continue
        modules = {rel: known[rel][0] for rel in rels if rel in known}
        uses = {rel: set(known[rel][1]) for rel in modules}
        used_by: dict[str, set[str]] = defaultdict(set)
        for rel, targets in uses.items():
            for target in targets:
                used_by[target].add(rel)
        rows = [
            (modules[rel], rel, _pairs(uses[rel], modules), _pairs(used_by[rel], modules)) for rel in sorted(modules)
        ]
        return self._write_set("imports", import_xref_pages(rows))

    def _write_set(self, name: str, pages: Iterable[tuple[str, str | Iterator[str] | None]]) -> dict[str, Any]:
        """Write a global page and its parts, each before the next is asked (a part named with None is kept as it
        is; one given in pieces is written piece by piece); remove parts of an earlier build that are no longer
        produced."""
        written = 0
        made: set[str] = set()
        for page, text in pages:
            made.add(page)
            if isinstance(text, str):
                written += jsonio.write_if_changed(self.layout.docs_file(page), text.encode())
            elif text is not None:
                written += jsonio.write_stream_if_changed(self.layout.docs_file(page), map(str.encode, text))
        docs = self.layout.docs
        if os.path.isdir(docs):
            for entry in os.listdir(docs):
                if entry.startswith(name + "-") and entry.endswith(".md") and entry not in made:
                    jsonio.remove_file(os.path.join(docs, entry))
        self.stats.pages_written += written
        return {"written": written}


def _links_stable(view: View) -> bool:
    """True when no file's links can differ from those of the last build that saved the digest store (which it
    does once every aggregate succeeded)."""
    return view.unchanged(link_part) or (not view.complete and links_unchanged(view.changes, view.names().imported))


def _on_disk(docs: str, name: str) -> set[str]:
    """The pages of a global page set in the docs folder (`keywords.md` and its `keywords-*.md` parts)."""
    try:
        found = os.listdir(docs)
    except OSError:
        return set()
    return {page for page in found if (page == f"{name}.md" or page.startswith(f"{name}-")) and page.endswith(".md")}


def _keyword_entries_of(digests: list[Digest], names: set[str] | None) -> list[KeywordEntry]:
    """The A-Z index's entries of these files: all, or those of these names."""
    return [
        (name, kind, qualname, digest.path, line, anchor)
        for digest in digests
        for name, qualname, kind, line, anchor in zip(
            digest.names, digest.qualnames, digest.kinds, lines_of(digest), digest.anchors, strict=True
        )
        if names is None or name in names
    ]


MAX_PATCHED = 100  # more changed files than this: the module index is rendered again, not patched


def _module_of(digest: Digest) -> ModuleRow:
    return digest.module or digest.path, digest.path, digest.docstring or "", sum(n for _, n in digest.symbol_counts)


FileUses = tuple[str, tuple[str, ...]]
"""A file's module (its path when it has none) and the other files its imports land in."""


def _uses(rel: str, links: Links) -> FileUses:
    targets = dict.fromkeys(r["resolved_path"] for r in links["imports"] if r["resolved_path"] not in (None, rel))
    return links["module"] or rel, tuple(targets)


def _pairs(paths: set[str], modules: dict[str, str]) -> list[tuple[str, str]]:
    return sorted((modules.get(p, p), p) for p in paths if p in modules)


def _file_row(digest: Digest) -> tuple[str, str, str, dict[str, int], int, bool]:
    name = digest.path.rpartition("/")[2]
    return digest.path, name, digest.docstring or "", dict(digest.symbol_counts), digest.errors, digest.partial


def _readme_summary(folder: str) -> str | None:
    for name in README_NAMES:
        try:
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    text = line.strip().lstrip("#=*-").strip()
                    if text:
                        return text
        except OSError:
            continue
    return None
