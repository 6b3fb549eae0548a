"""The stat snapshot of the last successful build: which files can have changed since, found in one pass.

For each source: (mtime_ns, size, module). A file whose stat and module equal the snapshot's, and whose
table exists, cannot be stale, so the task layer does not even create its doit task. The snapshot also
names the versions it was taken under; any difference makes every file a candidate again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kwbuild import jsonio

FORMAT = 1

Entry = tuple[int, int, str | None]


@dataclass
class Snapshot:
    versions: str
    files: dict[str, Entry] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "versions": self.versions, "files": self.files}


def load_snapshot(path: str, versions: str) -> Snapshot | None:
    """The snapshot at `path` if it exists, is readable and was taken under `versions`; else None."""
    try:
        raw = jsonio.read_json(path)
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("versions") != versions:
        return None
    files = raw.get("files")
    if not isinstance(files, dict):
        return None
    return Snapshot(versions, {rel: (e[0], e[1], e[2]) for rel, e in files.items()})


def save_snapshot(path: str, snapshot: Snapshot) -> None:
    jsonio.write_if_changed(path, jsonio.dumps(snapshot.to_json()))
