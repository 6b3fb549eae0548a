"""The task graph: the only module that knows doit.

One doit task per source file (`table:<path>`), plus the aggregates (`manifest`, `symbols`), each with exactly
the files it reads as `file_dep` and what it writes as `targets`. The same generators serve plain `doit`
(through `dodo.py`) and `kwbuild build` (through doit's API), with one database per output folder.

`kwbuild build` adds two things around doit, never in place of it: a stat snapshot of the last successful
build, so that doit is only given the table tasks that can be stale, and a process pool that runs the
heavy part of those tasks ahead of doit's serial walk.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from doit.cmd_base import ModuleTaskLoader
from doit.control import TaskControl
from doit.dependency import FileChangedChecker
from doit.doit_cmd import DoitMain
from doit.tools import config_changed

from kwbuild import jsonio
from kwbuild.builder import FileJob, TableBuilder
from kwbuild.cache import ContentCache
from kwbuild.config import BuildConfig
from kwbuild.discover import Discovery, discover_sources
from kwbuild.errors import BuildFailed, UserError
from kwbuild.extract import versions_key
from kwbuild.model import content_hash
from kwbuild.prefetch import MIN_JOBS_FOR_POOL, Prefetcher
from kwbuild.resolve import module_name, package_folders
from kwbuild.snapshot import Snapshot, load_snapshot, save_snapshot


class ContentChecker(FileChangedChecker):  # type: ignore[misc]
    """doit's file check with xxh3 instead of md5, and a vanished file counted as changed, not an error.

    State per file: (mtime_ns, size, hash). Same mtime: unchanged; other size: changed; else compare hashes.
    """

    def info(self, file_path: str) -> os.stat_result | None:
        try:
            return os.stat(file_path)
        except OSError:
            return None

    def check_modified(self, file_path: str, file_stat: os.stat_result | None, state: Any) -> bool:
        if file_stat is None or not isinstance(state, list | tuple) or len(state) != 3:
            return True
        mtime, size, digest = state
        if file_stat.st_mtime_ns == mtime:
            return False
        if file_stat.st_size != size:
            return True
        return bool(digest != _hash_file(file_path))

    def get_state(self, dep: str, current_state: Any) -> tuple[int, int, str | None] | None:
        file_stat = self.info(dep)
        if file_stat is None:
            return (0, -1, None)
        if current_state and current_state[0] == file_stat.st_mtime_ns:
            return None
        return (file_stat.st_mtime_ns, file_stat.st_size, _hash_file(dep))


def _hash_file(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return content_hash(handle.read())
    except OSError:
        return None


def _add_implicit_task_dep(targets: dict[str, str], task: Any, deps_list: list[str]) -> None:
    """doit's own version tests membership in a list: O(files x deps) for an aggregate task."""
    known = set(task.task_dep)
    for dep in deps_list:
        producer = targets.get(dep)
        if producer is not None and producer not in known:
            known.add(producer)
            task.task_dep.append(producer)


TaskControl.add_implicit_task_dep = staticmethod(_add_implicit_task_dep)


@dataclass
class Plan:
    """The tree as the task graph sees it: sources with module names, and which tables may be stale."""

    config: BuildConfig
    discovery: Discovery
    modules: dict[str, str | None]
    candidates: set[str] | None = None  # None: every table task is created
    snapshot: Snapshot | None = None
    removed: list[str] = field(default_factory=list)

    @property
    def rels(self) -> list[str]:
        return [source.rel for source in self.discovery.sources]

    def job(self, rel: str, language: str) -> FileJob:
        table = self.config.layout.table_path(rel)
        return FileJob(str(self.config.root), rel, self.modules[rel], language, table)


def make_plan(config: BuildConfig, use_snapshot: bool) -> Plan:
    """Discover the tree, name its modules, and (with the snapshot) find the tables that may be stale."""
    discovery = discover_sources(config.root, config.rules)
    rels = [source.rel for source in discovery.sources]
    packages = package_folders(rels)
    modules = {rel: module_name(rel, packages, config.root_name) for rel in rels}
    plan = Plan(config, discovery, modules)
    if use_snapshot:
        _apply_snapshot(plan)
    return plan


def _apply_snapshot(plan: Plan) -> None:
    layout = plan.config.layout
    previous = load_snapshot(layout.snapshot, versions_key())
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


def table_tasks(plan: Plan, builder: TableBuilder) -> Iterator[dict[str, Any]]:
    """One task per source file (only the candidates when the plan has a snapshot)."""
    versions = versions_key()
    for source in plan.discovery.sources:
        if plan.candidates is not None and source.rel not in plan.candidates:
            continue
        job = plan.job(source.rel, source.language)
        yield {
            "name": source.rel,
            "doc": f"symbol table of {source.rel}",
            "file_dep": [os.path.join(job.root, source.rel)],
            "targets": [job.table_path],
            "actions": [(builder.build_table, (job,))],
            "uptodate": [config_changed(f"module={job.module};{versions}")],
            "clean": True,
            "verbosity": 0,
        }


def aggregate_task(plan: Plan, name: str, target: str, action: Callable[..., Any]) -> dict[str, Any]:
    """An aggregate over every table: reruns only when a table it reads (or the set of tables) changed."""
    rels = plan.rels
    layout = plan.config.layout
    return {
        "doc": f"{name} of the whole tree ({os.path.basename(target)})",
        "file_dep": [layout.table_path(rel) for rel in rels],
        "targets": [target],
        "actions": [(action, (rels,))],
        "clean": True,
        "verbosity": 0,
    }


