"""`kwbuild watch`: rebuilds on change, one build per burst of changes."""

from __future__ import annotations

import threading
import time
from typing import Any

from kwbuild.config import make_config
from kwbuild.watch import watch_tree
from tests.conftest import Project


def _wait_for(condition: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_watch_rebuilds_on_change_and_coalesces_a_burst(project: Project) -> None:
    for i in range(300):
        project.write(f"pkg{i % 3}/m{i}.py", f"def f{i}():\n    return {i}\n")
    config = make_config(project.root, project.out, project.cache, jobs=1)
    builds: list[tuple[dict[str, Any], int]] = []
    stop = threading.Event()

    def on_build(result: Any, events: int) -> None:
        builds.append(({"parsed": result.stats.parsed}, events))

    thread = threading.Thread(target=watch_tree, args=(config, on_build, stop), kwargs={"step_ms": 300})
    thread.start()
    try:
        assert _wait_for(lambda: len(builds) == 1)
        time.sleep(0.5)  # let the watcher start
        before = project.table("pkg0/m0.py")["hash"]
        project.write("pkg0/m0.py", "def f0():\n    return 'changed'\n")
        assert _wait_for(lambda: len(builds) == 2)
        assert builds[1][0]["parsed"] == 1
        assert project.table("pkg0/m0.py")["hash"] != before
        for i in range(300):  # a checkout-like burst: every file rewritten at once
            project.write(f"pkg{i % 3}/m{i}.py", f"def f{i}():\n    return {i} + 1\n")
        assert _wait_for(lambda: len(builds) >= 3 and builds[-1][0]["parsed"] > 0)
        time.sleep(1.5)
        assert len(builds) == 3, [events for _, events in builds]
        assert builds[2][0]["parsed"] == 300
        assert builds[2][1] >= 300
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
