"""C/C++ extractor: the bytes of a header or source file in, its symbol table out.

Owns everything C/C++-specific: the size and binary guards, blanking attribute-like macros (``TORCH_API``,
``C10_HOST_DEVICE``...) that confuse the grammar, one tree-sitter parse with the C++ grammar (a superset good
enough for C), a walk over declaration-level nodes only (function bodies are never entered) that yields
symbols with ``::`` qualnames, a byte scan for ``#define``/``#include`` lines (wherever they are), and
structured syntax diagnostics.

``extract`` is pure and total: it never opens a file and never raises; a bad file is data in its table.
Blanking replaces bytes with spaces, so offsets and lines are those of the file; signatures and type texts
are sliced from the blanked bytes (without the attribute macros), comments and macro bodies from the original.
A symbol's ``line`` and ``col`` are those of its name, as ctags gives them; ``end_line`` that of its end.

Recovery: over half of real headers have ERROR nodes (macros the grammar cannot know, ``#if`` branches that
split a declaration). The walk enters ERROR nodes and follows the ``namespace x {``/``struct X : B {`` tokens
and unmatched braces the parser left there, so what follows keeps its qualname.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from tree_sitter import Language, Node, Parser

NAME = "cpp"
VERSION = 1
SUFFIXES = (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cu", ".cuh")

Table = dict[str, Any]
Symbol = dict[str, Any]
Error = dict[str, Any]

MAX_BYTES: Final = 8 * 1024 * 1024  # larger files are not parsed (a "size" error)
MAX_SYNTAX_ERRORS: Final = 20  # syntax errors listed per file; the rest are counted in one summary entry
BINARY_PROBE: Final = 8192  # a NUL byte in this many leading bytes marks a binary file
MACRO_TEXT: Final = 80  # an object-like macro's signature: its replacement text, cut to this many characters
MAX_DEPTH: Final = 200  # scopes nested deeper are not walked (a "depth" error): qualnames stay short

# What the parser sees is the file with some bytes blanked (spaces, newlines kept: offsets and lines are the
# file's). Three cheap passes (~0.06 ms per header), measured on the 9,431 torch 2.13.0 headers: recall against
# ctags goes from 0.851 (no blanking; 58% of files with ERROR nodes) to 0.962 with pass 1 (14%), 0.976 with
# pass 2 (12%) and 0.995 with pass 3 (the generated autograd `Functions.h` alone: 1,549 tags).
# 1. Attribute-like macros. Every alternative below starts with "_", a literal prefix the regex engine scans
#    for quickly (~10 microseconds per header); a hit is then classified and extended in Python:
#      suffix  `TORCH_API`, `C10_HOST_DEVICE`, `PROTOBUF_FINAL`: the upper-case identifier ending so, blanked
#              when a declaration goes on after it (a word, or `:`/`{` after a class name), so that
#              `static constexpr int UNDEFINED_DEVICE = -1;` keeps its name;
#      call    `C10_DEPRECATED_MESSAGE("...")`, `C10_LAUNCH_BOUNDS_1(256)`, `PROTOBUF_ALIGNAS(8)`: with arguments;
#      dunder  CUDA's `__host__ __device__`, `__ubsan_ignore_undefined__`.
# 2. Statement-like macro lines: a line that is only `UPPER_CASE` or `UPPER_CASE(...)`, without a `;`
#    (`C10_DIAGNOSTIC_POP()`, `NLOHMANN_JSON_NAMESPACE_END`), when a declaration or directive follows.
# 3. Conditional branches: when the first branch of an `#if` is not self-contained (unbalanced braces, or it
#    ends inside a declaration: `#ifdef _WIN32 struct X : B { #else struct TORCH_API X : B { #endif`), the
#    `#elif`/`#else` branches are blanked and the first one kept, as ctags does; `#if 0` branches are blanked.
# Nothing on a preprocessor line is blanked by 1 and 2 (`#define TORCH_API ...` keeps its name). Macros and
# includes are read from the original bytes, so blanking never hides a `#define`.
ATTRIBUTE_MACROS: Final = re.compile(
    rb"_(?:_(?:host|device|global|forceinline|noinline|ubsan_ignore_\w*)__(?!\w)"
    rb"|(?:DEPRECATED_MESSAGE|LAUNCH_BOUNDS_\d|ALIGNAS|VISIBILITY|CAPABILITY)\((?:[^()]|\([^()]*\))*\)"
    rb"|(?:API|API_ENUM|API_CLASS|EXPORT|EXPORT_EXCEPTION|IMPORT|HIDDEN|VISIBLE|HOST_DEVICE|HOST|DEVICE|ALWAYS_INLINE"
    rb"|FORCE_INLINE|INLINE|NOINLINE|NODISCARD|DEPRECATED|UNUSED|RESTRICT|CONSTEXPR\d*|CONSTEVAL|DECL|FINAL)(?!\w))"
)
_MACRO_CHARS: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_WORD_CHARS: Final = frozenset(b"abcdefghijklmnopqrstuvwxyz") | _MACRO_CHARS
_DECLARATION_GOES_ON: Final = re.compile(rb"\s+[A-Za-z_~]|\s*(?:\{|:(?!:))")
_STATEMENT_MACRO: Final = re.compile(
    rb"\n[ \t]*(?P<macro>[A-Z][A-Z0-9]*_[A-Z0-9_]*(?P<call>\((?:[^()\n]|\([^()\n]*\))*\))?)[ \t]*(?://[^\n]*)?(?=\n)"
)
_NEXT_CHARACTER: Final = re.compile(rb"\s*(.)", re.DOTALL)
_GOES_ON: Final = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_#~[/")
_CONDITIONAL: Final = re.compile(
    rb"#[ \t]*(?P<keyword>if|ifdef|ifndef|elif|elifdef|elifndef|else|endif)\b(?P<rest>[^\n\\]*(?:\\.[^\n\\]*)*)",
    re.DOTALL,
)
_DEFINE_BODY: Final = re.compile(rb"#[ \t]*define[^\n\\]*(?:\\.[^\n\\]*)*", re.DOTALL)
_CODE_LINE: Final = re.compile(rb"^[ \t]*[^#/\s]", re.MULTILINE)
_SELF_CONTAINED_ENDS: Final = frozenset(b";},:")
_BLANK: Final = bytes(10 if byte == 10 else 32 for byte in range(256))  # every byte but "\n" becomes a space
_DIRECTIVE: Final = re.compile(
    rb"#[ \t]*(?:define[ \t]+(?P<name>[A-Za-z_]\w*)(?P<parameters>\([^)\n]*\))?(?P<value>[^\n\\]*(?:\\.[^\n\\]*)*)"
    rb"|include(?:_next)?(?!\w)[ \t]*(?P<path><[^>\n]*>|\"[^\"\n]*\"|[^\s/]+))",
    re.DOTALL,
)
_COMMENTS: Final = re.compile(r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|/\*[\s\S]*?(?:\*/|\Z)|//[^\n]*""")
_PADDING: Final = re.compile(r"(?<=\() | (?=[,)])")  # `( x , y )` -> `(x, y)`
_TEXT_NODES: Final = frozenset(
    {"comment", "string_literal", "string_content", "raw_string_literal", "raw_string_content", "char_literal"}
)

