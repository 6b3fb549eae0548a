"""Which source files a tree holds: their language, their stat, and what to skip and why.

Skipped: VCS folders, virtual environments (a `pyvenv.cfg` or `conda-meta` inside), `__pycache__` and tool
caches, kwbuild's own output and cache folders (recognised by their marker files, wherever they sit),
folder symlinks (never followed: no loops), paths ignored by `.gitignore` files, and paths excluded by the
configured globs. Only regular files (or symlinks to them) whose suffix has an extractor are sources.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kwbuild.extract import language_of

if TYPE_CHECKING:
    import pathspec

SKIP_DIR_NAMES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        "_darcs",
        "CVS",
        ".jj",
        ".pijul",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".eggs",
        "node_modules",
    }
)
VENV_MARKERS = ("pyvenv.cfg", "conda-meta")
OUTPUT_MARKER = ".kwbuild-output"
CACHE_MARKER = ".kwbuild-cache"


_FOLDER_MARKERS = frozenset({OUTPUT_MARKER, CACHE_MARKER, *VENV_MARKERS})
_IGNORE_FILES = frozenset({".gitignore", ".git"})


def _marker_reason(names: set[str]) -> str:
    return "kwbuild_folder" if {OUTPUT_MARKER, CACHE_MARKER} & names else "virtualenv"


def _spec(lines: Sequence[str]) -> pathspec.GitIgnoreSpec:
    import pathspec  # imported on demand: it costs ~40 ms, and most trees need none of it

    return pathspec.GitIgnoreSpec.from_lines(lines)


@dataclass(frozen=True)
class Source:
    """One source file: its tree-relative '/'-separated path, language and stat at discovery."""

    rel: str
    language: str
    mtime_ns: int
    size: int


README_NAMES = ("README.md", "README.rst", "README.txt", "README")
"""The files a folder index takes a subfolder's summary from (when it has no `__init__` docstring)."""


@dataclass
class Discovery:
    """The sources of a tree, sorted by path, and the count of each skip reason."""

    sources: list[Source] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    readmes: dict[str, tuple[int, int]] = field(default_factory=dict)  # README path -> (mtime_ns, size)


