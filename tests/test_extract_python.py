"""Tests for kwbuild.extract.python: inline sources in, symbol tables out."""

from __future__ import annotations

import ast
import textwrap
from typing import Any

import orjson
import pytest

from kwbuild.extract import python
from kwbuild.model import load_schema

TOP_KEYS = {"language", "docstring", "all", "partial", "symbols", "imports", "errors"}
SYMBOL_KEYS = set(load_schema()["$defs"]["symbol"]["required"])  # the schema's one list
IMPORT_KEYS = {"module", "name", "asname", "level", "line", "type_checking"}
ERROR_KEYS = {"kind", "message", "line", "col"}


def run(source: str | bytes) -> dict[str, Any]:
    data = textwrap.dedent(source).encode() if isinstance(source, str) else source
    return python.extract(data)


def symbol(table: dict[str, Any], qualname: str, occurrence: int = 0) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in table["symbols"] if s["qualname"] == qualname]
    assert len(found) > occurrence, f"{qualname} not in {[s['qualname'] for s in table['symbols']]}"
    return found[occurrence]


def assert_well_formed(table: dict[str, Any]) -> None:
    """The documented shape, JSON-serialisable, symbols in source order."""
    assert set(table) == TOP_KEYS
    assert table["language"] == "python"
    assert all(set(s) == SYMBOL_KEYS for s in table["symbols"])
    assert all(set(i) == IMPORT_KEYS for i in table["imports"])
    assert all(set(e) == ERROR_KEYS for e in table["errors"])
    positions = [(s["line"], s["col"]) for s in table["symbols"]]
    assert positions == sorted(positions)
    orjson.dumps(table, option=orjson.OPT_SORT_KEYS)


# --- module contract --------------------------------------------------------------------------------------------


def test_module_contract() -> None:
    assert python.NAME == "python"
    assert isinstance(python.VERSION, int)
    assert python.SUFFIXES == (".py", ".pyi")


def test_empty_file_is_a_clean_table() -> None:
    assert python.extract(b"") == {
        "language": "python",
        "docstring": None,
        "all": None,
        "partial": False,
        "symbols": [],
        "imports": [],
        "errors": [],
    }


# --- kinds ------------------------------------------------------------------------------------------------------

KINDS_SOURCE = """\
import functools
X = 1
_PRIVATE_MAX: int = 2
value = 3
__version__ = "1"
def f(): pass
async def af(): pass
class C:
    ATTR_LIMIT = 1
    attr: int = 0
    plain: str
    def m(self): pass
    async def am(self): pass
    @property
    def p(self): return 1
    @p.setter
    def p(self, v): pass
    @p.deleter
    def p(self): pass
    @functools.cached_property
    def cp(self): return 1
    @cached_property
    def cp2(self): return 1
    @classmethod
    def cm(cls): pass
    @staticmethod
    def sm(): pass
    @functools.lru_cache(maxsize=None)
    def cached(self): pass
    if True:
        def in_if(self): pass
    try:
        def in_try(self): pass
    except ImportError:
        FALLBACK = None
    class Inner:
        def deep(self):
            def local(): pass
            class Local:
                n = 1
                def lm(self): pass
def outer():
    def inner():
        def innermost(): pass
    x = 1
    return inner
@property
def module_level_property(): pass
"""


