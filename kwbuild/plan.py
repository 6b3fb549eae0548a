"""The plan of a build: the tree's sources and folders, their module names, and what can be stale.

With the stat snapshot of the last successful build, only files whose stat or module changed (or whose table is
missing) are table candidates, and only files whose table or links were rewritten (or whose pages are missing)
are page candidates. Without a snapshot every file is a candidate.
"""

from __future__ import annotations

import functools
import os
import stat
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kwbuild import jsonio
from kwbuild.config import BuildConfig
from kwbuild.discover import Discovery, discover_sources
from kwbuild.extract import language_of, versions_key
from kwbuild.jobs import FileJob
from kwbuild.jsonio import TEMP_SUFFIX
from kwbuild.layout import Layout
from kwbuild.model import content_hash
from kwbuild.render import RENDER_VERSION
from kwbuild.resolve import module_name, package_folders
from kwbuild.snapshot import Entry, Snapshot, load_snapshot


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
    clean: bool = False  # the previous build finished successfully (no build was killed or failed since)
    changed_outputs: set[str] = field(default_factory=set)  # folders with an output folder changed since then
    errors: int = 0  # files with recorded errors, once the build knows
    edited: list[str] = field(default_factory=list)  # outputs modified since the last build, not by kwbuild
    docs_root_changed: bool = False  # a global page may have been deleted since the last build
    changed_readmes: list[str] = field(default_factory=list)  # READMEs edited, added or removed since
    restated: list[str] = field(default_factory=list)  # files whose stat changed but not their bytes (a touch)
    removed: list[str] = field(default_factory=list)
    rels: list[str] = field(default_factory=list)
    folders: dict[str, list[str]] = field(default_factory=dict)  # folder -> its files, sorted
    subfolders: dict[str, list[str]] = field(default_factory=dict)  # folder -> its direct subfolders, sorted
    _file_counts: dict[str, int] | None = None
    _added: list[str] | None = None

    @functools.cached_property
    def no_digests(self) -> bool:
        """No digest store was saved (`--full` forgot it): each table job sends its table's digest even when it
        leaves the table as it was, or the main process reads every table back to digest it (torch: ~3.5 s of
        its one core, while the page pool waits for the links). Asked once the first job is made (a no-op
        build makes none)."""
        return not os.path.isdir(self.config.layout.digests)

    def job(self, rel: str, language: str) -> FileJob:
        return file_job(self.config, rel, self.modules[rel], language, self.no_digests)

    def candidate_jobs(self) -> list[FileJob]:
        """The table jobs of the files whose task may be stale, in the order doit runs them."""
        sources, candidates = self.discovery.sources, self.candidates
        if candidates is None:
            return [self.job(s.rel, s.language) for s in sources]
        return [self.job(s.rel, s.language) for s in sources if s.rel in candidates]

    @property
    def file_counts(self) -> dict[str, int]:
        """How many files each folder holds, subfolders included."""
        if self._file_counts is None:
            counts = {folder: len(files) for folder, files in self.folders.items()}  # its own files
            for folder in reversed(counts):  # path order reversed: every folder before its parent
                if folder:
                    counts[folder.rpartition("/")[0]] += counts[folder]
            self._file_counts = counts
        return self._file_counts

    @property
    def nothing_to_do(self) -> bool:
        """True when the sources and the output folders are exactly as the last successful build left them:
        every task is up to date, proven by the snapshot alone (doit need not be asked)."""
        return (
            self.clean
            and self.snapshot is not None
            and not self.candidates
            and not self.removed
            and not self.changed_outputs
            and not self.changed_readmes
            and len(self.snapshot.files) == len(self.rels)
        )

    @property
    def trusted(self) -> bool:
        """True when the last build succeeded and no output folder changed since: then every output of a file
        that is not a candidate is exactly as that build left it, and the task layer only checks candidates."""
        return self.clean and self.snapshot is not None and not self.changed_outputs

    @property
    def added(self) -> list[str]:
        if self._added is None:
            files = self.snapshot.files if self.snapshot is not None else {}
            self._added = [rel for rel in self.rels if rel not in files]
        return self._added

    @property
    def removed_folders(self) -> list[str]:
        """The folders of the last build that are gone: only where a file of that build is gone (none after an
        edit, without a walk of the snapshot's 11,771 paths on torch)."""
        if self.snapshot is None or not self.removed:
            return []
        return sorted(_all_folders(self.snapshot.files) - set(self.folders))


