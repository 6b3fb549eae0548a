"""Scale: a generated tree of 100,000 small files builds with bounded memory, and its no-op build does nothing.

kwbuild runs as a real subprocess (`-j 2`); a thread samples the whole process tree's memory every 100 ms (the
summed PSS from /proc/*/smaps_rollup, as bench/run.py measures it, so that pages a forked worker shares with
the main process count once). The tree comes from `bench/gen_tree.py`. Measurements behind the
bounds: BENCHMARKS.md ("Scale").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.gen_tree import GeneratedTree, generate
from bench.run import tree_memory_kb

FILES = int(os.environ.get("KWBUILD_SCALE_FILES", "100000"))  # the number; smaller only to debug the test
COLD_LIMIT_MB = 3500  # measured 2,816 MB PSS at 100k (was 4.2 GB before the page pool forked early); ~28 KB a file
NOOP_LIMIT_MB = 200  # measured 105 MB at 100k
DISK_NEEDED_MB = FILES * 45 // 1000  # measured 3.6 GB at 100k on ext4 (4 KB blocks), sampled every 5 s


@dataclass
class Measured:
    summary: dict[str, Any]
    peak_mb: float


def _build(tree: GeneratedTree, out: Path, cache: Path) -> Measured:
    summary_path = out.parent / "summary.json"
    summary_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "kwbuild.cli", "build", str(tree.root), "--out", str(out), "--cache",
               str(cache), "-j", "2", "--summary-json", str(summary_path), "-q"]  # fmt: skip
    peak, done = [0], threading.Event()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], tree_memory_kb(proc.pid)[1])  # (rss, pss): PSS counts shared pages once

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, stderr = proc.communicate(timeout=3600)
    finally:
        done.set()
        sampler.join()
        proc.kill()
    assert proc.returncode == 0, stderr.decode(errors="replace")[-4000:]
    return Measured(json.loads(summary_path.read_text()), peak[0] / 1024)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeneratedTree]:
    folder = tmp_path_factory.mktemp("scale")
    free_mb = shutil.disk_usage(folder).free // 2**20
    if free_mb < DISK_NEEDED_MB:  # a full disk would fail this test and every later one at setup
        pytest.skip(f"needs ~{DISK_NEEDED_MB} MB of free disk for {FILES} files, outputs and cache: {free_mb} MB free")
    yield generate(FILES, folder / "src")
    shutil.rmtree(folder)  # ~3.6 GB of sources, outputs and cache: not left for pytest's kept temp folders


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux /proc to sample memory")
def test_100k_files_build_with_bounded_memory_and_the_no_op_does_nothing(tree: GeneratedTree) -> None:
    out, cache = tree.root.parent / "out", tree.root.parent / "cache"
    cold = _build(tree, out, cache)
    assert cold.summary["files"] == FILES + tree.headers
    assert cold.summary["parsed"] == cold.summary["files"]
    assert cold.summary["errors"] == tree.bad > 0
    assert cold.peak_mb <= COLD_LIMIT_MB, f"cold build: PSS peak {cold.peak_mb:.0f} MB"
    noop = _build(tree, out, cache)
    assert noop.summary["files"] == cold.summary["files"]
    assert (noop.summary["parsed"], noop.summary["cache_hits"]) == (0, 0)
    assert (noop.summary["tables_written"], noop.summary["pages_written"]) == (0, 0)
    assert noop.peak_mb <= NOOP_LIMIT_MB, f"no-op build: PSS peak {noop.peak_mb:.0f} MB"
    print(f"scale: {FILES} files, PSS peak: cold {cold.peak_mb:.0f} MB, no-op {noop.peak_mb:.0f} MB")