@dataclass(frozen=True)
class Rules:
    """What to leave out besides the built-in rules: globs relative to the root, and absolute folders."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    skip_paths: tuple[str, ...] = ()
    gitignore: bool = True
    suffixes: tuple[tuple[str, str], ...] = ()  # (".inl", "cpp"): extra or changed suffixes; "" turns one off


def discover_sources(root: Path, rules: Rules) -> Discovery:
    """Walk `root` and return its sources (sorted by relative path) and skip counts."""
    found = Discovery()
    include = _spec(rules.include) if rules.include else None
    exclude = _spec(rules.exclude) if rules.exclude else None
    skip_real = _relative_skips(root, rules.skip_paths)
    overrides = dict(rules.suffixes)
    stack: list[tuple[str, str, tuple[tuple[str, pathspec.GitIgnoreSpec], ...]]] = [(str(root), "", ())]
    while stack:
        folder, prefix, ignores = stack.pop()
        entries = _scan(folder, found)
        names = {entry.name for entry in entries}
        if prefix and not names.isdisjoint(_FOLDER_MARKERS):
            found.skipped[_marker_reason(names)] += 1
            continue
        if rules.gitignore and not names.isdisjoint(_IGNORE_FILES):
            ignores = ignores + _gitignore_at(folder, prefix, found)
        for entry in entries:  # folder indexes show a subfolder's README: its stat goes in the snapshot
            if entry.name in README_NAMES:
                _note_readme(entry, prefix, found)
        for entry in entries:
            _visit(entry, prefix, ignores, include, exclude, skip_real, stack, found, overrides)
    found.sources.sort(key=lambda source: source.rel)
    return found


def _note_readme(entry: os.DirEntry[str], prefix: str, found: Discovery) -> None:
    try:
        if entry.is_file():
            info = entry.stat()
            found.readmes[prefix + entry.name] = (info.st_mtime_ns, info.st_size)
    except OSError:
        return


def _visit(
    entry: os.DirEntry[str],
    prefix: str,
    ignores: tuple[tuple[str, pathspec.GitIgnoreSpec], ...],
    include: pathspec.GitIgnoreSpec | None,
    exclude: pathspec.GitIgnoreSpec | None,
    skip_real: set[str],
    stack: list[tuple[str, str, tuple[tuple[str, pathspec.GitIgnoreSpec], ...]]],
    found: Discovery,
    overrides: dict[str, str],
) -> None:
    name = entry.name
    rel = prefix + name
    try:
        is_dir = entry.is_dir(follow_symlinks=False)
    except OSError:
        found.skipped["unreadable"] += 1
        return
    if is_dir:
        reason = _dir_skip_reason(entry, rel, ignores, exclude, skip_real)
        if reason:
            found.skipped[reason] += 1
        else:
            stack.append((entry.path, rel + "/", ignores))
        return
    language = language_of(name, overrides)
    if language is None:
        return
    reason = _file_skip_reason(rel, ignores, include, exclude)
    if reason:
        found.skipped[reason] += 1
        return
    source = _source_of(entry, rel, language, found)
    if source is not None:
        found.sources.append(source)


def _scan(folder: str, found: Discovery) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        found.skipped["unreadable_folder"] += 1
        return []


def _dir_skip_reason(
    entry: os.DirEntry[str],
    rel: str,
    ignores: tuple[tuple[str, pathspec.GitIgnoreSpec], ...],
    exclude: pathspec.GitIgnoreSpec | None,
    skip_real: set[str],
) -> str | None:
    if entry.name in SKIP_DIR_NAMES:
        return "vcs_or_tool_folder"
    if rel in skip_real:
        return "kwbuild_folder"
    if _ignored(rel + "/", ignores):
        return "gitignore"
    if exclude is not None and exclude.match_file(rel + "/"):
        return "excluded"
    return None


def _file_skip_reason(
    rel: str,
    ignores: tuple[tuple[str, pathspec.GitIgnoreSpec], ...],
    include: pathspec.GitIgnoreSpec | None,
    exclude: pathspec.GitIgnoreSpec | None,
) -> str | None:
    if _ignored(rel, ignores):
        return "gitignore"
    if exclude is not None and exclude.match_file(rel):
        return "excluded"
    if include is not None and not include.match_file(rel):
        return "not_included"
    return None


def _source_of(entry: os.DirEntry[str], rel: str, language: str, found: Discovery) -> Source | None:
    if not _is_utf8(rel):
        found.skipped["undecodable_name"] += 1
        return None
    try:
        info = entry.stat()
    except OSError:
        found.skipped["broken_symlink"] += 1
        return None
    if not stat.S_ISREG(info.st_mode):
        found.skipped["not_a_regular_file"] += 1
        return None
    return Source(rel, language, info.st_mtime_ns, info.st_size)


def _relative_skips(root: Path, paths: tuple[str, ...]) -> set[str]:
    """The skip folders that lie inside the tree, as tree-relative paths (folder symlinks are not followed)."""
    real_root = os.path.realpath(root)
    skips = set()
    for path in paths:
        rel = os.path.relpath(os.path.realpath(path), real_root)
        if not rel.startswith(".."):
            skips.add(rel.replace(os.sep, "/"))
    return skips


def _gitignore_at(folder: str, prefix: str, found: Discovery) -> tuple[tuple[str, pathspec.GitIgnoreSpec], ...]:
    names = [".gitignore"] + ([os.path.join(".git", "info", "exclude")] if prefix == "" else [])
    specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []
    for name in names:
        try:
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        try:
            specs.append((prefix, _spec(lines)))
        except ValueError:
            found.skipped["bad_gitignore"] += 1
    return tuple(specs)


def _ignored(rel: str, ignores: tuple[tuple[str, pathspec.GitIgnoreSpec], ...]) -> bool:
    """Apply the .gitignore files from the root down; a later (deeper) verdict wins, as in git."""
    verdict = False
    for prefix, spec in ignores:
        result = spec.check_file(rel[len(prefix) :])
        if result.include is not None:
            verdict = bool(result.include)
    return verdict


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
