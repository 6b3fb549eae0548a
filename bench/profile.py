"""Where the seconds of an incremental `kwbuild build` go, scenario by scenario, grouped into the issue's buckets.

Usage: python bench/profile.py [--corpus DIR] [--target PATH ...] [--work DIR] [--reuse] [--rate HZ] [--top N]
                               [--render] [--only NAME ...]

After a cold build into the work folder (skipped with --reuse when one is there), each scenario (no-op, touch,
body edit, add symbol, per target file) runs kwbuild as a real subprocess three ways: under py-spy (sampling,
every thread and child process, idle included: the main thread's samples are grouped by bucket and by build
phase), under cProfile (the top functions by cumulative and own time), and, for the no-op, with
`python -X importtime` (start-up and imports by package). Each edit uses a new literal, so the content cache
has never seen it, and the file is restored (and rebuilt, untimed) after each run. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from run import (
    DEFAULT_CORPUS,
    RUN_ENV,
    Bench,
    add_symbol,
    discard,
    edit_body,
    empty_trash,
    reset_work,
    resolve_targets,
    target_language,
)

DEFAULT_WORK = Path(__file__).resolve().parent / "results" / "profile"

# (bucket, file part, function prefix): the first rule that matches a frame, scanning from the leaf to the root.
RULES: tuple[tuple[str, str, str], ...] = (
    ("hashing", "xxhash", ""),
    ("hashing", "kwbuild/model.py", "content_hash"),
    ("hashing", "hashlib", ""),
    ("content cache (diskcache)", "diskcache/", ""),
    ("content cache (diskcache)", "kwbuild/cache", ""),
    ("doit database (sqlite)", "doit/dependency.py", "SqliteDB"),
    ("doit database (sqlite)", "doit/dependency.py", "JSONCodec"),
    ("doit database (sqlite)", "doit/dependency.py", "Dependency.close"),
    ("doit database (sqlite)", "kwbuild/tasks.py", "_check_doit_db"),
    ("dependency checks (doit status, StatChecker)", "doit/dependency.py", ""),
    ("dependency checks (doit status, StatChecker)", "kwbuild/tasks.py", "StatChecker"),
    ("dependency checks (doit status, StatChecker)", "kwbuild/tasks.py", "SameValue"),
    ("dependency checks (doit status, StatChecker)", "kwbuild/tasks.py", "_Freshen"),
    ("doit run loop (dispatch, runner, reporter)", "doit/control.py", "TaskDispatcher"),
    ("doit run loop (dispatch, runner, reporter)", "doit/control.py", "ExecNode"),
    ("doit run loop (dispatch, runner, reporter)", "doit/runner.py", ""),
    ("doit run loop (dispatch, runner, reporter)", "doit/reporter.py", ""),
    ("doit run loop (dispatch, runner, reporter)", "doit/action.py", ""),
    ("doit run loop (dispatch, runner, reporter)", "kwbuild/progress.py", ""),
    ("doit task loading (generators, Task, TaskControl)", "doit/", ""),
    ("doit task loading (generators, Task, TaskControl)", "kwbuild/tasks.py", "table_tasks"),
    ("doit task loading (generators, Task, TaskControl)", "kwbuild/tasks.py", "page_tasks"),
    ("doit task loading (generators, Task, TaskControl)", "kwbuild/tasks.py", "folder_tasks"),
    ("doit task loading (generators, Task, TaskControl)", "kwbuild/tasks.py", "aggregate_task"),
    ("doit task loading (generators, Task, TaskControl)", "kwbuild/tasks.py", "namespace"),
    ("doit task loading (generators, Task, TaskControl)", "kwbuild/tasks.py", "_add_implicit_task_dep"),
    ("doit task loading (generators, Task, TaskControl)", "kwbuild/tasks.py", "_action"),
    ("process pool (start, feed, wait)", "kwbuild/prefetch.py", ""),
    ("process pool (start, feed, wait)", "multiprocessing/", ""),
    ("process pool (start, feed, wait)", "concurrent/", ""),
    ("snapshot / stat pass (plan, snapshot, discover)", "kwbuild/plan.py", ""),
    ("snapshot / stat pass (plan, snapshot, discover)", "kwbuild/snapshot.py", ""),
    ("snapshot / stat pass (plan, snapshot, discover)", "kwbuild/discover.py", ""),
    ("snapshot / stat pass (plan, snapshot, discover)", "kwbuild/resolve.py", ""),
    ("snapshot / stat pass (plan, snapshot, discover)", "kwbuild/tasks.py", "_save_snapshot"),
    ("snapshot / stat pass (plan, snapshot, discover)", "kwbuild/tasks.py", "_remove_stale_outputs"),
    ("digest store (store, digest)", "kwbuild/store.py", ""),
    ("digest store (store, digest)", "kwbuild/digest.py", ""),
    ("extraction (parse)", "kwbuild/extract/", ""),
    ("aggregates (manifest, symbol map, links, index data)", "kwbuild/index.py", ""),
    ("aggregates (manifest, symbol map, links, index data)", "kwbuild/link.py", ""),
    ("rendering (render/, pages)", "kwbuild/render/", ""),
    ("rendering (render/, pages)", "kwbuild/pages.py", ""),
    ("JSON and file writes (jsonio)", "kwbuild/jsonio.py", ""),
    ("table files (read, place, write)", "kwbuild/builder.py", ""),
    ("table files (read, place, write)", "kwbuild/model.py", ""),
    ("CLI, config, summary", "kwbuild/", ""),
)
IMPORTS = "imports (module execution)"
RENDER = "render all pages"
NO_FRAMES = "no Python frame (interpreter start-up, exit)"
WAITS = ("Condition.wait", "Event.wait", "Thread.join", "_wait_for_tstate_lock", "ApplyResult.wait")
STEPS = frozenset({"run_build", "cmd_build", "main"})
TASK_CREATION = ("namespace.", "table_tasks", "page_tasks", "folder_tasks", "aggregate_task")

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def bucket_of(frames: list[tuple[str, str]]) -> str:
    """The bucket of one stack (root first): imports if any frame is importing, else the leaf-most rule's."""
    if any(func == "_find_and_load" for func, _ in frames):
        return IMPORTS
    if frames and frames[-1][0] in WAITS:
        return "waiting (pool results, threads)"
    for func, file in reversed(frames):
        for bucket, part, prefix in RULES:
            if part in file and func.startswith(prefix):
                return bucket
    return f"other ({frames[-1][1].rpartition('/')[2]})" if frames else NO_FRAMES


