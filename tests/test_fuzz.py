"""Property-based fuzzing (hypothesis): extractors never crash and give valid tables; pages never let user text in.

Extractors (every one in `EXTRACTORS`): random bytes, random text, mutated real sources (CPython's stdlib, and
C/C++ snippets and headers for a C/C++ extractor) and generated valid Python. Each result must validate against
the JSON Schema once placed, survive a JSON round trip, keep its symbols' lines inside the file, name its parents
before their children, and be the same on a second call; valid Python must list every def and class `ast` sees.

Renderers: a small tree of tables with hostile names, docstrings and paths, linked by the real `Linker`, rendered
into every kind of page. No page may carry HTML, a link, an image or an autolink from user text, a table row
with extra cells, a link or anchor that does not resolve; rendering is deterministic. When `cmarkgfm` is
installed, GitHub's own renderer confirms it.

CI runs 150 examples per test (derandomized: the same examples every run); `KWBUILD_FUZZ_EXAMPLES=N` runs N.
The long campaign is `python bench/fuzz_campaign.py --minutes 10` (same properties, a large budget).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import html
import os
import posixpath
import re
import sysconfig
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import jsonschema
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from kwbuild import jsonio
from kwbuild.digest import digest_table
from kwbuild.extract import EXTRACTORS
from kwbuild.link import Linker
from kwbuild.model import SCHEMA_VERSION, content_hash, count_lines, load_schema, make_cached_table, place_table
from kwbuild.render import keyword_index, module_pages
from kwbuild.render.context import FolderInfo, PageContext
from kwbuild.render.docs_page import render_docs_page
from kwbuild.render.folder_index import render_folder_index
from kwbuild.render.keyword_index import render_keyword_index
from kwbuild.render.keyword_page import render_keyword_page
from kwbuild.render.markdown import _URL_SAFE, anchor_ids, code_span, docs_page, folder_page, kw_page
from kwbuild.render.module_pages import render_import_xref, render_module_index
from kwbuild.render.symbols import KINDS, VALUE_KINDS, count_kinds
from kwbuild.resolve import module_name, package_folders

settings.register_profile(
    "kwbuild-fuzz",
    max_examples=int(os.environ.get("KWBUILD_FUZZ_EXAMPLES", "150")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("kwbuild-fuzz")
NAMES = sorted(EXTRACTORS)

# ================================================================ extractors: the properties

VALIDATOR = jsonschema.Draft202012Validator(load_schema())
SYMBOL_KINDS: list[str] = load_schema()["$defs"]["symbol"]["properties"]["kind"].get("enum", list(KINDS))


def check_extraction(name: str, data: bytes) -> dict[str, Any]:
    """Every property a table must have, whatever the bytes; returns the placed table."""
    extractor = EXTRACTORS[name]
    extracted = extractor.extract(data)
    assert extractor.extract(data) == extracted, "a second call gives another table"
    cached = make_cached_table(data, content_hash(data), extractor.NAME, extractor.VERSION, extracted)
    table = place_table(cached, "fuzz/input", "fuzz.input")
    problems = [f"{error.json_path}: {error.message}" for error in VALIDATOR.iter_errors(table)]
    assert not problems, problems[:5]
    assert jsonio.loads(jsonio.dumps(table)) == table, "the table does not survive a JSON round trip"
    check_positions(table, table["lines"])
    return table


def check_positions(table: dict[str, Any], lines: int) -> None:
    """Lines inside 1..lines, end_line >= line, qualname ends with name, parents named before their children."""
    seen = set()
    for symbol in table["symbols"]:
        where = f"symbol {symbol['qualname']!r} at line {symbol['line']} (file has {lines} lines)"
        assert symbol["line"] <= symbol["end_line"], where
        assert lines == 0 or symbol["end_line"] <= lines, where
        assert symbol["qualname"].endswith(symbol["name"]), where
        parent = symbol["parent"]
        assert parent is None or parent in seen or symbol["qualname"].startswith(parent + "::"), where
        seen.add(symbol["qualname"])
    for imp in table["imports"]:
        assert lines == 0 or imp["line"] <= lines, f"import at line {imp['line']} (file has {lines} lines)"


def check_generated_python(name: str, source: str) -> None:
    """Valid Python: a complete table, with every def and class that `ast.walk` finds, where it finds it."""
    data = source.encode("utf-8")
    table = check_extraction(name, data)
    if ".py" not in EXTRACTORS[name].SUFFIXES:
        return
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    expected = Counter(
        (node.name, node.lineno, type(node) is ast.ClassDef, type(node) is ast.AsyncFunctionDef)
        for node in ast.walk(ast.parse(data))
        if isinstance(node, definitions)
    )
    found = Counter(
        (s["name"], s["line"], s["kind"] == "class", s["is_async"])
        for s in table["symbols"]
        if s["kind"] not in VALUE_KINDS
    )
    assert found == expected
    assert not table["partial"] and table["errors"] == []


# ================================================================ extractors: inputs


TOKENS = [
    b"\0",
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b"'",
    b'"',
    b'"""',
    b"'''",
    b"#",
    b"# x\n",
    b"\\",
    b"\\\n",
    b"\n",
    b"\r",
    b"\r\n",
    b"\t",
    b"\x0c",
    b":",
    b"@",
    b"@x\n",
    b"def ",
    b"class ",
    b"async ",
    b"lambda ",
    b"import ",
    b"from . import *\n",
    b"if TYPE_CHECKING:\n",
    b"__all__ = ['a']\n",
    b"    ",
    b"\n    pass\n",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"\xe2\x80\xa8",
    b"# -*- coding: latin-1 -*-\n",
    b"# coding: no-such-codec\n",
    b"#if 0\n",
    b"#endif\n",
    b"#else\n",
    b"#define X(a) a\n",
    b"#include <",
    b"/*",
    b"*/",
    b"//",
    b"namespace a {",
    b"struct S : B {",
    b"template <typename T>",
    b"::",
    b"};",
    b"operator()",
    b"~",
    b"TORCH_API ",
    b"(" * 40,
    b")" * 40,
    b"[" * 300,
]

