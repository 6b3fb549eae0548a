"""The statement walk: one pass over a parsed module that yields its symbols, imports and ``__all__``.

Owns which statements make symbols (defs, classes, the first assignment of a name in a module or class
body), which make imports (noting those under ``if TYPE_CHECKING:``), how scopes nest (qualnames, parents,
method kinds) and the rows the walk appends. It visits statements only, never expressions, and never recurses.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple

from kwbuild.extract.python_all import all_assignment, all_operation
from kwbuild.extract.python_signature import FunctionNode, docstring, function_signature, method_kind
from kwbuild.extract.python_source import Source

Symbol = dict[str, Any]
Import = dict[str, Any]

_CONSTANT_RE: Final = re.compile(r"_*[A-Z][A-Z0-9_]*\Z")


class _Scope(NamedTuple):
    """What owns a run of statements: the module, a class body or a function body."""

    kind: str  # "module" | "class" | "function"
    qualname: str | None  # the owning symbol's qualname, None for the module
    owner: int  # index of the owning symbol, -1 for the module: the key of "first assignment wins"
    type_checking: bool


Handler = Callable[[Any, _Scope], None]


class Walker:
    """One pre-order pass over a module's statements (never their expressions), without recursion.

    ``_stack`` holds the statements still to visit, last first, and ``_Scope`` markers: popping a marker
    switches the current scope, so a body is scheduled as ``[outer, *reversed(body), inner]``. Each scope
    kind has its own dispatch table; a statement with no handler there (most of a function body: calls,
    assignments, returns) costs one dict lookup.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.symbols: list[Symbol] = []
        self.imports: list[Import] = []
        self._stack: list[ast.stmt | _Scope] = []
        self._assigned: set[tuple[int, str]] = set()
        self._all: list[str] | None = None
        self._all_dynamic = False
        everywhere: dict[type, Handler] = {
            _Scope: _scope_marker,
            ast.FunctionDef: self._function,
            ast.AsyncFunctionDef: self._function,
            ast.ClassDef: self._class,
            ast.Import: self._import,
            ast.ImportFrom: self._import,
            ast.If: self._if,
            ast.For: self._loop,
            ast.AsyncFor: self._loop,
            ast.While: self._loop,
            ast.With: self._with,
            ast.AsyncWith: self._with,
            ast.Try: self._try,
            ast.TryStar: self._try,
            ast.Match: self._match,
        }
        assignments: dict[type, Handler] = {ast.Assign: self._assign, ast.AnnAssign: self._assign}
        module: dict[type, Handler] = {ast.Expr: self._note_all, ast.AugAssign: self._note_all}
        self._handlers = {
            "function": everywhere,
            "class": everywhere | assignments,
            "module": everywhere | assignments | module,
        }

    def run(self, tree: ast.Module) -> None:
        scope = _Scope("module", None, -1, False)
        handlers, stack = self._handlers[scope.kind], self._stack
        stack.extend(reversed(tree.body))
        while stack:
            node = stack.pop()
            handler = handlers.get(type(node))
            if handler is None:
                continue
            if type(node) is _Scope:
                scope, handlers = node, self._handlers[node.kind]
            else:
                handler(node, scope)

    def all_names(self) -> list[str] | None:
        return None if self._all_dynamic else self._all

    def _enter(self, body: list[ast.stmt], inner: _Scope, outer: _Scope) -> None:
        """Visit ``body`` next, owned by ``inner``, then return to ``outer``."""
        if body:
            self._stack += [outer, *reversed(body), inner]

    # Compound statements that open no scope: their bodies are visited next, in the current scope.

    def _if(self, node: ast.If, scope: _Scope) -> None:
        if node.orelse:
            self._stack.extend(reversed(node.orelse))
        if _is_type_checking(node.test):
            self._enter(node.body, scope._replace(type_checking=True), scope)
        else:
            self._stack.extend(reversed(node.body))

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While, scope: _Scope) -> None:
        if node.orelse:
            self._stack.extend(reversed(node.orelse))
        self._stack.extend(reversed(node.body))

    def _with(self, node: ast.With | ast.AsyncWith, scope: _Scope) -> None:
        self._stack.extend(reversed(node.body))

    def _try(self, node: ast.Try | ast.TryStar, scope: _Scope) -> None:
        bodies = [node.body, *(handler.body for handler in node.handlers), node.orelse, node.finalbody]
        for body in reversed(bodies):
            self._stack.extend(reversed(body))

    def _match(self, node: ast.Match, scope: _Scope) -> None:
        for case in reversed(node.cases):
            self._stack.extend(reversed(case.body))

    # Statements that make symbols, imports or ``__all__``.

    def _function(self, node: FunctionNode, scope: _Scope) -> None:
        decorators = [self.source.segment(expr) for expr in node.decorator_list] if node.decorator_list else []
        kind = method_kind(decorators) if scope.kind == "class" else "function"
        symbol = self._add(node.name, kind, node, scope, function_signature(self.source, node.args, node.returns))
        symbol["decorators"] = decorators
        symbol["docstring"] = docstring(node)
        symbol["is_async"] = type(node) is ast.AsyncFunctionDef
        inner = _Scope("function", symbol["qualname"], len(self.symbols) - 1, scope.type_checking)
        self._enter(node.body, inner, scope)

    def _class(self, node: ast.ClassDef, scope: _Scope) -> None:
        bases = [self.source.segment(expr) for expr in node.bases]
        arguments = bases + [self.source.segment(keyword) for keyword in node.keywords]
        symbol = self._add(node.name, "class", node, scope, f"({', '.join(arguments)})" if arguments else "")
        symbol["decorators"] = [self.source.segment(expr) for expr in node.decorator_list]
        symbol["bases"] = bases
        symbol["docstring"] = docstring(node)
        inner = _Scope("class", symbol["qualname"], len(self.symbols) - 1, scope.type_checking)
        self._enter(node.body, inner, scope)

    def _assign(self, node: ast.Assign | ast.AnnAssign, scope: _Scope) -> None:
        """Module- and class-level names; only the first assignment of a name in a body is a symbol."""
        targets: Sequence[ast.expr]
        if isinstance(node, ast.AnnAssign):
            targets, signature = _target_names([node.target]), ": " + self.source.segment(node.annotation)
        else:  # the common `name = value` needs no target walk
            single = len(node.targets) == 1 and type(node.targets[0]) is ast.Name
            targets, signature = (node.targets if single else _target_names(node.targets)), ""
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            if (scope.owner, target.id) not in self._assigned:
                self._assigned.add((scope.owner, target.id))
                self._add(target.id, _variable_kind(target.id, scope), node, scope, signature, target)
            if target.id == "__all__" and scope.kind == "module":
                self._fold_all(*all_assignment(node))

    def _add(
        self, name: str, kind: str, node: ast.stmt, scope: _Scope, signature: str, at: ast.Name | None = None
    ) -> Symbol:
        """Append and return a symbol for ``node``, placed at its keyword or at ``at`` (an assigned name)."""
        line, col_offset = (node.lineno, node.col_offset) if at is None else (at.lineno, at.col_offset)
        symbol: Symbol = {
            "name": name,
            "qualname": name if scope.qualname is None else f"{scope.qualname}.{name}",
            "kind": kind,
            "line": line,
            "end_line": node.end_lineno or line,
            "col": col_offset if self.source.ascii_only else self.source.col(line, col_offset),
            "signature": signature,
            "decorators": [],
            "bases": [],
            "docstring": None,
            "parent": scope.qualname,
            "is_async": False,
        }
        self.symbols.append(symbol)
        return symbol

    def _import(self, node: ast.Import | ast.ImportFrom, scope: _Scope) -> None:
        names: list[tuple[str | None, str | None, str | None]]
        if isinstance(node, ast.Import):
            level, names = 0, [(alias.name, None, alias.asname) for alias in node.names]
        else:
            level, names = node.level or 0, [(node.module, alias.name, alias.asname) for alias in node.names]
        line, type_checking = node.lineno, scope.type_checking
        self.imports += [import_row(source, name, asname, level, line, type_checking) for source, name, asname in names]

    def _note_all(self, node: ast.Expr | ast.AugAssign, scope: _Scope) -> None:
        self._fold_all(*all_operation(node))

    def _fold_all(self, operation: str | None, items: list[str] | None) -> None:
        """Apply one module-level operation on ``__all__``; anything not literal makes it dynamic."""
        if operation is None:
            return
        if items is None or (operation == "extend" and self._all is None):
            self._all_dynamic = True
        elif operation == "assign":
            self._all = list(items)
        elif self._all is not None:
            self._all.extend(items)


