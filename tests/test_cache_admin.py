"""`kwbuild cache stats|prune|verify` on a real cache filled by real builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from kwbuild import jsonio
from kwbuild.cache import ContentCache
from kwbuild.cli import main
from tests.conftest import Project


def _cache(project: Project, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> dict[str, object]:
    capsys.readouterr()
    assert main(["cache", *args, "--cache", str(project.cache)]) == code
    result: dict[str, object] = jsonio.loads(capsys.readouterr().out)
    return result


def test_stats_prune_and_verify(project: Project, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    project.write("a.py", "def a():\n    pass\n")
    project.write("b.py", "def b():\n    pass\n")
    project.build()
    stats = _cache(project, capsys, "stats")
    assert stats["entries"] == 2 and stats["builds_recorded"] == 1
    assert stats["last_build_hit_rate"] == 0.0
    project.write("b.py", "def b2():\n    pass\n")  # the old b.py entry is now used by no build
    project.build()
    project.build(out=tmp_path / "again")  # a fresh output: every table from the cache
    assert _cache(project, capsys, "stats")["last_build_hit_rate"] == 1.0
    pruned = _cache(project, capsys, "prune", "--keep-builds", "1")
    assert pruned == {"before": 3, "removed": 1, "after": 2}
    assert _cache(project, capsys, "verify") == {"checked": 2, "bad": [], "fixed": False}
    cache = ContentCache(project.cache)
    key = next(iter(cache._open().iterkeys()))
    cache.put_many([(key, b'{"not": "a table"}')])
    cache.close()
    assert _cache(project, capsys, "verify", code=1)["bad"] == [key]
    assert _cache(project, capsys, "verify", "--fix")["bad"] == [key]
    assert _cache(project, capsys, "verify")["bad"] == []
    assert project.build(out=tmp_path / "third")["parsed"] == 1  # the deleted entry is simply computed again


def test_cache_commands_on_a_missing_cache_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "stats", "--cache", str(tmp_path / "none")]) == 1
    assert "no content cache" in capsys.readouterr().err