@pytest.mark.parametrize(
    ("qualname", "kind", "is_async"),
    [
        ("X", "constant", False),
        ("_PRIVATE_MAX", "constant", False),
        ("value", "variable", False),
        ("__version__", "variable", False),
        ("f", "function", False),
        ("af", "function", True),
        ("C", "class", False),
        ("C.ATTR_LIMIT", "constant", False),
        ("C.attr", "attribute", False),
        ("C.plain", "attribute", False),
        ("C.m", "method", False),
        ("C.am", "method", True),
        ("C.p", "property", False),
        ("C.cp", "property", False),
        ("C.cp2", "property", False),
        ("C.cm", "classmethod", False),
        ("C.sm", "staticmethod", False),
        ("C.cached", "method", False),
        ("C.in_if", "method", False),
        ("C.in_try", "method", False),
        ("C.FALLBACK", "constant", False),
        ("C.Inner", "class", False),
        ("C.Inner.deep", "method", False),
        ("C.Inner.deep.local", "function", False),
        ("C.Inner.deep.Local", "class", False),
        ("C.Inner.deep.Local.n", "attribute", False),
        ("C.Inner.deep.Local.lm", "method", False),
        ("outer", "function", False),
        ("outer.inner", "function", False),
        ("outer.inner.innermost", "function", False),
        ("module_level_property", "function", False),
    ],
)
def test_kinds(qualname: str, kind: str, is_async: bool) -> None:
    found = symbol(run(KINDS_SOURCE), qualname)
    assert (found["kind"], found["is_async"]) == (kind, is_async)


@pytest.mark.parametrize(
    ("qualname", "name", "parent"),
    [
        ("f", "f", None),
        ("C.m", "m", "C"),
        ("C.Inner.deep.local", "local", "C.Inner.deep"),
        ("outer.inner.innermost", "innermost", "outer.inner"),
        ("C.Inner.deep.Local.n", "n", "C.Inner.deep.Local"),
    ],
)
def test_names_and_parents(qualname: str, name: str, parent: str | None) -> None:
    found = symbol(run(KINDS_SOURCE), qualname)
    assert (found["name"], found["parent"]) == (name, parent)


def test_property_accessors_are_separate_symbols() -> None:
    table = run(KINDS_SOURCE)
    accessors = [(s["kind"], s["decorators"]) for s in table["symbols"] if s["qualname"] == "C.p"]
    assert accessors == [("property", ["property"]), ("property", ["p.setter"]), ("property", ["p.deleter"])]


def test_function_bodies_give_no_variables() -> None:
    assert "outer.x" not in {s["qualname"] for s in run(KINDS_SOURCE)["symbols"]}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("a, (b, *c) = 1, (2, 3, 4)\n", ["a", "b", "c"], id="tuple-targets"),
        pytest.param("[a, b] = 1, 2\n", ["a", "b"], id="list-targets"),
        pytest.param("a = b = 1\n", ["a", "b"], id="chained"),
        pytest.param("x = 1\nx = 2\nx += 3\n", ["x"], id="first-occurrence-only"),
        pytest.param("obj.attr = 1\nd['k'] = 2\n", [], id="attribute-and-subscript-targets"),
        pytest.param("for i in range(3): pass\nwith open(p) as fh: pass\n", [], id="for-and-with-targets"),
        pytest.param("x: int\n", ["x"], id="bare-annotation"),
        pytest.param("if a:\n    x = 1\nelse:\n    y = 2\n", ["x", "y"], id="if-branches"),
        pytest.param("try:\n    x = 1\nexcept E:\n    y = 2\nfinally:\n    z = 3\n", ["x", "y", "z"], id="try"),
        pytest.param("while a:\n    w = 1\nelse:\n    v = 2\n", ["w", "v"], id="while"),
        pytest.param("with c:\n    w = 1\n", ["w"], id="with-body"),
        pytest.param("match p:\n    case 1:\n        m = 1\n    case _:\n        n = 2\n", ["m", "n"], id="match"),
        pytest.param("def f(): pass\ndef f(): pass\n", ["f", "f"], id="every-def-occurrence"),
        pytest.param("x = 1\ndef x(): pass\n", ["x", "x"], id="def-after-variable"),
    ],
)
def test_module_level_names(source: str, expected: list[str]) -> None:
    assert [s["name"] for s in run(source)["symbols"]] == expected


def test_same_attribute_in_two_classes_of_the_same_name() -> None:
    table = run("if a:\n    class K:\n        x = 1\nelse:\n    class K:\n        x = 2\n")
    assert [(s["qualname"], s["line"]) for s in table["symbols"]] == [("K", 2), ("K.x", 3), ("K", 5), ("K.x", 6)]


