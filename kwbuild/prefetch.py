"""Parallel jobs: a process pool runs per-file jobs ahead of doit's serial walk.

doit stays the task graph and decides what is stale; this module only moves the heavy part of the per-file tasks
that will probably run (tables of files whose stat changed, pages of files whose table or links changed) onto all
cores, in the order doit will ask for them. A task whose job was prefetched just takes its outcome.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Protocol, TypeVar

from kwbuild.heap import release_if_grown

if TYPE_CHECKING:
    import multiprocessing.pool

log = logging.getLogger("kwbuild")

MIN_JOBS_FOR_POOL = 24
"""Below this many jobs, starting a pool costs more than it saves."""


class Job(Protocol):
    rel: str


class Outcome(Protocol):
    rel: str


JobT = TypeVar("JobT", bound=Job)
OutcomeT = TypeVar("OutcomeT", bound=Outcome)

Work = Callable[[list[Any], Any], list[Any]]

_worker_state: list[tuple[Work, Any]] = []  # (work, context) of a pool worker process (workers only)


def die_with_parent(parent: int) -> None:
    """In a child process: be killed as soon as `parent` (the build) ends, however it ends (Linux's
    `PR_SET_PDEATHSIG`; elsewhere nothing is asked). Without it, a build killed with SIGKILL left its workers to
    finish their chunks, writing outputs while the next build ran, and holding the output folder's lock
    (inherited through fork): the next build said "another build is running". Costs ~3 ms (`ctypes`), in the
    child."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):  # (a Python without ctypes: the child ends when its work does)
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _init_worker(work: Work, context: Any, parent: int) -> None:
    die_with_parent(parent)
    # What the worker inherited is frozen out of the collector, which then runs once per chunk instead of every
    # 700 allocations: measured on the torch tree, 18% less CPU than the default and the same peak memory
    # (disabling it outright leaks ~300k objects of reference cycles and doubles the memory).
    gc.freeze()
    gc.disable()
    _worker_state.append((work, context))


def _run_chunk(jobs: list[Any]) -> list[Any]:
    work, context = _worker_state[0]
    try:
        return work(jobs, context)
    finally:
        gc.collect()
        release_if_grown()  # a large file's pages leave the worker ~25 MB bigger otherwise (see kwbuild.heap)


def start_pool(work: Work, context: Any, workers: int) -> multiprocessing.pool.Pool:
    """A pool whose workers run `work(chunk, context)`.

    Workers are forked: start a pool while the parent is small (a pool forked late from a parent that holds a
    tree's task graph and digests makes each worker touch, and copy, far more of it: measured at 100,000 files,
    ~920 MB PSS per page worker forked after the links vs ~45 MB forked before the table phase)."""
    import multiprocessing.pool  # imported when a pool starts (~20 ms): the early child of an edit needs none

    pool_context = multiprocessing.get_context(_start_method())
    return pool_context.Pool(workers, initializer=_init_worker, initargs=(work, context, os.getpid()))


class Prefetcher(Generic[JobT, OutcomeT]):
    """Runs `work(chunk, context)` on a pool and hands each outcome to the task that asks for it.

    The jobs are given at the start, or also as they become known (`add`, then `flush`): the pool then starts on
    the first ones while this process finds the next (the page jobs, while the links task writes each file's
    links). Chunks go to the pool in the order of the jobs, the order in which doit's tasks ask for them."""

    def __init__(
        self,
        jobs: Sequence[JobT],
        work: Work,
        context: Any,
        workers: int,
        receive: Callable[[OutcomeT], None],
        pool: multiprocessing.pool.Pool | None = None,
        expected: int | None = None,
    ) -> None:
        """`pool`: one from `start_pool(work, context, workers)` started earlier (the prefetcher then owns it).

        `expected`: more jobs are to be added, about this many in all (it sizes the chunks). Until `flush`, one
        worker stays idle, leaving its core to this process: what it does meanwhile (linking the tree) is the
        build's longest chain (with both workers busy, torch's links took 9.3 s instead of 3.8 in one run)."""
        self._receive_one = receive
        self._waiting: set[str] = set()
        self._done: dict[str, OutcomeT] = {}
        self._pool = pool if pool is not None else start_pool(work, context, workers)
        self._sent: deque[tuple[multiprocessing.pool.AsyncResult[list[OutcomeT]], list[str]]] = deque()
        self._unsent: deque[list[JobT]] = deque()
        self._chunk: list[JobT] = []
        self._size = chunk_size(len(jobs) if expected is None else expected, workers)
        self._busy = None if expected is None else max(1, workers - 1)  # chunks at work at once, until `flush`
        self._started = self._ended = 0  # chunks sent, chunks ended (counted by the pool's result thread)
        self.add(jobs)
        if expected is None:
            self.flush()

    def add(self, jobs: Iterable[JobT]) -> None:
        """More jobs, after those given so far: sent to the pool by full chunks."""
        for job in jobs:
            self._waiting.add(job.rel)
            self._chunk.append(job)
            if len(self._chunk) >= self._size:
                self._unsent.append(self._chunk)
                self._chunk = []
        self._send()

    def flush(self) -> None:
        """Send every job given so far, and the next ones as they are added."""
        if self._chunk:
            self._unsent.append(self._chunk)
            self._chunk = []
        self._busy = None
        self._send()

    def take(self, rel: str) -> OutcomeT | None:
        """The outcome of `rel`'s job (waiting for it), or None when it was not prefetched or its chunk failed
        (the task then runs the job itself, where its error, if it comes again, is the task's)."""
        while rel in self._waiting and rel not in self._done:
            if not self._sent:
                self.flush()
                if not self._sent:
                    break
            self._collect(*self._sent.popleft())
            self._send()
        self._waiting.discard(rel)
        return self._done.pop(rel, None)

    def close(self) -> None:
        """Wait for the remaining jobs (their tasks were up to date) and stop the pool."""
        self.flush()
        while self._sent:
            self._collect(*self._sent.popleft())
        self._pool.close()
        self._pool.join()

    def terminate(self) -> None:
        self._pool.terminate()
        self._pool.join()

    def _send(self) -> None:
        while self._unsent and (self._busy is None or self._started - self._ended < self._busy):
            chunk = self._unsent.popleft()
            result = self._pool.apply_async(_run_chunk, (chunk,), callback=self._end, error_callback=self._end)
            self._sent.append((result, [job.rel for job in chunk]))
            self._started += 1

    def _end(self, _: object) -> None:
        self._ended += 1

    def _collect(self, result: multiprocessing.pool.AsyncResult[list[OutcomeT]], rels: list[str]) -> None:
        try:
            outcomes = result.get()
        except Exception as error:  # a worker's: the chunk's tasks run their jobs themselves
            log.warning("%d jobs failed in a worker (%r); they run in this process", len(rels), error)
            self._waiting.difference_update(rels)
            return
        for outcome in outcomes:
            self._receive_one(outcome)
            self._done[outcome.rel] = outcome


