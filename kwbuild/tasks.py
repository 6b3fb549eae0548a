"""The task graph: the only module that knows doit.

Per source file: `table:<path>` (its symbol table) and `page:<path>` (its keyword and documentation pages).
Per folder: `folder:<path>` (its index page). Aggregates over the tree: `manifest`, `symbols`, `links` (import
resolution, written per file), `keywords`, `modules`, `imports` (global pages), and `state` (saves the digests
the aggregates were built from). Each task has exactly the files it reads as `file_dep` and what it writes as
`targets`. The same generators serve plain `doit` (through `dodo.py`) and `kwbuild build` (through doit's API),
with one database per output folder.

`kwbuild build` (see `kwbuild.build`) adds two things around doit, never in place of it: the plan's stat
snapshot, so that doit is only given the per-file tasks that can be stale (page and folder tasks are created once
the links are known; in a trusted build the aggregates check what this build rewrote instead of stat'ing every
table), and process pools that run the heavy part of those tasks ahead of doit's serial walk.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import doit.plugin
import orjson
from doit import create_after
from doit.action import PythonAction
from doit.cmd_base import ModuleTaskLoader
from doit.control import ExecNode, TaskControl, TaskDispatcher
from doit.dependency import FileChangedChecker, SqliteDB
from doit.doit_cmd import DoitMain
from doit.task import IOConfig, Task, create_action

from kwbuild.builder import TableBuilder
from kwbuild.cache import content_cache
from kwbuild.config import BuildConfig
from kwbuild.discover import README_NAMES
from kwbuild.errors import BuildFailed
from kwbuild.extract import versions_key
from kwbuild.heap import release_free_memory
from kwbuild.pages import PageBuilder, render_file_pages
from kwbuild.plan import Plan, build_versions, page_stale, stale_folders
from kwbuild.prefetch import MIN_JOBS_FOR_POOL, ForkedPrefetcher, Prefetcher, start_pool
from kwbuild.render.context import PageContext
from kwbuild.render.markdown import folder_page
from kwbuild.table_job import build_table_files

log = logging.getLogger("kwbuild")

AGGREGATES = ("links", "manifest", "symbols", "keywords", "modules", "imports")


class StateCodec:
    """How doit's database stores a task's state (its `codec_cls`): orjson instead of the standard library's
    json (an aggregate's state in a build without a snapshot is ~1.2 MB: 11,771 file deps), and only the file
    deps the task has now. doit never forgets a file dep: after a build without a snapshot, where an aggregate
    depends on every table, every later build would decode and re-encode its 11,771 stale entries (~0.25 s
    of a one-file edit). Keys ending in ":" are doit's own ("deps:", "result:", "_values_:", ...)."""

    def encode(self, data: Any) -> str:
        deps = data.get("deps:") if isinstance(data, dict) else None
        if isinstance(deps, list | tuple):
            current = set(deps)
            data = {key: value for key, value in data.items() if key in current or key.endswith(":")}
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()

    def decode(self, data: str) -> Any:
        return orjson.loads(data)


class StateDB(SqliteDB):  # type: ignore[misc]
    """doit's sqlite3 backend (the same file and rows: plain `doit` reads what it wrote), which answers from memory
    when the database held no row when opened: a fresh output folder's ~24,000 tasks then cost no query each
    (~0.2 s on torch). doit writes its rows only when the run ends, so the database stays empty until then.

    doit reads a task's row as soon as it considers the task, to ask whether `doit ignore` marked it; this
    backend answers that from the row's text, and decodes the row only when another of its keys is asked for.
    An aggregate of a trusted build that must run is asked nothing else (see `SavedValue`): its row is then
    replaced without having been decoded, as doit replaces any row it sets before reading. After a build without
    a snapshot, each aggregate's row holds the state of the 11,771 tables it read (1.2-2 MB on torch, with the
    output folder's paths): the first edit after such a build decoded six of them, and re-encoded them without
    those entries (~0.1 s)."""

    def __init__(self, name: str, codec: Any, *, module_name: str | None = None) -> None:
        super().__init__(name, codec, module_name=module_name)
        self._empty = self._conn.execute("select 1 from doit limit 1").fetchone() is None
        self._texts: dict[str, str] = {}  # rows read as text, not decoded yet

    def get(self, task_id: str, dependency: str) -> Any:
        if dependency == "ignore:" and task_id not in self._cache and not self._empty:
            text = self._texts.get(task_id)
            if text is None:
                row = self._conn.execute("select task_data || '' as text from doit where task_id=?", (task_id,))
                text = self._texts[task_id] = (row.fetchone() or {}).get("text") or ""
            if '"ignore:"' not in text:
                return None
        return super().get(task_id, dependency)

    def set(self, task_id: str, dependency: str, value: Any) -> None:
        if task_id not in self._cache:  # (doit starts the row afresh)
            self._texts.pop(task_id, None)
        super().set(task_id, dependency, value)

    def _get_task_data(self, task_id: str) -> Any:
        if self._empty:
            return {}
        text = self._texts.pop(task_id, None)
        if text is None:
            return super()._get_task_data(task_id)
        return self.codec.decode(text) if text else {}

    def in_(self, task_id: str) -> bool:
        return task_id in self._cache if self._empty else bool(super().in_(task_id))

    def remove(self, task_id: str) -> None:
        self._texts.pop(task_id, None)
        super().remove(task_id)

    def remove_all(self) -> None:
        self._texts.clear()
        super().remove_all()


class StatChecker(FileChangedChecker):  # type: ignore[misc]
    """doit's file check by (mtime_ns, size), with a vanished file counted as changed instead of an error.

    No hashing: every output is rewritten only when its bytes change, so an output's stat changes exactly when
    its content does; a source whose stat changed but not its bytes (touch, checkout) reruns its table task,
    which finds the table unchanged in the content cache and writes nothing, so nothing downstream runs.

    Each file is stat'ed once per build (doit makes one checker per run): doit stats a task's file deps before
    it runs and again after, and a table is a dep of six aggregates and of its page and folder tasks (~140,000
    stats of ~35,000 files on the torch tree, ~1 s of the main process). Once stat'ed, a file cannot change
    within the build: a task runs after the producers of its deps (implicit task deps by target), and nothing
    rewrites a file another task read. A source edited during the build keeps the stat from before its table
    was made, so the next build sees the edit.
    """

    def __init__(self) -> None:
        super().__init__()
        self._stats: dict[str, tuple[int, int]] = {}

    def info(self, file_path: str) -> tuple[int, int] | None:
        """(mtime_ns, size): only what the check needs (doit keeps what this returns: a whole `stat_result`
        per dependency costs ~0.8 KB per file of the tree). A missing file is not remembered."""
        known = self._stats.get(file_path)
        if known is not None:
            return known
        try:
            info = os.stat(file_path)
        except OSError:
            return None
        known = self._stats[file_path] = (info.st_mtime_ns, info.st_size)
        return known

    def check_modified(self, file_path: str, file_stat: tuple[int, int] | None, state: Any) -> bool:
        if file_stat is None or not isinstance(state, list | tuple) or len(state) != 2:
            return True
        return bool(file_stat[0] != state[0] or file_stat[1] != state[1])

    def get_state(self, dep: str, current_state: Any) -> tuple[int, int] | None:
        state = self.info(dep) or (0, -1)
        return None if current_state is not None and tuple(current_state) == state else state


class _ValueSaver:
    """Saves a value at each successful run of the task (doit's `value_savers`), for `SameValue` to check."""

    def __init__(self, value: str) -> None:
        self.value = value

    def configure_task(self, task: Any) -> None:
        task.value_savers.append(self._saved_value)

    def _saved_value(self) -> dict[str, str]:
        return {"_kwbuild_value": self.value}


class SameValue(_ValueSaver):
    """doit `uptodate`: true while the value equals the one saved at the task's last successful run.

    Like `doit.tools.config_changed` for a string, with its signature computed once (doit inspects the
    signature of every `uptodate` callable at every status check).
    """

    __signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in ("task", "values")]
    )

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        return bool(values.get("_kwbuild_value") == self.value)


