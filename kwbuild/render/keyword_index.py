"""The A-Z keyword index `keywords.md`: every definition of every name, split by first letter when large (pure).

Up to `SPLIT_AT` definitions it is one page with a heading per letter; above, `keywords-a.md` ... `keywords-z.md`,
`keywords-_.md` (names starting with `_`) and `keywords-other.md`, with `keywords.md` listing them and their counts.
A letter's page above `PAGE_LIMIT` definitions lists pages by the next character (`keywords-s-e.md`: names that
start with `se`, any case; `keywords-s-e-t.md` ...), and keeps the names that go no further.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from kwbuild.names import name_order
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
PART_NAMES = 50_000
"""A split index is rendered in parts of consecutive pages with about this many names: only one part's
definitions are held at a time. Torch (~100,000 names): two parts, the A-Z index's peak ~75 -> ~55 MB over the
digests, for one more pass over the tree's definitions (four parts: ~40 MB, but +10% of the index's CPU)."""
MAX_CHECKED = 500  # more changed names than this: every page is rendered again (cheaper than checking them)
_NEXT = tuple("0123456789_abcdefghijklmnopqrstuvwxyz")  # in the names' order
_BUCKETS = ("_", *"abcdefghijklmnopqrstuvwxyz", "other")
Group = tuple[str, list[KeywordEntry]]
"""A name and its definitions."""
Urls = dict[str, tuple[str, str, str]]
"""path -> (docs page URL and `#`, ` in `path` · [L`, source URL) from the docs root: what a definition's line
says of its file, made once per file."""
Key = tuple[str, ...]
"""A page of a split index: its letter bucket (`("s",)`, `("other",)`), then the next characters of its names
(`("s", "e")`: names starting with `se`, any case)."""
EntriesOf = Callable[[set[str] | None], Sequence[KeywordEntry]]
"""The definitions of these names (None: of every name)."""
Changes = tuple[list[str], list[str]]
"""The names of the definitions added and of those removed (one per definition) since the pages were made."""


@dataclass(frozen=True)
class IndexPlan:
    """The pages of an index (none: one page, no `names`), and in `members` those to render with the names each
    shows: every page, or those that can differ from the pages on disk; `shown`: those names (None: every name)."""

    names: _Names | None
    pages: dict[Key, tuple[int, int]]
    members: dict[Key, list[str]]
    shown: set[str] | None

    def files(self) -> list[str]:
        """The file names of every page of the index, in order."""
        return sorted([KEYWORDS_PAGE, *map(_page_file, self.pages)])

    @property
    def partial(self) -> bool:
        """Some pages are not rendered: they are on disk as they should be."""
        return len(self.members) < len(self.pages)


def plan_keyword_index(names: Sequence[str], counts: Sequence[int], changes: Changes | None = None) -> IndexPlan:
    """The plan of the index of these names (in `kwbuild.names.name_order`, each with its number of definitions)
    after `changes` (see `render_keyword_index`)."""
    total = sum(counts)
    if total <= SPLIT_AT:
        return IndexPlan(None, {}, {}, None)
    index = _Names(names, counts)
    pages = index.layout()
    wanted = _wanted(index, pages, changes, total)
    members = {key: index.on_page(key, pages) for key in pages if wanted is None or key in wanted}
    shown = None if wanted is None else {name for page_names in members.values() for name in page_names}
    return IndexPlan(index, pages, members, shown)


def render_keyword_index(
    entries: Iterable[KeywordEntry],
    ctx: PageContext | None = None,
    changes: Changes | None = None,
    plan: IndexPlan | None = None,
) -> dict[str, str | None]:
    """File name (at the docs root) -> text of the keyword index page(s).

    `changes`: what changed since the pages on disk were made from the same renderer; then only the pages that
    hold a changed name, and the index pages above them, are rendered, and the others are named with the value
    None (they exist, unchanged), unless the set of pages itself changed. None: every page.

    `plan`: the plan made from the tree's names (`plan_keyword_index`); then `entries` need only hold every
    definition of the names it shows. None: the plan of these entries."""
    entries = list(entries)
    if plan is None:
        counted = Counter(entry[0] for entry in entries)
        ordered = sorted(counted, key=name_order)
        plan = plan_keyword_index(ordered, [counted[name] for name in ordered], changes)
    return dict(keyword_index_pages(entries_in(entries), plan, ctx))


def keyword_index_pages(
    entries_of: EntriesOf, plan: IndexPlan, ctx: PageContext | None = None, part_names: int = PART_NAMES
) -> Iterator[tuple[str, str | None]]:
    """The pages of `render_keyword_index` one at a time, in file name order: each is rendered when asked (the
    torch tree's ~1,100 pages are ~64 MB of text: a caller that writes each before asking the next never holds
    them all).

    `entries_of` gives the definitions of the names the plan shows: a split index asks it for those of
    consecutive pages with ~`part_names` names at a time, and holds only those definitions."""
    if plan.names is None:
        every = entries_of(None)
        buckets = _buckets(_groups(every))
        yield KEYWORDS_PAGE, _single_page(buckets, _file_urls({e[3] for e in every}, ctx or PageContext()))
        return
    pages, members = plan.pages, plan.members
    by_file = {_page_file(key): key for key in pages}
    files = plan.files()
    parts = _parts([by_file[file] for file in files if by_file.get(file) in members], members, part_names)
    part: dict[Key, list[Group]] = {}
    urls: Urls = {}
    for file in files:
        if file == KEYWORDS_PAGE:
            yield file, _letters_page({key[0]: pages[key] for key in pages if len(key) == 1})
        elif (key := by_file[file]) not in members:
            yield file, None
        else:
            if key not in part:  # the next part starts with this page
                shown = {key: members[key] for key in next(parts)}
                part, urls = _part(entries_of({name for names in shown.values() for name in names}), shown, ctx)
            yield file, _prefix_page(key, part.pop(key), pages, urls)


def entries_in(entries: Iterable[KeywordEntry]) -> EntriesOf:
    """`EntriesOf` over these definitions."""
    listed = list(entries)
    return lambda names: listed if names is None else [entry for entry in listed if entry[0] in names]


def _parts(keys: list[Key], members: dict[Key, list[str]], size: int) -> Iterator[list[Key]]:
    """These pages (in file order) in runs that show `size` names or more, the last one fewer (a page's names are
    its own: no name is on two pages)."""
    run: list[Key] = []
    count = 0
    for key in keys:
        run.append(key)
        count += len(members[key])
        if count >= size:
            yield run
            run, count = [], 0
    if run:
        yield run


def _part(
    entries: Sequence[KeywordEntry], members: dict[Key, list[str]], ctx: PageContext | None
) -> tuple[dict[Key, list[Group]], Urls]:
    """The names of these pages with their definitions, page by page, and the URLs of the files they are in."""
    page_of = {name: key for key, page_names in members.items() for name in page_names}
    groups = _groups([entry for entry in entries if entry[0] in page_of])
    urls = _file_urls({entry[3] for _, definitions in groups for entry in definitions}, ctx or PageContext())
    by_page: dict[Key, list[Group]] = {key: [] for key in members}
    for group in groups:
        by_page[page_of[group[0]]].append(group)
    return by_page, urls


class _Names:
    """The names of a split index in lower-case order, with running totals of their definitions: the names
    and definitions below any prefix in O(log n), so that laying out the tree's ~1,000 pages or checking a
    change's prefixes costs milliseconds."""

    def __init__(self, names: Sequence[str], counts: Sequence[int]) -> None:
        self.names = list(names)  # in `name_order`
        self.lows = list(map(str.lower, names))
        self.sums = list(itertools.accumulate(counts, initial=0))

    def span(self, prefix: str) -> tuple[int, int]:
        """The positions of the names that start with `prefix` (any case)."""
        lo = bisect.bisect_left(self.lows, prefix)
        return lo, bisect.bisect_left(self.lows, prefix + "\U0010ffff", lo)

    def totals(self, key: Key) -> tuple[int, int]:
        """(names, definitions) of a page's prefix; for `other`, of every name no letter page takes."""
        if key == ("other",):
            spans = [self.span(bucket) for bucket in _BUCKETS[:-1]]
            taken = sum(hi - lo for lo, hi in spans), sum(self.sums[hi] - self.sums[lo] for lo, hi in spans)
            return len(self.names) - taken[0], self.sums[-1] - taken[1]
        lo, hi = self.span("".join(key))
        return hi - lo, self.sums[hi] - self.sums[lo]

    def layout(self) -> dict[Key, tuple[int, int]]:
        """Every page with its (names, definitions): the letter pages, and below each page with more than
        `PAGE_LIMIT` definitions one page per next character that some name has."""
        pages: dict[Key, tuple[int, int]] = {}
        stack: list[Key] = [(bucket,) for bucket in _BUCKETS]
        while stack:
            key = stack.pop()
            totals = self.totals(key)
            if not totals[0]:
                continue
            pages[key] = totals
            if totals[1] > PAGE_LIMIT and key != ("other",) and len(key) < MAX_DEPTH:
                stack += [(*key, char) for char in _NEXT]
        return dict(sorted(pages.items()))

    def on_page(self, key: Key, pages: Mapping[Key, object]) -> list[str]:
        """The names a page shows itself (not those of the pages below it)."""
        if key == ("other",):
            spans = sorted(self.span(bucket) for bucket in _BUCKETS[:-1])
            lo, hi = 0, len(self.names)
        else:
            lo, hi = self.span("".join(key))
            below = [(*key, char) for char in _NEXT if (*key, char) in pages]
            spans = sorted(self.span("".join(sub)) for sub in below)
        shown, start = [], lo
        for first, last in spans:
            shown += self.names[start:first]
            start = max(start, last)
        return shown + self.names[start:hi]


