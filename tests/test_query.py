"""kwbuild.query and the read commands (`query`, `deps`) on a small tree built in tmp_path."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kwbuild import jsonio
from kwbuild.commands_read import register
from kwbuild.errors import UserError
from kwbuild.query import (
    BadQuery,
    NotFound,
    SymbolIndex,
    check_rel_path,
    deps_of,
    file_deps,
    find_symbols,
    load_symbol_index,
    parse_query,
)
from tests.conftest import Project

SOURCES = {
    "shop/__init__.py": '"""A tiny shop."""\nfrom .cart import Cart\n',
    "shop/cart.py": (
        '"""Carts."""\nfrom shop.pricing import price_of\n\n\nclass Cart:\n    """A cart."""\n\n'
        "    def add(self, name):\n        return price_of(name)\n\n\nclass CartItem:\n    pass\n\n\n"
        "def cart_total(cart):\n    return 0\n"
    ),
    "shop/pricing.py": (
        '"""Prices."""\nCART = 1\n\n\ndef price_of(name):\n    """The price of <b>name</b>."""\n    return 1\n'
    ),
    "app.py": (
        '"""The app."""\nimport os\nfrom shop.cart import Cart\nfrom shop import pricing\n\n\n'
        "class App:\n    def add(self):\n        return Cart()\n"
    ),
}


@pytest.fixture
def built(project: Project) -> Project:
    for rel, text in SOURCES.items():
        project.write(rel, text)
    project.build()
    return project


@pytest.fixture
def index(built: Project) -> SymbolIndex:
    return load_symbol_index(built.out)


def where(results: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(r["path"], r["qualname"], r["kind"], r["line"]) for r in results]


@pytest.mark.parametrize(
    ("q", "kind", "expected"),
    [
        ("Cart", None, [("shop/cart.py", "Cart"), ("shop/pricing.py", "CART")]),
        ("cart", None, [("shop/pricing.py", "CART"), ("shop/cart.py", "Cart")]),
        ("add", None, [("app.py", "App.add"), ("shop/cart.py", "Cart.add")]),
        ("Cart.add", None, [("shop/cart.py", "Cart.add")]),
        ("shop.cart.Cart", None, [("shop/cart.py", "Cart")]),
        ("cart.add", None, [("shop/cart.py", "Cart.add")]),
        (
            "Cart*",
            None,
            [("shop/cart.py", n) for n in ("Cart", "CartItem")]
            + [("shop/pricing.py", "CART")]
            + [("shop/cart.py", "cart_total")],
        ),
        ("Cart*", "class", [("shop/cart.py", "Cart"), ("shop/cart.py", "CartItem")]),
        ("Cart.*", None, [("shop/cart.py", n) for n in ("Cart.add", "Cart", "CartItem", "cart_total")]),
        ("Nothing", None, []),
        ("a.b.", None, []),
        ("add", "unknownkind", []),
    ],
)
def test_find_symbols(index: SymbolIndex, q: str, kind: str | None, expected: list[tuple[str, str]]) -> None:
    page = find_symbols(index, q, kind=kind)
    assert [(r["path"], r["qualname"]) for r in page.results] == expected
    assert page.total == len(expected) and page.next_offset is None


def test_results_carry_path_module_qualname_kind_line(index: SymbolIndex) -> None:
    [result] = find_symbols(index, "price_of").results
    assert result == {
        "name": "price_of",
        "path": "shop/pricing.py",
        "module": "shop.pricing",
        "qualname": "price_of",
        "kind": "function",
        "line": 5,
    }


def test_pagination_walks_every_result_once(index: SymbolIndex) -> None:
    everything = find_symbols(index, "*", limit=1000)
    seen, offset = [], 0
    while True:
        page = find_symbols(index, "*", limit=3, offset=offset)
        seen += page.results
        assert page.total == everything.total
        if page.next_offset is None:
            break
        offset = page.next_offset
    assert seen == everything.results and len(seen) == everything.total > 6


def test_modes_and_the_plain_symbol_map(built: Project) -> None:
    symbol_map = jsonio.read_json(built.out / "symbols.json")
    assert (
        where(find_symbols(symbol_map, "Cart", mode="prefix").results)[:2]
        == where(find_symbols(symbol_map, "Cart*").results)[:2]
    )
    assert find_symbols(symbol_map, "Cart.add", mode="exact").results == []
    assert len(find_symbols(symbol_map, "add", mode="qualified").results) == 2


@pytest.mark.parametrize("q", ["", "x" * 257, "a\x00b", "tab\there"])
def test_bad_queries(q: str) -> None:
    with pytest.raises(BadQuery):
        parse_query(q)


def test_bad_mode_and_kind(index: SymbolIndex) -> None:
    with pytest.raises(BadQuery):
        find_symbols(index, "Cart", mode="fuzzy")
    with pytest.raises(BadQuery):
        find_symbols(index, "Cart", kind="Class!")


@pytest.mark.parametrize("path", ["../x.py", "a/../../x.py", "a//b.py", "a\\b.py", "a\x00.py", ".", "a/./b.py"])
def test_check_rel_path_refuses_escapes(path: str) -> None:
    with pytest.raises(BadQuery):
        check_rel_path(path)


def test_file_deps(built: Project) -> None:
    deps = file_deps(built.out, "shop/cart.py")
    assert deps["path"] == "shop/cart.py" and deps["module"] == "shop.cart"
    [imp] = deps["imports"]
    assert (imp["resolution"], imp["resolved_path"], imp["resolved_symbol"]) == (
        "symbol",
        "shop/pricing.py",
        "price_of",
    )
    assert [e["path"] for e in deps["imported_by"]] == ["app.py", "shop/__init__.py"]
    assert file_deps(built.out, "./app.py")["imports"][0]["resolution"] == "external"


def test_deps_of_without_links_is_the_table_alone() -> None:
    table = {"path": "a.py", "module": "a", "imports": [{"module": "os", "name": None}]}
    assert deps_of(table, None) == {"path": "a.py", "module": "a", "imports": table["imports"], "imported_by": []}


def test_file_deps_errors(built: Project, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        file_deps(built.out, "shop/missing.py")
    with pytest.raises(BadQuery):
        file_deps(built.out, "../src/app.py")
    with pytest.raises(NotFound, match="holds no kwbuild build"):
        file_deps(tmp_path / "nowhere", "app.py")


# ---------------------------------------------------------------- the commands


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_query_command_prints_one_line_per_definition(built: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["query", "add", "--out", str(built.out)]) == 0
    assert capsys.readouterr().out.splitlines() == ["app.py:8: method App.add", "shop/cart.py:8: method Cart.add"]
    assert run(["query", "Cart*", "--kind", "class", "--json", "--out", str(built.out)]) == 0
    result = jsonio.loads(capsys.readouterr().out)
    assert result["total"] == 2 and [r["qualname"] for r in result["results"]] == ["Cart", "CartItem"]


def test_query_command_exit_codes(built: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["query", "Nothing", "--out", str(built.out)]) == 1
    assert capsys.readouterr().out == ""
    assert run(["query", "Cart*", "--limit", "1", "--out", str(built.out)]) == 0
    assert "3 more" in capsys.readouterr().err
    for argv in (["query", "", "--out", str(built.out)], ["query", "x", "--out", str(built.out / "no")]):
        with pytest.raises(UserError):
            run(argv)


def test_deps_command(built: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["deps", "shop/cart.py", "--out", str(built.out)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "shop/cart.py (shop.cart)",
        "imports (1):",
        "  shop/cart.py:2: from shop.pricing import price_of -> shop/pricing.py (price_of)",
        "imported by (2):",
        "  app.py:3: Cart",
        "  shop/__init__.py:2: Cart",
    ]
    assert run(["deps", "app.py", "--json", "--out", str(built.out)]) == 0
    imports = jsonio.loads(capsys.readouterr().out)["imports"]
    assert [i["resolution"] for i in imports] == ["external", "symbol", "module"]
    with pytest.raises(UserError, match="no table"):
        run(["deps", "nope.py", "--out", str(built.out)])
