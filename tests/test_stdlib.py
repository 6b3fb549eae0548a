"""Integration: build CPython's standard library (a real tree on every machine) and check what users rely on."""

from __future__ import annotations

import ast
import filecmp
import os
import sysconfig
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kwbuild import jsonio
from kwbuild.extract import language_of
from kwbuild.model import load_schema
from tests.conftest import Project
from tests.linkcheck import check_links

STDLIB = Path(sysconfig.get_path("stdlib"))
EXCLUDE = ("site-packages/", "dist-packages/")


@pytest.fixture(scope="module")
def stdlib_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict[str, Any]]:
    base = tmp_path_factory.mktemp("stdlib")
    project = Project(STDLIB, base / "out", base / "cache")
    summary = project.build(*[arg for glob in EXCLUDE for arg in ("--exclude", glob)])
    return project, summary


def _stdlib_sources() -> list[str]:
    found = []
    for folder, dirs, files in os.walk(STDLIB):
        dirs[:] = [d for d in dirs if d not in ("site-packages", "dist-packages", "__pycache__")]
        for name in files:
            if language_of(name) is not None:
                found.append(os.path.relpath(os.path.join(folder, name), STDLIB).replace(os.sep, "/"))
    return sorted(found)


def _does_not_parse(rel: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse((STDLIB / rel).read_bytes())
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return True
    return False


def test_every_file_has_a_table(stdlib_build: tuple[Project, dict[str, Any]]) -> None:
    project, summary = stdlib_build
    expected = _stdlib_sources()
    assert summary["files"] == len(expected)
    assert [entry["path"] for entry in project.manifest()["files"]] == expected


def test_every_table_validates_against_the_schema(stdlib_build: tuple[Project, dict[str, Any]]) -> None:
    project, _ = stdlib_build
    validator = jsonschema.Draft202012Validator(load_schema())
    for entry in project.manifest()["files"]:
        table = project.table(entry["path"])
        errors = list(validator.iter_errors(table))
        assert not errors, (entry["path"], errors[0].message)


def test_files_that_do_not_parse_are_recorded_and_keep_their_definitions(
    stdlib_build: tuple[Project, dict[str, Any]],
) -> None:
    project, summary = stdlib_build
    broken = [rel for rel in _stdlib_sources() if rel.endswith((".py", ".pyi")) and _does_not_parse(rel)]
    assert len(broken) >= 5
    files = project.manifest()["files"]
    with_errors = {entry["path"] for entry in files if entry["errors"] and entry["language"] == "python"}
    assert set(broken) == with_errors
    assert summary["errors"] == sum(1 for entry in files if entry["errors"])
    for rel in broken:
        assert project.table(rel)["partial"] is True


def test_python2_grammar_file_lists_its_classes_and_functions(stdlib_build: tuple[Project, dict[str, Any]]) -> None:
    project, _ = stdlib_build
    rel = "lib2to3/tests/data/py2_test_grammar.py"
    if not (STDLIB / rel).exists():
        pytest.skip("this Python has no lib2to3")
    symbols = {s["qualname"]: s["kind"] for s in project.table(rel)["symbols"]}
    assert symbols["TokenTests"] == "class"
    assert symbols["GrammarTests.testPrintStmt"] == "method"
    assert sum(kind == "class" for kind in symbols.values()) >= 3


def test_module_names_follow_the_package_layout(stdlib_build: tuple[Project, dict[str, Any]]) -> None:
    project, _ = stdlib_build
    assert project.table("json/decoder.py")["module"] == "json.decoder"
    assert project.table("json/__init__.py")["module"] == "json"
    assert project.table("os.py")["module"] == "os"
    assert project.table("email/mime/text.py")["module"] == "email.mime.text"


def test_symbols_match_an_independent_ast_walk(stdlib_build: tuple[Project, dict[str, Any]]) -> None:
    project, _ = stdlib_build
    for rel in ("json/decoder.py", "dataclasses.py", "asyncio/tasks.py", "argparse.py"):
        tree = ast.parse((STDLIB / rel).read_bytes())
        expected = sorted(
            (node.name, node.lineno)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        )
        got = sorted(
            (s["name"], s["line"])
            for s in project.table(rel)["symbols"]
            if s["kind"] not in ("variable", "constant", "attribute")
        )
        assert got == expected, rel


def test_every_link_of_every_page_resolves(stdlib_build: tuple[Project, dict[str, Any]]) -> None:
    project, _ = stdlib_build
    checked, problems = check_links(project.out / "docs", STDLIB)
    assert checked > 100_000
    assert problems[:5] == []


def test_pages_resolve_imports_across_the_tree(stdlib_build: tuple[Project, dict[str, Any]]) -> None:
    project, _ = stdlib_build
    links = jsonio.read_json(project.out / "links/json/__init__.py.json")
    by_name = {
        imp["name"]: res
        for imp, res in zip(project.table("json/__init__.py")["imports"], links["imports"], strict=False)
    }
    assert by_name["JSONDecoder"]["resolved_path"] == "json/decoder.py"
    assert by_name["JSONDecoder"]["resolved_symbol"] == "JSONDecoder"
    importers = {entry["path"] for entry in jsonio.read_json(project.out / "links/json/decoder.py.json")["imported_by"]}
    assert "json/__init__.py" in importers
    docs = (project.out / "docs/fractions.py_docs.md").read_text(encoding="utf-8")
    tested_by = docs.split("## Tested by", 1)[1]
    assert "test/test_fractions.py_docs.md" in tested_by


def test_a_second_build_into_another_folder_is_byte_identical(
    stdlib_build: tuple[Project, dict[str, Any]], tmp_path: Path
) -> None:
    project, _ = stdlib_build
    other = tmp_path / "other"
    summary = project.build(*[arg for glob in EXCLUDE for arg in ("--exclude", glob)], out=other)
    assert summary["parsed"] == 0
    for folder in ("tables", "links", "docs"):
        _assert_same_tree(filecmp.dircmp(project.out / folder, other / folder))
    for name in ("index.json", "symbols.json"):
        assert (project.out / name).read_bytes() == (other / name).read_bytes()
    assert str(tmp_path) not in (other / "index.json").read_text()
    assert jsonio.read_json(other / "index.json")["totals"]["files"] == summary["files"]


def _assert_same_tree(comparison: filecmp.dircmp[str]) -> None:
    assert not comparison.left_only and not comparison.right_only
    _, mismatch, errors = filecmp.cmpfiles(comparison.left, comparison.right, comparison.common_files, shallow=False)
    assert not mismatch and not errors
    for sub in comparison.subdirs.values():
        _assert_same_tree(sub)