def phase_of(frames: list[tuple[str, str]]) -> str:
    """The step of `run_build` (or of the CLI around it) the stack is in; inside doit, the kwbuild action."""
    funcs = [func for func, _ in frames]
    if "_find_and_load" in funcs and "run_build" not in funcs:
        return "imports before the build"
    if "run_build" not in funcs:
        tail = [func for func, file in frames if "kwbuild/" in file and func not in STEPS]
        return f"cli: {tail[0]}" if tail else ("interpreter" if not frames else "cli / exit")
    step = funcs[funcs.index("run_build") + 1] if funcs[-1] != "run_build" else "run_build"
    if step.lstrip("_") != "run_doit":
        return step
    doit_seen = False
    for func, file in frames[funcs.index(step) + 1 :]:
        doit_seen = doit_seen or "doit/" in file
        if doit_seen and "kwbuild/tasks.py" in file and func.startswith(TASK_CREATION):
            return f"{step} > task creation"
        if doit_seen and "kwbuild/" in file and "kwbuild/tasks.py" not in file:
            return f"{step} > {func}"
    return f"{step} > doit itself (loading, checks, db, dispatch)"


def parse_raw(path: Path) -> tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]], int]:
    """py-spy's raw stacks: (main thread stacks of the main process, main threads of child processes, others)."""
    main: Counter[tuple[str, ...]] = Counter()
    workers: Counter[tuple[str, ...]] = Counter()
    other_threads = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        parts = stack.split(";")
        procs = [p for p in parts if p.startswith("process ")]
        thread = next((p for p in parts if p.startswith("thread (")), "")
        frames = tuple(p for p in parts if not p.startswith(("process ", "thread (")))
        pid = procs[-1].split()[1].partition(":")[0] if procs else ""
        if not thread.startswith(f"thread ({pid})"):
            other_threads += int(count)
        elif len(procs) > 1:
            workers[frames] += int(count)
        else:
            main[frames] += int(count)
    return main, workers, other_threads


def split_frames(frames: tuple[str, ...]) -> list[tuple[str, str]]:
    result = []
    for frame in frames:
        match = FRAME.match(frame)
        result.append((match["func"], match["file"]) if match else (frame, ""))
    return result


