"""C/C++ extractor: the declaration handlers, and ``HANDLERS``, the table that says which takes which node.

Owns the handlers of namespaces, function definitions, declarations (fields included), typedefs, `using`
aliases, templates, friends and `extern "C"` blocks; records and enums are in ``cpp_records``, what one
declarator declares in ``cpp_declarators``.
"""

from __future__ import annotations

from typing import Final

from tree_sitter import Node

from kwbuild.extract.cpp_declarators import add_declarator, unwrap
from kwbuild.extract.cpp_records import (
    TYPE_SPECIFIERS,
    handle_enum,
    handle_enumerator,
    handle_record,
    handle_type_specifier,
)
from kwbuild.extract.cpp_walk import Doc, Handler, Scope, Walker


def handle_namespace(walker: Walker, node: Node, scope: Scope, doc: Doc, template: str) -> None:
    name_node = node.child_by_field_name("name")
    inner, _ = walker.open_namespace([] if name_node is None else [name_node], node, scope, doc)
    if inner is not None:
        walker.push_body(node, inner)


def handle_function_definition(walker: Walker, node: Node, scope: Scope, doc: Doc, template: str) -> None:
    declarator = node.child_by_field_name("declarator")
    if declarator is not None:
        add_declarator(walker, node, declarator, scope, doc, template, node.child_by_field_name("type"), True)
    if node.has_error:
        _push_errors(walker, node, scope)


def _push_errors(walker: Walker, node: Node, scope: Scope) -> None:
    """Walk the ERROR nodes a broken declaration swallowed (`f( { } } class After {`), not in bodies."""
    stack = [node]
    while stack:
        for child in stack.pop().children:
            if child.is_error:
                walker.push(child, scope)
            elif child.has_error and child.type != "compound_statement":
                stack.append(child)


def handle_declaration(walker: Walker, node: Node, scope: Scope, doc: Doc, template: str) -> None:
    if node.has_error:
        _push_errors(walker, node, scope)
    type_node = node.child_by_field_name("type")
    if type_node is not None and type_node.type in TYPE_SPECIFIERS:
        handle_type_specifier(walker, type_node, scope, doc, template)
    first = True
    for declarator in node.children_by_field_name("declarator"):
        add_declarator(walker, node, declarator, scope, doc, template, type_node, first)
        first = False


def handle_typedef(walker: Walker, node: Node, scope: Scope, doc: Doc, template: str) -> None:
    type_node = node.child_by_field_name("type")
    declarators = node.children_by_field_name("declarator")
    if type_node is not None and type_node.type in TYPE_SPECIFIERS:
        single = declarators[0] if len(declarators) == 1 and declarators[0].type == "type_identifier" else None
        handle_type_specifier(walker, type_node, scope, doc, template, single)
    type_text = "" if type_node is None else _type_text(walker, type_node)
    for declarator in declarators:
        name_node, _ = unwrap(declarator)
        if name_node is None:
            continue
        signature = type_text if declarator is name_node else f"{type_text} {walker.text.of(declarator)}"
        walker.add(walker.text.of(name_node), "typedef", name_node, node, scope.qualname, signature, doc)


def _type_text(walker: Walker, type_node: Node) -> str:
    """`struct S` for `struct S { ... }`: a type's text without its body."""
    body = type_node.child_by_field_name("body")
    return walker.text.span(type_node.start_byte, type_node.end_byte if body is None else body.start_byte)


def handle_alias(walker: Walker, node: Node, scope: Scope, doc: Doc, template: str) -> None:
    name_node = node.child_by_field_name("name")
    type_node = node.child_by_field_name("type")
    if name_node is None:
        return
    signature = " ".join(part for part in (template, type_node and walker.text.of(type_node)) if part)
    walker.add(walker.text.name(name_node), "alias", name_node, node, scope.qualname, signature, doc)


def handle_template(walker: Walker, node: Node, scope: Scope, doc: Doc, template: str) -> None:
    headers = [template] if template else []
    inner: Node | None = node
    while inner is not None and inner.type == "template_declaration":
        parameters = inner.child_by_field_name("parameters")
        headers.append("template " + (walker.text.of(parameters) if parameters is not None else "<>"))
        inner = next((child for child in reversed(inner.named_children) if child.type != "comment"), None)
    if inner is None:
        return
    handler = walker.handlers.get(inner.type)
    if handler is not None:
        handler(walker, inner, scope, doc, " ".join(headers))


def handle_friend(walker: Walker, node: Node, scope: Scope, doc: Doc, template: str) -> None:
    """A friend function defined in a class lives in the enclosing namespace (as ctags says)."""
    for child in node.named_children:
        if child.type == "function_definition":
            outer = Scope(scope.namespace, "namespace", "", scope.namespace, scope.depth)
            handle_function_definition(walker, child, outer, doc, template)


def handle_linkage(walker: Walker, node: Node, scope: Scope, doc: Doc, template: str) -> None:
    """`extern "C" { ... }` or `extern "C" int f();`."""
    body = node.child_by_field_name("body")
    if body is None:
        return
    children = body.named_children if body.type == "declaration_list" else [body]
    walker.queue.append((children, scope, False))  # a batch, not a call: no recursion


HANDLERS: Final[dict[str, Handler]] = {
    "namespace_definition": handle_namespace,
    "class_specifier": handle_record,
    "struct_specifier": handle_record,
    "union_specifier": handle_record,
    "enum_specifier": handle_enum,
    "enumerator": handle_enumerator,
    "function_definition": handle_function_definition,
    "declaration": handle_declaration,
    "field_declaration": handle_declaration,
    "template_declaration": handle_template,
    "friend_declaration": handle_friend,
    "type_definition": handle_typedef,
    "alias_declaration": handle_alias,
    "linkage_specification": handle_linkage,
}