# --- positions --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "qualname", "line", "end_line", "col"),
    [
        pytest.param("def f():\n    pass\n", "f", 1, 2, 0, id="def"),
        pytest.param("@a\n@b(1)\ndef f():\n    pass\n", "f", 3, 4, 0, id="decorated-def-line-is-def"),
        pytest.param("@dataclass\nclass C:\n    x: int\n", "C", 2, 3, 0, id="decorated-class"),
        pytest.param("class C:\n    async def m(self):\n        pass\n", "C.m", 2, 3, 4, id="async-method"),
        pytest.param("class C:\n    x = [\n        1,\n    ]\n", "C.x", 2, 4, 4, id="multi-line-assignment"),
        pytest.param("a, b = 1, 2\n", "b", 1, 1, 3, id="second-tuple-target"),
        pytest.param("s = 'éé'; t = 1\n", "t", 1, 1, 10, id="col-in-characters-after-non-ascii"),
        pytest.param("x = '日本'; def_ = 1\n", "def_", 1, 1, 10, id="col-after-cjk"),
        pytest.param("é = 1; ü = 2\n", "ü", 1, 1, 7, id="non-ascii-identifiers"),
        pytest.param("if x:\n    def f(): pass\n", "f", 2, 2, 4, id="def-in-if"),
    ],
)
def test_positions(source: str, qualname: str, line: int, end_line: int, col: int) -> None:
    found = symbol(run(source), qualname)
    assert (found["line"], found["end_line"], found["col"]) == (line, end_line, col)


def test_col_with_latin1_coding_cookie() -> None:
    data = "# coding: latin-1\ns = 'é'; t = 1\n".encode("latin-1")
    found = symbol(python.extract(data), "t")
    assert (found["line"], found["col"]) == (2, 9)


# --- signatures -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "signature"),
    [
        pytest.param("def f(): pass", "()", id="empty"),
        pytest.param(
            "def f(self, x: int = 1, *args, **kw) -> Foo: pass", "(self, x: int = 1, *args, **kw) -> Foo", id="brief"
        ),
        pytest.param("def f(a, b=2, c='x'): pass", "(a, b=2, c='x')", id="defaults"),
        pytest.param("def f(a, /, b, *, c, d=4): pass", "(a, /, b, *, c, d=4)", id="posonly-kwonly"),
        pytest.param("def f(a=1, /, b=2): pass", "(a=1, /, b=2)", id="posonly-defaults"),
        pytest.param("def f(*, key: str | None = None): pass", "(*, key: str | None = None)", id="bare-star"),
        pytest.param("def f(*args: int, k, **kw: Any): pass", "(*args: int, k, **kw: Any)", id="annotated-varargs"),
        pytest.param("def f(x:int=1)->'Foo': pass", "(x: int = 1) -> 'Foo'", id="normalised-spacing"),
        pytest.param("def f(cb=lambda x: x + 1): pass", "(cb=lambda x: x + 1)", id="lambda-default"),
        pytest.param("def f(s='é', t: 'ü' = 'ö') -> 'à': pass", "(s='é', t: 'ü' = 'ö') -> 'à'", id="non-ascii"),
        pytest.param(
            "def f(\n    a: Dict[\n        str, int\n    ],\n    b: int = 1,\n) -> List[\n    int\n]:\n    pass",
            "(a: Dict[str, int], b: int = 1) -> List[int]",
            id="multi-line",
        ),
        pytest.param(
            "def f(a: Dict[  # the keys\n        str, int] = {}): pass",
            "(a: Dict[str, int] = {})",
            id="multi-line-with-comment",
        ),
        pytest.param("class C(Base, metaclass=M): pass", "(Base, metaclass=M)", id="class-keywords"),
        pytest.param("class C: pass", "", id="class-no-bases"),
        pytest.param("class C(*bases, **kw): pass", "(*bases, **kw)", id="class-star-args"),
        pytest.param("X: Dict[str, int] = {}", ": Dict[str, int]", id="annotated-variable"),
        pytest.param("X = 1", "", id="plain-variable"),
    ],
)
def test_signatures(source: str, signature: str) -> None:
    assert run(source)["symbols"][0]["signature"] == signature


