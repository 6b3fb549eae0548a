"""Python extractor: the bytes of a ``.py``/``.pyi`` file in, its symbol table out.

Owns everything Python-specific about reading a source file: decoding (PEP 263 cookie, BOM), parsing
with ``ast.parse``, the statement-level walk that yields symbols, imports, ``__all__`` and docstrings, and
the tolerant second pass for files that do not parse (a bounded line-repair loop, then a line scan).

``extract`` is pure and total: it never opens a file and never raises; a bad source file is data in its
table (``errors``, ``partial``). Text shown in the table (signatures, decorators, bases) is sliced from the
source with the AST's positions (regenerated only for a multi-line expression holding a comment), so it reads
as the author wrote it; parameters are joined with PEP 8 spacing.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Final, NamedTuple

NAME = "python"
VERSION = 1
SUFFIXES = (".py", ".pyi")

Table = dict[str, Any]
Symbol = dict[str, Any]
Import = dict[str, Any]
Error = dict[str, Any]
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
Located = ast.expr | ast.keyword

_PARSE_ERRORS: Final = (SyntaxError, ValueError, RecursionError, MemoryError)
_MAX_PARSES: Final = 20  # recovery never costs more than this many parses of the file
_VARIABLE_KINDS: Final = frozenset({"variable", "constant", "attribute"})
_PROPERTY_DECORATORS: Final = frozenset({"property", "cached_property", "abstractproperty"})
_ACCESSOR_DECORATORS: Final = frozenset({"setter", "getter", "deleter"})
_CONTINUATION_HEADERS: Final = {
    "except": "except:",
    "elif": "elif 1:",
    "else": "else:",
    "finally": "finally:",
}
_UTF8_CODECS: Final = frozenset({"utf-8", "utf-8-sig"})

_CONSTANT_RE: Final = re.compile(r"_*[A-Z][A-Z0-9_]*\Z")
_NEWLINE_RE: Final = re.compile(r"\r\n?|\n")
_OPEN_SPACE_RE: Final = re.compile(r"([(\[{]) ")
_CLOSE_SPACE_RE: Final = re.compile(r" ([)\]}])")
_HEADER_RE: Final = re.compile(
    r"(?P<indent>[ \t\f]*)(?P<async>async[ \t]+)?(?P<kw>def|class)[ \t]+(?P<name>[^\W\d]\w*)(?P<rest>.*)"
)
_BLOCK_COLON_RE: Final = re.compile(r":[ \t]*(#.*)?\Z")
_EXPECTED_BLOCK_RE: Final = re.compile(r"expected an indented block.* on line (\d+)")
_IMPORT_RE: Final = re.compile(r"[ \t\f]*import[ \t]+(?P<names>[^#;]+)")
_FROM_RE: Final = re.compile(
    r"[ \t\f]*from[ \t]+(?P<dots>\.*)[ \t]*(?P<module>[\w.]*)[ \t]+import\b[ \t]*(?P<names>[^#;]*)"
)
_IMPORT_NAME_RE: Final = re.compile(r"([\w.]+|\*)(?:\s+as\s+(\w+))?")
_TYPE_CHECKING_RE: Final = re.compile(r"[ \t\f]*if[ \t]+(?:[\w.]+\.)?TYPE_CHECKING[ \t]*:")


def extract(data: bytes) -> Table:
    """Return the symbol table of one Python source file given as bytes; never raises."""
    try:
        tree = _parse(data)
    except _PARSE_ERRORS as exc:
        return _recover(data, exc)
    return _table(tree, _decode(data)[0], errors=[], partial=False)


def _parse(source: str | bytes) -> ast.Module:
    """``ast.parse`` with the parser's warnings silenced (they are noise here and would be side effects).

    ``catch_warnings`` swaps the process-wide filter list, so run extractors in processes, not threads.
    """
    with warnings.catch_warnings(action="ignore"):
        return ast.parse(source)


def _table(tree: ast.Module, text: str, errors: list[Error], partial: bool) -> Table:
    walker = _Walker(_Source(_split_lines(text), text.isascii()))
    walker.run(tree)
    return {
        "language": NAME,
        "docstring": _docstring(tree),
        "all": walker.all_names(),
        "partial": partial,
        "symbols": walker.symbols,
        "imports": walker.imports,
        "errors": errors,
    }


# --- decoding and slicing -----------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, list[Error]]:
    """The file's text by its BOM or PEP 263 cookie; what cannot be decoded becomes U+FFFD and an error."""
    try:
        encoding = _encoding(data)
    except (SyntaxError, LookupError) as exc:
        return data.decode("utf-8-sig", "replace"), [_error("decode", str(exc), 1, None)]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line, col = _byte_position(data, exc.start)
        return _decode_lossy(data, encoding), [_error("decode", str(exc), line, col)]
    except (LookupError, ValueError) as exc:  # not a text codec, or a codec that fails without a position
        return _decode_lossy(data, encoding), [_error("decode", str(exc), 1, None)]
    return (text if encoding in _UTF8_CODECS else _json_safe(text)), []


