"""One file's table job: read -> hash -> cache or extract -> place -> write if changed -> digest what it wrote (I/O at
the edge; the digest goes to the main process with the outcome, see `kwbuild.digest.digest_bytes`).

It runs in the main process for an in-process task, in a pool worker or in the early child when the task layer
prefetches (see `kwbuild.prefetch`), or on a Dask worker: it needs only the cache, the extractors, the model and the
digest, so a child forked for it loads nothing else.
"""

from __future__ import annotations

import functools
import logging
import os
import traceback
from collections.abc import Callable

from kwbuild import jsonio
from kwbuild.cache import ContentCache, cache_key
from kwbuild.digest import digest_bytes
from kwbuild.extract import EXTRACTORS
from kwbuild.jobs import CACHED, PARSED, SKIPPED, UNREADABLE, VANISHED, FileJob, Outcome
from kwbuild.model import SCHEMA_VERSION, Table, content_hash, make_cached_table, place_table

log = logging.getLogger("kwbuild")


def build_table_files(jobs: list[FileJob], cache: ContentCache) -> list[Outcome]:
    """Several table jobs, their new cache entries stored in one transaction (the pool's unit of work)."""
    pending: list[tuple[str, bytes]] = []
    outcomes = [build_table_file(job, cache, pending) for job in jobs]
    cache.put_many(pending)
    return outcomes


def build_table_file(job: FileJob, cache: ContentCache, pending: list[tuple[str, bytes]]) -> Outcome:
    """Read, hash, look up or extract, place and write one file's table.

    A cache entry computed here is appended to `pending` (the caller stores entries in batches).
    """
    return prepare_table_file(job, cache, pending)()


def prepare_table_file(job: FileJob, cache: ContentCache, pending: list[tuple[str, bytes]]) -> Callable[[], Outcome]:
    """Read, hash, look up or extract one file's table; the step returned places and writes it."""
    try:
        with open(os.path.join(job.root, job.rel), "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return lambda: Outcome(job.rel, VANISHED, jsonio.remove_file(job.table_path), False)
    except OSError as error:
        return functools.partial(write_table, job, unreadable_table(job.language, error), UNREADABLE)
    if job.max_size and len(data) > job.max_size:
        return functools.partial(write_table, job, oversized_table(data, job.language, job.max_size), SKIPPED)
    cached, parsed, mismatch = _cached_or_extracted(data, job.language, cache, pending, job.recompute)
    return functools.partial(write_table, job, cached, PARSED if parsed else CACHED, mismatch)


def write_table(job: FileJob, cached: Table, status: str, mismatch: str | None = None) -> Outcome:
    """Place a table (cached, or one recording why the file was not parsed) at the job's path, write it unless the
    file already holds these bytes, and digest it if it was written (or if the job asks for it anyway)."""
    table = place_table(cached, job.rel, job.module)
    written = jsonio.write_if_changed(job.table_path, jsonio.dumps(table))
    digest = digest_bytes(table) if written or job.digest_unchanged else None
    return Outcome(job.rel, status, written, bool(table["errors"]), mismatch, digest)


def _cached_or_extracted(
    data: bytes, language: str, cache: ContentCache, pending: list[tuple[str, bytes]], recompute: bool = False
) -> tuple[Table, bool, str | None]:
    extractor = EXTRACTORS[language]
    digest = content_hash(data)
    key = cache_key(digest, extractor.NAME, extractor.VERSION)
    cached = cache.get(key)
    if cached is not None and not recompute:
        return cached, False, None
    fresh = _extracted(data, digest, language, pending, key)
    return fresh, True, key if cached is not None and cached != fresh else None


def _extracted(data: bytes, digest: str, language: str, pending: list[tuple[str, bytes]], key: str) -> Table:
    """A fresh table from the extractor; queued for the cache unless the extractor failed."""
    table, cacheable = extract_table(data, digest, language)
    if cacheable:
        pending.append((key, jsonio.dumps(table)))
    return table


def extract_table(data: bytes, digest: str, language: str) -> tuple[Table, bool]:
    """The cached layer of a file's table, fresh from its extractor, and whether it may be cached.

    Bytes in, table out: the local path and the Dask workers share it. An extractor that raises gives a table
    recording the error, which must not be cached (the next build tries again).
    """
    extractor = EXTRACTORS[language]
    try:
        extracted = extractor.extract(data)
    except Exception as error:  # an extractor bug must not stop the build: record it, do not cache it
        log.error("extractor %s failed on a file (hash %s):\n%s", extractor.NAME, digest, traceback.format_exc())
        extracted = _failed_extraction(language, f"internal extractor error: {error!r}")
        return make_cached_table(data, digest, extractor.NAME, extractor.VERSION, extracted), False
    return make_cached_table(data, digest, extractor.NAME, extractor.VERSION, extracted), True


def unreadable_table(language: str, error: OSError) -> Table:
    """The table of a file that could not be read: no symbols, one `read` error."""
    extractor = EXTRACTORS[language]
    table = _failed_extraction(language, f"cannot read file: {error.strerror or error}")
    table["errors"][0]["kind"] = "read"
    table.update(
        schema_version=SCHEMA_VERSION,
        extractor={"name": extractor.NAME, "version": extractor.VERSION},
        hash=None,
        size=0,
        lines=0,
    )
    return table


def oversized_table(data: bytes, language: str, max_size: int) -> Table:
    """The table of a file over the size cap: its facts, no symbols, one `size` error (not cached)."""
    extractor = EXTRACTORS[language]
    message = f"file is {len(data):,} bytes, over the size cap of {max_size:,}: not parsed"
    table = _failed_extraction(language, message)
    table["errors"][0]["kind"] = "size"
    return make_cached_table(data, content_hash(data), extractor.NAME, extractor.VERSION, table)


def _failed_extraction(language: str, message: str) -> Table:
    return {
        "language": language,
        "docstring": None,
        "all": None,
        "partial": True,
        "symbols": [],
        "imports": [],
        "errors": [{"kind": "internal", "message": message, "line": None, "col": None}],
    }
