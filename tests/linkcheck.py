"""Walk every Markdown page of a build and check that each relative link resolves to a file and an anchor."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

LINK = re.compile(r"\]\(([^)\s]+)\)")
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')


def check_links(docs: Path, source_root: Path) -> tuple[int, list[str]]:
    """(links checked, problems). Links that leave the docs folder are source links: checked in `source_root`."""
    pages = {p.relative_to(docs).as_posix(): p.read_text(encoding="utf-8") for p in docs.rglob("*.md")}
    anchors = {page: set(ANCHOR.findall(text)) for page, text in pages.items()}
    problems: list[str] = []
    checked = 0
    for page, text in sorted(pages.items()):
        for url in LINK.findall(text):
            parts = urlsplit(url)
            if parts.scheme or parts.netloc:
                continue
            checked += 1
            problem = _check(page, parts.path, unquote(parts.fragment), pages, anchors, source_root)
            if problem:
                problems.append(f"{page}: {url}: {problem}")
    return checked, problems


def _check(
    page: str, path: str, fragment: str, pages: dict[str, str], anchors: dict[str, set[str]], root: Path
) -> str | None:
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), unquote(path))) if path else page
    if target.startswith("../"):
        source = target[3:]
        return None if (root / source).is_file() else "source file missing"
    if target not in pages:
        return "page missing"
    if fragment and fragment not in anchors[target]:
        return f"anchor {fragment!r} missing"
    return None
