"""The change report: what moved in the code's API since the previous build (pure).

From the old and new digest of each changed file: symbols added, symbols removed, and signatures changed, by
qualified name; files added and removed. Line moves alone are not changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kwbuild.digest import Digest, signatures_of
from kwbuild.render.markdown import code_span

Change = tuple[Digest | None, Digest | None]


def change_report(changes: Mapping[str, Change]) -> dict[str, Any]:
    """Per file: `added`, `removed`, `changed` symbols (with old and new signatures); empty files left out."""
    files = {}
    for path in sorted(changes):
        old, new = changes[path]
        entry = _file_changes(_api(old), _api(new))
        if old is None or new is None:
            entry["file"] = "added" if old is None else "removed"
        if any(entry.values()):
            files[path] = entry
    totals = {key: sum(len(f.get(key, ())) for f in files.values()) for key in ("added", "removed", "changed")}
    return {"files": files, "totals": totals}


def _api(digest: Digest | None) -> dict[str, tuple[str, str]]:
    """qualname -> (kind, signature); the first definition of a qualname counts."""
    api: dict[str, tuple[str, str]] = {}
    if digest is not None:
        for qualname, kind, signature in zip(digest.qualnames, digest.kinds, signatures_of(digest), strict=True):
            api.setdefault(qualname, (kind, signature))
    return api


def _file_changes(old: dict[str, tuple[str, str]], new: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        "added": [{"qualname": q, "kind": new[q][0], "signature": new[q][1]} for q in sorted(new.keys() - old)],
        "removed": [{"qualname": q, "kind": old[q][0], "signature": old[q][1]} for q in sorted(old.keys() - new)],
        "changed": [
            {"qualname": q, "kind": new[q][0], "old": old[q][1], "new": new[q][1]}
            for q in sorted(old.keys() & new.keys())
            if old[q] != new[q]
        ],
    }


def _signature(text: str) -> str:
    return code_span(text) if text else "*(no signature)*"


def render_changes(report: dict[str, Any]) -> str:
    """CHANGES.md: the report as Markdown."""
    totals = report["totals"]
    lines = ["# Changes since the previous build", ""]
    lines.append(f"{totals['added']} added, {totals['removed']} removed, {totals['changed']} changed.")
    for path, entry in report["files"].items():
        state = f" ({entry['file']})" if "file" in entry else ""
        lines += ["", f"## {code_span(path)}{state}", ""]
        lines += [f"- added {s['kind']} {code_span(s['qualname'] + s['signature'])}" for s in entry["added"]]
        lines += [f"- removed {s['kind']} {code_span(s['qualname'] + s['signature'])}" for s in entry["removed"]]
        lines += [
            f"- changed {s['kind']} {code_span(s['qualname'])}: {_signature(s['old'])} → {_signature(s['new'])}"
            for s in entry["changed"]
        ]
    return "\n".join(lines) + "\n"
