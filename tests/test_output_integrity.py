"""Outputs changed behind kwbuild's back (by hand, by another tool) are found, reported and made again.

Between builds, kwbuild writes nothing; the snapshot records each output folder's mtime and when the build
ended. An output created, replaced or deleted in a folder changes the folder's mtime: the next build looks at
that folder's files, warns about those modified since, and makes them again. A file edited in place leaves its
folder's mtime alone: `--full` (the nightly build) looks at every output and repairs those too.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from kwbuild import jsonio
from tests.conftest import Project, outputs

SOURCES = {
    "pkg/__init__.py": "from .core import Engine\n",
    "pkg/core.py": '"""Core."""\n\nclass Engine:\n    def run(self) -> int:\n        return 1\n',
    "pkg/util.py": "from pkg.core import Engine\n\ndef helper(x):\n    return Engine()\n",
    "main.py": "import pkg\n\ndef main():\n    pkg.Engine().run()\n",
}


@pytest.fixture
def built(project: Project) -> tuple[Project, dict[str, bytes]]:
    for rel, text in SOURCES.items():
        project.write(rel, text)
    project.build()
    return project, outputs(project.out)


def after_the_last_build(out: Path) -> None:
    """Wait until the file system's clock is past the end of the last build: its timestamps come from a coarse
    clock (one tick, up to ~10 ms, behind `time.time_ns()`), so a file edited within a tick of the build's end can
    carry an mtime before it and pass for kwbuild's own (a person's edit comes later than that)."""
    finished = jsonio.read_json(out / ".kwbuild" / "snapshot.json")["finished_ns"]
    while time.time_ns() < finished + 30_000_000:
        time.sleep(0.005)


def replace_file(path: Path, data: bytes) -> None:
    """What `sed -i` and most editors do: write a new file and rename it over the old one."""
    after_the_last_build(next(folder for folder in path.parents if (folder / ".kwbuild").is_dir()))
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_a_replaced_table_is_reported_and_rebuilt(
    built: tuple[Project, dict[str, bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    project, before = built
    table = project.out / "tables/pkg/core.py.json"
    replace_file(table, table.read_bytes().replace(b"Engine", b"Hacked"))
    with caplog.at_level(logging.WARNING, logger="kwbuild"):
        summary = project.build()
    assert "modified since the last build, not by kwbuild: tables/pkg/core.py.json" in caplog.text
    assert summary["parsed"] == 0  # the table came back from the content cache
    assert outputs(project.out) == before


def test_replaced_and_deleted_pages_and_links_are_rebuilt(
    built: tuple[Project, dict[str, bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    project, before = built
    replace_file(project.out / "docs/pkg/core.py_kw.md", b"# nothing to see\n")
    (project.out / "docs/pkg/util.py_docs.md").unlink()
    (project.out / "links/main.py.json").unlink()
    (project.out / "docs/pkg/index.md").unlink()
    (project.out / "docs/keywords.md").unlink()
    replace_file(project.out / "index.json", b"{}")
    with caplog.at_level(logging.WARNING, logger="kwbuild"):
        project.build()
    assert "docs/pkg/core.py_kw.md" in caplog.text and "index.json" in caplog.text
    assert outputs(project.out) == before


def test_an_edit_in_place_is_repaired_by_full(
    built: tuple[Project, dict[str, bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    project, before = built
    page = project.out / "docs/pkg/core.py_docs.md"
    after_the_last_build(project.out)
    with open(page, "r+b") as handle:  # same inode, same folder mtime: only the file's own mtime moves
        handle.write(b"XX")
    with caplog.at_level(logging.WARNING, logger="kwbuild"):
        project.build("--full")
    assert "docs/pkg/core.py_docs.md" in caplog.text
    assert outputs(project.out) == before


def test_files_that_are_not_outputs_are_left_alone(built: tuple[Project, dict[str, bytes]]) -> None:
    project, _before = built
    notes = project.out / "notes.txt"
    notes.write_text("mine\n")
    (project.out / "docs/pkg/extra.txt").write_text("also mine\n")
    project.build()
    project.build("--full")
    assert notes.read_text() == "mine\n"
    assert (project.out / "docs/pkg/extra.txt").read_text() == "also mine\n"


def test_a_no_op_build_after_an_untouched_build_writes_nothing(built: tuple[Project, dict[str, bytes]]) -> None:
    project, before = built
    mtimes = {p: os.stat(project.out / p).st_mtime_ns for p in before}
    summary = project.build()
    assert summary["parsed"] == summary["cache_hits"] == summary["tables_written"] == summary["pages_written"] == 0
    assert {p: os.stat(project.out / p).st_mtime_ns for p in before} == mtimes
