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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from kwbuild.extract import languages_by_suffix

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


class Source(NamedTuple):
    """One source file: its tree-relative '/'-separated path, language and stat at discovery (a tuple: a
    large tree has one per file, made on every build)."""

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


def discover_sources(
    root: Path,
    rules: Rules,
    recorded: Mapping[str, tuple[int, int, Any]] | None = None,
    on_resized: Callable[[str, str], None] | None = None,
) -> Discovery:
    """Walk `root` and return its sources (sorted by relative path) and skip counts.

    `on_resized(rel, language)`: called at once for the first source whose size differs from its entry in
    `recorded` ((mtime_ns, size, ...) by path, the last build's), while the walk goes on.

    The no-op build is mostly this walk (one `stat` per source), so the loop over a folder's entries is kept
    flat: the suffix lookup, the skip rules (only when some apply) and the stat are inline."""
    found = Discovery()
    watched = recorded if on_resized is not None else None
    include = _spec(rules.include) if rules.include else None
    exclude = _spec(rules.exclude) if rules.exclude else None
    skip_real = _relative_skips(root, rules.skip_paths)
    languages = languages_by_suffix(dict(rules.suffixes))
    sources, skipped = found.sources, found.skipped
    is_regular = stat.S_ISREG
    stack: list[tuple[str, str, tuple[tuple[str, pathspec.GitIgnoreSpec], ...]]] = [(str(root), "", ())]
    while stack:
        folder, prefix, ignores = stack.pop()
        entries = _scan(folder, found)
        names = {entry.name for entry in entries}
        if prefix and not names.isdisjoint(_FOLDER_MARKERS):
            skipped[_marker_reason(names)] += 1
            continue
        if rules.gitignore and not names.isdisjoint(_IGNORE_FILES):
            ignores = ignores + _gitignore_at(folder, prefix, found)
        if not names.isdisjoint(README_NAMES):  # folder indexes show a subfolder's README: its stat is kept
            for entry in entries:
                if entry.name in README_NAMES:
                    _note_readme(entry, prefix, found)
        filtered = bool(ignores) or include is not None or exclude is not None
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                skipped["unreadable"] += 1
                continue
            if is_dir:
                reason = _dir_skip_reason(entry, prefix + name, ignores, exclude, skip_real)
                if reason:
                    skipped[reason] += 1
                else:
                    stack.append((entry.path, prefix + name + "/", ignores))
                continue
            dot = name.rfind(".")
            language = languages.get(name[dot:].lower()) if dot > 0 else None
            if language is None:
                continue
            rel = prefix + name
            reason = _file_skip_reason(rel, ignores, include, exclude) if filtered else None
            if reason is None and not (rel.isascii() or _is_utf8(rel)):
                reason = "undecodable_name"
            if reason:
                skipped[reason] += 1
                continue
            try:
                info = entry.stat()
            except OSError:
                skipped["broken_symlink"] += 1
                continue
            if is_regular(info.st_mode):
                sources.append(Source(rel, language, info.st_mtime_ns, info.st_size))
                if watched is not None and (before := watched.get(rel)) is not None and before[1] != info.st_size:
                    assert on_resized is not None
                    watched = None  # the first one only
                    on_resized(rel, language)
            else:
                skipped["not_a_regular_file"] += 1
    sources.sort(key=itemgetter(0))  # by path (unique): comparing str keys is ~2x faster than comparing tuples
    return found


def _note_readme(entry: os.DirEntry[str], prefix: str, found: Discovery) -> None:
    try:
        if entry.is_file():
            info = entry.stat()
            found.readmes[prefix + entry.name] = (info.st_mtime_ns, info.st_size)
    except OSError:
        return


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
