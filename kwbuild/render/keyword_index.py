"""The A-Z keyword index `keywords.md`: every definition of every name, split by first letter when large (pure).

Up to `SPLIT_AT` definitions it is one page with a heading per letter; above, `keywords-a.md` ... `keywords-z.md`,
`keywords-_.md` (names starting with `_`) and `keywords-other.md`, with `keywords.md` listing them and their counts.
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
_BUCKETS = ("_", *"abcdefghijklmnopqrstuvwxyz", "other")
Group = tuple[str, list[KeywordEntry]]
"""A name and its definitions."""
Urls = dict[str, tuple[str, str]]
"""path -> (docs page URL, source URL) from the docs root."""


def render_keyword_index(
    entries: Iterable[KeywordEntry], ctx: PageContext | None = None, only: set[str] | None = None
) -> dict[str, str | None]:
    """File name (at the docs root) -> text of the keyword index page(s).

    `only`: the first-letter buckets (`letter_of`) whose pages are wanted; the other letter pages of a split
    index are named with the value None (they exist, unchanged). None: every page."""
    entries = list(entries)
    if len(entries) <= SPLIT_AT:
        buckets = _buckets(_groups(entries))
        return {KEYWORDS_PAGE: _single_page(buckets, _file_urls({e[3] for e in entries}, ctx or PageContext()))}
    by_first: dict[str, str] = {}  # first character -> letter (this runs for every definition of the tree)
    names: dict[str, set[str]] = {}
    definitions: dict[str, int] = {}
    wanted = []
    for entry in entries:
        first = entry[0][:1]
        letter = by_first.get(first) or by_first.setdefault(first, letter_of(entry[0]))
        names.setdefault(letter, set()).add(entry[0])
        definitions[letter] = definitions.get(letter, 0) + 1
        if only is None or letter in only:
            wanted.append(entry)
    buckets = _buckets(_groups(wanted))
    urls = _file_urls({entry[3] for entry in wanted}, ctx or PageContext())
    pages: dict[str, str | None] = {f"keywords-{b}.md": None for b in names}
    pages.update({f"keywords-{b}.md": _letter_page(b, groups, urls) for b, groups in buckets.items()})
    totals = {b: (len(names[b]), definitions[b]) for b in names}
    return {KEYWORDS_PAGE: _letters_page(totals), **pages}


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


def _title(bucket: str) -> str:
    return {"_": "`_`", "other": "Other"}.get(bucket, bucket.upper())


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
    lines += [f"- {link(_title(b), quote_path(f'keywords-{b}.md'))}: {_count_words(*totals[b])}" for b in order]
    return finish(lines)


def _letter_page(bucket: str, groups: list[Group], urls: Urls) -> str:
    lines = [f"# Keyword index: {_title(bucket)}", "", nav_line([("A-Z index", KEYWORDS_PAGE)]) + " · " + _nav(), ""]
    lines += [f"{_counts(groups)}.", "", *_entries(groups, urls)]
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