@pytest.mark.parametrize(
    ("source", "bases"),
    [
        ("class C: pass", []),
        ("class C(A, b.B, Generic[T]): pass", ["A", "b.B", "Generic[T]"]),
        ("class C(A, metaclass=M, **kw): pass", ["A"]),
        ("def f(a, b): pass", []),
    ],
)
def test_bases(source: str, bases: list[str]) -> None:
    assert run(source)["symbols"][0]["bases"] == bases


@pytest.mark.parametrize(
    ("source", "decorators"),
    [
        ("def f(): pass", []),
        ("@property\ndef f(): pass", ["property"]),
        ("@functools.lru_cache(maxsize=None)\n@other\ndef f(): pass", ["functools.lru_cache(maxsize=None)", "other"]),
        ("@register(\n    'name',\n    flag=True,\n)\ndef f(): pass", ["register('name', flag=True,)"]),
        ("@dataclass(frozen=True)\nclass C: pass", ["dataclass(frozen=True)"]),
        ("x = 1", []),
    ],
)
def test_decorators(source: str, decorators: list[str]) -> None:
    assert run(source)["symbols"][0]["decorators"] == decorators


# --- docstrings -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "qualname", "summary"),
    [
        pytest.param('"""Module summary.\n\nMore."""\n', None, "Module summary.", id="module"),
        pytest.param('"""\n\n   Starts later.\n   Second.\n"""\n', None, "Starts later.", id="leading-blank-lines"),
        pytest.param("x = 1\n", None, None, id="no-module-docstring"),
        pytest.param("b'bytes are not docstrings'\n", None, None, id="bytes"),
        pytest.param("x = 1\n'late string'\n", None, None, id="not-first"),
        pytest.param("def f():\n    '''Does f.'''\n", "f", "Does f.", id="function"),
        pytest.param("class C:\n    '''\n    A class.\n    '''\n", "C", "A class.", id="class"),
        pytest.param("def f():\n    return '''no'''\n", "f", None, id="return-value-is-not-docstring"),
        pytest.param("def f():\n    f'''{x} formatted'''\n", "f", None, id="f-string"),
        pytest.param("def f():\n    '''\t\tTabs\there.'''\n", "f", "Tabs    here.", id="tabs-expanded"),
        pytest.param("def f():\n    ''''''\n", "f", None, id="empty-docstring"),
        pytest.param("X = 1\n'''attribute docstring'''\n", "X", None, id="variables-have-none"),
    ],
)
def test_docstrings(source: str, qualname: str | None, summary: str | None) -> None:
    table = run(source)
    assert (table["docstring"] if qualname is None else symbol(table, qualname)["docstring"]) == summary


@pytest.mark.parametrize(
    "doc",
    ["Simple.", "\n    Indented\n    body.\n", "  \n\t\n  First\tline  \n  next", "\n\n\n", "One\r\nTwo"],
)
def test_docstring_summary_matches_ast_get_docstring(doc: str) -> None:
    source = f"def f():\n    {doc!r}\n"
    cleaned = ast.get_docstring(ast.parse(source).body[0], clean=True)  # type: ignore[arg-type]
    expected = next((line.strip() for line in (cleaned or "").splitlines() if line.strip()), None)
    assert run(source)["symbols"][0]["docstring"] == expected


def test_lone_surrogates_are_made_json_safe() -> None:
    table = run('"""\\ud800 odd"""\n__all__ = ["\\udc00"]\n')
    assert table["docstring"] == "? odd"
    assert table["all"] == ["?"]


