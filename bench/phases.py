"""The phases of one `kwbuild build`: when each group of doit tasks starts, how long it runs, and the main
process's memory at its start, in the order doit runs them.

Usage: python bench/phases.py --corpus DIR --out DIR --cache DIR [--jobs N] [--repeat K]

Runs the build K times, each in a new interpreter (the `kwbuild build` command line run in process, with
doit's runner wrapped to note the first task of each group), into K new output folders `OUT-1`... (none may
exist: a fresh output folder, with the cache as it is: empty for a cold build, filled for "warm cache, fresh
out"). Prints a Markdown table with the median of each column. The page pool renders the per-file pages in its
own processes from the end of `links` on: the `page` row is the main process waiting for what is left of them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import doit.runner

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * _PAGE / 2**20


def timeline(argv: list[str]) -> list[tuple[str, float, float]]:
    """(phase, start s, RSS MB at its start) of one in-process build, then ("end", s, MB)."""
    from kwbuild.cli import main

    marks: list[tuple[str, float, float]] = []
    original = doit.runner.Runner.execute_task
    start = time.perf_counter()

    def execute_task(self: Any, task: Any) -> Any:
        group = task.name.partition(":")[0]
        if not marks or marks[-1][0] != group:
            marks.append((group, time.perf_counter() - start, rss_mb()))
        return original(self, task)

    doit.runner.Runner.execute_task = execute_task  # type: ignore[method-assign]
    try:
        code = main(argv)
    finally:
        doit.runner.Runner.execute_task = original  # type: ignore[method-assign]
    if code not in (0, None):
        raise SystemExit(f"phases: kwbuild build exited with {code}")
    return [("start-up and plan", 0.0, 0.0), *marks, ("end", time.perf_counter() - start, rss_mb())]


def table(runs: list[list[Any]]) -> str:
    names = [name for name, _, _ in runs[0]]
    lines = ["| phase | starts at s | lasts s | main RSS at start MB |", "|---|---|---|---|"]
    for i, name in enumerate(names[:-1]):
        at = statistics.median(run[i][1] for run in runs)
        lasts = statistics.median(run[i + 1][1] - run[i][1] for run in runs)
        rss = statistics.median(run[i][2] for run in runs)
        lines.append(f"| {name} | {at:.2f} | {lasts:.2f} | {f'{rss:.0f}' if rss else ''} |")
    end = statistics.median(run[-1][1] for run in runs)
    lines.append(f"| (end) | {end:.2f} | | {statistics.median(run[-1][2] for run in runs):.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="output folders OUT-1, OUT-2... (new)")
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: one build, JSON out
    args = parser.parse_args()
    if args.one:
        argv = ["build", str(args.corpus), "--out", str(args.out), "--cache", str(args.cache), "-j", str(args.jobs)]
        print(json.dumps(timeline([*argv, "-q"])))
        return 0
    outs = [args.out.with_name(f"{args.out.name}-{n}") for n in range(1, args.repeat + 1)]
    if any(out.exists() for out in outs):
        raise SystemExit(f"phases: {args.out}-N exists: give a new --out")
    runs = []
    for out in outs:
        child = [sys.executable, __file__, "--one", "--corpus", str(args.corpus), "--out", str(out)]
        child += ["--cache", str(args.cache), "--jobs", str(args.jobs)]
        marks = json.loads(subprocess.run(child, check=True, stdout=subprocess.PIPE).stdout)
        runs.append([tuple(mark) for mark in marks])
        print(f"phases: {out} {runs[-1][-1][1]:.2f} s", file=sys.stderr, flush=True)
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
