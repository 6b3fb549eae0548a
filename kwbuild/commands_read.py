"""The read-only commands over a built output: `query`, `deps` and `serve`.

`register(subparsers)` adds them to the `kwbuild` parser; each command is a function of the parsed options
that returns an exit code and raises `UserError` for a user's mistake (cli.main maps errors to exit codes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from kwbuild import jsonio
from kwbuild.errors import UserError
from kwbuild.query import MODES, existing_layout, file_deps, find_symbols, load_symbol_index

DEFAULT_OUT = "kwbuild-out"
MAX_LIMIT = 100_000


def register(subparsers: Any) -> None:
    """Add `query`, `deps` and `serve` to the subcommands of the `kwbuild` parser."""
    query = subparsers.add_parser("query", help="where a name is defined: exact, prefix* or Class.method")
    query.add_argument("name", help="a name (Buffer), a prefix (Buf*) or a qualified name (Buffer.get_name)")
    query.add_argument("--kind", help="only definitions of this kind (class, function, method, ...)")
    query.add_argument("--mode", choices=MODES, default="auto", help="how NAME is matched (default: auto)")
    query.add_argument("--limit", type=int, default=200, help="at most this many definitions (default: 200)")
    query.add_argument("--json", action="store_true", help="print JSON: the definitions and their total")
    query.add_argument("--out", default=DEFAULT_OUT, help="output folder of the build")
    query.set_defaults(func=cmd_query)

    deps = subparsers.add_parser("deps", help="what a file imports and which files import it")
    deps.add_argument("path", help="the file's path in the tree, as in its table")
    deps.add_argument("--json", action="store_true", help="print JSON")
    deps.add_argument("--out", default=DEFAULT_OUT, help="output folder of the build")
    deps.set_defaults(func=cmd_deps)

    serve = subparsers.add_parser("serve", help="serve the build over HTTP: JSON API and browsable pages")
    serve.add_argument("--out", default=DEFAULT_OUT, help="output folder of the build")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    serve.add_argument(
        "--cache", help="content cache shared at /api/cache (default: the per-user cache; pushes need a token)"
    )
    serve.set_defaults(func=cmd_serve)


def cmd_query(args: argparse.Namespace) -> int:
    """Print the definitions of a name, one `path:line: kind qualname` per line; exit 1 when there is none."""
    if not 1 <= args.limit <= MAX_LIMIT:
        raise UserError(f"--limit must be from 1 to {MAX_LIMIT}")
    page = find_symbols(load_symbol_index(args.out), args.name, kind=args.kind, mode=args.mode, limit=args.limit)
    if args.json:
        result = {"query": args.name, "total": page.total, "results": page.results}
        sys.stdout.buffer.write(jsonio.dumps(result, pretty=True))
    else:
        _print_lines(f"{d['path']}:{d['line']}: {d['kind']} {d['qualname']}" for d in page.results)
        if page.next_offset is not None:
            print(f"kwbuild: {page.total - page.next_offset} more (raise --limit)", file=sys.stderr)
    return 0 if page.total else 1


def cmd_deps(args: argparse.Namespace) -> int:
    """Print what a file imports (with where each import lands) and which files import it."""
    deps = file_deps(args.out, args.path)
    if args.json:
        sys.stdout.buffer.write(jsonio.dumps(deps, pretty=True))
        return 0
    lines = [f"{deps['path']} ({deps['module'] or 'no module'})", f"imports ({len(deps['imports'])}):"]
    lines += (f"  {deps['path']}:{imp['line']}: {_import_text(imp)} -> {_landing(imp)}" for imp in deps["imports"])
    lines.append(f"imported by ({len(deps['imported_by'])}):")
    lines += (_importer_text(entry) for entry in deps["imported_by"])
    _print_lines(lines)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the build until interrupted."""
    from kwbuild.serve.runner import run_server

    if not 0 <= args.port <= 65535:
        raise UserError(f"bad port {args.port}")
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    existing_layout(args.out)
    run_server(args.out, host=args.host, port=args.port, workers=args.workers, cache=args.cache)
    return 0


def _import_text(imp: dict[str, Any]) -> str:
    module = "." * imp["level"] + (imp["module"] or "")
    text = f"import {module}" if imp["name"] is None else f"from {module} import {imp['name']}"
    return text + (f" as {imp['asname']}" if imp["asname"] else "")


def _landing(imp: dict[str, Any]) -> str:
    resolution = imp.get("resolution", "unresolved")
    if resolution == "symbol":
        return f"{imp['resolved_path']} ({imp['resolved_symbol']})"
    if resolution == "module":
        return str(imp["resolved_path"])
    return f"{resolution} {imp.get('resolved_module') or imp['module'] or ''}".rstrip()


def _importer_text(entry: dict[str, Any]) -> str:
    lines = ",".join(map(str, entry["lines"]))
    return f"  {entry['path']}:{lines}: {', '.join(entry['names'])}"


def _print_lines(lines: Iterable[str]) -> None:
    out = sys.stdout
    for line in lines:
        out.write(line + "\n")
    out.flush()
