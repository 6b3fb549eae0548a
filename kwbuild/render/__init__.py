"""Pages as strings: keyword page, docs page, folder index, global indexes; links and escaping (pure).

Every function here takes values (tables, links, folder facts) and returns strings; nothing opens a file.
Page names: `<rel>_kw.md`, `<rel>_docs.md`, `<folder>/index.md`, and at the docs root `keywords.md`
(or `keywords-<letter>.md`), `modules.md`, `imports.md` (or `imports-<folder>.md`).

One module per page kind (`keyword_page`, `docs_page`, `folder_index`, `keyword_index`, `module_pages`), the
shared inputs in `context`, names, links and escaping in `markdown`. This package itself holds only the
pages' format version, so that a build with nothing to do loads no renderer.
"""

RENDER_VERSION = 2
"""Version of the pages' format: bump it whenever a renderer's output changes for the same input."""
