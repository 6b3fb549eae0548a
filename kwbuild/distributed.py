# mypy: disallow-untyped-calls=False
# (distributed is typed only in part: its Client, LocalCluster and Future methods are not annotated)
"""Extraction of cache misses on a Dask cluster: `kwbuild build --executor dask [--scheduler ADDR]`.

doit stays the task graph on this machine, and the local content cache stays the only cache. The workers may be on
other machines, without the tree or the cache: this process reads, hashes and looks up each candidate file in doit's
order, and only the misses leave it, in batches of (cache key, bytes, language) for `extract_batch`, a function of
bytes only. A batch that a dying worker leaves half done is run again by the scheduler and gives the same entries.
Results go into the local cache as they arrive; the table task of a miss waits for its batch and writes its table
from the cache. The rest (hits, unreadable and oversized files, a batch the cluster could not run) is left to the
task itself (`take` returns None), which does it in process as a local build does.

Without `--scheduler`, a `LocalCluster` of `--jobs` worker processes is started at the first miss and closed at
the end; a warm build never starts one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from distributed import Client, Future, LocalCluster, wait

from kwbuild import jsonio
from kwbuild.cache import ContentCache, cache_key
from kwbuild.config import BuildConfig
from kwbuild.errors import UserError
from kwbuild.extract import EXTRACTORS, versions_key
from kwbuild.jobs import CACHED, PARSED, FileJob, Outcome
from kwbuild.model import content_hash
from kwbuild.table_job import extract_table, write_table

log = logging.getLogger("kwbuild")

BATCH_FILES = 256
"""At most this many files per batch (fewer on a small build, so that every worker gets several batches): each
batch costs the client ~4 ms of CPU with the scheduler in another process, ~9 ms with a LocalCluster's."""
BATCH_BYTES = 4 * 2**20
COLLECT_EVERY = 64
"""Files scanned between two looks at the batches that came back."""
IN_FLIGHT_PER_THREAD = 4
"""Batches sent and not yet back, per worker thread: enough that no worker waits for its next batch."""

Item = tuple[str, bytes, str]  # (cache key, file bytes, language)
Result = tuple[str, bytes, bool]  # (cache key, cached table as JSON, may it be cached)


def extract_batch(items: list[Item], versions: str) -> list[Result]:
    """On a worker: the cached layer of each file's table. Pure, so running a batch twice is harmless."""
    if versions != versions_key():
        raise RuntimeError(f"this worker's kwbuild extracts {versions_key()}, the client's {versions}")
    results: list[Result] = []
    for key, data, language in items:
        table, cacheable = extract_table(data, content_hash(data), language)
        results.append((key, jsonio.dumps(table), cacheable))
    return results


@dataclass(eq=False)
class _Batch:
    items: list[Item] = field(default_factory=list)
    size: int = 0
    state: str = "filling"  # then "sent", then "stored" or "failed"