# --- __all__ ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("x = 1\n", None, id="absent"),
        pytest.param("__all__ = ['a', 'b']\n", ["a", "b"], id="list"),
        pytest.param("__all__ = ('a',)\n", ["a"], id="tuple"),
        pytest.param("__all__: list[str] = ['a']\n", ["a"], id="annotated"),
        pytest.param("__all__ = []\n__all__ += ['a']\n__all__ += ('b',)\n", ["a", "b"], id="augmented"),
        pytest.param("__all__ = ['a']\n__all__.extend(['b', 'c'])\n", ["a", "b", "c"], id="extend"),
        pytest.param("__all__ = ['a']\n__all__.append('b')\n", ["a", "b"], id="append"),
        pytest.param("__all__ = ['a'] + ['b']\n", ["a", "b"], id="literal-concatenation"),
        pytest.param("__all__ = ['a']\n__all__ = ['b']\n", ["b"], id="reassigned"),
        pytest.param("if x:\n    __all__ = ['a']\n", ["a"], id="in-if"),
        pytest.param("__all__ = [name for name in dir()]\n", None, id="comprehension"),
        pytest.param("__all__ = ['a', B]\n", None, id="non-literal-item"),
        pytest.param("__all__ = ['a']\n__all__ += other.__all__\n", None, id="augmented-dynamic"),
        pytest.param("__all__ = ['a']\n__all__.extend(more)\n", None, id="extend-dynamic"),
        pytest.param("__all__ = ['a']\n__all__.append(name)\n", None, id="append-dynamic"),
        pytest.param("__all__ = ['a']\n__all__.remove('a')\n", None, id="other-method"),
        pytest.param("__all__ += ['a']\n", None, id="augment-before-assign"),
        pytest.param("__all__, x = ['a'], 1\n", None, id="tuple-target"),
        pytest.param("__all__ = ['a']\n__all__ -= ['a']\n", None, id="other-operator"),
        pytest.param("class C:\n    __all__ = ['a']\n", None, id="class-level-ignored"),
        pytest.param("def f():\n    __all__ = ['a']\n", None, id="function-level-ignored"),
    ],
)
def test_all(source: str, expected: list[str] | None) -> None:
    assert run(source)["all"] == expected


# --- imports ----------------------------------------------------------------------------------------------------

ImportRow = tuple[str | None, str | None, str | None, int, int, bool]


def import_rows(source: str) -> list[ImportRow]:
    return [
        (i["module"], i["name"], i["asname"], i["level"], i["line"], i["type_checking"]) for i in run(source)["imports"]
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import os\n", [("os", None, None, 0, 1, False)], id="plain"),
        pytest.param("import a.b.c as x\n", [("a.b.c", None, "x", 0, 1, False)], id="dotted-as"),
        pytest.param("import os, sys\n", [("os", None, None, 0, 1, False), ("sys", None, None, 0, 1, False)], id="two"),
        pytest.param(
            "from .codegen.common import IndentedBuffer\n",
            [("codegen.common", "IndentedBuffer", None, 1, 1, False)],
            id="relative",
        ),
        pytest.param("from . import sub\n", [(None, "sub", None, 1, 1, False)], id="from-dot"),
        pytest.param("from ..pkg import a as b\n", [("pkg", "a", "b", 2, 1, False)], id="two-dots-as"),
        pytest.param("from x import *\n", [("x", "*", None, 0, 1, False)], id="star"),
        pytest.param(
            "from m import (\n    a,\n    b as c,\n)\n",
            [("m", "a", None, 0, 1, False), ("m", "b", "c", 0, 1, False)],
            id="parenthesised",
        ),
        pytest.param(
            "def f():\n    import json\n    class K:\n        from a import b\n",
            [("json", None, None, 0, 2, False), ("a", "b", None, 0, 4, False)],
            id="in-function-and-class",
        ),
        pytest.param(
            "try:\n    import ujson as json\nexcept ImportError:\n    import json\n",
            [("ujson", None, "json", 0, 2, False), ("json", None, None, 0, 4, False)],
            id="try-except",
        ),
        pytest.param("if x: import a\n", [("a", None, None, 0, 1, False)], id="one-line-if"),
    ],
)
def test_imports(source: str, expected: list[ImportRow]) -> None:
    assert import_rows(source) == expected


