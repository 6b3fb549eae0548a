"""The stat snapshot of the last successful build: which files can have changed since, found in one pass.

For each source: (mtime_ns, size, module). A file whose stat and module equal the snapshot's, and whose
table exists, cannot be stale, so the task layer does not even create its doit task. The snapshot also
names the versions it was taken under; any difference makes every file a candidate again.

It also keeps the mtime of every output folder as the build left it (`outputs`): a file created, deleted or
replaced in one (by hand, or by a tool that saves through a rename) changes the folder's mtime, so that a
build whose sources and output folders are all as the snapshot says has nothing to do, and knows it from
one stat per folder instead of one per output; and when the build finished, so that in an output folder that did
change, the outputs modified since (by hand: kwbuild writes outputs only while it builds) can be told apart.
And the number of files with recorded errors, for the summary, and the stat of each README (folder indexes
show a subfolder's README summary). And the most recently modified sources (`recent`): a developer's next edit
is most likely one of them, so the next build looks at them before walking the tree.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kwbuild import jsonio

FORMAT = 2
RECENT = 8

Entry = tuple[int, int, str | None]


@dataclass
class Snapshot:
    versions: str
    files: dict[str, Entry] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)  # output folder (tables/<folder>, ...) -> mtime_ns
    errors: int = 0  # files with recorded errors
    finished_ns: int = 0  # when the build ended: an output modified later was modified by something else
    readmes: dict[str, tuple[int, int]] = field(default_factory=dict)  # README path -> (mtime_ns, size)
    recent: list[str] = field(default_factory=list)  # the newest sources by mtime, newest first (`RECENT` at most)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "versions": self.versions,
            "files": self.files,
            "outputs": self.outputs,
            "errors": self.errors,
            "finished_ns": self.finished_ns,
            "readmes": self.readmes,
            "recent": self.recent,
        }


def load_snapshot(path: str, versions: str) -> Snapshot | None:
    """The snapshot at `path` if it exists, is readable and was taken under `versions`; else None."""
    try:
        raw = jsonio.read_json(path)
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("versions") != versions:
        return None
    files, outputs, errors, finished = (raw.get(key) for key in ("files", "outputs", "errors", "finished_ns"))
    if not isinstance(files, dict) or not isinstance(outputs, dict) or not isinstance(errors, int):
        return None
    readmes = raw.get("readmes")
    if not isinstance(finished, int) or not isinstance(readmes, dict):
        return None
    try:
        entries = {rel: (e[0], e[1], e[2]) for rel, e in files.items()}
    except (TypeError, IndexError, KeyError):
        return None
    try:
        readme_stats = {rel: (int(e[0]), int(e[1])) for rel, e in readmes.items()}
    except (TypeError, IndexError, ValueError):
        return None
    recent = raw.get("recent", [])  # (absent from a snapshot of an earlier kwbuild: the same format otherwise)
    recent = [rel for rel in recent if isinstance(rel, str) and rel in entries] if isinstance(recent, list) else []
    return Snapshot(versions, entries, outputs, errors, finished, readme_stats, recent[:RECENT])


def newest(files: dict[str, Entry], among: Iterable[str] | None = None) -> list[str]:
    """The `RECENT` newest of these sources (of all of `files` when `among` is None) by mtime, newest first
    (ties by path)."""
    paths = files if among is None else {rel for rel in among if rel in files}
    return heapq.nsmallest(RECENT, paths, key=lambda rel: (-files[rel][0], rel))


def save_snapshot(path: str, snapshot: Snapshot) -> None:
    jsonio.write_if_changed(path, jsonio.dumps(snapshot.to_json()))
