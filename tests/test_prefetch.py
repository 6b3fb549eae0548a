"""The early table jobs of an edit build: run in a forked child while doit starts, or in process when the child
fails; either way the outputs are those of a build on one core."""

from __future__ import annotations

import itertools
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kwbuild import builder, errors, jsonio
from kwbuild.cli import main
from kwbuild.extract import python as python_extractor
from kwbuild.prefetch import MIN_JOBS_FOR_POOL, Prefetcher
from tests.conftest import Project, outputs

FILES = {
    "pkg/__init__.py": '"""The package."""\nfrom .core import Engine\n',
    "pkg/core.py": "class Engine:\n    def run(self, n):\n        return n + 1\n",
    "pkg/util.py": "import os\n\n\ndef tool(x):\n    return x\n",
}
EDITED = "class Engine:\n    def run(self, n):\n        return n + 2\n\n\ndef added():\n    pass\n"


@pytest.fixture
def tree(project: Project) -> Project:
    for rel, text in FILES.items():
        project.write(rel, text)
    return project


def _record_extractions(monkeypatch: pytest.MonkeyPatch, log: Path, child_exit: int | None = None) -> None:
    """Each Python extraction appends its process id to `log`; with `child_exit`, a process other than this
    one dies with that status instead of extracting."""
    parent, extract = os.getpid(), python_extractor.extract

    def recording(data: bytes) -> dict[str, Any]:
        if child_exit is not None and os.getpid() != parent:
            os._exit(child_exit)
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        return extract(data)

    monkeypatch.setattr(python_extractor, "extract", recording)


def _same_outputs(left: Path, right: Path) -> None:
    """Every output equal, the change report aside (it tells what changed since each folder's last build)."""
    reports = ("CHANGES.md", "changes.json")
    assert {k: v for k, v in outputs(left).items() if k not in reports} == {
        k: v for k, v in outputs(right).items() if k not in reports
    }


def _serial_build_of_the_same_tree(tree: Project, tmp_path: Path) -> Path:
    out = tmp_path / "serial"
    tree.cache, cache = tmp_path / "cache-serial", tree.cache
    tree.build("-j", "1", out=out)
    tree.cache = cache
    return out


@pytest.mark.parametrize("jobs", ["2", "1"])
def test_an_edit_is_parsed_in_a_child_before_doit_runs_on_two_cores_and_in_process_on_one(
    tree: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str
) -> None:
    tree.build("-j", jobs)
    extractions = tmp_path / "extractions.log"
    _record_extractions(monkeypatch, extractions)
    tree.write("pkg/core.py", EDITED)
    summary = tree.build("-j", jobs)
    assert (summary["parsed"], summary["tables_written"]) == (1, 1)
    pids = extractions.read_text().split()
    assert len(pids) == 1 and (int(pids[0]) != os.getpid()) == (jobs == "2")  # parsed once: where?
    assert [s["name"] for s in tree.table("pkg/core.py")["symbols"]][-1] == "added"
    _same_outputs(tree.out, _serial_build_of_the_same_tree(tree, tmp_path))


def test_the_first_edit_found_is_parsed_at_once_but_written_only_when_the_plan_says_so(tree: Project) -> None:
    """The table job of the first file whose size changed starts in a child; the plan is made while it runs (its
    table still as the last build left it: the output folder has not moved, the build stays trusted), then the
    child is told to write."""
    from kwbuild.build import _FirstEdit
    from kwbuild.cache import cache_key, content_cache
    from kwbuild.config import make_config
    from kwbuild.model import content_hash
    from kwbuild.plan import make_plan

    tree.build("-j", "2")
    table = tree.out / "tables" / "pkg" / "core.py.json"
    before = table.read_bytes()
    tree.write("pkg/core.py", EDITED)
    config = make_config(str(tree.root), str(tree.out), str(tree.cache), jobs=2)
    first = _FirstEdit(config)
    plan = make_plan(config, use_snapshot=True, clean=True, on_edit=first.start)
    assert first.job is not None and first.job.rel == "pkg/core.py" and first.child is not None
    assert first.job == plan.job("pkg/core.py", "python") and plan.trusted and plan.candidates == {"pkg/core.py"}
    key = cache_key(content_hash(EDITED.encode()), python_extractor.NAME, python_extractor.VERSION)
    deadline = time.monotonic() + 60
    while content_cache(config).get(key) is None:  # the child has parsed the file and filled the cache...
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.05)
    assert table.read_bytes() == before  # ... and waits to be told
    assert first.decide(plan)
    outcomes = first.child.discard()
    assert [(o.rel, o.status, o.written) for o in outcomes] == [("pkg/core.py", "parsed", True)]
    assert [s["name"] for s in tree.table("pkg/core.py")["symbols"]][-1] == "added"


