"""A build from start to end: lock the output folder, plan, run the task graph, clean up, save the snapshot.

The task graph itself (doit) is in `kwbuild.tasks`, loaded only when the plan shows that some task can be stale:
a build where nothing changed is answered from the snapshot alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kwbuild import jsonio
from kwbuild.config import BuildConfig
from kwbuild.errors import UserError
from kwbuild.jobs import BuildStats
from kwbuild.jsonio import TEMP_SUFFIX
from kwbuild.layout import Layout
from kwbuild.plan import (
    Plan,
    all_output_folders,
    drop_untouched,
    edited_outputs,
    make_plan,
    output_stamps,
    snapshot_versions,
)
from kwbuild.snapshot import Snapshot, newest, save_snapshot

log = logging.getLogger("kwbuild")


if TYPE_CHECKING:
    from kwbuild.builder import TableBuilder
    from kwbuild.cache import ContentCache
    from kwbuild.jobs import FileJob, Outcome
    from kwbuild.prefetch import ForkedPrefetcher


@dataclass
class BuildResult:
    plan: Plan
    stats: BuildStats
    exit_code: int
    seconds: float


def run_build(config: BuildConfig, reporter: Any = None, full: bool = False, last: bool = False) -> BuildResult:
    """Build the tree: plan, prefetch, run doit, remove what no longer has a source, save the snapshot.

    The collector is off during the build (millions of small objects, few cycles). `last`: the process ends
    after this build, so what the build allocated is frozen instead of scanned once by the collector (a full
    collection of a large tree's objects costs tenths of a second); a long-lived caller (`watch`) collects.

    When the snapshot proves that nothing changed since the last successful build (sources and output folders
    as it left them), every task is up to date and doit is not even loaded: the answer costs one stat per source
    file and three per folder."""
    started = time.perf_counter()
    _prepare_output(config)
    clean = not full and not os.path.exists(config.layout.running)
    lock = _begin(config.layout)
    gc.disable()
    succeeded = False
    first = _FirstEdit(config) if not full and _can_fork_jobs(config) else None
    try:
        if full:
            _remove_edited(config.layout, _edited_since_last_build(config.layout))
            _forget(config.layout)
        plan = make_plan(config, use_snapshot=not full, clean=clean, on_edit=first.start if first else None)
        _remove_edited(config.layout, plan.edited)
        if plan.docs_root_changed:  # a part of a global page set may be gone: make the sets again
            for page_set in GLOBAL_PAGE_SETS:
                jsonio.remove_file(config.layout.docs_file(f"{page_set}.md"))
        drop_untouched(plan)
        if plan.nothing_to_do:
            assert plan.snapshot is not None
            plan.errors = plan.snapshot.errors
            if plan.restated:  # nothing written: the last build's end still bounds kwbuild's writes, and its
                # output stamps are the plan's (no output folder moved; one moved since would only be checked)
                _save_snapshot(plan, set(), plan.snapshot.finished_ns, plan.snapshot.outputs)
            succeeded = True
            return BuildResult(plan, BuildStats(), 0, time.perf_counter() - started)
        early, finished = _early_tables(plan, first)  # started before doit is imported, to overlap its start
        try:
            from kwbuild.tasks import make_builders, run_doit

            _check_doit_db(config.layout)
            builders = make_builders(config)
            for outcome in finished:
                builders.tables.take_finished(outcome)
            if plan.trusted:
                builders.tables.store.suspects = builders.pages.unsure = plan.candidates
                builders.tables.trusted = True
        except BaseException:
            if early is not None:
                early.terminate()
            raise
        exit_code = run_doit(plan, builders, reporter, early)
        _remove_stale_outputs(plan, builders.tables)
        plan.errors = _files_with_errors(plan, builders.tables)
        if exit_code == 0:
            _save_snapshot(plan, set(builders.tables.stats.vanished))
            _record_usage(plan, builders.tables)
            succeeded = True
    finally:
        if first is not None:
            first.close()  # (a child not told to write yet writes nothing)
            if first.child is not None:
                first.child.terminate()  # a failed build's: a child handed over or waited for has already ended
        if last:
            gc.freeze()
        gc.enable()
        if succeeded:  # a build that failed or was killed leaves the marker: the next one checks everything
            jsonio.remove_file(config.layout.running)
        os.close(lock)
    return BuildResult(plan, builders.tables.stats, exit_code, time.perf_counter() - started)


def _can_fork_jobs(config: BuildConfig) -> bool:
    """Whether a few table jobs may run in forked children (`_early_tables`): not on one core, not on Dask."""
    return config.jobs >= 2 and config.executor != "dask" and hasattr(os, "fork")


class _FirstEdit:
    """The table job of the first file that the walk of the tree finds edited (its size changed since the last
    build), started at once in a forked child (`make_plan`'s `on_edit`): the parse of a large file (torch's
    `_inductor/ir.py`: ~0.12 s) then overlaps the rest of the walk and of the plan too.

    The child writes the table only when told to (`decide`, once the plan is made): until then, the plan checks
    the output folders for changes made by someone else, which a table written by kwbuild itself would look like.
    It is told through a pipe, read by `_tables_when_told` in the child."""

    def __init__(self, config: BuildConfig) -> None:
        self.config = config
        self.job: FileJob | None = None  # set with `child`
        self.child: ForkedPrefetcher[Any, Any] | None = None
        self._told: int | None = None  # the pipe's end that tells the child whether to write

    def start(self, job: FileJob) -> None:
        from kwbuild.cache import content_cache
        from kwbuild.prefetch import ForkedPrefetcher

        try:  # a process or pipe that cannot be made is no error: the plan's own jobs then run the file's
            go, told = os.pipe()
        except OSError:
            return
        try:
            self.child = ForkedPrefetcher([job], _tables_when_told, (content_cache(self.config), go, told))
            self.job, self._told = job, told
        except OSError:
            os.close(told)
        finally:
            os.close(go)

    def decide(self, plan: Plan) -> bool:
        """Tell the child to write the table if the plan's job for the file is the one it ran (not when the plan
        names the file's module otherwise, a package was added or removed, or has no such source: the file, found
        among the last build's newest, is now skipped). True when it writes."""
        job = self.job
        proceed = job is not None and job.rel in plan.modules and plan.job(job.rel, job.language) == job
        self.tell(proceed)
        return proceed

    def tell(self, proceed: bool) -> None:
        """Tell the child whether to write (once; closing the pipe unsaid tells it not to)."""
        if self._told is not None:
            with contextlib.suppress(OSError):
                os.write(self._told, b"1" if proceed else b"0")
            self.close()

    def close(self) -> None:
        if self._told is not None:
            os.close(self._told)
            self._told = None


def _tables_when_told(jobs: list[FileJob], context: tuple[ContentCache, int, int]) -> list[Outcome]:
    """The work of `_FirstEdit`'s child: `build_table_files`, but the tables are written only once the pipe
    `(go, told)` reads b"1" (nothing is written when it reads anything else or is closed). The child closes its
    copy of `told` first, so that the pipe closes if the parent dies."""
    from kwbuild.table_job import prepare_table_file

    cache, go, told = context
    os.close(told)
    pending: list[tuple[str, bytes]] = []
    writes = [prepare_table_file(job, cache, pending) for job in jobs]
    cache.put_many(pending)
    if os.read(go, 1) != b"1":
        return []
    return [write() for write in writes]


def _early_tables(plan: Plan, first: _FirstEdit | None) -> tuple[ForkedPrefetcher[Any, Any] | None, list[Outcome]]:
    """A build with a few candidates (an edit: too few for a pool) starts their table jobs in a forked child
    before doit is even imported, so that parsing a large file overlaps loading the task graph instead of
    following it (torch's `_inductor/ir.py`: ~0.15 s of parsing). None on one core, on Dask, and when the plan
    has no candidate or enough for the pool.

    The job `first` started is one of them, and its child takes the others, unless the plan names the file's
    module otherwise (a package added or removed) or takes the pool: its child is then waited for, and its
    outcome returned to be given to the file's task (or dropped, for another module)."""
    from kwbuild.cache import content_cache
    from kwbuild.prefetch import MIN_JOBS_FOR_POOL, ForkedPrefetcher
    from kwbuild.table_job import build_table_files

    candidates = plan.candidates
    few = _can_fork_jobs(plan.config) and candidates is not None and 0 < len(candidates) < MIN_JOBS_FOR_POOL
    jobs = plan.candidate_jobs() if few else []
    if first is None or first.child is None:
        return (ForkedPrefetcher(jobs, build_table_files, content_cache(plan.config)) if jobs else None), []
    if not (first.decide(plan) and first.job in jobs):
        return None, first.child.discard()  # a pool's build, or another module (then no outcome)
    first.child.add([job for job in jobs if job != first.job], build_table_files, content_cache(plan.config))
    return first.child, []


GLOBAL_PAGE_SETS = ("keywords", "imports")  # pages in parts: a lost part is rebuilt by rebuilding the set


def _edited_since_last_build(layout: Layout) -> list[str]:
    """`--full`: every output modified since the last successful build ended (a walk of every output folder)."""
    try:
        finished = jsonio.read_json(layout.snapshot)["finished_ns"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return edited_outputs(layout, all_output_folders(layout), finished) if isinstance(finished, int) else []


def _remove_edited(layout: Layout, paths: list[str]) -> None:
    """Outputs modified since the last build by something else than kwbuild (a hand edit): warn and delete them,
    so that this build makes them again. Only kwbuild's own kinds of output are touched."""
    out = str(layout.out)
    edited = [p for p in paths if _is_output_name(p[len(out) + 1 :])]
    if not edited:
        return
    shown = ", ".join(p[len(out) + 1 :] for p in edited[:5]) + (f" and {len(edited) - 5} more" * (len(edited) > 5))
    log.warning("%d output file(s) modified since the last build, not by kwbuild: %s; rebuilding", len(edited), shown)
    for path in edited:
        jsonio.remove_file(path)
        name = os.path.basename(path)
        for page_set in GLOBAL_PAGE_SETS:
            if name.startswith(f"{page_set}-") and os.path.dirname(path) == layout.docs:
                jsonio.remove_file(layout.docs_file(f"{page_set}.md"))


def _is_output_name(name: str) -> bool:
    top, _, rest = name.partition("/")
    if not rest:
        return name in ("index.json", "symbols.json", "changes.json", "CHANGES.md")
    return (top in ("tables", "links") and rest.endswith(".json")) or (top == "docs" and rest.endswith(".md"))


def _files_with_errors(plan: Plan, tables: TableBuilder) -> int:
    """How many files have recorded errors: from the digests when an aggregate looked at them, else unchanged."""
    view = tables.store.current_view()
    complete = view is not None and (view.complete or tables.store.saved_complete)  # no base: all digests new
    if view is not None and plan.trusted and plan.snapshot is not None and not complete:  # last count + changes
        changes = {**tables.store.saved_changes, **view.changes}
        before = sum(1 for old, _new in changes.values() if old is not None and old.errors)
        after = sum(1 for _old, new in changes.values() if new is not None and new.errors)
        return plan.snapshot.errors - before + after
    if view is not None:
        return sum(1 for digest in view.digests if digest.errors)
    if plan.snapshot is not None:
        return plan.snapshot.errors
    try:
        manifest = jsonio.read_json(plan.config.layout.manifest)
        return int(manifest.get("totals", {}).get("files_with_errors", 0))
    except (OSError, ValueError, AttributeError):
        return 0


def _check_doit_db(layout: Layout) -> None:
    """A doit database that cannot be read is only lost state: warn, remove it, and let doit start a new one."""
    if not os.path.exists(layout.doit_db):
        return
    try:
        with contextlib.closing(sqlite3.connect(layout.doit_db)) as connection:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        log.warning("doit's database %s is unreadable (%s): starting a new one", layout.doit_db, error)
        jsonio.remove_file(layout.doit_db)


def _record_usage(plan: Plan, tables: TableBuilder) -> None:
    """Tell the content cache which entries this tree uses (for `kwbuild cache prune --keep-builds`).

    Only after a build that looked anything up: a no-op build writes nothing, not even there."""
    from kwbuild.cache import key_tail
    from kwbuild.cache_admin import record_usage
    from kwbuild.extract import EXTRACTORS

    stats = tables.stats
    if not (stats.parsed or stats.tables_written or stats.tables_removed):
        return  # the same tables as the last build: the same entries
    view = tables.view(plan.rels)
    tails = {name: key_tail(name, extractor.VERSION) for name, extractor in EXTRACTORS.items()}
    keys = [digest + tails[language] for digest, language in view.content_keys()]  # each one's `cache_key`
    counts = {"parsed": stats.parsed, "cache_hits": stats.cache_hits, "files": len(plan.rels)}
    record_usage(plan.config.cache, keys, counts)


def _forget(layout: Layout) -> None:
    """`--full`: forget doit's state, the snapshot and the digest store; every file is checked again."""
    for path in (layout.doit_db, layout.snapshot):
        jsonio.remove_file(path)
    shutil.rmtree(layout.digests, ignore_errors=True)


def _begin(layout: Layout) -> int:
    """Take the output folder's lock (one build at a time), mark the build as running, and if the previous one
    never finished (killed), sweep the temp files it left. Returns the lock's file descriptor."""
    lock = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o644)
    if not _take_lock(lock, layout.running):
        os.close(lock)
        pid = _recorded_pid(layout.running)
        holder = f" (process {pid})" if pid is not None else ""
        raise UserError(f"another build is running on {str(layout.out)!r}{holder}; try again when it ends")
    if os.path.exists(layout.running):
        for path in _walk_files(str(layout.out)):
            if path.endswith(TEMP_SUFFIX):
                jsonio.remove_file(path)
    jsonio.atomic_write(layout.running, f"{os.getpid()}\n".encode())
    return lock


LEFTOVERS_WAIT = 5.0
"""How long a build waits for the lock when the build that holds it is gone (see `_take_lock`), in seconds."""


def _take_lock(lock: int, running: str) -> bool:
    """Take the lock at once, or, when the build that holds it was killed (the process its marker names is
    gone), once the processes it forked are gone too: they hold the lock through the file descriptor they
    inherited (on Linux they are killed with their parent, `prefetch.die_with_parent`, though not always before
    the next build starts). A build that runs (the marker names a live process) gets a message at once."""
    deadline = time.monotonic() + LEFTOVERS_WAIT
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        pid = _recorded_pid(running)
        if pid is None or _alive(pid) or time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _recorded_pid(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def _prepare_output(config: BuildConfig) -> None:
    try:
        config.layout.prepare()
    except OSError as error:
        raise UserError(f"cannot write to output folder {str(config.out)!r}: {error.strerror}") from None


def _remove_stale_outputs(plan: Plan, tables: TableBuilder) -> None:
    """Delete the outputs of sources and folders that are gone (a walk of the tables when there is no snapshot)."""
    from kwbuild.render.markdown import docs_page, folder_page, kw_page

    layout = plan.config.layout
    if plan.snapshot is not None:
        stale = [layout.table_path(rel) for rel in plan.removed]
    else:
        expected = {layout.table_path(rel) for rel in plan.rels}
        stale = [path for path in _walk_files(layout.tables) if path not in expected]
    for table in stale:
        rel = table[len(layout.tables) + 1 : -len(".json")]
        tables.stats.tables_removed += jsonio.remove_file(table)
        for path in (layout.links_path(rel), layout.docs_file(kw_page(rel)), layout.docs_file(docs_page(rel))):
            jsonio.remove_file(path)
    removed_folders = plan.removed_folders
    for folder in removed_folders:
        jsonio.remove_file(layout.docs_file(folder_page(folder)))
    if stale or removed_folders:
        for top in (layout.tables, layout.links, layout.docs):
            _remove_empty_folders(top)


def _walk_files(top: str) -> Iterator[str]:
    for folder, _dirs, files in os.walk(top):
        for name in files:
            yield os.path.join(folder, name)


def _remove_empty_folders(top: str) -> None:
    for folder, dirs, files in os.walk(top, topdown=False):
        if folder != top and not dirs and not files:
            try:
                os.rmdir(folder)
            except OSError:
                continue


def _save_snapshot(
    plan: Plan, vanished: set[str], finished_ns: int | None = None, stamps: dict[str, int] | None = None
) -> None:
    previous, sources, modules = plan.snapshot, plan.discovery.sources, plan.modules
    if previous is not None and plan.candidates is not None and not (vanished or plan.added or plan.removed):
        # the same files: only those whose stat moved (candidates, and touched files) change their entry
        files, moved = dict(previous.files), plan.candidates.union(plan.restated)
        for source in sources:
            if source.rel in moved:
                files[source.rel] = (source.mtime_ns, source.size, modules[source.rel])
        recent = newest(files, moved.union(previous.recent))  # (no other file's mtime moved)
    else:
        files = {s.rel: (s.mtime_ns, s.size, modules[s.rel]) for s in sources if s.rel not in vanished}
        recent = newest(files)
    stamps = output_stamps(plan.config.layout, plan.folders) if stamps is None else stamps
    readmes = plan.discovery.readmes
    finished = time.time_ns() if finished_ns is None else finished_ns
    snapshot = Snapshot(snapshot_versions(plan.config), files, stamps, plan.errors, finished, readmes, recent)
    save_snapshot(plan.config.layout.snapshot, snapshot)