_RECORDS: Final = {"class_specifier": "class", "struct_specifier": "struct", "union_specifier": "union"}
_TYPE_SPECIFIERS: Final = frozenset({*_RECORDS, "enum_specifier"})
_RECORD_SCOPES: Final = frozenset(_RECORDS.values())
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
_DECLARATOR_WRAPPERS: Final = frozenset(
    {"pointer_declarator", "reference_declarator", "attributed_declarator", "init_declarator", "array_declarator"}
)
_NAMESPACE_NAMES: Final = frozenset({"identifier", "namespace_identifier", "nested_namespace_specifier"})
_TYPE_NAMES: Final = frozenset({"type_identifier", "template_type", "qualified_identifier", "identifier"})
_SCOPE_KEYWORDS: Final = frozenset({"namespace", "class", "struct", "union", "enum"})
_SCOPE_HEAD: Final = _NAMESPACE_NAMES | _TYPE_NAMES | {"base_class_clause", "virtual_specifier", "primitive_type"}
_OPERATOR_SPACE: Final = re.compile(r"^operator\s+(?=\W)")
_WORD: Final = re.compile(r"[^\W_]")


@functools.cache
def _parser() -> Parser:
    """The C++ parser, built on first use in each process; the module's only cache.

    A pure function of nothing, never changed once built: a process that forks after using it hands each
    child a private copy. A ``Parser`` is not thread-safe: run extractors in processes, not threads.
    """
    import tree_sitter_cpp

    return Parser(Language(tree_sitter_cpp.language()))


def extract(data: bytes) -> Table:
    """Return the symbol table of one C/C++ file given as bytes; never raises."""
    if len(data) > MAX_BYTES:
        message = f"{len(data)} bytes is over the {MAX_BYTES}-byte limit: not parsed"
        return _table(None, [], [], [_error("size", message, None, None)], partial=True)
    if data.find(b"\0", 0, BINARY_PROBE) >= 0:
        message = f"NUL byte in the first {BINARY_PROBE} bytes: binary, not parsed"
        return _table(None, [], [], [_error("binary", message, None, None)], partial=True)
    source = prepare_source(data)
    root = _parser().parse(source).root_node
    text = _Text(data, source)
    walker = _Walker(text)
    walker.run(root)
    macros, imports = _scan_directives(text, root)
    errors = _decode_errors(data) + (_syntax_errors(root, text) if root.has_error else [])
    if walker.too_deep:
        errors.append(_error("depth", f"scopes nested deeper than {MAX_DEPTH} were not walked", None, None))
    symbols = sorted(walker.symbols + macros, key=lambda symbol: (symbol["line"], symbol["col"]))
    return _table(walker.docstring, symbols, imports, errors, partial=root.has_error or walker.too_deep)


def _table(
    docstring: str | None, symbols: list[Symbol], imports: list[Symbol], errors: list[Error], partial: bool
) -> Table:
    return {
        "language": NAME,
        "docstring": docstring,
        "all": None,
        "partial": partial,
        "symbols": symbols,
        "imports": imports,
        "errors": errors,
    }


def _error(kind: str, message: str, line: int | None, col: int | None) -> Error:
    return {"kind": kind, "message": message, "line": line, "col": col}


