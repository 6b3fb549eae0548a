"""The `kwbuild` command: parse options, call one function, map errors to exit codes (the only place).

Exit codes: 0 success (source files with recorded errors included), 1 user error, 2 usage, 3 internal
error (the traceback goes to a log file, its path on stderr), 4 recorded source errors under `--strict`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from kwbuild import __version__, commands_read, jsonio
from kwbuild.errors import EXIT_INTERNAL, EXIT_SOURCE_ERRORS, KwbuildError, UsageError, UserError
from kwbuild.layout import Layout


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kwbuild", description="Incremental symbol tables and keyword indexes.")
    parser.add_argument("--version", action="version", version=f"kwbuild {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    build = commands.add_parser("build", help="build (or bring up to date) the tables and pages of a tree")
    _add_build_options(build)
    build.add_argument("--full", action="store_true", help="forget doit's state: check every file again")
    build.add_argument("--summary-json", metavar="FILE", help="write the build summary as JSON")
    build.add_argument("--strict", action="store_true", help="exit 4 when a source file has a recorded error")
    build.add_argument(
        "--no-cache",
        action="store_true",
        help="recompute every table; report cache entries that differ (implies --full)",
    )
    build.set_defaults(func=cmd_build)

    watch = commands.add_parser("watch", help="build, then rebuild whenever the tree changes (Ctrl-C stops)")
    _add_build_options(watch)
    watch.set_defaults(func=cmd_watch)

    show = commands.add_parser("show", help="print one file's table as JSON")
    show.add_argument("path", help="the file's path in the tree, as in its table")
    show.add_argument("--out", default="kwbuild-out", help="output folder of the build")
    show.set_defaults(func=cmd_show)

    export = commands.add_parser("export", help="print every table as JSON Lines, sorted by path")
    export.add_argument("--out", default="kwbuild-out", help="output folder of the build")
    export.set_defaults(func=cmd_export)
    commands_read.register(commands)

    cache = commands.add_parser("cache", help="look after the content cache: stats, prune, verify")
    cache.add_argument("action", choices=("stats", "prune", "verify"))
    cache.add_argument("--cache", help="content cache folder (default: the per-user cache)")
    cache.add_argument("--keep-builds", type=int, metavar="N", help="prune: keep the entries of the newest N builds")
    cache.add_argument("--max-size", type=int, metavar="BYTES", help="prune: evict down to this size")
    cache.add_argument("--fix", action="store_true", help="verify: delete the bad entries")
    cache.set_defaults(func=cmd_cache)
    return parser


def _add_build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", help="the source tree")
    parser.add_argument("--out", default="kwbuild-out", help="output folder (default: ./kwbuild-out)")
    parser.add_argument("--cache", help="content cache folder (default: the per-user cache)")
    parser.add_argument("-j", "--jobs", type=int, help="worker processes (default: all cores)")
    parser.add_argument("--include", action="append", default=[], metavar="GLOB", help="only paths matching")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="leave paths out")
    parser.add_argument("--source-url", metavar="URL", help="link sources to URL+path (default: relative links)")
    parser.add_argument(
        "--include-source", action="store_true", default=None, help="paste each file's source into its docs page"
    )
    parser.add_argument(
        "--max-file-size", type=int, metavar="BYTES", help="record larger files without parsing them (default 16 MiB)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--executor", choices=("local", "dask"), default="local", help="where cache misses are extracted"
    )
    parser.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler (tcp://HOST:8786; default: a local one)")
    parser.add_argument("--remote-cache", metavar="URL", help="ask this `kwbuild serve` for cache misses first")
    parser.add_argument(
        "--remote-cache-push",
        action="store_true",
        help="send new cache entries to --remote-cache (token in $KWBUILD_REMOTE_CACHE_TOKEN)",
    )


def _config(args: argparse.Namespace) -> Any:
    from kwbuild.config import make_config

    return make_config(
        args.root,
        args.out,
        args.cache,
        args.jobs,
        tuple(args.include),
        tuple(args.exclude),
        source_url=args.source_url,
        include_source=args.include_source,
        max_file_size=args.max_file_size,
        executor=args.executor,
        scheduler=args.scheduler,
        remote_cache=args.remote_cache,
        remote_push=args.remote_cache_push,
    )


def cmd_watch(args: argparse.Namespace) -> int:
    from kwbuild.watch import watch_tree

    def report(result: Any, events: int) -> None:
        cause = f" after {events} file events" if events else ""
        print(format_summary(build_summary(result)) + cause, file=sys.stderr, flush=True)

    watch_tree(_config(args), report)
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from kwbuild.build import run_build
    from kwbuild.progress import ProgressReporter

    config = _config(args)
    if args.no_cache:
        config = dataclasses.replace(config, recompute=True)
    reporter = ProgressReporter(quiet=args.quiet)
    result = run_build(config, reporter, full=args.full or args.no_cache, last=True)
    for key in result.stats.mismatches:
        print(f"kwbuild: warning: cache entry {key} differed from the fresh table (replaced)", file=sys.stderr)
    summary = build_summary(result)
    if args.summary_json:
        _write_summary(Path(args.summary_json), summary)
    print(format_summary(summary), file=sys.stderr)
    if result.exit_code != 0:
        return EXIT_INTERNAL
    return EXIT_SOURCE_ERRORS if args.strict and summary["errors"] else 0


def build_summary(result: Any) -> dict[str, Any]:
    """The summary object of `--summary-json`."""
    stats = result.stats
    discovery = result.plan.discovery
    return {
        "files": len(discovery.sources),
        "parsed": stats.parsed,
        "cache_hits": stats.cache_hits,
        "tables_written": stats.tables_written,
        "tables_removed": stats.tables_removed,
        "pages_written": stats.pages_written,
        "errors": result.plan.errors,
        "skipped": dict(sorted(discovery.skipped.items())),
        "vanished": len(stats.vanished),
        "oversized": stats.oversized,
        "cache_mismatches": len(stats.mismatches),
        "seconds": round(result.seconds, 3),
    }


def format_summary(summary: dict[str, Any]) -> str:
    skipped = sum(summary["skipped"].values())
    return (
        f"kwbuild: {summary['files']} files, {summary['parsed']} parsed, {summary['cache_hits']} from cache, "
        f"{summary['tables_written']} tables and {summary['pages_written']} pages written, "
        f"{summary['errors']} with errors, {skipped} skipped, {summary['seconds']:.2f} s"
    )


def _write_summary(path: Path, summary: dict[str, Any]) -> None:
    try:
        jsonio.atomic_write(path, jsonio.dumps(summary, pretty=True))
    except OSError as error:
        raise UserError(f"cannot write summary to {str(path)!r}: {error.strerror}") from None


def cmd_cache(args: argparse.Namespace) -> int:
    from kwbuild.cache import default_cache_dir
    from kwbuild.cache_admin import cache_stats, prune_cache, verify_cache

    folder = Path(args.cache).expanduser() if args.cache else default_cache_dir()
    if args.action == "stats":
        result: dict[str, Any] = cache_stats(folder)
    elif args.action == "prune":
        if args.keep_builds is None and args.max_size is None:
            raise UsageError("prune needs --keep-builds N and/or --max-size BYTES")
        result = prune_cache(folder, args.keep_builds, args.max_size)
    else:
        result = verify_cache(folder, args.fix)
    sys.stdout.buffer.write(jsonio.dumps(result, pretty=True))
    return 1 if args.action == "verify" and result["bad"] and not args.fix else 0


def cmd_show(args: argparse.Namespace) -> int:
    layout = _existing_build(args.out)
    rel = args.path.replace(os.sep, "/").removeprefix("./")
    path = layout.table_path(rel)
    if ".." in rel.split("/") or not os.path.isfile(path):
        raise UserError(f"no table for {args.path!r} in {args.out!r} (paths are relative to the tree's root)")
    sys.stdout.buffer.write(jsonio.dumps(_linked_table(layout, rel), pretty=True))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    layout = _existing_build(args.out)
    manifest = jsonio.read_json(layout.manifest)
    out = sys.stdout.buffer
    for entry in manifest["files"]:
        out.write(jsonio.dumps(_linked_table(layout, entry["path"])))
    return 0


def _linked_table(layout: Layout, rel: str) -> dict[str, Any]:
    """A table with its links merged in: each import gains its resolution; `imported_by` etc. are added."""
    table: dict[str, Any] = jsonio.read_json(layout.table_path(rel))
    try:
        links = jsonio.read_json(layout.links_path(rel))
    except FileNotFoundError:
        return table
    from kwbuild.link import merge_links  # loaded here: `kwbuild build` does not need the linker

    return merge_links(table, links)


def _existing_build(out: str) -> Layout:
    layout = Layout(Path(out))
    if not os.path.isfile(layout.manifest):
        raise UserError(f"{out!r} holds no kwbuild build (run: kwbuild build ROOT --out {out})")
    return layout


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="kwbuild: %(levelname)s: %(message)s")
    try:
        args = _build_parser().parse_args(argv)
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except KwbuildError as error:
        print(f"kwbuild: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("kwbuild: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception:
        return _internal_error()


def _internal_error() -> int:
    fd, log_path = tempfile.mkstemp(prefix="kwbuild-crash-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(traceback.format_exc())
    print(f"kwbuild: internal error: {sys.exc_info()[1]!r} (traceback in {log_path})", file=sys.stderr)
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