@pytest.mark.parametrize(
    ("source", "flags"),
    [
        pytest.param("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n", [False, True], id="name"),
        pytest.param("import typing\nif typing.TYPE_CHECKING:\n    import a\n", [False, True], id="typing-attribute"),
        pytest.param("if t.x.TYPE_CHECKING:\n    import a\n", [True], id="any-prefix"),
        pytest.param("if TYPE_CHECKING:\n    import a\nelse:\n    import b\n", [True, False], id="else-is-runtime"),
        pytest.param("if TYPE_CHECKING:\n    import a\nelif x:\n    import b\n", [True, False], id="elif-is-runtime"),
        pytest.param(
            "if sys.version_info > (3,):\n    if TYPE_CHECKING:\n        try:\n            import a\n"
            "        except ImportError:\n            import b\n",
            [True, True],
            id="nested-under-if-and-try",
        ),
        pytest.param("if TYPE_CHECKING:\n    def f():\n        import a\n", [True], id="inside-function-inside-block"),
        pytest.param("if TYPE_CHECKING and x:\n    import a\n", [False], id="compound-test-is-not-it"),
        pytest.param("if not TYPE_CHECKING:\n    import a\n", [False], id="negated"),
        pytest.param("def f():\n    if TYPE_CHECKING:\n        import a\n", [True], id="in-function"),
    ],
)
def test_type_checking(source: str, flags: list[bool]) -> None:
    assert [i["type_checking"] for i in run(source)["imports"]] == flags


def test_type_checking_does_not_change_symbols() -> None:
    table = run("if TYPE_CHECKING:\n    X = 1\n    def f(): pass\n")
    assert [(s["qualname"], s["kind"]) for s in table["symbols"]] == [("X", "constant"), ("f", "function")]


# --- order ------------------------------------------------------------------------------------------------------


def test_symbols_are_in_source_order() -> None:
    source = """\
    A = 1
    class C:
        x = 1
        def m(self):
            def inner(): pass
        y = 2
    if z:
        B = 2
    def f(): pass
    """
    names = [s["qualname"] for s in run(source)["symbols"]]
    assert names == ["A", "C", "C.x", "C.m", "C.m.inner", "C.y", "B", "f"]


# --- errors and recovery ----------------------------------------------------------------------------------------


def kinds_of_errors(table: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in table["errors"]]


PY2_SOURCE = b"""\
import os
class Old:
    def m(self):
        print "hello"
    def n(self, (a, b)):
        exec "code"
def f():
    try:
        pass
    except ValueError, e:
        x = `e`
    return 0777
def g():
    return ur"raw"
"""

