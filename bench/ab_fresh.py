"""A/B: warm cache (or cold) into a fresh output folder, built by two checkouts of kwbuild in turns.

    python bench/ab_fresh.py --ref /tmp/ref (--cache CACHE | --cold) [--new .] [--corpus /work/corpus/torch] \
        [--turns 3] [--work /tmp/ab-fresh]

CACHE: a filled content cache (a finished build's, such as the bench's `WORK/cache`; both sides only read it:
every file is a cache hit); `--cold`: each build parses every file, into a new, empty cache. Each turn builds the
whole tree once per side into a new output folder (ref first on even turns, new first on odd ones; the folders
are deleted after the last build, never between builds: see `run.TRASH`), measured as `bench/run.py` measures a
scenario (`run.timed`), and prints each build's wall time, CPU (the process tree's), the main process's max RSS
and the tree's PSS peak, then the medians. On this shared machine a whole build varies by 10-30% from one run to
the next: read the two sides turn by turn.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ab import CODE, checkout_env
from run import DEFAULT_CORPUS, timed


def build(checkout: Path, corpus: Path, out: Path, cache: Path) -> tuple[float, float, float, float]:
    """(wall s, CPU s, main max RSS MB, tree PSS peak MB) of one build into `out`, a new folder (run in its
    parent: not a checkout's folder, which `-c` would put first on `sys.path`)."""
    work = out.parent
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-c", CODE, "build", str(corpus), "--out", str(out), "--cache", str(cache), "-q"]
    run, _ = timed(cmd, work / "stderr.log", env=checkout_env(checkout))
    return run.seconds, run.cpu, run.max_rss_mb, run.tree_pss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", type=Path, required=True, help="the reference checkout (a worktree)")
    parser.add_argument("--new", type=Path, default=Path(__file__).resolve().parent.parent)
    cache = parser.add_mutually_exclusive_group(required=True)
    cache.add_argument("--cache", type=Path, help="a filled content cache, only read")
    cache.add_argument("--cold", action="store_true", help="each build with a new, empty cache (a cold build)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/ab-fresh"), help="where the outputs go")
    args = parser.parse_args()
    sides = {"ref": args.ref, "new": args.new}
    results: dict[str, list[tuple[float, ...]]] = {side: [] for side in sides}
    print("| turn | side | wall s | CPU s | main max RSS MB | tree PSS peak MB |\n|---|---|---|---|---|---|")
    runs = args.work / f"run-{os.getpid()}"
    for turn in range(args.turns):
        for side in ("ref", "new") if turn % 2 == 0 else ("new", "ref"):
            out = runs / side / f"out-{turn + 1}"
            row = build(sides[side], args.corpus, out, runs / side / f"cache-{turn + 1}" if args.cold else args.cache)
            results[side].append(row)
            print(f"| {turn + 1} | {side} | " + " | ".join(f"{value:.2f}" for value in row) + " |", flush=True)
    for side, rows in results.items():
        medians = [statistics.median(column) for column in zip(*rows, strict=True)]
        print(f"| median | {side} | " + " | ".join(f"{value:.2f}" for value in medians) + " |")
    shutil.rmtree(runs, ignore_errors=True)  # after the last build (see `run.TRASH`)


if __name__ == "__main__":
    main()
