"""Benchmark `kwbuild build` on the torch .py tree, each scenario beside a reference measured in the same run.

Usage: python bench/run.py [--corpus DIR] [--jobs N] [--repeat K] [--cold-repeat K] [--json FILE]

References: the one-core parse floor (`ast.parse` of every .py/.pyi file in a fresh interpreter, timing the
parse loop only) and the interpreter's start-up (`python -c pass`). kwbuild runs as a real subprocess. Memory
is the peak, over 20 ms samples, of the process tree's summed RSS (and PSS), plus the largest single process
as wait4 reports it (what `/usr/bin/time -f %M` prints). The target file is edited during the run and restored.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DEFAULT_CORPUS = BENCH / "corpus" / "torch-py"
DEFAULT_WORK = BENCH / "results" / "work"
WORK_MARKER = ".kwbuild-bench"
WHEEL = "torch==2.13.0"
TARGET = "torch/_inductor/ir.py"
ADDED = "def _kwbuild_bench_added():\n    return {n}\n"

FLOOR_CODE = """
import ast, json, os, sys, time
blobs = []
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        if name.endswith(('.py', '.pyi')):
            with open(os.path.join(folder, name), 'rb') as handle:
                blobs.append(handle.read())
errors, start, cpu = 0, time.perf_counter(), time.process_time()
for data in blobs:
    try:
        ast.parse(data)
    except (SyntaxError, ValueError):
        errors += 1
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({'seconds': seconds, 'cpu': cpu, 'files': len(blobs), 'errors': errors}))
"""


RUN_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
"""Runs as a user's shell would: this sandbox sets PYTHONDONTWRITEBYTECODE, which recompiles every module each run."""


@dataclass
class Run:
    """One subprocess: wall and CPU seconds (its whole tree), kwbuild's summary, memory peaks in MB."""

    seconds: float
    cpu: float
    summary: dict[str, Any] = field(default_factory=dict)
    tree_rss_mb: float = 0.0
    tree_pss_mb: float = 0.0
    max_rss_mb: float = 0.0
    others: float = 0.0  # cores busy with other processes meanwhile: the machine is shared


@dataclass
class Scenario:
    """A scenario's runs, its reference (another scenario's name), its goal and what failed."""

    name: str
    runs: list[Run] = field(default_factory=list)
    reference: str = ""
    goal: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(run.seconds for run in self.runs)


# ---------------------------------------------------------------------------------------------------- corpus


def prepare_corpus(corpus: Path) -> None:
    """Extract the wheel's torch/**/*.py and *.pyi into the default corpus folder when it is absent."""
    if corpus.is_dir():
        return
    if corpus != DEFAULT_CORPUS:
        raise SystemExit(f"bench: no corpus at {corpus}")
    download = corpus.parent / "dl"
    pip = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", str(download), "-q"]
    subprocess.run(pip, check=True)
    wheel = next(download.glob("torch-*.whl"))
    partial = corpus.with_name(corpus.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith("torch/") and name.endswith((".py", ".pyi")):
                archive.extract(name, partial)
    partial.rename(corpus)  # only a complete extraction counts as ready


def find_target(corpus: Path, target: str) -> Path:
    """`target` under the corpus, or without its first part (for a corpus that is torch/ itself)."""
    for candidate in (corpus / target, corpus / target.partition("/")[2]):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"bench: {target} not found under {corpus}")


def edit_literal(source: str, stamp: int) -> str:
    """`source` with the first int literal in a function body changed (by `stamp`); same line count."""
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in (sub for stmt in func.body for sub in ast.walk(stmt)):
            if isinstance(node, ast.Constant) and type(node.value) is int and node.lineno == node.end_lineno:
                lines = source.splitlines(keepends=True)
                line = lines[node.lineno - 1].encode()  # col offsets count UTF-8 bytes
                head, tail = line[: node.col_offset], line[node.end_col_offset :]
                lines[node.lineno - 1] = (head + str(node.value + stamp).encode() + tail).decode()
                return "".join(lines)
    raise SystemExit("bench: no int literal inside a function body of the target file")


# ------------------------------------------------------------------------------------------------- measuring


