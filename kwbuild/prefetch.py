"""Parallel table jobs: a process pool runs the per-file jobs ahead of doit's serial walk.

doit stays the task graph and decides what is stale; this module only moves the heavy part of the table
tasks that will probably run (files whose stat changed since the last build) onto all cores, in the order
doit will ask for them. A task whose job was prefetched just takes its outcome; workers store their new
cache entries themselves, one transaction per chunk.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.pool
from collections.abc import Iterator, Sequence

from kwbuild.builder import BuildStats, FileJob, Outcome, build_table_file
from kwbuild.cache import ContentCache

MIN_JOBS_FOR_POOL = 24
"""Below this many candidates, starting a pool costs more than it saves."""

_worker_cache: list[ContentCache] = []  # the one ContentCache of a pool worker process (workers only)


def _init_worker(cache: ContentCache) -> None:
    gc.disable()  # AST nodes form no cycles: reference counting frees them; the collector only costs time
    _worker_cache.append(cache)


def _run_chunk(jobs: Sequence[FileJob]) -> list[Outcome]:
    cache = _worker_cache[0]
    pending: list[tuple[str, bytes]] = []
    outcomes = [build_table_file(job, cache, pending) for job in jobs]
    cache.put_many(pending)
    return outcomes


class Prefetcher:
    """Runs jobs on a pool and hands their outcomes to the tasks that ask, in any order."""

    def __init__(self, jobs: Sequence[FileJob], cache: ContentCache, workers: int, stats: BuildStats) -> None:
        self._stats = stats
        self._waiting = {job.rel for job in jobs}
        self._done: dict[str, Outcome] = {}
        context = multiprocessing.get_context(_start_method())
        self._pool = context.Pool(workers, initializer=_init_worker, initargs=(cache,))
        self._results: Iterator[list[Outcome]] = self._pool.imap(_run_chunk, _chunks(jobs, workers))

    def take(self, rel: str) -> Outcome | None:
        """The outcome of `rel`'s job (waiting for it), or None when it was not prefetched."""
        if rel not in self._waiting:
            return None
        while rel not in self._done:
            self._receive(next(self._results))
        self._waiting.discard(rel)
        return self._done.pop(rel)

    def close(self) -> None:
        """Wait for the remaining jobs (their tasks were up to date) and stop the pool."""
        for outcomes in self._results:
            self._receive(outcomes)
        self._pool.close()
        self._pool.join()

    def terminate(self) -> None:
        self._pool.terminate()
        self._pool.join()

    def _receive(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self._stats.record(outcome)
            self._done[outcome.rel] = outcome


def _chunks(jobs: Sequence[FileJob], workers: int) -> Iterator[Sequence[FileJob]]:
    size = max(1, min(32, len(jobs) // (workers * 16) or 1))
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


def _start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "fork" if "fork" in methods else "spawn"
