"""Benchmark `kwbuild build` on a tree (torch's), each scenario beside references measured in the same run.

Usage: python bench/run.py [--corpus DIR] [--target PATH ...] [--jobs N] [--repeat K] [--cold-repeat K]
                           [--no-griffe] [--json FILE]

References: the one-core parse floor (in one fresh interpreter, parse loops only: `ast.parse` of every
.py/.pyi file plus tree-sitter-cpp of every file with one of kwbuild's C/C++ suffixes), the interpreter's
start-up (`python -c pass`), the file floor (in one fresh interpreter, creating, empty, every file the cold build
wrote: what the file system alone costs to write the outputs), `ctags -R` over the tree and `griffe dump` (static)
of the package. kwbuild runs
as a real subprocess. Memory is the peak, over 20 ms samples, of the process tree's summed PSS (what the goal is
checked on: the physical memory the tree holds, each page shared by forked workers counted once, split between
its sharers) and summed RSS (which counts a shared page once per process), plus the largest single process as
wait4 reports it (what `/usr/bin/time -f %M` prints). The target files (one
Python, one C/C++ header by default) are touched and edited during the run and restored, bytes and mtime.
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
TRASH = "trash"
"""Folders the runs drop go here (a rename) and are deleted only after the last run. This machine's ext4 has no
journal, and without one ext4 will not reuse an inode freed in the last 60 s (360 s while its inode table block
is dirty): every file created meanwhile scans past them all (`perf`: ~80% of the time of the creating loop in
`find_inode_bit`/`recently_deleted`). A build timed just after `rm -rf` of the last build's 49,000 outputs took
3-10x longer to create its files: a cost of the deletion, not of the build."""
WHEEL = "torch==2.13.0"
TARGETS = ("torch/_inductor/ir.py", "torch/include/c10/core/TensorImpl.h")
ADDED = {  # appended to the target: one new symbol
    "py": "def _kwbuild_bench_added_{n}():\n    return {n}\n",
    "C++": "inline int kwbuild_bench_added_{n}() {{ return {n}; }}\n",
}

FLOOR_CODE = """
import ast, json, os, sys, time
py_suffixes, cpp_suffixes = (tuple(json.loads(arg)) for arg in sys.argv[2:4])
py, cpp = [], []
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        suffix = os.path.splitext(name)[1].lower()
        if suffix in py_suffixes or suffix in cpp_suffixes:
            with open(os.path.join(folder, name), 'rb') as handle:
                (py if suffix in py_suffixes else cpp).append(handle.read())
errors, start, cpu = 0, time.perf_counter(), time.process_time()
for data in py:
    try:
        ast.parse(data)
    except (SyntaxError, ValueError):
        errors += 1
py_seconds, py_cpu = time.perf_counter() - start, time.process_time() - cpu
cpp_seconds = cpp_cpu = 0.0
if cpp:
    import tree_sitter_cpp
    from tree_sitter import Language, Parser
    parser = Parser(Language(tree_sitter_cpp.language()))
    start, cpu = time.perf_counter(), time.process_time()
    for data in cpp:
        parser.parse(data)
    cpp_seconds, cpp_cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({'seconds': py_seconds + cpp_seconds, 'cpu': py_cpu + cpp_cpu, 'py_seconds': py_seconds,
                  'cpp_seconds': cpp_seconds, 'files': len(py) + len(cpp), 'py_files': len(py),
                  'cpp_files': len(cpp), 'errors': errors}))
"""

FILE_FLOOR_CODE = """
import json, os, sys, time
source, target = sys.argv[1:3]
paths = []
for folder, dirs, names in os.walk(source):
    dirs[:] = [d for d in dirs if d != '.kwbuild']
    paths += [os.path.join(target, os.path.relpath(folder, source), name) for name in names]
start, cpu = time.perf_counter(), time.process_time()
for path in paths:
    try:
        handle = open(path, 'xb')
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle = open(path, 'xb')
    handle.close()