_Op = tuple[str, int, int, bytes]
OPERATIONS = st.tuples(
    st.sampled_from(["delete", "insert", "duplicate", "replace", "indent", "dedent", "truncate"]),
    st.integers(0, 1 << 20),
    st.integers(0, 64),
    st.one_of(st.sampled_from(TOKENS), st.binary(max_size=8)),
)


def mutate(seed: bytes, window: tuple[int, int] | None, ops: list[_Op]) -> bytes:
    """`seed` cut to a window of lines (None: whole), then edited by each operation in turn."""
    data = bytearray(seed)
    if window is not None:
        lines = seed.splitlines(keepends=True)
        start = window[0] % (len(lines) or 1)
        data = bytearray(b"".join(lines[start : start + window[1]]))
    for op, position, length, token in ops:
        at = position % (len(data) + 1)
        line_start = data.rfind(b"\n", 0, at) + 1
        if op == "delete":
            del data[at : at + length]
        elif op == "insert":
            data[at:at] = token
        elif op == "duplicate":
            data[at:at] = data[line_start : at + length]
        elif op == "replace":
            data[at : at + length] = token
        elif op == "indent":
            data[line_start:line_start] = b" " * (length % 9) or b"\t"
        elif op == "dedent":
            indent = len(data[line_start:]) - len(bytes(data[line_start:]).lstrip(b" \t"))
            del data[line_start : line_start + min(indent, length % 9)]
        else:
            del data[at:]
    return bytes(data)


MUTATIONS = st.tuples(
    st.integers(0, 1 << 10),
    st.one_of(st.tuples(st.integers(0, 1 << 16), st.integers(1, 300)), st.none()),
    st.lists(OPERATIONS, max_size=6),
)
STDLIB_FILES = ("json/decoder.py", "argparse.py", "dataclasses.py", "textwrap.py", "shlex.py")
C10_HEADERS = ("bits.h", "Metaprogramming.h", "TypeSafeSignMath.h", "ParallelGuard.h", "strides.h", "irange.h")
PYTHON_SNIPPETS = (
    b'class Old:\n    def show(self):\n        print "hello"\n\ndef legacy():\n    exec "x = 1"\n',
    "# -*- coding: latin-1 -*-\ndef caf\u00e9(x):\n    return '\u00e9'\n".encode("latin-1"),
    b"@dec\r\nasync def f(a, /, b=1, *c, d, **e) -> 'T':\r\n    '''Doc.'''\r\n\tx = 1\r\n",
    b"if TYPE_CHECKING:\n    from .a import b as c\n__all__ = ['x']\n__all__ += ['y']\nX: int = 1\n",
    b"class A(B, metaclass=M):\n    x = y = 1\n    @property\n    def p(self): ...\n    @p.setter\n"
    b"    def p(self, v): ...\n    class Inner:\n        def deep(self):\n            def deeper(): pass\n",
)
CPP_SNIPPETS = (
    b"#pragma once\n#include <vector>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\nnamespace c10 { namespace util {\n"
    b"/// Adds.\ntemplate <typename T>\nstruct TORCH_API Box : public Base<T> {\n  explicit Box(T v);\n"
    b"  T get() const { return v_; }\n  Box& operator+=(const Box& o);\n  enum class Kind { A, B };\n"
    b" private:\n  T v_;\n};\n}}  // namespace c10::util\n",
    b"void Foo::bar(int x) {}\nint Foo::Inner::baz() const { return 0; }\nstatic int counter = 0;\n"
    b"#ifdef _WIN32\nstruct X : B {\n#else\nstruct C10_API X : B {\n#endif\n  int y;\n};\n",
    b'extern "C" {\ntypedef struct { int a; } T;\nunion U { int i; float f; };\nint f(void);\n}\n'
    b"using Alias = std::map<int, int>;\nconstexpr int kSize = 4;\n#if 0\nint hidden;\n#endif\n",
)


@functools.cache
def seeds(language: str) -> tuple[bytes, ...]:
    """Real sources to mutate: the stdlib's Python files and Python snippets, or C/C++ snippets and headers."""
    if language == "python":
        stdlib = Path(sysconfig.get_path("stdlib"))
        files = [stdlib / name for name in STDLIB_FILES]
        return tuple(p.read_bytes() for p in files if p.is_file()) + PYTHON_SNIPPETS
    if language in ("c", "cpp", "c++"):
        folder = Path("/work/corpus/torch/include/c10/util")
        return CPP_SNIPPETS + tuple((folder / n).read_bytes() for n in C10_HEADERS if (folder / n).is_file())
    return seeds("python") + seeds("cpp")


def mutated_source(name: str, case: tuple[int, tuple[int, int] | None, list[_Op]]) -> bytes:
    pool = seeds(name)
    return mutate(pool[case[0] % len(pool)], case[1], case[2])


TEXT_TOKENS = [t.decode("utf-8", "replace") for t in TOKENS] + ["\u2028", "\x85", "\ufeff", "\U0001f600", "\udcff"]
RANDOM_TEXT = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(st.sampled_from(TEXT_TOKENS), st.text(max_size=6)), max_size=60).map("".join),
)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- generated valid Python