def _encoding(data: bytes) -> str:
    """The codec of a source file; only a file whose first two lines mention "coding" can have a cookie."""
    first = data.find(b"\n")
    second = data.find(b"\n", first + 1) if first >= 0 else -1
    if b"coding" not in (data[:second] if second >= 0 else data):
        return "utf-8-sig"  # UTF-8, with or without a BOM
    return tokenize.detect_encoding(io.BytesIO(data).readline)[0]


def _decode_lossy(data: bytes, encoding: str) -> str:
    """Text for the recovery pass. A file that is not valid in its declared UTF-8 is almost always a legacy 8-bit
    file (Python 2 read Latin-1 by default), so cp1252, then Latin-1, keep its identifiers whole (`café`)."""
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig"):
        for legacy in ("cp1252", "latin-1"):
            try:
                return _json_safe(data.decode(legacy))
            except UnicodeDecodeError:
                continue
    try:
        return _json_safe(data.decode(encoding, "replace"))
    except (LookupError, ValueError):
        return data.decode("utf-8-sig", "replace")


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and 0-based character column of a byte offset."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8", "replace"))


def _split_lines(text: str) -> list[str]:
    """Split like the tokenizer does: on ``\\n``, ``\\r\\n`` and a lone ``\\r`` only."""
    return text.split("\n") if "\r" not in text else _NEWLINE_RE.split(text)