def _wanted(names: _Names, pages: dict[Key, tuple[int, int]], changes: Changes | None, total: int) -> set[Key] | None:
    """The pages that can differ from those on disk: those of the changed names and every page above them; None
    (every page) without `changes`, or when the set of pages may not be that of before: a page appears or goes,
    or one crosses `PAGE_LIMIT` (or the whole index `SPLIT_AT`), or too many names changed to check."""
    if changes is None:
        return None
    added, removed = changes
    if total - len(added) + len(removed) <= SPLIT_AT:
        return None  # the index was one page
    delta = Counter(added)
    delta.subtract(removed)
    if len(delta) > MAX_CHECKED:
        return None
    prefixes = {name: _prefixes(name.lower()) for name in delta}
    wanted: set[Key] = set()
    for keys in {tuple(keys) for keys in prefixes.values()}:
        for key in keys:
            now = names.totals(key)[1]
            before = now - sum(n for name, n in delta.items() if key in prefixes[name])
            if (now > 0) != (before > 0) or (now > PAGE_LIMIT) != (before > PAGE_LIMIT):
                return None
            if key in pages:
                wanted.add(key)
            if now <= PAGE_LIMIT:  # not split, before or after: no page below
                break
    return wanted


def _prefixes(low: str) -> list[Key]:
    """The keys of the pages a (lower-cased) name can be on, from its letter's page down."""
    bucket = _bucket(low)
    if bucket == "other":
        return [("other",)]
    keys: list[Key] = [(bucket,)]
    for char in low[1:MAX_DEPTH]:
        if char not in _NEXT:
            break
        keys.append((*keys[-1], char))
    return keys


def _page_file(key: Key) -> str:
    return f"keywords-{'-'.join(key)}.md"


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
    # the anchor breaks ties of one qualname: None stands for its `anchor_base`, which sorts before its `-2`...
    return entry[3], entry[4], entry[2], entry[1], entry[5] or ""


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
    below = [sub for char in _NEXT if (sub := (*key, char)) in pages] if key != ("other",) else []
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
    docs, where, source = urls[path]
    fragment = anchor or anchor_base(qualname)  # an anchor id needs no quoting (see `markdown._FRAGMENT_PLAIN`)
    return f"{kind_word(kind)} [{code_span(qualname)}]({docs}{fragment}){where}{line}]({source}#L{line})"


def _file_urls(paths: Iterable[str], ctx: PageContext) -> Urls:
    return {
        path: (quote_path(docs_page(path)) + "#", f" in {code_span(path)} · [L", source_link(KEYWORDS_PAGE, path, ctx))
        for path in paths
    }
