"""Benchmark the C/C++ extractor against Universal Ctags on one tree, both measured in the same run.

Usage: python bench/cpp.py [--corpus DIR] [--jobs N] [--chunk K] [--repeat R]

Rows: `ctags -R` over the folder (one process, as ctags runs, writing a tags file), kwbuild's extractor over
the same files on a `multiprocessing` pool of N workers (each reads the bytes, extracts, and serialises the
table with orjson as a build would), and the floor: tree-sitter's parse alone, one process, on bytes read
beforehand. Wall seconds and CPU seconds (user + system, the pool's workers included) are printed as a
Markdown table with ratios to ctags; the goal is kwbuild's wall time <= 2 x ctags'. Each row is the fastest of
R runs (the runs alternate), since the machine may be shared: compare the ratios, and the CPU column when other
processes compete for the cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing import Pool
from pathlib import Path
from typing import NamedTuple

import orjson
import tree_sitter_cpp
from tree_sitter import Language, Parser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kwbuild.extract import cpp

DEFAULT_CORPUS = Path("/work/corpus/torch/include")
CTAGS_LANGUAGES = "C,C++,CUDA"


class Timing(NamedTuple):
    wall: float
    cpu: float


def measure(action: Callable[[], object]) -> Timing:
    """Wall and CPU time of ``action``: this process's and that of the children it waited for (pool workers)."""
    before = _cpu_seconds()
    start = time.perf_counter()
    action()
    return Timing(time.perf_counter() - start, _cpu_seconds() - before)


def _cpu_seconds() -> float:
    usages = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    return sum(usage.ru_utime + usage.ru_stime for usage in usages)


def source_files(corpus: Path) -> list[str]:
    suffixes = set(cpp.SUFFIXES)
    found = [
        os.path.join(folder, name)
        for folder, _, names in os.walk(corpus)
        for name in names
        if os.path.splitext(name)[1].lower() in suffixes
    ]
    return sorted(found)


def run_ctags(corpus: Path, ctags: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tags = os.path.join(scratch, "tags")
        subprocess.run([ctags, "-R", f"--languages={CTAGS_LANGUAGES}", "-f", tags, str(corpus)], check=True)


def extract_chunk(paths: list[str]) -> tuple[int, int]:
    """Worker: read, extract and serialise each file; returns (symbols, bytes of JSON)."""
    symbols = written = 0
    for path in paths:
        with open(path, "rb") as handle:
            table = cpp.extract(handle.read())
        symbols += len(table["symbols"])
        written += len(orjson.dumps(table, option=orjson.OPT_SORT_KEYS))
    return symbols, written


def chunks(paths: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(paths), size):
        yield paths[start : start + size]


def run_kwbuild(paths: list[str], jobs: int, chunk: int, totals: list[int]) -> None:
    with Pool(jobs) as pool:
        for symbols, written in pool.imap_unordered(extract_chunk, chunks(paths, chunk)):
            totals[0] += symbols
            totals[1] += written
        pool.close()
        pool.join()


def parse_all(blobs: list[bytes]) -> None:
    """tree-sitter's parse of every file in this process (each tree dropped at once, as the extractor does)."""
    parser = Parser(Language(tree_sitter_cpp.language()))
    for blob in blobs:
        parser.parse(blob)


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    options.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    options.add_argument("--jobs", type=int, default=2)
    options.add_argument("--chunk", type=int, default=64, help="files per pool task")
    options.add_argument("--repeat", type=int, default=3, help="runs of each row; the fastest is shown")
    args = options.parse_args(argv)
    ctags = shutil.which("ctags")
    if ctags is None or not args.corpus.is_dir():
        print(f"bench/cpp.py: needs ctags on PATH and a corpus folder ({args.corpus})", file=sys.stderr)
        return 2
    paths = source_files(args.corpus)
    size = sum(os.path.getsize(path) for path in paths)
    print(f"{len(paths)} files, {size / 1e6:.1f} MB under {args.corpus}; {args.jobs} workers; {os.cpu_count()} cores\n")
    blobs = [Path(path).read_bytes() for path in paths]
    totals = [0, 0]
    runs: dict[str, list[Timing]] = {"ctags": [], "kwbuild": [], "floor": []}
    for _ in range(args.repeat):
        totals[:] = [0, 0]
        runs["ctags"].append(measure(lambda: run_ctags(args.corpus, ctags)))
        runs["kwbuild"].append(measure(lambda: run_kwbuild(paths, args.jobs, args.chunk, totals)))
        runs["floor"].append(measure(lambda: parse_all(blobs)))
    ctags_time, kwbuild_time, floor_time = (min(runs[name]) for name in ("ctags", "kwbuild", "floor"))
    rows = [
        (f"ctags -R --languages={CTAGS_LANGUAGES} (1 process)", ctags_time),
        (f"kwbuild cpp extract + orjson ({args.jobs} workers)", kwbuild_time),
        ("tree-sitter parse only (1 process, floor)", floor_time),
    ]
    print("| run | wall s | CPU s | wall / ctags | CPU / ctags |")
    print("|---|---:|---:|---:|---:|")
    for label, timing in rows:
        print(
            f"| {label} | {timing.wall:.2f} | {timing.cpu:.2f} | {timing.wall / ctags_time.wall:.2f} "
            f"| {timing.cpu / ctags_time.cpu:.2f} |"
        )
    ratio = kwbuild_time.wall / ctags_time.wall
    print(f"\n{totals[0]} symbols, {totals[1] / 1e6:.1f} MB of JSON; goal kwbuild <= 2 x ctags: ratio {ratio:.2f}")
    ideal = kwbuild_time.cpu / args.jobs  # what the wall time would be with the cores to itself
    print(f"kwbuild's CPU / {args.jobs} workers = {ideal:.2f} s = {ideal / ctags_time.cpu:.2f} x ctags' CPU")
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
