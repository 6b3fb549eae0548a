"""The C/C++ extractor on inline snippets: kinds, qualnames, signatures, docstrings, includes, bad input."""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import textwrap
import time
from typing import Any

import orjson
import pytest

from kwbuild import jsonio
from kwbuild.extract import cpp, cpp_blank, cpp_diagnostics, cpp_walk
from kwbuild.model import content_hash, load_schema, make_cached_table, place_table
from tests.conftest import Project

SYMBOL_KEYS = set(load_schema()["$defs"]["symbol"]["required"])  # the schema's one list
KINDS = {
    "namespace",
    "class",
    "struct",
    "union",
    "enum",
    "enumerator",
    "typedef",
    "alias",
    "function",
    "method",
    "constructor",
    "destructor",
    "macro",
    "function_macro",
    "variable",
    "field",
}


def extract(source: str | bytes) -> dict[str, Any]:
    data = source if isinstance(source, bytes) else textwrap.dedent(source).encode()
    table = cpp.extract(data)
    check_shape(table)
    return table


def check_shape(table: dict[str, Any]) -> None:
    assert set(table) == {"language", "docstring", "all", "partial", "symbols", "imports", "errors"}
    assert table["language"] == "cpp" and table["all"] is None
    for symbol in table["symbols"]:
        assert set(symbol) == SYMBOL_KEYS
        assert symbol["kind"] in KINDS
        assert symbol["decorators"] == [] and symbol["is_async"] is False
        assert 1 <= symbol["line"] <= symbol["end_line"] and symbol["col"] >= 0
        assert symbol["qualname"] == (f"{symbol['parent']}::{symbol['name']}" if symbol["parent"] else symbol["name"])
    lines = [(symbol["line"], symbol["col"]) for symbol in table["symbols"]]
    assert lines == sorted(lines), "symbols are in source order"
    for error in table["errors"]:
        assert set(error) == {"kind", "message", "line", "col"}


def find(table: dict[str, Any], qualname: str) -> dict[str, Any]:
    matches = [symbol for symbol in table["symbols"] if symbol["qualname"] == qualname]
    assert matches, f"{qualname} not in {[symbol['qualname'] for symbol in table['symbols']]}"
    symbol: dict[str, Any] = matches[0]
    return symbol


# --- kinds and qualnames ------------------------------------------------------------------------------------

KIND_CASES = [
    ("namespace a { }", "a", "namespace", None),
    ("namespace a::b { int f(); }", "a::b", "namespace", "a"),
    ("namespace a::b { int f(); }", "a::b::f", "function", "a::b"),
    ("namespace { void hidden() {} }", "(anonymous)::hidden", "function", "(anonymous)"),
    ("namespace c10 { inline namespace v1 { struct S {}; } }", "c10::v1::S", "struct", "c10::v1"),
    ("namespace n { class C : public B {}; }", "n::C", "class", "n"),
    ("union U { int i; float f; };", "U", "union", None),
    ("union U { int i; float f; };", "U::f", "field", "U"),
    ("enum class Color : int { Red = 1, Green };", "Color", "enum", None),
    ("enum class Color : int { Red = 1, Green };", "Color::Green", "enumerator", "Color"),
    ("enum Plain { A, B };", "Plain::B", "enumerator", "Plain"),
    ("typedef unsigned long size_type;", "size_type", "typedef", None),
    ("typedef struct { int q; } Anon;", "Anon::q", "field", "Anon"),
    ("typedef void (*callback_t)(int);", "callback_t", "typedef", None),
    ("namespace n { using Vec = std::vector<int>; }", "n::Vec", "alias", "n"),
    ("int add(int a, int b) { return a + b; }", "add", "function", None),
    ("template <typename T> T twice(T x) { return x + x; }", "twice", "function", None),
    ("bool operator==(const A& a, const A& b);", "operator==", "function", None),
    ("struct S { void m() const; };", "S::m", "method", "S"),
    ("struct S { S(int x); };", "S::S", "constructor", "S"),
    ("struct S { ~S(); };", "S::~S", "destructor", "S"),
    ("struct S { bool operator<(const S& o) const { return false; } };", "S::operator<", "method", "S"),
    ("struct S { explicit operator bool() const; };", "S::operator bool", "method", "S"),
    ("struct S { template <typename T> T get() const; };", "S::get", "method", "S"),
    ("struct S { int count_ = 0; static constexpr int kMax = 3; };", "S::kMax", "field", "S"),
    ("struct Outer { struct Inner { int x; }; };", "Outer::Inner::x", "field", "Outer::Inner"),
    ("namespace n { int counter = 0; const char* names[] = {}; }", "n::names", "variable", "n"),
    ("extern int global_count;", "global_count", "variable", None),
    ("void (*handler)(int);", "handler", "variable", None),
    ('extern "C" { int c_function(void); }', "c_function", "function", None),
    ("#define ANSWER 42", "ANSWER", "macro", None),
    ("#define MAX(a, b) ((a) > (b) ? (a) : (b))", "MAX", "function_macro", None),
    ("#ifdef USE_X\n#define X_ON 1\nclass InBranch { void m(); };\n#endif", "InBranch::m", "method", "InBranch"),
    ("#if defined(A)\nint a();\n#elif defined(B)\nint b();\n#else\nint c();\n#endif", "c", "function", None),
    ("void f() {\n#define LOCAL_MACRO 1\n}", "LOCAL_MACRO", "macro", None),
    ("enum E {\n  A,\n#define IN_ENUM 1\n  B\n};", "IN_ENUM", "macro", None),
]


