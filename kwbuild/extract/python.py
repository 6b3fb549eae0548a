"""The Python extractor plugin: what the registry lists (name, version, suffixes) and ``extract``.

The pipeline (``kwbuild.extract.python_pipeline`` and the ``python_*`` stages) is imported on the first
``extract`` call, not with the registry: every build imports the registry, and a build that parses no Python
file (a no-op, a touch, a C/C++ edit) need not load it (~4 ms of imports).
"""

from __future__ import annotations

from typing import Any

NAME = "python"
VERSION = 1
SUFFIXES = (".py", ".pyi")


def extract(data: bytes) -> dict[str, Any]:
    """Return the symbol table of one Python source file given as bytes; never raises."""
    from kwbuild.extract.python_pipeline import extract_table

    return extract_table(data)
