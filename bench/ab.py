"""A/B: one-file edits on a tree, built by two checkouts of kwbuild in turns, each with its own output folder.

    python bench/ab.py --ref /tmp/ref --ref-work /tmp/refwork [--new .] [--new-work /tmp/newwork] \
        [--corpus /work/corpus/torch] [--repeat 5] [--target REL ...] [--after-full | --full]

On a shared, noisy machine a figure means something only beside a reference measured at the same moment: this
runs the same edit (the no-op, a body edit, an appended function; `bench/run.py`'s edits) under the reference
checkout and the new one alternately (ref first on even rounds, new first on odd ones), restores the file and
rebuilds both after each timed build, and prints the medians and their ratio. Each side builds in its own output
folder and cache (`--prepare` makes them: a first build of each side); give each checkout its own work folder,
as their build state formats may differ. `--after-full` times the first build after a nightly-style build without
a snapshot: doit's database is put back as a `--full` build left it before each timed build. `--full` times
`--full` builds with nothing changed instead of the edits (what a nightly job runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import run as bench

CODE = (  # the checkout's kwbuild, not the one of the current folder or of an editable install: checked
    "import os, sys, kwbuild; from kwbuild.cli import main; "
    "assert kwbuild.__file__.startswith(os.environ['AB_CHECKOUT']), kwbuild.__file__; sys.exit(main())"
)
KINDS = ("no-op", "body edit", "add symbol")


def main() -> None:
    args = _parser().parse_args()
    args.target = args.target or ["_inductor/ir.py", "include/c10/core/TensorImpl.h"]
    sides = {"ref": (args.ref, args.ref_work), "new": (args.new, args.new_work)}

    def build(side: str, *options: str) -> tuple[float, float]:
        """(wall s, CPU s of the build's whole process tree) of one build."""
        checkout, work = sides[side]
        root = str(Path(checkout).resolve())
        folders = ["--out", f"{work}/out", "--cache", f"{work}/cache", "-q", *options]
        cmd = [sys.executable, "-c", CODE, "build", str(args.corpus), *folders]
        Path(work).mkdir(parents=True, exist_ok=True)  # the build runs there (not in a checkout) and logs there
        run, _ = bench.timed(cmd, Path(work) / "stderr.log", env=checkout_env(root))
        return run.seconds, run.cpu

    for checkout, _ in sides.values():  # current bytecode on both sides: no module compiled in a timed build
        subprocess.run([sys.executable, "-m", "compileall", "-q", f"{checkout}/kwbuild"], check=True)
    if args.prepare:
        for side in sides:
            print(f"{side}: first build {build(side)[0]:.1f} s, no-op {build(side)[0]:.2f} s")
        return
    if args.full:
        full: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for n in range(args.repeat):
            for side in ("ref", "new") if n % 2 == 0 else ("new", "ref"):
                full.setdefault(("--full, nothing changed", side), []).append(build(side, "--full"))
        _report(full)
        return
    if args.after_full:  # doit's state as a build without a snapshot leaves it, kept to be put back
        for side, (_, work) in sides.items():
            print(f"{side}: full build {build(side, '--full')[0]:.1f} s")
            shutil.copyfile(f"{work}/out/.kwbuild/doit.sqlite3", f"{work}/doit-after-full.sqlite3")

    def timed_build(side: str) -> tuple[float, float]:
        if args.after_full:
            work = sides[side][1]
            shutil.copyfile(f"{work}/doit-after-full.sqlite3", f"{work}/out/.kwbuild/doit.sqlite3")
        return build(side)

    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    first = time.time_ns() // 1000 % 10**7 * 100  # new bytes in every run: an edit seen before is a cache hit
    for rel in args.target:
        target = args.corpus / rel
        original, info = target.read_bytes(), os.stat(target)
        language = "py" if target.suffix in (".py", ".pyi") else "C++"
        try:
            for kind in KINDS:
                for n in range(args.repeat):
                    for side in ("ref", "new") if n % 2 == 0 else ("new", "ref"):
                        if kind != "no-op":
                            target.write_bytes(_edited(kind, target, original, first + n))
                        times.setdefault((f"{kind} ({language})", side), []).append(timed_build(side))
                        target.write_bytes(original)
                        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
                        build(side)
        finally:
            target.write_bytes(original)
            os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    _report(times)


def checkout_env(checkout: str | Path) -> dict[str, str]:
    """The environment of a build by this checkout's kwbuild (with `CODE`): bytecode written, as installed."""
    root = str(Path(checkout).resolve())
    return dict(bench.RUN_ENV, PYTHONPATH=root, AB_CHECKOUT=root + os.sep)


def _edited(kind: str, target: Path, original: bytes, stamp: int) -> bytes:
    return (
        bench.edit_body(target, original, stamp) if kind == "body edit" else bench.add_symbol(target, original, stamp)
    )


def _report(times: dict[tuple[str, str], list[tuple[float, float]]]) -> None:
    """Medians of wall and CPU seconds (CPU: the build's whole process tree, less disturbed by the other jobs of a
    shared machine than the wall time), their ratios, and each side's wall times."""
    print("| scenario | ref median s | new median s | new / ref | ref CPU s | new CPU s | CPU new / ref | ref runs "
          "| new runs |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for scenario in dict.fromkeys(name for name, _ in times):
        ref, new = times[(scenario, "ref")], times[(scenario, "new")]
        wall = [statistics.median(run[0] for run in side) for side in (ref, new)]
        cpu = [statistics.median(run[1] for run in side) for side in (ref, new)]
        runs = " | ".join(" ".join(f"{run[0]:.2f}" for run in side) for side in (ref, new))
        print(
            f"| {scenario} | {wall[0]:.3f} | {wall[1]:.3f} | {wall[1] / wall[0]:.2f} "
            f"| {cpu[0]:.3f} | {cpu[1]:.3f} | {cpu[1] / cpu[0]:.2f} | {runs} |"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[1], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--ref", required=True, help="the reference checkout (e.g. a `git worktree` of a commit)")
    parser.add_argument("--ref-work", required=True, help="the reference's output folder and cache")
    parser.add_argument("--new", default=str(Path(__file__).parent.parent), help="the new checkout (default: this one)")
    parser.add_argument("--new-work", default="/tmp/kwbuild-ab-new", help="the new checkout's output folder and cache")
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus/torch"))
    parser.add_argument("--target", action="append", help="file to edit, relative to the corpus (repeatable)")
    parser.add_argument("--repeat", type=int, default=5, help="timed builds per scenario and side")
    parser.add_argument("--prepare", action="store_true", help="only make both sides' outputs (first builds)")
    parser.add_argument(
        "--after-full",
        action="store_true",
        help="time the first build after a build without a snapshot (each side's doit database is put back as a "
        "`--full` build left it before each timed build)",
    )
    parser.add_argument("--full", action="store_true", help="time `--full` builds with nothing changed, no edits")
    return parser


if __name__ == "__main__":
    main()