class DaskPrefetcher:
    """Sends the cache misses among `jobs` to a Dask cluster; hands each miss's outcome to its table task."""

    def __init__(
        self, jobs: Sequence[FileJob], cache: ContentCache, config: BuildConfig, receive: Callable[[Outcome], None]
    ) -> None:
        self._jobs = list(jobs)
        self._cache = cache
        self._config = config
        self._receive = receive
        self._index = {job.rel: i for i, job in enumerate(self._jobs)}
        self._lock = threading.Lock()  # guards what the feeder thread and the table tasks share (below)
        self._scanned_more = threading.Condition(self._lock)  # two conditions: a task waiting for its batch is
        self._batch_back = threading.Condition(self._lock)  # not woken by every file the feeder scans
        self._scanned = 0  # jobs[:scanned] are classified
        self._batch_of: dict[str, tuple[str, _Batch]] = {}  # rel -> (key, batch) of each miss not yet taken
        self._batch_of_key: dict[str, _Batch] = {}  # each key is sent once, whatever the number of its files
        self._uncached: dict[str, bytes] = {}  # key -> table of a failed extraction (recorded, never cached)
        self._mismatches: set[str] = set()  # --no-cache: keys whose cached entry differed from the fresh table
        self._taken: set[str] = set()
        self._filling = _Batch()
        self._wanted: _Batch | None = None  # the batch a table task waits for
        self._in_flight: dict[Future[list[Result]], _Batch] = {}
        self._stopping = False
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._thread: threading.Thread | None = None
        first = next((i for i in range(len(self._jobs)) if self._scan(i)), len(self._jobs))
        if first < len(self._jobs):
            self._client, self._cluster = _connect(config)
            threads = sum(w["nthreads"] for w in self._client.scheduler_info()["workers"].values())
            self._window = max(8, IN_FLIGHT_PER_THREAD * threads)
            self._batch_files = max(8, min(BATCH_FILES, len(self._jobs) // self._window))
            self._thread = threading.Thread(target=self._feed, args=(first + 1,), name="kwbuild-dask", daemon=True)
            self._thread.start()

    def take(self, rel: str) -> Outcome | None:
        """The outcome of `rel`'s table task when the cluster extracted it (waiting for its batch), else None."""
        index = self._index.get(rel)
        if index is None:
            return None
        with self._lock:
            self._scanned_more.wait_for(lambda: self._scanned > index)
            key, batch = self._batch_of.pop(rel, ("", None))
            if batch is None:
                return None
            self._wanted = batch  # if it is still being filled, the feeder sends it now
            self._batch_back.wait_for(lambda: batch.state in ("stored", "failed"))
        raw = self._uncached.get(key)
        table = jsonio.loads(raw) if raw is not None else self._cache.get(key)
        if batch.state == "failed" or table is None:
            return None  # the task does it in process
        if raw is not None:
            log.error("extractor failed on %s on a Dask worker (traceback in the worker's log)", rel)
        status = CACHED if key in self._taken else PARSED
        self._taken.add(key)
        mismatch = key if key in self._mismatches else None
        self._mismatches.discard(key)
        outcome = write_table(self._jobs[index], table, status, mismatch)
        self._receive(outcome)
        return outcome

    def close(self) -> None:
        """Every table task has run: drop the batches nobody asked for, and shut the client (and cluster) down."""
        self._shutdown()

    def terminate(self) -> None:
        self._shutdown()

    # --- the feeder thread: scan, send, store ----------------------------------------------------------------------

    def _feed(self, start: int) -> None:
        try:
            for i in range(start, len(self._jobs)):
                if self._stopping:
                    return
                self._scan(i)
                while self._due() and not self._stopping:
                    if len(self._in_flight) < self._window:
                        self._send()
                    else:
                        self._collect(block=True)
                if i % COLLECT_EVERY == 0:
                    self._collect(block=False)
            self._send()
            while self._in_flight and not self._stopping:
                self._collect(block=True)
        except Exception:  # a bug here must not hang the build: the tasks then do their own jobs
            log.exception("the Dask feeder stopped; the remaining files are extracted in this process")
            self._fail(list(self._batch_of_key.values()))
        finally:
            self._fail([self._filling, *self._in_flight.values()])
            with self._lock:
                self._scanned = len(self._jobs)
                self._scanned_more.notify_all()

    def _scan(self, i: int) -> bool:
        """Classify jobs[i]; a miss joins the batch being filled (or the batch its key already went with)."""
        job = self._jobs[i]
        data = _read(job)
        key, batch = "", None
        if data is not None:
            extractor = EXTRACTORS[job.language]
            key = cache_key(content_hash(data), extractor.NAME, extractor.VERSION)
            batch = self._batch_of_key.get(key)
            if batch is None and (job.recompute or not self._cache.contains(key)):
                batch = self._batch_of_key[key] = self._filling
                batch.items.append((key, data, job.language))
                batch.size += len(data)
        with self._lock:
            if batch is not None:
                self._batch_of[job.rel] = (key, batch)
            self._scanned = i + 1
            self._scanned_more.notify_all()
        return batch is self._filling

    def _due(self) -> bool:
        """Is the batch being filled full, or does a table task wait for it (sparse misses)?"""
        batch = self._filling
        full = len(batch.items) >= self._batch_files or batch.size >= BATCH_BYTES
        return bool(batch.items) and (full or self._wanted is batch)

    def _send(self) -> None:
        batch, self._filling = self._filling, _Batch()
        if not batch.items or self._client is None:
            return
        future = self._client.submit(extract_batch, batch.items, versions_key(), pure=False)
        batch.items, batch.state = [], "sent"
        self._in_flight[future] = batch

    def _collect(self, block: bool) -> None:
        """Store the batches that came back (waiting for one when `block`)."""
        if block:
            try:
                wait(list(self._in_flight), timeout=1, return_when="FIRST_COMPLETED")
            except TimeoutError:
                return
        for future in [f for f in self._in_flight if f.done()]:
            self._store(self._in_flight.pop(future), future)

    def _store(self, batch: _Batch, future: Future[list[Result]]) -> None:
        try:
            results: list[Result] = future.result()
        except Exception as error:  # a killed worker too often, a lost scheduler, a version mismatch
            log.warning("a batch failed on the Dask cluster (%s); its files are extracted in this process", error)
            self._fail([batch])
            return
        entries = [(key, value) for key, value, cacheable in results if cacheable]
        if self._config.recompute:
            self._mismatches.update(key for key, value in entries if self._differs(key, value))
        self._cache.put_many(entries)
        with self._lock:
            self._uncached.update((key, value) for key, value, cacheable in results if not cacheable)
            batch.state = "stored"
            self._batch_back.notify_all()
        future.release()

    def _differs(self, key: str, value: bytes) -> bool:
        cached = self._cache.get(key)
        return cached is not None and cached != jsonio.loads(value)

    def _fail(self, batches: list[_Batch]) -> None:
        with self._lock:
            for batch in batches:
                if batch.state != "stored":
                    batch.state = "failed"
            self._batch_back.notify_all()

    def _shutdown(self) -> None:
        self._stopping = True
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._client is not None:
            self._client.cancel(list(self._in_flight))
            self._in_flight.clear()
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _read(job: FileJob) -> bytes | None:
    """The file's bytes, or None when the task should see for itself (unreadable, vanished, over the size cap)."""
    try:
        with open(f"{job.root}/{job.rel}", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return None if job.max_size and len(data) > job.max_size else data


def _connect(config: BuildConfig) -> tuple[Client, LocalCluster | None]:
    """A client of the scheduler at `--scheduler`, or of a new local cluster; its workers must extract alike."""
    logging.getLogger("distributed").setLevel(logging.WARNING)  # its INFO lines would drown the build's own
    cluster = None
    if config.scheduler is None:  # no dashboard, and its HTTP server (always started) on a free port, not 8787
        cluster = LocalCluster(
            n_workers=config.jobs,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            scheduler_kwargs={"dashboard": False},
        )
    try:
        client = Client(cluster if cluster is not None else config.scheduler)
    except (OSError, ValueError) as error:  # TimeoutError is an OSError
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"cannot reach the Dask scheduler at {config.scheduler}: {reason}") from None
    theirs = {version for version in client.run(versions_key).values() if version != versions_key()}
    if theirs:
        client.close()
        if cluster is not None:
            cluster.close()
        raise UserError(f"Dask workers run another kwbuild ({', '.join(sorted(theirs))}; here {versions_key()})")
    return client, cluster
