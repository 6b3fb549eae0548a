"""The browsable view's HTML: a docs page's Markdown rendered (GFM, cmark-gfm) inside the page template (pure).

Raw HTML in the Markdown stays text: before rendering, every `<` is swapped for a marker that cmark passes
through untouched and that becomes `&lt;` afterwards, so a tag shows as written, in prose and in code alike.
The one exception is the anchor kwbuild puts before each symbol (`<a id="sym-..."></a>`, ids of
[A-Za-z0-9_.-]), which becomes a second marker and then the anchor again. Markers carry a random nonce, so a
page cannot forge one. Relative links between pages work as they are under `/docs/`; a link that leaves the
docs folder (a source link) is pointed at the file's table, `/api/files/<path>`.
"""

from __future__ import annotations

import html
import posixpath
import re
import secrets

import cmarkgfm  # type: ignore[import-untyped,unused-ignore]
from cmarkgfm.cmark import Options  # type: ignore[import-untyped,unused-ignore]

DOCS_ROUTE = "/docs/"
_ANCHOR = re.compile(r'<a id="([A-Za-z0-9_.-]{1,400})"></a>')
_HREF = re.compile(r'href="([^"]*)"')
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_EXTENSIONS = ["table", "strikethrough"]


def render_markdown(text: str) -> str:
    """HTML of a page's Markdown: GFM tables, raw HTML escaped except kwbuild's symbol anchors."""
    nonce = secrets.token_hex(8)
    lt, anchor = f"\ue000{nonce}L\ue001", f"\ue000{nonce}A"
    text = _ANCHOR.sub(lambda m: f"{anchor}{m.group(1).encode().hex()}\ue001", text).replace("<", lt)
    rendered: str = cmarkgfm.markdown_to_html_with_extensions(
        text, options=Options.CMARK_OPT_VALIDATE_UTF8, extensions=_EXTENSIONS
    )
    marker = re.compile(f"\ue000{nonce}(?:L|A([0-9a-f]*))\ue001")
    return marker.sub(_unmark, rendered)


def _unmark(match: re.Match[str]) -> str:
    if match.group(1) is None:
        return "&lt;"
    return f'<a id="{bytes.fromhex(match.group(1)).decode()}"></a>'


def rewrite_links(body: str, page: str) -> str:
    """Point links that leave the docs folder (source files) at the file's table in the API."""
    base = posixpath.dirname(DOCS_ROUTE + page)

    def rewrite(match: re.Match[str]) -> str:
        href = html.unescape(match.group(1))
        if not href or href.startswith(("#", "/")) or _SCHEME.match(href):
            return match.group(0)
        target = posixpath.normpath(posixpath.join(base, href.partition("#")[0]))
        if target.startswith(DOCS_ROUTE) or not target.startswith("/") or target.startswith("/.."):
            return match.group(0)
        return f'href="{html.escape("/api/files" + target)}"'

    return _HREF.sub(rewrite, body)


def render_page(template: str, page: str, markdown_text: str) -> str:
    """The full HTML page of the docs page `page` (its path under the docs folder)."""
    body = rewrite_links(render_markdown(markdown_text), page)
    title = html.escape(page)
    return template.replace("{{title}}", title).replace("{{page}}", title).replace("{{body}}", body)
