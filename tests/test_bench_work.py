"""The bench's work folder: what a run drops is renamed into a trash and deleted only after the last timed run
(bench/run.py TRASH: on a journal-less ext4, files created just after a mass deletion cost several times more)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.run import TRASH, WORK_MARKER, Bench, discard, empty_trash, reset_work


def test_reset_work_keeps_the_old_run_in_the_trash_until_emptied(tmp_path: Path) -> None:
    work = tmp_path / "work"
    reset_work(work)
    (work / "out" / "docs").mkdir(parents=True)
    (work / "out" / "docs" / "a.md").write_text("a")
    reset_work(work)
    assert sorted(p.name for p in work.iterdir()) == sorted([WORK_MARKER, TRASH])
    [old] = (work / TRASH).iterdir()
    assert (old / "out" / "docs" / "a.md").read_text() == "a"
    empty_trash(work)
    assert sorted(p.name for p in work.iterdir()) == [WORK_MARKER]


def test_discard_moves_folders_of_the_same_name_side_by_side(tmp_path: Path) -> None:
    work = tmp_path / "work"
    reset_work(work)
    for text in ("first", "second"):
        (work / "out" / "docs").mkdir(parents=True)
        (work / "out" / "docs" / "page.md").write_text(text)
        discard(work / "out" / "docs", work)
        assert not (work / "out" / "docs").exists()
    discard(work / "absent", work)
    pages = sorted((folder / "page.md").read_text() for folder in (work / TRASH).iterdir())
    assert pages == ["first", "second"]


def test_reset_work_refuses_a_folder_the_bench_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(SystemExit, match="not a bench work folder"):
        reset_work(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep"


def test_the_bench_stops_at_once_with_one_line_when_its_builds_cannot_import_kwbuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    reset_work(work)
    bench = Bench(tmp_path, work, jobs=2)
    assert Path(bench.require_kwbuild(), "__init__.py").is_file()  # this checkout's package, as installed
    no_site = tmp_path / "python-without-site"  # an interpreter that finds no installed kwbuild
    no_site.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    no_site.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(no_site))
    with pytest.raises(SystemExit) as stopped:
        bench.require_kwbuild()
    assert isinstance(stopped.value.code, str) and "cannot import kwbuild" in stopped.value.code
    assert "\n" not in stopped.value.code


def test_the_bench_measures_a_process_trees_memory_as_summed_pss_and_judges_the_goal_on_it(tmp_path: Path) -> None:
    """A parent and its forked child share 200 MB (copy-on-write): their RSS sum counts it twice, their summed PSS
    once; the memory goal is judged on the PSS (a build over the goal by RSS sum alone passes)."""
    from bench.run import MEMORY_MB, Run, Scenario, judge, timed

    code = (
        "import os, time\n"
        "shared = bytearray(200 << 20)\n"
        "shared[::4096] = b'x' * len(shared[::4096])  # every page touched, then shared by the fork\n"
        "child = os.fork()\n"
        "time.sleep(1.0)\n"
        "if child == 0:\n"
        "    os._exit(0)\n"
        "os.waitpid(child, 0)\n"
    )
    run, _ = timed([sys.executable, "-c", code], tmp_path / "log", env={})
    assert run.tree_rss_mb > 380 and 190 < run.tree_pss_mb < 260
    build = {"parsed": 0}
    scenarios = {
        "cold": Scenario("cold", [Run(10.0, 10.0, build, tree_rss_mb=MEMORY_MB + 50, tree_pss_mb=MEMORY_MB - 1)]),
        "floor": Scenario("floor", [Run(100.0, 100.0)]),
        "noop": Scenario("noop", [Run(0.1, 0.1, build, tree_rss_mb=MEMORY_MB + 50, tree_pss_mb=MEMORY_MB + 1)]),
    }
    judge(scenarios)
    assert scenarios["cold"].failures == [] and scenarios["noop"].failures == ["memory"]
