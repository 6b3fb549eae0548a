"""`symbols.json` spliced by name (kwbuild.symbol_file): always the bytes of the map dumped whole."""

from __future__ import annotations

from typing import Any

import hypothesis
from hypothesis import strategies as st

from kwbuild import jsonio, symbol_file
from kwbuild.model import SCHEMA_VERSION

NAMES = st.text(alphabet='ab_Z\u00e9"\\]', min_size=1, max_size=3)
DEFINITION = st.fixed_dictionaries(
    {
        "path": st.sampled_from(["a.py", "b/c.h", 'q"].py']),
        "module": st.none() | st.just("a"),
        "qualname": st.text(max_size=4),
        "kind": st.just("function"),
        "line": st.integers(1, 9),
    }
)
MAP = st.dictionaries(NAMES, st.lists(DEFINITION, min_size=1, max_size=3), max_size=12)


def _dumped(symbols: dict[str, Any]) -> bytes:
    return jsonio.dumps({"schema_version": SCHEMA_VERSION, "symbols": symbols})


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(MAP, st.dictionaries(NAMES, st.none() | st.lists(DEFINITION, max_size=2), max_size=5))
def test_a_patch_gives_the_bytes_of_the_whole_map(before: dict[str, Any], changed: dict[str, Any]) -> None:
    old = symbol_file.encode(before)
    assert old.data == _dumped(before)
    assert all(old.decode(name) == definitions for name, definitions in before.items())
    after = {**before, **{name: value for name, value in changed.items() if value}}
    after = {name: value for name, value in after.items() if changed.get(name, value)}
    new = symbol_file.patch(old, changed)
    assert new.data == _dumped(after)
    assert (new.names, new.ends) == (symbol_file.encode(after).names, symbol_file.encode(after).ends)
    assert all(new.decode(name) == definitions for name, definitions in after.items())
    assert new.decode("not a name") is None
