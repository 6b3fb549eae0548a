"""Plain `doit` in the project root drives the same tasks as `kwbuild build` (run as real subprocesses)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from doit.dependency import SqliteDB

from tests.conftest import Project

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _doit(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "doit",
        *args,
        f"root={project.root}",
        f"out={project.out}",
        f"cache={project.cache}",
    ]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture
def small(project: Project) -> Project:
    project.write("pkg/__init__.py", "")
    project.write("pkg/a.py", "def f():\n    pass\n")
    project.write("b.py", "class B:\n    pass\n")
    return project


def test_doit_list_shows_one_task_per_file(small: Project) -> None:
    result = _doit(small, "list", "--all")
    assert result.returncode == 0, result.stderr
    names = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"table:b.py", "table:pkg/__init__.py", "table:pkg/a.py", "manifest", "symbols"} <= names


def test_doit_builds_then_is_up_to_date_and_info_explains(small: Project) -> None:
    first = _doit(small)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (small.out / "tables/pkg/a.py.json").is_file()
    assert small.table("pkg/a.py")["module"] == "pkg.a"
    second = _doit(small)
    assert second.returncode == 0
    assert all(line.startswith("--") for line in second.stdout.splitlines() if line.strip())
    (small.root / "pkg/a.py").write_text("def f():\n    return 2\n")
    info = _doit(small, "info", "table:pkg/a.py")
    assert info.returncode == 1  # doit's convention: the task is not up to date
    assert "status     : run" in info.stdout
    assert "The following file dependencies have changed" in info.stdout
    assert f"{small.root}/pkg/a.py" in info.stdout


def test_the_links_run_first_of_the_aggregates_and_the_folders_before_the_pages(small: Project) -> None:
    """The page pool of `kwbuild build` starts once the links are written: they come right after the tables, so
    that the pages render while the manifest, the symbol map, the A-Z index and the folder indexes are made (the
    same order here)."""
    result = _doit(small)
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [line.split()[1] for line in result.stdout.splitlines() if line.startswith(".")]
    groups = list(dict.fromkeys(name.partition(":")[0] for name in ran))
    aggregates = ["links", "manifest", "symbols", "keywords", "modules", "imports"]
    assert groups == ["table", *aggregates, "folder", "page", "state"]


def test_doit_and_kwbuild_share_state(small: Project) -> None:
    assert _doit(small).returncode == 0
    summary = small.build()
    assert summary["parsed"] == 0
    assert summary["tables_written"] == 0


def test_a_fresh_database_is_not_queried_per_task_and_plain_doit_reads_what_kwbuild_wrote(
    small: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kwbuild build` runs doit on `StateDB`: on a database with no row yet (a fresh output folder), no task costs
    a query; on a filled one, the row of a task that doit checks is read (that of an aggregate that must run is
    not: see the next test). Plain `doit` (its own backend) then finds every task up to date."""
    from kwbuild.tasks import StateDB

    queried: list[str] = []
    read_row = SqliteDB._get_task_data
    monkeypatch.setattr(SqliteDB, "_get_task_data", lambda db, key: queried.append(key) or read_row(db, key))
    statements: list[str] = []  # every statement the backend runs (its own queries included)
    opened = StateDB.__init__
    monkeypatch.setattr(
        StateDB, "__init__", lambda db, *a, **k: opened(db, *a, **k) or db._conn.set_trace_callback(statements.append)
    )
    assert small.build()["tables_written"] == 3 and queried == []
    assert statements and not [statement for statement in statements if "where task_id" in statement]
    result = _doit(small)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(line.startswith("--") for line in result.stdout.splitlines() if line.strip()), result.stdout
    read: list[str] = []
    row_of = StateDB._get_task_data
    monkeypatch.setattr(StateDB, "_get_task_data", lambda db, key: read.append(key) or row_of(db, key))
    small.write("b.py", "class B:\n    x = 1\n")
    assert small.build()["tables_written"] == 1 and "table:b.py" in read and "manifest" not in read


