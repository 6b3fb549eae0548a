"""Bad source files are data in their tables; user mistakes are one line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from kwbuild import build as kwbuild_build
from kwbuild.cli import main
from tests.conftest import Project

BAD_FILES: dict[str, bytes] = {
    "syntax.py": b"def ok():\n    pass\n\ndef broken(:\n    pass\n\nclass After:\n    pass\n",
    "py2.py": b'class Old:\n    def show(self):\n        print "hello"\n\ndef legacy():\n    exec "x = 1"\n',
    "latin1_without_cookie.py": "def caf\u00e9():\n    return '\u00e9'\n".encode("latin-1"),
    "bad_cookie.py": b"# -*- coding: no-such-codec -*-\ndef f():\n    pass\n",
    "binary.py": bytes(range(256)) * 4,
    "empty.py": b"",
    "deep.py": b"x = " + b"(" * 2000 + b"1" + b")" * 2000 + b"\n\ndef after_deep():\n    pass\n",
    "unary.py": b"x = " + b"-" * 200000 + b"1\n",
}


def _errors(project: Project, rel: str) -> list[dict[str, object]]:
    errors: list[dict[str, object]] = project.table(rel)["errors"]
    return errors


@pytest.fixture
def bad_tree(project: Project) -> Project:
    for rel, data in BAD_FILES.items():
        project.write(rel, data)
    project.write("good.py", "def fine():\n    pass\n")
    return project


def test_bad_files_are_recorded_and_the_build_exits_zero(bad_tree: Project) -> None:
    summary = bad_tree.build()
    assert summary["files"] == len(BAD_FILES) + 1
    for rel in ("syntax.py", "py2.py", "bad_cookie.py", "binary.py", "latin1_without_cookie.py"):
        assert _errors(bad_tree, rel), rel
        assert bad_tree.table(rel)["partial"] is True, rel
    assert _errors(bad_tree, "empty.py") == []
    assert _errors(bad_tree, "good.py") == []
    assert summary["errors"] >= 5


def test_syntax_error_keeps_definitions_before_and_after(bad_tree: Project) -> None:
    bad_tree.build()
    names = {s["name"] for s in bad_tree.table("syntax.py")["symbols"]}
    assert {"ok", "After"} <= names
    error = _errors(bad_tree, "syntax.py")[0]
    assert error["line"] == 4


def test_python2_file_still_lists_its_classes_and_functions(bad_tree: Project) -> None:
    bad_tree.build()
    symbols = {(s["qualname"], s["kind"]) for s in bad_tree.table("py2.py")["symbols"]}
    assert {("Old", "class"), ("Old.show", "method"), ("legacy", "function")} <= symbols


def test_undecodable_file_keeps_its_functions(bad_tree: Project) -> None:
    bad_tree.build()
    assert "caf\u00e9" in {s["name"] for s in bad_tree.table("latin1_without_cookie.py")["symbols"]}
    assert "f" in {s["name"] for s in bad_tree.table("bad_cookie.py")["symbols"]}


def test_deep_nesting_is_recorded_not_fatal(bad_tree: Project) -> None:
    bad_tree.build()
    for rel in ("deep.py", "unary.py"):
        assert _errors(bad_tree, rel), rel
    assert "after_deep" in {s["name"] for s in bad_tree.table("deep.py")["symbols"]}


def test_one_megabyte_generated_file(project: Project) -> None:
    body = "".join(f"def generated_{i}(a, b=1):\n    return a + b + {i}\n\n\n" for i in range(20000))
    project.write("generated.py", body)
    assert len(body) > 1_000_000
    summary = project.build()
    assert summary["errors"] == 0
    assert len(project.table("generated.py")["symbols"]) == 20000


def test_unreadable_file_is_recorded(project: Project) -> None:
    # /proc/self/mem stats as a regular file but reading it fails (EIO), even for root.
    project.write("good.py", "A = 1\n")
    os.symlink("/proc/self/mem", project.root / "unreadable.py")
    summary = project.build()
    table = project.table("unreadable.py")
    assert table["errors"][0]["kind"] == "read"
    assert table["hash"] is None
    assert summary["errors"] == 1


def test_symlink_loops_and_broken_links_are_skipped(project: Project) -> None:
    project.write("good.py", "A = 1\n")
    os.symlink("loop.py", project.root / "loop.py")
    os.symlink("missing.py", project.root / "broken.py")
    os.symlink(".", project.root / "again")  # a folder loop: folder symlinks are not followed
    summary = project.build()
    assert summary["files"] == 1
    assert summary["skipped"]["broken_symlink"] == 2


def test_file_deleted_during_the_build(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        project.write(f"m{i}.py", f"def f{i}():\n    pass\n")
    real_plan = kwbuild_build.make_plan

    def plan_then_delete(*args: object, **kwargs: object) -> kwbuild_build.Plan:
        plan = real_plan(*args, **kwargs)  # type: ignore[arg-type]
        (project.root / "m3.py").unlink()  # gone after discovery, before its task runs
        return plan

    monkeypatch.setattr(kwbuild_build, "make_plan", plan_then_delete)
    summary = project.build("-j", "1")
    assert summary["vanished"] == 1
    assert not (project.out / "tables/m3.py.json").exists()
    assert "m3.py" not in [f["path"] for f in project.manifest()["files"]]
    monkeypatch.undo()
    summary = project.build()
    assert summary["files"] == 4
    assert summary["parsed"] == 0


def test_file_deleted_while_a_parallel_build_runs(project: Project) -> None:
    for i in range(300):
        project.write(f"m{i:03}.py", "".join(f"def f{j}():\n    return {i}\n" for j in range(300)))
    stop = threading.Event()

    def delete_some() -> None:
        for i in range(299, 150, -7):
            if stop.is_set():
                return
            (project.root / f"m{i:03}.py").unlink()

    thread = threading.Thread(target=delete_some)
    thread.start()
    try:
        project.build("-j", "2")
    finally:
        stop.set()
        thread.join()
    summary = project.build()
    remaining = len(list(project.root.glob("*.py")))
    assert summary["files"] == remaining
    assert len(project.manifest()["files"]) == remaining
    assert len(list((project.out / "tables").glob("*.json"))) == remaining


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kwbuild.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["build", "/no/such/root"], 1, "does not exist"),
        (["build", "/etc/hostname"], 1, "is not a folder"),
        (["build", ".", "-j", "0"], 2, "at least 1"),
        (["build", ".", "--no-such-option"], 2, "unrecognized arguments"),
        (["frobnicate"], 2, "invalid choice"),
        (["show", "x.py", "--out", "/no/such/out"], 1, "holds no kwbuild build"),
    ],
)
def test_user_mistakes_give_one_line_and_no_traceback(args: list[str], code: int, needle: str) -> None:
    result = _run_cli(*args)
    assert result.returncode == code
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_output_folder(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write("a.py", "A = 1\n")
    blocker = project.root.parent / "a-file"
    blocker.write_text("not a folder")
    code = main(["build", str(project.root), "--out", str(blocker / "out"), "--cache", str(project.cache), "-q"])
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot write to output folder" in err
    assert len(err.strip().splitlines()) == 1


def test_show_and_export(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write("b.py", "def g():\n    pass\n")
    project.write("a/x.py", "class K:\n    pass\n")
    project.build()
    capsys.readouterr()
    assert main(["show", "b.py", "--out", str(project.out)]) == 0
    shown = capsys.readouterr().out
    assert '"qualname": "g"' in shown
    assert main(["export", "--out", str(project.out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split('"path":"')[1].split('"')[0] for line in lines] == ["a/x.py", "b.py"]
    assert main(["show", "../etc/passwd", "--out", str(project.out)]) == 1


def test_a_second_build_on_the_same_output_gets_a_clear_message(project: Project) -> None:
    import fcntl

    project.write("a.py", "A = 1\n")
    project.build()
    lock = os.open(project.out / ".kwbuild" / "lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # what a running build holds
    try:
        result = _run_cli("build", str(project.root), "--out", str(project.out), "--cache", str(project.cache))
    finally:
        os.close(lock)
    assert result.returncode == 1
    assert "another build is running" in result.stderr
    assert "Traceback" not in result.stderr
    assert project.build()["parsed"] == 0  # the lock went with its holder


def test_garbage_cache_database_is_moved_aside_and_the_build_goes_on(project: Project) -> None:
    project.write("a.py", "def f():\n    pass\n")
    project.build()
    (project.cache / "cache.db").write_bytes(b"this is not a database" * 100)
    for wal in ("cache.db-wal", "cache.db-shm"):
        (project.cache / wal).unlink(missing_ok=True)
    project.write("b.py", "def g():\n    pass\n")
    summary = project.build("--full")
    assert summary["files"] == 2
    assert project.table("b.py")["symbols"][0]["name"] == "g"
    assert list(project.cache.parent.glob("cache.corrupt-*"))


def test_deleted_doit_database_is_rebuilt_without_reparsing(project: Project) -> None:
    project.write("a.py", "def f():\n    pass\n")
    project.build()
    (project.out / ".kwbuild" / "doit.sqlite3").unlink()
    summary = project.build()
    assert (summary["parsed"], summary["tables_written"], summary["pages_written"]) == (0, 0, 0)
    (project.out / ".kwbuild" / "doit.sqlite3").write_bytes(b"garbage")
    summary = project.build()
    assert summary["parsed"] == 0


def test_files_over_the_size_cap_are_recorded_not_parsed(project: Project) -> None:
    project.write("big.py", "def f():\n    pass\n" * 1000)
    project.write("small.py", "def g():\n    pass\n")
    summary = project.build("--max-file-size", "1000")
    assert summary["oversized"] == 1
    table = project.table("big.py")
    assert table["errors"][0]["kind"] == "size"
    assert table["size"] == 18000 and table["hash"] and table["symbols"] == []
    assert project.table("small.py")["symbols"][0]["name"] == "g"
    summary = project.build()  # the default cap: the file is parsed now
    assert summary["parsed"] == 1
    assert len(project.table("big.py")["symbols"]) == 1000


def test_strict_turns_recorded_source_errors_into_exit_4(project: Project) -> None:
    project.write("bad.py", "def broken(:\n")
    project.build("--strict", expect=4)
    project.write("bad.py", "def fixed():\n    pass\n")
    project.build("--strict", expect=0)
