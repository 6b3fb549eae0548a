"""Crash safety: a build killed with SIGKILL at a random moment leaves valid outputs, and the next build
repairs whatever was half done: its output is byte-identical to a clean build's."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.conftest import Project

GOLDEN_SOURCE = Path(__file__).parent / "data" / "golden" / "src"
TRIALS = int(os.environ.get("KWBUILD_CRASH_TRIALS", "20"))


def _tree(root: Path) -> None:
    shutil.copytree(GOLDEN_SOURCE, root)
    for i in range(240):
        package = root / f"gen{i % 12}"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text(f'"""Generated package {i % 12}."""\n')
        body = "".join(f"def f{j}(x):\n    return x + {j}\n\n\nclass K{j}:\n    pass\n\n\n" for j in range(40))
        header = f"from . import m{i + 12}\n" if i + 12 < 240 else ""
        (package / f"m{i}.py").write_text(header + body)


def _outputs(out: Path) -> dict[str, bytes]:
    files = [p for p in out.rglob("*") if p.is_file() and ".kwbuild" not in p.parts]
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in files}


def _build(root: Path, out: Path, cache: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "kwbuild.cli", "build", str(root), "--out", str(out), "--cache", str(cache), "-q"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_killed_build_is_repaired_by_the_next_one(project: Project, tmp_path: Path, trial: int) -> None:
    rng = random.Random(trial)
    root = tmp_path / "tree"
    _tree(root)
    reference = tmp_path / "reference"
    assert _build(root, reference, tmp_path / "ref-cache").wait(timeout=300) == 0
    out, cache = tmp_path / "out", tmp_path / "cache"
    if trial % 2:  # half the trials: an incremental build is killed (after edits), not a cold one
        assert _build(root, out, cache).wait(timeout=300) == 0
        for i in rng.sample(range(240), 20):
            path = root / f"gen{i % 12}" / f"m{i}.py"
            path.write_text(path.read_text() + f"\n\ndef added_{trial}_{i}():\n    pass\n")
        os.unlink(root / "shop" / "pricing.py")
        assert _build(root, reference, tmp_path / "ref-cache").wait(timeout=300) == 0
    victim = _build(root, out, cache)
    time.sleep(rng.uniform(0.05, 2.5))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    for path in out.rglob("*.json"):  # nothing half-written is ever visible under its final name
        if ".kwbuild" not in path.parts:
            orjson.loads(path.read_bytes())
    finisher = _build(root, out, cache)
    assert finisher.wait(timeout=300) == 0, finisher.stderr.read() if finisher.stderr else ""
    assert _outputs(out) == _outputs(reference)


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie that nobody reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a parent-death signal is Linux's")
def test_a_build_killed_while_its_pool_parses_takes_its_workers_with_it(project: Project) -> None:
    """SIGKILL while a worker parses a large file (~2 s): every worker ends at once instead of finishing its
    chunk (writing outputs as the next build runs, holding the output folder's lock it inherited), and the next
    build runs."""
    project.write("a_big.py", "".join(f"def f{n}(x):\n    return x + {n}\n\n\n" for n in range(150_000)))
    for n in range(40):
        project.write(f"pkg/m{n}.py", f"def g{n}():\n    pass\n")
    victim = _build(project.root, project.out, project.cache)
    deadline = time.monotonic() + 30
    while len(workers := _children(victim.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # the first chunk (the large file) is being parsed
    assert victim.poll() is None and len(workers) >= 2
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    time.sleep(0.2)
    assert [pid for pid in workers if not _gone(pid)] == []
    finisher = _build(project.root, project.out, project.cache)
    assert finisher.wait(timeout=300) == 0, finisher.stderr.read() if finisher.stderr else ""
    assert '"qualname":"f149999"' in (project.out / "tables" / "a_big.py.json").read_text()


def test_a_lock_held_for_a_build_of_another_user_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `running` marker names a process this user may not signal (`kill(pid, 0)` fails with EPERM: it lives,
    as another user's build): the lock is refused at once, not waited for as a killed build's would be."""
    import fcntl

    from kwbuild import build

    (tmp_path / "lock").touch()
    (tmp_path / "running").write_text("4242\n")
    holder, contender = (os.open(tmp_path / "lock", os.O_RDWR) for _ in range(2))
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: its lock blocks `contender`, in this process too
    signalled: list[int] = []
    monkeypatch.setattr(build, "LEFTOVERS_WAIT", 0.5)
    for error, waited in ((PermissionError, False), (ProcessLookupError, True)):

        def kill(pid: int, sig: int, error: type[OSError] = error) -> None:
            signalled.append(pid)
            raise error

        monkeypatch.setattr(os, "kill", kill)
        started = time.monotonic()
        assert not build._take_lock(contender, str(tmp_path / "running"))
        assert (time.monotonic() - started >= 0.5) == waited and signalled[-1] == 4242
    fcntl.flock(holder, fcntl.LOCK_UN)
    assert build._take_lock(contender, str(tmp_path / "running"))
    os.close(holder)
    os.close(contender)


def test_the_next_build_waits_for_the_lock_a_killed_build_left_to_its_children(project: Project) -> None:
    """The build named by the `running` marker is gone but a process still holds the lock (a child of it, not
    ended yet): the next build waits for it; while the named build runs, the next one is refused at once."""
    import fcntl

    project.write("a.py", "A = 1\n")
    project.build()
    state = project.out / ".kwbuild"
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder_code = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
    )
    for marker, hold, code in ((ended.stdout, "2", 0), (f"{os.getpid()}\n", "60", 1)):
        (state / "running").write_text(marker)
        command = [sys.executable, "-c", holder_code, str(state / "lock"), hold]
        holder = subprocess.Popen(command, stdout=subprocess.PIPE)
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        started = time.monotonic()
        build = _build(project.root, project.out, project.cache)
        assert build.wait(timeout=60) == code
        if code:  # refused long before the holder ends
            assert holder.poll() is None
            assert build.stderr is not None and b"another build is running" in build.stderr.read()
            holder.kill()
        else:  # it waited for the holder (2 s), though a process held the lock when it started
            assert holder.poll() is not None and time.monotonic() - started > 1
        holder.wait(timeout=10)
    lock = os.open(state / "lock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nothing holds it after the builds
    os.close(lock)