LINE_BREAKS = re.compile(r"[\0\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_LETTERS = "abcxyzABCXYZ_"
IDENTIFIERS = st.one_of(
    st.builds(str.__add__, st.sampled_from(_LETTERS), st.text(_LETTERS + "0123456789", max_size=5)),
    st.sampled_from(["caf\u00e9", "na\u00efve", "\u540d\u524d", "\u03a9mega", "_", "match", "case", "type", "X_1"]),
)
DECORATORS = st.sampled_from(
    [
        "property",
        "x.setter",
        "classmethod",
        "staticmethod",
        "functools.cache",
        "dec(1, 'a')",
        "cached_property",
        "abc.abstractmethod",
        "overload",
        "a.b.c",
    ]
)
VALUES = st.sampled_from(["1", "'s'", "f(x)", "[1, 2]", "lambda: 0", "(\n    1,\n    2)", "{'a': 1}", "None"])
LEAVES = st.one_of(
    st.tuples(st.just("pass")),
    st.tuples(st.just("assign"), st.lists(IDENTIFIERS, min_size=1, max_size=3), VALUES),
    st.tuples(st.just("annassign"), IDENTIFIERS, st.sampled_from(["int", "'A'", "list[int]"]), VALUES),
    st.tuples(st.just("import"), st.lists(IDENTIFIERS, min_size=1, max_size=3), st.one_of(st.none(), IDENTIFIERS)),
    st.tuples(
        st.just("from"),
        st.integers(0, 2),
        st.lists(IDENTIFIERS, max_size=2),
        st.lists(IDENTIFIERS, min_size=1, max_size=3),
    ),
    st.tuples(
        st.just("all"),
        st.sampled_from(["__all__ = {}", "__all__ += {}", "__all__.extend({})"]),
        st.lists(IDENTIFIERS, max_size=3),
    ),
    st.tuples(st.just("doc"), st.text(max_size=30)),
    st.tuples(st.just("comment"), st.text(max_size=20).map(lambda s: LINE_BREAKS.sub(" ", s))),
    st.tuples(st.just("blank")),
)


def _compound(bodies: st.SearchStrategy[list[Any]]) -> st.SearchStrategy[tuple[Any, ...]]:
    params = st.lists(IDENTIFIERS, unique=True, max_size=4)
    return st.one_of(
        st.tuples(
            st.just("def"),
            IDENTIFIERS,
            params,
            st.integers(0, 4),
            st.lists(DECORATORS, max_size=2),
            st.booleans(),
            st.booleans(),
            bodies,
        ),
        st.tuples(
            st.just("class"),
            IDENTIFIERS,
            st.lists(st.sampled_from(["B", "a.B", "metaclass=M", "Generic[T]"]), max_size=2, unique=True),
            st.lists(DECORATORS, max_size=1),
            bodies,
        ),
        st.tuples(
            st.just("if"),
            st.sampled_from(["x", "TYPE_CHECKING", "typing.TYPE_CHECKING"]),
            bodies,
            st.one_of(st.just([]), bodies),
        ),
        st.tuples(st.sampled_from(["for x in y", "while x", "with a as b", "try", "match x"]), bodies, bodies),
    )


# A statement is a def, a class, an `if`, another compound statement or a leaf, one fifth each (`map` keeps the
# leaves one choice: `one_of` would flatten their nine kinds into the list).
BODIES = st.recursive(
    st.lists(LEAVES, min_size=1, max_size=3),
    lambda bodies: st.lists(st.one_of(_compound(bodies), LEAVES.map(tuple)), min_size=1, max_size=6),
    max_leaves=60,
)


def _signature(params: list[str], defaults: int, multiline: bool, indent: str) -> str:
    parts = [
        p + (": int" if i % 2 else "") + (" = 1" if i >= len(params) - defaults else "") for i, p in enumerate(params)
    ]
    if len(parts) > 1 and defaults == 4:
        parts[-1] = "**" + params[-1]
    return "(" + (",\n" + indent + "        ").join(parts) + ")" if multiline else "(" + ", ".join(parts) + ")"


def _emit(body: list[Any], indent: str, unit: str, out: list[str]) -> None:
    """Source lines of `body` at `indent`; a body with no statement gets a `pass`."""
    real = False
    for node in body:
        kind, inner = node[0], indent + unit
        real = real or kind not in ("comment", "blank")
        if kind == "pass":
            out.append(indent + "pass")
        elif kind == "assign":
            out.append(indent + " = ".join(node[1]) + " = " + node[2].replace("\n", "\n" + indent))
        elif kind == "annassign":
            out.append(f"{indent}{node[1]}: {node[2]} = {node[3]}".replace("\n", "\n" + indent))
        elif kind == "import":
            out.append(f"{indent}import {'.'.join(node[1])}" + (f" as {node[2]}" if node[2] else ""))
        elif kind == "from":
            module = "." * node[1] + ".".join(node[2]) or "m"
            out.append(f"{indent}from {module} import ({', '.join(node[3])},)")
        elif kind == "all":
            out.append(indent + node[1].format(repr(node[2])))
        elif kind == "doc":
            out.append(indent + repr(node[1]))
        elif kind == "comment":
            out.append(indent + "# " + node[1])
        elif kind == "blank":
            out.append("")
        elif kind == "def":
            _, name, params, defaults, decorators, is_async, multiline, inner_body = node
            out += [f"{indent}@{d}" for d in decorators]
            head = "async def" if is_async else "def"
            out.append(f"{indent}{head} {name}{_signature(params, defaults, multiline, indent)}:")
            _emit(inner_body, inner, unit, out)
        elif kind == "class":
            _, name, bases, decorators, inner_body = node
            out += [f"{indent}@{d}" for d in decorators]
            arguments = ", ".join(sorted(bases, key=lambda base: "=" in base))
            out.append(f"{indent}class {name}" + (f"({arguments})" if bases else "") + ":")
            _emit(inner_body, inner, unit, out)
        elif kind == "if":
            out.append(f"{indent}if {node[1]}:")
            _emit(node[2], inner, unit, out)
            if node[3]:
                out.append(f"{indent}else:")
                _emit(node[3], inner, unit, out)
        elif kind == "try":
            out.append(f"{indent}try:")
            _emit(node[1], inner, unit, out)
            out.append(f"{indent}except E:")
            _emit(node[2], inner, unit, out)
        elif kind == "match x":
            out.append(f"{indent}match x:")
            for pattern, case_body in (("1", node[1]), ("_", node[2])):
                out.append(f"{inner}case {pattern}:")
                _emit(case_body, inner + unit, unit, out)
        else:
            out.append(f"{indent}{kind}:")
            _emit(node[1], inner, unit, out)
            if kind.startswith(("for", "while")):
                out.append(f"{indent}else:")
                _emit(node[2], inner, unit, out)
    if not real:
        out.append(indent + "pass")


def program_source(body: list[Any], unit: str, newline: str, prefix: str) -> str:
    out: list[str] = []
    _emit(body, "", unit, out)
    return prefix + "\n".join(out).replace("\n", newline) + newline


PROGRAMS = st.builds(
    program_source,
    BODIES,
    st.sampled_from(["    ", "  ", "\t", " "]),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from(["", "\ufeff", "# -*- coding: utf-8 -*-\n", "#!/usr/bin/env python\n"]),
)


# ---------------------------------------------------------------- the extractor tests


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.binary(max_size=2000))
def test_extract_random_bytes(name: str, data: bytes) -> None:
    check_extraction(name, data)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(text=RANDOM_TEXT)
