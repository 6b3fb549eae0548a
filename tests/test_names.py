"""The tree's name index (kwbuild.names): patched with changes, it is the index made from the files after them."""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis import strategies as st

from kwbuild import names as names_module
from kwbuild.names import FileNames, NameIndex, name_order

NAME = st.sampled_from(["a", "A", "ab", "Ab", "_x", "b", "B", "zeta", "\u00e9t\u00e9", "\u00c9t\u00e9", "s1", "S1"])
FILE = st.tuples(
    st.lists(NAME, max_size=6).map(tuple),
    st.lists(NAME, max_size=3, unique=True).map(lambda names: tuple(sorted(names))),
)
TREE = st.dictionaries(st.sampled_from(["a.py", "b.py", "c.h", "d/e.py"]), FILE, max_size=4)


def _changes(before: dict[str, FileNames], after: dict[str, FileNames]) -> list[tuple[FileNames | None, ...]]:
    return [(before.get(path), after.get(path)) for path in sorted(before.keys() | after.keys())]


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(TREE, TREE, st.booleans())
def test_a_patched_index_is_the_index_made_after_the_changes(
    before: dict[str, FileNames], after: dict[str, FileNames], whole: bool
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        if whole:  # the path that makes the index again from the counts
            patch.setattr(names_module, "MAX_PATCHED", 0)
        patched = NameIndex.build(before.values()).patched(_changes(before, after))  # type: ignore[arg-type]
    made = NameIndex.build(after.values())
    assert patched == made
    assert made.names == sorted(made.names, key=name_order) and 0 not in made.counts
    assert made.total == sum(len(defined) for defined, _ in after.values())
    assert set(made.imported) == {name for _, imported in after.values() for name in imported}


def test_names_equal_but_for_case_are_kept_apart_in_a_fixed_order() -> None:
    index = NameIndex.build([(("b", "A", "a", "a"), ("x",)), (("B",), ("x", "y"))])
    assert (index.names, index.counts, index.imported) == (["A", "a", "B", "b"], [1, 2, 1, 1], {"x": 2, "y": 1})
    assert index.patched([((("B",), ("x", "y")), None)]) == NameIndex(["A", "a", "b"], [1, 2, 1], {"x": 1})