print(json.dumps({'seconds': time.perf_counter() - start, 'cpu': time.process_time() - cpu, 'files': len(paths)}))
"""

RUN_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
"""Runs as a user's shell would: this sandbox sets PYTHONDONTWRITEBYTECODE, which recompiles every module each run.
Every run starts in the work folder, so that `python -m`/`-c` do not import kwbuild from the current folder: to
measure a fixed commit while the checkout changes, `git archive COMMIT kwbuild | tar -x -C DIR` and set
PYTHONPATH=DIR (it comes before the editable install)."""


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
    load: float = 0.0  # the 1-minute load average when the run started (what `uptime` prints first)


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

    @property
    def is_build(self) -> bool:
        return all("parsed" in run.summary for run in self.runs)


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


def find_target(corpus: Path, target: str) -> Path | None:
    """`target` under the corpus, or without its first part (for a corpus that is torch/ itself)."""
    for candidate in (corpus / target, corpus / target.partition("/")[2]):
        if candidate.is_file():
            return candidate
    return None


def target_language(path: Path) -> str:
    return "py" if path.suffix in (".py", ".pyi") else "C++"


def edit_body(path: Path, data: bytes, stamp: int) -> bytes:
    """The file's bytes with one int literal inside a function body changed by `stamp`: same lines, same symbols."""
    edited = edit_literal(data.decode("utf-8"), stamp).encode() if target_language(path) == "py" else None
    edited = edited if edited is not None else edit_cpp_literal(data, stamp)
    assert edited.count(b"\n") == data.count(b"\n") and edited != data
    return edited


def add_symbol(path: Path, data: bytes, stamp: int) -> bytes:
    """The file's bytes with one top-level function appended."""
    return data + (b"" if data.endswith(b"\n") else b"\n") + ADDED[target_language(path)].format(n=stamp).encode()


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


def edit_cpp_literal(data: bytes, stamp: int) -> bytes:
    """`data` with the first decimal literal inside a function body (an inline function in a header) changed."""
    import tree_sitter_cpp
    from tree_sitter import Language, Node, Parser

    def first(node: Node, kind: str) -> Node | None:  # depth-first, in source order
        stack = [node]
        while stack:
            node = stack.pop()
            if node.type == kind and (kind != "number_literal" or (node.text or b"").isdigit()):
                return node
            if node.type == kind == "function_definition":
                continue  # a definition without a literal: look past it
            stack.extend(reversed(node.children))
        return None

    stack = [Parser(Language(tree_sitter_cpp.language())).parse(data).root_node]
    while stack:
        node = stack.pop()
        body = node.child_by_field_name("body") if node.type == "function_definition" else None
        literal = first(body, "number_literal") if body is not None else None
        if literal is not None:
            value = str(int(literal.text or b"0") + stamp).encode()
            return data[: literal.start_byte] + value + data[literal.end_byte :]
        stack.extend(reversed(node.children))
    raise SystemExit("bench: no decimal literal inside a function body of the target header")


# ------------------------------------------------------------------------------------------------- measuring


def tree_memory_kb(pid: int) -> tuple[int, int]:
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


def timed(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[Run, bytes]:
    """Run `cmd` to completion (in `log`'s folder, with `env` or `RUN_ENV`), sampling its tree's memory every
    20 ms; the measurements and its stdout."""
    peaks = [0, 0]
    done = threading.Event()

    def sample(pid: int) -> None:
        while not done.wait(0.02):
            peaks[:] = map(max, peaks, tree_memory_kb(pid))

    with log.open("ab") as err:
        load = os.getloadavg()[0]
        start, busy = time.perf_counter(), _busy_seconds()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env or RUN_ENV, cwd=log.parent)
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
    run.max_rss_mb, run.others, run.load = usage.ru_maxrss / 1024, max(0.0, busy - run.cpu) / seconds, load
    return run, out


def _script(name: str) -> list[str] | None:
    """A console script beside this interpreter (the real entry point, not a pyenv shim), else on PATH."""
    script = Path(sys.executable).with_name(name)
    found = str(script) if script.is_file() else shutil.which(name)
    return [found] if found else None


