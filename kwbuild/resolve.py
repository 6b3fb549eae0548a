"""Path-dependent facts, computed after the cache: module names from the package layout.

A folder is a package when it holds `__init__.py` (or `__init__.pyi`). A file's module name runs from the
topmost package folder above it down to the file: `torch/_inductor/ir.py` -> `torch._inductor.ir`, and an
`__init__.py` names its package. When the tree's root is itself a package, its folder name is the first part.
"""

from __future__ import annotations

from collections.abc import Iterable

INIT_NAMES = frozenset({"__init__.py", "__init__.pyi"})
_PY_SUFFIXES = (".pyi", ".py")


def package_folders(paths: Iterable[str]) -> frozenset[str]:
    """The folders ('' for the root) that hold an `__init__.py` or `__init__.pyi`."""
    folders = set()
    for path in paths:
        folder, _, name = path.rpartition("/")
        if name in INIT_NAMES:
            folders.add(folder)
    return frozenset(folders)


def module_name(path: str, packages: frozenset[str], root_name: str) -> str | None:
    """The dotted module name of a Python file at `path`, or None for a file of another language."""
    folder, _, name = path.rpartition("/")
    stem = next((name[: -len(s)] for s in _PY_SUFFIXES if name.endswith(s)), None)
    if stem is None:
        return None
    parts = [] if name in INIT_NAMES else [stem]
    while folder in packages:
        if folder == "":
            parts.append(root_name)
            break
        folder, _, base = folder.rpartition("/")
        parts.append(base)
    parts.reverse()
    return ".".join(parts) if parts else root_name