def _tree_memory_kb(pid: int) -> tuple[int, int]:
    """Summed Rss and Pss (kB) of a process and all its descendants, from /proc."""
    rss = pss = 0
    stack = [pid]
    while stack:
        member = stack.pop()
        try:
            for task in os.listdir(f"/proc/{member}/task"):
                with open(f"/proc/{member}/task/{task}/children") as handle:
                    stack.extend(int(child) for child in handle.read().split())
            with open(f"/proc/{member}/smaps_rollup") as handle:
                kb = {line[:3]: int(line.split()[1]) for line in handle if line.startswith(("Rss:", "Pss:"))}
            rss, pss = rss + kb.get("Rss", 0), pss + kb.get("Pss", 0)
        except OSError:
            continue  # the process ended meanwhile
    return rss, pss


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat)."""
    with open("/proc/stat") as handle:
        ticks = [int(tick) for tick in handle.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def timed(cmd: list[str], log: Path) -> tuple[Run, bytes]:
    """Run `cmd` to completion, sampling its tree's memory every 20 ms; the measurements and its stdout."""
    peaks = [0, 0]
    done = threading.Event()

    def sample(pid: int) -> None:
        while not done.wait(0.02):
            peaks[:] = map(max, peaks, _tree_memory_kb(pid))

    with log.open("ab") as err:
        start, busy = time.perf_counter(), _busy_seconds()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=RUN_ENV)
        sampler = threading.Thread(target=sample, args=(proc.pid,), daemon=True)
        sampler.start()
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)  # its rusage covers the children it waited for
        seconds, busy = time.perf_counter() - start, _busy_seconds() - busy
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {shlex.join(cmd)} exited {proc.returncode} (stderr in {log})")
    run = Run(seconds, usage.ru_utime + usage.ru_stime, tree_rss_mb=peaks[0] / 1024, tree_pss_mb=peaks[1] / 1024)
    run.max_rss_mb, run.others = usage.ru_maxrss / 1024, max(0.0, busy - run.cpu) / seconds
    return run, out


class Bench:
    """Runs kwbuild and the references on one corpus, with outputs and cache in a work folder."""

    def __init__(self, corpus: Path, work: Path, jobs: int) -> None:
        self.corpus, self.work, self.jobs = corpus, work, jobs
        script = Path(sys.executable).with_name("kwbuild")  # the real entry point, not a pyenv shim
        found = str(script) if script.is_file() else shutil.which("kwbuild")
        self.kwbuild = [found] if found else [sys.executable, "-m", "kwbuild.cli"]
        self.log = work / "stderr.log"

    def command(self, out: str) -> list[str]:
        w = self.work
        return [*self.kwbuild, "build", str(self.corpus), "--out", str(w / out), "--cache", str(w / "cache"),
                "-j", str(self.jobs), "--summary-json", str(w / "summary.json"), "-q"]  # fmt: skip

    def build(self, out: str = "out") -> Run:
        summary = self.work / "summary.json"
        summary.unlink(missing_ok=True)
        run = timed(self.command(out), self.log)[0]
        run.summary = json.loads(summary.read_text())
        return run

    def floor(self) -> Run:
        run, out = timed([sys.executable, "-c", FLOOR_CODE, str(self.corpus)], self.log)
        run.summary = json.loads(out)
        run.seconds, run.cpu = run.summary["seconds"], run.summary["cpu"]  # the parse loop only
        return run

    def startup(self) -> Run:
        return timed([sys.executable, "-c", "pass"], self.log)[0]

    def fresh(self, *names: str) -> None:
        for name in names:
            shutil.rmtree(self.work / name, ignore_errors=True)


# ------------------------------------------------------------------------------------------------- scenarios


def run_scenarios(bench: Bench, target: Path, repeat: int, cold_repeat: int) -> dict[str, Scenario]:
    names = ("floor", "startup", "cold", "noop", "touch", "body edit", "add symbol", "render all pages",
             "warm cache, fresh out")  # fmt: skip
    s = {name: Scenario(name) for name in names}
    original = target.read_bytes()
    text = original.decode("utf-8")
    for _ in range(cold_repeat):  # floor and cold interleaved: both see the same machine
        _record(s["floor"], bench.floor())
        bench.fresh("out", "cache")
        _record(s["cold"], bench.build())
    for _ in range(repeat):
        _record(s["startup"], bench.startup())
        _record(s["noop"], bench.build(), parsed=0, tables_written=0, pages_written=0)
    for _ in range(repeat):
        os.utime(target)
        _record(s["touch"], bench.build(), parsed=0)
    for rep in range(repeat):  # a new literal each time: the content cache has never seen it
        edited = edit_literal(text, stamp=rep + 1)
        assert edited.count("\n") == text.count("\n")
        _changed_build(bench, target, edited.encode(), original, s["body edit"])
    for rep in range(repeat):
        added = text + ("" if text.endswith("\n") else "\n") + ADDED.format(n=rep + 1)
        _changed_build(bench, target, added.encode(), original, s["add symbol"])
    for _ in range(repeat):  # every page again from the tables of the last build
        shutil.rmtree(bench.work / "out" / "docs")
        _record(s["render all pages"], bench.build(), parsed=0, tables_written=0)
    for _ in range(repeat):
        bench.fresh("out-warm")
        _record(s["warm cache, fresh out"], bench.build("out-warm"), parsed=0)
    return s


def _changed_build(bench: Bench, target: Path, data: bytes, original: bytes, scenario: Scenario) -> None:
    """Write `data`, time the build (one file to parse), then restore the file and rebuild, untimed."""
    target.write_bytes(data)
    try:
        _record(scenario, bench.build(), parsed=1)
    finally:
        target.write_bytes(original)
    scenario.failures += [f"restore {f}" for f in _unexpected(bench.build(), parsed=0)]


