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
