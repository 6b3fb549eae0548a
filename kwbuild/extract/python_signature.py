"""What a def or class shows in the table: its signature, bases, kind and docstring summary.

Owns the text of a def/class header, read two ways: from the AST (parameters joined with PEP 8 spacing
from their source slices) and, for a file that does not parse, from the header line's own text. Also the
kind of a def in a class body (by its decorators) and the summary line of a docstring.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from typing import Final

from kwbuild.extract.python_source import Located, Source, json_safe

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

HEADER_RE: Final = re.compile(
    r"(?P<indent>[ \t\f]*)(?P<async>async[ \t]+)?(?P<kw>def|class)[ \t]+(?P<name>[^\W\d]\w*)(?P<rest>.*)"
)
_PROPERTY_DECORATORS: Final = frozenset({"property", "cached_property", "abstractproperty"})
_ACCESSOR_DECORATORS: Final = frozenset({"setter", "getter", "deleter"})


def method_kind(decorators: Sequence[str]) -> str:
    """Kind of a def directly in a class body, from its decorators' source text."""
    for text in decorators:
        head, _, last = text.rpartition(".")
        if last in _PROPERTY_DECORATORS or (head and last in _ACCESSOR_DECORATORS):
            return "property"
        if last in ("classmethod", "staticmethod"):
            return last
    return "method"


# --- from the AST -------------------------------------------------------------------------------------------


def function_signature(source: Source, args: ast.arguments, returns: ast.expr | None) -> str:
    """``(self, x: int = 1, /, *args, key=None, **kw) -> Foo`` built from the parameters' source slices."""
    segment, posonly, defaults = source.segment, args.posonlyargs, args.defaults
    positional = posonly + args.args if posonly else args.args
    padded: list[ast.expr | None] = [None] * (len(positional) - len(defaults))
    padded += defaults
    parts = [
        arg.arg if default is None and arg.annotation is None else _parameter(segment, arg, default)
        for arg, default in zip(positional, padded, strict=True)
    ]
    if posonly:
        parts.insert(len(posonly), "/")
    vararg, kwonly, kwarg = args.vararg, args.kwonlyargs, args.kwarg
    if vararg is not None:
        parts.append("*" + _parameter(segment, vararg, None))
    elif kwonly:
        parts.append("*")
    if kwonly:
        parts += [_parameter(segment, arg, default) for arg, default in zip(kwonly, args.kw_defaults, strict=True)]
    if kwarg is not None:
        parts.append("**" + _parameter(segment, kwarg, None))
    text = f"({', '.join(parts)})"
    return text if returns is None else f"{text} -> {segment(returns)}"


def _parameter(segment: Callable[[Located], str], arg: ast.arg, default: ast.expr | None) -> str:
    """``x``, ``x=1``, ``x: int`` or ``x: int = 1`` (PEP 8 spacing)."""
    if arg.annotation is None:
        return arg.arg if default is None else f"{arg.arg}={segment(default)}"
    if default is None:
        return f"{arg.arg}: {segment(arg.annotation)}"
    return f"{arg.arg}: {segment(arg.annotation)} = {segment(default)}"


def docstring(node: ast.Module | ast.ClassDef | FunctionNode) -> str | None:
    """Summary line of a docstring: the first non-empty line, as ``ast.get_docstring(clean=True)`` has it."""
    first = node.body[0] if node.body else None
    if type(first) is not ast.Expr or type(first.value) is not ast.Constant:
        return None
    doc = first.value.value
    return _summary(doc) if type(doc) is str else None


def _summary(doc: str) -> str | None:
    start = 0
    while start <= len(doc):  # line by line without splitting a long docstring
        end = doc.find("\n", start)
        end = len(doc) if end < 0 else end
        text = doc[start:end].strip()
        if text:
            return json_safe(doc[start:end].expandtabs().strip() if "\t" in text else text)
        start = end + 1
    return None


# --- from a header line's text ------------------------------------------------------------------------------


def header_signature(rest: str) -> str:
    """Text between a def/class name and its block colon, when the header closes on the same line."""
    depth, quote = 0, ""
    for index, char in enumerate(rest):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "#":
            break
        elif char == ":" and depth == 0:
            return " ".join(rest[:index].split())
    return ""


def header_bases(signature: str) -> list[str]:
    """Positional arguments of a class header's ``(...)``, split on top-level commas."""
    if not (signature.startswith("(") and signature.endswith(")")):
        return []
    parts: list[str] = []
    depth, start = 0, 1
    for index, char in enumerate(signature[1:-1], 1):
        depth += (char in "([{") - (char in ")]}")
        if char == "," and depth == 0:
            parts.append(signature[start:index].strip())
            start = index + 1
    parts.append(signature[start:-1].strip())
    return [part for part in parts if part and "=" not in part and not part.startswith("**")]
