"""The main process's side of the table tasks and the aggregates. File I/O at the edge of the pure core.

The per-file job itself is `kwbuild.table_job.build_table_file`. `TableBuilder` holds what the main process needs
across tasks (the digest store, the build's counters), and builds `index.json`, `symbols.json` and the state.
"""

from __future__ import annotations

import marshal
import mmap
import os
import threading
from collections.abc import Callable
from typing import Any

from kwbuild import jsonio
from kwbuild.aggregate_files import definitions, manifest_file, patch_manifest, patch_symbol_map, symbol_map_file
from kwbuild.cache import ContentCache
from kwbuild.changes import change_report, render_changes
from kwbuild.digest import Digest
from kwbuild.index import manifest_entry, symbol_map_part
from kwbuild.jobs import BuildStats, FileJob, Outcome
from kwbuild.layout import Layout
from kwbuild.spliced import Assembly, Spliced
from kwbuild.store import Change, DigestSpool, DigestStore, View
from kwbuild.table_job import build_table_file

PLACES_FORMAT = 2  # of the places files of `symbols.json` and `index.json` (their schema version is in their bytes)


class TableBuilder:
    """The main process's side of the build: runs jobs in process or takes them from a prefetcher."""

    def __init__(self, layout: Layout, cache: ContentCache) -> None:
        self.layout = layout
        self.cache = cache
        self.stats = BuildStats()
        self.spool = DigestSpool(layout.digest_spool)  # the digests table jobs sent, until the store takes them
        self.store = DigestStore(layout.digests, layout.table_path, self.spool)
        self.prefetcher: Any = None  # a kwbuild.prefetch.Prefetcher while one runs
        self.finished: dict[str, Outcome] = {}  # jobs run before doit started (see `take_finished`)
        self._writing: list[tuple[threading.Thread, list[BaseException]]] = []  # see `finish_writes`
        self.trusted = False  # the outputs are as the last (successful) build left them: see `Plan.trusted`

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["prefetcher"] = None
        state["_writing"] = []
        return state

    def record(self, outcome: Outcome) -> None:
        """Count a table job's outcome, and keep the digest it sent (see `view`)."""
        self.stats.record(outcome)
        if outcome.digest is not None:
            self.spool.add(outcome.rel, outcome.digest)

    def take_finished(self, outcome: Outcome) -> None:
        """The outcome of a job run before doit started (the build's first edit, see `kwbuild.build`): recorded
        now, given to its task when it runs."""
        self.record(outcome)
        self.finished[outcome.rel] = outcome

    def build_table(self, job: FileJob) -> dict[str, Any]:
        """doit action of one table task."""
        outcome = self.finished.pop(job.rel, None)
        if outcome is None and self.prefetcher is not None:
            self.store.load()  # while the prefetcher's processes work: the aggregates read it next
            outcome = self.prefetcher.take(job.rel)
        if outcome is None:
            pending: list[tuple[str, bytes]] = []
            outcome = build_table_file(job, self.cache, pending)
            self.cache.put_many(pending)
            self.record(outcome)
        return {"status": outcome.status, "written": outcome.written}

    def build_manifest(self, rels: list[str]) -> dict[str, Any]:
        """doit action of the manifest task (`index.json`)."""
        layout = self.layout
        result, _ = self._aggregate_file(
            rels, layout.manifest, layout.manifest_places, manifest_entry, manifest_file, patch_manifest
        )
        return result

    def build_symbol_map(self, rels: list[str]) -> dict[str, Any]:
        """doit action of the symbol map task (`symbols.json`). The file it makes then tells the view which
        files define a name (the A-Z index asks, for the names of the pages it renders: never when every digest
        is new, since it then renders every page; the file, ~38 MB on torch, is not kept for nothing)."""
        layout = self.layout
        result, made = self._aggregate_file(
            rels, layout.symbol_map, layout.symbol_places, symbol_map_part, symbol_map_file, patch_symbol_map
        )
        view = self.view(rels)
        if made is not None and not view.complete:
            view.definers = lambda name: _defining_paths(made, name)
        return result

    def _aggregate_file(
        self,
        rels: list[str],
        path: str,
        places: str,
        part: Callable[[Digest], object],
        build: Callable[[list[Digest]], Assembly],
        update: Callable[[Spliced, dict[str, Change]], Spliced | None],
    ) -> tuple[dict[str, Any], Spliced | None]:
        """An aggregate JSON file: kept when `part` of every changed digest is equal; in a trusted build the changes
        are spliced into the file on disk (the one they were made since; see `kwbuild.spliced`); else it is built
        from every digest as it is written. Also the file as made (None when it was kept without being read; mapped
        from disk when it was built whole)."""
        view = self.view(rels)
        if view.unchanged(part) and os.path.exists(path):
            return {"written": False}, None
        old = _read_spliced(path, places) if self.trusted and not view.complete else None
        new = update(old, view.changes) if old is not None else None
        if old is None or new is None:
            made = build(view.digests)
            written = jsonio.write_stream_if_changed(path, made.chunks())
            self.stats.pages_written += written
            _save_places(path, places, made)
            new = _mapped(path, made.keys, made.ends, made.head)
        elif new.unchanged:  # the patch gave the bytes on disk back, and its places are those recorded
            written = False
        else:  # written on a thread while the next tasks run (the kernel copies the runs kept from the old file)
            self._in_background(_write_patched, path, places, new)
            self.stats.pages_written += 1
            written = True
        return {"written": written}, new

    def _in_background(self, work: Callable[..., None], *args: Any) -> None:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                work(*args)
            except BaseException as error:  # raised again by `finish_writes`, in the build's thread
                errors.append(error)

        thread = threading.Thread(target=run, name="kwbuild-write")
        thread.start()
        self._writing.append((thread, errors))

    def finish_writes(self) -> None:
        """Wait for the aggregate files written on threads; raise the first error one met. Before the state is
        saved (a build that saved its state has written everything) and before the build returns."""
        writing, self._writing = self._writing, []
        for thread, _ in writing:
            thread.join()
        for _, errors in writing:
            if errors:
                raise errors[0]

    def state_is_saved(self) -> bool:
        """doit `uptodate` of the state task."""
        return not self.store.dirty

    def save_state(self) -> dict[str, Any]:
        """doit action run after every aggregate: write the change report, then the digests become the base
        of the next build's changes."""
        self.finish_writes()
        view = self.store.current_view()
        if view is not None and view.changes and not view.complete:
            report = change_report(view.changes)
            self._write_page(self.layout.changes_json, jsonio.dumps(report))
            self._write_page(self.layout.changes_md, render_changes(report).encode())
        self.store.save()
        return {}

    def _write_page(self, path: str, data: bytes) -> bool:
        written = jsonio.write_if_changed(path, data)
        self.stats.pages_written += written
        return written

    def view(self, rels: list[str]) -> View:
        """The digests of the tables, after forgetting those this build rewrote."""
        if self.stats.written:
            self.store.forget(self.stats.written)
            self.stats.written.clear()
        return self.store.view(rels)


