"""The C/C++ extractor plugin: what the registry lists (name, version, suffixes) and ``extract``.

The pipeline (``kwbuild.extract.cpp_pipeline``: tree-sitter and the stages beside it) is imported on the first
``extract`` call, not with the registry: every build imports the registry, and a build that parses no C/C++
file (a no-op, a touch, a Python edit) need not load a parser (~6 ms of imports).
"""

from __future__ import annotations

from typing import Any, Final

NAME = "cpp"
VERSION = 1
SUFFIXES = (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cu", ".cuh")

MAX_BYTES: Final = 8 * 1024 * 1024  # larger files are not parsed (a "size" error)
BINARY_PROBE: Final = 8192  # a NUL byte in this many leading bytes marks a binary file


def extract(data: bytes) -> dict[str, Any]:
    """Return the symbol table of one C/C++ file given as bytes; never raises."""
    from kwbuild.extract.cpp_pipeline import extract_table

    return extract_table(data)
