"""Pages as strings: keyword page, docs page, folder index, global indexes; links and escaping (pure).

Every function here takes values (tables, links, folder facts) and returns strings; nothing opens a file.
Page names: `<rel>_kw.md`, `<rel>_docs.md`, `<folder>/index.md`, and at the docs root `keywords.md`
(or `keywords-<letter>.md`), `modules.md`, `imports.md` (or `imports-<folder>.md`).
"""

from __future__ import annotations

from kwbuild.render.context import FolderInfo, Links, PageContext, Table
from kwbuild.render.docs_page import render_docs_page
from kwbuild.render.folder_index import render_folder_index
from kwbuild.render.keyword_index import render_keyword_index
from kwbuild.render.keyword_page import render_keyword_page
from kwbuild.render.markdown import (
    anchor_id,
    anchor_ids,
    code_span,
    docs_page,
    escape_text,
    folder_page,
    kw_page,
    link,
    rel_link,
    source_link,
)
from kwbuild.render.module_pages import render_import_xref, render_module_index
from kwbuild.render.symbols import symbol_anchors

RENDER_VERSION = 1
"""Version of the pages' format: bump it whenever a renderer's output changes for the same input."""

__all__ = [
    "RENDER_VERSION",
    "FolderInfo",
    "Links",
    "PageContext",
    "Table",
    "anchor_id",
    "anchor_ids",
    "code_span",
    "docs_page",
    "escape_text",
    "folder_page",
    "kw_page",
    "link",
    "rel_link",
    "render_docs_page",
    "render_folder_index",
    "render_import_xref",
    "render_keyword_index",
    "render_keyword_page",
    "render_module_index",
    "source_link",
    "symbol_anchors",
]