def drop_untouched(plan: Plan) -> None:
    """In a trusted build, take out of the candidates the files whose stat changed but whose bytes are still
    those their table was made from (`touch`, an editor saving an unchanged buffer, a checkout back and forth):
    their outputs are as the last build left them, only the snapshot must learn the new stat (as ninja's
    `restat`). A file is read for this only when its size and module are unchanged, so a real edit costs at
    most one read more."""
    if not plan.trusted or not plan.candidates:
        return
    assert plan.snapshot is not None
    previous, layout = plan.snapshot.files, plan.config.layout
    sizes = {source.rel: source.size for source in plan.discovery.sources if source.rel in plan.candidates}
    edited = set(plan.edited)
    for rel, size in sizes.items():
        before = previous.get(rel)
        table = layout.table_path(rel)
        if before is None or before[1] != size or before[2] != plan.modules[rel] or table in edited:
            continue
        if _recorded_hash(table) == _file_hash(f"{plan.config.root}/{rel}"):
            plan.restated.append(rel)
    plan.candidates.difference_update(plan.restated)


def _recorded_hash(table: str) -> str | None:
    try:
        recorded = jsonio.read_json(table).get("hash")
    except (OSError, ValueError, AttributeError):
        return None
    return recorded if isinstance(recorded, str) else None