class Bench:
    """Runs kwbuild and the references on one corpus, with outputs and cache in a work folder."""

    def __init__(self, corpus: Path, work: Path, jobs: int) -> None:
        self.corpus, self.work, self.jobs = corpus, work, jobs
        self.kwbuild = _script("kwbuild") or [sys.executable, "-m", "kwbuild.cli"]
        self.log = work / "stderr.log"

    def command(self, out: str) -> list[str]:
        w = self.work
        return [*self.kwbuild, "build", str(self.corpus), "--out", str(w / out), "--cache", str(w / "cache"),
                "-j", str(self.jobs), "--summary-json", str(w / "summary.json"), "-q"]  # fmt: skip

    def require_kwbuild(self) -> str:
        """The folder of the `kwbuild` package the builds import (an editable install follows the last
        `pip install -e`: a CI run in a clone re-points it at the clone); exits with one line if there is none."""
        code = "import os, kwbuild; print(os.path.dirname(kwbuild.__file__))"
        run = subprocess.run([sys.executable, "-c", code], env=RUN_ENV, cwd=self.work, capture_output=True, text=True)
        package = run.stdout.strip()
        if not package:
            sys.exit(f"bench: {sys.executable} cannot import kwbuild from {self.work} (an editable install pointing "
                     "at a deleted clone, after a CI run? `pip install -e .` in the checkout)")  # fmt: skip
        return package

    def build(self, out: str = "out") -> Run:
        summary = self.work / "summary.json"
        summary.unlink(missing_ok=True)
        run = timed(self.command(out), self.log)[0]
        run.summary = json.loads(summary.read_text())
        return run

    def floor(self) -> Run:
        from kwbuild.extract import SUFFIXES  # the registry: the floor parses exactly the files kwbuild extracts

        suffixes = [
            json.dumps([s for s, language in SUFFIXES.items() if language == name]) for name in ("python", "cpp")
        ]
        run, out = timed([sys.executable, "-c", FLOOR_CODE, str(self.corpus), *suffixes], self.log)
        run.summary = json.loads(out)
        run.seconds, run.cpu = run.summary["seconds"], run.summary["cpu"]  # the parse loops only
        return run

    def file_floor(self) -> Run:
        """Create, empty and in one process, every file of the last build's output (then remove them)."""
        target = self.work / "file-floor"
        discard(target, self.work)
        run, out = timed([sys.executable, "-c", FILE_FLOOR_CODE, str(self.work / "out"), str(target)], self.log)
        discard(target, self.work)
        run.summary = json.loads(out)
        run.seconds, run.cpu = run.summary["seconds"], run.summary["cpu"]  # the creation loop only
        return run

    def startup(self) -> Run:
        return timed([sys.executable, "-c", "pass"], self.log)[0]

    def ctags_command(self) -> list[str]:
        return ["ctags", "-R", "-f", str(self.work / "tags"), str(self.corpus)]

    def ctags(self) -> Run:
        return timed(self.ctags_command(), self.log)[0]

    def griffe_command(self) -> list[str] | None:
        """`griffe dump` of the corpus's package, static (-X: no import of compiled modules), or None."""
        if (self.corpus / "__init__.py").is_file():
            search, package = self.corpus.parent, self.corpus.name
        else:
            found = sorted(p.name for p in self.corpus.iterdir() if (p / "__init__.py").is_file())
            if len(found) != 1:
                return None
            search, package = self.corpus, found[0]
        griffe = _script("griffe") or [sys.executable, "-m", "griffe"]
        return [*griffe, "dump", "-X", "-s", str(search), package, "-o", str(self.work / "griffe.json")]

    def griffe(self, command: list[str]) -> Run:
        return timed(command, self.log)[0]

    def fresh(self, *names: str) -> None:
        for name in names:
            discard(self.work / name, self.work)


# ------------------------------------------------------------------------------------------------- scenarios

LIMITS = {"noop": 0.3, "touch": 0.3, "body edit": 0.6, "add symbol": 1.0, "render all pages": 1.5,
          "warm cache, fresh out": 3.0}  # fmt: skip
MEMORY_MB = 400