class ForkedPrefetcher(Generic[JobT, OutcomeT]):
    """Runs a few jobs in forked children while this process goes on: too few jobs for a pool (an edit of one
    file), but their work (parsing a large file) then overlaps the rest of the build's start (walking the tree,
    importing doit, loading the tasks) instead of following it. Same interface as `Prefetcher`.

    Each child (one per `add`) sends its outcomes, pickled, through a pipe and exits. A child that fails or dies
    sends nothing: each of its jobs is then run in process by its task, as without a prefetcher."""

    def __init__(self, jobs: Sequence[JobT], work: Work, context: Any) -> None:
        self.receive: Callable[[OutcomeT], None] | None = None  # given each outcome (set by the task layer)
        self._children: list[_Child] = []
        self._done: dict[str, OutcomeT] = {}
        self.add(jobs, work, context)

    def add(self, jobs: Sequence[JobT], work: Work, context: Any) -> None:
        """Start more jobs, in one more child that runs `work(jobs, context)` (none for no job)."""
        if not jobs:
            return
        read, write = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read)
            die_with_parent(parent)
            _run_forked(list(jobs), work, context, write)
        os.close(write)
        self._children.append(_Child(pid, read, {job.rel for job in jobs}))

    def take(self, rel: str) -> OutcomeT | None:
        """The outcome of `rel`'s job (waiting for its child), or None when no child gave it."""
        child = next((child for child in self._children if rel in child.waiting), None)
        if child is None:
            return None
        child.waiting.discard(rel)
        self._collect(child)
        return self._done.pop(rel, None)

    def close(self) -> None:
        """Wait for the children and record every outcome (those of tasks found up to date included)."""
        for child in self._children:
            self._collect(child)

    def discard(self) -> list[OutcomeT]:
        """Wait for the children and return their outcomes instead of recording them (no task takes them)."""
        self.receive = None
        self.close()
        outcomes, self._done = list(self._done.values()), {}
        return outcomes

    def terminate(self) -> None:
        for child in self._children:
            if not child.collected:
                with contextlib.suppress(OSError):
                    os.kill(child.pid, signal.SIGKILL)
                child.collected = True
                child.reap()

    def _collect(self, child: _Child) -> None:
        if child.collected:
            return
        child.collected = True
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := os.read(child.read, 1 << 20):
                chunks.append(chunk)
        status = child.reap()
        outcomes: list[OutcomeT] = []
        if status == 0:
            with contextlib.suppress(pickle.UnpicklingError, EOFError, ValueError):
                outcomes = pickle.loads(b"".join(chunks))
        else:
            log.warning("a table job's process ended with status %s; its files are built in this process", status)
        for outcome in outcomes:
            if self.receive is not None:
                self.receive(outcome)
            self._done[outcome.rel] = outcome


class _Child:
    """One forked child of a `ForkedPrefetcher`: its pid, the pipe it writes to, the jobs no task took yet."""

    __slots__ = ("collected", "pid", "read", "waiting")

    def __init__(self, pid: int, read: int, waiting: set[str]) -> None:
        self.pid, self.read, self.waiting, self.collected = pid, read, waiting, False

    def reap(self) -> int:
        with contextlib.suppress(OSError):
            os.close(self.read)
        try:
            return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        except ChildProcessError:
            return -1


def _run_forked(jobs: list[Any], work: Work, context: Any, write: int) -> NoReturn:
    status = 1
    with contextlib.suppress(BaseException):  # whatever happens here, the parent runs the jobs itself
        view = memoryview(pickle.dumps(work(jobs, context), protocol=pickle.HIGHEST_PROTOCOL))
        while view:
            view = view[os.write(write, view) :]
        status = 0
    os._exit(status)


def chunk_size(jobs: int, workers: int) -> int:
    """Jobs per chunk: ~16 chunks per worker (the last ones balance the load), at most 32 jobs (fewer round
    trips)."""
    return max(1, min(32, jobs // (workers * 16) or 1))


def _start_method() -> str:
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return "fork" if "fork" in methods else "spawn"
