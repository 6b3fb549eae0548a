"""Generate a large, deterministic tree of small source files, for scaling runs.

Usage: python bench/gen_tree.py N DIR [--seed S]        (or, from Python: `generate(n, root, seed=0)`)

N is the number of `.py` files. They are spread over nested packages (`pkg_NNN/sub_N/leaf_N/`), at most
~90 modules per folder, each package with an `__init__.py` that re-exports a few names. A module is
0.5-3 KB of ordinary Python: a docstring, imports of earlier generated modules (absolute, and relative within
its package), classes with methods, functions with signatures and docstrings, constants. About one `.h`
header per 100 modules is added (a struct, a class, a function, a macro), and a handful of the `.py` files are
bad on purpose (a syntax error, bytes that are not UTF-8, ...), so that the bad-input paths run at scale.

The same (N, seed) always writes the same bytes. DIR must be absent or empty. `generate` returns the counts
(`GeneratedTree`) a test asserts against: `files` is what `kwbuild build` reports as `files`, and `bad` what
it reports as `errors`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LEAF_MODULES = (20, 90)
"""Modules per leaf package, drawn uniformly: with its `__init__.py` and headers, a folder holds ≤ 100 files."""
HEADER_EVERY = 100
"""One C/C++ header per this many `.py` files."""
BAD_EVERY = 20_000
"""Each kind of bad file appears once per this many `.py` files (at least once when N ≥ 100)."""

NOUNS = ("cache", "record", "widget", "parser", "token", "buffer", "window", "session", "packet", "matrix",
         "ledger", "graph", "node", "channel", "queue", "report", "vector", "order", "stream", "config",
         "account", "batch", "cursor", "frame", "layer", "policy", "sample", "schema", "signal", "tensor")  # fmt: skip
VERBS = ("load", "save", "merge", "split", "parse", "render", "check", "update", "fetch", "build", "scale",
         "filter", "encode", "decode", "reset", "apply", "resolve", "collect", "index", "flush")  # fmt: skip
ADJECTIVES = ("fast", "lazy", "shared", "local", "remote", "sparse", "dense", "frozen", "eager", "cached",
              "raw", "safe", "stale", "strict", "nested", "partial")  # fmt: skip
TYPES = ("int", "str", "float", "bool", "bytes", "list[int]", "dict[str, int]", "tuple[int, ...]", "None")
SENTENCES = (
    "The result is cached for the lifetime of the object.",
    "Raises ValueError when the input is empty.",
    "This is a pure function: it does not touch the disk.",
    "Kept for backwards compatibility with older callers.",
    "The order of the items is preserved.",
    "Only the first matching entry is returned.",
    "Thread-safe as long as the caller holds the lock.",
    "See the module docstring for the overall design.",
)

BAD_KINDS: dict[str, bytes] = {
    "syntax": b'"""A module with a syntax error."""\n\ndef ok():\n    return 1\n\ndef broken(:\n    pass\n',
    "latin1": b'"""Latin-1 bytes without a coding cookie."""\n\ndef caf\xe9():\n    return "\xe9t\xe9"\n',
    "binary": bytes(range(256)) * 2,
    "indent": b'"""Inconsistent indentation."""\n\ndef f(x):\n        y = x\n    return y\n',
    "unterminated": b'"""A docstring that never ends.\n\ndef f():\n    return 1\n',
}
"""Bad `.py` files, by kind: each still gets a table, one that records errors (the summary counts it once)."""


@dataclass(frozen=True)
class GeneratedTree:
    """What `generate` wrote: `python` .py files (of which `bad` are bad on purpose) and `headers` .h files."""

    root: Path
    python: int
    headers: int
    bad: int
    packages: int
    bytes: int

    @property
    def files(self) -> int:
        return self.python + self.headers


@dataclass
class _Module:
    dotted: str
    names: tuple[str, ...]  # public names other modules may import


class _Writer:
    """Writes the files and keeps the counts; the random stream is the only source of variety."""

    def __init__(self, root: Path, n: int, seed: int) -> None:
        self.root = str(root)
        self.n = n
        self.rng = random.Random(seed)
        self.python = self.headers = self.packages = self.written = 0
        self.modules: list[_Module] = []
        self.bad_slots = _bad_slots(n, self.rng)
        self.bad = 0

    def write(self, rel: str, data: bytes) -> None:
        with open(os.path.join(self.root, rel), "wb") as handle:
            handle.write(data)
        self.written += len(data)

    def python_file(self, rel: str, text: str) -> None:
        """Write a .py file, or a bad one in its place when this slot was drawn for one."""
        kind = self.bad_slots.get(self.python)
        self.python += 1
        if kind is None:
            self.write(rel, text.encode())
        else:
            self.bad += 1
            self.write(rel, BAD_KINDS[kind] + f"\n# bad file {self.bad}\n".encode())  # unique bytes: no cache hit


