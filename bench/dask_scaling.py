"""Measurements behind docs/scaling.md: the per-file costs of `--executor dask`, and whole builds.

    python bench/dask_scaling.py costs TREE N WORKDIR     # per-file costs of each stage, on N files of TREE
    python bench/dask_scaling.py build LABEL -- BUILD-ARGS  # one `kwbuild build` in process, timed (one JSON line)

`costs` runs each stage of the dask path alone, in this process, and prints wall and CPU microseconds per file
(the machine is shared: CPU time is the steadier number). `build` prints the wall time, the time and this
process's CPU when the last table task ended, the CPU of this process and of its children (LocalCluster workers,
page pool) and the load average before and after.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kwbuild.builder import TableBuilder
from kwbuild.cache import ContentCache, cache_key
from kwbuild.cli import main
from kwbuild.distributed import _read, extract_batch
from kwbuild.extract import EXTRACTORS, language_of, versions_key
from kwbuild.jobs import FileJob
from kwbuild.model import content_hash
from kwbuild.table_job import write_table


def timed(label: str, count: int, work: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:34s} wall {wall / count * 1e6:8.1f} us/file   cpu {cpu / count * 1e6:8.1f} us/file")
    return result


def costs(root: str, count: int, work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    rels = sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _dirs, names in os.walk(root)
        for name in names
        if language_of(name)
    )[:count]
    jobs = [FileJob(root, rel, None, language_of(rel) or "", str(work / "tables" / f"{rel}.json")) for rel in rels]
    cache = ContentCache(work / "cache")
    cache.put_many([("warm-up", b"{}")])

    def scan() -> list[tuple[str, bytes, str]]:
        items = []
        for job in jobs:
            data = _read(job) or b""
            extractor = EXTRACTORS[job.language]
            key = cache_key(content_hash(data), extractor.NAME, extractor.VERSION)
            if not cache.contains(key):
                items.append((key, data, job.language))
        return items

    items = timed("scan (read+hash+lookup), misses", len(jobs), scan)

    def extract() -> list[tuple[str, bytes, bool]]:
        return [result for i in range(0, len(items), 256) for result in extract_batch(items[i : i + 256], versions)]

    def store() -> None:
        for i in range(0, len(results), 256):
            cache.put_many([(key, value) for key, value, ok in results[i : i + 256] if ok])

    def take() -> None:
        for job, (key, _data, _language) in zip(jobs, items, strict=True):
            write_table(job, cache.get(key) or {}, "parsed")

    versions = versions_key()
    results = timed("extract (a worker's job)", len(items), extract)
    timed("store (put_many, 256 a time)", len(results), store)
    timed("take (get+place+write the table)", len(jobs), take)
    timed("scan (read+hash+lookup), hits", len(jobs), scan)
    source = sum(len(d) for _, d, _ in items) / len(items)
    table = sum(len(v) for _, v, _ in results) / len(results)
    print(f"{len(jobs)} files; {source:.0f} bytes of source and {table:.0f} bytes of table per file")


def build(label: str, args: list[str]) -> None:
    marks: dict[str, float] = {}
    original = TableBuilder.build_table

    def build_table(self: TableBuilder, job: FileJob) -> dict[str, Any]:
        result = original(self, job)
        marks.update(tables_end=time.perf_counter(), tables_cpu=time.process_time())
        return result

    TableBuilder.build_table = build_table  # type: ignore[method-assign]
    load, start, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
    code = main(args)
    wall = time.perf_counter() - start
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {
        "label": label,
        "exit": code,
        "wall": round(wall, 1),
        "tables_wall": round(marks.get("tables_end", start) - start, 1),
        "tables_client_cpu": round(marks.get("tables_cpu", cpu) - cpu, 1),
        "client_cpu": round(me.ru_utime + me.ru_stime, 1),
        "children_cpu": round(kids.ru_utime + kids.ru_stime, 1),
        "client_max_rss_mb": me.ru_maxrss // 1024,
        "load_start": round(load, 1),
        "load_end": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["costs"]:
        costs(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    elif sys.argv[1:2] == ["build"] and sys.argv[3:4] == ["--"]:
        build(sys.argv[2], ["build", *sys.argv[4:]])
    else:
        sys.exit(__doc__)
