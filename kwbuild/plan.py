"""The plan of a build: the tree's sources and folders, their module names, and what can be stale.

With the stat snapshot of the last successful build, only files whose stat or module changed (or whose table is
missing) are table candidates, and only files whose table or links were rewritten (or whose pages are missing)
are page candidates. Without a snapshot every file is a candidate.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

from kwbuild.builder import FileJob
from kwbuild.config import BuildConfig
from kwbuild.discover import Discovery, discover_sources
from kwbuild.extract import versions_key
from kwbuild.render import RENDER_VERSION
from kwbuild.render.markdown import docs_page, folder_page, kw_page
from kwbuild.resolve import module_name, package_folders
from kwbuild.snapshot import Snapshot, load_snapshot


def build_versions(config: BuildConfig) -> str:
    """Every version and option that decides an output: extractors, table schema, renderers, page options."""
    return f"{versions_key()};render{RENDER_VERSION};max_size={config.max_file_size};{config.page_options}"


@dataclass
class Plan:
    """The tree as the task graph sees it."""

    config: BuildConfig
    discovery: Discovery
    modules: dict[str, str | None]
    candidates: set[str] | None = None  # None: every file is a candidate
    snapshot: Snapshot | None = None
    removed: list[str] = field(default_factory=list)
    rels: list[str] = field(default_factory=list)
    folders: dict[str, list[str]] = field(default_factory=dict)  # folder -> its files, sorted
    subfolders: dict[str, list[str]] = field(default_factory=dict)  # folder -> its direct subfolders, sorted
    _file_counts: dict[str, int] | None = None

    def job(self, rel: str, language: str) -> FileJob:
        table = self.config.layout.table_path(rel)
        config = self.config
        return FileJob(
            str(config.root), rel, self.modules[rel], language, table, config.max_file_size, config.recompute
        )

    def is_candidate(self, rel: str) -> bool:
        return self.candidates is None or rel in self.candidates

    @property
    def file_counts(self) -> dict[str, int]:
        """How many files each folder holds, subfolders included."""
        if self._file_counts is None:
            counts: dict[str, int] = dict.fromkeys(self.folders, 0)
            for rel in self.rels:
                folder = rel.rpartition("/")[0]
                while True:
                    counts[folder] += 1
                    if not folder:
                        break
                    folder = folder.rpartition("/")[0]
            self._file_counts = counts
        return self._file_counts

    @property
    def added(self) -> list[str]:
        if self.snapshot is None:
            return list(self.rels)
        return [rel for rel in self.rels if rel not in self.snapshot.files]

    @property
    def removed_folders(self) -> list[str]:
        if self.snapshot is None:
            return []
        return sorted(set(_all_folders(self.snapshot.files)) - set(self.folders))


def make_plan(config: BuildConfig, use_snapshot: bool) -> Plan:
    """Discover the tree, name its modules, list its folders, and (with the snapshot) find what can be stale."""
    discovery = discover_sources(config.root, config.rules)
    rels = [source.rel for source in discovery.sources]
    packages = package_folders(rels)
    modules = {rel: module_name(rel, packages, config.root_name) for rel in rels}
    plan = Plan(config, discovery, modules, rels=rels)
    plan.folders, plan.subfolders = _folder_tree(rels)
    if use_snapshot:
        _apply_snapshot(plan)
    return plan


def _folder_tree(rels: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    files: dict[str, list[str]] = defaultdict(list)
    for rel in rels:
        files[rel.rpartition("/")[0]].append(rel)
    folders = _all_folders(rels)
    subfolders: dict[str, list[str]] = {folder: [] for folder in folders}
    for folder in folders:
        if folder:
            subfolders[folder.rpartition("/")[0]].append(folder)
    return {f: sorted(files.get(f, [])) for f in sorted(folders)}, {f: sorted(s) for f, s in subfolders.items()}


def _all_folders(rels: object) -> set[str]:
    folders = {""}
    for rel in rels:  # type: ignore[attr-defined]
        folder = rel.rpartition("/")[0]
        while folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    return folders


def _apply_snapshot(plan: Plan) -> None:
    layout = plan.config.layout
    previous = load_snapshot(layout.snapshot, build_versions(plan.config))
    plan.snapshot = previous
    if previous is None:
        return
    candidates = set()
    for source in plan.discovery.sources:
        entry = previous.files.get(source.rel)
        if entry != (source.mtime_ns, source.size, plan.modules[source.rel]) or not os.path.exists(
            layout.table_path(source.rel)
        ):
            candidates.add(source.rel)
    plan.candidates = candidates
    current = set(plan.modules)
    plan.removed = sorted(rel for rel in previous.files if rel not in current)


def stale_pages(plan: Plan) -> list[str]:
    """Files whose pages must go through doit's check: a page is missing or older than the table or links.

    Outputs are rewritten only when their bytes change, so "older than an input" means "the input changed
    since the page was made", whichever build (finished or killed) changed it.
    """
    if plan.candidates is None:
        return list(plan.rels)
    layout = plan.config.layout
    return [
        rel
        for rel in plan.rels
        if _newest(layout.table_path(rel), layout.links_path(rel))
        > _oldest(layout.docs_file(kw_page(rel)), layout.docs_file(docs_page(rel)))
    ]


def stale_folders(plan: Plan) -> list[str]:
    """Folders whose index must go through doit's check: files came or went below it, or its index is missing
    or older than a table or links file of its files or than its subfolders' `__init__` tables."""
    if plan.candidates is None:
        return list(plan.folders)
    layout = plan.config.layout
    affected = set()
    for rel in [*plan.added, *plan.removed]:
        folder = rel.rpartition("/")[0]
        affected.add(folder)
        while folder:
            folder = folder.rpartition("/")[0]
            affected.add(folder)
    stale = []
    for folder, files in plan.folders.items():
        inputs = [layout.table_path(r) for r in files] + [layout.links_path(r) for r in files]
        inputs += [layout.table_path(f"{sub}/__init__.py") for sub in plan.subfolders[folder]]
        if folder in affected or _newest(*inputs) > _oldest(layout.docs_file(folder_page(folder))):
            stale.append(folder)
    return stale


def _newest(*paths: str) -> int:
    newest = 0
    for path in paths:
        try:
            newest = max(newest, os.stat(path).st_mtime_ns)
        except OSError:
            continue
    return newest


def _oldest(*paths: str) -> int:
    """The oldest mtime of these files; -1 when one is missing (so that anything is newer)."""
    oldest = None
    for path in paths:
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return -1
        oldest = mtime if oldest is None else min(oldest, mtime)
    return -1 if oldest is None else oldest
