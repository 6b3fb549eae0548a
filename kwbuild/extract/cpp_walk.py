"""C/C++ extractor: the walk over declaration-level nodes, and the scopes it keeps.

Owns ``Walker``: the queue of sibling batches, comments that document a declaration, containers to enter,
the tokens of ERROR nodes (`namespace x {`, `struct X : B {`, unmatched braces) and what every declaration
handler shares (opening a scope, adding a symbol, qualified names). Which handler takes which node is the
table the walker is given (``cpp_declarations.HANDLERS``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Final, NamedTuple

from tree_sitter import Node

from kwbuild.extract.cpp_rows import Symbol, symbol_row
from kwbuild.extract.cpp_text import Text, comment_summary

MAX_DEPTH: Final = 200  # scopes nested deeper are not walked (a "depth" error): qualnames stay short

_CONTAINERS: Final = frozenset(
    {
        "translation_unit",
        "declaration_list",
        "field_declaration_list",
        "enumerator_list",
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
        "ERROR",
    }
)
_NAMESPACE_NAMES: Final = frozenset({"identifier", "namespace_identifier", "nested_namespace_specifier"})
_TYPE_NAMES: Final = frozenset({"type_identifier", "template_type", "qualified_identifier", "identifier"})
_SCOPE_KEYWORDS: Final = frozenset({"namespace", "class", "struct", "union", "enum"})
_SCOPE_HEAD: Final = _NAMESPACE_NAMES | _TYPE_NAMES | {"base_class_clause", "virtual_specifier", "primitive_type"}


class Scope(NamedTuple):
    """What encloses a run of declarations."""

    qualname: str | None  # None at file scope
    kind: str  # "file" | "namespace" | "class" | "struct" | "union" | "enum"
    name: str  # the last component of qualname: a constructor has its class's name
    namespace: str | None  # the nearest enclosing namespace, where a friend function lives
    depth: int  # how many scopes enclose it


FILE: Final = Scope(None, "file", "", None, 0)
Doc = tuple[Node, Node] | None


class _Tokens:
    """What a walk over an ERROR node's children (or a record body the parser left open) keeps track of.

    Those children include tokens: `namespace`/`class`/`struct`/`union`/`enum`, a name and an unmatched `{`
    open a scope (``braces``) that an unmatched `}` closes, so `namespace c10 {` or `struct TensorImpl : B {`
    flattened into an ERROR still names what follows.
    """

    __slots__ = ("braces", "keyword", "pending", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.braces: list[tuple[Scope, list[Symbol]]] = []  # what each unmatched "}" restores
        self.keyword: str | None = None  # a scope keyword not yet followed by `{`
        self.pending: list[Node] = []  # the nodes after it: names, base clause


Handler = Callable[["Walker", Node, Scope, Doc, str], None]
Batch = tuple[list[Node], Scope, bool]  # sibling nodes, their scope, whether tokens count (ERROR nodes)


class Walker:
    """A walk over declaration-level nodes, one batch of siblings at a time, without recursion.

    Batches are walked breadth-first: every namespace of a level is known before the bodies below it, which
    tells `void detail::f() {}` (a function of namespace `detail`) from `void Foo::f() {}` (a method).
    Symbols are sorted into source order at the end.
    """

    def __init__(self, text: Text, handlers: Mapping[str, Handler]) -> None:
        self.text = text
        self.handlers = handlers  # node type -> the function that adds its symbols and pushes its body
        self.symbols: list[Symbol] = []
        self.docstring: str | None = None
        self.too_deep = False  # a scope nested deeper than MAX_DEPTH was met (and not walked)
        self.namespaces: set[str] = set()  # namespaces seen so far: `void ns::f() {}` is not a method
        self.queue: deque[Batch] = deque()

    def run(self, root: Node) -> None:
        children = root.named_children
        if children and children[0].type == "comment" and children[0].start_point[0] == 0:
            last = children[0]
            for child in children[1:]:
                if child.type != "comment" or child.start_point[0] > last.end_point[0] + 1:
                    break
                last = child
            self.docstring = comment_summary(self.text.original(children[0].start_byte, last.end_byte))
        queue = self.queue
        queue.append((root.children, FILE, True) if root.is_error else (children, FILE, False))
        while queue:
            self._walk(*queue.popleft())

    def _walk(self, children: list[Node], scope: Scope, tokens: bool) -> None:
        """Dispatch each sibling; a block of comments right above a declaration documents it."""
        handlers = self.handlers
        state = _Tokens(scope) if tokens else None
        doc_first = doc_last = previous = None
        for node in children:
            kind = node.type
            if state is not None and self._token(state, node, kind):
                scope = state.scope
                continue
            if kind == "comment":
                row = node.start_point[0]
                if doc_last is not None and doc_last.end_point[0] + 1 >= row:
                    doc_last = node
                elif previous is not None and _last_row(previous) >= row:
                    doc_first = doc_last = None  # `int a;  // about a` documents nothing below
                else:
                    doc_first = doc_last = node
                continue
            doc: Doc = None
            if doc_first is not None and doc_last is not None:
                if doc_last.end_point[0] + 1 >= node.start_point[0]:
                    doc = (doc_first, doc_last)
                doc_first = doc_last = None
            previous = node
            if kind in _CONTAINERS:
                self.push(node, scope)
                continue
            handler = handlers.get(kind)
            if handler is not None:
                handler(self, node, scope, doc, "")

    def _token(self, state: _Tokens, node: Node, kind: str) -> bool:
        """Follow scope keywords and unmatched braces among an ERROR's children; True when consumed."""
        if kind in _SCOPE_KEYWORDS and not node.is_named:
            if state.keyword != "enum":  # `enum class X {` opens an enum
                state.keyword, state.pending = kind, []
        elif state.keyword is not None and kind in _SCOPE_HEAD:
            state.pending.append(node)
        elif kind == "{":
            outer, opened = state.scope, list[Symbol]()
            if state.keyword is not None:
                state.scope, opened = self._open_scope(state.keyword, state.pending, node, outer)
            state.braces.append((outer, opened))
            state.keyword = None
        elif kind == "}":
            state.keyword = None
            if state.braces:
                state.scope, opened = state.braces.pop()
                for symbol in opened:
                    symbol["end_line"] = max(symbol["line"], node.start_point[0] + 1)
        elif node.is_named:
            state.keyword = None
            return False
        return True

    def _open_scope(self, keyword: str, head: list[Node], brace: Node, scope: Scope) -> tuple[Scope, list[Symbol]]:
        """The scope that `namespace a::b {` or `struct Foo : Base {` opens among an ERROR's tokens."""
        if keyword == "namespace":
            names = [part for part in head if part.type in _NAMESPACE_NAMES]
            inner, symbols = self.open_namespace(names, brace, scope, None)
            return inner or scope, symbols
        name_node = next((part for part in head if part.type in _TYPE_NAMES), None)
        if name_node is None:
            return scope, []
        name, parent, at = self.type_name(name_node, scope)
        inner = self.inner(scope, f"{parent}::{name}" if parent else name, keyword, name, scope.namespace)
        if inner is None:
            return scope, []
        symbol = self.add(name, keyword, at, brace, parent, "", None)
        clause = next((part for part in head if part.type == "base_class_clause"), None)
        symbol["bases"] = [] if clause is None else self.base_texts(clause.children)
        return inner, [symbol]

    def inner(self, scope: Scope, qualname: str, kind: str, name: str, namespace: str | None) -> Scope | None:
        """The scope a definition opens inside ``scope``; None (and noted) when nested too deep to walk."""
        if scope.depth >= MAX_DEPTH:
            self.too_deep = True
            return None
        return Scope(qualname, kind, name, namespace, scope.depth + 1)

    def push(self, container: Node, scope: Scope) -> None:
        if container.type == "ERROR":
            self.queue.append((container.children, scope, True))
        else:
            self.queue.append((container.named_children, scope, False))

    def push_body(self, node: Node, scope: Scope) -> bool:
        """Walk a namespace's or record's body; one the parser left open is the rest of the node's children."""
        body = node.child_by_field_name("body")
        if body is not None:
            self.push(body, scope)
            return True
        children = node.children
        opening = next((index for index, child in enumerate(children) if child.type == "{"), None)
        if opening is None:
            return False
        self.queue.append((children[opening + 1 :], scope, True))
        return True

    def add(self, name: str, kind: str, at: Node, whole: Node, parent: str | None, signature: str, doc: Doc) -> Symbol:
        row, col = at.start_point
        if col and not self.text.ascii_only:
            col = self.text.column(at.start_byte - col, at.start_byte)
        end_row, end_col = whole.end_point
        if end_col or end_row <= row:  # a node ending at column 0 ends on the row before
            end_row += 1
        docstring = None if doc is None else comment_summary(self.text.original(doc[0].start_byte, doc[1].end_byte))
        symbol = symbol_row(name, kind, row + 1, col, end_row, parent, signature, docstring)
        self.symbols.append(symbol)
        return symbol

    def open_namespace(
        self, names: list[Node], whole: Node, scope: Scope, doc: Doc
    ) -> tuple[Scope | None, list[Symbol]]:
        """Add the namespaces a definition names (`a::inline b` names two); the innermost scope, if walked."""
        parts: list[Node] = []
        stack = list(reversed(names))
        while stack:
            name_node = stack.pop()
            if name_node.type == "nested_namespace_specifier":
                stack.extend(reversed(name_node.named_children))
            else:
                parts.append(name_node)
        symbols = []
        inner: Scope | None = scope
        for at, name in [(part, self.text.name(part)) for part in parts] or [(whole, "(anonymous)")]:
            qualname = f"{scope.qualname}::{name}" if scope.qualname else name
            inner = self.inner(scope, qualname, "namespace", name, qualname)
            if inner is None:
                break
            symbols.append(self.add(name, "namespace", at, whole, scope.qualname, "", doc))
            self.namespaces.add(qualname)
            scope = inner
        return inner, symbols

    def type_name(self, name_node: Node, scope: Scope) -> tuple[str, str | None, Node]:
        """Name, parent qualname and name node of `Foo`, `Foo<int>` (a specialisation) or `ns::Foo`."""
        qualifier, absolute, final = self.qualified(name_node)
        if final.type == "template_type":
            final = final.child_by_field_name("name") or final
        return self.text.of(final), self.join(scope, qualifier, absolute), final

    def qualified(self, node: Node) -> tuple[list[str], bool, Node]:
        """`a::B<T>::f` -> (["a", "B"], False, f); `::f` is absolute."""
        qualifier: list[str] = []
        absolute = False
        while node.type == "qualified_identifier":
            scope = node.child_by_field_name("scope")
            if scope is None:
                absolute = not qualifier
            elif scope.type == "template_type":
                qualifier.append(self.text.of(scope.child_by_field_name("name") or scope))
            else:
                qualifier.append(self.text.of(scope))
            inner = node.child_by_field_name("name")
            if inner is None:
                break
            node = inner
        return qualifier, absolute, node

    @staticmethod
    def join(scope: Scope, qualifier: list[str], absolute: bool) -> str | None:
        if not qualifier:
            return scope.qualname
        path = "::".join(qualifier)
        return path if absolute or scope.qualname is None else f"{scope.qualname}::{path}"

    def base_texts(self, children: list[Node]) -> list[str]:
        """The texts of the base classes between `:` and `{`, split at the clause's commas."""
        bases: list[str] = []
        start = end = None
        for child in children:
            if child.type == "{":
                break
            if child.type in (",", ":"):
                if start is not None and end is not None:
                    bases.append(self.text.span(start, end))
                start = None
            else:
                start = child.start_byte if start is None else start
                end = child.end_byte
        if start is not None and end is not None:
            bases.append(self.text.span(start, end))
        return bases


def _last_row(node: Node) -> int:
    """The node's last row; a preprocessor line's node ends at column 0 of the next row."""
    end_row, end_col = node.end_point
    return end_row - 1 if end_col == 0 and end_row > node.start_point[0] else end_row
