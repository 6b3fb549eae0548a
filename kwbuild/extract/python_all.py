"""A module's ``__all__``: the literal operations on it that the statement walk folds into a list.

Owns reading one module-level statement as an operation on ``__all__`` (assign, or extend with ``+=``,
``.extend`` and ``.append``) with its string items; anything that is not a literal list of strings
comes back as ``None`` items, which makes ``__all__`` dynamic.
"""

from __future__ import annotations

import ast

from kwbuild.extract.python_source import json_safe


def all_assignment(node: ast.Assign | ast.AnnAssign) -> tuple[str, list[str] | None]:
    """``__all__ = [...]``; ``__all__`` inside a tuple target or a chained assignment counts as dynamic."""
    if isinstance(node, ast.AnnAssign):
        return ("assign", _string_items(node.value)) if node.value is not None else ("assign", None)
    single = len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    return "assign", _string_items(node.value) if single else None


def all_operation(node: ast.Expr | ast.AugAssign) -> tuple[str | None, list[str] | None]:
    """``__all__ += [...]``, ``__all__.extend([...])``, ``__all__.append("x")``; other uses are dynamic."""
    if isinstance(node, ast.AugAssign):
        if not (isinstance(node.target, ast.Name) and node.target.id == "__all__"):
            return None, None
        return "extend", _string_items(node.value) if isinstance(node.op, ast.Add) else None
    call = node.value
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return None, None
    owner = call.func.value
    if not (isinstance(owner, ast.Name) and owner.id == "__all__"):
        return None, None
    if len(call.args) != 1 or call.keywords:
        return "extend", None
    if call.func.attr == "extend":
        return "extend", _string_items(call.args[0])
    if call.func.attr == "append":
        item = call.args[0]
        if isinstance(item, ast.Constant) and isinstance(item.value, str):
            return "extend", [json_safe(item.value)]
        return "extend", None
    return "extend", None


def _string_items(value: ast.expr) -> list[str] | None:
    """Strings of a list/tuple of string literals, or of a ``+`` of such; None for anything else."""
    items: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            stack += [node.right, node.left]
        elif isinstance(node, (ast.List, ast.Tuple)):
            for element in node.elts:
                if not (isinstance(element, ast.Constant) and isinstance(element.value, str)):
                    return None
                items.append(json_safe(element.value))
        else:
            return None
    return items