def test_extract_random_text(name: str, text: str) -> None:
    check_extraction(name, _encode(text))


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(case=MUTATIONS)
def test_extract_mutated_sources(name: str, case: tuple[int, tuple[int, int] | None, list[_Op]]) -> None:
    data = mutated_source(name, case)
    note(f"input: {data[:2000]!r}")
    check_extraction(name, data)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(source=PROGRAMS)
def test_extract_generated_python(name: str, source: str) -> None:
    check_generated_python(name, source)


def test_generated_python_is_valid_and_varied() -> None:
    """The generator itself: its programs parse, and they hold the constructs the properties rely on."""
    found: Counter[str] = Counter()

    @FUZZ
    @given(source=PROGRAMS)
    def collect(source: str) -> None:
        tree = ast.parse(source.encode("utf-8"))
        found.update(type(node).__name__ for node in ast.walk(tree))

    collect()
    wanted = {"FunctionDef", "AsyncFunctionDef", "ClassDef", "If", "Try", "Match", "ImportFrom", "AnnAssign"}
    assert wanted <= set(found)


def test_mutations_apply() -> None:
    ops: list[_Op] = [("insert", 1, 0, b"(("), ("delete", 0, 1, b""), ("indent", 3, 4, b""), ("truncate", 8, 0, b"")]
    assert mutate(b"ab\ncd\nef\n", None, ops) == b"    ((b\n"
    assert mutate(b"1\n2\n3\n", (1, 1), [("replace", 0, 1, b"\0")]) == b"\0\n"


# ================================================================ renderers: the tree


def _segment_text(s: str) -> bool:
    return s not in (".", "..") and "/" not in s and "\0" not in s


EVIL_PIECES = [
    "[x](http://evil)",
    "![i](y)",
    "<img src=x>",
    "<script>",
    "</script>",
    "| a | b |",
    "|",
    "http://a.b",
    "https://a.b/c",
    "www.x.y",
    "WWW.X.Y",
    "a@b.co",
    "`",
    "``",
    "```",
    "\r\n",
    "\0",
    "\n",
    "\t",
    "*",
    "_",
    "**b**",
    "~~s~~",
    "# h",
    "1. ",
    "1) ",
    "- ",
    "+ ",
    "> ",
    "    ",
    "===",
    "---",
    "&amp;",
    "&#60;",
    "&lt;",
    "\\",
    "\\|",
    "[",
    "]",
    "(",
    ")",
    "!",
    "<",
    ">",
    "$x$",
    "://",
    "\u2028",
    "\x85",
    "\u00e9",
    "\U0001f600",
    "\u200b",
    "[^1]:",
    "[a]: /url",
    '<a id="sym-x"></a>',
    "{",
    "}",
    "%",
    "%20",
    "#L1",
    "?",
    "'",
    '"',
    "\ufeff",
    "\x7f",
    "\x1b[31m",
    "<!--",
    "-->",
    "<http://a.b>",
    "mailto:a@b.c",
    "&",
]
USER_TEXT = st.one_of(
    st.text(max_size=12),
    st.lists(st.one_of(st.sampled_from(EVIL_PIECES), st.text(max_size=3)), max_size=5).map("".join),
)
SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "a b",
            "#",
            "%",
            "(x)",
            "\u00e9t\u00e9",
            "a#b",
            "%20",
            "?",
            "[x]",
            "`",
            "pkg",
            "sub",
            "a.b",
            "index",
            "keywords",
            "--",
            "\u540d",
        ]
    ),
    st.text(min_size=1, max_size=6).filter(_segment_text),
)
FOLDERS = SEGMENTS.filter(lambda s: not s.endswith(".md"))


