"""The outline of a docs page: every symbol in source order, nested, with its anchor and facts (pure).

Module-level classes and functions are h3 headings, their members h4, anything deeper a nested list item under
the last h4. Variables, constants and attributes are list items under their class's heading (or under a
"Module-level names" heading). Each symbol is preceded by its `<a id="sym-..."></a>` anchor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kwbuild.render.blocks import FileUrls, heading
from kwbuild.render.context import Symbol
from kwbuild.render.markdown import anchor_tag, code_span, escape_text, link
from kwbuild.render.symbols import VALUE_KINDS, kind_label, symbol_depths


@dataclass(frozen=True)
class OutlineRefs:
    """What the outline links to: the file's URLs and the pages of names a base class may refer to."""

    urls: FileUrls
    names: Mapping[str, str]
    """name as written in a `class C(Base)` -> URL of its definition (this page or another)."""


def render_outline(symbols: Sequence[Symbol], anchors: Sequence[str], refs: OutlineRefs) -> list[str]:
    """The `## Outline` section (`anchors`: the symbols' anchor ids, see `symbol_anchors`)."""
    lines = heading(2, f"Outline ({len(symbols):,} symbol{'s' if len(symbols) != 1 else ''})")
    if not symbols:
        return [*lines, "No symbols.", ""]
    context: str | None = ""  # qualname of the last heading's symbol; None under "Module-level names"
    level = -1  # nesting level of the list item just written; -1 outside a list
    for symbol, anchor, depth in zip(symbols, anchors, symbol_depths(symbols), strict=True):
        if depth >= 2:
            level = min(depth - 2, level + 1)
        elif symbol["kind"] not in VALUE_KINDS:
            lines += _list_end(level)
            lines.append(_heading_block(symbol, anchor, depth, refs))
            context, level = symbol["qualname"], -1
            continue
        elif context != (owner := symbol["parent"] if depth else None):
            lines += _list_end(level) + _run_heading(owner)
            context, level = owner, 0
        else:
            level = 0
        lines.append(_list_item(symbol, anchor, level, refs))
    return lines + _list_end(level)


def _list_end(level: int) -> list[str]:
    return [""] if level >= 0 else []


def _run_heading(owner: str | None) -> list[str]:
    """The heading over module-level variables, or over a class's attributes that follow its methods."""
    return heading(3, "Module-level names") if owner is None else heading(4, f"Attributes of {code_span(owner)}")


def _heading_block(symbol: Symbol, anchor: str, depth: int, refs: OutlineRefs) -> str:
    """Anchor, h3 (module level) or h4 heading, facts and summary: one string of lines, ending with a blank line."""
    title = f"{'###' if depth == 0 else '####'} {kind_label(symbol)} {code_span(symbol['qualname'])}"
    block = f"{anchor_tag(anchor)}\n{title}\n\n{_facts(symbol, refs)}\n"
    docstring = symbol["docstring"]
    return f"{block}\n{escape_text(docstring)}\n" if docstring else block


def _list_item(symbol: Symbol, anchor: str, level: int, refs: OutlineRefs) -> str:
    head = f"{'  ' * level}- {anchor_tag(anchor)}{kind_label(symbol)} {code_span(symbol['qualname'])}"
    summary = f" - {escape_text(symbol['docstring'])}" if symbol["docstring"] else ""
    return f"{head} · {_facts(symbol, refs)}{summary}"


def _facts(symbol: Symbol, refs: OutlineRefs) -> str:
    """Signature, line span, decorators and bases, joined by ` · `."""
    line, end, source = symbol["line"], symbol["end_line"], refs.urls.source
    text = f"[L{line}]({source}#L{line})" if end <= line else f"[L{line}-L{end}]({source}#L{line}-L{end})"
    if symbol["signature"]:
        text = f"{code_span(symbol['name'] + symbol['signature'])} · {text}"
    if symbol["decorators"]:
        text += " · decorators " + ", ".join(code_span("@" + d) for d in symbol["decorators"])
    if symbol["bases"]:
        text += " · bases " + ", ".join(_base(base, refs) for base in symbol["bases"])
    return text


def _base(base: str, refs: OutlineRefs) -> str:
    target = refs.names.get(base)
    return link(code_span(base), target) if target else code_span(base)
