"""Cross-file facts, computed from the digests of the whole tree after the cache (pure).

For each file: every import resolved (to a module file of the tree, to the definition of an imported name,
or named external), the files that import it, the test files that import it, and its related files chosen by
the import graph. Re-exports through `__init__.py` (plain re-imports, `from .mod import *` filtered by a static
`__all__`) are followed to the defining file, at most `MAX_REEXPORT_DEPTH` steps and never twice through the
same (file, name).
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kwbuild.digest import I_ASNAME, I_LEVEL, I_LINE, I_MODULE, I_NAME, I_SYSTEM, Digest

MAX_REEXPORT_DEPTH = 8
MAX_RELATED = 10
TEST_FOLDERS = frozenset({"test", "tests", "testing"})
_INIT_STEMS = ("__init__.py", "__init__.pyi")

Links = dict[str, Any]
_Importers = dict[str, tuple[list[str], list[int]]]
"""importer path -> (names, lines) of its imports that land in one file."""


def is_test_file(path: str) -> bool:
    """Under a `test`/`tests`/`testing` folder, or named `test_*.py`, `*_test.py` or `conftest.py`."""
    *folders, name = path.split("/")
    stem = name.rsplit(".", 1)[0]
    return (
        bool(TEST_FOLDERS.intersection(folders))
        or stem.startswith("test_")
        or stem.endswith("_test")
        or (stem == "conftest")
    )


def link_part(digest: Digest) -> tuple[object, ...]:
    """What linking reads of a digest: if it is equal for every changed file, every link is unchanged."""
    toplevel = tuple(_toplevel(digest))
    return digest.path, digest.module, digest.all, digest.imports, toplevel


def _toplevel(digest: Digest) -> Iterator[str]:
    """The names the file defines at its top level, in order."""
    return (name for name, parent in zip(digest.names, digest.parents, strict=True) if parent is None)


def links_unchanged(changes: dict[str, tuple[Digest | None, Digest | None]], imported: Collection[str]) -> bool:
    """True when these changes cannot change any file's links, though their `link_part` differs: only top-level
    names came or went, and no import of the tree asks for one of them by name (`imported`: every name an import
    of the tree asks for).

    Names matter to linking only where an import looks one up (`from m import name`, followed through
    re-exports, whose bindings are imports too): a new function nobody imports yet changes no link."""
    moved: set[str] = set()
    for old, new in changes.values():
        if old is None or new is None:
            return False
        if link_part(old)[:4] != link_part(new)[:4]:
            return False
        moved.update(set(_toplevel(old)).symmetric_difference(_toplevel(new)))
    return moved.isdisjoint(imported)


@dataclass
class _Module:
    path: str
    digest: Digest
    toplevel: frozenset[str]
    bindings: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    stars: list[tuple[Any, ...]] = field(default_factory=list)


class Linker:
    """Resolves the imports of a tree whose digests it is given."""

    def __init__(self, digests: Iterable[Digest]) -> None:
        self.files: dict[str, Digest] = {d.path: d for d in digests}
        self.modules: dict[str, str] = {}
        for digest in sorted(self.files.values(), key=lambda d: (d.path.endswith(".pyi"), d.path)):
            if digest.module and digest.language == "python":
                self.modules.setdefault(digest.module, digest.path)
        self.tops = {module.split(".", 1)[0] for module in self.modules}
        self.include_roots = include_roots(self.files)
        self._loaded: dict[str, _Module] = {}
        self._found: dict[tuple[str, str], tuple[str, str] | None] = {}
        self._includes: dict[tuple[str | None, str], dict[str, Any]] = {}
        self._resolutions: dict[tuple[str, str | None, str | None, str | None], dict[str, Any]] = {}

    def link_all(self) -> Iterator[tuple[str, Links]]:
        """The links of every file, in path order, each made when asked (a caller that writes each before asking
        the next never holds the whole tree's)."""
        resolved = {path: self.resolve_file(digest) for path, digest in self.files.items()}
        importers = _importers(self.files, resolved)
        for path in sorted(self.files):
            yield path, self._links(path, resolved, importers)
            del resolved[path]  # only this file's links hold its resolutions

    def resolve_file(self, digest: Digest) -> list[dict[str, Any]]:
        """The resolution of each import of one file, in the table's order."""
        return [self.resolve_import(digest, imp) for imp in digest.imports]

    def resolve_import(self, digest: Digest, imp: tuple[Any, ...]) -> dict[str, Any]:
        """Where one import lands: a module file of the tree, a definition, or outside the tree."""
        if digest.language != "python":
            return self._resolve_include(digest, imp)
        return self._resolve(digest, imp, 0, set())

    def _resolve_include(self, digest: Digest, imp: tuple[Any, ...]) -> dict[str, Any]:
        """`#include "x"`: the including file's folder, then the include roots; `#include <x>`: the roots.

        Found once per (folder, header), and once per header for `<x>` (torch: ~1 s of the links before)."""
        header = str(imp[I_MODULE] or "")
        system = len(imp) > I_SYSTEM and bool(imp[I_SYSTEM])
        key = (None if system else digest.path.rpartition("/")[0], header)
        found = self._includes.get(key)
        if found is None:
            found = self._includes[key] = self._find_include(key[0], header)
        return found

    def _find_include(self, folder: str | None, header: str) -> dict[str, Any]:
        """The resolution of an include: from `folder` (None for `<x>`), then from the include roots."""
        for base in ([] if folder is None else [folder]) + self.include_roots:
            candidate = posixpath.normpath(f"{base}/{header}" if base else header)
            if candidate in self.files:
                return self._resolution("module", candidate, None, None)
        return self._resolution("external" if folder is None else "unresolved", None, None, header)

    def _resolve(self, digest: Digest, imp: tuple[Any, ...], depth: int, seen: set[tuple[str, str]]) -> dict[str, Any]:
        target = self._target_module(digest, imp)
        name = imp[I_NAME]
        if target is None:
            return self._resolution("unresolved", None, None, imp[I_MODULE])
        if name is None or name == "*":
            return self._module_resolution(target)
        submodule = f"{target}.{name}" if target else name
        if submodule in self.modules:
            return self._resolution("module", self.modules[submodule], None, submodule)
        path = self.modules.get(target)
        if path is None:
            return self._module_resolution(target)
        found = self._definition(path, name, depth, seen)
        if found is None:
            return self._resolution("module", path, None, target)
        return self._resolution("symbol", found[0], found[1], self.files[found[0]].module)

    def _resolution(self, kind: str, path: str | None, symbol: str | None, module: str | None) -> dict[str, Any]:
        """A resolution, one dict for all equal ones (never changed once made): the torch tree's 108,798 imports
        resolve to 19,121 distinct places: one dict each, the links' peak is ~16 MB lower."""
        key = (kind, path, symbol, module)
        found = self._resolutions.get(key)
        if found is None:
            found = self._resolutions[key] = {
                "resolution": kind, "resolved_path": path, "resolved_symbol": symbol, "resolved_module": module
            }  # fmt: skip
        return found

    def _module_resolution(self, module: str) -> dict[str, Any]:
        path = self.modules.get(module)
        if path is not None:
            return self._resolution("module", path, None, module)
        kind = "unresolved" if module.split(".", 1)[0] in self.tops else "external"
        return self._resolution(kind, None, None, module)

    def _target_module(self, digest: Digest, imp: tuple[Any, ...]) -> str | None:
        level, module = imp[I_LEVEL], imp[I_MODULE]
        if level == 0:
            return str(module) if module else None
        if not digest.module:
            return None
        is_package = digest.path.endswith(_INIT_STEMS)
        parts = digest.module.split(".") if is_package else digest.module.split(".")[:-1]
        if level - 1 > len(parts):
            return None
        base = parts[: len(parts) - (level - 1)]
        if module:
            base = [*base, *str(module).split(".")]
        return ".".join(base)

    def _definition(self, path: str, name: str, depth: int, seen: set[tuple[str, str]]) -> tuple[str, str] | None:
        """(path, qualname) of the definition that `name` in the module at `path` refers to, if it can be found."""
        key = (path, name)
        if key in self._found:
            return self._found[key]
        if depth > MAX_REEXPORT_DEPTH or key in seen:
            return None
        seen.add(key)
        found = self._search(path, name, depth, seen)
        if found is not None or depth == 0:
            self._found[key] = found
        return found

    def _search(self, path: str, name: str, depth: int, seen: set[tuple[str, str]]) -> tuple[str, str] | None:
        module = self._module(path)
        if name in module.toplevel:
            return path, name
        for imp in module.bindings.get(name, ()):
            found = self._through_import(module.digest, imp, depth, seen)
            if found is not None:
                return found
        for imp in module.stars:
            found = self._through_star(module.digest, imp, name, depth, seen)
            if found is not None:
                return found
        return None

    def _through_import(
        self, digest: Digest, imp: tuple[Any, ...], depth: int, seen: set[tuple[str, str]]
    ) -> tuple[str, str] | None:
        resolution = self._resolve(digest, imp, depth + 1, seen)
        if resolution["resolution"] == "symbol":
            return resolution["resolved_path"], resolution["resolved_symbol"]
        if imp[I_NAME] is None or resolution["resolved_path"] is None:
            return None
        target = self._target_module(digest, imp)
        path = self.modules.get(target or "")
        return None if path is None else self._definition(path, imp[I_NAME], depth + 1, seen)

    def _through_star(
        self, digest: Digest, imp: tuple[Any, ...], name: str, depth: int, seen: set[tuple[str, str]]
    ) -> tuple[str, str] | None:
        target = self._target_module(digest, imp)
        path = self.modules.get(target or "")
        if path is None:
            return None
        exported = self.files[path].all
        if (exported is not None and name not in exported) or (exported is None and name.startswith("_")):
            return None
        return self._definition(path, name, depth + 1, seen)

    def _module(self, path: str) -> _Module:
        module = self._loaded.get(path)
        if module is None:
            digest = self.files[path]
            toplevel = frozenset(_toplevel(digest))
            module = _Module(path, digest, toplevel)
            for imp in digest.imports:
                if imp[I_NAME] == "*":
                    module.stars.append(imp)
                else:
                    bound = imp[I_ASNAME] or imp[I_NAME] or str(imp[I_MODULE]).split(".", 1)[0]
                    module.bindings.setdefault(bound, []).append(imp)
            self._loaded[path] = module
        return module

    def _links(self, path: str, resolved: dict[str, list[dict[str, Any]]], importers: dict[str, _Importers]) -> Links:
        digest = self.files[path]
        imported_by = [
            {"path": src, "module": self.files[src].module, "names": sorted(set(names)), "lines": sorted(set(lines))}
            for src, (names, lines) in sorted(importers.get(path, {}).items())
        ]
        return {
            "path": path,
            "module": digest.module,
            "imports": resolved[path],
            "imported_by": imported_by,
            "tested_by": [
                {"path": e["path"], "module": e["module"]} for e in imported_by if is_test_file(str(e["path"]))
            ],
            "related": self._related(path, resolved[path], importers.get(path, {})),
        }

    def _related(self, path: str, resolutions: list[dict[str, Any]], importers: _Importers) -> list[dict[str, Any]]:
        uses: dict[str, int] = defaultdict(int)
        for resolution in resolutions:
            target = resolution["resolved_path"]
            if target is not None and target != path:
                uses[target] += 1
        scored = []
        for other in set(uses) | set(importers):
            used_by = len(importers[other][0]) if other in importers else 0
            score = (2 if other in uses and other in importers else 1, uses.get(other, 0) + used_by)
            scored.append((-score[0], -score[1], other, _why(uses.get(other, 0), used_by)))
        scored.sort()
        return [{"path": p, "module": self.files[p].module, "why": why} for _, _, p, why in scored[:MAX_RELATED]]


def include_roots(paths: Iterable[str]) -> list[str]:
    """Where `#include` looks, after the including file's folder: the tree's root, then every folder named
    `include` (shallowest first)."""
    roots = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for index, part in enumerate(parts):
            if part == "include":
                roots.add("/".join(parts[: index + 1]))
    return ["", *sorted(roots, key=lambda root: (root.count("/"), root))]


def _why(uses: int, used_by: int) -> str:
    if uses and used_by:
        return f"imports each other ({uses} + {used_by} names)"
    if uses:
        return f"imported here ({uses} name{'s' if uses > 1 else ''})"
    return f"imports this file ({used_by} name{'s' if used_by > 1 else ''})"


def _importers(files: dict[str, Digest], resolved: dict[str, list[dict[str, Any]]]) -> dict[str, _Importers]:
    """target path -> importer path -> (names, lines)."""
    result: dict[str, _Importers] = defaultdict(dict)
    for src, resolutions in resolved.items():
        for imp, resolution in zip(files[src].imports, resolutions, strict=True):
            target = resolution["resolved_path"]
            if target is None or target == src:
                continue
            names, lines = result[target].setdefault(src, ([], []))
            names.append(imp[I_NAME] or imp[I_ASNAME] or str(imp[I_MODULE]))
            lines.append(imp[I_LINE])
    return result


def merge_links(table: dict[str, Any], links: Links) -> dict[str, Any]:
    """The table as tools see it: each import with its resolution, and the file's importers, tests and relatives."""
    merged = dict(table)
    resolutions = links.get("imports", [])
    if len(resolutions) == len(table["imports"]):
        merged["imports"] = [{**imp, **res} for imp, res in zip(table["imports"], resolutions, strict=True)]
    for key in ("imported_by", "tested_by", "related"):
        merged[key] = links.get(key, [])
    return merged
