"""A table job, its outcome, and the tally of outcomes that the build summary reports (plain values).

Kept apart from the builder so that a build with nothing to do, which only reports an empty tally, loads
neither the content cache nor an extractor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PARSED, CACHED, UNREADABLE, VANISHED, SKIPPED = "parsed", "cached", "unreadable", "vanished", "skipped"


@dataclass(frozen=True)
class FileJob:
    """What one table task needs: where the file is and what it is called in the tree."""

    root: str
    rel: str
    module: str | None
    language: str
    table_path: str
    max_size: int = 0  # bytes; a larger file is recorded (hash, size, lines) but not parsed; 0: no cap
    recompute: bool = False  # --no-cache: extract even on a hit, and report a cached entry that differs
    digest_unchanged: bool = False  # send the digest of a table left as it was too (see `Plan.no_digests`)


@dataclass(frozen=True)
class Outcome:
    rel: str
    status: str  # PARSED, CACHED, UNREADABLE, VANISHED or SKIPPED
    written: bool
    has_errors: bool
    mismatch: str | None = None  # --no-cache: the key of a cached entry that differed from the fresh table
    digest: bytes | None = None  # the table's digest if written or asked for (see `kwbuild.digest.digest_bytes`)


@dataclass
class BuildStats:
    """What the build did, for the summary."""

    parsed: int = 0
    cache_hits: int = 0
    tables_written: int = 0
    tables_removed: int = 0
    oversized: int = 0
    mismatches: list[str] = field(default_factory=list)
    pages_written: int = 0
    vanished: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # tables rewritten since the digest store last looked

    def record(self, outcome: Outcome) -> None:
        if outcome.written:
            self.written.append(outcome.rel)
        self.parsed += outcome.status == PARSED
        self.cache_hits += outcome.status == CACHED
        self.oversized += outcome.status == SKIPPED
        self.tables_written += outcome.written
        if outcome.status == VANISHED:
            self.vanished.append(outcome.rel)
        if outcome.mismatch is not None:
            self.mismatches.append(outcome.mismatch)
