"""The Notes of a docs page: facts derived from the table and its links only, never boilerplate (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from kwbuild.render.context import Import, ImportLink, Links, Symbol, Table
from kwbuild.render.imports import external_packages, import_statement, is_resolved, source_module
from kwbuild.render.markdown import code_span
from kwbuild.render.symbols import METHOD_KINDS, counts_phrase, plural

_CALLABLE_KINDS = frozenset({"function", *METHOD_KINDS})
_LISTED = 20
"""At most this many names in one note; the rest are counted."""


def file_notes(table: Table, targets: Sequence[ImportLink], links: Links) -> list[str]:
    """The notes, one Markdown sentence each, in a fixed order."""
    notes = [*_definitions(table["symbols"]), *_exports(table), *_imports(table["imports"], targets)]
    notes += _users(table, links)
    notes += _condition(table)
    return notes


def _definitions(symbols: Sequence[Symbol]) -> list[str]:
    """Counts by kind, async count, and the largest class and the longest function (one pass)."""
    if not symbols:
        return ["Defines no symbols."]
    counts: dict[str, int] = {}
    asyncs = 0
    largest: dict[bool, tuple[int, int, str]] = {}  # is a class -> (-lines, line, qualname) of the largest
    for symbol in symbols:
        kind = symbol["kind"]
        counts[kind] = counts.get(kind, 0) + 1
        asyncs += symbol["is_async"]
        if kind == "class" or kind in _CALLABLE_KINDS:
            key = (symbol["line"] - symbol["end_line"] - 1, symbol["line"], symbol["qualname"])
            largest[kind == "class"] = min(largest.get(kind == "class", key), key)
    notes = [f"Defines {counts_phrase(counts)}" + (f"; {asyncs:,} async." if asyncs else ".")]
    for is_class, title in ((True, "Largest class"), (False, "Longest function or method")):
        if is_class in largest:
            size, _, qualname = largest[is_class]
            notes.append(f"{title}: {code_span(qualname)} ({plural(-size, 'line')}).")
    return notes


def _exports(table: Table) -> list[str]:
    names = table["all"]
    if names is None:
        return []
    note = f"Exports `__all__` ({plural(len(names), 'name')})"
    bound = {s["name"] for s in table["symbols"] if s["parent"] is None} | _bound_names(table["imports"])
    missing = sorted({name for name in names if name not in bound})
    if missing:
        note += f"; not defined or imported here: {_names(missing)}"
    return [note + "."]


def _bound_names(imports: Sequence[Import]) -> set[str]:
    """Names an import binds in the module's namespace."""
    return {imp["asname"] or imp["name"] or (imp["module"] or "").partition(".")[0] for imp in imports}


def _imports(imports: Sequence[Import], targets: Sequence[ImportLink]) -> list[str]:
    if not imports:
        return ["Imports nothing."]
    resolutions = [t["resolution"] if is_resolved(t) or t["resolution"] == "external" else "" for t in targets]
    tree = len(resolutions) - resolutions.count("external") - resolutions.count("")
    notes = [
        f"{plural(len(imports), 'import')}: {tree:,} from the tree, {resolutions.count('external'):,} "
        f"external, {resolutions.count(''):,} unresolved."
    ]
    packages = external_packages(imports, targets)
    if packages:
        notes.append(f"Uses: {_names(packages)}.")
    checking = sorted({source_module(imp) for imp in imports if imp["type_checking"]})
    if checking:
        notes.append(f"TYPE_CHECKING-only imports: {_names(checking)}.")
    stars = sorted({import_statement(imp) for imp in imports if imp["name"] == "*"})
    if stars:
        notes.append(f"Star imports: {_names(stars)}.")
    return notes


def _users(table: Table, links: Links) -> list[str]:
    if table["module"] is None:
        return []
    users, tests = len(links["imported_by"]), len(links["tested_by"])
    if not users:
        return ["No file of the tree imports this module."]
    tested = f"; {plural(tests, 'test file')} import{'s' if tests == 1 else ''} it." if tests else "."
    return [f"Imported by {plural(users, 'file')} of the tree{tested}"]


def _condition(table: Table) -> list[str]:
    notes = []
    if table["partial"]:
        notes.append("Recovered from a file that does not parse (partial): the outline may be incomplete.")
    if table["errors"]:
        notes.append(f"{plural(len(table['errors']), 'diagnostic')} (listed at the top).")
    if table["hash"] is None:
        notes.append("The file could not be read.")
    elif table["size"] == 0:
        notes.append("Empty file.")
    return notes


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(code_span(name) for name in names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED:,} more" if len(names) > _LISTED else "")