@dataclass(frozen=True)
class Tree:
    """The renderers' inputs for a small tree: tables by path, folder summaries and page options."""

    tables: dict[str, dict[str, Any]]
    summaries: dict[str, str] = field(default_factory=dict)
    ctx: PageContext = field(default_factory=PageContext)
    split: tuple[int, int] = (keyword_index.SPLIT_AT, module_pages.SPLIT_AT)


# Strategies are built once, here: a tree is drawn as plain tuples (fast to generate and to shrink), and
# `make_tree` turns them into tables. An int where a name is expected picks an earlier symbol, a class, a module
# or a top-level name of the tree (modulo their number), so that parents, bases and imports resolve.
INDEX = st.integers(0, 1 << 16)
MAYBE_TEXT = st.one_of(st.none(), USER_TEXT)
SYMBOL = st.tuples(
    USER_TEXT,
    st.sampled_from(SYMBOL_KINDS),
    st.one_of(st.none(), INDEX),
    st.integers(0, 3),
    st.integers(0, 5),
    st.integers(0, 9),
    st.sampled_from([".", "::"]),
    USER_TEXT,
    st.lists(USER_TEXT, max_size=2),
    st.lists(st.one_of(USER_TEXT, INDEX), max_size=2),
    MAYBE_TEXT,
    st.booleans(),
)
REF = st.tuples(st.integers(0, 9), INDEX, USER_TEXT).map(  # mostly a name of the tree, so that imports resolve
    lambda drawn: drawn[1] if drawn[0] < 7 else None if drawn[0] == 7 else drawn[2]
)
IMPORT = st.tuples(
    REF, st.one_of(REF, st.just("*")), MAYBE_TEXT, st.sampled_from([0, 0, 0, 1, 2]), st.integers(1, 40), st.booleans()
)
ERROR = st.fixed_dictionaries(
    {
        "kind": USER_TEXT,
        "message": USER_TEXT,
        "line": st.one_of(st.none(), st.integers(1, 40)),
        "col": st.one_of(st.none(), st.integers(0, 9)),
    }
)
FILE = st.tuples(
    st.lists(INDEX, max_size=2),
    st.one_of(st.just("__init__"), SEGMENTS),
    st.sampled_from([".py", ".pyi", ".h"]),
    st.lists(SYMBOL, max_size=5),
    st.lists(IMPORT, max_size=4),
    MAYBE_TEXT,
    st.one_of(st.none(), st.lists(st.one_of(USER_TEXT, INDEX), max_size=3)),
    st.booleans(),
    st.lists(ERROR, max_size=2),
    st.sampled_from(["python", "cpp", "x <y>"]),
    st.sampled_from([None, None, None, "<b>`x`</b>"]),
    st.booleans(),
)
LANGUAGES = {".py": "python", ".pyi": "python", ".h": "cpp"}


def _pick(value: int | str | None, choices: list[str]) -> str | None:
    """A drawn name: text as it is, an int one of `choices` (None when there are none)."""
    if isinstance(value, int):
        return choices[value % len(choices)] if choices else None
    return value


