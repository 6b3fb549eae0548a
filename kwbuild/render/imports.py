"""A table's imports as the pages show them: the statement, where it lands, what it uses (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from kwbuild.render.context import Import, ImportLink, Links
from kwbuild.render.markdown import anchor_base, code_span, docs_page, link, rel_link

UNRESOLVED: ImportLink = {
    "resolution": "unresolved",
    "resolved_path": None,
    "resolved_symbol": None,
    "resolved_module": None,
}


def import_links(imports: Sequence[Import], links: Links) -> list[ImportLink]:
    """One link per import, in the order of the imports (missing ones count as unresolved)."""
    given = links["imports"][: len(imports)]
    return [*given, *[UNRESOLVED] * (len(imports) - len(given))]


def source_module(imp: Import) -> str:
    """The module as written: `a.b`, `.a`, `..`."""
    return "." * imp["level"] + (imp["module"] or "")


def import_statement(imp: Import) -> str:
    """The statement as plain text: `import a.b as c`, `from .a import b`, `#include <a/b.h>`."""
    if "system" in imp:  # a C/C++ include
        header = imp["module"] or ""
        return f"#include <{header}>" if imp.get("system") else f'#include "{header}"'
    name, asname = imp["name"], imp["asname"]
    text = f"import {source_module(imp)}" if name is None else f"from {source_module(imp)} import {name}"
    return f"{text} as {asname}" if asname else text


def is_resolved(target: ImportLink) -> bool:
    """The import lands in a file of the tree."""
    return target["resolution"] in ("symbol", "module") and bool(target["resolved_path"])


def target_md(target: ImportLink, from_page: str) -> str:
    """Where an import lands, as Markdown: a link to the page (and symbol), or *external* / *unresolved*."""
    path, symbol, module = target["resolved_path"], target["resolved_symbol"], target["resolved_module"]
    if not is_resolved(target) or path is None:
        return "*external*" if target["resolution"] == "external" else "*unresolved*"
    if target["resolution"] == "symbol" and symbol:  # Python only: includes resolve to files
        text = code_span(f"{module}.{symbol}" if module else f"{path}: {symbol}")
        return link(text, rel_link(from_page, docs_page(path), anchor_base(symbol)))
    return link(code_span(module or path), rel_link(from_page, docs_page(path)))


def top_package(imp: Import, target: ImportLink) -> str | None:
    """The top-level package of an external import (None for imports of the tree and unknown ones)."""
    if target["resolution"] != "external":
        return None
    module = target["resolved_module"] or (imp["module"] if imp["level"] == 0 else None)
    if module and "system" in imp:  # a C/C++ header: its first path segment (`c10/...`, `vector`)
        return module.partition("/")[0]
    return module.partition(".")[0] if module else None


def external_packages(imports: Sequence[Import], targets: Sequence[ImportLink]) -> list[str]:
    """The top-level external packages the file imports, sorted (`__future__` is not a use)."""
    packages = {top_package(imp, target) for imp, target in zip(imports, targets, strict=True)}
    return sorted(package for package in packages if package and package != "__future__")