class SavedValue(_ValueSaver):
    """doit `uptodate` that saves the value as `SameValue` does but checks nothing: checking would decode the
    task's row, which an aggregate of a trusted build that must run does not need (see `Unchanged`, `StateDB`)."""

    __signature__ = inspect.Signature([])

    def __call__(self) -> None:
        return None  # doit ignores an `uptodate` that returns None


_IO = IOConfig({})  # what doit makes for a task without `io`; only read: one for every task


class _Action(PythonAction):  # type: ignore[misc]
    """doit's python-action for kwbuild's own callables, which take none of the arguments doit can add (`task`,
    `targets`, `dependencies`, `changed`, command-line options): doit looks for them in the callable's signature
    at every execution (~15 µs; a fresh build of torch runs ~25,000 per-file tasks)."""

    def _prepare_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = self.kwargs
        return kwargs


class SlimTask(Task):  # type: ignore[misc]
    """doit's `Task` with its attributes in slots. `Task.__init__` sets 34 attributes, more than the 30 keys
    CPython 3.11 shares between the instance dicts of a class, so each task had a dict of its own (~1.3 KB).
    The per-file tasks are made as these (see `_subtasks`): the torch tree's 24,161 tasks take ~31 MB less in
    the main process, and load in 0.32 s instead of 0.69 s. Pickled as doit pickles a task (`doit -n N`)."""

    __slots__ = (
        "_action_instances", "_actions", "_remove_targets", "calc_dep", "cfg_values", "clean_actions",
        "creator_params", "custom_title", "dep_changed", "doc", "executed", "file_dep", "getargs", "has_subtask",
        "io", "loader", "meta", "name", "options", "params", "pos_arg", "pos_arg_val", "result", "setup_tasks",
        "subtask_of", "targets", "task_dep", "teardown", "uptodate", "value_savers", "values", "verbosity",
        "watch", "wild_dep",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        actions: list[Any] | None,
        doc: str | None = None,
        file_dep: Iterable[str] = (),
        targets: Iterable[str] = (),
        uptodate: Iterable[Any] = (),
        clean: bool | Sequence[Any] = (),
        verbosity: int | None = None,
        subtask_of: str | None = None,
        has_subtask: bool = False,
    ) -> None:
        """`Task.__init__` for the arguments kwbuild gives, without its checks of each argument's type (which were
        half of the time of making a task: they are for hand-written dodo files). Sets every attribute as it does
        (checked by a test against `Task`)."""
        self.name = name
        self.params: tuple[Any, ...] = ()
        self.creator_params: list[Any] = []
        self.options = None
        self.pos_arg = None
        self.pos_arg_val = None
        self.setup_tasks: list[str] = []
        self.io = _IO
        self._action_instances: list[Any] | None = None
        self._actions = [] if actions is None else list(actions)
        self.dep_changed = None
        self.file_dep = set(file_dep)
        self.task_dep: list[str] = []
        self.wild_dep: list[str] = []
        self.calc_dep: set[str] = set()
        self.loader = None
        self.getargs: dict[str, Any] = {}
        self.value_savers: list[Any] = []
        self.uptodate = self._init_uptodate(list(uptodate))  # after `value_savers`: `SameValue` adds to them
        self.targets = list(targets)
        self.subtask_of = subtask_of
        self.has_subtask = has_subtask
        self.result = None
        self.values: dict[str, Any] = {}
        self.verbosity = verbosity
        self.custom_title = None
        self.cfg_values = None
        self._remove_targets = clean is True
        self.clean_actions = () if isinstance(clean, bool) else [create_action(a, self, "clean") for a in clean]
        self.teardown: list[Any] = []
        self.doc = self._init_doc(doc)
        self.watch: tuple[str, ...] = ()
        self.meta = None
        self.executed = False

    @property
    def actions(self) -> list[Any]:
        """doit's `Task.actions` (made on first use), as `_Action`s: kwbuild's are `_action` pairs."""
        if self._action_instances is None:
            self._action_instances = [_Action(function, args, task=self) for function, args in self._actions]
        return self._action_instances

    def _state(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in self.__slots__ if hasattr(self, name)}
        return {**self.__dict__, **state}  # an attribute a later doit adds lands in the dict: kept too

    def __getstate__(self) -> dict[str, Any]:
        return {**self._state(), "uptodate": None, "value_savers": None, "_action_instances": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.update_from_pickle(state)

    def pickle_safe_dict(self) -> dict[str, Any]:
        unpicklable = ("_actions", "_action_instances", "clean_actions", "teardown", "custom_title", "value_savers")
        return {name: value for name, value in self._state().items() if name not in (*unpicklable, "uptodate")}

    def update_from_pickle(self, pickle_obj: dict[str, Any]) -> None:
        for name, value in pickle_obj.items():
            setattr(self, name, value)


def _subtasks(basename: str, doc: str, tasks: Iterable[dict[str, Any]]) -> Iterator[Task]:
    """The group task and its subtasks, as doit makes them from the dicts a generator yields, but as `SlimTask`s."""
    group = SlimTask(basename, None, doc=doc, has_subtask=True)
    yield group
    for fields in tasks:
        task = SlimTask(f"{basename}:{fields.pop('name')}", subtask_of=basename, **fields)
        group.task_dep.append(task.name)
        yield task


def _add_implicit_task_dep(targets: dict[str, str], task: Any, deps_list: list[str]) -> None:
    """doit's own version tests membership in a list: O(files x deps) for an aggregate task."""
    known = set(task.task_dep)
    for dep in deps_list:
        producer = targets.get(dep)
        if producer is not None and producer not in known:
            known.add(producer)
            task.task_dep.append(producer)


TaskControl.add_implicit_task_dep = staticmethod(_add_implicit_task_dep)

_update_waiting = TaskDispatcher._update_waiting
_FINISHED_NODE: Final = {"wait_run": frozenset(), "wait_run_calc": frozenset(), "waiting_me": frozenset(),
                         "calc_dep": frozenset(), "ancestors": (), "bad_deps": (), "ignored_deps": ()}  # fmt: skip


def _update_waiting_and_release(dispatcher: TaskDispatcher, processed: ExecNode | None) -> None:
    """doit's `_update_waiting`, then a finished task's node lets go of its seven containers (~1 KB: its tasks
    waited for, waiting for it, ancestors, failed parents...): doit reads them only while the task is waiting or
    running (it adds to `waiting_me` only while `run_status` is None or "run"), and keeps every node to the end
    of the build (the torch tree: ~24,000, ~25 MB at the build's peak)."""
    _update_waiting(dispatcher, processed)
    if processed is not None and processed.run_status not in (None, "run"):
        vars(processed).update(_FINISHED_NODE)


TaskDispatcher._update_waiting = _update_waiting_and_release


def _action(method: Callable[..., Any], *args: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """A doit python-action: a per-file task runs it as an `_Action`; an aggregate, made by doit, as doit's own,
    which inspects the callable's signature at every execution (computed once here)."""
    function: Any = getattr(method, "__func__", method)
    if "__signature__" not in function.__dict__:
        function.__signature__ = inspect.signature(function)
    return method, args


@dataclass
class Builders:
    tables: TableBuilder
    pages: PageBuilder


def make_builders(config: BuildConfig) -> Builders:
    layout = config.layout
    tables = TableBuilder(layout, content_cache(config))
    ctx = PageContext(source_url=config.source_url, include_source=config.include_source, source_text=None)
    return Builders(tables, PageBuilder(layout, str(config.root), tables.view, tables.stats, ctx))


# --- task definitions --------------------------------------------------------------------------------------------


def table_tasks(plan: Plan, builders: Builders) -> Iterator[dict[str, Any]]:
    """One task per source file (only the candidates when the plan has a snapshot)."""
    versions = f"{versions_key()};max_size={plan.config.max_file_size}"
    for source in plan.discovery.sources:
        if plan.candidates is not None and source.rel not in plan.candidates:
            continue
        job = plan.job(source.rel, source.language)
        yield {
            "name": source.rel,
            "doc": f"symbol table of {source.rel}",
            "file_dep": [os.path.join(job.root, source.rel)],
            "targets": [job.table_path],
            "actions": [_action(builders.tables.build_table, job)],
            "uptodate": [SameValue(f"module={job.module};{versions}")],
            "clean": True,
            "verbosity": 0,
        }


def page_tasks(plan: Plan, builders: Builders, rels: list[str]) -> Iterator[dict[str, Any]]:
    """One task per source file for both its pages."""
    layout = plan.config.layout
    versions = build_versions(plan.config)
    for rel in rels:
        job = builders.pages.job(rel)
        yield {
            "name": rel,
            "doc": f"keyword and documentation pages of {rel}",
            "file_dep": [layout.table_path(rel), layout.links_path(rel)],
            "targets": [job.kw_path, job.docs_path],
            "actions": [_action(builders.pages.build_pages, job)],
            "uptodate": [SameValue(versions)],
            "clean": True,
            "verbosity": 0,
        }


def folder_tasks(plan: Plan, builders: Builders, folders: list[str]) -> Iterator[dict[str, Any]]:
    """One task per folder for its index page."""
    layout = plan.config.layout
    versions = build_versions(plan.config)
    for folder in folders:
        files = plan.folders[folder]
        subs = plan.subfolders[folder]
        deps = [layout.table_path(rel) for rel in files] + [layout.links_path(rel) for rel in files]
        deps += [layout.table_path(p) for p in _subfolder_inits(plan, subs)]
        deps += _subfolder_readmes(plan, subs)
        counted = [(sub, plan.file_counts[sub]) for sub in subs]
        counts = ",".join(f"{sub}={n}" for sub, n in counted)
        yield {
            "name": folder or ".",
            "doc": f"folder index of {folder or 'the root'}",
            "file_dep": deps,
            "targets": [layout.docs_file(folder_page(folder))],
            "actions": [_action(builders.pages.build_folder, folder, files, counted, plan.rels)],
            "uptodate": [SameValue(f"{versions};{counts}")],
            "clean": True,
            "verbosity": 0,
        }


def _subfolder_inits(plan: Plan, subs: list[str]) -> list[str]:
    known = plan.modules  # a dict by path: a set of the tree's files, without building one per folder
    return [p for sub in subs for p in (f"{sub}/__init__.py", f"{sub}/__init__.pyi") if p in known]


def _subfolder_readmes(plan: Plan, subs: list[str]) -> list[str]:
    root = str(plan.config.root)
    return [path for sub in subs for name in README_NAMES if os.path.isfile(path := os.path.join(root, sub, name))]


def aggregate_task(
    name: str, deps: list[str], targets: list[str], action: Callable[..., Any], rels: list[str], versions: str
) -> dict[str, Any]:
    """A task over the whole tree: reruns only when a file it reads (or the set of files) changed."""
    return {
        "doc": f"{name} of the whole tree",
        "file_dep": deps,
        "targets": targets,
        "actions": [_action(action, rels)],
        "uptodate": [SameValue(versions)],
        "clean": True,
        "verbosity": 0,
    }


class Unchanged:
    """doit `uptodate` of an aggregate in a trusted build: true when no input of the aggregate changed.

    Trusted (see `Plan.trusted`): the last build succeeded and no output folder changed since, so a table that
    this build did not rewrite is the one the aggregates were last built from; only a rewritten, added or removed
    table (or, for the aggregates of links, a rewritten links file) can make one stale.
    """

    def __init__(self, plan: Plan, builders: Builders, reads_links: bool) -> None:
        self.plan = plan
        self.builders = builders
        self.reads_links = reads_links

    def __call__(self) -> bool:
        stats, plan = self.builders.tables.stats, self.plan
        if stats.vanished or plan.added or plan.removed:
            return False
        return not (self.builders.pages.links_written if self.reads_links else stats.tables_written)


def _links_known(plan: Plan, builders: Builders) -> None:
    """The links task ran or was up to date: in `kwbuild build` (page tasks created after it), start rendering
    the pages on the pool now (once: see `_prefetch_pages`; the links task starts it itself when it runs)."""
    if plan.candidates is not None and builders.pages.on_links is not None:
        builders.pages.on_links()


def _links_after_tables(builders: Builders, release: bool, rels: list[str]) -> dict[str, Any]:
    """The links action, the table jobs' pool stopped first: every table task has run (the links task depends on
    them all), and the pool's idle workers held ~110 MB (PSS, torch, warm cache) through the links phase. With
    `release`, what the table phase freed is given back first (see `kwbuild.heap`)."""
    _stop_table_jobs(builders)
    if release:
        release_free_memory()
    return builders.pages.build_links(rels)


def _stop_table_jobs(builders: Builders) -> None:
    tables = builders.tables
    if tables.prefetcher is not None:
        tables.prefetcher.close()
        tables.prefetcher = None


def _after_links(plan: Plan, builders: Builders, action: Callable[[list[str]], dict[str, Any]], rels: list[str]) -> Any:
    """`action(rels)` of an aggregate of pages, the page pool started first (see `_links_known`)."""
    _links_known(plan, builders)
    return action(rels)


def planned_pages(plan: Plan, builders: Builders, decided: dict[str, bool] | None = None) -> list[str]:
    """The files whose page tasks this build creates (once the links are written), in path order: by
    `page_wanted`, or as `decided` when the links task wrote each file's links (see `_PageStream`; a file it did
    not link, a source gone during the build, by `page_wanted`: its page task removes its pages)."""
    wanted, written, decided = page_wanted(plan), set(builders.pages.links_written), decided or {}
    return [rel for rel in plan.rels if (decided[rel] if rel in decided else wanted(rel, rel in written))]


def page_wanted(plan: Plan) -> Callable[[str, bool], bool]:
    """Whether a file's page task is created, given whether the links task wrote its links: in a trusted build,
    those of the candidates and of the files whose links changed; otherwise, when every file is a candidate,
    every one; else those whose pages are missing or older than their inputs (`plan.page_stale`)."""
    candidates, layout = plan.candidates, plan.config.layout
    if candidates is None:
        return lambda rel, written: True
    if plan.trusted:
        return lambda rel, written: written or rel in candidates
    return lambda rel, written: page_stale(layout, rel)


def namespace(plan: Plan, builders: Builders, reporter: Any = None) -> dict[str, Any]:
    """The task generators and DOIT_CONFIG, as a dodo module would hold them."""
    layout = plan.config.layout
    rels = plan.rels
    # a trusted build's aggregates depend on tasks, not on every table (see `Unchanged`), and their targets all
    # exist (no output folder changed since the last build that made them): no list of 11,771 paths to stat
    trusted = plan.trusted
    tables = [] if trusted else [layout.table_path(rel) for rel in rels]
    links = [] if trusted else [layout.links_path(rel) for rel in rels]
    docs = layout.docs_file
    versions = build_versions(plan.config)
    release = _many_pages_likely(plan)  # a large build (an edit's aggregates peak low: not worth ~3 ms)

    def task_table() -> Iterator[Task]:
        yield from _subtasks("table", "symbol table of each source file", table_tasks(plan, builders))

    def aggregate(
        name: str, deps: list[str], targets: list[str], action: Callable[..., Any], reads_links: bool = False
    ) -> dict[str, Any]:
        if not plan.trusted:
            task = aggregate_task(name, deps, targets, action, rels, versions)
        else:  # the inputs are unchanged unless this build rewrote one, which `Unchanged` knows without a stat;
            # the versions are those of the last build, which made its snapshot under them (see `SavedValue`)
            task = aggregate_task(name, [], targets, action, rels, versions)
            task["task_dep"] = ["table", "links"] if reads_links else ["table"]
            task["uptodate"] = [Unchanged(plan, builders, reads_links), SavedValue(versions)]
        if release:  # what its peak freed, given back (see kwbuild.heap)
            task["actions"].append(_action(release_free_memory))
        return task

    # doit runs tasks in the order their generators are defined: the links first, since the page pool starts
    # rendering as they are written, each file's pages right after its links (see `_PageStream`), and goes on
    # while this process makes the manifest, the symbol map...
    def task_links() -> dict[str, Any]:
        return aggregate("links", tables, links, functools.partial(_links_after_tables, builders, release))

    def task_manifest() -> dict[str, Any]:
        return aggregate("manifest", tables, [layout.manifest], builders.tables.build_manifest)

    def task_symbols() -> dict[str, Any]:
        return aggregate("symbols", tables, [layout.symbol_map], builders.tables.build_symbol_map)

    def pages_aggregate(
        name: str, deps: list[str], targets: list[str], action: Callable[..., Any], reads_links: bool = False
    ) -> dict[str, Any]:
        """An aggregate of pages; in `kwbuild build`, after the links task and starting the page pool first (the
        links may have been up to date: nothing started it then, and these pages would render before it)."""
        if plan.candidates is None:
            return aggregate(name, deps, targets, action, reads_links)
        task = aggregate(name, deps, targets, functools.partial(_after_links, plan, builders, action), reads_links)
        task["task_dep"] = list(dict.fromkeys([*task.get("task_dep", []), "links"]))
        return task

    def task_keywords() -> dict[str, Any]:
        return pages_aggregate("keywords", tables, [docs("keywords.md")], builders.pages.build_keywords)

    def task_modules() -> dict[str, Any]:
        return pages_aggregate("modules", tables, [docs("modules.md")], builders.pages.build_modules)

    def task_imports() -> dict[str, Any]:
        return pages_aggregate("imports", links, [docs("imports.md")], builders.pages.build_imports, reads_links=True)

    def planned() -> list[str]:
        """The files whose pages this build renders."""
        _links_known(plan, builders)  # in `kwbuild build`, these generators run after the links task
        pages = builders.pages.planned
        return pages if pages is not None else planned_pages(plan, builders)

    # the folder indexes before the pages: this process renders them while the page pool finishes the pages
    def task_folder() -> Iterator[Task]:
        folders = folder_tasks(plan, builders, stale_folders(plan, planned()))
        yield from _subtasks("folder", "index page of each folder", folders)

    def task_page() -> Iterator[Task]:
        pages = page_tasks(plan, builders, planned())
        yield from _subtasks("page", "keyword and documentation pages of each source file", pages)

    def task_state() -> dict[str, Any]:
        return {
            "doc": "save the digests the aggregates were built from",
            "task_dep": list(AGGREGATES),
            "actions": [_action(builders.tables.save_state)],
            "uptodate": [builders.tables.state_is_saved],
            "verbosity": 0,
        }

    if plan.candidates is not None:  # kwbuild build: folder and page tasks once the links are known
        task_folder = create_after(executed="links")(task_folder)
        task_page = create_after(executed="links")(task_page)
    generators = {
        "task_table": task_table,
        "task_manifest": task_manifest,
        "task_symbols": task_symbols,
        "task_links": task_links,
        "task_keywords": task_keywords,
        "task_modules": task_modules,
        "task_imports": task_imports,
        "task_folder": task_folder,
        "task_page": task_page,
        "task_state": task_state,
    }
    return {**generators, "DOIT_CONFIG": doit_config(plan.config, reporter)}


def doit_config(config: BuildConfig, reporter: Any = None) -> dict[str, Any]:
    """doit's settings, shared by `dodo.py` and `kwbuild build`."""
    settings: dict[str, Any] = {
        "dep_file": config.layout.doit_db,
        "backend": "sqlite3",
        "check_file_uptodate": StatChecker,
        "codec_cls": StateCodec,
        "continue": True,
        "verbosity": 0,
        "default_tasks": ["table", *AGGREGATES, "folder", "page", "state"],
    }
    if reporter is not None:
        settings["reporter"] = reporter
    return settings


class _Freshen:
    """Wraps the reporter: when doit finds a page or folder task up to date, its targets' mtimes are brought to
    now, so that the plan's "page older than its inputs" check (see `plan.page_stale`) agrees with doit next time
    (a page whose inputs changed without changing its bytes keeps its old mtime otherwise)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def skip_uptodate(self, task: Any) -> None:
        if task.name.startswith(("page:", "folder:")):
            for target in task.targets:
                with contextlib.suppress(OSError):
                    os.utime(target)
        if self._inner is not None:
            self._inner.skip_uptodate(task)


# --- running doit ------------------------------------------------------------------------------------------------


def run_doit(plan: Plan, builders: Builders, reporter: Any, early: ForkedPrefetcher[Any, Any] | None = None) -> int:
    """Run doit over the plan's tasks, with the pools that prefetch their heavy part; doit's exit code.

    `early`: the table jobs `kwbuild.build` started before doit was imported; closed or terminated here."""
    tables = builders.tables
    planned = [] if early is not None else plan.candidate_jobs()
    jobs = [job for job in planned if job.rel not in tables.finished]  # (a job run before doit: see kwbuild.build)
    if early is not None:
        tables.prefetcher, early.receive = early, tables.record
    elif plan.config.executor == "dask" and jobs:
        from kwbuild.distributed import DaskPrefetcher

        tables.prefetcher = DaskPrefetcher(jobs, tables.cache, plan.config, tables.record)
    elif plan.config.jobs > 1 and len(planned) >= MIN_JOBS_FOR_POOL:
        tables.prefetcher = Prefetcher(jobs, build_table_files, tables.cache, plan.config.jobs, tables.record)
    stream = None
    if plan.config.jobs > 1 and _many_pages_likely(plan):  # forked now, while this process is small
        builders.pages.pool = start_pool(render_file_pages, builders.pages.ctx, plan.config.jobs)
        stream = builders.pages.on_file_links = _PageStream(plan, builders)
    builders.pages.on_links = lambda: _prefetch_pages(plan, builders, stream)
    try:
        loader = ModuleTaskLoader(namespace(plan, builders, _Freshen(reporter) if reporter is not None else None))
        with _without_doit_plugins():
            backend = {"BACKEND": {"sqlite3": f"{__name__}:{StateDB.__name__}"}}  # in place of doit's own
            code: int = DoitMain(loader, config_filenames=(), extra_config=backend).run(["run"])
        for builder in (tables, builders.pages):
            if builder.prefetcher is not None:
                builder.prefetcher.close()
    except BaseException:
        for builder in (tables, builders.pages):
            if builder.prefetcher is not None:
                builder.prefetcher.terminate()
        raise
    finally:
        tables.prefetcher = builders.pages.prefetcher = None
        if builders.pages.pool is not None:  # started but not needed
            builders.pages.pool.terminate()
            builders.pages.pool.join()
            builders.pages.pool = None
        tables.cache.close()
        tables.spool.close()
        tables.finish_writes()  # (done by the state task of a build that succeeded)
    if code not in (0, 1):
        raise BuildFailed(f"doit stopped with exit code {code}")
    return code


@contextmanager
def _without_doit_plugins() -> Iterator[None]:
    """`kwbuild build` hosts no doit plugins: skip doit's four scans of every installed package (~40 ms)."""
    saved = doit.plugin.entry_points_impl
    doit.plugin.entry_points_impl = lambda: _no_entry_points
    try:
        yield
    finally:
        doit.plugin.entry_points_impl = saved


def _no_entry_points(group: str) -> tuple[()]:
    return ()


def _prefetch_pages(plan: Plan, builders: Builders, stream: _PageStream | None) -> None:
    """Once the links are known: render the pages that will probably be stale on the pool (once per build), or
    the rest of them, when the links task handed them over file by file (`_PageStream`)."""
    pages = builders.pages
    if pages.planned is not None:
        return
    _stop_table_jobs(builders)
    if stream is not None and stream.decided:
        pages.planned = planned_pages(plan, builders, stream.decided)
        if pages.prefetcher is not None:
            pages.prefetcher.flush()
        return
    pages.planned = planned_pages(plan, builders)  # the same list for the pool and for the page tasks
    jobs = [pages.job(rel) for rel in pages.planned]
    if plan.config.jobs > 1 and len(jobs) >= MIN_JOBS_FOR_POOL:
        pool, pages.pool = pages.pool, None
        pages.prefetcher = Prefetcher(jobs, render_file_pages, pages.ctx, plan.config.jobs, pages.record, pool)


class _PageStream:
    """The links task's `on_file_links` when a page pool is started: it hands each file's page job to the pool
    as soon as that file's links are written, so the pool renders pages while this process links the rest of
    the tree (torch: ~4 s of one core, where the pool would wait for the last file's links otherwise). The page
    tasks, created after the links task, take the outcomes in the same order."""

    def __init__(self, plan: Plan, builders: Builders) -> None:
        self.plan, self.pages = plan, builders.pages
        self.wanted = page_wanted(plan)
        self.decided: dict[str, bool] = {}  # file -> whether its page task is created, decided as its links came
        self.expected = len(plan.rels) if plan.candidates is None or not plan.trusted else len(plan.candidates)

    def __call__(self, rel: str, written: bool) -> None:
        wanted = self.decided[rel] = self.wanted(rel, written)  # (decided now: the pool soon makes its pages new)
        if not wanted:
            return
        pages = self.pages
        if pages.prefetcher is None and pages.pool is not None:  # (never a pool forked now, from a large process)
            pool, pages.pool = pages.pool, None
            jobs = self.plan.config.jobs
            pages.prefetcher = Prefetcher([], render_file_pages, pages.ctx, jobs, pages.record, pool, self.expected)
        if pages.prefetcher is not None:
            pages.prefetcher.add([pages.job(rel)])


def _many_pages_likely(plan: Plan) -> bool:
    """Whether the page pool will probably be used: every file may be rendered, or many tables may change."""
    return not plan.trusted or plan.candidates is None or len(plan.candidates) >= MIN_JOBS_FOR_POOL