def _make_symbols(drawn: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    symbols: list[dict[str, Any]] = []
    line = 1
    for name, kind, parent_at, gap, span, col, sep, signature, decorators, bases, docstring, is_async in drawn:
        parent = symbols[parent_at % len(symbols)]["qualname"] if parent_at is not None and symbols else None
        classes = [s["qualname"] for s in symbols if s["kind"] == "class"]
        line += gap
        symbols.append(
            {
                "name": name,
                "qualname": f"{parent}{sep}{name}" if parent is not None else name,
                "kind": kind,
                "line": line,
                "end_line": line + span,
                "col": col,
                "signature": signature,
                "decorators": decorators,
                "bases": [b for b in (_pick(base, classes) for base in bases) if b is not None],
                "docstring": docstring,
                "parent": parent,
                "is_async": is_async,
            }
        )
    return symbols


def _import(drawn: tuple[Any, ...], language: str, names: dict[str, list[str]], headers: list[str]) -> dict[str, Any]:
    """A Python import of a module of the tree (and one of its names), or a C/C++ `#include` of one of its files."""
    module, name, asname, level, line, flag = drawn
    if language == "cpp":
        return {
            "module": _pick(module, headers) or "",
            "name": None,
            "asname": None,
            "level": 0,
            "line": line,
            "type_checking": False,
            "system": flag,
        }
    module = _pick(module, sorted(m for m in names if m))
    return {
        "module": module,
        "name": _pick(name, names.get(module) or names[""]),
        "asname": asname,
        "level": level,
        "line": line,
        "type_checking": flag,
    }


def make_tree(
    folders: list[str],
    files: list[tuple[Any, ...]],
    summaries: list[str],
    url: str | None,
    source: str | None,
    split: tuple[int, int],
) -> Tree:
    """1-4 files in shared folders with hostile names, importing each other so that links resolve."""
    drawn = {"/".join([*(folders[i % len(folders)] for i in file[0]), file[1] + file[2]]): file for file in files}
    packages = package_folders(drawn)
    modules = {path: module_name(path, packages, "tree") for path in sorted(drawn)}
    symbols = {path: _make_symbols(drawn[path][3]) for path in modules}
    tops = {path: sorted({s["name"] for s in symbols[path] if s["parent"] is None}) for path in modules}
    names = {"": sorted({name for top in tops.values() for name in top})}  # module -> its names; "": every name
    names.update({module: tops[path] for path, module in modules.items() if module})
    headers = sorted({*modules, *(path.rpartition("/")[2] for path in modules)})  # what an #include may name
    tables = {}
    for path, module in modules.items():
        *_, imports, docstring, exported, partial, errors, extractor, odd_language, readable = drawn[path]
        language = LANGUAGES[path[path.rfind(".") :]]
        tables[path] = {
            "schema_version": SCHEMA_VERSION,
            "extractor": {"name": extractor, "version": 1},
            "path": path,
            "module": module,
            "language": odd_language or language,
            "hash": "0123456789abcdef0123456789abcdef" if readable else None,
            "size": 9,
            "lines": max([40, *(s["end_line"] for s in symbols[path])]),
            "docstring": docstring,
            "all": None if exported is None else [_pick(name, tops[path]) or "" for name in exported],
            "partial": partial,
            "symbols": symbols[path],
            "errors": errors,
            "imports": [_import(drawn_import, language, names, headers) for drawn_import in imports],
        }
    folder_names = sorted({path.rpartition("/")[0] for path in tables} | {""})
    ctx = PageContext(
        source_url=None if url is None else f"https://example.invalid/{url}/",
        include_source=source is not None,
        source_text=source,
    )
    return Tree(tables, dict(zip(folder_names, summaries * len(folder_names), strict=False)), ctx, split)


TREES = st.builds(
    make_tree,
    st.lists(FOLDERS, min_size=1, max_size=3, unique=True),
    st.lists(FILE, min_size=1, max_size=4),
    st.lists(USER_TEXT, min_size=1, max_size=3),
    MAYBE_TEXT.map(lambda s: s and s.replace("&", "")),
    st.one_of(st.none(), RANDOM_TEXT.map(lambda text: text.encode("utf-8", "replace").decode())),
    st.sampled_from([(keyword_index.SPLIT_AT, module_pages.SPLIT_AT), (1, 1), (3, 2)]),
)


# ================================================================ renderers: every page of the tree


@contextlib.contextmanager
def _split_at(keywords: int, imports: int) -> Iterator[None]:
    """Split the global pages above this many entries (small values reach the split pages with a small tree)."""
    saved = keyword_index.SPLIT_AT, keyword_index.PAGE_LIMIT, module_pages.SPLIT_AT
    keyword_index.SPLIT_AT, keyword_index.PAGE_LIMIT, module_pages.SPLIT_AT = keywords, keywords, imports
    try:
        yield
    finally:
        keyword_index.SPLIT_AT, keyword_index.PAGE_LIMIT, module_pages.SPLIT_AT = saved


def _folders(paths: list[str]) -> set[str]:
    folders = {""}
    for path in paths:
        folder = path.rpartition("/")[0]
        while folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    return folders


def _folder_info(folder: str, tree: Tree, folders: set[str], links: dict[str, Any]) -> FolderInfo:
    """What `kwbuild.pages` gives the folder index: subfolders (summary, files below), files, imports inside."""
    paths = sorted(tree.tables)
    subs = sorted(f for f in folders if f and f.rpartition("/")[0] == folder)
    below = {sub: sum(p.startswith(sub + "/") for p in paths) for sub in subs}
    files = [p for p in paths if p.rpartition("/")[0] == folder]
    rows = [
        (
            p,
            p.rpartition("/")[2],
            tree.tables[p]["docstring"] or "",
            count_kinds(tree.tables[p]["symbols"]),
            len(tree.tables[p]["errors"]),
            tree.tables[p]["partial"],
        )
        for p in files
    ]
    edges = sorted(
        {
            (p, r["resolved_path"])
            for p in files
            for r in links[p]["imports"]
            if r["resolved_path"] in files and r["resolved_path"] != p
        }
    )
    return FolderInfo(
        folder, [(s.rpartition("/")[2], tree.summaries.get(s, ""), below[s], None) for s in subs], rows, edges
    )


def render_all(tree: Tree) -> dict[str, str]:
    """Every page of the tree, keyed by its path under the docs root (as `kwbuild build` writes them)."""
    digests = [digest_table(t) for t in tree.tables.values()]
    links = dict(Linker(digests).link_all())
    pages: dict[str, str] = {}
    for path, table in tree.tables.items():
        pages[kw_page(path)] = render_keyword_page(table, links[path], tree.ctx)  # type: ignore[arg-type]
        pages[docs_page(path)] = render_docs_page(table, links[path], tree.ctx)  # type: ignore[arg-type]
    folders = _folders(list(tree.tables))
    for folder in folders:
        pages[folder_page(folder)] = render_folder_index(_folder_info(folder, tree, folders, links), tree.ctx)
    entries = [
        (s[0], s[2], s[1], d.path, s[3], anchor)
        for d in digests
        for s, anchor in zip(d.symbols, anchor_ids(s[1] for s in d.symbols), strict=True)
    ]
    modules = {d.path: d.module or d.path for d in digests}
    uses = {d.path: {r["resolved_path"] for r in links[d.path]["imports"]} - {None, d.path} for d in digests}
    xref = [
        (
            modules[p],
            p,
            sorted((modules[u], u) for u in uses[p]),
            sorted((modules[u], u) for u in modules if p in uses[u]),
        )
        for p in sorted(modules)
    ]
    with _split_at(*tree.split):
        pages.update(render_keyword_index(entries, tree.ctx))
        pages["modules.md"] = render_module_index(
            [(modules[d.path], d.path, d.docstring or "", len(d.symbols)) for d in digests]
        )
        pages.update(render_import_xref(xref))
    return pages


# ---------------------------------------------------------------- what every page must be

LINK = re.compile(r"\]\(([^()\s]*)\)")
ANCHOR_TAG = re.compile(r'<a id="([A-Za-z0-9_.-]+)"></a>')
LINE_FRAGMENT = re.compile(r"L\d+(?:-L\d+)?")
FENCE = re.compile(r"^(`{3,})[^`\n]*\n.*?^\1\n", re.S | re.M)  # an info string holds no backtick (CommonMark)
CODE_SPAN = re.compile(r"(?<![`\\])(`+)(?!`).*?(?<!`)\1(?!`)")
AUTOLINK = re.compile(r"https?://|www\.|[A-Za-z0-9._+-]@[A-Za-z0-9]", re.IGNORECASE)
BARE_ENTITY = re.compile(r"(?<!\\)&(?!#8203;|lt;|gt;)")
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
CELL_BAR = re.compile(r"(?<!\\)\|")


def strip_code(text: str) -> str:
    """The page without its fenced blocks and code spans, whose content is literal text."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def check_pages(tree: Tree) -> dict[str, str]:
    """Render every page twice and check each one; returns the pages."""
    pages = render_all(tree)
    assert render_all(tree) == pages, "rendering is not deterministic"
    prose = {page: strip_code(text) for page, text in pages.items()}
    check_links(prose, set(tree.tables), tree.ctx)
    for page, text in pages.items():
        check_page(page, text, prose[page], tree.ctx)
    for folder in _folders(list(tree.tables)):
        files = sum(p.rpartition("/")[0] == folder for p in tree.tables)
        rows = [line for line in pages[folder_page(folder)].split("\n") if line.startswith("|")]
        assert len(rows) == (files + 2 if files else 0), (folder, rows)
        assert all(len(CELL_BAR.findall(row)) == 6 for row in rows), rows
    for path, table in tree.tables.items():
        ids = ANCHOR_TAG.findall(prose[docs_page(path)])
        assert len(ids) == len(set(ids)) == len(table["symbols"]), "one unique anchor per symbol"
    return pages


def check_links(prose: dict[str, str], sources: set[str], ctx: PageContext) -> None:
    """tests/linkcheck.py on pages in memory: each relative link lands on a page and its anchor, or on a source
    file (a link above the docs root) and a line; an absolute one only under the configured source URL."""
    anchors = {page: set(ANCHOR_TAG.findall(text)) for page, text in prose.items()}
    base = quote(ctx.source_url, safe=_URL_SAFE) if ctx.source_url else None
    for page, text in prose.items():
        for url in LINK.findall(text):
            parts = urlsplit(url)
            fragment = unquote(parts.fragment)
            if parts.scheme or parts.netloc:
                assert base and url.startswith(base), (page, url)
                assert unquote(url[len(base) :].partition("#")[0]) in sources, (page, url)
                continue
            target = (
                posixpath.normpath(posixpath.join(posixpath.dirname(page), unquote(parts.path))) if parts.path else page
            )
            if target.startswith("../"):
                assert target[3:] in sources, (page, url, "source file missing")
                assert not fragment or LINE_FRAGMENT.fullmatch(fragment), (page, url)
            else:
                assert target in prose, (page, url, "page missing")
                assert not fragment or fragment in anchors[target], (page, url, "anchor missing")


def check_page(page: str, text: str, prose: str, ctx: PageContext) -> None:
    """One page: well formed, and nothing from user text acts as HTML, a link, an image or an autolink."""
    assert text.endswith("\n") and not text.endswith("\n\n"), page
    assert "\r" not in text and "\0" not in text, page
    targets = LINK.findall(prose)
    base = quote(ctx.source_url, safe=_URL_SAFE) if ctx.source_url else None
    for url in targets:
        absolute = urlsplit(url).scheme or urlsplit(url).netloc
        assert not absolute or (base and url.startswith(base)), (page, url, "a link that is not kwbuild's")
    prose = ANCHOR_TAG.sub("", LINK.sub("]", prose))
    for pattern in (re.compile("<"), re.compile(r"\]\(|!\["), AUTOLINK, BARE_ENTITY, CONTROL):
        found = pattern.search(prose)
        assert found is None, (page, found.group(), prose[max(0, found.start() - 60) : found.end() + 60])
    if _gfm_available():
        check_gfm(page, text, targets, ctx)


# ---------------------------------------------------------------- GitHub's renderer, when installed

ALLOWED_TAGS = {
    "a",
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "code",
    "pre",
    "ul",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "blockquote",
    "strong",
    "em",
}
EMPHASIS = {
    "external",
    "unresolved",
    "TYPE_CHECKING only",
    "partial",
    "errors",
    "Path:",
    "Module:",
    "Language:",
    "Size:",
    "Lines:",
    "Content hash:",
    "Extractor:",
}


@functools.cache
def _gfm_available() -> bool:
    try:
        import cmarkgfm  # noqa: F401
    except ImportError:
        return False
    return True


def check_gfm(page: str, text: str, targets: list[str], ctx: PageContext) -> None:
    """As GitHub renders it: only kwbuild's tags, links, emphasis, headings, table cells and code blocks."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    rendered = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    tags = set(re.findall(r"</?([A-Za-z][A-Za-z0-9-]*)", rendered))
    assert tags <= ALLOWED_TAGS, (page, tags - ALLOWED_TAGS)
    hrefs = sorted(unquote(html.unescape(h)) for h in re.findall(r'<a href="([^"]*)"', rendered))
    assert hrefs == sorted(map(unquote, targets)), (page, sorted(set(hrefs) ^ set(map(unquote, targets))))
    emphasis = re.findall(r"<(?:em|strong)>(.*?)</(?:em|strong)>", rendered)
    assert set(emphasis) <= EMPHASIS, (page, set(emphasis) - EMPHASIS)
    unfenced = FENCE.sub("", text)
    assert len(re.findall(r"<h[1-6]", rendered)) == len(re.findall(r"^#{1,6} ", unfenced, re.M)), page
    for row in re.findall(r"<tr>(.*?)</tr>", rendered, re.S):
        assert row.count("<td") in (0, 5) and row.count("<th") in (0, 5), (page, row)
    blocks = re.findall(r"<pre[^>]*><code[^>]*>(.*?)</code></pre>", rendered, re.S)
    assert len(blocks) == len(FENCE.findall(text)), page
    if page.endswith("_docs.md") and ctx.include_source and ctx.source_text is not None:
        source = ctx.source_text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
        assert html.unescape(blocks[-1]) == source + ("\n" if source and not source.endswith("\n") else ""), page


# ---------------------------------------------------------------- the renderer tests


@FUZZ
@given(tree=TREES)
def test_pages_of_hostile_trees(tree: Tree) -> None:
    check_pages(tree)


@pytest.mark.parametrize(
    "bad",
    [
        "[x](http://evil)",
        "![i](y.png)",
        "<img src=x>",
        "www.evil.example",
        "http://evil",
        "mail a@b.co",
        "&#60;b&#62;",
        "*em*",
        "\x1b[31m",
    ],
)
def test_page_checks_catch_injected_markup(bad: str) -> None:
    """The checks above can fail: raw user text on a page is caught, the same text in a code span is not."""
    with pytest.raises(AssertionError):
        check_page("x.md", f"# Title\n\n{bad}\n", strip_code(f"# Title\n\n{bad}\n"), PageContext())
    safe = f"# Title\n\n{code_span(bad)}\n"
    check_page("x.md", safe, strip_code(safe), PageContext())


def test_link_checks_catch_missing_pages_anchors_and_sources() -> None:
    pages = {"a/x.md": '<a id="sym-f"></a>\n[f](#sym-f) [y](../y.md) [s](../../a/s.py#L3)\n', "y.md": "y\n"}
    check_links(pages, {"a/s.py"}, PageContext())
    for bad in ("[g](#sym-g)", "[z](z.md)", "[t](../../t.py)", "[e](https://evil.example/)"):
        with pytest.raises(AssertionError):
            check_links({**pages, "b.md": bad}, {"a/s.py"}, PageContext())


# ================================================================ bugs found by fuzzing (minimal reproductions)


def _table(path: str, symbols: list[str], imports: list[tuple[str, str]]) -> dict[str, Any]:
    """A plain table: module-level variables named `symbols` (one a line), `from m import n` for (m, n)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "extractor": {"name": "python", "version": 1},
        "path": path,
        "module": path.removesuffix(".py"),
        "language": "python",
        "hash": None,
        "size": 0,
        "lines": 9,
        "docstring": None,
        "all": None,
        "partial": False,
        "errors": [],
        "symbols": [
            {
                "name": n,
                "qualname": n,
                "kind": "variable",
                "line": i + 1,
                "end_line": i + 1,
                "col": 0,
                "signature": "",
                "decorators": [],
                "bases": [],
                "docstring": None,
                "parent": None,
                "is_async": False,
            }
            for i, n in enumerate(symbols)
        ],
        "imports": [
            {"module": m, "name": n, "asname": None, "level": 0, "line": 1, "type_checking": False} for m, n in imports
        ],
    }


@pytest.mark.skipif("python" not in EXTRACTORS, reason="no Python extractor")
def test_lone_carriage_return_is_not_a_line_break() -> None:
    data = b"x = 1\rdef f():\r    pass\r"
    extracted = EXTRACTORS["python"].extract(data)
    assert [(s["name"], s["line"], s["end_line"]) for s in extracted["symbols"]] == [("x", 1, 1), ("f", 2, 3)]
    assert all(s["end_line"] <= count_lines(data) for s in extracted["symbols"]), f"lines = {count_lines(data)}"


@pytest.mark.skipif("python" not in EXTRACTORS, reason="no Python extractor")
def test_line_of_unicode_whitespace_in_a_broken_file() -> None:
    data = "class A:\n\u00a0\n    def m(self): pass\n".encode()  # a blank line holding a non-breaking space
    table = check_extraction("python", data)
    assert {"A", "m"} <= {s["name"] for s in table["symbols"]}


def test_import_link_lands_on_the_imported_name() -> None:
    tree = Tree({"m.py": _table("m.py", ["\u00e9", "_u00E9"], []), "n.py": _table("n.py", [], [("m", "_u00E9")])})
    pages = check_pages(tree)
    fragment = re.findall(r"\]\(m\.py_docs\.md#([^)]+)\)", pages[docs_page("n.py")])
    assert fragment == ["sym-_u00E9"]
    target = next(line for line in pages[docs_page("m.py")].split("\n") if '<a id="sym-_u00E9"></a>' in line)
    assert "`_u00E9`" in target, target


# ================================================================ the properties, for bench/fuzz_campaign.py

Property = tuple[str, st.SearchStrategy[Any], Callable[[Any], object]]


def properties() -> list[Property]:
    """(label, strategy, check) of every property above; the campaign runs each with a large budget."""
    result: list[Property] = []
    for name in NAMES:
        result += [
            (f"extract[{name}] random bytes", st.binary(max_size=4000), functools.partial(check_extraction, name)),
            (f"extract[{name}] random text", RANDOM_TEXT.map(_encode), functools.partial(check_extraction, name)),
            (
                f"extract[{name}] mutated sources",
                MUTATIONS.map(functools.partial(mutated_source, name)),
                functools.partial(check_extraction, name),
            ),
            (f"extract[{name}] generated Python", PROGRAMS, functools.partial(check_generated_python, name)),
        ]
    return [*result, ("render hostile trees", TREES, check_pages)]