def _defining_paths(symbol_map: Spliced, name: str) -> list[str]:
    return [definition["path"] for definition in definitions(symbol_map, name) or ()]


def _read_spliced(path: str, places: str) -> Spliced | None:
    """An aggregate file and the places of its items, if the places recorded are those of the file on disk."""
    try:
        with open(places, "rb") as handle:
            fmt, stamp, keys, ends, head = marshal.loads(handle.read())
        if fmt != PLACES_FORMAT:
            return None
        return _mapped(path, keys, ends, head, stamp)
    except (OSError, ValueError, EOFError, TypeError):
        return None


def _mapped(path: str, keys: list[str], ends: list[int], head: int, stamp: list[int] | None = None) -> Spliced | None:
    """The file on disk with these places, mapped (its pages read only where asked); None when it is not the file
    of `stamp` (inode, mtime, size), or cannot be mapped."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stamp is not None and stamp != [info.st_ino, info.st_mtime_ns, info.st_size]:
                return None
            return Spliced([mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)], keys, ends, head)
    except (OSError, ValueError):
        return None


def _write_patched(path: str, places: str, file: Spliced) -> None:
    jsonio.atomic_write_parts(path, file.parts)
    _save_places(path, places, file)


def _save_places(path: str, places: str, file: Spliced | Assembly) -> None:
    info = os.stat(path)
    stamp = [info.st_ino, info.st_mtime_ns, info.st_size]
    jsonio.write_if_changed(places, marshal.dumps((PLACES_FORMAT, stamp, file.keys, file.ends, file.head)))
