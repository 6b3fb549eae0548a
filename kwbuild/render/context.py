"""The renderers' inputs: the table, the links computed for it, folder facts and the page options (types only).

A table is the JSON dict of `kwbuild/schema/table.schema.json`; `Links` is what the cross-reference stage
computes for the same file. Both are plain dicts (TypedDicts), so a table read from disk is rendered as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NotRequired, TypedDict


class Symbol(TypedDict):
    name: str
    qualname: str
    kind: str
    line: int
    end_line: int
    col: int
    signature: str
    decorators: list[str]
    bases: list[str]
    docstring: str | None
    parent: str | None
    is_async: bool


class Import(TypedDict):
    module: str | None
    name: str | None
    asname: str | None
    level: int
    line: int
    type_checking: bool
    system: NotRequired[bool]  # C/C++ includes only: `<...>`


class Diagnostic(TypedDict):
    kind: str
    message: str
    line: int | None
    col: int | None


class Extractor(TypedDict):
    name: str
    version: int


class Table(TypedDict):
    schema_version: int
    extractor: Extractor
    path: str
    module: str | None
    language: str
    hash: str | None
    size: int
    lines: int
    docstring: str | None
    all: list[str] | None
    partial: bool
    symbols: list[Symbol]
    imports: list[Import]
    errors: list[Diagnostic]


Resolution = Literal["symbol", "module", "external", "unresolved"]


class ImportLink(TypedDict):
    """Where one import of the table lands (same order as `table["imports"]`)."""

    resolution: Resolution
    resolved_path: str | None
    resolved_symbol: str | None
    resolved_module: str | None


class ImportedBy(TypedDict):
    path: str
    module: str | None
    names: list[str]
    lines: list[int]


class RelatedFile(TypedDict):
    path: str
    module: str | None
    why: str


class ImportingTest(TypedDict):
    """A test file of the tree that imports this module."""

    path: str
    module: str | None


class Links(TypedDict):
    imports: list[ImportLink]
    imported_by: list[ImportedBy]
    related: list[RelatedFile]
    tested_by: list[ImportingTest]


@dataclass(frozen=True)
class PageContext:
    """Page options: where source links point, and whether the docs page pastes the source."""

    source_url: str | None = None
    include_source: bool = False
    source_text: str | None = None


SubfolderRow = tuple[str, str | None, int, int | None]
"""(name, one-line summary, files, symbols or None) of a subfolder (files and symbols counted recursively)."""

FileRow = tuple[str, str, str | None, Mapping[str, int], int, bool]
"""(rel, name, one-line summary, symbol counts by kind, errors, partial) of a file of the folder."""


@dataclass(frozen=True)
class FolderInfo:
    """One folder of the tree ('' for the root): its subfolders, its files, and the imports between its modules."""

    path: str
    subfolders: Sequence[SubfolderRow] = field(default_factory=tuple)
    files: Sequence[FileRow] = field(default_factory=tuple)
    edges: Sequence[tuple[str, str]] = field(default_factory=tuple)


KeywordEntry = tuple[str, str, str, str, int, str | None]
"""(name, kind, qualname, path, line, anchor): one definition of a name, for the A-Z index; the anchor None for
its qualname's `anchor_base` (made when its line is rendered: the torch tree's ~250,000 entries are ~18 MB
smaller)."""

ModuleRow = tuple[str, str, str | None, int]
"""(module, path, summary, symbol count), for the module index."""

ModuleRef = tuple[str | None, str]
"""(module, path) of a file of the tree."""

XrefRow = tuple[str | None, str, Sequence[ModuleRef], Sequence[ModuleRef]]
"""(module, path, imports from the tree, imported by), for the import cross-reference."""
