"""Golden pages: build a small tree made for the purpose and compare every Markdown page with the committed copy.

Regenerate the goldens after an intended change (never edit them by hand):

    KWBUILD_REGEN_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kwbuild.cli import main
from tests.linkcheck import check_links

HERE = Path(__file__).parent / "data" / "golden"
SOURCE = HERE / "src"
EXPECTED = HERE / "expected"
REGEN = os.environ.get("KWBUILD_REGEN_GOLDEN") == "1"


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("golden")
    root = base / "src"
    shutil.copytree(SOURCE, root)  # a copy: the build must not write next to the committed sources
    out = base / "out"
    assert main(["build", str(root), "--out", str(out), "--cache", str(base / "cache"), "-q"]) == 0
    if REGEN:
        shutil.rmtree(EXPECTED, ignore_errors=True)
        shutil.copytree(out / "docs", EXPECTED)
    return out / "docs"


def _pages(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.md"))}


def test_every_page_matches_its_golden_copy(docs: Path) -> None:
    got, expected = _pages(docs), _pages(EXPECTED)
    assert sorted(got) == sorted(expected)
    for name, text in got.items():
        assert text == expected[name], f"{name} differs from its golden copy (see the module docstring)"


def test_each_kind_of_page_is_covered(docs: Path) -> None:
    names = set(_pages(docs))
    assert {"shop/cart.py_kw.md", "shop/cart.py_docs.md", "shop/index.md", "index.md"} <= names
    assert {"keywords.md", "modules.md", "imports.md"} <= names
    assert "odd dir/café (v2) #1.py_docs.md" in names


def test_every_link_resolves(docs: Path) -> None:
    checked, problems = check_links(docs, SOURCE)
    assert checked > 50
    assert problems == []


def test_docstrings_cannot_inject_markup(docs: Path) -> None:
    text = "".join(_pages(docs).values())
    assert "<b>" not in text and "<img" not in text and "<script" not in text
    assert "](http://evil.example)" not in text
    assert "![x](y.png)" not in text


def test_imports_resolve_through_reexports(docs: Path) -> None:
    cart = (docs / "shop/cart.py_docs.md").read_text(encoding="utf-8")
    assert "pricing.py_docs.md#sym-price_of" in cart
    odd = (docs / "odd dir/café (v2) #1.py_docs.md").read_text(encoding="utf-8")
    assert "shop/cart.py_docs.md#sym-Cart" in odd.replace("../", "")
    card = (docs / "shop/payments/card.py_docs.md").read_text(encoding="utf-8")
    assert "tests/test_cart.py_docs.md" in card  # Tested by: imports it through shop.payments