def _scope_marker(node: _Scope, scope: _Scope) -> None:
    """Dispatch entry of the scope markers on the walk's stack; ``Walker.run`` handles them inline."""


def _is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if <anything>.TYPE_CHECKING:``."""
    if type(test) is ast.Name:
        return test.id == "TYPE_CHECKING"
    return type(test) is ast.Attribute and test.attr == "TYPE_CHECKING"


def _target_names(targets: Sequence[ast.expr]) -> list[ast.Name]:
    """Names bound by assignment targets, in source order (``a, (b, *c) = ...`` gives a, b, c)."""
    names: list[ast.Name] = []
    stack = list(reversed(targets))
    while stack:
        target = stack.pop()
        if isinstance(target, ast.Name):
            names.append(target)
        elif isinstance(target, (ast.Tuple, ast.List)):
            stack.extend(reversed(target.elts))
        elif isinstance(target, ast.Starred):
            stack.append(target.value)
    return names


def _variable_kind(name: str, scope: _Scope) -> str:
    if name.isupper() and _CONSTANT_RE.match(name):  # isupper() first: a cheap filter for the regex
        return "constant"
    return "attribute" if scope.kind == "class" else "variable"


def import_row(
    module: str | None, name: str | None, asname: str | None, level: int, line: int, type_checking: bool
) -> Import:
    return {
        "module": module,
        "name": name,
        "asname": asname,
        "level": level,
        "line": line,
        "type_checking": type_checking,
    }
