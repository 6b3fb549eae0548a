"""The A-Z keyword index `keywords.md`: every definition of every name, split by first letter when large (pure).

Up to `SPLIT_AT` definitions it is one page with a heading per letter; above, `keywords-a.md` ... `keywords-z.md`,
`keywords-_.md` (names starting with `_`) and `keywords-other.md`, with `keywords.md` listing them and their counts.
A letter's page above `PAGE_LIMIT` definitions lists pages by the next character (`keywords-s-e.md`: names that
start with `se`, any case; `keywords-s-e-t.md` ...), and keeps the names that go no further.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kwbuild.render.blocks import finish, heading, nav_line
from kwbuild.render.context import KeywordEntry, PageContext
from kwbuild.render.markdown import (
    IMPORTS_PAGE,
    KEYWORDS_PAGE,
    MODULES_PAGE,
    anchor_base,
    anchor_tag,
    code_span,
    docs_page,
    folder_page,
    link,
    quote_fragment,
    quote_path,
    source_link,
)
from kwbuild.render.symbols import kind_word, name_key, plural

SPLIT_AT = 2000
"""Above this many definitions the index is split: one page per first letter."""
PAGE_LIMIT = 2000
"""A letter's page with more definitions is split again, by the next character of the names (and so on, down to
`MAX_DEPTH` characters): pages stay small enough for a browser or a code host to show, and a new name rewrites
one small page and the short index pages above it."""
MAX_DEPTH = 4
_NEXT = frozenset("_0123456789abcdefghijklmnopqrstuvwxyz")
_BUCKETS = ("_", *"abcdefghijklmnopqrstuvwxyz", "other")
Group = tuple[str, list[KeywordEntry]]
"""A name and its definitions."""
Urls = dict[str, tuple[str, str]]
"""path -> (docs page URL, source URL) from the docs root."""
Key = tuple[str, ...]
"""A page of a split index: its letter bucket (`("s",)`, `("other",)`), then the next characters of its names
(`("s", "e")`: names starting with `se`, any case)."""
Changes = tuple[list[str], list[str]]
"""The names of the definitions added and of those removed (one per definition) since the pages were made."""


def render_keyword_index(
    entries: Iterable[KeywordEntry], ctx: PageContext | None = None, changes: Changes | None = None
) -> dict[str, str | None]:
    """File name (at the docs root) -> text of the keyword index page(s).

    `changes`: what changed since the pages on disk were made from the same renderer; then only the pages that
    hold a changed name, and the index pages above them, are rendered, and the others are named with the value
    None (they exist, unchanged), unless the set of pages itself changed. None: every page."""
    entries = list(entries)
    if len(entries) <= SPLIT_AT:
        buckets = _buckets(_groups(entries))
        return {KEYWORDS_PAGE: _single_page(buckets, _file_urls({e[3] for e in entries}, ctx or PageContext()))}
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry[0]] = counts.get(entry[0], 0) + 1
    lowered = {name: name.lower() for name in counts}
    pages = _layout(counts, lowered)
    wanted = _wanted(pages, counts, lowered, changes, len(entries))
    names = {name for name, low in lowered.items() if wanted is None or _page_of(low, pages) in wanted}
    groups = _groups([entry for entry in entries if entry[0] in names])
    urls = _file_urls({entry[3] for _, definitions in groups for entry in definitions}, ctx or PageContext())
    by_page: dict[Key, list[Group]] = {}
    for group in groups:
        by_page.setdefault(_page_of(lowered[group[0]], pages), []).append(group)
    result: dict[str, str | None] = {_page_file(key): None for key in pages}
    for key in pages:
        if wanted is None or key in wanted:
            result[_page_file(key)] = _prefix_page(key, by_page.get(key, []), pages, urls)
    totals = {key[0]: pages[key] for key in pages if len(key) == 1}
    return {KEYWORDS_PAGE: _letters_page(totals), **result}


def _layout(counts: dict[str, int], lowered: dict[str, str]) -> dict[Key, tuple[int, int]]:
    """Every page of a split index, with its (names, definitions) below it: the letter pages, and below each page
    with more than `PAGE_LIMIT` definitions one page per next character of its names."""
    pages: dict[Key, tuple[int, int]] = {}
    letters: dict[str, list[str]] = {}
    for name in counts:
        letters.setdefault(_bucket(name), []).append(name)
    stack: list[tuple[Key, list[str]]] = [((letter,), names) for letter, names in letters.items()]
    while stack:
        key, names = stack.pop()
        definitions = sum(counts[name] for name in names)
        pages[key] = (len(names), definitions)
        depth = len(key)
        if definitions <= PAGE_LIMIT or key == ("other",) or depth >= MAX_DEPTH:
            continue
        below: dict[str, list[str]] = {}
        for name in names:
            low = lowered[name]
            if len(low) > depth and low[depth] in _NEXT:
                below.setdefault(low[depth], []).append(name)
        stack += [((*key, char), sub) for char, sub in below.items()]
    return pages


def _page_of(low: str, pages: dict[Key, tuple[int, int]]) -> Key:
    """The page of a (lower-cased) name: the deepest page whose prefix it starts with."""
    key: Key = (_bucket(low),)
    depth = 1
    while depth < len(low) and (deeper := (*key, low[depth])) in pages:
        key, depth = deeper, depth + 1
    return key


def _wanted(
    pages: dict[Key, tuple[int, int]],
    counts: dict[str, int],
    lowered: dict[str, str],
    changes: Changes | None,
    total: int,
) -> set[Key] | None:
    """The pages that can differ from those on disk: those of the changed names and every page above them; None
    (every page) without `changes` or when the pages themselves are not those of before."""
    if changes is None:
        return None
    added, removed = changes
    before = dict(counts)
    for name in added:
        before[name] -= 1
    for name in removed:
        before[name] = before.get(name, 0) + 1
    if total - len(added) + len(removed) <= SPLIT_AT:
        return None  # the index was one page
    before = {name: count for name, count in before.items() if count > 0}
    before_lowered = {name: lowered.get(name) or name.lower() for name in before}
    if _layout(before, before_lowered).keys() != pages.keys():
        return None
    wanted: set[Key] = set()
    for name in {*added, *removed}:
        key = _page_of(name.lower(), pages)
        wanted.update(key[:depth] for depth in range(1, len(key) + 1))
    return wanted


def _page_file(key: Key) -> str:
    return f"keywords-{'-'.join(key)}.md"


def letter_of(name: str) -> str:
    """The bucket of a name in a split index: `_`, a letter, or `other`."""
    return _bucket(name)


def _groups(entries: Sequence[KeywordEntry]) -> list[Group]:
    """Names in order (case-insensitive, ties case-sensitive), each with its definitions by path and line."""
    by_name: dict[str, list[KeywordEntry]] = {}
    for entry in entries:
        definitions = by_name.get(entry[0])
        if definitions is None:
            by_name[entry[0]] = [entry]
        else:
            definitions.append(entry)
    names = sorted(by_name, key=name_key)
    return [
        (name, sorted(by_name[name], key=_definition_key) if len(by_name[name]) > 1 else by_name[name])
        for name in names
    ]


def _definition_key(entry: KeywordEntry) -> tuple[str, int, str, str, str]:
    return entry[3], entry[4], entry[2], entry[1], entry[5]


def _bucket(name: str) -> str:
    first = name[:1].lower()
    return first if first == "_" or (first.isascii() and first.isalpha()) else "other"


def _buckets(groups: list[Group]) -> dict[str, list[Group]]:
    """Letter -> its names, in name order: `_`, a-z, `other` (empty letters left out)."""
    result: dict[str, list[Group]] = {bucket: [] for bucket in _BUCKETS}
    for group in groups:
        result[_bucket(group[0])].append(group)
    return {bucket: groups for bucket, groups in result.items() if groups}


def _title(key: Key | str) -> str:
    if isinstance(key, str):  # a bucket of the one-page index
        key = (key,)
    if len(key) > 1:
        return code_span("".join(key) + "…")
    return {"_": "`_`", "other": "Other"}.get(key[0], key[0].upper())


def _nav() -> str:
    return nav_line([("Source tree", folder_page("")), ("Modules", MODULES_PAGE), ("Imports", IMPORTS_PAGE)])


def _counts(groups: Sequence[Group]) -> str:
    return _count_words(len(groups), sum(len(definitions) for _, definitions in groups))


def _count_words(names: int, definitions: int) -> str:
    return f"{plural(names, 'name')}, {plural(definitions, 'definition')}"


def _single_page(buckets: dict[str, list[Group]], urls: Urls) -> str:
    lines = ["# Keyword index (A-Z)", "", _nav(), ""]
    lines += [f"{_counts([g for groups in buckets.values() for g in groups])}.", ""]
    if buckets:
        lines += [" · ".join(link(_title(b), "#" + anchor_base(b, "letter-")) for b in buckets), ""]
    for bucket, groups in buckets.items():
        lines += [anchor_tag(anchor_base(bucket, "letter-")), *heading(2, _title(bucket))]
        lines += [*_entries(groups, urls), ""]
    return finish(lines)


def _letters_page(totals: dict[str, tuple[int, int]]) -> str:
    """The list of letter pages; `totals`: bucket -> (names, definitions)."""
    order = [b for b in _BUCKETS if b in totals]
    names, definitions = sum(totals[b][0] for b in order), sum(totals[b][1] for b in order)
    lines = ["# Keyword index (A-Z)", "", _nav(), ""]
    lines += [f"{_count_words(names, definitions)}, by first letter:", ""]
    lines += [f"- {link(_title(b), quote_path(_page_file((b,))))}: {_count_words(*totals[b])}" for b in order]
    return finish(lines)


def _prefix_page(key: Key, groups: list[Group], pages: dict[Key, tuple[int, int]], urls: Urls) -> str:
    """A letter's page, or a page of the names starting with a longer prefix: its pages below (if it is split),
    then its own names."""
    above = [
        ("A-Z index", KEYWORDS_PAGE),
        *((_title(key[:depth]), _page_file(key[:depth])) for depth in range(1, len(key))),
    ]
    lines = [f"# Keyword index: {_title(key)}", "", nav_line(above) + " · " + _nav(), ""]
    lines += [f"{_count_words(*pages[key])}.", ""]
    below = sorted(sub for sub in pages if len(sub) == len(key) + 1 and sub[: len(key)] == key)
    if below:
        lines += ["By the next character:", ""]
        lines += [f"- {link(_title(sub), quote_path(_page_file(sub)))}: {_count_words(*pages[sub])}" for sub in below]
        lines += [""]
        if groups:
            lines += [f"Names {_title(key)} that go no further:", ""]
    lines += _entries(groups, urls)
    return finish(lines)


def _entries(groups: Sequence[Group], urls: Urls) -> list[str]:
    lines = []
    for name, definitions in groups:
        if len(definitions) == 1:
            lines.append(f"- {code_span(name)} - {_definition(definitions[0], urls)}")
            continue
        lines.append(f"- {code_span(name)} ({len(definitions):,} definitions)")
        lines += [f"  - {_definition(entry, urls)}" for entry in definitions]
    return lines


def _definition(entry: KeywordEntry, urls: Urls) -> str:
    _name, kind, qualname, path, line, anchor = entry
    docs, source = urls[path]
    target = f"[{code_span(qualname)}]({docs}#{quote_fragment(anchor)})"
    return f"{kind_word(kind)} {target} in {code_span(path)} · [L{line}]({source}#L{line})"


def _file_urls(paths: Iterable[str], ctx: PageContext) -> Urls:
    return {path: (quote_path(docs_page(path)), source_link(KEYWORDS_PAGE, path, ctx)) for path in paths}