def grouped(stacks: Counter[tuple[str, ...]], key: Callable[[list[tuple[str, str]]], str]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for frames, count in stacks.items():
        totals[key(split_frames(frames))] += count
    return totals


def table(totals: Counter[str], rate: int, title: str) -> list[str]:
    whole = sum(totals.values()) or 1
    rows = [f"| {title} | s | % |", "|---|---:|---:|"]
    rows += [f"| {name} | {count / rate:.3f} | {100 * count / whole:.0f} |" for name, count in totals.most_common()]
    return rows


# ----------------------------------------------------------------------------------------------------- running


class Profiler:
    """Runs one kwbuild build of a scenario under py-spy, cProfile or -X importtime, in the work folder."""

    def __init__(self, bench: Bench, rate: int) -> None:
        self.bench, self.rate = bench, rate
        self.script = bench.kwbuild if len(bench.kwbuild) == 1 else None  # the console script, run by python

    def python_command(self, *options: str) -> list[str]:
        build = self.bench.command("out")[len(self.bench.kwbuild) :]
        entry = [self.script[0]] if self.script else ["-m", "kwbuild.cli"]
        return [sys.executable, *options, *entry, *build]

    def run(self, cmd: list[str], name: str) -> tuple[float, dict[str, object], str]:
        summary = self.bench.work / "summary.json"
        summary.unlink(missing_ok=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=RUN_ENV, capture_output=True, text=True, cwd=self.bench.work)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"profile: {name}: {shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        return seconds, json.loads(summary.read_text()), proc.stderr

    def pyspy(self, name: str) -> tuple[float, dict[str, object], Path]:
        raw = self.bench.work / f"{slug(name)}.pyspy.txt"
        spy = ["py-spy", "record", "-r", str(self.rate), "-f", "raw", "--idle", "--threads", "--subprocesses"]
        seconds, summary, _ = self.run([*spy, "-o", str(raw), "--", *self.bench.command("out")], name)
        return seconds, summary, raw

    def cprofile(self, name: str) -> tuple[float, dict[str, object], Path]:
        prof = self.bench.work / f"{slug(name)}.prof"
        seconds, summary, _ = self.run(self.python_command("-m", "cProfile", "-o", str(prof)), name)
        return seconds, summary, prof

    def importtime(self) -> tuple[float, str]:
        seconds, _, stderr = self.run(self.python_command("-X", "importtime"), "importtime")
        return seconds, stderr


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def scenarios(
    targets: list[Path], render: bool
) -> list[tuple[str, Path | None, Callable[[Path, bytes, int], bytes] | None]]:
    """(name, file, change): the change is None for a touch (file given) or a no-op (no file)."""
    found: list[tuple[str, Path | None, Callable[[Path, bytes, int], bytes] | None]] = [("noop", None, None)]
    for target in targets:
        language = target_language(target)
        found += [(f"touch ({language})", target, None), (f"body edit ({language})", target, edit_body)]
        found.append((f"add symbol ({language})", target, add_symbol))
    return found + ([(RENDER, None, None)] if render else [])


def profile_scenario(
    profiler: Profiler, name: str, target: Path | None, change: Callable[[Path, bytes, int], bytes] | None, stamp: int
) -> list[str]:
    """Both profiles of one scenario (each with its own change), restoring the file after each."""
    results = []
    for way, runner in (("py-spy", profiler.pyspy), ("cProfile", profiler.cprofile)):
        original = target.read_bytes() if target else b""
        if name == RENDER:  # every page again from the tables of the last build
            discard(profiler.bench.work / "out" / "docs", profiler.bench.work)
        if target is not None and change is None:
            os.utime(target)
        elif target is not None and change is not None:
            target.write_bytes(change(target, original, stamp))
            stamp += 1
        try:
            results.append((way, *runner(name)))
        finally:
            if target is not None and change is not None:
                target.write_bytes(original)
        if target is not None:
            profiler.bench.build()  # restored: back to a built tree, untimed
    return report(name, results, profiler.rate)


def report(name: str, results: list[tuple[str, float, dict[str, object], Path]], rate: int) -> list[str]:
    lines = [f"\n### {name}\n"]
    for way, seconds, summary, _ in results:
        counts = ", ".join(f"{key} {summary[key]}" for key in ("parsed", "tables_written", "pages_written"))
        lines.append(f"- under {way}: wall {seconds:.3f} s, kwbuild's own {summary['seconds']} s ({counts})")
    raw = results[0][3]
    main, workers, other_threads = parse_raw(raw)
    sampled = sum(main.values())
    lines.append(
        f"- py-spy at {rate} Hz: main thread {sampled / rate:.3f} s sampled, other threads "
        f"{other_threads / rate:.3f} s (idle included), child processes' main threads "
        f"{sum(workers.values()) / rate:.3f} s; raw stacks: {raw}\n"
    )
    lines += table(grouped(main, bucket_of), rate, "bucket (main thread)")
    lines.append("")
    lines += table(grouped(main, phase_of), rate, "build phase (main thread)")
    if workers:
        lines.append("")
        lines += table(grouped(workers, bucket_of), rate, "bucket (pool workers, summed)")
    return lines


# ----------------------------------------------------------------------------------------------------- cProfile


def top_functions(prof: Path, key: str, count: int) -> list[str]:
    stats = pstats.Stats(str(prof))
    entries = stats.stats  # type: ignore[attr-defined]
    index = {"cumulative": 3, "tottime": 2}[key]
    ranked = sorted(entries.items(), key=lambda item: item[1][index], reverse=True)[:count]
    total = max(value[3] for value in entries.values())
    rows = [f"| function ({key}) | calls | own s | cumulative s | % of run |", "|---|---:|---:|---:|---:|"]
    for (file, line, func), (_cc, calls, own, cumulative, _callers) in ranked:
        where = f"{short_path(file)}:{line}" if line else short_path(file)
        share = 100 * (cumulative if key == "cumulative" else own) / total
        rows.append(f"| `{func}` {where} | {calls} | {own:.3f} | {cumulative:.3f} | {share:.0f} |")
    return rows


def short_path(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/kwbuild/"):
        if marker in path:
            head = "kwbuild/" if marker == "/kwbuild/" else ""
            return head + path.rpartition(marker)[2]
    return path


# --------------------------------------------------------------------------------------------------- importtime


def import_summary(stderr: str, startup: float, count: int) -> list[str]:
    """-X importtime's lines summed by top-level package (self time), with the interpreter's bare start-up."""
    by_package: Counter[str] = Counter()
    total = 0
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            by_package[match[4].split(".")[0]] += int(match[1])
            total += int(match[1])
    rows = [
        f"Interpreter start-up (`python -c pass`, median of 5): {startup:.3f} s. "
        f"Imports (`-X importtime`, self times summed): {total / 1e6:.3f} s.\n",
        "| package | self s | % of imports |",
        "|---|---:|---:|",
    ]
    rows += [f"| {name} | {us / 1e6:.3f} | {100 * us / total:.0f} |" for name, us in by_package.most_common(count)]
    return rows


# ------------------------------------------------------------------------------------------------------ main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="tree (default: %(default)s)")
    parser.add_argument("--target", action="append", help="file to touch and edit, repeatable (default: run.py's)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="outputs, cache, profiles")
    parser.add_argument("--reuse", action="store_true", help="keep the work folder's build instead of a cold one")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="kwbuild -j (default: cores)")
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second (default: 500)")
    parser.add_argument("--render", action="store_true", help="also profile 'render all pages' (slow)")
    parser.add_argument("--only", action="append", help="profile only the scenarios of this name, repeatable")
    parser.add_argument("--top", type=int, default=15, help="functions listed per cProfile ranking (default: 15)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if shutil.which("py-spy") is None:
        raise SystemExit("profile: needs py-spy on PATH (pip install py-spy)")
    corpus = args.corpus.resolve()
    targets = resolve_targets(corpus, args.target)
    work = args.work.resolve()
    bench = Bench(corpus, work, args.jobs)
    if not (args.reuse and (work / "out").is_dir()):
        reset_work(work)
        print(f"profile: cold build into {work} ...", file=sys.stderr, flush=True)
        bench.build()
    bench.build()  # settle: the next no-op is a true no-op
    saved = {target: (target.read_bytes(), target.stat()) for target in targets}
    profiler = Profiler(bench, args.rate)
    lines = [
        f"## Profiles of `{shlex.join(bench.command('out'))}`",
        "",
        f"Load average at the start: {os.getloadavg()}",
    ]
    try:
        startup = sorted(bench.startup().seconds for _ in range(5))[2]
        if not args.only or "noop" in args.only:
            lines += ["", "### start-up and imports (no-op build)", ""]
            lines += import_summary(profiler.importtime()[1], startup, args.top)
        for number, (name, target, change) in enumerate(scenarios(targets, args.render)):
            if args.only and name not in args.only:
                continue
            print(f"profile: {name} ...", file=sys.stderr, flush=True)
            lines += profile_scenario(profiler, name, target, change, stamp=100 * (number + 1))
            for key in ("cumulative", "tottime"):
                lines += ["", *top_functions(work / f"{slug(name)}.prof", key, args.top)]
    finally:
        for target, (data, before) in saved.items():
            if target.read_bytes() != data:
                target.write_bytes(data)
            os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        empty_trash(work)
    lines.append(f"\nLoad average at the end: {os.getloadavg()}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
