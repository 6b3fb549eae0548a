"""kwbuild: incremental keyword indexes, cross-references and JSON symbol tables for source trees."""

from __future__ import annotations

__version__ = "0.1.0"