@pytest.mark.parametrize(("source", "qualname", "kind", "parent"), KIND_CASES)
def test_kinds_and_qualnames(source: str, qualname: str, kind: str, parent: str | None) -> None:
    symbol = find(extract(source), qualname)
    assert (symbol["kind"], symbol["parent"]) == (kind, parent)


OUT_OF_CLASS_CASES = [
    ("namespace ns { void A::B::f() {} }", "ns::A::B::f", "f", "method", "ns::A::B"),
    ("void c10::TensorImpl::release() {}", "c10::TensorImpl::release", "release", "method", "c10::TensorImpl"),
    ("A::A(int x) : x_(x) {}", "A::A", "A", "constructor", "A"),
    ("A::~A() {}", "A::~A", "~A", "destructor", "A"),
    ("template <typename T> T Box<T>::get() const { return v; }", "Box::get", "get", "method", "Box"),
    ("bool A::operator==(const A& o) const { return true; }", "A::operator==", "operator==", "method", "A"),
    ("A::operator bool() const { return true; }", "A::operator bool", "operator bool", "method", "A"),
    ("inline A::operator float() const { return 1; }", "A::operator float", "operator float", "method", "A"),
    (
        "namespace ns { namespace detail {} void detail::helper() {} }",
        "ns::detail::helper",
        "helper",
        "function",
        "ns::detail",
    ),
    ("struct S { friend bool operator!=(S, S) { return false; } };", "operator!=", "operator!=", "function", None),
]


@pytest.mark.parametrize(("source", "qualname", "name", "kind", "parent"), OUT_OF_CLASS_CASES)
def test_out_of_class_definitions(source: str, qualname: str, name: str, kind: str, parent: str | None) -> None:
    symbol = find(extract(source), qualname)
    assert (symbol["name"], symbol["kind"], symbol["parent"]) == (name, kind, parent)


def test_nested_namespaces_are_each_a_symbol_and_anonymous_ones_are_named() -> None:
    table = extract("namespace a::inline b::c { namespace { struct S {}; } }")
    assert [symbol["qualname"] for symbol in table["symbols"]] == [
        "a",
        "a::b",
        "a::b::c",
        "a::b::c::(anonymous)",
        "a::b::c::(anonymous)::S",
    ]


def test_forward_declarations_are_not_definitions() -> None:
    assert extract("class Foo;\nstruct Bar;\nenum class E : int;\n")["symbols"] == []