def _record(scenario: Scenario, run: Run, **wanted: int) -> None:
    scenario.runs.append(run)
    scenario.failures += _unexpected(run, **wanted)
    print(f"bench: {scenario.name:<22} {run.seconds:7.3f} s {json.dumps(run.summary)}", file=sys.stderr)


def _unexpected(run: Run, **wanted: int) -> list[str]:
    return [f"{key}={run.summary.get(key)}" for key, value in wanted.items() if run.summary.get(key) != value]


def judge(s: dict[str, Scenario]) -> None:
    """Attach references and goals; record the goals missed (by the median) as failures."""
    cold = s["cold"]
    cold.reference, cold.goal = "floor", "≤ 0.55 of floor, ≤ 400 MB"
    if cold.median > 0.55 * s["floor"].median:
        cold.failures.append("ratio")
    if max(run.tree_rss_mb for run in cold.runs) > 400:
        cold.failures.append("memory")
    limits = (("noop", 0.3), ("touch", 0.3), ("body edit", 0.6), ("add symbol", 1.0), ("render all pages", 1.5))
    for name, limit in limits:
        s[name].reference, s[name].goal = "startup", f"≤ {limit} s"
        if s[name].median > limit:
            s[name].failures.append("time")
    s["warm cache, fresh out"].reference, s["warm cache, fresh out"].goal = "floor", "parsed=0"


# -------------------------------------------------------------------------------------------------- reporting


def render_table(s: dict[str, Scenario]) -> str:
    head = "| scenario | wall s (median / min) | CPU s | in-process s | others | reference s | ratio | goal | result |"
    rows = [head, "|---|---|---|---|---|---|---|---|---|", *(_row(sc, s.get(sc.reference)) for sc in s.values())]
    cold, floor = s["cold"].runs, s["floor"].runs[0].summary
    peak = {key: max(getattr(r, key) for r in cold) for key in ("tree_rss_mb", "tree_pss_mb", "max_rss_mb")}
    rows += [
        f"\nCold build memory peaks: process tree RSS sum {peak['tree_rss_mb']:.0f} MB (the goal's measure), "
        f"PSS sum {peak['tree_pss_mb']:.0f} MB, largest single process {peak['max_rss_mb']:.0f} MB.",
        f"Corpus: {floor['files']} .py/.pyi files for the floor ({floor['errors']} not parsable), "
        f"{cold[0].summary['files']} for kwbuild. CPU s: user+system of the whole process tree; "
        "others: cores busy with other processes meanwhile (median).",
    ]
    return "\n".join(rows)


def _row(sc: Scenario, ref: Scenario | None) -> str:
    inner = [run.summary["seconds"] for run in sc.runs if "parsed" in run.summary]  # kwbuild's own clock
    cells = [
        sc.name,
        f"{sc.median:.3f} / {min(run.seconds for run in sc.runs):.3f}",
        f"{statistics.median(run.cpu for run in sc.runs):.3f}",
        f"{statistics.median(inner):.3f}" if inner else "",
        f"{statistics.median(run.others for run in sc.runs):.2f}",
        f"{ref.median:.3f} ({ref.name})" if ref else "",
        f"{sc.median / ref.median:.2f}" if ref else "",
        sc.goal,
        ("FAIL: " + ", ".join(sc.failures) if sc.failures else "pass") if sc.goal else "",
    ]
    return "| " + " | ".join(cells) + " |"


# ------------------------------------------------------------------------------------------------------ main


def reset_work(work: Path) -> None:
    """Empty the work folder; refuse a non-empty one that this script did not create."""
    if work.exists() and any(work.iterdir()) and not (work / WORK_MARKER).exists():
        raise SystemExit(f"bench: {work} is not empty and is not a bench work folder")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / WORK_MARKER).touch()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="tree (default: %(default)s)")
    parser.add_argument("--target", default=TARGET, help="file to touch and edit (default: %(default)s)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="outputs and cache (emptied first)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="kwbuild -j (default: cores)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (default: 3)")
    parser.add_argument("--cold-repeat", type=int, default=1, help="cold builds and floors (default: 1)")
    parser.add_argument("--json", type=Path, help="write the raw numbers to this file")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    prepare_corpus(args.corpus)
    corpus = args.corpus.resolve()
    target = find_target(corpus, args.target)
    reset_work(args.work)
    bench = Bench(corpus, args.work.resolve(), args.jobs)
    before = target.stat()
    try:
        scenarios = run_scenarios(bench, target, args.repeat, args.cold_repeat)
    finally:
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # the bytes are restored already
    judge(scenarios)
    print(render_table(scenarios))
    print(f"\nkwbuild command: {shlex.join(bench.command('out'))}\nbench command: {shlex.join(sys.argv)}")
    if args.json:
        raw = {name: asdict(sc) for name, sc in scenarios.items()}
        meta = {"command": bench.command("out"), "argv": sys.argv, "python": sys.version}
        args.json.write_text(json.dumps({**meta, "scenarios": raw}, indent=2) + "\n")
    return 1 if any(sc.failures for sc in scenarios.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
