"""Shared helpers: small real trees in tmp_path, and builds run through the real CLI entry point."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kwbuild import jsonio
from kwbuild.cli import main


@dataclass
class Project:
    """A source tree, its output folder and its cache, all under tmp_path."""

    root: Path
    out: Path
    cache: Path
    runs: int = 0

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def build(self, *extra: str, out: Path | None = None, expect: int = 0) -> dict[str, Any]:
        """Run `kwbuild build` in process; returns the summary."""
        self.runs += 1
        summary = self.root.parent / f"summary-{self.runs}.json"
        args = ["build", str(self.root), "--out", str(out or self.out), "--cache", str(self.cache)]
        code = main([*args, "--summary-json", str(summary), "-q", *extra])
        assert code == expect
        result: dict[str, Any] = jsonio.read_json(summary)
        return result

    def table(self, rel: str, out: Path | None = None) -> dict[str, Any]:
        result: dict[str, Any] = jsonio.read_json((out or self.out) / "tables" / f"{rel}.json")
        return result

    def manifest(self) -> dict[str, Any]:
        result: dict[str, Any] = jsonio.read_json(self.out / "index.json")
        return result


def outputs(out: Path) -> dict[str, bytes]:
    """Every output file (build state left out), by path."""
    found = {}
    for folder, dirs, files in os.walk(out):
        dirs[:] = [d for d in dirs if d != ".kwbuild"]
        for name in files:
            path = Path(folder, name)
            found[str(path.relative_to(out))] = path.read_bytes()
    return found


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "src"
    root.mkdir()
    return Project(root, tmp_path / "out", tmp_path / "cache")


@pytest.fixture
def stamp() -> Callable[[Path], tuple[int, int]]:
    """(inode, mtime_ns) of a file: changes whenever the file is rewritten."""

    def _stamp(path: Path) -> tuple[int, int]:
        info = os.stat(path)
        return info.st_ino, info.st_mtime_ns

    return _stamp