def _bad_slots(n: int, rng: random.Random) -> dict[int, str]:
    """Which .py files (by write order) are bad, and of which kind."""
    if n < 100:
        return {}
    per_kind = max(1, n // BAD_EVERY)
    slots = rng.sample(range(n), per_kind * len(BAD_KINDS))
    return {slot: kind for i, slot in enumerate(slots) for kind in [list(BAD_KINDS)[i % len(BAD_KINDS)]]}


def generate(n: int, root: Path | str, seed: int = 0) -> GeneratedTree:
    """Write a tree of `n` .py files (plus headers) under `root`, deterministically for (n, seed)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise ValueError(f"{root} is not empty")
    w = _Writer(root, n, seed)
    leaf = 0
    while w.python < n:
        _leaf_package(w, leaf)
        leaf += 1
    return GeneratedTree(root, w.python, w.headers, w.bad, w.packages, w.written)


def _leaf_package(w: _Writer, leaf: int) -> None:
    """Leaf package number `leaf`: its parent packages when first seen, then its modules and headers."""
    parts = (f"pkg_{leaf // 100:03d}", f"sub_{leaf // 10 % 10}", f"leaf_{leaf % 10}")
    for depth in range(1, 3):  # the parents' __init__.py are written with their first leaf
        if leaf % (100 if depth == 1 else 10) == 0 and w.python < w.n:
            _package(w, parts[:depth], [])
    rel = "/".join(parts)
    os.makedirs(os.path.join(w.root, rel), exist_ok=True)
    count = min(w.rng.randint(*LEAF_MODULES), w.n - w.python - 1)
    first = len(w.modules)
    for i in range(max(count, 0)):
        text, names = _module_text(w, parts, i)
        w.python_file(f"{rel}/mod_{i:03d}.py", text)
        w.modules.append(_Module(".".join((*parts, f"mod_{i:03d}")), names))
        if w.python % HEADER_EVERY == 0:
            w.write(f"{rel}/native_{i:03d}.h", _header_text(w.rng, w.headers).encode())
            w.headers += 1
    if w.python < w.n:
        _package(w, parts, w.modules[first:])


def _package(w: _Writer, parts: tuple[str, ...], children: list[_Module]) -> None:
    """An `__init__.py`: a docstring, re-exports of a few of its modules' names, and `__all__`."""
    os.makedirs(os.path.join(w.root, *parts), exist_ok=True)
    lines = [f'"""The {".".join(parts)} package: {w.rng.choice(NOUNS)} {w.rng.choice(NOUNS)} helpers."""', ""]
    exported: list[str] = []
    for module in w.rng.sample(children, min(len(children), 4)):
        names = module.names[:2]
        lines.append(f"from .{module.dotted.rpartition('.')[2]} import {', '.join(names)}")
        exported += names
    lines += ["", f"__all__ = {sorted(exported)!r}", ""]
    w.python_file("/".join((*parts, "__init__.py")), "\n".join(lines))
    w.packages += 1


def _module_text(w: _Writer, parts: tuple[str, ...], index: int) -> tuple[str, tuple[str, ...]]:
    rng = w.rng
    noun = rng.choice(NOUNS)
    lines = [f'"""{noun.capitalize()} handling for {".".join(parts)}.', "", rng.choice(SENTENCES), '"""', ""]
    lines += _imports(w, index)
    target = rng.triangular(350, 2400, 800)
    names: list[str] = []
    size = sum(len(line) + 1 for line in lines)
    lines.append(f"DEFAULT_{noun.upper()}_LIMIT = {rng.randint(1, 4096)}\n")
    while size < target or not names:
        block = _class(rng, len(names)) if rng.random() < 0.45 else _function(rng, len(names), indent="")
        names.append(block[0])
        size += sum(len(line) + 1 for line in block[1])
        lines += block[1]
    return "\n".join(lines), tuple(names)


def _imports(w: _Writer, index: int) -> list[str]:
    rng = w.rng
    lines = [f"import {m}" for m in sorted(rng.sample(("os", "re", "sys", "json", "logging", "typing"), 2))]
    outside = len(w.modules) - index  # modules of earlier packages: the import graph has no cycles
    if outside > 0:
        picked = {rng.randrange(outside): None for _ in range(2)}
        lines += [f"from {m.dotted} import {', '.join(m.names[:2])}" for m in (w.modules[k] for k in picked)]
    if index > 0 and rng.random() < 0.4:
        sibling = w.modules[-rng.randint(1, index)]
        lines.append(f"from .{sibling.dotted.rpartition('.')[2]} import {sibling.names[0]}")
    if rng.random() < 0.1:
        lines.append("from .. import __name__ as _parent_name")
    return [*lines, ""]


def _class(rng: random.Random, k: int) -> tuple[str, list[str]]:
    name = f"{rng.choice(ADJECTIVES).capitalize()}{rng.choice(NOUNS).capitalize()}{k}"
    base = rng.choice(("", "", "(Exception)", "(dict)", "(object)"))
    attr = rng.choice(NOUNS)
    lines = [
        "",
        f"class {name}{base}:",
        f'    """A {attr} holder. {rng.choice(SENTENCES)}"""',
        "",
        f"    kind = {attr!r}",
        "",
        f"    def __init__(self, {attr}: {rng.choice(TYPES)}, limit: int = {rng.randint(1, 99)}) -> None:",
        f"        self.{attr} = {attr}",
        "        self.limit = limit",
    ]
    for m in range(rng.randint(1, 4)):
        lines += _function(rng, m, indent="    ")[1]
    return name, [*lines, ""]


def _function(rng: random.Random, k: int, indent: str) -> tuple[str, list[str]]:
    name = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}{'' if indent else f'_{k}'}"
    params = [f"{rng.choice(NOUNS)}_{p}: {rng.choice(TYPES)}" for p in range(rng.randint(0, 3))]
    if indent:
        params.insert(0, "self")
    if rng.random() < 0.3:
        params.append(f"*, {rng.choice(ADJECTIVES)}: bool = False")
    ret = rng.choice(TYPES)
    i = indent
    lines = [
        *([""] if indent else ["", ""]),
        f"{i}def {name}({', '.join(params)}) -> {ret}:",
        f'{i}    """{rng.choice(VERBS).capitalize()} the {rng.choice(NOUNS)}. {rng.choice(SENTENCES)}"""',
        f"{i}    total = {rng.randint(0, 1000)}",
        f"{i}    for step in range({rng.randint(2, 64)}):",
        f"{i}        total += step * {rng.randint(1, 9)}",
        f"{i}    return {_value(ret)}",
    ]
    return name, lines


