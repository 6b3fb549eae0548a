"""Plain `doit` in the project root drives the same tasks as `kwbuild build` (run as real subprocesses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_doit_clean_and_forget(small: Project) -> None:
    assert _doit(small).returncode == 0
    assert _doit(small, "clean").returncode == 0
    assert not (small.out / "tables/b.py.json").exists()
    assert not (small.out / "index.json").exists()
    assert _doit(small, "forget").returncode == 0
    rebuilt = _doit(small)
    assert rebuilt.returncode == 0
    assert (small.out / "tables/b.py.json").is_file()
