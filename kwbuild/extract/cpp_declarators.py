"""C/C++ extractor: what one declarator declares, a function, method, constructor, destructor, variable or field.

Owns ``add_declarator`` (the symbol of one declarator of a declaration or function definition: its name, kind,
parent and signature) and ``unwrap`` (the name inside pointer, reference, array and parenthesised declarators).
"""

from __future__ import annotations

import re
from typing import Final

from tree_sitter import Node

from kwbuild.extract.cpp_records import RECORD_SCOPES
from kwbuild.extract.cpp_text import WORD_CHARS
from kwbuild.extract.cpp_walk import Doc, Scope, Walker

_DECLARATOR_WRAPPERS: Final = frozenset(
    {"pointer_declarator", "reference_declarator", "attributed_declarator", "init_declarator", "array_declarator"}
)
_OPERATOR_SPACE: Final = re.compile(r"^operator\s+(?=\W)")


def add_declarator(
    walker: Walker,
    node: Node,
    declarator: Node,
    scope: Scope,
    doc: Doc,
    template: str,
    type_node: Node | None,
    first: bool,
) -> None:
    """Add the symbol one declarator of ``node`` declares; ``first`` keeps the declaration's specifiers."""
    name_node, function = unwrap(declarator)
    if name_node is None:
        return
    text = walker.text
    qualifier: list[str] = []
    absolute, final = False, name_node
    if name_node.type == "qualified_identifier":
        qualifier, absolute, final = walker.qualified(name_node)
    if function is None and final.type == "operator_cast":  # `A::operator bool() const`
        function = final
    if function is not None and type_node is not None and _misread_conversion(text.source, type_node):
        # tree-sitter reads `inline A::operator float() const` as type `A::operator`, function `float()`
        qualifier, absolute, final = walker.qualified(type_node)
        parameters = function.child_by_field_name("parameters") or function
        name = text.span(final.start_byte, parameters.start_byte)
        kind, parent = _function_kind(walker, name, final, qualifier, absolute, scope)
        signature = text.span(type_node.start_byte, function.end_byte)
        walker.add(name, kind, final, node, parent, f"{template} {signature}" if template else signature, doc)
        return
    if function is not None:
        name = _function_name(walker, final)
        kind, parent = _function_kind(walker, name, final, qualifier, absolute, scope)
        start = type_node.start_byte if type_node is not None else declarator.start_byte
        signature = text.span(start, function.end_byte)
        walker.add(name, kind, final, node, parent, f"{template} {signature}" if template else signature, doc)
        return
    if qualifier:  # `int Foo::count = 0;`: the definition of a static member declared elsewhere
        return
    if declarator.type == "init_declarator":
        declarator = declarator.child_by_field_name("declarator") or declarator
    kind = "field" if scope.kind in RECORD_SCOPES or node.type == "field_declaration" else "variable"
    if first:
        signature = text.span(node.start_byte, declarator.end_byte)
    else:
        signature = text.of(declarator)
        if type_node is not None:
            signature = f"{text.of(type_node)} {signature}"
    walker.add(text.name(final), kind, final, node, scope.qualname, signature, doc)


def _function_kind(
    walker: Walker, name: str, final: Node, qualifier: list[str], absolute: bool, scope: Scope
) -> tuple[str, str | None]:
    """Kind and parent of a function: a member when in a record or qualified by a non-namespace."""
    if qualifier:
        parent = walker.join(scope, qualifier, absolute)
        if parent in walker.namespaces or "::".join(qualifier) in walker.namespaces:
            return "function", parent
        owner = qualifier[-1]
    elif scope.kind in RECORD_SCOPES:
        parent, owner = scope.qualname, scope.name
    else:
        return "function", scope.qualname
    if final.type == "destructor_name":
        return "destructor", parent
    return ("constructor" if name == owner else "method"), parent


def _function_name(walker: Walker, final: Node) -> str:
    text = walker.text
    kind = final.type
    if kind == "identifier" or kind == "field_identifier":
        return text.name(final)
    if kind == "operator_name":
        return _OPERATOR_SPACE.sub("operator", text.of(final))
    if kind == "destructor_name":
        return text.of(final).replace(" ", "")
    if kind == "operator_cast":  # `operator int*`: the text up to the parameter list
        inner = final.child_by_field_name("declarator")
        while inner is not None and inner.type != "abstract_function_declarator":
            inner = inner.child_by_field_name("declarator") or _last_named(inner)
        parameters = None if inner is None else inner.child_by_field_name("parameters")
        return text.span(final.start_byte, final.end_byte if parameters is None else parameters.start_byte)
    if kind == "template_function":
        final = final.child_by_field_name("name") or final
    return text.of(final)


def _misread_conversion(source: bytes, type_node: Node) -> bool:
    """Whether a function's "type" is really the `A::operator` of a conversion operator."""
    kind, end = type_node.type, type_node.end_byte
    if kind not in ("qualified_identifier", "type_identifier") or not source.endswith(b"operator", 0, end):
        return False
    return end - 8 == type_node.start_byte or source[end - 9] not in WORD_CHARS


def _last_named(node: Node) -> Node | None:
    count = node.named_child_count
    return node.named_child(count - 1) if count else None


def unwrap(declarator: Node) -> tuple[Node | None, Node | None]:
    """The name node inside a declarator, and the function declarator when it declares a function.

    `(*fp)(int)` declares a pointer, not a function: a parenthesised declarator cancels the function
    declarator seen outside it, unless another one is found inside (`(*f(int))(double)`).
    """
    node, function = declarator, None
    for _ in range(100):
        kind = node.type
        if kind == "function_declarator":
            function = node
        elif kind == "parenthesized_declarator":
            function = None
            inner = node.named_child(0) if node.named_child_count else None
            if inner is None:
                return None, None
            node = inner
            continue
        elif kind == "operator_cast":
            return node, node
        elif kind not in _DECLARATOR_WRAPPERS:
            return node, function
        inner = node.child_by_field_name("declarator")
        if inner is None:
            inner = _last_named(node) if kind == "reference_declarator" else None
            if inner is None:
                return None, None
        node = inner
    return None, None
