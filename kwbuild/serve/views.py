"""The browsable view: `/docs/<page>.md` renders a Markdown page of the build as HTML; `/static/*` its assets.

Pages keep their names under `/docs/`, so the relative links between them work unchanged. A rendered page is
cached under the stat identity of its Markdown file, like every body the server reads from the output folder.
"""

from __future__ import annotations

from importlib import resources

from kwbuild.serve.api import contained
from kwbuild.serve.body import Body, BodyCache, StatMemo, read_with_identity
from kwbuild.serve.html import render_page
from kwbuild.serve.request import HttpError, Request
from kwbuild.serve.state import OutputState

HTML = b"text/html; charset=utf-8"
_ASSETS = {"app.js": b"text/javascript; charset=utf-8", "style.css": b"text/css; charset=utf-8"}
INDEX_PAGE = "/docs/index.md"


class Redirect(HttpError):
    """Answered with a `Location` header instead of a JSON body."""

    def __init__(self, location: str) -> None:
        super().__init__(302, f"see {location}")
        self.location = location


def _asset(name: str) -> bytes:
    return resources.files("kwbuild").joinpath(f"static/{name}").read_bytes()


class Views:
    """HTML pages and their static assets."""

    def __init__(self, state: OutputState, cache: BodyCache, stats: StatMemo, root: str) -> None:
        self.state = state
        self.cache = cache
        self.stats = stats
        self.root = root
        self.template = _asset("page.html").decode("utf-8")
        self.assets = {name: Body(_asset(name), media) for name, media in _ASSETS.items()}

    def home(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/`: the index page of the tree's root."""
        raise Redirect(INDEX_PAGE)

    def docs(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/docs/<page>.md`: one Markdown page of the build, rendered."""
        page = "/".join(rest)
        if not page:
            raise Redirect(INDEX_PAGE)
        path = self.state.layout.docs_file(page)
        ident = self.stats.identity(path) if page.endswith(".md") else None
        if ident is None:
            raise HttpError(404, f"no page {page!r}")
        return self.cache.get(("page", page, ident), lambda: self._render(page, path))

    def static(self, request: Request, rest: tuple[str, ...]) -> Body:
        """`/static/app.js`, `/static/style.css`."""
        asset = self.assets.get(rest[0]) if len(rest) == 1 else None
        if asset is None:
            raise HttpError(404, "no such asset")
        return asset

    def _render(self, page: str, path: str) -> Body:
        if not contained(self.root, path):
            raise HttpError(404, f"no page {page!r}")
        try:
            data, _ = read_with_identity(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise HttpError(404, f"no page {page!r}") from None
        text = data.decode("utf-8", errors="replace")
        return Body(render_page(self.template, page, text).encode("utf-8"), HTML)