def _value(annotation: str) -> str:
    return {"str": "str(total)", "bool": "total > 0", "bytes": "b''", "None": "None", "float": "total / 2"}.get(
        annotation, "total" if annotation == "int" else f"{annotation.partition('[')[0]}()"
    )


def _header_text(rng: random.Random, k: int) -> str:
    noun = rng.choice(NOUNS)
    guard = f"NATIVE_{noun.upper()}_{k}_H"
    fields = "".join(f"    {rng.choice(('int', 'double', 'char *', 'size_t'))} {n}_{j};\n"
                     for j, n in enumerate(rng.sample(NOUNS, 3)))  # fmt: skip
    return (
        f"/* Native {noun} support ({k}). */\n#ifndef {guard}\n#define {guard}\n\n#include <stddef.h>\n\n"
        f"#define {noun.upper()}_MAX_{k} {rng.randint(8, 4096)}\n\n"
        f"struct {noun}_record_{k} {{\n{fields}}};\n\n"
        f"class {noun.capitalize()}Engine{k} {{\n public:\n    explicit {noun.capitalize()}Engine{k}(int size);\n"
        f"    int {rng.choice(VERBS)}(const {noun}_record_{k} &record) const;\n\n private:\n    int size_;\n}};\n\n"
        f"int {rng.choice(VERBS)}_{noun}_{k}(struct {noun}_record_{k} *record, size_t count);\n\n#endif\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", type=int, help="number of .py files")
    parser.add_argument("dir", type=Path, help="where to write them (absent or empty)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    tree = generate(args.n, args.dir, args.seed)
    print(
        f"gen_tree: {tree.python} .py ({tree.bad} bad, {tree.packages} packages) + {tree.headers} .h, "
        f"{tree.bytes / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