def _json_safe(text: str) -> str:
    """Replace lone surrogates (from escapes in string constants or odd codecs), which JSON cannot carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


class _Source:
    """Decoded lines of a file, sliced with the AST's columns (UTF-8 byte offsets into each line).

    Byte and character columns only differ on lines with non-ASCII text; those lines are encoded once,
    on demand. Most files are all ASCII, which ``str.isascii`` tells in constant time.
    """

    def __init__(self, lines: list[str], ascii_only: bool) -> None:
        self.lines = lines
        self.ascii_only = ascii_only
        self._utf8: dict[int, bytes] = {}

    def _line(self, lineno: int) -> str:
        try:
            return self.lines[lineno - 1]
        except IndexError:
            return ""

    def _encoded(self, lineno: int) -> bytes:
        encoded = self._utf8.get(lineno)
        if encoded is None:
            encoded = self._utf8[lineno] = self._line(lineno).encode("utf-8", "replace")
        return encoded

    def col(self, lineno: int, offset: int) -> int:
        """Character column of a byte column."""
        if self.ascii_only or self._line(lineno).isascii():
            return offset
        return len(self._encoded(lineno)[:offset].decode("utf-8", "replace"))

    def slice(self, lineno: int, start: int, stop: int | None) -> str:
        line = self._line(lineno)
        if self.ascii_only or line.isascii():
            return line[start:stop]
        return self._encoded(lineno)[start:stop].decode("utf-8", "replace")

    def segment(self, node: Located) -> str:
        """Source text of an expression; a multi-line one is collapsed onto one line."""
        first, last, end_col = node.lineno, node.end_lineno, node.end_col_offset
        if first == last:  # the hot path, inlined
            try:
                line = self.lines[first - 1]
            except IndexError:
                return ""
            if self.ascii_only or line.isascii():
                return line[node.col_offset : end_col]
            return self._encoded(first)[node.col_offset : end_col].decode("utf-8", "replace")
        if last is None or end_col is None:
            return ""
        parts = [
            self.slice(first, node.col_offset, None),
            *self.lines[first : last - 1],
            self.slice(last, 0, end_col),
        ]
        if any("#" in part for part in parts):
            return _unparse(node, parts)
        return _collapse(parts)


def _collapse(parts: list[str]) -> str:
    text = " ".join(" ".join(part.rstrip().removesuffix("\\").split()) for part in parts)
    return _CLOSE_SPACE_RE.sub(r"\1", _OPEN_SPACE_RE.sub(r"\1", text.strip()))


def _unparse(node: Located, parts: list[str]) -> str:
    """Rare path: a multi-line expression holding comments is regenerated rather than sliced."""
    try:
        return ast.unparse(node)
    except RecursionError:
        return _collapse(parts)


# --- the statement walk -------------------------------------------------------------------------------------


class _Scope(NamedTuple):
    """What owns a run of statements: the module, a class body or a function body."""

    kind: str  # "module" | "class" | "function"
    qualname: str | None  # the owning symbol's qualname, None for the module
    owner: int  # index of the owning symbol, -1 for the module: the key of "first assignment wins"
    type_checking: bool


Handler = Callable[[Any, _Scope], None]


class _Walker:
    """One pre-order pass over a module's statements (never their expressions), without recursion.

    ``_stack`` holds the statements still to visit, last first, and ``_Scope`` markers: popping a marker
    switches the current scope, so a body is scheduled as ``[outer, *reversed(body), inner]``. Each scope
    kind has its own dispatch table; a statement with no handler there (most of a function body: calls,
    assignments, returns) costs one dict lookup.
    """

    def __init__(self, source: _Source) -> None:
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
        kind = _method_kind(decorators) if scope.kind == "class" else "function"
        symbol = self._add(node.name, kind, node, scope, _signature(self.source, node.args, node.returns))
        symbol["decorators"] = decorators
        symbol["docstring"] = _docstring(node)
        symbol["is_async"] = type(node) is ast.AsyncFunctionDef
        inner = _Scope("function", symbol["qualname"], len(self.symbols) - 1, scope.type_checking)
        self._enter(node.body, inner, scope)

    def _class(self, node: ast.ClassDef, scope: _Scope) -> None:
        bases = [self.source.segment(expr) for expr in node.bases]
        arguments = bases + [self.source.segment(keyword) for keyword in node.keywords]
        symbol = self._add(node.name, "class", node, scope, f"({', '.join(arguments)})" if arguments else "")
        symbol["decorators"] = [self.source.segment(expr) for expr in node.decorator_list]
        symbol["bases"] = bases
        symbol["docstring"] = _docstring(node)
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
                self._fold_all(*_all_assignment(node))

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
        self.imports += [
            _import_row(source, name, asname, level, line, type_checking) for source, name, asname in names
        ]

    def _note_all(self, node: ast.Expr | ast.AugAssign, scope: _Scope) -> None:
        self._fold_all(*_all_operation(node))

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
    """Dispatch entry of the scope markers on the walk's stack; ``_Walker.run`` handles them inline."""


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