def run_scenarios(
    bench: Bench, targets: list[Path], repeat: int, cold_repeat: int, griffe: bool
) -> dict[str, Scenario]:
    s: dict[str, Scenario] = {}

    def scenario(name: str) -> Scenario:
        return s.setdefault(name, Scenario(name))

    for _ in range(cold_repeat):  # floor, ctags and cold interleaved: all see the same machine
        _record(scenario("floor"), bench.floor())
        _record(scenario("ctags -R"), bench.ctags())
        bench.fresh("out", "cache")
        _record(scenario("cold"), bench.build())
        _record(scenario("file floor"), bench.file_floor())
    griffe_command = bench.griffe_command() if griffe else None
    if griffe_command:
        _record(scenario("griffe dump"), bench.griffe(griffe_command))  # once: ~40 s and > 1 GB
    for _ in range(repeat):
        _record(scenario("startup"), bench.startup())
        _record(scenario("noop"), bench.build(), parsed=0, tables_written=0, pages_written=0)
    for target in targets:
        for _ in range(repeat):
            os.utime(target)
            _record(scenario(f"touch ({target_language(target)})"), bench.build(), parsed=0)
    for target in targets:
        original, language = target.read_bytes(), target_language(target)
        for rep in range(repeat):  # a new literal each time: the content cache has never seen it
            edited = edit_body(target, original, stamp=rep + 1)
            _changed_build(bench, target, edited, original, scenario(f"body edit ({language})"))
        for rep in range(repeat):
            added = add_symbol(target, original, stamp=rep + 1)
            _changed_build(bench, target, added, original, scenario(f"add symbol ({language})"))
    for _ in range(repeat):  # every page again from the tables of the last build
        discard(bench.work / "out" / "docs", bench.work)
        _record(scenario("render all pages"), bench.build(), parsed=0, tables_written=0)
    for _ in range(repeat):
        bench.fresh("out-warm")
        _record(scenario("warm cache, fresh out"), bench.build("out-warm"), parsed=0)
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
    line = f"bench: {scenario.name:<22} {run.seconds:7.3f} s load {run.load:.2f} {json.dumps(run.summary)}"
    print(line, file=sys.stderr, flush=True)


def _unexpected(run: Run, **wanted: int) -> list[str]:
    return [f"{key}={run.summary.get(key)}" for key, value in wanted.items() if run.summary.get(key) != value]


def judge(s: dict[str, Scenario]) -> None:
    """Attach references and goals; record the goals missed (by the median) as failures."""
    cold = s["cold"]
    cold.reference, cold.goal = "floor", f"≤ 0.55 of floor, ≤ {MEMORY_MB} MB"
    if cold.median > 0.55 * s["floor"].median:
        cold.failures.append("ratio")
    for sc in s.values():
        kind = sc.name.partition(" (")[0]
        if kind in LIMITS:
            sc.reference = "file floor" if kind in ("warm cache, fresh out", "render all pages") else "startup"
            sc.goal = f"≤ {LIMITS[kind]} s" + ("" if sc is cold else f", ≤ {MEMORY_MB} MB")
            if sc.median > LIMITS[kind]:
                sc.failures.append("time")
        if sc.is_build and max(run.tree_pss_mb for run in sc.runs) > MEMORY_MB:
            sc.failures.append("memory")


# -------------------------------------------------------------------------------------------------- reporting


def render_table(s: dict[str, Scenario]) -> str:
    head = ("| scenario | wall s (median / min) | CPU s | in-process s | peak MB (RSS sum / PSS) | load | others "
            "| reference s | ratio | goal | result |")  # fmt: skip
    rows = [
        head,
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(_row(sc, s.get(sc.reference)) for sc in s.values()),
    ]
    floor = s["floor"].runs[0].summary
    rows += [
        f"\nFloor: {floor['py_files']} .py/.pyi files, ast.parse {floor['py_seconds']:.2f} s "
        f"({floor['errors']} not parsable) + {floor['cpp_files']} C/C++ files, tree-sitter-cpp "
        f"{floor['cpp_seconds']:.2f} s; {s['cold'].runs[0].summary['files']} files for kwbuild. "
        "CPU s: user+system of the whole process tree; peak MB: the process tree's summed RSS and PSS (max over "
        "runs; the goal is checked on PSS); load: 1-minute load average at the start (median); others: cores "
        "busy with other processes meanwhile (median).",
    ]
    return "\n".join(rows)