def test_bases_of_classes_and_structs() -> None:
    table = extract("class D : public Base, private virtual Mixin<int, 2> {};\nstruct E final : Base {};")
    assert find(table, "D")["bases"] == ["public Base", "private virtual Mixin<int, 2>"]
    assert find(table, "E")["bases"] == ["Base"]


# --- signatures, lines, columns ------------------------------------------------------------------------------

SIGNATURE_CASES = [
    ("int add(int a,\n        int b);", "add", "int add(int a, int b)"),
    ("struct S { IntArrayRef sizes() const; };", "S::sizes", "IntArrayRef sizes() const"),
    ("bool operator==(const T& a, const T& b);", "operator==", "bool operator==(const T& a, const T& b)"),
    ("template <typename T>\nT twice(T x) { return x; }", "twice", "template <typename T> T twice(T x)"),
    ("struct S { S(int x) noexcept; };", "S::S", "S(int x) noexcept"),
    ("auto f() -> int;", "f", "auto f() -> int"),
    ("TORCH_API at::Tensor abs(const at::Tensor& self);", "abs", "at::Tensor abs(const at::Tensor& self)"),
    ("#define MAX(a,  b) ((a) > (b))", "MAX", "(a, b)"),
    ("#define ANSWER 42 /* the answer */", "ANSWER", "42"),
    ("#define LONG " + "x" * 200, "LONG", "x" * 80),
    ("#define MULTI 1 + \\\n  2", "MULTI", "1 + 2"),
    ("typedef unsigned long size_type;", "size_type", "unsigned long"),
    ("typedef struct Tag { int a; } Tag_t;", "Tag_t", "struct Tag"),
    ("using Vec = std::vector<int>;", "Vec", "std::vector<int>"),
    ("template <typename T> using Ptr = T*;", "Ptr", "template <typename T> T*"),
    ("enum class Color : int { Red = 1 };", "Color::Red", "= 1"),
    ("static const int kLimit = 10;", "kLimit", "static const int kLimit"),
    ("int first = 1, *second;", "second", "int *second"),
]


@pytest.mark.parametrize(("source", "qualname", "signature"), SIGNATURE_CASES)
def test_signatures(source: str, qualname: str, signature: str) -> None:
    assert find(extract(source), qualname)["signature"] == signature


def test_line_is_the_name_line_and_end_line_the_last() -> None:
    source = "namespace n {\n\ntemplate <typename T>\nstruct Box {\n  T value;\n};\n\n}  // namespace n\n"
    table = extract(source)
    box = find(table, "n::Box")
    assert (box["line"], box["end_line"], box["col"]) == (4, 6, 7)
    namespace = find(table, "n")
    assert (namespace["line"], namespace["end_line"], namespace["col"]) == (1, 8, 10)
    assert find(table, "n::Box::value")["line"] == 5


def test_columns_count_characters_not_bytes() -> None:
    table = extract("/* \u00e9\u00e9 */ int caf\u00e9 = 1; int after = 2;\n")
    assert find(table, "caf\u00e9")["col"] == 13
    assert find(table, "after")["col"] == 27


# --- docstrings ---------------------------------------------------------------------------------------------

DOC_CASES = [
    ("/// Adds two numbers.\n/// More text.\nint add(int a, int b);", "add", "Adds two numbers."),
    ("//! Qt style.\nvoid f();", "f", "Qt style."),
    ("/**\n * The tensor impl.\n *\n * Details.\n */\nclass TensorImpl {};", "TensorImpl", "The tensor impl."),
    ("/* ---------- */\n/* Real summary. */\nvoid g();", "g", "Real summary."),
    ("// A plain block\n// of two lines.\nstruct S {};", "S", "A plain block"),
    ("// Above the macro.\n#define ANSWER 42", "ANSWER", "Above the macro."),
    ("struct S {\n  /// The count.\n  int count;\n};", "S::count", "The count."),
    ("int a;  // about a\nint b;", "b", None),
    ("// Detached.\n\nint c;", "c", None),
    ("void f();\n/// After f, before g.\nvoid g();", "g", "After f, before g."),
]