def _first_edit_events(config: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the plan with a `_FirstEdit`; the events in order: the walk starting, and the job started (by file)."""
    from kwbuild import plan as plan_module
    from kwbuild.build import _FirstEdit

    events: list[str] = []
    walk = plan_module.discover_sources
    monkeypatch.setattr(plan_module, "discover_sources", lambda *a: events.append("walk") or walk(*a))
    first = _FirstEdit(config)
    start = first.start
    monkeypatch.setattr(first, "start", lambda job: events.append(f"start {job.rel}") or start(job))
    plan = plan_module.make_plan(config, use_snapshot=True, clean=True, on_edit=first.start)
    assert first.child is not None and first.decide(plan)
    first.child.discard()
    return events


def test_an_edit_of_a_recently_edited_file_starts_before_the_walk_and_another_one_during_it(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot names the `RECENT` newest sources; the next build stats them first, and starts the job of the
    first whose size changed before walking the tree. An edit of any other file is found by the walk."""
    from kwbuild.config import make_config
    from kwbuild.snapshot import RECENT

    old = time.time() - 3600
    for n in range(RECENT + 4):  # m0 the oldest, m11 the newest
        path = project.write(f"pkg/m{n}.py", f"def f{n}():\n    return {n}\n")
        os.utime(path, (old + n, old + n))
    project.build("-j", "2")
    snapshot = jsonio.read_json(project.out / ".kwbuild" / "snapshot.json")
    assert snapshot["recent"] == [f"pkg/m{n}.py" for n in range(RECENT + 3, 3, -1)]
    config = make_config(str(project.root), str(project.out), str(project.cache), jobs=2)
    project.write("pkg/m9.py", "def f9():\n    return 9\n\n\ndef g9():\n    pass\n")
    events = _first_edit_events(config, monkeypatch)
    assert events == ["start pkg/m9.py", "walk"]
    project.build("-j", "2")  # m9 is now the newest
    assert jsonio.read_json(project.out / ".kwbuild" / "snapshot.json")["recent"][:2] == ["pkg/m9.py", "pkg/m11.py"]
    project.write("pkg/m1.py", "def f1():\n    return 1\n\n\ndef g1():\n    pass\n")
    events = _first_edit_events(config, monkeypatch)
    assert events == ["walk", "start pkg/m1.py"]


DAMAGED_RECENT = [([["pkg/core.py"]], []), ("pkg/core.py", []), ([7, "gone.py", "pkg/core.py"], ["pkg/core.py"])]


def test_a_snapshot_without_its_newest_files_or_with_a_damaged_list_is_still_used(
    tree: Project, tmp_path: Path
) -> None:
    """A snapshot written by an earlier kwbuild has no `recent`; a damaged list keeps only the paths it names that
    are sources: the snapshot is used either way, and the walk then finds the edit."""
    from kwbuild.config import make_config
    from kwbuild.plan import snapshot_versions
    from kwbuild.snapshot import load_snapshot

    tree.build("-j", "2")
    path = tree.out / ".kwbuild" / "snapshot.json"
    raw = jsonio.read_json(path)
    config = make_config(str(tree.root), str(tree.out), str(tree.cache), jobs=2)
    loaded = load_snapshot(str(path), snapshot_versions(config))
    assert loaded is not None and sorted(loaded.recent) == sorted(FILES)
    files = loaded.files
    without = {key: value for key, value in raw.items() if key != "recent"}
    cases = [(without, []), *(({**without, "recent": recent}, kept) for recent, kept in DAMAGED_RECENT)]
    for written, kept in cases:
        path.write_bytes(jsonio.dumps(written))
        snapshot = load_snapshot(str(path), snapshot_versions(config))
        assert snapshot is not None and snapshot.files == files and snapshot.recent == kept, written.get("recent")
    tree.write("pkg/core.py", EDITED)
    assert tree.build("-j", "2")["tables_written"] == 1
    _same_outputs(tree.out, _serial_build_of_the_same_tree(tree, tmp_path))


def test_a_recently_edited_file_now_left_out_is_parsed_but_never_written(tree: Project, tmp_path: Path) -> None:
    """A file among the snapshot's newest that the build now leaves out (`--exclude`) is still started before the
    walk (its size changed); the plan has no such source, so its child writes nothing and its outputs go."""
    tree.build("-j", "2")
    tree.write("pkg/core.py", EDITED)
    summary = tree.build("-j", "2", "--exclude", "pkg/core.py")
    assert summary["tables_written"] == 0 and not (tree.out / "tables" / "pkg" / "core.py.json").exists()
    fresh = tmp_path / "fresh"
    tree.build("-j", "1", "--exclude", "pkg/core.py", out=fresh)
    _same_outputs(tree.out, fresh)


def test_a_first_edit_told_not_to_write_writes_nothing(tree: Project) -> None:
    """A plan that names the file's module otherwise (or a build that stops) tells the child not to write, or
    closes the pipe: the table stays as it was."""
    from kwbuild.build import _FirstEdit
    from kwbuild.config import make_config
    from kwbuild.plan import file_job

    tree.build("-j", "2")
    table = tree.out / "tables" / "pkg" / "core.py.json"
    before = table.read_bytes()
    tree.write("pkg/core.py", EDITED)
    config = make_config(str(tree.root), str(tree.out), str(tree.cache), jobs=2)
    for stop in ("told", "closed"):
        first = _FirstEdit(config)
        first.start(file_job(config, "pkg/core.py", "pkg.core", "python"))
        assert first.child is not None
        if stop == "told":
            first.tell(False)
        first.close()
        assert first.child.discard() == []
        assert table.read_bytes() == before


@pytest.mark.parametrize("files", [2, MIN_JOBS_FOR_POOL])
def test_edits_of_several_files_are_each_parsed_once_in_a_child(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: int
) -> None:
    """The first edit found runs in its own child; the other edits run in a second child (a few) or on the pool
    (many), and the first one's outcome goes to its task: each file parsed once, outside this process, and
    counted once."""
    for n in range(files + 3):
        project.write(f"pkg/m{n}.py", f"def f{n}():\n    return {n}\n")
    project.build("-j", "2")
    extractions = tmp_path / "extractions.log"
    _record_extractions(monkeypatch, extractions)
    for n in range(files):
        project.write(f"pkg/m{n}.py", f"def f{n}():\n    return {n + 100}\n\n\ndef g{n}():\n    pass\n")
    summary = project.build("-j", "2")
    assert (summary["parsed"], summary["tables_written"], summary["cache_hits"]) == (files, files, 0)
    pids = extractions.read_text().split()
    assert len(pids) == files and str(os.getpid()) not in pids and len(set(pids)) >= 2
    _same_outputs(project.out, _serial_build_of_the_same_tree(project, tmp_path))


def test_an_edit_whose_module_is_renamed_by_a_new_package_gets_the_new_name(tree: Project, tmp_path: Path) -> None:
    """The walk starts the job with the module name of the last build; a package added in the same build renames
    it: the child's table is not written, the task writes the one with the new name (from the content cache,
    where the child left the file's table)."""
    tree.write("top/inner/mod.py", "def f():\n    return 1\n")
    tree.build("-j", "2")
    assert tree.table("top/inner/mod.py")["module"] == "mod"
    tree.write("top/inner/mod.py", "def f():\n    return 12345\n\n\ndef g():\n    pass\n")
    tree.write("top/inner/__init__.py", "")
    summary = tree.build("-j", "2")
    assert tree.table("top/inner/mod.py")["module"] == "inner.mod"
    assert (summary["parsed"], summary["cache_hits"], summary["tables_written"]) == (1, 1, 2)
    _same_outputs(tree.out, _serial_build_of_the_same_tree(tree, tmp_path))


def test_a_child_that_dies_leaves_its_jobs_to_the_build(
    tree: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tree.build("-j", "2")
    extractions = tmp_path / "extractions.log"
    _record_extractions(monkeypatch, extractions, child_exit=7)
    tree.write("pkg/core.py", EDITED)
    with caplog.at_level(logging.WARNING, logger="kwbuild"):
        summary = tree.build("-j", "2")
    assert (summary["parsed"], summary["tables_written"]) == (1, 1)
    assert extractions.read_text().split() == [str(os.getpid())]  # the child died; the task parsed the file
    assert "status 7" in caplog.text
    monkeypatch.undo()
    _same_outputs(tree.out, _serial_build_of_the_same_tree(tree, tmp_path))
    assert tree.build("-j", "2")["parsed"] == 0  # and the next build has nothing to do


def test_a_patched_aggregate_written_on_a_thread_fails_the_build_when_its_write_fails(
    tree: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """symbols.json and index.json, when patched, are written on a thread while the next tasks run: a write that
    fails fails the build (its state is not saved) and the next build writes them again."""
    tree.build()

    def failing(path: str, places: str, file: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(builder, "_write_patched", failing)
    tree.write("pkg/core.py", EDITED)
    args = ["build", str(tree.root), "--out", str(tree.out), "--cache", str(tree.cache), "-q"]
    assert main(args) == errors.EXIT_INTERNAL  # as when any task's write fails: "doit stopped", state not saved
    monkeypatch.undo()
    tree.build()
    fresh = tmp_path / "fresh"
    tree.build(out=fresh)
    for name in ("symbols.json", "index.json"):
        assert (tree.out / name).read_bytes() == (fresh / name).read_bytes()
    assert b'"added"' in (tree.out / "symbols.json").read_bytes()


def test_the_page_pool_renders_while_the_index_pages_are_made_when_the_links_were_up_to_date(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page again from unchanged tables and links: the links task does not run, and the A-Z index (the first
    aggregate of pages) starts the page pool before it renders, instead of the page tasks after it."""
    import shutil

    from kwbuild import pages

    for n in range(2 * MIN_JOBS_FOR_POOL):
        project.write(f"pkg/m{n}.py", f"def f{n}():\n    return {n}\n")
    project.build("-j", "2")
    first = outputs(project.out)
    started: list[bool] = []
    build_keywords = pages.PageBuilder.build_keywords

    def recording(self: pages.PageBuilder, rels: list[str]) -> dict[str, Any]:
        started.append(self.prefetcher is not None)
        return build_keywords(self, rels)

    monkeypatch.setattr(pages.PageBuilder, "build_keywords", recording)
    shutil.rmtree(project.out / "docs")
    summary = project.build("-j", "2")
    assert started == [True]
    assert summary["pages_written"] == len([path for path in first if path.startswith("docs/")])
    assert outputs(project.out) == first


def test_the_table_pool_is_stopped_before_the_links_are_made(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every table through the pool: its workers are gone when the links task runs (they idled through it, ~110 MB
    PSS on torch); only the page pool's two, forked before the tables, remain."""
    import multiprocessing

    from kwbuild import pages

    for n in range(2 * MIN_JOBS_FOR_POOL):
        project.write(f"pkg/m{n}.py", f"def f{n}():\n    return {n}\n")
    children: list[int] = []
    build_links = pages.PageBuilder.build_links

    def recording(self: pages.PageBuilder, rels: list[str]) -> dict[str, Any]:
        children.append(len(multiprocessing.active_children()))
        return build_links(self, rels)

    monkeypatch.setattr(pages.PageBuilder, "build_links", recording)
    summary = project.build("-j", "2")
    assert summary["parsed"] == 2 * MIN_JOBS_FOR_POOL and children == [2]


@dataclass(frozen=True)
class _Job:
    rel: str


def _logged_work(jobs: list[_Job], log: str) -> list[_Job]:
    """A pool's work: 50 ms per chunk, noted in `log` as "start end rels" (the clock is the machine's)."""
    start = time.monotonic()
    time.sleep(0.05)
    with open(log, "a") as handle:
        handle.write(f"{start} {time.monotonic()} {','.join(job.rel for job in jobs)}\n")
    return jobs


def test_jobs_added_one_by_one_keep_a_core_for_this_process_until_flushed(tmp_path: Path) -> None:
    """While more jobs are to come (the links task finding the next pages), at most workers - 1 chunks are at
    work at once, however many wait; `flush` sends them all. Every outcome is received once and taken in order."""
    log, received = tmp_path / "log", []
    prefetcher = Prefetcher([], _logged_work, str(log), 2, received.append, expected=1)  # chunks of one job
    prefetcher.add([_Job(f"f{n}") for n in range(4)])
    assert prefetcher.take("f0") == _Job("f0") and prefetcher.take("f1") == _Job("f1")  # each sends the next
    flushed = time.monotonic()
    prefetcher.flush()
    prefetcher.add([_Job("f4"), _Job("f5")])
    assert [prefetcher.take(f"f{n}") for n in range(2, 6)] == [_Job(f"f{n}") for n in range(2, 6)]
    assert prefetcher.take("f0") is None and prefetcher.take("other") is None
    prefetcher.close()
    assert sorted(job.rel for job in received) == [f"f{n}" for n in range(6)]
    spans = [(float(start), float(end)) for start, end, _ in (line.split() for line in log.read_text().splitlines())]
    before = sorted(span for span in spans if span[0] < flushed)
    assert len(spans) == 6 and len(before) >= 2
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(before))  # one at a time


def _failing_work(jobs: list[_Job], context: None) -> list[_Job]:
    if any(job.rel == "bad" for job in jobs):
        raise ValueError("a worker's error")
    return jobs


def test_a_chunk_that_fails_in_a_worker_leaves_its_jobs_to_their_tasks(caplog: pytest.LogCaptureFixture) -> None:
    """The failed chunk's jobs are not taken from the pool (their tasks run them and meet the error themselves);
    the other chunks' outcomes still are."""
    prefetcher = Prefetcher([], _failing_work, None, 2, lambda outcome: None, expected=1)
    prefetcher.add([_Job("good"), _Job("bad"), _Job("next")])
    prefetcher.flush()
    with caplog.at_level(logging.WARNING, logger="kwbuild"):
        assert [prefetcher.take(rel) for rel in ("good", "bad", "next")] == [_Job("good"), None, _Job("next")]
    prefetcher.close()
    assert "1 jobs failed in a worker" in caplog.text and "a worker's error" in caplog.text


def test_page_jobs_go_to_the_pool_as_the_links_are_written(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh build: each file's page job is handed to the page pool right after that file's links are written,
    before the links task writes the next files' links, and the outputs are those of a build without a pool."""
    from kwbuild import pages, prefetch

    rels = sorted(f"pkg/m{n}.py" for n in range(2 * MIN_JOBS_FOR_POOL))
    for n in range(2 * MIN_JOBS_FOR_POOL):
        project.write(f"pkg/m{n}.py", f"from pkg.m{(n + 1) % 10} import f{(n + 1) % 10}\n\n\ndef f{n}():\n    pass\n")
    last_links = project.out / "links" / f"{rels[-1]}.json"
    handed: list[tuple[str, bool, bool]] = []
    add = prefetch.Prefetcher.add

    def recording(self: prefetch.Prefetcher[Any, Any], jobs: list[Any]) -> None:
        jobs = list(jobs)
        for job in jobs:
            if isinstance(job, pages.PageJob):  # (the table pool's go through here too)
                handed.append((job.rel, os.path.exists(job.links_path), last_links.exists()))
        add(self, jobs)

    import multiprocessing.pool

    sent: list[bool] = []
    apply_async = multiprocessing.pool.Pool.apply_async

    def sending(self: multiprocessing.pool.Pool, *args: Any, **kwargs: Any) -> Any:
        sent.append(last_links.exists())
        return apply_async(self, *args, **kwargs)

    monkeypatch.setattr(prefetch.Prefetcher, "add", recording)
    monkeypatch.setattr(multiprocessing.pool.Pool, "apply_async", sending)
    summary = project.build("-j", "2")
    assert handed == [(rel, True, rel == rels[-1]) for rel in rels]
    assert False in sent  # a chunk went to the pool before the last file's links were written
    serial = project.build("-j", "1", out=tmp_path / "serial")
    assert summary["pages_written"] == serial["pages_written"]
    _same_outputs(project.out, tmp_path / "serial")


def test_a_file_deleted_during_a_build_that_hands_pages_over_loses_its_pages(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file edited, one deleted after the plan: the links task never sees it, yet its page task runs and
    removes the pages of the last build."""
    from kwbuild import build as kwbuild_build

    files = [f"m{n:02}.py" for n in range(2 * MIN_JOBS_FOR_POOL)]
    for rel in files:
        project.write(rel, "def f():\n    pass\n")
    project.build("-j", "2")
    assert (project.out / "docs/m03.py_docs.md").exists()
    for rel in files:
        project.write(rel, "def g():\n    pass\n")
    real_plan = kwbuild_build.make_plan

    def plan_then_delete(*args: Any, **kwargs: Any) -> Any:
        plan = real_plan(*args, **kwargs)
        (project.root / "m03.py").unlink()
        return plan

    monkeypatch.setattr(kwbuild_build, "make_plan", plan_then_delete)
    summary = project.build("-j", "2")
    assert summary["vanished"] == 1
    assert not (project.out / "docs/m03.py_docs.md").exists() and not (project.out / "docs/m03.py_kw.md").exists()
    assert "function `g`" in (project.out / "docs/m04.py_docs.md").read_text()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_memory_goes_back_to_the_system() -> None:
    """~100 MB of buffers freed under a live one (the heap cannot shrink from its top): glibc keeps them until
    `release_free_memory`."""
    code = (
        "import os\n"
        "from kwbuild.heap import release_free_memory\n"
        "def rss():\n"
        "    with open('/proc/self/statm') as handle:\n"
        "        return int(handle.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "blocks = [bytes(1000) + bytes([n % 256]) for n in range(100_000)]\n"
        "pin = bytes(2000) + b'x'\n"
        "del blocks\n"
        "before = rss()\n"
        "release_free_memory()\n"
        "release_free_memory()\n"
        "print(before - rss())\n"
    )
    released = int(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True).stdout)
    assert released > 50_000_000


def test_without_malloc_trim_releasing_memory_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the C library has no `malloc_trim` (macOS, musl) or no `CDLL(None)` (Windows), a build goes on."""
    import ctypes

    from kwbuild import heap

    for error in (AttributeError("malloc_trim"), OSError("no library"), TypeError("None")):

        def failing(name: object, error: Exception = error) -> object:
            raise error

        monkeypatch.setattr(ctypes, "CDLL", failing)
        heap._malloc_trim.cache_clear()
        heap.release_free_memory()
        assert heap._malloc_trim() is None
    heap._malloc_trim.cache_clear()


def test_a_worker_gives_memory_back_only_once_it_grew_past_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    from kwbuild import heap

    sizes = iter([100, 110, 117, 118, 120, 200, 150])  # a size per look: before, and after each release
    released: list[int] = []
    monkeypatch.setattr(heap, "resident_bytes", lambda: next(sizes))
    monkeypatch.setattr(heap, "release_free_memory", lambda: released.append(1))
    monkeypatch.setattr(heap, "_floor", None)
    heap.release_if_grown(16)  # 100: the floor
    heap.release_if_grown(16)  # 110: not 16 more
    assert released == []
    heap.release_if_grown(16)  # 117: released, the floor is now 118
    assert released == [1]
    heap.release_if_grown(16)  # 120: not 16 more than 118
    heap.release_if_grown(16)  # 200: released
    assert released == [1, 1]


def test_memory_is_given_back_in_large_builds_only(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """After each aggregate of a build of every file; not in an edit's, where it would cost ~3 ms."""
    from kwbuild import tasks

    for n in range(3):
        project.write(f"pkg/m{n}.py", f"def f{n}():\n    return {n}\n")
    released: list[int] = []
    release = tasks.release_free_memory
    monkeypatch.setattr(tasks, "release_free_memory", lambda: released.append(1) or release())
    project.build()
    assert len(released) >= 6  # the links (before and after), the manifest, the symbol map, the pages' indexes
    released.clear()
    project.write("pkg/m0.py", "def f0():\n    return 1\n\n\ndef added():\n    pass\n")
    assert project.build()["parsed"] == 1 and released == []