def _row(sc: Scenario, ref: Scenario | None) -> str:
    inner = [run.summary["seconds"] for run in sc.runs if "parsed" in run.summary]  # kwbuild's own clock
    cells = [
        sc.name,
        f"{sc.median:.3f} / {min(run.seconds for run in sc.runs):.3f}",
        f"{statistics.median(run.cpu for run in sc.runs):.3f}",
        f"{statistics.median(inner):.3f}" if inner else "",
        f"{max(r.tree_rss_mb for r in sc.runs):.0f} / {max(r.tree_pss_mb for r in sc.runs):.0f}",
        f"{statistics.median(run.load for run in sc.runs):.2f}",
        f"{statistics.median(run.others for run in sc.runs):.2f}",
        f"{ref.median:.3f} ({ref.name})" if ref else "",
        f"{sc.median / ref.median:.2f}" if ref else "",
        sc.goal,
        ("FAIL: " + ", ".join(sc.failures) if sc.failures else "pass") if sc.goal else "",
    ]
    return "| " + " | ".join(cells) + " |"


def _file_floor_reference(floor: Scenario, sc: Scenario) -> str:
    """The file floor, pro rata of the pages for a build that writes only pages."""
    files = floor.runs[0].summary["files"]
    if sc.name != "render all pages":
        return f"file floor {floor.median:.1f} s (its {files:,} files created empty)"
    pages = statistics.median(run.summary["pages_written"] for run in sc.runs)
    return f"file floor {floor.median * pages / files:.1f} s ({pages:,.0f} of its {files:,} files created empty)"


def render_goals(s: dict[str, Scenario], command: str) -> str:
    """The issue's table: each measure, its goal, kwbuild's figure, the references' figures, the command."""
    floor, cold, startup = s["floor"], s["cold"], s["startup"]
    info = floor.runs[0].summary
    refs = [f"floor {floor.median:.1f} s (ast {info['py_seconds']:.1f} + tree-sitter {info['cpp_seconds']:.1f})"]
    refs += [f"{name} {s[name].median:.1f} s" for name in ("ctags -R", "griffe dump") if name in s]
    rows = ["| measure | goal | kwbuild | references (same run) | command |", "|---|---|---|---|---|"]
    cpu = statistics.median(run.cpu for run in cold.runs)
    figure = (
        f"{cold.median:.1f} s = {cold.median / floor.median:.2f}x floor (CPU {cpu:.1f} s = {cpu / info['cpu']:.2f}x)"
    )
    rows.append(f"| cold build | ≤ 0.55x floor | {figure} | {'; '.join(refs)} | `{command}` |")
    for sc in s.values():
        kind = sc.name.partition(" (")[0]
        if kind not in LIMITS:
            continue
        inner = statistics.median(run.summary["seconds"] for run in sc.runs)
        ref = f"python start-up {startup.median:.3f} s"
        if sc.reference == "file floor" and "file floor" in s:
            ref = _file_floor_reference(s["file floor"], sc)
        rows.append(
            f"| {sc.name} | ≤ {LIMITS[kind]} s | {sc.median:.2f} s ({inner:.2f} s in-process) | {ref} | `{command}` |"
        )
    peak = max((sc for sc in s.values() if sc.is_build), key=lambda sc: max(r.tree_pss_mb for r in sc.runs))
    run = max(peak.runs, key=lambda r: r.tree_pss_mb)
    refs = [
        f"{name} {max(r.max_rss_mb for r in s[name].runs):.0f} MB" for name in ("ctags -R", "griffe dump") if name in s
    ]
    figure = f"{run.tree_pss_mb:.0f} MB PSS ({run.tree_rss_mb:.0f} RSS sum, largest process {run.max_rss_mb:.0f})"
    rows.append(f"| peak memory | ≤ {MEMORY_MB} MB | {figure} in '{peak.name}' | {'; '.join(refs)} | `{command}` |")
    return "\n".join(rows)


# ------------------------------------------------------------------------------------------------------ main


def reset_work(work: Path) -> None:
    """Empty the work folder; refuse a non-empty one that this script did not create."""
    if work.exists() and any(work.iterdir()) and not (work / WORK_MARKER).exists():
        raise SystemExit(f"bench: {work} is not empty and is not a bench work folder")
    old = work.with_name(f"{work.name}.old-{os.getpid()}")
    if work.exists():
        work.rename(old)
    work.mkdir(parents=True)
    (work / WORK_MARKER).touch()
    if old.exists():
        discard(old, work)


