"""C/C++ extractor: the declaration handlers of types with bodies, records (class, struct, union) and enums.

Owns adding a record with its bases and an enum with its enumerators, and walking their bodies; an anonymous
record takes its typedef's name or merges into the enclosing scope.
"""

from __future__ import annotations

from typing import Final

from tree_sitter import Node

from kwbuild.extract.cpp_text import MACRO_TEXT
from kwbuild.extract.cpp_walk import Doc, Scope, Walker

_RECORDS: Final = {"class_specifier": "class", "struct_specifier": "struct", "union_specifier": "union"}
TYPE_SPECIFIERS: Final = frozenset({*_RECORDS, "enum_specifier"})
RECORD_SCOPES: Final = frozenset(_RECORDS.values())


def handle_type_specifier(
    walker: Walker, node: Node, scope: Scope, doc: Doc, template: str, typedef: Node | None = None
) -> None:
    if node.type == "enum_specifier":
        handle_enum(walker, node, scope, doc, template)
    else:
        handle_record(walker, node, scope, doc, template, typedef)


def handle_record(
    walker: Walker, node: Node, scope: Scope, doc: Doc, template: str, typedef: Node | None = None
) -> None:
    """A class, struct or union with a body; an anonymous one takes its typedef's name or merges outwards."""
    name_node = node.child_by_field_name("name")
    if name_node is None and typedef is None:
        walker.push_body(node, scope)  # anonymous members belong to the enclosing scope
        return
    kind = _RECORDS[node.type]
    if name_node is None:
        name, parent, at = walker.text.of(typedef or node), scope.qualname, node
    else:
        name, parent, at = walker.type_name(name_node, scope)
    inner = walker.inner(scope, f"{parent}::{name}" if parent else name, kind, name, scope.namespace)
    if inner is None or not walker.push_body(node, inner):
        return  # too deep, or a declaration (`class Foo;`), not a definition
    symbol = walker.add(name, kind, at, node, parent, template, doc)
    symbol["bases"] = _bases(walker, node)


def _bases(walker: Walker, node: Node) -> list[str]:
    """`public Base`, ... from the base clause (or, in a record the parser left open, before its `{`)."""
    children = node.children
    clause = next((child for child in children if child.type == "base_class_clause"), None)
    if clause is not None:
        return walker.base_texts(clause.children)
    colon = next((index for index, child in enumerate(children) if child.type == ":"), None)
    return [] if colon is None else walker.base_texts(children[colon:])


def handle_enum(walker: Walker, node: Node, scope: Scope, doc: Doc, template: str) -> None:
    name_node = node.child_by_field_name("name")
    if name_node is None:
        walker.push_body(node, scope)
        return
    name, parent, at = walker.type_name(name_node, scope)
    inner = walker.inner(scope, f"{parent}::{name}" if parent else name, "enum", name, scope.namespace)
    if inner is None or not walker.push_body(node, inner):
        return
    base = node.child_by_field_name("base")
    signature = " ".join(part for part in (template, base and ": " + walker.text.of(base)) if part)
    walker.add(name, "enum", at, node, parent, signature, doc)


def handle_enumerator(walker: Walker, node: Node, scope: Scope, doc: Doc, template: str) -> None:
    name_node = node.child_by_field_name("name")
    if name_node is None:
        return
    value = node.child_by_field_name("value")
    signature = "" if value is None else "= " + walker.text.of(value)[:MACRO_TEXT]
    walker.add(walker.text.name(name_node), "enumerator", name_node, node, scope.qualname, signature, doc)