def _symbol(
    name: str, kind: str, line: int, col: int, end_line: int, parent: str | None, signature: str, doc: str | None
) -> Symbol:
    return {
        "name": name,
        "qualname": f"{parent}::{name}" if parent else name,
        "kind": kind,
        "line": line,
        "end_line": end_line,
        "col": col,
        "signature": signature,
        "decorators": [],
        "bases": [],
        "docstring": doc,
        "parent": parent,
        "is_async": False,
    }


# --- bytes: decoding, macro blanking, directives, diagnostics ------------------------------------------------


def _decode_errors(data: bytes) -> list[Error]:
    if data.isascii():
        return []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = len(data[data.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace"))
        return [_error("decode", f"not UTF-8 ({exc.reason} at byte {exc.start}): shown with U+FFFD", line, col)]
    return []


def prepare_source(data: bytes) -> bytes:
    """The bytes the parser sees: ``data`` with the blanks described above, offsets and lines unchanged."""
    spans = [*_attribute_macros(data), *_statement_macros(data)]
    source: bytes | bytearray = data
    if spans:
        source = bytearray(data)
        for start, end in spans:
            source[start:end] = data[start:end].translate(_BLANK)
    if b"#" in data:
        source = _blank_branches(source)
    return bytes(source) if isinstance(source, bytearray) else source


def _attribute_macros(data: bytes) -> list[tuple[int, int]]:
    spans = []
    for hit in ATTRIBUTE_MACROS.finditer(data):
        start, end = hit.span()
        dunder = data.startswith(b"__", start)
        if not dunder:  # `_API`: extend to the whole identifier, `TORCH_CUDA_CPP_API`
            while start > 0 and data[start - 1] in _MACRO_CHARS:
                start -= 1
            if not 65 <= data[start] <= 90:  # "A".."Z"
                continue
        if start > 0 and data[start - 1] in _WORD_CHARS:
            continue
        if not dunder and data[end - 1] != 41 and not _DECLARATION_GOES_ON.match(data, end):  # 41: ")"
            continue
        if not _in_directive(data, data.rfind(b"\n", 0, start) + 1, start):
            spans.append((start, end))
    return spans


def _statement_macros(data: bytes) -> list[tuple[int, int]]:
    """`C10_DIAGNOSTIC_POP()` alone on its line; not the last enumerator of a list (`LAST_ONE` before `}`)."""
    spans = []
    for hit in _STATEMENT_MACRO.finditer(data):
        if _in_directive(data, hit.start() + 1, hit.start() + 1):
            continue
        following = _NEXT_CHARACTER.match(data, hit.end())
        if following is None or following[1][0] in _GOES_ON or (hit["call"] and following[1] == b"}"):
            spans.append(hit.span("macro"))
    return spans


def _in_directive(data: bytes, line_start: int, position: int) -> bool:
    """Whether ``position`` is on a preprocessor line (or a continuation line of one)."""
    if data[line_start:position].lstrip().startswith(b"#"):
        return True
    return line_start > 1 and data[max(0, line_start - 4) : line_start - 1].rstrip(b" \t\r").endswith(b"\\")


def _blank_branches(source: bytes | bytearray) -> bytes | bytearray:
    """Blank the `#elif`/`#else` branches of conditionals whose first branch is not self-contained.

    Conditionals are judged innermost first (at their `#endif`), on the bytes with inner blanks applied.
    """
    open_conditionals: list[list[tuple[int, int, bytes]]] = []  # per open #if: (directive line start, end, kw)
    buffer: bytearray | None = None
    for hit in _CONDITIONAL.finditer(source):
        line_start = source.rfind(b"\n", 0, hit.start()) + 1
        if source[line_start : hit.start()].strip(b" \t"):
            continue
        keyword = hit["keyword"]
        if keyword.startswith(b"if"):
            zero = keyword == b"if" and hit["rest"].split(b"//")[0].split(b"/*")[0].strip() == b"0"
            open_conditionals.append([(line_start, hit.end(), b"if0" if zero else keyword)])
        elif open_conditionals:
            open_conditionals[-1].append((line_start, hit.end(), keyword))
            if keyword == b"endif":
                branches = open_conditionals.pop()
                dropped = _dropped_branches(source if buffer is None else buffer, branches)
                if dropped:
                    buffer = buffer if buffer is not None else bytearray(source)
                    for start, end in dropped:
                        buffer[start:end] = buffer[start:end].translate(_BLANK)
    return buffer if buffer is not None else source


def _dropped_branches(source: bytes | bytearray, directives: list[tuple[int, int, bytes]]) -> list[tuple[int, int]]:
    """The byte ranges of a conditional's branches to blank (between its directive lines)."""
    branches = [(directives[index][1], directives[index + 1][0]) for index in range(len(directives) - 1)]
    if directives[0][2] == b"if0":
        return branches[:1]
    if len(branches) < 2 or all(_no_code(source, *branch) for branch in branches[1:]):
        return []  # `#else #error ...` (every torch header ends so) cannot confuse the parser
    return [] if _self_contained(source, *branches[0]) else branches[1:]


def _no_code(source: bytes | bytearray, start: int, end: int) -> bool:
    """Whether a branch holds only directives, comments and blank lines."""
    return _CODE_LINE.search(source, start, end) is None


def _self_contained(source: bytes | bytearray, start: int, end: int) -> bool:
    """Balanced braces (outside `#define`s), and the last line of code ends a declaration (`;`, `}`, `,`, `:`)."""
    if _brace_balance(source, start, end):
        return False
    position = end
    while position > start:
        line_start = max(start, source.rfind(b"\n", start, position) + 1)
        line = bytes(source[line_start:position]).strip()
        position = line_start - 1
        if not line or line.startswith((b"//", b"#", b"*", b"/*")) or line.endswith((b"*/", b"\\")):
            continue
        if source[max(start, line_start - 3) : line_start].rstrip().endswith(b"\\"):
            continue  # the last line of a multi-line `#define`
        line = line.split(b"//")[0].rstrip()
        return not line or line[-1] in _SELF_CONTAINED_ENDS
    return True


def _brace_balance(source: bytes | bytearray, start: int, end: int) -> int:
    balance = source.count(b"{", start, end) - source.count(b"}", start, end)
    if balance:  # rare: discount the braces of macro bodies (`#define BEGIN_NS namespace x {`)
        for hit in _DEFINE_BODY.finditer(source, start, end):
            balance -= hit[0].count(b"{") - hit[0].count(b"}")
    return balance


def _scan_directives(text: _Text, root: Node) -> tuple[list[Symbol], list[Symbol]]:
    """Macros and include rows, from the `#define`/`#include` lines of the original bytes.

    A byte scan finds them wherever they are (function bodies, initialiser lists, ERROR nodes); the tree
    only vetoes those it sees inside a comment or a string.
    """
    data = text.data
    macros: list[Symbol] = []
    imports: list[Symbol] = []
    row = position = 0
    # Before the first "/*" or 'R"', a line-start "#" cannot be inside a comment or a string: no tree lookup.
    unsure = min((found for found in (data.find(b"/*"), data.find(b'R"')) if found >= 0), default=len(data))
    for hit in _DIRECTIVE.finditer(data):
        start = hit.start()
        line_start = data.rfind(b"\n", 0, start) + 1
        if start > line_start and data[line_start:start].strip(b" \t"):
            continue
        row += data.count(b"\n", position, start)
        position = start
        if start > unsure:
            inside = root.descendant_for_byte_range(start, start + 1)
            if inside is not None and inside.type in _TEXT_NODES:
                continue
        if hit["path"] is not None:
            imports.append(_include_row(text.original(*hit.span("path")), row + 1))
            continue
        if hit["parameters"] is not None:
            kind, signature = "function_macro", " ".join(text.original(*hit.span("parameters")).split())
        else:
            value = text.original(*hit.span("value")).replace("\\\n", " ")
            kind, signature = "macro", _one_line(value)[:MACRO_TEXT]
        docstring = _comment_summary(text.original(*_comment_above(data, line_start)))
        end_line = row + 1 + hit[0].count(b"\n")
        col = text.column(line_start, hit.start("name"))
        macros.append(_symbol(hit["name"].decode(), kind, row + 1, col, end_line, None, signature, docstring))
    return macros, imports


def _include_row(written: str, line: int) -> Symbol:
    system = written.startswith("<")
    quoted = system or written.startswith('"')
    return {
        "module": (written[1:-1] if quoted else written).strip(),
        "name": None,
        "asname": None,
        "level": 0,
        "line": line,
        "type_checking": False,
        "system": system,
    }


def _comment_above(data: bytes, line_start: int) -> tuple[int, int]:
    """Byte range of the comment block ending on the line above ``line_start`` (empty when there is none)."""
    end = line_start - 1
    if end <= 0:
        return 0, 0
    above = data.rfind(b"\n", 0, end) + 1
    line = data[above:end].strip()
    if line.endswith(b"*/"):
        opening = data.rfind(b"/*", 0, end)
        first = data.rfind(b"\n", 0, opening) + 1
        return (opening, end) if opening >= 0 and not data[first:opening].strip() else (0, 0)
    if not line.startswith(b"//"):
        return 0, 0
    while above > 0:
        previous = data.rfind(b"\n", 0, above - 1) + 1
        if not data[previous : above - 1].lstrip().startswith(b"//"):
            break
        above = previous
    return above, end


def _comment_summary(comment: str) -> str | None:
    """The first line of a comment block that has words in it, without the comment marks."""
    for line in comment.splitlines():
        line = line.strip().lstrip("/*!<").strip()
        if line.endswith("*/"):
            line = line[:-2].rstrip()
        if _WORD.search(line):
            return line
    return None


def _one_line(text: str) -> str:
    """Code on one line: comments dropped (strings kept), whitespace collapsed, no padding inside `( )`."""
    if "/" in text:
        text = _COMMENTS.sub(lambda match: match[1] or " ", text)
    text = " ".join(text.split())
    return _PADDING.sub("", text) if "( " in text or " ," in text or " )" in text else text


def _syntax_errors(root: Node, text: _Text) -> list[Error]:
    """ERROR and MISSING nodes in source order (not what is nested in an ERROR), the first few listed."""
    found = [root] if root.is_error else []
    stack = [] if root.is_error else [root]
    while stack:
        node = stack.pop()
        count = len(found) + len(stack)
        for child in node.children:
            if child.is_error or child.is_missing:
                found.append(child)
            elif child.has_error:
                stack.append(child)
        if len(found) + len(stack) == count:  # the error is a token the tree does not show (at the end of file)
            found.append(node)
    found.sort(key=lambda node: node.start_byte)
    errors = [_error("syntax", _syntax_message(node, text), *text.position(node)) for node in found[:MAX_SYNTAX_ERRORS]]
    if len(found) > MAX_SYNTAX_ERRORS:
        errors.append(_error("syntax", f"{len(found) - MAX_SYNTAX_ERRORS} more syntax errors", None, None))
    return errors


def _syntax_message(node: Node, text: _Text) -> str:
    if node.is_missing:
        return f"missing {node.type}"
    if not node.is_error:
        return f"incomplete {node.type}"
    snippet = text.original(node.start_byte, min(node.end_byte, node.start_byte + 200)).strip()
    first = snippet.split("\n", 1)[0]
    return "unexpected " + repr(first[:40] + "..." if len(first) > 40 or len(first) < len(snippet) else first)


class _Text:
    """Slices of the original and the blanked bytes, decoded; character columns of byte positions."""

    def __init__(self, data: bytes, source: bytes) -> None:
        self.data = data
        self.source = source
        self.ascii_only = data.isascii()

    def original(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "replace")

    def name(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def of(self, node: Node) -> str:
        """The node's text from the blanked bytes (attribute macros gone), on one line, without comments."""
        return self.span(node.start_byte, node.end_byte)

    def span(self, start: int, end: int) -> str:
        return _one_line(self.source[start:end].decode("utf-8", "replace"))

    def column(self, line_start: int, offset: int) -> int:
        """0-based character column of a byte offset on the line starting at ``line_start``."""
        if self.ascii_only:
            return offset - line_start
        return len(self.data[line_start:offset].decode("utf-8", "replace"))

    def position(self, node: Node) -> tuple[int, int]:
        """1-based line and 0-based character column of the node's start."""
        row, column = node.start_point
        if self.ascii_only or column == 0:
            return row + 1, column
        return row + 1, self.column(node.start_byte - column, node.start_byte)


# --- the declaration walk -----------------------------------------------------------------------------------


class _Scope(NamedTuple):
    """What encloses a run of declarations."""

    qualname: str | None  # None at file scope
    kind: str  # "file" | "namespace" | "class" | "struct" | "union" | "enum"
    name: str  # the last component of qualname: a constructor has its class's name
    namespace: str | None  # the nearest enclosing namespace, where a friend function lives
    depth: int  # how many scopes enclose it


_FILE: Final = _Scope(None, "file", "", None, 0)
Doc = tuple[Node, Node] | None


class _Tokens:
    """What a walk over an ERROR node's children (or a record body the parser left open) keeps track of.

    Those children include tokens: `namespace`/`class`/`struct`/`union`/`enum`, a name and an unmatched `{`
    open a scope (``braces``) that an unmatched `}` closes, so `namespace c10 {` or `struct TensorImpl : B {`
    flattened into an ERROR still names what follows.
    """

    __slots__ = ("braces", "keyword", "pending", "scope")

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope
        self.braces: list[tuple[_Scope, list[Symbol]]] = []  # what each unmatched "}" restores
        self.keyword: str | None = None  # a scope keyword not yet followed by `{`
        self.pending: list[Node] = []  # the nodes after it: names, base clause


Handler = Callable[["_Walker", Node, _Scope, Doc, str], None]
Batch = tuple[list[Node], _Scope, bool]  # sibling nodes, their scope, whether tokens count (ERROR nodes)


class _Walker:
    """A walk over declaration-level nodes, one batch of siblings at a time, without recursion.

    Batches are walked breadth-first: every namespace of a level is known before the bodies below it, which
    tells `void detail::f() {}` (a function of namespace `detail`) from `void Foo::f() {}` (a method).
    Symbols are sorted into source order at the end.
    """

    def __init__(self, text: _Text) -> None:
        self.text = text
        self.symbols: list[Symbol] = []
        self.docstring: str | None = None
        self.too_deep = False  # a scope nested deeper than MAX_DEPTH was met (and not walked)
        self._namespaces: set[str] = set()  # namespaces seen so far: `void ns::f() {}` is not a method
        self._queue: deque[Batch] = deque()

    def run(self, root: Node) -> None:
        children = root.named_children
        if children and children[0].type == "comment" and children[0].start_point[0] == 0:
            last = children[0]
            for child in children[1:]:
                if child.type != "comment" or child.start_point[0] > last.end_point[0] + 1:
                    break
                last = child
            self.docstring = _comment_summary(self.text.original(children[0].start_byte, last.end_byte))
        queue = self._queue
        queue.append((root.children, _FILE, True) if root.is_error else (children, _FILE, False))
        while queue:
            self._walk(*queue.popleft())

    def _walk(self, children: list[Node], scope: _Scope, tokens: bool) -> None:
        """Dispatch each sibling; a block of comments right above a declaration documents it."""
        handlers = _HANDLERS
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
                self._push(node, scope)
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

    def _open_scope(self, keyword: str, head: list[Node], brace: Node, scope: _Scope) -> tuple[_Scope, list[Symbol]]:
        """The scope that `namespace a::b {` or `struct Foo : Base {` opens among an ERROR's tokens."""
        if keyword == "namespace":
            names = [part for part in head if part.type in _NAMESPACE_NAMES]
            inner, symbols = self._open_namespace(names, brace, scope, None)
            return inner or scope, symbols
        name_node = next((part for part in head if part.type in _TYPE_NAMES), None)
        if name_node is None:
            return scope, []
        name, parent, at = self._type_name(name_node, scope)
        inner = self._inner(scope, f"{parent}::{name}" if parent else name, keyword, name, scope.namespace)
        if inner is None:
            return scope, []
        symbol = self._add(name, keyword, at, brace, parent, "", None)
        clause = next((part for part in head if part.type == "base_class_clause"), None)
        symbol["bases"] = [] if clause is None else self._base_texts(clause.children)
        return inner, [symbol]

    def _inner(self, scope: _Scope, qualname: str, kind: str, name: str, namespace: str | None) -> _Scope | None:
        """The scope a definition opens inside ``scope``; None (and noted) when nested too deep to walk."""
        if scope.depth >= MAX_DEPTH:
            self.too_deep = True
            return None
        return _Scope(qualname, kind, name, namespace, scope.depth + 1)

    def _push(self, container: Node, scope: _Scope) -> None:
        if container.type == "ERROR":
            self._queue.append((container.children, scope, True))
        else:
            self._queue.append((container.named_children, scope, False))

    def _push_body(self, node: Node, scope: _Scope) -> bool:
        """Walk a namespace's or record's body; one the parser left open is the rest of the node's children."""
        body = node.child_by_field_name("body")
        if body is not None:
            self._push(body, scope)
            return True
        children = node.children
        opening = next((index for index, child in enumerate(children) if child.type == "{"), None)
        if opening is None:
            return False
        self._queue.append((children[opening + 1 :], scope, True))
        return True

    def _add(self, name: str, kind: str, at: Node, whole: Node, parent: str | None, signature: str, doc: Doc) -> Symbol:
        row, col = at.start_point
        if col and not self.text.ascii_only:
            col = self.text.column(at.start_byte - col, at.start_byte)
        end_row, end_col = whole.end_point
        if end_col or end_row <= row:  # a node ending at column 0 ends on the row before
            end_row += 1
        docstring = None if doc is None else _comment_summary(self.text.original(doc[0].start_byte, doc[1].end_byte))
        symbol = _symbol(name, kind, row + 1, col, end_row, parent, signature, docstring)
        self.symbols.append(symbol)
        return symbol

    # namespaces and types

    def _namespace(self, node: Node, scope: _Scope, doc: Doc, template: str) -> None:
        name_node = node.child_by_field_name("name")
        inner, _ = self._open_namespace([] if name_node is None else [name_node], node, scope, doc)
        if inner is not None:
            self._push_body(node, inner)

    def _open_namespace(
        self, names: list[Node], whole: Node, scope: _Scope, doc: Doc
    ) -> tuple[_Scope | None, list[Symbol]]:
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
        inner: _Scope | None = scope
        for at, name in [(part, self.text.name(part)) for part in parts] or [(whole, "(anonymous)")]:
            qualname = f"{scope.qualname}::{name}" if scope.qualname else name
            inner = self._inner(scope, qualname, "namespace", name, qualname)
            if inner is None:
                break
            symbols.append(self._add(name, "namespace", at, whole, scope.qualname, "", doc))
            self._namespaces.add(qualname)
            scope = inner
        return inner, symbols

    def _record(self, node: Node, scope: _Scope, doc: Doc, template: str, typedef: Node | None = None) -> None:
        """A class, struct or union with a body; an anonymous one takes its typedef's name or merges outwards."""
        name_node = node.child_by_field_name("name")
        if name_node is None and typedef is None:
            self._push_body(node, scope)  # anonymous members belong to the enclosing scope
            return
        kind = _RECORDS[node.type]
        if name_node is None:
            name, parent, at = self.text.of(typedef or node), scope.qualname, node
        else:
            name, parent, at = self._type_name(name_node, scope)
        inner = self._inner(scope, f"{parent}::{name}" if parent else name, kind, name, scope.namespace)
        if inner is None or not self._push_body(node, inner):
            return  # too deep, or a declaration (`class Foo;`), not a definition
        symbol = self._add(name, kind, at, node, parent, template, doc)
        symbol["bases"] = self._bases(node)

    def _type_name(self, name_node: Node, scope: _Scope) -> tuple[str, str | None, Node]:
        """Name, parent qualname and name node of `Foo`, `Foo<int>` (a specialisation) or `ns::Foo`."""
        qualifier, absolute, final = self._qualified(name_node)
        if final.type == "template_type":
            final = final.child_by_field_name("name") or final
        return self.text.of(final), self._join(scope, qualifier, absolute), final

    def _bases(self, node: Node) -> list[str]:
        """`public Base`, ... from the base clause (or, in a record the parser left open, before its `{`)."""
        children = node.children
        clause = next((child for child in children if child.type == "base_class_clause"), None)
        if clause is not None:
            return self._base_texts(clause.children)
        colon = next((index for index, child in enumerate(children) if child.type == ":"), None)
        return [] if colon is None else self._base_texts(children[colon:])

    def _base_texts(self, children: list[Node]) -> list[str]:
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

    def _enum(self, node: Node, scope: _Scope, doc: Doc, template: str) -> None:
        name_node = node.child_by_field_name("name")
        if name_node is None:
            self._push_body(node, scope)
            return
        name, parent, at = self._type_name(name_node, scope)
        inner = self._inner(scope, f"{parent}::{name}" if parent else name, "enum", name, scope.namespace)
        if inner is None or not self._push_body(node, inner):
            return
        base = node.child_by_field_name("base")
        signature = " ".join(part for part in (template, base and ": " + self.text.of(base)) if part)
        self._add(name, "enum", at, node, parent, signature, doc)

    def _enumerator(self, node: Node, scope: _Scope, doc: Doc, template: str) -> None:
        name_node = node.child_by_field_name("name")
        if name_node is None:
            return
        value = node.child_by_field_name("value")
        signature = "" if value is None else "= " + self.text.of(value)[:MACRO_TEXT]
        self._add(self.text.name(name_node), "enumerator", name_node, node, scope.qualname, signature, doc)

    def _typedef(self, node: Node, scope: _Scope, doc: Doc, template: str) -> None:
        type_node = node.child_by_field_name("type")
        declarators = node.children_by_field_name("declarator")
        if type_node is not None and type_node.type in _TYPE_SPECIFIERS:
            single = declarators[0] if len(declarators) == 1 and declarators[0].type == "type_identifier" else None
            self._type_specifier(type_node, scope, doc, template, single)
        type_text = "" if type_node is None else self._type_text(type_node)
        for declarator in declarators:
            name_node, _ = _unwrap(declarator)
            if name_node is None:
                continue
            signature = type_text if declarator is name_node else f"{type_text} {self.text.of(declarator)}"
            self._add(self.text.of(name_node), "typedef", name_node, node, scope.qualname, signature, doc)

    def _type_text(self, type_node: Node) -> str:
        """`struct S` for `struct S { ... }`: a type's text without its body."""
        body = type_node.child_by_field_name("body")
        return self.text.span(type_node.start_byte, type_node.end_byte if body is None else body.start_byte)

    def _type_specifier(self, node: Node, scope: _Scope, doc: Doc, template: str, typedef: Node | None = None) -> None:
        if node.type == "enum_specifier":
            self._enum(node, scope, doc, template)
        else:
            self._record(node, scope, doc, template, typedef)

    def _alias(self, node: Node, scope: _Scope, doc: Doc, template: str) -> None:
        name_node = node.child_by_field_name("name")
        type_node = node.child_by_field_name("type")
        if name_node is None:
            return
        signature = " ".join(part for part in (template, type_node and self.text.of(type_node)) if part)
        self._add(self.text.name(name_node), "alias", name_node, node, scope.qualname, signature, doc)

    # functions, variables, fields

    def _function_definition(self, node: Node, scope: _Scope, doc: Doc, template: str) -> None:
        declarator = node.child_by_field_name("declarator")
        if declarator is not None:
            self._declarator(node, declarator, scope, doc, template, node.child_by_field_name("type"), True)
        if node.has_error:
            self._push_errors(node, scope)

    def _push_errors(self, node: Node, scope: _Scope) -> None:
        """Walk the ERROR nodes a broken declaration swallowed (`f( { } } class After {`), not in bodies."""
        stack = [node]
        while stack:
            for child in stack.pop().children:
                if child.is_error:
                    self._push(child, scope)
                elif child.has_error and child.type != "compound_statement":
                    stack.append(child)

    def _declaration(self, node: Node, scope: _Scope, doc: Doc, template: str) -> None:
        if node.has_error:
            self._push_errors(node, scope)
        type_node = node.child_by_field_name("type")
        if type_node is not None and type_node.type in _TYPE_SPECIFIERS:
            self._type_specifier(type_node, scope, doc, template)
        first = True
        for declarator in node.children_by_field_name("declarator"):
            self._declarator(node, declarator, scope, doc, template, type_node, first)
            first = False

    def _declarator(
        self, node: Node, declarator: Node, scope: _Scope, doc: Doc, template: str, type_node: Node | None, first: bool
    ) -> None:
        name_node, function = _unwrap(declarator)
        if name_node is None:
            return
        qualifier: list[str] = []
        absolute, final = False, name_node
        if name_node.type == "qualified_identifier":
            qualifier, absolute, final = self._qualified(name_node)
        if function is None and final.type == "operator_cast":  # `A::operator bool() const`
            function = final
        if function is not None and type_node is not None and _misread_conversion(self.text.source, type_node):
            # tree-sitter reads `inline A::operator float() const` as type `A::operator`, function `float()`
            qualifier, absolute, final = self._qualified(type_node)
            parameters = function.child_by_field_name("parameters") or function
            name = self.text.span(final.start_byte, parameters.start_byte)
            kind, parent = self._function_kind(name, final, qualifier, absolute, scope)
            signature = self.text.span(type_node.start_byte, function.end_byte)
            self._add(name, kind, final, node, parent, f"{template} {signature}" if template else signature, doc)
            return
        if function is not None:
            name = self._function_name(final)
            kind, parent = self._function_kind(name, final, qualifier, absolute, scope)
            start = type_node.start_byte if type_node is not None else declarator.start_byte
            signature = self.text.span(start, function.end_byte)
            self._add(name, kind, final, node, parent, f"{template} {signature}" if template else signature, doc)
            return
        if qualifier:  # `int Foo::count = 0;`: the definition of a static member declared elsewhere
            return
        if declarator.type == "init_declarator":
            declarator = declarator.child_by_field_name("declarator") or declarator
        kind = "field" if scope.kind in _RECORD_SCOPES or node.type == "field_declaration" else "variable"
        if first:
            signature = self.text.span(node.start_byte, declarator.end_byte)
        else:
            signature = self.text.of(declarator)
            if type_node is not None:
                signature = f"{self.text.of(type_node)} {signature}"
        self._add(self.text.name(final), kind, final, node, scope.qualname, signature, doc)

    def _function_kind(
        self, name: str, final: Node, qualifier: list[str], absolute: bool, scope: _Scope
    ) -> tuple[str, str | None]:
        """Kind and parent of a function: a member when in a record or qualified by a non-namespace."""
        if qualifier:
            parent = self._join(scope, qualifier, absolute)
            if parent in self._namespaces or "::".join(qualifier) in self._namespaces:
                return "function", parent
            owner = qualifier[-1]
        elif scope.kind in _RECORD_SCOPES:
            parent, owner = scope.qualname, scope.name
        else:
            return "function", scope.qualname
        if final.type == "destructor_name":
            return "destructor", parent
        return ("constructor" if name == owner else "method"), parent

    def _function_name(self, final: Node) -> str:
        kind = final.type
        if kind == "identifier" or kind == "field_identifier":
            return self.text.name(final)
        if kind == "operator_name":
            return _OPERATOR_SPACE.sub("operator", self.text.of(final))
        if kind == "destructor_name":
            return self.text.of(final).replace(" ", "")
        if kind == "operator_cast":  # `operator int*`: the text up to the parameter list
            inner = final.child_by_field_name("declarator")
            while inner is not None and inner.type != "abstract_function_declarator":
                inner = inner.child_by_field_name("declarator") or _last_named(inner)
            parameters = None if inner is None else inner.child_by_field_name("parameters")
            return self.text.span(final.start_byte, final.end_byte if parameters is None else parameters.start_byte)
        if kind == "template_function":
            final = final.child_by_field_name("name") or final
        return self.text.of(final)

    def _qualified(self, node: Node) -> tuple[list[str], bool, Node]:
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
    def _join(scope: _Scope, qualifier: list[str], absolute: bool) -> str | None:
        if not qualifier:
            return scope.qualname
        path = "::".join(qualifier)
        return path if absolute or scope.qualname is None else f"{scope.qualname}::{path}"

    def _template(self, node: Node, scope: _Scope, doc: Doc, template: str) -> None:
        headers = [template] if template else []
        inner: Node | None = node
        while inner is not None and inner.type == "template_declaration":
            parameters = inner.child_by_field_name("parameters")
            headers.append("template " + (self.text.of(parameters) if parameters is not None else "<>"))
            inner = next((child for child in reversed(inner.named_children) if child.type != "comment"), None)
        if inner is None:
            return
        handler = _HANDLERS.get(inner.type)
        if handler is not None:
            handler(self, inner, scope, doc, " ".join(headers))

    def _friend(self, node: Node, scope: _Scope, doc: Doc, template: str) -> None:
        """A friend function defined in a class lives in the enclosing namespace (as ctags says)."""
        for child in node.named_children:
            if child.type == "function_definition":
                outer = _Scope(scope.namespace, "namespace", "", scope.namespace, scope.depth)
                self._function_definition(child, outer, doc, template)

    def _linkage(self, node: Node, scope: _Scope, doc: Doc, template: str) -> None:
        """`extern "C" { ... }` or `extern "C" int f();`."""
        body = node.child_by_field_name("body")
        if body is None:
            return
        children = body.named_children if body.type == "declaration_list" else [body]
        self._queue.append((children, scope, False))  # a batch, not a call: no recursion


_HANDLERS: Final[dict[str, Handler]] = {
    "namespace_definition": _Walker._namespace,
    "class_specifier": _Walker._record,
    "struct_specifier": _Walker._record,
    "union_specifier": _Walker._record,
    "enum_specifier": _Walker._enum,
    "enumerator": _Walker._enumerator,
    "function_definition": _Walker._function_definition,
    "declaration": _Walker._declaration,
    "field_declaration": _Walker._declaration,
    "template_declaration": _Walker._template,
    "friend_declaration": _Walker._friend,
    "type_definition": _Walker._typedef,
    "alias_declaration": _Walker._alias,
    "linkage_specification": _Walker._linkage,
}


def _misread_conversion(source: bytes, type_node: Node) -> bool:
    """Whether a function's "type" is really the `A::operator` of a conversion operator."""
    kind, end = type_node.type, type_node.end_byte
    if kind not in ("qualified_identifier", "type_identifier") or not source.endswith(b"operator", 0, end):
        return False
    return end - 8 == type_node.start_byte or source[end - 9] not in _WORD_CHARS


def _last_named(node: Node) -> Node | None:
    count = node.named_child_count
    return node.named_child(count - 1) if count else None


def _last_row(node: Node) -> int:
    """The node's last row; a preprocessor line's node ends at column 0 of the next row."""
    end_row, end_col = node.end_point
    return end_row - 1 if end_col == 0 and end_row > node.start_point[0] else end_row


def _unwrap(declarator: Node) -> tuple[Node | None, Node | None]:
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