RECOVERY_CASES = [
    pytest.param(
        b"def before():\n    pass\nx = (\ndef after(a: int) -> int:\n    return a\nclass K:\n    def m(self): pass\n",
        ["syntax"],
        ["before", "after", "K", "K.m"],
        id="defs-before-and-after-the-error",
    ),
    pytest.param(PY2_SOURCE, ["syntax"], ["Old", "Old.m", "Old.n", "f", "g"], id="python-2"),
    pytest.param(b"def f():\n    return '\xff'\ndef g(): pass\n", ["decode"], ["f", "g"], id="invalid-utf-8"),
    pytest.param(b"# -*- coding: uft-8 -*-\ndef f(): pass\n", ["decode"], ["f"], id="unknown-coding-cookie"),
    pytest.param(b"# coding: rot13\ndef f(): pass\n", ["decode"], ["f"], id="non-text-codec-cookie"),
    pytest.param(b"\xef\xbb\xbf# coding: latin-1\ndef f(): pass\n", ["decode"], ["f"], id="bom-and-cookie-clash"),
    pytest.param(b"def f():\n    pass\x00\ndef g(): pass\n", ["null_bytes"], ["f", "g"], id="nul-bytes"),
    pytest.param(b"(" * 300 + b")" * 300, ["syntax"], [], id="too-many-parentheses"),
    pytest.param(b"-" * 100000 + b"1", ["recursion"], [], id="deep-unary"),
    pytest.param(b"def f():\n    pass\n        x = 1\ndef g(): pass\n", ["syntax"], ["f", "g"], id="unexpected-indent"),
    pytest.param(b"class A:\ndef f(): pass\n", ["syntax"], ["A", "f"], id="missing-block"),
    pytest.param(b"def f(a,\n", ["syntax"], ["f"], id="truncated"),
    pytest.param(
        b"def a(): pass\n<<<<<<< HEAD\ndef b(): pass\n=======\n>>>>>>> x\n", ["syntax"], ["a", "b"], id="merge"
    ),
    pytest.param(
        b"class A:\n\tdef f(self):\n\t\tpass\n\tdef g(self):\n        pass\n",
        ["syntax"],
        ["A", "A.f", "A.g"],
        id="tabs",
    ),
    pytest.param(bytes(range(256)) * 8, ["decode", "null_bytes", "syntax"], [], id="binary-junk"),
]


@pytest.mark.parametrize(("data", "errors", "qualnames"), RECOVERY_CASES)
def test_recovery(data: bytes, errors: list[str], qualnames: list[str]) -> None:
    table = python.extract(data)
    assert table["partial"] is True
    assert kinds_of_errors(table) == errors
    assert [s["qualname"] for s in table["symbols"]] == qualnames
    assert_well_formed(table)


@pytest.mark.parametrize(
    ("data", "qualname", "kind", "signature"),
    [
        pytest.param(PY2_SOURCE, "Old.n", "method", "(self, (a, b))", id="py2-tuple-parameters"),
        pytest.param(b"def f[T](x: T) -> T:\n    return x\n", "f", "function", "[T](x: T) -> T", id="pep-695"),
        pytest.param(
            b"class C:\n    @property\n    def p(self): pass\n    print 'x'\n",
            "C.p",
            "property",
            "(self)",
            id="repaired",
        ),
    ],
)
def test_recovered_symbol_details(data: bytes, qualname: str, kind: str, signature: str) -> None:
    found = symbol(python.extract(data), qualname)
    assert (found["kind"], found["signature"]) == (kind, signature)


def test_recovered_table_keeps_imports() -> None:
    table = python.extract(PY2_SOURCE)
    assert [(i["module"], i["line"]) for i in table["imports"]] == [("os", 1)]


def test_line_scan_finds_imports_and_nesting() -> None:
    data = (
        b"from a import (b,\n    c as d)\nif TYPE_CHECKING:\n    import t\nclass K(Base):\n    @staticmethod\n"
        b"    def s(x): print x\n" + b"print 'x'\n" * 30
    )
    table = python.extract(data)
    assert [(i["module"], i["name"], i["asname"], i["type_checking"]) for i in table["imports"]] == [
        ("a", "b", None, False),
        ("a", "c", "d", False),
        ("t", None, None, True),
    ]
    assert [(s["qualname"], s["kind"], s["parent"]) for s in table["symbols"]] == [
        ("K", "class", None),
        ("K.s", "staticmethod", "K"),
    ]
    assert symbol(table, "K")["bases"] == ["Base"]


def test_syntax_error_position() -> None:
    table = python.extract("x = 'éé' $\n".encode())
    assert [(e["kind"], e["line"], e["col"]) for e in table["errors"]] == [("syntax", 1, 9)]


def test_decode_error_position() -> None:
    table = python.extract(b"x = 1\ny = '\xff'\n")
    assert [(e["kind"], e["line"], e["col"]) for e in table["errors"]] == [("decode", 2, 5)]


