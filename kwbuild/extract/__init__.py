"""The extractor registry: one module per language behind one small Protocol.

Adding a language is one module in this package (with `NAME`, `VERSION`, `SUFFIXES` and a pure
`extract(data: bytes) -> dict`) plus one line in `_MODULES` below. Every build imports the registry, a no-op
one included: a language module that needs a parser or much code keeps it in a pipeline module that its
`extract` imports on first use (`python_pipeline`, `cpp_pipeline`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import Any, Protocol, cast

from kwbuild.extract import cpp, python


class Extractor(Protocol):
    """What every language module provides."""

    NAME: str
    VERSION: int
    SUFFIXES: tuple[str, ...]

    def extract(self, data: bytes) -> dict[str, Any]:
        """Turn a file's bytes into the path-independent part of its table; never raises."""
        ...


_MODULES: tuple[ModuleType, ...] = (python, cpp)

EXTRACTORS: Mapping[str, Extractor] = MappingProxyType({module.NAME: cast(Extractor, module) for module in _MODULES})

SUFFIXES: Mapping[str, str] = MappingProxyType(
    {suffix: module.NAME for module in _MODULES for suffix in module.SUFFIXES}
)


def language_of(filename: str, overrides: Mapping[str, str] | None = None) -> str | None:
    """The language of a file name by its suffix (`overrides` first), or None when no extractor takes it."""
    dot = filename.rfind(".")
    if dot <= 0:
        return None
    suffix = filename[dot:].lower()
    if overrides and suffix in overrides:
        return overrides[suffix] or None
    return SUFFIXES.get(suffix)


def languages_by_suffix(overrides: Mapping[str, str]) -> dict[str, str]:
    """Suffix (lower case, with its dot) -> language, `overrides` applied ("" turns a suffix off)."""
    languages = {**SUFFIXES, **overrides}
    return {suffix: language for suffix, language in languages.items() if language}


def versions_key() -> str:
    """A short text naming every extractor version and the schema version (changes invalidate tasks)."""
    from kwbuild.model import SCHEMA_VERSION

    parts = [f"{name}@{EXTRACTORS[name].VERSION}" for name in sorted(EXTRACTORS)]
    return f"schema{SCHEMA_VERSION}:" + ",".join(parts)
