"""A/B: warm cache into a fresh output folder, built by two checkouts of kwbuild in turns.

    python bench/ab_fresh.py --ref /tmp/ref --cache CACHE [--new .] [--corpus /work/corpus/torch] \
        [--turns 3] [--work /tmp/ab-fresh]

CACHE: a filled content cache (a finished build's, such as the bench's `WORK/cache`; both sides only read it:
every file is a cache hit). Each turn builds the whole tree once per side into a new output folder (ref first on
even turns, new first on odd ones), sampling the process tree's PSS every 20 ms (as `bench/run.py` does), and
prints each build's wall time, user and system CPU (the tree's, from `wait4`), the main process's max RSS and the
tree's PSS peak, then the medians. On this shared machine a whole build varies by 10-30% from one run to the next:
read the two sides turn by turn.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ab import CODE
from run import DEFAULT_CORPUS, tree_memory_kb


def build(checkout: Path, corpus: Path, out: Path, cache: Path) -> tuple[float, float, float, float, float]:
    """(wall s, user s, system s, main max RSS MB, tree PSS peak MB) of one build."""
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(checkout), "AB_CHECKOUT": str(checkout)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-c", CODE, "build", str(corpus), "--out", str(out), "--cache", str(cache), "-q"]
    peak = [0]
    done = threading.Event()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL, cwd=out.parent)  # not a checkout's folder

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], tree_memory_kb(proc.pid)[1])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ab_fresh: the build of {checkout} failed")
    return wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024, peak[0] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", type=Path, required=True, help="the reference checkout (a worktree)")
    parser.add_argument("--new", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--cache", type=Path, required=True, help="a filled content cache, only read")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/ab-fresh"), help="where the outputs go")
    args = parser.parse_args()
    sides = {"ref": args.ref.resolve(), "new": args.new.resolve()}
    results: dict[str, list[tuple[float, ...]]] = {side: [] for side in sides}
    print("| turn | side | wall s | user s | system s | main max RSS MB | tree PSS peak MB |")
    print("|---|---|---|---|---|---|---|")
    for turn in range(args.turns):
        for side in ("ref", "new") if turn % 2 == 0 else ("new", "ref"):
            row = build(sides[side], args.corpus, args.work / side, args.cache)
            results[side].append(row)
            print(f"| {turn + 1} | {side} | " + " | ".join(f"{value:.2f}" for value in row) + " |", flush=True)
    for side, rows in results.items():
        medians = [statistics.median(column) for column in zip(*rows, strict=True)]
        print(f"| median | {side} | " + " | ".join(f"{value:.2f}" for value in medians) + " |")


if __name__ == "__main__":
    main()