def test_nul_byte_position() -> None:
    table = python.extract(b"x = 1\nab\x00c = 2\n")
    assert [(e["kind"], e["line"], e["col"]) for e in table["errors"]][:1] == [("null_bytes", 2, 2)]


# --- scale ------------------------------------------------------------------------------------------------------


def test_deeply_nested_defs() -> None:
    source = "".join("    " * depth + f"def f{depth}():\n" for depth in range(99)) + "    " * 99 + "pass\n"
    table = python.extract(source.encode())
    assert table["partial"] is False
    assert table["symbols"][-1]["qualname"] == ".".join(f"f{depth}" for depth in range(99))


def test_deeply_nested_ifs_in_a_class_body() -> None:
    source = (
        "class C:\n" + "".join(" " * (depth + 1) + "if x:\n" for depth in range(97)) + " " * 98 + "def m(self): pass\n"
    )
    assert [(s["qualname"], s["kind"]) for s in run(source)["symbols"]] == [("C", "class"), ("C.m", "method")]


def test_nesting_beyond_the_parser_limit_is_recovered() -> None:
    source = "".join(" " * depth + f"def f{depth}():\n" for depth in range(150)) + " " * 150 + "pass\n"
    table = python.extract(source.encode())
    assert table["partial"] is True
    assert len(table["symbols"]) == 150
    assert table["symbols"][-1]["parent"] == ".".join(f"f{depth}" for depth in range(149))


def test_one_megabyte_generated_file() -> None:
    source = "".join(
        f"def function_{n:05}(a: int, b: str = 'x', *args, **kw) -> None:\n    pass\n\n" for n in range(14000)
    )
    assert len(source) > 1_000_000
    table = python.extract(source.encode())
    assert (table["partial"], len(table["symbols"])) == (False, 14000)
    assert table["symbols"][-1]["signature"] == "(a: int, b: str = 'x', *args, **kw) -> None"


# --- never raises, JSON, deterministic --------------------------------------------------------------------------

NASTY_INPUTS = [
    b"",
    b"\n\n  \n",
    b"\x00",
    b"\xff\xfe\x00\x00",
    b"\xef\xbb\xbf",
    b"\xef\xbb\xbfdef f(): pass\n",
    b"# coding: utf-16\ndef f(): pass\n",
    b"# coding: undefined\ndef f(): pass\n",
    b"# coding: unicode_escape\nx = '\\ud800'\n",
    b"# coding: hex\ndef f(): pass\n",
    b"def f(:\n",
    b"class\n",
    b"def\n",
    b"@\n",
    b"'''unterminated\ndef f(): pass\n",
    b"x = '\\N{BOGUS}'\n",
    b"1" * 5000 + b"\n",
    b"\\\n",
    b"\t\t\tdef f(): pass\n",
    b"if 1:\n\tpass\n        pass\n",
    b"x\r\ry\r\n",
    b"\x0cdef f(): pass\n",
    b"[" * 1000,
    b"f(" * 5000 + b")" * 5000,
    b"not " * 50000 + b"x",
    b"x = " + b"[" * 150 + b"]" * 150 + b"\n",
    b"lambda: " * 3000 + b"0",
    b"def f(): pass\n" * 3 + b"\x80\x81" + b"class C: pass\n",
    "def 名前(引数): pass\n".encode(),
    b"def f():\n    '''\\ud800'''\n",
]


@pytest.mark.parametrize("data", NASTY_INPUTS, ids=range(len(NASTY_INPUTS)))
def test_never_raises_and_is_json_and_deterministic(data: bytes) -> None:
    table = python.extract(data)
    assert_well_formed(table)
    assert python.extract(data) == table
    assert orjson.dumps(table, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        python.extract(data), option=orjson.OPT_SORT_KEYS
    )


@pytest.mark.parametrize("source", [KINDS_SOURCE, PY2_SOURCE.decode()], ids=["clean", "python-2"])
def test_well_formed_tables(source: str) -> None:
    assert_well_formed(run(source))