@pytest.mark.parametrize(("source", "qualname", "docstring"), DOC_CASES)
def test_docstrings_from_the_comment_above(source: str, qualname: str, docstring: str | None) -> None:
    assert find(extract(source), qualname)["docstring"] == docstring


@pytest.mark.parametrize(
    ("source", "docstring"),
    [
        ("// Copyright 2024.\n// Second line.\n#pragma once\n", "Copyright 2024."),
        ("/** @file\n * Tensor helpers.\n */\n#pragma once\n", "@file"),
        ("#pragma once\n// Not at the start.\n", None),
    ],
)
def test_file_docstring_is_the_leading_comment(source: str, docstring: str | None) -> None:
    assert extract(source)["docstring"] == docstring


# --- includes -----------------------------------------------------------------------------------------------


def test_includes_system_and_quoted_wherever_they_are() -> None:
    source = '#include <vector>\n#  include "c10/core/Tensor.h"\nnamespace n {\n#include "inside.def"\n}\n'
    source += "void f() {\n#include <in_body.h>\n}\n/* #include <commented.h> */\n#include HEADER_MACRO\n"
    rows = extract(source)["imports"]
    assert [(row["module"], row["line"], row["system"]) for row in rows] == [
        ("vector", 1, True),
        ("c10/core/Tensor.h", 2, False),
        ("inside.def", 4, False),
        ("in_body.h", 7, True),
        ("HEADER_MACRO", 10, False),
    ]
    assert all(
        (row["name"], row["asname"], row["level"], row["type_checking"]) == (None, None, 0, False) for row in rows
    )


# --- macros the grammar does not know -----------------------------------------------------------------------


def test_attribute_macros_are_blanked_keeping_offsets() -> None:
    source = b'#define TORCH_API __attribute__((visibility("default")))\nclass TORCH_API Tensor : public Base {\n'
    source += b"  static constexpr int UNDEFINED_DEVICE = -1;\n  C10_HOST_DEVICE int size() const;\n};\n"
    prepared = cpp_blank.prepare_source(source)
    assert len(prepared) == len(source) and prepared.count(b"\n") == source.count(b"\n")
    assert b"#define TORCH_API" in prepared and b"class TORCH_API" not in prepared
    table = extract(source)
    assert table["partial"] is False
    assert find(table, "Tensor")["bases"] == ["public Base"]
    assert find(table, "Tensor::UNDEFINED_DEVICE")["kind"] == "field"
    assert find(table, "Tensor::size")["signature"] == "int size() const"
    assert find(table, "TORCH_API")["kind"] == "macro"


def test_statement_macros_and_split_declarations_keep_what_follows() -> None:
    source = """\
        #if !defined(STABLE)
        C10_DIAGNOSTIC_PUSH_AND_IGNORED_IF_DEFINED("-Wswitch-default")
        namespace torch::autograd {
        #ifdef _WIN32
        struct AbsBackward0 : public Node {
        #else
        struct TORCH_API AbsBackward0 : public Node {
        #endif
          void apply();
        };
        enum Last { FIRST, LAST_ONE
        };
        }  // namespace torch::autograd
        C10_DIAGNOSTIC_POP()
        #else
        #error "not here"
        #endif
    """
    table = extract(source)
    assert find(table, "torch::autograd::AbsBackward0")["line"] == 5  # the first branch, as ctags
    assert find(table, "torch::autograd::AbsBackward0::apply")["kind"] == "method"
    assert find(table, "torch::autograd::Last::LAST_ONE")["kind"] == "enumerator"


def test_if_zero_branches_are_dead_code() -> None:
    table = extract("#if 0\nint dead();\n#else\nint alive();\n#endif\n")
    assert [symbol["name"] for symbol in table["symbols"]] == ["alive"]


# --- bad input ----------------------------------------------------------------------------------------------