def discard(path: Path, work: Path) -> None:
    """Move `path` into the trash of the work folder, to be deleted by `empty_trash` after the last run."""
    if not path.exists():
        return
    trash = work / TRASH
    trash.mkdir(exist_ok=True)
    path.rename(trash / f"{len(os.listdir(trash))}-{path.name}")


def empty_trash(work: Path) -> None:
    """Delete what the runs discarded (after the last timed run: see TRASH)."""
    shutil.rmtree(work / TRASH, ignore_errors=True)


def resolve_targets(corpus: Path, wanted: list[str] | None) -> list[Path]:
    """The files to touch and edit: those asked for (each must exist), or the defaults found in the corpus."""
    found = [(name, find_target(corpus, name)) for name in wanted or TARGETS]
    missing = [name for name, path in found if path is None]
    if wanted and missing:
        raise SystemExit(f"bench: {', '.join(missing)} not found under {corpus}")
    targets = [path for _, path in found if path is not None]
    if not targets:
        raise SystemExit(f"bench: none of {', '.join(TARGETS)} under {corpus}: pass --target")
    return targets


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="tree (default: %(default)s)")
    parser.add_argument("--target", action="append", help=f"file to touch and edit, repeatable (default: {TARGETS})")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="outputs and cache (emptied first)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="kwbuild -j (default: cores)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (default: 3)")
    parser.add_argument("--cold-repeat", type=int, default=1, help="cold builds, floors, ctags (default: 1)")
    parser.add_argument("--no-griffe", action="store_true", help="skip the griffe reference (~40 s, > 1 GB)")
    parser.add_argument("--json", type=Path, help="write the raw numbers to this file")
    parser.add_argument("--from-json", type=Path, help="print the tables of a run saved with --json; run nothing")
    return parser.parse_args()


def load_json(path: Path) -> tuple[dict[str, Scenario], str]:
    """The judged scenarios and the bench command of a run saved with --json."""
    raw = json.loads(path.read_text())
    scenarios = {}
    for name, sc in raw["scenarios"].items():
        runs = [Run(**run) for run in sc.pop("runs")]
        scenarios[name] = Scenario(**{**sc, "runs": runs})
    return scenarios, shlex.join(["python", "bench/run.py", *raw["argv"][1:]])


def main() -> int:
    args = parse_args()
    if args.from_json:
        scenarios, command = load_json(args.from_json)
        print(f"{render_table(scenarios)}\n\n{render_goals(scenarios, command)}")
        return 1 if any(sc.failures for sc in scenarios.values()) else 0
    prepare_corpus(args.corpus)
    corpus = args.corpus.resolve()
    targets = resolve_targets(corpus, args.target)
    reset_work(args.work)
    bench = Bench(corpus, args.work.resolve(), args.jobs)
    package = bench.require_kwbuild()  # before minutes of floors and ctags, not at the first build
    saved = {target: (target.read_bytes(), target.stat()) for target in targets}
    loads = [os.getloadavg()]
    try:
        scenarios = run_scenarios(bench, targets, args.repeat, args.cold_repeat, not args.no_griffe)
    finally:
        for target, (data, before) in saved.items():
            if target.read_bytes() != data:
                target.write_bytes(data)
            os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        empty_trash(bench.work)
    loads.append(os.getloadavg())
    judge(scenarios)
    command = shlex.join(["python", "bench/run.py", *sys.argv[1:]])
    print(render_table(scenarios))
    print("Load averages (1, 5, 15 min) at the start and the end: " + "; ".join(
        ", ".join(f"{x:.2f}" for x in load) for load in loads))  # fmt: skip
    print(f"\n{render_goals(scenarios, command)}")
    print(f"\nkwbuild command: {shlex.join(bench.command('out'))}\nbench command: {command}")
    print(f"kwbuild package: {package}")
    print(f"ctags command: {shlex.join(bench.ctags_command())}")
    if "griffe dump" in scenarios:
        print(f"griffe command: {shlex.join(bench.griffe_command() or [])}")
    if args.json:
        raw = {name: asdict(sc) for name, sc in scenarios.items()}
        meta = {"command": bench.command("out"), "argv": sys.argv, "python": sys.version, "loads": loads}
        meta["kwbuild_package"] = package
        args.json.write_text(json.dumps({**meta, "scenarios": raw}, indent=2) + "\n")
    return 1 if any(sc.failures for sc in scenarios.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