def doit_config(config: BuildConfig, reporter: Any = None) -> dict[str, Any]:
    """doit's settings, shared by `dodo.py` and `kwbuild build`."""
    settings: dict[str, Any] = {
        "dep_file": config.layout.doit_db,
        "backend": "sqlite3",
        "check_file_uptodate": ContentChecker,
        "continue": True,
        "verbosity": 0,
        "default_tasks": ["table", "manifest", "symbols", "state"],
    }
    if reporter is not None:
        settings["reporter"] = reporter
    return settings


def namespace(plan: Plan, builder: TableBuilder, reporter: Any = None) -> dict[str, Any]:
    """The task generators and DOIT_CONFIG, as a dodo module would hold them."""
    layout = plan.config.layout

    def task_table() -> Iterator[dict[str, Any]]:
        """Symbol table of each source file."""
        yield {"name": None, "doc": "symbol table of each source file"}
        yield from table_tasks(plan, builder)

    def task_manifest() -> dict[str, Any]:
        """The manifest index.json."""
        return aggregate_task(plan, "manifest", layout.manifest, builder.build_manifest)

    def task_symbols() -> dict[str, Any]:
        """The symbol map symbols.json."""
        return aggregate_task(plan, "symbols", layout.symbol_map, builder.build_symbol_map)

    def task_state() -> dict[str, Any]:
        """Save the digests the aggregates were built from (after every aggregate succeeded)."""
        return {
            "doc": "save the aggregates' digest store",
            "task_dep": ["manifest", "symbols"],
            "actions": [(builder.save_state, ())],
            "uptodate": [builder.state_is_saved],
            "verbosity": 0,
        }

    return {
        "task_table": task_table,
        "task_manifest": task_manifest,
        "task_symbols": task_symbols,
        "task_state": task_state,
        "DOIT_CONFIG": doit_config(plan.config, reporter),
    }


@dataclass
class BuildResult:
    plan: Plan
    builder: TableBuilder
    exit_code: int
    seconds: float


def run_build(config: BuildConfig, reporter: Any = None, full: bool = False) -> BuildResult:
    """Build the tree: plan, prefetch, run doit, remove what no longer has a source, save the snapshot."""
    started = time.perf_counter()
    layout = config.layout
    _prepare_output(config)
    gc.disable()
    try:
        plan = make_plan(config, use_snapshot=not full)
        builder = TableBuilder(layout, ContentCache(config.cache))
        if reporter is not None:
            reporter.plan = plan
        exit_code = _run_doit(plan, builder, reporter)
        _remove_stale_tables(plan, builder)
        if exit_code == 0:
            _save_snapshot(plan, set(builder.stats.vanished))
    finally:
        gc.enable()
    return BuildResult(plan, builder, exit_code, time.perf_counter() - started)


def _prepare_output(config: BuildConfig) -> None:
    try:
        config.layout.prepare()
    except OSError as error:
        raise UserError(f"cannot write to output folder {str(config.out)!r}: {error.strerror}") from None


def _run_doit(plan: Plan, builder: TableBuilder, reporter: Any) -> int:
    jobs = _prefetch_jobs(plan)
    if plan.config.jobs > 1 and len(jobs) >= MIN_JOBS_FOR_POOL:
        builder.prefetcher = Prefetcher(jobs, builder.cache, plan.config.jobs, builder.stats)
    try:
        loader = ModuleTaskLoader(namespace(plan, builder, reporter))
        code: int = DoitMain(loader, config_filenames=()).run(["run"])
        if builder.prefetcher is not None:
            builder.prefetcher.close()
    except BaseException:
        if builder.prefetcher is not None:
            builder.prefetcher.terminate()
        raise
    finally:
        builder.prefetcher = None
        builder.cache.close()
    if code not in (0, 1):
        raise BuildFailed(f"doit stopped with exit code {code}")
    return code


def _prefetch_jobs(plan: Plan) -> list[FileJob]:
    sources = plan.discovery.sources
    if plan.candidates is not None:
        sources = [s for s in sources if s.rel in plan.candidates]
    return [plan.job(s.rel, s.language) for s in sources]


def _remove_stale_tables(plan: Plan, builder: TableBuilder) -> None:
    """Delete the tables of sources that are gone (from the snapshot, or by a walk when there is none)."""
    layout = plan.config.layout
    if plan.snapshot is not None:
        stale = [layout.table_path(rel) for rel in plan.removed]
    else:
        expected = {layout.table_path(rel) for rel in plan.rels}
        stale = [path for path in _walk_files(layout.tables) if path not in expected]
    for path in stale:
        builder.stats.tables_removed += jsonio.remove_file(path)
        _prune_empty_folders(os.path.dirname(path), layout.tables)


def _walk_files(top: str) -> Iterator[str]:
    for folder, _dirs, files in os.walk(top):
        for name in files:
            yield os.path.join(folder, name)


def _prune_empty_folders(folder: str, stop: str) -> None:
    while folder.startswith(stop) and folder != stop:
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)


def _save_snapshot(plan: Plan, vanished: set[str]) -> None:
    files = {s.rel: (s.mtime_ns, s.size, plan.modules[s.rel]) for s in plan.discovery.sources if s.rel not in vanished}
    save_snapshot(plan.config.layout.snapshot, Snapshot(versions_key(), files))