def test_unbalanced_braces_keep_symbols_before_and_after() -> None:
    source = "namespace n {\nint before();\nvoid broken( {\n}\n}\nclass After { void m(); };\nint last();\n"
    table = extract(source)
    assert table["partial"] is True
    # `class After {` ends up inside the ERROR of `broken(`'s argument list: its tokens still name it
    assert {"before", "After", "last"} <= {symbol["name"] for symbol in table["symbols"]}
    assert table["errors"] and all(error["kind"] == "syntax" for error in table["errors"])
    assert isinstance(table["errors"][0]["line"], int)


def test_error_nodes_keep_their_scopes() -> None:
    source = "namespace c10 {\nstruct C10_API Impl : public Target {\n  int broken( = ;\n  void kept();\n};\n}\n"
    table = extract(source)
    assert table["partial"] is True
    assert find(table, "c10::Impl::kept")["kind"] == "method"


@pytest.mark.parametrize(
    "source",
    [b"int ok();\n/* never closed", b'int ok();\nconst char* s = "never closed', b"int ok();\n#define X \\", b"ok"],
)
def test_unterminated_comments_and_strings_do_not_crash(source: bytes) -> None:
    table = extract(source)
    assert orjson.dumps(table)


def test_binary_junk_is_recorded_and_not_parsed() -> None:
    table = extract(bytes(range(256)) * 64)
    assert table["symbols"] == [] and table["partial"] is True
    assert [error["kind"] for error in table["errors"]] == ["binary"]


def test_invalid_utf8_is_a_decode_error_and_names_are_replaced() -> None:
    table = extract(b"int ok();\nint bad\xff_name();\n")
    decode = [error for error in table["errors"] if error["kind"] == "decode"]
    assert decode and (decode[0]["line"], decode[0]["col"]) == (2, 7)
    assert find(table, "ok")["kind"] == "function"
    assert orjson.dumps(table)


def test_syntax_errors_are_capped_with_a_summary() -> None:
    table = extract("".join(f"int f{index}( = ;\n" for index in range(100)))
    errors = table["errors"]
    assert len(errors) == cpp_diagnostics.MAX_SYNTAX_ERRORS + 1
    assert errors[-1]["message"].endswith("more syntax errors") and errors[-1]["line"] is None
    assert [error["line"] for error in errors[:-1]] == sorted(error["line"] for error in errors[:-1])


def test_files_over_the_size_limit_are_not_parsed() -> None:
    table = extract(b"int x;\n" + b" " * cpp.MAX_BYTES)
    assert table["symbols"] == [] and [error["kind"] for error in table["errors"]] == ["size"]


@pytest.mark.parametrize("opening", [b"namespace a { ", b"struct a { ", b"class a { int x; "])
def test_deep_nesting_is_capped(opening: bytes) -> None:
    table = extract(opening * 2_000)
    assert [error["kind"] for error in table["errors"]][-1] == "depth" and table["partial"] is True
    assert max(symbol["qualname"].count("::") for symbol in table["symbols"]) <= cpp_walk.MAX_DEPTH


def test_empty_file() -> None:
    assert extract(b"") == cpp.extract(b"") and extract(b"")["symbols"] == []


def test_a_5_mb_generated_header_is_extracted_quickly() -> None:
    parts = []
    for index in range(60_000):
        comment = f"/* generated value number {index} of the table */"
        parts.append(f"#define GENERATED_{index:05d} ({index} * 2 + 1)  {comment}\n")
        if index % 10 == 0:
            body = f"static inline int generated_{index:05d}(int x, int y) {{ return x; }}"
            parts.append(f"/// Function {index}.\n{body}\n")
    data = "".join(parts).encode()
    assert len(data) > 5_000_000
    start = time.process_time()
    table = cpp.extract(data)
    seconds = time.process_time() - start
    kinds = [symbol["kind"] for symbol in table["symbols"]]
    assert kinds.count("macro") == 60_000 and kinds.count("function") == 6_000
    assert find(table, "generated_59990")["docstring"] == "Function 59990."
    assert seconds < 15, f"{seconds:.1f} s of CPU for a {len(data) / 1e6:.1f} MB header"