def _method_kind(decorators: Sequence[str]) -> str:
    """Kind of a def directly in a class body, from its decorators' source text."""
    for text in decorators:
        head, _, last = text.rpartition(".")
        if last in _PROPERTY_DECORATORS or (head and last in _ACCESSOR_DECORATORS):
            return "property"
        if last in ("classmethod", "staticmethod"):
            return last
    return "method"


def _signature(source: _Source, args: ast.arguments, returns: ast.expr | None) -> str:
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


def _docstring(node: ast.Module | ast.ClassDef | FunctionNode) -> str | None:
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
            return _json_safe(doc[start:end].expandtabs().strip() if "\t" in text else text)
        start = end + 1
    return None


def _import_row(
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


# --- __all__ ------------------------------------------------------------------------------------------------


def _all_assignment(node: ast.Assign | ast.AnnAssign) -> tuple[str, list[str] | None]:
    """``__all__ = [...]``; ``__all__`` inside a tuple target or a chained assignment counts as dynamic."""
    if isinstance(node, ast.AnnAssign):
        return ("assign", _string_items(node.value)) if node.value is not None else ("assign", None)
    single = len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    return "assign", _string_items(node.value) if single else None


def _all_operation(node: ast.Expr | ast.AugAssign) -> tuple[str | None, list[str] | None]:
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
            return "extend", [_json_safe(item.value)]
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
                items.append(_json_safe(element.value))
        else:
            return None
    return items


# --- errors and the repair loop -----------------------------------------------------------------------------


def _error(kind: str, message: str, line: int | None, col: int | None) -> Error:
    return {"kind": kind, "message": _json_safe(message), "line": line, "col": col}


def _parse_error(exc: BaseException) -> Error:
    if isinstance(exc, SyntaxError):
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
        col = exc.offset - 1 if line is not None and isinstance(exc.offset, int) and exc.offset > 0 else None
        return _error("syntax", exc.msg or str(exc), line, col)
    if isinstance(exc, (RecursionError, MemoryError)):  # the parser's stacks: nesting too deep
        return _error("recursion", f"{type(exc).__name__}: {exc or 'too deeply nested to parse'}", None, None)
    return _error("syntax", str(exc), None, None)


@dataclass(slots=True)
class _Repair:
    """Outcome of the repair loop: the tree (None when it gave up) of the patched lines."""

    tree: ast.Module | None
    lines: list[str]
    error: Error | None  # the first parse error of the cleaned text
    headers: set[int] = field(default_factory=set)  # def/class lines rewritten as stubs


def _recover(data: bytes, first: BaseException) -> Table:
    """Second pass for a file that did not parse: repair line by line, else scan lines."""
    text, errors = _decode(data)
    lines = _split_lines(text)
    null_bytes = next(((n, line.index("\0")) for n, line in enumerate(lines, 1) if "\0" in line), None)
    if null_bytes is not None:
        errors.append(_error("null_bytes", "source contains NUL bytes", *null_bytes))
        lines = [line.replace("\0", " ") for line in lines]
    repair = _repair(lines)
    if repair.error is not None:
        errors.append(repair.error)
    elif not errors:  # the bytes failed but the decoded text parses: keep the parser's word for it
        errors.append(_parse_error(first))
    symbols, imports = _scan(lines)
    if repair.tree is not None:
        table = _table(repair.tree, "\n".join(repair.lines), errors, partial=True)
        _restore_headers(table["symbols"], lines, repair.headers)
        if _covers(table["symbols"], symbols):
            return table
    return {
        "language": NAME,
        "docstring": None,
        "all": None,
        "partial": True,
        "symbols": symbols,
        "imports": imports,
        "errors": errors,
    }


def _repair(lines: list[str]) -> _Repair:
    """Reparse, neutralising the line each SyntaxError points at; line numbers never move."""
    repair = _Repair(None, list(lines), None)
    tries: dict[int, int] = {}
    for _ in range(_MAX_PARSES):
        try:
            repair.tree = _parse("\n".join(repair.lines))
        except _PARSE_ERRORS as exc:
            error = _parse_error(exc)
            repair.error = repair.error or error
            index = _line_to_patch(error, repair.lines)
            if index is None or tries.get(index, 0) >= 2:
                return repair
            tries[index] = tries.get(index, 0) + 1
            _patch_line(repair, index, tries[index])
        else:
            return repair
    return repair


def _line_to_patch(error: Error, lines: list[str]) -> int | None:
    """Index of the line to rewrite: the error's line, or the header missing its block."""
    line: int | None = error["line"]
    if line is None or line > len(lines):
        return None
    expected = _EXPECTED_BLOCK_RE.match(error["message"])
    header = int(expected[1]) if expected else 0
    if 0 < header < line and _BLOCK_COLON_RE.search(lines[header - 1]):
        return header - 1
    return line - 1


def _patch_line(repair: _Repair, index: int, attempt: int) -> None:
    """First attempt: a stub keeping the block structure (and any def/class name); second: an empty line."""
    lines = repair.lines
    line = lines[index]
    if attempt > 1:
        lines[index] = ""
        return
    indent = line[: len(line) - len(line.lstrip())]
    header = _HEADER_RE.match(line)
    opens = _opens_block(lines, index)
    if header is not None:
        kind = header["kw"]
        stub = f"{indent}{header['async'] or ''}{kind} {header['name']}{'()' if kind == 'def' else ''}:"
        lines[index] = stub if opens else f"{stub} pass"
        repair.headers.add(index + 1)
    elif opens:
        words = line.split(None, 1)  # empty for a line of Unicode whitespace only (NBSP, U+3000...)
        keyword = words[0].rstrip(":") if words else ""
        lines[index] = indent + _CONTINUATION_HEADERS.get(keyword, "if 1:")
    elif _BLOCK_COLON_RE.search(line):
        lines[index] = _BLOCK_COLON_RE.sub(": pass", line)
    else:
        lines[index] = f"{indent}pass"


def _opens_block(lines: list[str], index: int) -> bool:
    """Whether the next code line is indented deeper than this one."""
    width = _width(lines[index])
    for line in islice(lines, index + 1, None):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return _width(line) > width
    return False


def _width(line: str) -> int:
    return len(line[: len(line) - len(line.lstrip())].expandtabs(8))


def _restore_headers(symbols: list[Symbol], lines: list[str], headers: set[int]) -> None:
    """Give defs/classes whose header line was stubbed their original signature and bases."""
    for symbol in symbols:
        if symbol["line"] in headers and symbol["kind"] not in _VARIABLE_KINDS:
            match = _HEADER_RE.match(lines[symbol["line"] - 1])
            rest = match["rest"] if match else ""
            symbol["signature"] = _header_signature(rest)
            symbol["bases"] = _header_bases(symbol["signature"]) if symbol["kind"] == "class" else []


def _covers(symbols: list[Symbol], scanned: list[Symbol]) -> bool:
    """Whether the repaired tree kept every def/class the line scan sees (else the scan is better)."""
    lines = {symbol["line"] for symbol in symbols if symbol["kind"] not in _VARIABLE_KINDS}
    return all(symbol["line"] in lines for symbol in scanned)


# --- the line scan (last resort) ----------------------------------------------------------------------------


class _Scanner:
    """Last-resort recovery: classes, functions and imports found line by line, parents by indentation."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.symbols: list[Symbol] = []
        self.imports: list[Import] = []
        self._open: list[tuple[int, Symbol]] = []  # (indentation width, def/class) enclosing the current line
        self._decorators: list[str] = []
        self._type_checking: int | None = None  # indentation width of an enclosing `if TYPE_CHECKING:`
        self._last = 0  # last code line seen

    def run(self) -> None:
        quote: str | None = None
        for index, line in enumerate(self.lines):
            in_string, quote = quote is not None, _triple_quote_state(line, quote)
            stripped = line.strip()
            if not in_string and stripped and not stripped.startswith("#"):
                self._line(index, line, stripped)
        self._close(-1)

    def _line(self, index: int, line: str, stripped: str) -> None:
        width = _width(line)
        self._close(width)
        if self._type_checking is not None and width <= self._type_checking:
            self._type_checking = None
        self._last = index + 1
        if stripped.startswith("@"):
            self._decorators.append(stripped[1:].split(" #")[0].strip())
            return
        header = _HEADER_RE.match(line)
        if header is not None:
            self._header(header, index + 1, width)
        elif _TYPE_CHECKING_RE.match(line):
            self._type_checking = width
        else:
            self._import(index, line)
        self._decorators = []

    def _close(self, width: int) -> None:
        while self._open and self._open[-1][0] >= width:
            self._open.pop()[1]["end_line"] = self._last

    def _header(self, header: re.Match[str], lineno: int, width: int) -> None:
        parent = self._open[-1][1] if self._open else None
        signature = _header_signature(header["rest"])
        if header["kw"] == "class":
            kind, bases = "class", _header_bases(signature)
        else:
            in_class = parent is not None and parent["kind"] == "class"
            kind, bases = (_method_kind(self._decorators) if in_class else "function"), []
        name, qualparent = header["name"], parent["qualname"] if parent else None
        symbol: Symbol = {
            "name": name,
            "qualname": name if qualparent is None else f"{qualparent}.{name}",
            "kind": kind,
            "line": lineno,
            "end_line": lineno,
            "col": len(header["indent"]),
            "signature": signature,
            "decorators": self._decorators,
            "bases": bases,
            "docstring": None,
            "parent": qualparent,
            "is_async": header["async"] is not None,
        }
        self.symbols.append(symbol)
        self._open.append((width, symbol))

    def _import(self, index: int, line: str) -> None:
        plain, from_ = _IMPORT_RE.match(line), _FROM_RE.match(line)
        type_checking, lineno = self._type_checking is not None, index + 1
        if plain is not None:
            for module, asname in _import_names(plain["names"]):
                self.imports.append(_import_row(module, None, asname, 0, lineno, type_checking))
        elif from_ is not None:
            source: str | None = from_["module"] or None
            for name, asname in _import_names(_parenthesised(self.lines, index, from_["names"])):
                self.imports.append(_import_row(source, name, asname, len(from_["dots"]), lineno, type_checking))


def _scan(lines: list[str]) -> tuple[list[Symbol], list[Import]]:
    scanner = _Scanner(lines)
    scanner.run()
    return scanner.symbols, scanner.imports


def _triple_quote_state(line: str, quote: str | None) -> str | None:
    """The triple quote still open after this line (None when outside a triple-quoted string)."""
    position = 0
    while True:
        if quote is not None:
            end = line.find(quote, position)
            if end < 0:
                return quote
            position, quote = end + 3, None
            continue
        hits = [(found, mark) for mark in ('"""', "'''") if (found := line.find(mark, position)) >= 0]
        if not hits:
            return None
        found, quote = min(hits)
        position = found + 3


def _header_signature(rest: str) -> str:
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


def _header_bases(signature: str) -> list[str]:
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


def _import_names(text: str) -> list[tuple[str, str | None]]:
    names: list[tuple[str, str | None]] = []
    for part in text.strip().strip("()\\").split(","):
        match = _IMPORT_NAME_RE.fullmatch(part.strip().strip("()\\").strip())
        if match is not None:
            names.append((match[1], match[2]))
    return names


def _parenthesised(lines: list[str], index: int, names: str) -> str:
    """Names of a ``from x import (...)`` spanning several lines (at most 200), joined."""
    if not names.startswith("(") or ")" in names:
        return names
    parts = [names]
    for line in lines[index + 1 : index + 200]:
        parts.append(line.split("#")[0])
        if ")" in line:
            break
    return " ".join(parts).replace(")", "")
