"""Markdown text and page addresses: escaping, code spans, fences, links, page paths, anchor ids (pure).

Everything that comes from a source file (names, docstrings, paths, messages) goes through `escape_text` or
`code_span` before it reaches a page, so that it renders as literal text on GitHub (GFM) and CommonMark.

Pages live under the docs root: for a source file at tree path `rel`, `<rel>_kw.md` (keyword page) and
`<rel>_docs.md` (documentation page); for a folder `d`, `<d>/index.md` (the root's is `index.md`); the global
pages sit at the docs root. The docs root is taken to be a folder at the repository's root (`repo/docs/`), so
`docs/torch/ir.py_docs.md` links its source as `../../torch/ir.py`, unless `PageContext.source_url` is set.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import cast
from urllib.parse import quote

from kwbuild.render.context import PageContext

_MARKUP = [(c, "\\" + c) for c in "\\`*_{}[]()#+-!|~$&"] + [("<", "&lt;"), (">", "&gt;")]
"""What prose escapes, in an order where no replacement makes another (`\\` first, `&` before `&lt;`): one
`str.replace` for each one present is ~2x faster than `translate` with a dict on a printable text."""


def _escape_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {c: None for c in [*range(32), *range(127, 160)]}
    table.update({ord(c): " " for c in "\t\n\v\f\r\x85\u2028\u2029"})
    table.update({ord(c): replacement for c, replacement in _MARKUP})
    return table


def _code_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {c: None for c in [*range(32), *range(127, 160)]}
    table.update({ord(c): " " for c in "\t\n\v\f\r\x85\u2028\u2029"})
    return table


_ESCAPE = _escape_table()
_CODE = _code_table()
_AUTOLINK = re.compile(r"(?<=www)(?=\.)|(?<=[A-Za-z0-9._+-]@)(?=[A-Za-z0-9])", re.IGNORECASE)
_ORDERED_LIST = re.compile(r"^(\d+)\.")
_BACKTICKS = re.compile(r"`+")
_ANCHOR_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")
_ANCHOR_SCOPED = re.compile(r"[A-Za-z0-9_.:]*")
_URL_PLAIN = re.compile(r"[A-Za-z0-9_.~/-]*")
_FRAGMENT_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")
"""Exactly what `quote(text, safe="")` keeps: every anchor id (`sym-` + [A-Za-z0-9_.], `-uXXXX`, `-2`) is one."""
ZERO_WIDTH_SPACE = "&#8203;"
_BROKEN_SCHEME = ":" + ZERO_WIDTH_SPACE + "//"


def escape_text(text: str) -> str:
    """`text` as literal Markdown prose on one line: no emphasis, code, link, HTML, heading, list or autolink."""
    escaped = text
    if text.isprintable():  # nothing to drop or turn into a space: only the markup characters
        for char, replacement in _MARKUP:
            if char in escaped:
                escaped = escaped.replace(char, replacement)
    else:
        escaped = text.translate(_ESCAPE)
    escaped = escaped.strip().replace("://", _BROKEN_SCHEME)
    if escaped[:1].isdigit():
        escaped = _ORDERED_LIST.sub(r"\1\\.", escaped, count=1)
    if "@" in escaped or "ww." in escaped.lower():
        escaped = _AUTOLINK.sub(ZERO_WIDTH_SPACE, escaped)
    return escaped


def code_span(text: str, table: bool = False) -> str:
    """`text` as one code span (empty string for empty text); `table=True` escapes `|` for a GFM table cell."""
    plain = text.isprintable() and "`" not in text and text and (text[0] != " " or text[-1] != " ")
    if plain and not (table and "|" in text):
        return f"`{text}`"
    text = text.translate(_CODE)
    if not text:
        return ""
    if table:
        text = text.replace("|", "\\|")
    fence = "`" * (max(map(len, _BACKTICKS.findall(text)), default=0) + 1)
    if text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " " and text.strip(" ")):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def fenced_block(text: str, info: str = "") -> str:
    """`text` as a fenced code block (the fence is longer than any backtick run in it), without a final newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
    runs = _BACKTICKS.findall(text)
    fence = "`" * max(3, max(map(len, runs), default=0) + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{_ANCHOR_UNSAFE.sub('', info)}\n{body}{fence}"


def link(text_md: str, target: str) -> str:
    """A Markdown link; `text_md` is Markdown already (escaped), `target` an encoded URL."""
    return f"[{text_md}]({target})"


def quote_path(path: str) -> str:
    """A '/'-separated path with each segment percent-encoded (only unreserved characters stay)."""
    return path if _URL_PLAIN.fullmatch(path) else quote(path, safe="/")


def quote_fragment(anchor: str) -> str:
    """An anchor as a URL fragment (without the `#`), percent-encoded."""
    return anchor if _FRAGMENT_PLAIN.fullmatch(anchor) else quote(anchor, safe="")


def rel_link(from_page: str, to_page: str, anchor: str | None = None) -> str:
    """The relative URL from one docs-relative page to another (or to a source file), with an optional anchor."""
    fragment = "#" + quote_fragment(anchor) if anchor else ""
    if to_page == from_page and fragment:
        return fragment
    there, _, name = to_page.rpartition("/")
    return _folder_link(from_page.rpartition("/")[0], there) + quote_path(name) + fragment


@functools.lru_cache(maxsize=4096)
def _folder_link(here: str, there: str) -> str:
    """The relative URL from folder `here` to folder `there` ("" or ending with "/"); a page links to a few
    folders many times (a tree's 250,000 links in ~1,200 A-Z pages go to ~600 folders)."""
    from_parts = here.split("/") if here else []
    to_parts = there.split("/") if there else []
    common = 0
    while common < len(from_parts) and common < len(to_parts) and from_parts[common] == to_parts[common]:
        common += 1
    rest = "/".join(to_parts[common:])
    return "../" * (len(from_parts) - common) + (quote_path(rest) + "/" if rest else "")


# ---------------------------------------------------------------- page paths

_URL_SAFE = ":/?#@!$&'*+,;=%~[]"
"""What a configured source URL keeps as it is; spaces, parentheses and angle brackets are encoded."""
KEYWORDS_PAGE = "keywords.md"
MODULES_PAGE = "modules.md"
IMPORTS_PAGE = "imports.md"


def kw_page(rel: str) -> str:
    """The keyword page of the source file `rel`."""
    return f"{rel}_kw.md"


def docs_page(rel: str) -> str:
    """The documentation page of the source file `rel`."""
    return f"{rel}_docs.md"


def folder_page(folder: str) -> str:
    """The index page of `folder` ('' for the root)."""
    return f"{folder}/index.md" if folder else "index.md"


def folder_of(rel: str) -> str:
    """The folder holding `rel` ('' at the root); also a folder's parent."""
    return rel.rpartition("/")[0]


def source_link(from_page: str, rel: str, ctx: PageContext, line: int | None = None) -> str:
    """The URL of the source file `rel` (at `line`) as seen from `from_page`."""
    fragment = f"#L{line}" if line is not None else ""
    if ctx.source_url:
        return quote(ctx.source_url, safe=_URL_SAFE) + quote_path(rel) + fragment
    return "../" * (from_page.count("/") + 1) + quote_path(rel) + fragment


# ---------------------------------------------------------------- anchors


def _encode_char(match: re.Match[str]) -> str:
    # `-u` + hex: no identifier holds a `-` (and `-` itself is encoded), so encoded names never meet plain ones
    # and a repeat's `-2` suffix never meets an encoding.
    return f"-u{ord(match.group()):04X}"


_COLON = f"-u{ord(':'):04X}"
"""`_encode_char` of `:`, the one character to encode in most C++ names (`ns::Class::f`): `str.replace` is ~10x
faster than `_ANCHOR_UNSAFE.sub` or `str.translate` on them."""


def anchor_base(qualname: str, prefix: str = "sym-") -> str:
    """The id of a name's first definition: `prefix` + the name, with characters outside [A-Za-z0-9_.] encoded."""
    if _ANCHOR_SCOPED.fullmatch(qualname) is not None:
        return prefix + (qualname.replace(":", _COLON) if ":" in qualname else qualname)
    return prefix + _ANCHOR_UNSAFE.sub(_encode_char, qualname)


def anchor_id(qualname: str, seen: dict[str, int], prefix: str = "sym-") -> str:
    """A unique id on a page: the base id, then `-2`, `-3`... for repeated names, in the order of the calls."""
    return _unique(anchor_base(qualname, prefix), seen)


def _unique(base: str, seen: dict[str, int]) -> str:
    count = seen.get(base, 0) + 1
    candidate = base if count == 1 else f"{base}-{count}"
    while candidate in seen:
        count += 1
        candidate = f"{base}-{count}"
    seen[base] = count
    seen.setdefault(candidate, 1)
    return candidate


def anchor_ids(qualnames: Iterable[str], prefix: str = "sym-") -> list[str]:
    """The anchor ids of a page's symbols, in source order: `anchor_id` on each (`anchor_base` inlined: the torch
    tree's 253,000 names take 0.23 s, against 0.87 s with every `::` encoded by `_ANCHOR_UNSAFE.sub`)."""
    return cast(list[str], _anchor_ids(qualnames, prefix, True))


def repeated_anchor_ids(qualnames: Iterable[str], prefix: str = "sym-") -> list[str | None]:
    """`anchor_ids`, with None for each id that is its name's `anchor_base` (every id but the `-2`, `-3`... of
    repeated names: the digests keep only those, ~20 MB less for the torch tree)."""
    return _anchor_ids(qualnames, prefix, False)


def _anchor_ids(qualnames: Iterable[str], prefix: str, bases: bool) -> list[str | None]:
    seen: dict[str, int] = {}
    anchors: list[str | None] = []
    scoped = _ANCHOR_SCOPED.fullmatch
    for qualname in qualnames:
        if scoped(qualname) is not None:
            base = prefix + (qualname.replace(":", _COLON) if ":" in qualname else qualname)
        else:
            base = prefix + _ANCHOR_UNSAFE.sub(_encode_char, qualname)
        if base in seen:
            anchors.append(_unique(base, seen))
        else:
            seen[base] = 1
            anchors.append(base if bases else None)
    return anchors


def anchor_tag(anchor: str) -> str:
    """The HTML anchor placed right before a symbol's heading or entry."""
    return f'<a id="{anchor}"></a>'