def _random_blob(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return rng.randbytes(rng.randrange(0, 4000))
    tokens = [b"namespace", b"class", b"struct", b"enum", b"union", b"{", b"}", b"(", b")", b";", b"::", b"~",
              b"template <", b">", b"operator", b"#if 0\n", b"#else\n", b"#endif\n", b"#define X(a) a\n", b"\\\n",
              b"TORCH_API", b"C10_DIAGNOSTIC_POP()\n", b"int", b"f", b"/*", b"*/", b"//", b'"', b"'", b"\n",
              b"#include <a>\n", b'extern "C"', b"typedef", b"using", b"=", b"\xff", b"\xc3\xa9"]  # fmt: skip
    return b" ".join(rng.choice(tokens) for _ in range(rng.randrange(0, 600)))


def test_never_raises_on_random_bytes() -> None:
    rng = random.Random(20240613)
    for _ in range(200):
        data = _random_blob(rng)
        table = cpp.extract(data)
        check_shape(table)
        orjson.dumps(table, option=orjson.OPT_SORT_KEYS)


# --- the table as data: serialisable, deterministic, fork-safe -----------------------------------------------

SAMPLE = b"""\
// Sample header.
#pragma once
#include <vector>
namespace c10 {
/// A tensor.
class C10_API TensorImpl : public intrusive_ptr_target {
 public:
  TensorImpl();
  IntArrayRef sizes() const;
};
#define C10_SAMPLE(x) (x)
}  // namespace c10
"""


@pytest.mark.parametrize(
    "source",
    [
        SAMPLE,
        b"",
        b"int broken( = ;\n" * 30,
        bytes(range(256)),
        b"int caf\xff();\n",
        *(case[0].encode() for case in KIND_CASES),
    ],
)
def test_placed_tables_match_the_published_schema(source: bytes) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    cached = make_cached_table(source, content_hash(source), cpp.NAME, cpp.VERSION, cpp.extract(source))
    jsonschema.validate(place_table(cached, "include/sample.h", None), load_schema())


def test_json_serialisable_and_deterministic() -> None:
    first = orjson.dumps(cpp.extract(SAMPLE), option=orjson.OPT_SORT_KEYS)
    assert first == orjson.dumps(cpp.extract(SAMPLE), option=orjson.OPT_SORT_KEYS)
    code = "import sys, orjson; from kwbuild.extract import cpp; "
    code += "sys.stdout.buffer.write(orjson.dumps(cpp.extract(sys.stdin.buffer.read()), option=orjson.OPT_SORT_KEYS))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], input=SAMPLE, capture_output=True, env=env, check=True)
    assert other.stdout == first


def _extract_in_child(data: bytes) -> bytes:
    return orjson.dumps(cpp.extract(data), option=orjson.OPT_SORT_KEYS)


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_parser_built_before_a_fork_works_in_the_children() -> None:
    expected = _extract_in_child(SAMPLE)  # builds the parser in this process first
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_extract_in_child, [SAMPLE] * 4) == [expected] * 4


def test_includes_resolve_from_the_including_folder_then_the_include_roots(project: Project) -> None:
    """`"x.h"` from the including file's folder first (two folders, two different `x.h`), then the tree's root and
    `include` folders; `<x>` from those roots only, else external; a quoted one found nowhere is unresolved."""
    for rel in ("a/x.h", "b/x.h", "include/lib/y.h"):
        project.write(rel, "int v;\n")
    includes = '#include "x.h"\n#include <lib/y.h>\n#include "lib/y.h"\n#include <x.h>\n#include "nope.h"\n'
    for folder in ("a", "b"):
        project.write(f"{folder}/main.cpp", includes + "int main() { return 0; }\n")
    project.build()
    for folder in ("a", "b"):
        links = jsonio.read_json(project.out / "links" / folder / "main.cpp.json")
        assert [(r["resolution"], r["resolved_path"], r["resolved_module"]) for r in links["imports"]] == [
            ("module", f"{folder}/x.h", None),
            ("module", "include/lib/y.h", None),
            ("module", "include/lib/y.h", None),
            ("external", None, "x.h"),
            ("unresolved", None, "nope.h"),
        ]
