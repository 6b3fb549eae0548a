"""In-process timings of the pure parts that whole builds spend most of their CPU in, on a built output folder.

    python bench/micro.py --out OUT --root TREE [--every N] [--repeat K]
    PYTHONPATH=/tmp/ref python bench/micro.py ...      # the same on another checkout (a worktree), for an A/B

A whole build on this shared machine varies by 10-20% from one run to the next; a change to one function is
better compared here, each side in its own process, as the minimum of K runs (the collector off, as in a build):
- `anchor ids`: `anchor_ids` of every table's names (the digests and both pages of each file compute them);
- `page renderers`: both pages of every N-th file, from its table and links on disk (read before timing);
- `task loading`: doit's `load_tasks` over the task generators of a build of TREE into a new output folder
  (the per-file tasks of a fresh output: every table, page and folder task).
Prints one Markdown row per measure, with the folder of the `kwbuild` package it timed.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def best_of(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder of a finished build")
    parser.add_argument("--root", type=Path, required=True, help="the tree that build was made from")
    parser.add_argument("--every", type=int, default=5, help="render the pages of one file in N (default: 5)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import kwbuild
    from kwbuild import jsonio
    from kwbuild.render.context import PageContext
    from kwbuild.render.docs_page import render_docs_page
    from kwbuild.render.keyword_page import render_keyword_page
    from kwbuild.render.markdown import anchor_ids

    gc.disable()
    tables = args.out / "tables"
    rels = sorted(str(p.relative_to(tables))[: -len(".json")] for p in tables.rglob("*.json"))
    names, sample = [], []
    for number, rel in enumerate(rels):  # each table read once; the sample's kept with their links
        table = jsonio.read_json(tables / f"{rel}.json")
        names.append([s["qualname"] for s in table["symbols"]])
        if number % args.every == 0:
            sample.append((table, jsonio.read_json(args.out / "links" / f"{rel}.json")))
    ctx = PageContext()

    def render() -> None:
        for table, links in sample:
            render_keyword_page(table, links, ctx)
            render_docs_page(table, links, ctx)

    with tempfile.TemporaryDirectory() as folder:
        load = _task_loader(args.root, Path(folder))
        count = sum(map(len, names))
        rows = [
            (f"anchor ids ({count:,} names)", best_of(args.repeat, lambda: list(map(anchor_ids, names)))),
            (f"page renderers ({len(sample):,} files, both pages)", best_of(args.repeat, render)),
            (f"task loading ({len(load()):,} tasks)", best_of(args.repeat, load)),
        ]
    print(f"kwbuild: {os.path.dirname(kwbuild.__file__)}\n\n| measure | min of {args.repeat} s |\n|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} |")


def _task_loader(root: Path, folder: Path) -> Callable[[], list[object]]:
    """doit's `load_tasks` over the generators of a build of `root` into a new output folder (planned once)."""
    from doit.loader import load_tasks

    from kwbuild.config import make_config
    from kwbuild.plan import make_plan
    from kwbuild.tasks import make_builders, namespace

    config = make_config(str(root), str(folder / "out"), str(folder / "cache"), jobs=1)
    config.layout.prepare()
    plan, builders = make_plan(config, use_snapshot=False), make_builders(config)

    def load() -> list[object]:
        tasks: list[object] = load_tasks(namespace(plan, builders), allow_delayed=True)
        return tasks

    return load


if __name__ == "__main__":
    main()