def _file_hash(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return content_hash(handle.read())
    except OSError:
        return None


def file_job(
    config: BuildConfig, rel: str, module: str | None, language: str, digest_unchanged: bool = False
) -> FileJob:
    """The table job of one file."""
    table = config.layout.table_path(rel)
    max_size, recompute = config.max_file_size, config.recompute
    return FileJob(str(config.root), rel, module, language, table, max_size, recompute, digest_unchanged)


def make_plan(
    config: BuildConfig, use_snapshot: bool, clean: bool = False, on_edit: Callable[[FileJob], None] | None = None
) -> Plan:
    """Discover the tree, name its modules, list its folders, and (with the snapshot) find what can be stale.

    `clean`: the previous build finished successfully, so an output folder whose mtime equals the snapshot's
    still holds every output it had; otherwise each table's existence is checked. `on_edit`: given, as soon as
    the walk finds it, the table job of the first file of the snapshot whose size changed (surely edited), with
    the module name it had (the plan's, unless a package was added or removed)."""
    previous = load_snapshot(config.layout.snapshot, snapshot_versions(config)) if use_snapshot else None
    recorded = previous.files if previous is not None else None
    resized = _job_reporter(config, recorded, on_edit) if recorded is not None and on_edit is not None else None
    if resized is not None and previous is not None and _resized_recent(config, previous, resized):
        resized = None  # found among the files edited last: the walk need not look for it
    discovery = discover_sources(config.root, config.rules, recorded, resized)
    rels = [source.rel for source in discovery.sources]
    if previous is not None and len(previous.files) == len(rels) and all(rel in previous.files for rel in rels):
        modules = {rel: previous.files[rel][2] for rel in rels}  # names depend only on the set of paths
    else:
        packages = package_folders(rels)
        modules = {rel: module_name(rel, packages, config.root_name) for rel in rels}
    plan = Plan(config, discovery, modules, rels=rels, clean=clean)
    plan.folders, plan.subfolders = _folder_tree(rels)
    if previous is not None:
        _apply_snapshot(plan, previous)
    return plan


def _job_reporter(
    config: BuildConfig, recorded: dict[str, Entry], on_edit: Callable[[FileJob], None]
) -> Callable[[str, str], None]:
    def report(rel: str, language: str) -> None:
        on_edit(file_job(config, rel, recorded[rel][2], language))

    return report


def _resized_recent(config: BuildConfig, previous: Snapshot, report: Callable[[str, str], None]) -> bool:
    """Stat the snapshot's most recently modified sources (the files a developer is working on) and `report` the
    first whose size changed, before the walk (which may reach it after ~10,000 others); True when one was."""
    overrides = dict(config.rules.suffixes)
    for rel in previous.recent:
        language = language_of(rel.rpartition("/")[2], overrides)
        try:
            info = os.stat(os.path.join(config.root, rel))
        except OSError:
            continue
        if language is not None and stat.S_ISREG(info.st_mode) and info.st_size != previous.files[rel][1]:
            report(rel, language)
            return True
    return False


def snapshot_versions(config: BuildConfig) -> str:
    """What a snapshot must have been taken under to be used: the build's versions and the tree's name (which
    starts every module name)."""
    return f"{build_versions(config)};root={config.root_name}"


def _folder_tree(rels: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Folder -> its files, and folder -> its direct subfolders, every folder of the tree in path order
    (`rels` is sorted, so each folder's files come out sorted)."""
    files: dict[str, list[str]] = defaultdict(list)
    for rel in rels:
        files[rel.rpartition("/")[0]].append(rel)
    folders = sorted(_with_parents(files))
    subfolders: dict[str, list[str]] = {folder: [] for folder in folders}
    for folder in folders:
        if folder:
            subfolders[folder.rpartition("/")[0]].append(folder)
    return {f: files.get(f, []) for f in folders}, subfolders


def _all_folders(paths: Iterable[str]) -> set[str]:
    """Every folder above these files, the root "" included."""
    return _with_parents({path.rpartition("/")[0] for path in paths})


def _with_parents(folders: Iterable[str]) -> set[str]:
    found = {""}
    for folder in folders:
        while folder not in found:
            found.add(folder)
            folder = folder.rpartition("/")[0]
    return found


def _apply_snapshot(plan: Plan, previous: Snapshot) -> None:
    layout = plan.config.layout
    plan.snapshot = previous
    stamps = output_stamps(layout, plan.folders)
    moved = [key for key, mtime in stamps.items() if previous.outputs.get(key) != mtime]
    plan.changed_outputs = {key.partition("/")[2] for key in moved}
    plan.docs_root_changed = "docs/" in moved
    if plan.clean and moved:  # outputs created, replaced or deleted since that build: which were modified?
        plan.edited = edited_outputs(layout, moved, previous.finished_ns)
    check_tables = plan.changed_outputs if plan.clean else None  # None: check every table
    prefix = layout.table_path("")[: -len(".json")]
    edited_tables = {path[len(prefix) : -len(".json")] for path in plan.edited if path.startswith(prefix)}
    candidates = set()
    recorded, modules, exists = previous.files.get, plan.modules, os.path.exists
    for rel, _language, mtime_ns, size in plan.discovery.sources:
        changed = recorded(rel) != (mtime_ns, size, modules[rel]) or rel in edited_tables
        unsure = check_tables is None or (bool(check_tables) and rel.rpartition("/")[0] in check_tables)
        if changed or (unsure and not exists(layout.table_path(rel))):
            candidates.add(rel)
    plan.candidates = candidates
    readmes, before = plan.discovery.readmes, previous.readmes
    plan.changed_readmes = sorted(rel for rel in readmes.keys() | before.keys() if readmes.get(rel) != before.get(rel))
    current = set(plan.modules)
    plan.removed = sorted(rel for rel in previous.files if rel not in current)


OUTPUT_TOPS = ("tables", "links", "docs")


def output_stamps(layout: Layout, folders: Iterable[str]) -> dict[str, int]:
    """The mtime of each output folder that mirrors a source folder (`tables/<folder>`, ...; 0 when missing), and
    of the output folder itself (`out/`: the manifest, the symbol map, the change report)."""
    stamps = {"out/": _mtime(str(layout.out))}
    base = str(layout.out)
    for folder in folders:
        for top in OUTPUT_TOPS:
            stamps[f"{top}/{folder}"] = _mtime(f"{base}/{top}/{folder}" if folder else f"{base}/{top}")
    return stamps


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def edited_outputs(layout: Layout, folders: Iterable[str], since_ns: int) -> list[str]:
    """Output files modified after `since_ns` (the end of the last successful build) in these output folders
    (`tables/<folder>`, `links/<folder>`, `docs/<folder>`, `out/`), or in every output folder when None."""
    found = []
    for folder in folders:
        path = str(layout.out) if folder == "out/" else f"{layout.out}/{folder}".rstrip("/")
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    if not entry.is_file(follow_symlinks=False) or entry.name.endswith(TEMP_SUFFIX):
                        continue
                    if entry.stat(follow_symlinks=False).st_mtime_ns > since_ns:
                        found.append(entry.path)
        except OSError:
            continue
    return sorted(found)


def all_output_folders(layout: Layout) -> list[str]:
    """Every output folder, as `edited_outputs` names them."""
    base = str(layout.out)
    folders = ["out/"]
    for top in OUTPUT_TOPS:
        for folder, _dirs, _files in os.walk(f"{base}/{top}"):
            folders.append(folder[len(base) + 1 :])
    return folders


def page_stale(layout: Layout, rel: str) -> bool:
    """Whether a file's pages are missing or older than its table or links.

    Outputs are rewritten only when their bytes change, so "older than an input" means "the input changed
    since the page was made", whichever build (finished or killed) changed it."""
    from kwbuild.render.markdown import docs_page, kw_page

    return _newest(layout.table_path(rel), layout.links_path(rel)) > _oldest(
        layout.docs_file(kw_page(rel)), layout.docs_file(docs_page(rel))
    )


def stale_folders(plan: Plan, pages: list[str]) -> list[str]:
    """Folders whose index must go through doit's check: files came or went below it, or its index is missing
    or older than a table or links file of its files or than its subfolders' `__init__` tables.

    In a trusted build, the folders of the files whose pages are checked (`pages`) and their parents."""
    from kwbuild.render.markdown import folder_page

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
    for readme in plan.changed_readmes:  # shown in the index of the folder above its own
        affected.add(readme.rpartition("/")[0].rpartition("/")[0])
    if plan.trusted:
        for rel in pages:
            folder = rel.rpartition("/")[0]
            affected.update((folder, folder.rpartition("/")[0]))
        return [folder for folder in plan.folders if folder in affected]
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