def test_the_state_backend_decodes_a_row_only_when_asked_more_than_whether_it_is_ignored(
    small: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """doit asks every task it considers whether it is ignored; `StateDB` answers from the row's text and decodes
    it only for another key. A row set before being decoded is replaced, as by doit's own backend. After a
    build without a snapshot, the first edit's aggregates run without their rows (one entry per table) being
    decoded, and leave small rows."""
    from kwbuild.tasks import StateCodec, StateDB

    path = str(tmp_path / "state.sqlite3")
    db = StateDB(path, StateCodec())
    db.set("big", "a.json", [1, 2])
    db.set("big", "deps:", ["a.json"])
    db.set("ignored", "ignore:", "1")
    db.dump()
    decoded: list[str] = []
    decode = StateCodec.decode
    monkeypatch.setattr(StateCodec, "decode", lambda codec, data: decoded.append(data) or decode(codec, data))
    db = StateDB(path, StateCodec())
    assert db.get("big", "ignore:") is None and db.get("missing", "ignore:") is None and decoded == []
    assert db.get("ignored", "ignore:") == "1" and len(decoded) == 1
    assert db.get("big", "a.json") == [1, 2] and len(decoded) == 2
    db = StateDB(path, StateCodec())
    assert db.get("big", "ignore:") is None
    db.set("big", "deps:", [])
    db.dump()
    row = sqlite3.connect(path).execute("select task_data from doit where task_id='big'").fetchone()[0]
    assert StateCodec().decode(row) == {"deps:": []}

    small.build()
    decoded.clear()
    small.write("b.py", "class B:\n    y = 2\n")
    assert small.build()["tables_written"] == 1
    assert not any('"' + str(small.out / "tables" / "pkg" / "a.py.json") + '"' in text for text in decoded)
    state = sqlite3.connect(small.out / ".kwbuild" / "doit.sqlite3")
    for name in ("manifest", "symbols", "keywords", "modules"):
        row = StateCodec().decode(state.execute("select task_data from doit where task_id=?", (name,)).fetchone()[0])
        assert all(key.endswith(":") for key in row) and row["deps:"] == [], name


def test_doit_clean_and_forget(small: Project) -> None:
    assert _doit(small).returncode == 0
    assert _doit(small, "clean").returncode == 0
    assert not (small.out / "tables/b.py.json").exists()
    assert not (small.out / "index.json").exists()
    assert _doit(small, "forget").returncode == 0
    rebuilt = _doit(small)
    assert rebuilt.returncode == 0
    assert (small.out / "tables/b.py.json").is_file()


def test_doit_in_parallel_processes_builds_the_same_pages(small: Project, tmp_path: Path) -> None:
    """`doit -n 2` pickles the per-file tasks (kept in slots, see `SlimTask`) to run them in its processes."""
    assert _doit(small, "-n", "2").returncode == 0
    parallel = {p.relative_to(small.out): p.read_bytes() for p in (small.out / "docs").rglob("*.md")}
    small.out = tmp_path / "serial"
    result = _doit(small)
    assert result.returncode == 0, result.stdout + result.stderr
    serial = {p.relative_to(small.out): p.read_bytes() for p in (small.out / "docs").rglob("*.md")}
    assert len(serial) == 3 * 2 + 2 + 3  # two pages a file, two folder indexes, three global pages
    assert parallel == serial


def test_the_per_file_tasks_keep_their_attributes_in_slots_and_pickle(small: Project) -> None:
    """Every attribute doit's `Task.__init__` sets has a slot (no instance dict: ~1.3 KB less a task), and a task
    pickles and unpickles as doit's multiprocess runner does it."""
    import pickle

    from doit.loader import generate_tasks

    from kwbuild.config import make_config
    from kwbuild.plan import make_plan
    from kwbuild.tasks import SlimTask, make_builders, namespace

    config = make_config(str(small.root), str(small.out), str(small.cache), jobs=1)
    config.layout.prepare()
    generators = namespace(make_plan(config, use_snapshot=False), make_builders(config))
    tasks = generate_tasks("table", generators["task_table"]())
    group, *files = tasks
    assert [task.name for task in files] == ["table:b.py", "table:pkg/__init__.py", "table:pkg/a.py"]
    assert group.name == "table" and group.has_subtask and group.task_dep == [task.name for task in files]
    assert all(isinstance(task, SlimTask) and task.__dict__ == {} for task in tasks)
    assert all(task.subtask_of == "table" for task in files)
    task = files[2]
    copy = pickle.loads(pickle.dumps(task))
    assert (copy.name, copy.file_dep, copy.targets, copy.doc) == (task.name, task.file_dep, task.targets, task.doc)
    assert copy.uptodate is None and copy.__dict__ == {}  # as doit's own `__getstate__` leaves them
    copy.update_from_pickle(task.pickle_safe_dict())
    assert copy.actions[0].py_callable.__func__ is task.actions[0].py_callable.__func__
    assert copy.actions[0].args == task.actions[0].args


def _clean() -> None:
    pass


def test_a_slim_task_is_made_as_doit_makes_a_task(small: Project) -> None:
    """`SlimTask.__init__` skips doit's checks of the arguments: every attribute must still be what doit's own
    `Task.__init__` sets from the same arguments (a newer doit that sets more fails here)."""
    from doit.task import Task

    from kwbuild.config import make_config
    from kwbuild.plan import make_plan
    from kwbuild.tasks import SlimTask, make_builders, page_tasks, table_tasks

    config = make_config(str(small.root), str(small.out), str(small.cache), jobs=1)
    config.layout.prepare()
    plan = make_plan(config, use_snapshot=False)
    builders = make_builders(config)
    made = [
        (("table", None), {"doc": "symbol table of each source file", "has_subtask": True}),
        *((("table:" + f.pop("name"), f.pop("actions")), f) for f in table_tasks(plan, builders)),
        *((("page:" + f.pop("name"), f.pop("actions")), f) for f in page_tasks(plan, builders, plan.rels)),
        (("other", [(_clean, ())]), {"file_dep": ["a"], "targets": ["b"], "clean": [(_clean, ())], "verbosity": 2}),
    ]
    assert len(made) == 2 + 3 * 2
    for args, fields in made:
        slim, task = SlimTask(*args, **fields), Task(*args, **fields)
        assert slim.__dict__ == {}
        for name in SlimTask.__slots__:
            mine, theirs = getattr(slim, name), getattr(task, name)
            if name == "io":
                assert vars(mine) == vars(theirs)
            elif name == "clean_actions" and theirs:
                assert [vars(a)["py_callable"] for a in mine] == [vars(a)["py_callable"] for a in theirs]
            else:
                assert mine == theirs, name
        assert set(vars(task)) == set(SlimTask.__slots__)


def test_a_per_file_task_runs_its_action_without_inspecting_it(small: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """doit looks for the arguments it can add (`targets`, `task`...) in an action's signature at every execution;
    a per-file task's action takes only its own (~15 µs less a task), and runs as doit's would otherwise."""
    import inspect

    from doit.task import Stream

    from kwbuild.config import make_config
    from kwbuild.plan import make_plan
    from kwbuild.tasks import SlimTask, make_builders, table_tasks

    config = make_config(str(small.root), str(small.out), str(small.cache), jobs=1)
    config.layout.prepare()
    plan = make_plan(config, use_snapshot=False)
    fields = next(f for f in table_tasks(plan, make_builders(config)) if f["name"] == "b.py")
    task = SlimTask("table:" + fields.pop("name"), **fields)

    def no_inspection(*args: object, **kwargs: object) -> None:
        raise AssertionError("inspected")

    monkeypatch.setattr(inspect, "signature", no_inspection)
    assert task.execute(Stream(0)) is None  # no failure
    assert task.values == {"status": "parsed", "written": True} and (small.out / "tables/b.py.json").is_file()


def test_a_finished_tasks_node_lets_go_of_its_containers_and_doit_runs_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """doit keeps a node per task to the end of a build; once a task is finished, its node's containers (tasks it
    waited for, tasks waiting for it, ancestors, failed parents) are let go. The order of the tasks, the up-to-date
    check and a failure's dependents (not run) are as doit makes them, run by doit's own runner."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.control import TaskDispatcher
    from doit.doit_cmd import DoitMain

    import kwbuild.tasks  # noqa: F401  (installs the release on doit's dispatcher)

    ran: list[str] = []
    dispatchers: list[TaskDispatcher] = []
    made = TaskDispatcher.__init__

    def spied(self: TaskDispatcher, *args: object) -> None:
        made(self, *args)
        dispatchers.append(self)

    monkeypatch.setattr(TaskDispatcher, "__init__", spied)

    def step(name: str, ok: bool = True) -> dict[str, object]:
        return {"actions": [lambda: ran.append(name) or ok], "verbosity": 0}

    namespace = {
        "task_a": lambda: step("a"),
        "task_b": lambda: {**step("b"), "task_dep": ["a"]},
        "task_c": lambda: {**step("c"), "task_dep": ["b", "a"]},
        "task_bad": lambda: {**step("bad", ok=False), "task_dep": ["a"]},
        "task_after_bad": lambda: {**step("after_bad"), "task_dep": ["bad", "c"]},
        "task_same": lambda: {**step("same"), "uptodate": [True]},
    }
    args = ["--db-file", str(tmp_path / "db"), "--backend", "sqlite3", "--continue"]
    assert DoitMain(ModuleTaskLoader(namespace)).run(args) == 2  # a task failed, a dependent is an error
    assert ran.index("a") < ran.index("b") < ran.index("c") and "bad" in ran and "after_bad" not in ran
    assert "same" not in ran
    nodes = dispatchers[0].nodes
    assert {nodes[name].run_status for name in nodes} == {"successful", "failure", "up-to-date"}
    for node in nodes.values():
        assert node.waiting_me == node.wait_run == frozenset() and node.ancestors == node.bad_deps == ()
